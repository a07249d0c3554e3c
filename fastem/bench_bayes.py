"""Per-iteration benchmark: fastem vs scikit-learn ``BayesianGaussianMixture`` on the W1-W5 shapes.

Run ``python -m fastem.bench_bayes`` (the W1-W5 shapes of ``fastem.bench`` at
N / 20; ``--divisor 1`` for the real sizes).

Method
------
* Data: ``fastem.bench.make_blobs`` (float32 rows are the float64 rows cast).
* Both libraries start alike (``init_params='random_from_data'``, same seed).
* s/iter: the fastest of ``--iters`` variational iterations (E-step pass,
  M-step, lower bound; ``tol=0``), so the initialisation and the data-derived
  priors are not counted: fastem's per-iteration report
  (``fastem._base.reporting_iterations``), and scikit-learn's fit-loop body
  (``_e_step``, ``_m_step``, ``_compute_lower_bound``) timed after a
  one-iteration fit. fastem is warmed first (Numba compilation and cache
  loading are excluded). The fastest iteration of ``--repeat`` rounds (each
  round measures every column), because on a shared machine noise only adds.
* scikit-learn runs with its thread pools as they are and limited to one
  thread; the faster is reported (as in ``fastem.bench``).

Needs scikit-learn and threadpoolctl (the ``bench`` extra).
"""
import argparse
import sys

from .bench import (SMALL_DIVISOR, WORKLOADS, _require_sklearn, print_bayes_table,
                    run_bayes_workload)

def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m fastem.bench_bayes", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--divisor", type=int, default=SMALL_DIVISOR,
                   help=f"run the W1-W5 shapes with N / divisor rows (default {SMALL_DIVISOR})")
    p.add_argument("--iters", type=int, default=10,
                   help="timed iterations, the fastest is kept (default 10)")
    p.add_argument("--repeat", type=int, default=3,
                   help="rounds of measurements, the fastest kept (default 3)")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help="comma-separated subset of " + ",".join(WORKLOADS))
    opts = p.parse_args(argv)
    names = opts.workloads.split(",")
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown or opts.divisor < 1 or opts.iters < 1 or opts.repeat < 1:
        p.error(f"bad arguments (unknown workloads: {unknown})")
    opts.names = names
    return opts


def main(argv=None, out=None):
    out = sys.stdout if out is None else out
    opts = parse_args(argv)
    _require_sklearn()
    print(f"BayesianGaussianMixture, s/iter = fastest of {opts.repeat} x {opts.iters} "
          f"iterations; N = target N / {opts.divisor}", file=out)
    rows = [run_bayes_workload(name, opts) for name in opts.names]
    print_bayes_table(rows, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
