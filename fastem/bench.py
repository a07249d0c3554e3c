"""Side-by-side benchmark: fastem vs scikit-learn (and Intel oneDAL when installed).

Run ``python -m fastem.bench`` (about a minute on 2 cores) or
``python -m fastem.bench --preset targets`` (the real workloads, several minutes).

Method
------
* Data: K Gaussian blobs with random full covariances, drawn from a numpy
  Generator with a fixed seed (float32 rows are the float64 rows cast).
* Every library starts from the same initial parameters (random data rows as
  means, identity precisions scaled to the data variance, uniform weights) and
  runs exactly ``--iters`` EM iterations (``max_iter=iters, tol=0``).
* s/iter = fit time / n_iter_, best of ``--repeat`` fits. Each library is warmed by a
  short fit on the first rows, so Numba compilation / cache loading is excluded.
* scikit-learn is timed with its thread pools (BLAS, OpenMP) as they are and
  limited to 1 thread (threadpoolctl); the faster mode is reported.
* fastem's model GFLOP/s is compared with numpy's GEMM throughput measured in
  the same run, so the ratio is meaningful on a noisy machine.

scikit-learn and threadpoolctl are needed for this module only (the ``bench``
extra: ``pip install fastem[bench]``); oneDAL (``daal4py``, from
``scikit-learn-intelex``) is optional.
"""
import argparse
import gc
import os
import sys
import time
import warnings
from contextlib import contextmanager

import numpy as np

# Target workloads: id -> (covariance_type, n_samples, n_features, n_components).
WORKLOADS = {
    "W1": ("full", 1_000_000, 16, 16),
    "W2": ("full", 200_000, 64, 16),
    "W3": ("diag", 1_000_000, 32, 32),
    "W4": ("spherical", 1_000_000, 16, 64),
    "W5": ("tied", 1_000_000, 16, 16),
}
COV_TYPES = ("full", "tied", "diag", "spherical")
SMALL_DIVISOR = 20  # the small preset runs the same shapes with N / 20
PRESET_DEFAULTS = {  # preset -> (iters, repeat)
    "small": (10, 1),
    "targets": (5, 1),
}
ONEDAL_STORAGE = {"full": "full", "diag": "diagonal"}  # em_gmm has no tied/spherical
SEED = 0
BENCH_EXTRA_HINT = "install the benchmark extra: pip install fastem[bench]"


# ----------------------------------------------------------------- optional deps
def _require_sklearn():
    try:
        import sklearn.mixture  # noqa: F401
        import threadpoolctl  # noqa: F401
    except ImportError as exc:
        raise SystemExit(f"fastem.bench needs scikit-learn and threadpoolctl ({exc}); "
                         f"{BENCH_EXTRA_HINT}") from None


def _import_daal4py():
    """daal4py or None. Any failure (missing, broken, noisy import) means 'not installed'."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import daal4py
        return daal4py
    except Exception:
        return None


@contextmanager
def _quiet_convergence():
    """tol=0 makes every fit stop at max_iter, which both libraries warn about."""
    from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning

    from .exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", SkConvergenceWarning)
        yield


# -------------------------------------------------------------------- data
def make_blobs(n_samples, n_features, n_components, dtype=np.float64, seed=SEED):
    """K Gaussian blobs with random full covariances (deterministic; float32 rows are
    the float64 rows cast)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(n_components, n_features))
    labels = rng.integers(n_components, size=n_samples)
    X = rng.standard_normal((n_samples, n_features))
    for k in range(n_components):
        # Covariance A A^T / D + 0.1 I: well conditioned, random orientation.
        a = rng.standard_normal((n_features, n_features)) / np.sqrt(n_features)
        chol = np.linalg.cholesky(a @ a.T + 0.1 * np.eye(n_features))
        rows = labels == k
        X[rows] = X[rows] @ chol.T + centers[k]
    return X if np.dtype(dtype) == np.float64 else X.astype(dtype)


def initial_parameters(X, n_components, covariance_type, seed=SEED):
    """k-means-free start shared by every library: (weights, means, precisions)."""
    n_samples, n_features = X.shape
    rng = np.random.default_rng(seed + 1)
    means = X[rng.choice(n_samples, n_components, replace=False)].astype(np.float64)
    inv_var = 1.0 / float(X[: min(n_samples, 100_000)].astype(np.float64).var(axis=0).mean())
    weights = np.full(n_components, 1.0 / n_components)
    if covariance_type == "full":
        precisions = np.tile(np.eye(n_features) * inv_var, (n_components, 1, 1))
    elif covariance_type == "tied":
        precisions = np.eye(n_features) * inv_var
    elif covariance_type == "diag":
        precisions = np.full((n_components, n_features), inv_var)
    else:
        precisions = np.full(n_components, inv_var)
    return weights, means, precisions


def model_flops(covariance_type, n, d, k):
    """Model flops of one EM iteration (the dominant terms of E-step + M-step)."""
    return {"full": 2 * n * k * d * d,
            "diag": 8 * n * k * d,
            "spherical": 4 * n * k * d,
            "tied": 2 * n * d * d + 4 * n * k * d}[covariance_type]


# ------------------------------------------------------------------ timing
def gemm_gflops(size, dtype, repeat=3):
    """numpy GEMM throughput (size^3 matrices), best of ``repeat``, BLAS threads as set."""
    rng = np.random.default_rng(SEED + 2)
    a = rng.standard_normal((size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    a @ b  # first call pays thread start-up and page faults
    best = min(_timed(lambda: a @ b) for _ in range(repeat))
    return 2.0 * size ** 3 / best / 1e9


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def time_fit(make_model, X, repeat):
    """(best seconds per iteration, last fitted model) over ``repeat`` fits."""
    best = np.inf
    model = None
    with _quiet_convergence():
        for _ in range(repeat):
            model = make_model()
            seconds = _timed(lambda: model.fit(X))
            best = min(best, seconds / max(model.n_iter_, 1))
    return best, model


def _gm_factory(cls, X, k, covariance_type, iters, **extra):
    weights, means, precisions = initial_parameters(X, k, covariance_type)

    def make():
        # 'random_from_data' is sklearn's cheapest init when all three parameters are
        # given (it still estimates parameters from one-hot responsibilities first).
        return cls(n_components=k, covariance_type=covariance_type, max_iter=iters, tol=0.0,
                   weights_init=weights, means_init=means, precisions_init=precisions,
                   init_params="random_from_data", random_state=SEED, **extra)
    return make


def warm_up(cls, X, k, covariance_type):
    """A short fit on the first rows, same D, K, type and dtype: compiles (or loads from
    cache) every kernel specialisation the timed fit uses, and pays lazy imports."""
    head = X[: min(X.shape[0], 4096)]
    time_fit(_gm_factory(cls, head, k, covariance_type, 1), head, 1)


def time_fastem(X, k, covariance_type, iters, repeat):
    from . import GaussianMixture
    warm_up(GaussianMixture, X, k, covariance_type)
    return time_fit(_gm_factory(GaussianMixture, X, k, covariance_type, iters), X, repeat)


def time_sklearn(X, k, covariance_type, iters, repeat):
    """(s/iter, mode, model) of sklearn in its faster threading mode."""
    from sklearn.mixture import GaussianMixture
    make = _gm_factory(GaussianMixture, X, k, covariance_type, iters)
    warm_up(GaussianMixture, X, k, covariance_type)
    (seconds, model), mode = _faster_threading_mode(lambda: time_fit(make, X, repeat))
    return seconds, mode, model


def _faster_threading_mode(measure):
    """``measure()`` with sklearn's thread pools as they are and limited to one thread;
    returns (result, mode) of the faster. ``measure()`` returns (seconds, ...).

    BLAS threads rarely pay on EM's small matrix products, and on a loaded machine a
    descheduled worker thread can cost milliseconds per call. The limit also covers
    OpenMP (sklearn's KMeans init in the iris whole fit); EM itself only uses BLAS.
    """
    from threadpoolctl import threadpool_limits
    default = measure()
    with threadpool_limits(limits=1):
        single = measure()
    if single[0] < default[0]:
        return single, "thr=1"
    return default, f"thr={_blas_threads()}"


def _blas_threads():
    from threadpoolctl import threadpool_info
    counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    return max(counts) if counts else "?"


def time_onedal(daal4py, X, k, covariance_type, iters, repeat):
    """(s/iter, per-sample log-likelihood) of daal4py.em_gmm from the shared start."""
    weights, means, precisions = initial_parameters(X, k, covariance_type)
    if covariance_type == "full":
        covariances = [np.linalg.inv(p) for p in precisions]
    else:  # diagonal storage: one (1, D) row per component
        covariances = [(1.0 / p).reshape(1, -1) for p in precisions]
    dt = X.dtype
    inputs = (weights.reshape(1, -1).astype(dt), means.astype(dt),
              [np.ascontiguousarray(c, dtype=dt) for c in covariances])
    fptype = "float" if dt == np.float32 else "double"

    def run(max_iter):
        algo = daal4py.em_gmm(nComponents=k, fptype=fptype, maxIterations=max_iter,
                              accuracyThreshold=0.0,
                              covarianceStorage=ONEDAL_STORAGE[covariance_type])
        return algo.compute(X, *inputs)

    run(1)  # library and thread-pool start-up
    best = np.inf
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = run(iters)
        seconds = time.perf_counter() - t0
        best = min(best, seconds / max(int(result.nIterations[0, 0]), 1))
    return best, float(result.goalFunction[0, 0]) / X.shape[0]


def _rel_diff(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


# ------------------------------------------------------------------ workloads
def run_workload(name, X, covariance_type, k, opts, daal4py):
    """One table row: fastem, sklearn (and oneDAL) on X from the same start."""
    (n, d), dtype = X.shape, X.dtype
    fe_t, fe = time_fastem(X, k, covariance_type, opts.iters, opts.repeat)
    sk_t, sk_mode, sk = time_sklearn(X, k, covariance_type, opts.iters, opts.repeat)
    row = dict(name=name, cov=covariance_type, n=n, d=d, k=k, dtype=np.dtype(dtype).name,
               fe=fe_t, sk=sk_t, sk_mode=sk_mode, fe_lb=fe.lower_bound_, sk_lb=sk.lower_bound_,
               lb_diff=_rel_diff(fe.lower_bound_, sk.lower_bound_),
               dal=None, dal_lb_diff=None, dal_note="not installed")
    if daal4py is None:
        pass
    elif opts.no_onedal:
        row["dal_note"] = "skipped"
    elif covariance_type not in ONEDAL_STORAGE:
        row["dal_note"] = "n/a"
    else:
        row["dal"], dal_lb = time_onedal(daal4py, X, k, covariance_type, opts.iters, opts.repeat)
        row["dal_lb_diff"] = _rel_diff(dal_lb, sk.lower_bound_)
    row["gflops"] = model_flops(covariance_type, n, d, k) / fe_t / 1e9
    return row


def _seconds_per_call(fn, budget_s):
    """Best of 3 batches of calls, each batch about budget_s / 3: for microsecond timings."""
    batch = max(3, int(budget_s / 3 / max(_timed(fn), 1e-6)))
    best = min(_timed(lambda: [fn() for _ in range(batch)]) for _ in range(3))
    return best / batch, 3 * batch


def _iris_timings(cls, X, opts):
    """(whole-fit seconds, fits timed, n_iter_, seconds per iteration from a fixed start)."""
    with _quiet_convergence():
        model = cls(n_components=3, random_state=SEED).fit(X)  # warm-up (JIT, imports)
        seconds, fits = _seconds_per_call(
            lambda: cls(n_components=3, random_state=SEED).fit(X), opts.iris_seconds)
    # On 150 rows an EM iteration is almost all fixed overhead (Python, dispatch).
    per_iter, _ = time_fit(_gm_factory(cls, X, 3, "full", opts.iters), X, max(3, fits // 3))
    return seconds, fits, model.n_iter_, per_iter


def run_iris(opts):
    """W6: whole fit on iris (default init and tol), and the per-iteration overhead."""
    from sklearn.datasets import load_iris
    from sklearn.mixture import GaussianMixture as SkGM

    from . import GaussianMixture as FeGM
    X = load_iris().data  # bundled with scikit-learn, no download
    fe = _iris_timings(FeGM, X, opts)
    sk, sk_mode = _faster_threading_mode(lambda: _iris_timings(SkGM, X, opts))
    return dict(fe=fe, sk=sk, sk_mode=sk_mode)


def run_other_dtype(row, opts):
    """W7: the W1 data set in the other float dtype (fastem only): the float32 speed-up."""
    other = np.float32 if row["dtype"] == "float64" else np.float64
    X = make_blobs(row["n"], row["d"], row["k"], other)
    t, model = time_fastem(X, row["k"], row["cov"], opts.iters, opts.repeat)
    times = {row["dtype"]: (row["fe"], row["fe_lb"]), np.dtype(other).name: (t, model.lower_bound_)}
    gflops = model_flops(row["cov"], row["n"], row["d"], row["k"]) / times["float32"][0] / 1e9
    return dict(n=row["n"], d=row["d"], k=row["k"], f64=times["float64"][0],
                f32=times["float32"][0], speedup=times["float64"][0] / times["float32"][0],
                gflops32=gflops, lb_diff=_rel_diff(times["float32"][1], times["float64"][1]))


def _shape(name, opts):
    cov, n, d, k = WORKLOADS[name]
    if opts.rows:
        n = opts.rows
    elif opts.preset == "small":
        n //= SMALL_DIVISOR
    return cov, n, d, k


# ------------------------------------------------------------------ output
def _fmt_s(x):
    return f"{x:.3g}" if x is not None else "-"


def print_table(rows, iris, f32, out):
    header = (f"{'workload':<34} {'fastem s/it':>11} {'sklearn s/it':>12} {'mode':>7} "
              f"{'skl/fe':>7} {'oneDAL s/it':>13} {'dal/fe':>7} {'GFLOP/s':>8} {'%GEMM':>6} "
              f"{'LB diff skl':>11} {'LB diff dal':>11}")
    print(header, file=out)
    print("-" * len(header), file=out)
    for r in rows:
        label = f"{r['name']} {r['cov']:<9} N={r['n']} D={r['d']} K={r['k']} f{r['dtype'][5:]}"
        dal = _fmt_s(r["dal"]) if r["dal"] is not None else r["dal_note"]
        dal_ratio = f"{r['dal'] / r['fe']:.2f}x" if r["dal"] is not None else "-"
        dal_lb = f"{r['dal_lb_diff']:.1e}" if r["dal_lb_diff"] is not None else "-"
        print(f"{label:<34} {_fmt_s(r['fe']):>11} {_fmt_s(r['sk']):>12} {r['sk_mode']:>7} "
              f"{r['sk'] / r['fe']:>6.2f}x {dal:>13} {dal_ratio:>7} {r['gflops']:>8.2f} "
              f"{r['gemm_pct']:>5.1f}% {r['lb_diff']:>11.1e} {dal_lb:>11}", file=out)
    if iris is not None:
        fe, fe_fits, fe_n_iter, fe_iter = iris["fe"]
        sk, sk_fits, sk_n_iter, sk_iter = iris["sk"]
        print(f"W6 iris 150x4 K=3 f64, whole fit (default init, tol=1e-3): "
              f"fastem {fe * 1e6:.0f} us (n_iter {fe_n_iter}), sklearn {sk * 1e6:.0f} us "
              f"(n_iter {sk_n_iter}, {iris['sk_mode']}), skl/fe {sk / fe:.1f}x; per EM "
              f"iteration from a fixed start: fastem {fe_iter * 1e6:.1f} us, sklearn "
              f"{sk_iter * 1e6:.1f} us (best of {fe_fits} / {sk_fits} fits)", file=out)
    if f32 is not None:
        print(f"W7 full N={f32['n']} D={f32['d']} K={f32['k']} float32 vs float64 (fastem): "
              f"f64 {_fmt_s(f32['f64'])} s/it, f32 {_fmt_s(f32['f32'])} s/it, "
              f"speed-up {f32['speedup']:.2f}x; f32 {f32['gflops32']:.2f} GFLOP/s = "
              f"{f32['gemm32_pct']:.1f}% of f32 GEMM; LB diff f32 vs f64 {f32['lb_diff']:.1e}",
              file=out)


# --------------------------------------------------------------------- CLI
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m fastem.bench",
        description="fastem vs scikit-learn (and oneDAL if installed): seconds per EM "
                    "iteration from identical initial parameters.")
    p.add_argument("--preset", choices=sorted(PRESET_DEFAULTS), default="small",
                   help="small: target shapes with N/%d (~1 min); targets: the real "
                        "workloads (several minutes)" % SMALL_DIVISOR)
    p.add_argument("--iters", type=int, default=None,
                   help="EM iterations per fit (default: 10 small, 5 targets)")
    p.add_argument("--types", default=",".join(COV_TYPES),
                   help="comma-separated covariance types to run (default: all)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="dtype of the W1-W5 rows (W7 always compares both)")
    p.add_argument("--repeat", type=int, default=None,
                   help="fits per measurement, best kept (default: 1)")
    p.add_argument("--rows", type=int, default=None,
                   help="override N of every workload (smoke tests)")
    p.add_argument("--gemm-size", type=int, default=2000,
                   help="square GEMM size of the reference throughput (default 2000)")
    p.add_argument("--iris-seconds", type=float, default=0.5,
                   help="time budget per library of the iris whole-fit timing (default 0.5)")
    p.add_argument("--no-onedal", action="store_true", help="skip oneDAL even if installed")
    opts = p.parse_args(argv)
    iters, repeat = PRESET_DEFAULTS[opts.preset]
    opts.iters = iters if opts.iters is None else opts.iters
    opts.repeat = repeat if opts.repeat is None else opts.repeat
    opts.types = [t.strip() for t in opts.types.split(",") if t.strip()]
    bad = sorted(set(opts.types) - set(COV_TYPES))
    if bad:
        p.error(f"unknown covariance types {bad}; choose from {list(COV_TYPES)}")
    if opts.iters < 1 or opts.repeat < 1:
        p.error("--iters and --repeat must be >= 1")
    return opts


def main(argv=None, out=None):
    """Run the benchmark and print the table; returns 0 (the CLI exit status)."""
    out = sys.stdout if out is None else out
    opts = parse_args(argv)
    _require_sklearn()
    import numba
    import sklearn
    daal4py = _import_daal4py()
    t_start = time.perf_counter()
    dtype = np.dtype(opts.dtype).type

    gemm_dtypes = ["float64"]
    if opts.dtype == "float32" or "full" in opts.types:
        gemm_dtypes.append("float32")
    gemm = {name: gemm_gflops(opts.gemm_size, name) for name in gemm_dtypes}
    print(f"fastem bench: preset={opts.preset} iters={opts.iters} repeat={opts.repeat} "
          f"cpus={os.cpu_count()} numba threads={numba.get_num_threads()} "
          f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
          f"oneDAL {'installed' if daal4py else 'not installed'}", file=out)
    print("numpy GEMM %d^3: " % opts.gemm_size
          + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in gemm.items())
          + " (best of 3; measured again at the end, best kept)", file=out)
    print(f"s/it = fit time / n_iter_, best of {opts.repeat}; identical initial parameters, "
          f"max_iter={opts.iters}, tol=0. Each library warmed by a short fit first (JIT compile "
          f"excluded). sklearn: the faster of its thread pools as they are (thr=N) and limited "
          f"to 1 (thr=1): mode.", file=out)
    out.flush()

    # iris first, and each data set freed after its rows: timings of small fits
    # were seen to degrade several-fold while gigabytes of earlier data were alive.
    iris = run_iris(opts) if "full" in opts.types else None
    rows, f32 = [], None
    for name, (cov, *_) in WORKLOADS.items():
        if cov in opts.types:
            _, n, d, k = _shape(name, opts)
            X = make_blobs(n, d, k, dtype)
            rows.append(run_workload(name, X, cov, k, opts, daal4py))
            del X
            gc.collect()
            if name == "W1":
                f32 = run_other_dtype(rows[-1], opts)
                gc.collect()
    # The machine's load changes during a long run: the reference is the best GEMM
    # seen at the start or the end, so %GEMM is never flattered by a slow moment.
    for name in gemm_dtypes:
        gemm_end = gemm_gflops(opts.gemm_size, name)
        if gemm_end > gemm[name]:
            print(f"numpy GEMM {name} at the end: {gemm_end:.1f} GFLOP/s (used)", file=out)
            gemm[name] = gemm_end
    for row in rows:
        row["gemm_pct"] = 100.0 * row["gflops"] / gemm[row["dtype"]]
    if f32 is not None:
        f32["gemm32_pct"] = 100.0 * f32["gflops32"] / gemm["float32"]
    print("", file=out)
    print_table(rows, iris, f32, out)
    print("\nGFLOP/s: fastem model flops per iteration (full 2NKD^2, diag 8NKD, spherical 4NKD, "
          "tied 2ND^2+4NKD) / fastem s/it; %GEMM vs numpy GEMM in the row's dtype. "
          "LB diff: relative difference of lower_bound_ vs sklearn.", file=out)
    print(f"Both s/it include each fit's fixed cost amortised over {opts.iters} iterations; "
          f"sklearn's fit also estimates parameters from initial responsibilities and runs "
          f"a final E-step (about one extra iteration).", file=out)
    print(f"total {time.perf_counter() - t_start:.1f} s", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
