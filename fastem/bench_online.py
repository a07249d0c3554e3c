"""Benchmark of online (stepwise) EM against full-batch EM on a memory-mapped file.

Run ``python -m fastem.bench_online`` (the full size: 2e7 x 16 float32, 1.3 GB
on disk, several minutes) or ``python -m fastem.bench_online --n-samples 2e6``.

Method
------
* Data: a known mixture of ``--n-components`` Gaussians with random full
  covariances in ``--n-features`` dimensions, written to a float32 ``.npy``
  file chunk by chunk (bounded memory; deleted afterwards unless ``--keep``),
  then memory-mapped.
* Both estimators start from the same initial parameters (``--init``:
  k-means, or random data rows, on a 100,000-row subsample; computed once and
  passed as ``*_init``), so the initialisation is excluded from both times.
* The optimum: full-batch ``GaussianMixture`` run to ``change < --opt-tol``;
  its quality after m iterations is ``lower_bounds_[m]`` (the mean
  log-likelihood of the parameters after m M-steps), its time the sum of the
  first m iteration times.
* Online: ``MiniBatchGaussianMixture(max_passes=P, tol=0)`` for P = 1, 2, ...,
  each fit timed whole; quality = ``score(X)`` (an untimed full pass).
  Reported: the passes and the time to within ``--gap`` nats/sample of the
  optimum, batch EM's time to the same quality, and their ratio.
* Memory: the anonymous resident memory (``RssAnon`` of /proc/self/status,
  sampled every 5 ms in a thread) above its level before the online fit.
* Stream: ``partial_fit`` over a generator of ``--stream-batches`` batches
  (contiguous row ranges, in order), compared with the online fit.
* Refine: ``refine=True`` (full-batch EM from the online solution, with
  ``--opt-tol``) against the batch optimum's ``lower_bound_``.
Timings on a shared machine are noisy; JIT compilation is excluded (a warm-up
fit on a few rows comes first).
"""
import argparse
import os
import sys
import tempfile
import threading
import time
import warnings

import numpy as np

SEED = 0


# --------------------------------------------------------------------- data
def true_mixture(n_components, n_features, seed=SEED):
    """(weights, means, covariances) of the known mixture: overlapping components
    with random full covariances."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(n_components, 5.0))
    means = rng.normal(scale=2.0, size=(n_components, n_features))
    covariances = np.empty((n_components, n_features, n_features))
    for k in range(n_components):
        a = rng.normal(scale=1.0 / np.sqrt(n_features), size=(n_features, n_features))
        covariances[k] = a @ a.T + 0.3 * np.eye(n_features)
    return weights, means, covariances


def write_mixture(path, n_samples, n_components, n_features, seed=SEED,
                  chunk_rows=250_000):
    """Draw n_samples float32 rows of the known mixture into the .npy file ``path``
    (chunk by chunk, to a temporary name renamed on success)."""
    weights, means, covariances = true_mixture(n_components, n_features, seed)
    factors = np.linalg.cholesky(covariances)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                        shape=(n_samples, n_features))
        rng = np.random.default_rng(seed + 1)
        for start in range(0, n_samples, chunk_rows):
            stop = min(n_samples, start + chunk_rows)
            labels = rng.choice(n_components, size=stop - start, p=weights)
            rows = rng.standard_normal((stop - start, n_features))
            for k in range(n_components):  # one component at a time: no per-row matrices
                mine = labels == k
                rows[mine] = means[k] + rows[mine] @ factors[k].T
            out[start:stop] = rows
        out.flush()
        del out
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# ------------------------------------------------------------------- memory
def _rss_anon_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakAnonMemory:
    """Peak RssAnon above its level at entry, sampled in a thread."""

    def __enter__(self):
        self.base = self.peak = _rss_anon_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss_anon_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_anon_bytes())
        self.growth = self.peak - self.base


# --------------------------------------------------------------- the runs
def batch_reference(X, n_components, init, opt_tol, max_iter):
    """(converged batch GaussianMixture, [cumulative seconds after m iterations])."""
    from ._base import reporting_iterations
    from .mixture import GaussianMixture
    seconds = [0.0]
    with reporting_iterations(lambda n, lb, change, s: seconds.append(seconds[-1] + s)):
        gm = GaussianMixture(n_components, tol=opt_tol, max_iter=max_iter, **init).fit(X)
    return gm, seconds


def time_to_gap(history, seconds, optimum, gap):
    """Batch EM: (iterations, seconds) until its parameters are within ``gap`` of the
    optimum; history[m] is the quality after m M-steps."""
    for m, value in enumerate(history):
        if value >= optimum - gap:
            return m, seconds[m]
    return None, float("nan")


def run(opts, out=sys.stdout):
    from .exceptions import ConvergenceWarning
    from .mixture import GaussianMixture
    from .online import MiniBatchGaussianMixture

    def say(text):
        print(text, file=out, flush=True)

    n, d, k = int(opts.n_samples), opts.n_features, opts.n_components
    directory = opts.dir or tempfile.gettempdir()
    path = os.path.join(directory, f"fastem_bench_online_{os.getpid()}.npy")
    tic = time.perf_counter()
    write_mixture(path, n, k, d)
    say(f"# fastem.bench_online {' '.join(sys.argv[1:])}")
    say(f"# data: {n} x {d} float32 from a known {k}-component mixture, {path} "
        f"({os.path.getsize(path) / 2**30:.2f} GiB, written in "
        f"{time.perf_counter() - tic:.1f} s)")
    try:
        X = np.load(path, mmap_mode="r")
        # Compile/load every kernel first (excluded from all timings).
        small = np.ascontiguousarray(X[:5000])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            MiniBatchGaussianMixture(k, batch_size=1000, max_passes=1, refine=True,
                                     max_iter=2, tol=0.0, random_state=0).fit(small)
        start = GaussianMixture(k, max_iter=0, init_params=opts.init,
                                random_state=SEED).fit(X)
        # Seed-row starts (random_from_data) give weights that sum to K / n_samples, as
        # scikit-learn's; a start handed to both fits as weights_init must sum to one.
        init = dict(weights_init=start.weights_ / start.weights_.sum(),
                    means_init=start.means_, precisions_init=start.precisions_)

        batch, seconds = batch_reference(X, k, init, opts.opt_tol, opts.max_iter)
        optimum = batch.lower_bound_
        say(f"# batch EM optimum: {optimum:.8f} nats/sample after {batch.n_iter_} "
            f"iterations ({'converged' if batch.converged_ else 'NOT converged'}), "
            f"{seconds[-1] / max(1, batch.n_iter_):.2f} s/iteration")
        batch_iters, batch_time = time_to_gap(batch.lower_bounds_, seconds, optimum,
                                              opts.gap)

        online_kwargs = dict(tol=0.0, random_state=SEED, **init)
        if opts.batch_size:
            online_kwargs["batch_size"] = opts.batch_size
        passes = online_time = None
        growth = 0
        rows = []
        for p in range(1, opts.max_passes + 1):
            with PeakAnonMemory() as memory:
                tic = time.perf_counter()
                online = MiniBatchGaussianMixture(k, max_passes=p, **online_kwargs).fit(X)
                elapsed = time.perf_counter() - tic
            growth = max(growth, memory.growth)
            gap = optimum - online.score(X)
            rows.append((p, elapsed, gap, memory.growth))
            if passes is None and gap <= opts.gap:
                passes, online_time = p, elapsed
                break
        say("\n| online passes | seconds | gap to optimum (nats/sample) | RssAnon growth |")
        say("|---:|---:|---:|---:|")
        for p, elapsed, gap, grown in rows:
            say(f"| {p} | {elapsed:.2f} | {gap:.2e} | {grown / 2**20:.1f} MiB |")

        # partial_fit over a stream of batches (contiguous row ranges, in order).
        bounds = np.linspace(0, n, opts.stream_batches + 1).astype(np.int64)
        stream = MiniBatchGaussianMixture(k, **{key: v for key, v in online_kwargs.items()
                                                if key != "random_state"})
        tic = time.perf_counter()
        for batch_rows in (np.asarray(X[a:b]) for a, b in zip(bounds[:-1], bounds[1:])):
            stream.partial_fit(batch_rows)
        stream_time = time.perf_counter() - tic
        stream_gap = online.score(X) - stream.score(X)

        refined = MiniBatchGaussianMixture(k, max_passes=1, refine=True, tol=opts.opt_tol,
                                           max_iter=opts.max_iter, random_state=SEED,
                                           **init).fit(X)
        refine_rel = abs(refined.lower_bound_ - optimum) / abs(optimum)

        speedup = batch_time / online_time if online_time else float("nan")
        say(f"\n| quantity ({opts.init} start) | value | target |")
        say("|---|---:|---|")
        say(f"| rows x features, components | {n} x {d}, {k} | 2e7 x 16, 16 |")
        say(f"| online: passes to within {opts.gap:g} of the optimum | "
            f"{passes if passes else f'> {opts.max_passes}'} | <= 3 |")
        say(f"| online: seconds to that quality | {online_time or float('nan'):.2f} | |")
        say(f"| batch EM: iterations / seconds to that quality | {batch_iters} / "
            f"{batch_time:.2f} | |")
        say(f"| speed-up (batch time / online time) | {speedup:.1f}x | >= 5x |")
        say(f"| anonymous memory growth (online fit) | {growth / 2**20:.1f} MiB | < 128 MiB |")
        say(f"| partial_fit, {opts.stream_batches} batches: score gap to fit | "
            f"{stream_gap:.2e} ({stream_time:.1f} s) | < 2e-3 |")
        say(f"| refine=True vs batch EM lower bound (relative) | {refine_rel:.1e} "
            f"({refined.n_refine_iter_} refine iterations vs {batch.n_iter_}) | < 1e-8 |")
    finally:
        os.remove(path)
    return 0


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m fastem.bench_online",
                                description="Online (stepwise) EM vs full-batch EM on a "
                                            "memory-mapped float32 file.")
    p.add_argument("--n-samples", type=float, default=2e7, help="rows (default 2e7)")
    p.add_argument("--n-features", type=int, default=16)
    p.add_argument("--n-components", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=None,
                   help="mini-batch rows (default: MiniBatchGaussianMixture's)")
    p.add_argument("--max-passes", type=int, default=3)
    p.add_argument("--gap", type=float, default=1e-3,
                   help="quality target: nats/sample below the batch optimum")
    p.add_argument("--opt-tol", type=float, default=1e-9,
                   help="tol of the batch optimum and of the refinement")
    p.add_argument("--max-iter", type=int, default=1000)
    p.add_argument("--init", choices=("kmeans", "random_from_data"), default="kmeans",
                   help="the shared start (default kmeans)")
    p.add_argument("--stream-batches", type=int, default=200)
    p.add_argument("--dir", default=None, help="where to write the data file")
    return p.parse_args(argv)


def main(argv=None, out=sys.stdout):
    return run(parse_args(argv), out)


if __name__ == "__main__":
    sys.exit(main())
