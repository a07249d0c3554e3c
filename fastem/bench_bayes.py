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
import time

import numpy as np

from ._config import PARTITION_ROWS
from .bench import (SMALL_DIVISOR, WORKLOADS, _faster_threading_mode, _quiet_convergence,
                    _require_sklearn, make_blobs)

SEED = 0


def _model(cls, k, covariance_type, max_iter):
    return cls(n_components=k, covariance_type=covariance_type, max_iter=max_iter, tol=0.0,
               init_params="random_from_data", random_state=SEED)


def fastem_iteration_seconds(X, k, covariance_type, iters):
    """(seconds of each iteration, model): fastem's own per-iteration report."""
    from .bayesian import BayesianGaussianMixture
    from ._base import reporting_iterations
    seconds = []
    model = _model(BayesianGaussianMixture, k, covariance_type, iters)
    with _quiet_convergence(), reporting_iterations(lambda *report: seconds.append(report[3])):
        model.fit(X)
    return seconds, model


def sklearn_iteration_seconds(X, k, covariance_type, iters):
    """(seconds of each iteration, model): scikit-learn's E-step, M-step and lower
    bound (the body of its fit loop), timed one iteration at a time after a
    one-iteration fit."""
    from sklearn.mixture import BayesianGaussianMixture as SklearnBGM
    model = _model(SklearnBGM, k, covariance_type, 1)
    with _quiet_convergence():
        model.fit(X)
    seconds = []
    for _ in range(iters):
        t0 = time.perf_counter()
        log_prob_norm, log_resp = model._e_step(X)
        model._m_step(X, log_resp)
        model.lower_bound_ = model._compute_lower_bound(log_resp, log_prob_norm)
        seconds.append(time.perf_counter() - t0)
    return seconds, model


def run_workload(name, opts):
    covariance_type, n, d, k = WORKLOADS[name]
    n = max(4 * k, n // opts.divisor)
    row = {"name": name, "cov": covariance_type, "n": n, "d": d, "k": k}
    data = {dtype: make_blobs(n, d, k, dtype=dtype) for dtype in (np.float64, np.float32)}
    for X in data.values():
        fastem_iteration_seconds(X[:2 * PARTITION_ROWS + 1], k, covariance_type, 2)  # JIT
    # Rounds of all three measurements, the fastest kept: a burst of load from
    # elsewhere then spoils one round, not one column.
    for _ in range(opts.repeat):
        for dtype, X in data.items():
            seconds = min(fastem_iteration_seconds(X, k, covariance_type, opts.iters)[0])
            key = f"fastem_{np.dtype(dtype).name}"
            row[key] = min(row.get(key, np.inf), seconds)
        (seconds, _), mode = _faster_threading_mode(lambda: (min(sklearn_iteration_seconds(
            data[np.float64], k, covariance_type, opts.iters)[0]), None))
        if seconds < row.get("sklearn", np.inf):
            row["sklearn"], row["mode"] = seconds, mode
    return row


def _ratio(a, b):
    return f"{a / b:.1f}x" if b > 0 else "n/a"


def print_table(rows, out):
    print(f"{'id':3} {'cov':9} {'N':>8} {'D':>3} {'K':>3} {'fastem f64':>11} "
          f"{'fastem f32':>11} {'sklearn':>10} {'mode':>6} {'f64 speed-up':>12} "
          f"{'f32/f64':>8}", file=out)
    for r in rows:
        print(f"{r['name']:3} {r['cov']:9} {r['n']:>8} {r['d']:>3} {r['k']:>3} "
              f"{r['fastem_float64'] * 1e3:>8.2f} ms {r['fastem_float32'] * 1e3:>8.2f} ms "
              f"{r['sklearn'] * 1e3:>7.1f} ms {r['mode']:>6} "
              f"{_ratio(r['sklearn'], r['fastem_float64']):>12} "
              f"{_ratio(r['fastem_float64'], r['fastem_float32']):>8}", file=out)


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
    rows = [run_workload(name, opts) for name in opts.names]
    print_table(rows, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
