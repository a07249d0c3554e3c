"""Side-by-side benchmark: fastem vs scikit-learn (and Intel oneDAL when installed).

Run ``python -m fastem.bench`` (small preset, at most 150 s on a quiet 2-core machine,
cold Numba cache included) or ``python -m fastem.bench --preset targets`` (the real
workloads, several minutes). ``--contention N`` reruns everything beside N CPU-bound
processes.

Method
------
* Compile time first: in a fresh process per covariance type with an empty temporary
  ``NUMBA_CACHE_DIR``, the first fit (default k-means init) and the first predict of a
  20000 x 8 data set; then the same in another fresh process with that cache on disk.
  These are reported on their own lines and excluded from the table.
* Data: K Gaussian blobs with random full covariances, drawn from a numpy
  Generator with a fixed seed (float32 rows are the float64 rows cast).
* Every library starts from the same initial parameters (random data rows as
  means, identity precisions scaled to the data variance, uniform weights) and
  runs exactly ``--iters`` EM iterations (``max_iter=iters, tol=0``).
* s/iter = fit time / n_iter_, best of ``--repeat`` fits. Before it is timed, each
  library fits the timed data itself once with ``max_iter=1`` (same dtype, covariance
  type, shape and start): whatever that fit compiles or loads, whatever code path the
  input size selects, is paid before the clock starts.
* scikit-learn is timed with its thread pools (BLAS, OpenMP) as they are and
  limited to 1 thread (threadpoolctl); the faster mode is reported.
* W6 (iris) and W8 (``select_model`` on 2000 x 4, K 1..8 x the selected covariance
  types, against a scikit-learn loop doing fit, bic and aic per cell) are whole fits
  with the default k-means init and tol: small data, where fixed costs dominate.
* fastem's model GFLOP/s is compared with numpy's GEMM throughput measured in
  the same run, so the ratio is meaningful on a noisy machine.

scikit-learn and threadpoolctl are needed for this module only (the ``bench``
extra: ``pip install fastem[bench]``, which also installs oneDAL through
``scikit-learn-intelex`` where a wheel exists); oneDAL stays optional.
"""
import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager

import numpy as np

from ._config import PARTITION_ROWS

# Target workloads: id -> (covariance_type, n_samples, n_features, n_components).
WORKLOADS = {
    "W1": ("full", 1_000_000, 16, 16),
    "W2": ("full", 200_000, 64, 16),
    "W3": ("diag", 1_000_000, 32, 32),
    "W4": ("spherical", 1_000_000, 16, 64),
    "W5": ("tied", 1_000_000, 16, 16),
}
OTHER_DTYPE_ROW = "W7"  # the W1 shape in the other float dtype
COV_TYPES = ("full", "tied", "diag", "spherical")
SMALL_DIVISOR = 20  # the small preset runs the same shapes with N / 20
PRESET_DEFAULTS = {  # preset -> (iters, repeat, GEMM size)
    "small": (10, 1, 1000),
    "targets": (5, 1, 2000),
}
# The small preset's promise on a quiet 2-core machine. Measured 129 s, of which about 40 s
# compile every covariance type cold (nearly twice as long since the row-block kernels).
SMALL_PRESET_BUDGET_S = 150
MIN_GEMM_SIZE = 500  # smaller GEMMs are not compute-bound: %GEMM would exceed 100 %
ONEDAL_STORAGE = {"full": "full", "diag": "diagonal"}  # em_gmm has no tied/spherical
# The compile-time probe: a user's first fit and predict (default k-means init) on more
# rows than one partition, so it compiles what a real fit needs.
COMPILE_PROBE_SHAPE = (20_000, 8, 4)  # n_samples, n_features, n_components
# W8: model selection on small data, fastem.select_model vs a scikit-learn loop over the
# same grid (fit, bic and aic per cell): n_samples, n_features, true K, grid of K.
SELECT_SHAPE = (2000, 4, 4)
SELECT_GRID = range(1, 9)
SELECT_REPEAT = 3
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


# ------------------------------------------------------------ compile time
# Run as `python -c PROBE covariance_type` in a fresh interpreter: prints the seconds of
# the first fit and the first predict as JSON. Numba is imported inside the first fit
# (import fastem does not import it), so its import time counts, as it does for a user.
_COMPILE_PROBE = f"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
from fastem import GaussianMixture
n_samples, n_features, n_components = {COMPILE_PROBE_SHAPE!r}
X = np.random.default_rng(0).standard_normal((n_samples, n_features))
t0 = time.perf_counter()
model = GaussianMixture(n_components, covariance_type=sys.argv[1], random_state=0).fit(X)
t1 = time.perf_counter()
model.predict(X)
t2 = time.perf_counter()
print(json.dumps(dict(fit=t1 - t0, predict=t2 - t1)))
"""


def _fastem_path():
    """The directory fastem is imported from, so that probes time this very copy."""
    import fastem
    return os.path.dirname(os.path.dirname(os.path.abspath(fastem.__file__)))


def _run_probe(covariance_type, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_fastem_path(), env.get("PYTHONPATH")) if p)
    done = subprocess.run([sys.executable, "-c", _COMPILE_PROBE, covariance_type], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"compile-time probe ({covariance_type}) failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compile_times(covariance_type):
    """Seconds of the first fit and first predict in a fresh process: with an empty Numba
    cache (cold: compiles everything), then with the cache the first process wrote (warm)."""
    with tempfile.TemporaryDirectory(prefix="fastem-numba-cache-") as cache_dir:
        cold = _run_probe(covariance_type, cache_dir)
        warm = _run_probe(covariance_type, cache_dir)
    return dict(cold_fit=cold["fit"], cold_predict=cold["predict"],
                warm_fit=warm["fit"], warm_predict=warm["predict"])


def print_compile_times(types, out):
    n, d, k = COMPILE_PROBE_SHAPE
    for covariance_type in types:
        t = compile_times(covariance_type)
        print(f"compile: {covariance_type:<9} first fit {t['cold_fit']:.2f} s, first predict "
              f"{t['cold_predict']:.2f} s (fresh process, empty Numba cache); warm cache: first "
              f"fit {t['warm_fit']:.2f} s, first predict {t['warm_predict']:.3f} s "
              f"({n}x{d}, K={k}, default init); excluded from the table", file=out)
        out.flush()


# ------------------------------------------------------------------ timing
def gemm_gflops(size, dtype, repeat=3):
    """numpy GEMM throughput (size^3 matrices), best of ``repeat``, in the faster of BLAS's
    threads as set and one thread (on a loaded machine descheduled BLAS threads can make
    the threaded product slower than one thread, which would flatter %GEMM)."""
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(SEED + 2)
    a = rng.standard_normal((size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    a @ b  # first call pays thread start-up and page faults
    best = min(_timed(lambda: a @ b) for _ in range(repeat))
    with threadpool_limits(limits=1, user_api="blas"):
        best = min(best, min(_timed(lambda: a @ b) for _ in range(repeat)))
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


def time_warm_fit(cls, X, k, covariance_type, iters, repeat):
    """(s/iter, model) of fits from the shared start, after one untimed 1-iteration fit of
    the same X: it compiles (or loads from the cache) exactly the kernels the timed fits
    run, whichever path the input's size, dtype and covariance type select."""
    time_fit(_gm_factory(cls, X, k, covariance_type, 1), X, 1)
    return time_fit(_gm_factory(cls, X, k, covariance_type, iters), X, repeat)


def time_fastem(X, k, covariance_type, iters, repeat):
    from . import GaussianMixture
    return time_warm_fit(GaussianMixture, X, k, covariance_type, iters, repeat)


def time_sklearn(X, k, covariance_type, iters, repeat):
    """(s/iter, mode, model) of sklearn in its faster threading mode."""
    from sklearn.mixture import GaussianMixture
    (seconds, model), mode = _faster_threading_mode(
        lambda: time_warm_fit(GaussianMixture, X, k, covariance_type, iters, repeat))
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

    run(1)  # library and thread-pool start-up, on the timed data
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
def onedal_note(covariance_type, opts, daal4py):
    """Why a row has no oneDAL time, or None when oneDAL runs it."""
    if opts.no_onedal:
        return "skipped"
    if daal4py is None:
        return "not installed"
    if covariance_type not in ONEDAL_STORAGE:
        return "n/a"
    return None


def run_workload(name, X, covariance_type, k, opts, daal4py):
    """One table row: fastem, sklearn (and oneDAL) on X from the same start."""
    (n, d), dtype = X.shape, X.dtype
    fe_t, fe = time_fastem(X, k, covariance_type, opts.iters, opts.repeat)
    sk_t, sk_mode, sk = time_sklearn(X, k, covariance_type, opts.iters, opts.repeat)
    row = dict(name=name, cov=covariance_type, n=n, d=d, k=k, dtype=np.dtype(dtype).name,
               fe=fe_t, sk=sk_t, sk_mode=sk_mode, fe_lb=fe.lower_bound_, sk_lb=sk.lower_bound_,
               lb_diff=_rel_diff(fe.lower_bound_, sk.lower_bound_),
               dal=None, dal_lb_diff=None, dal_note=onedal_note(covariance_type, opts, daal4py))
    if row["dal_note"] is None:
        try:
            row["dal"], dal_lb = time_onedal(daal4py, X, k, covariance_type, opts.iters,
                                             opts.repeat)
            row["dal_lb_diff"] = _rel_diff(dal_lb, sk.lower_bound_)
        except RuntimeError as exc:  # e.g. oneDAL's diag M-step on a vanishing component
            row["dal_note"] = "failed"
            row["dal_error"] = " ".join(str(exc).split())
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
        model = cls(n_components=3, random_state=SEED).fit(X)  # warm-up: the timed fit itself
        seconds, fits = _seconds_per_call(
            lambda: cls(n_components=3, random_state=SEED).fit(X), opts.iris_seconds)
    # On 150 rows an EM iteration is almost all fixed overhead (Python, dispatch).
    per_iter, _ = time_warm_fit(cls, X, 3, "full", opts.iters, max(3, fits // 3))
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


def _select_grid_seconds(select, X, types):
    """Best wall time of SELECT_REPEAT runs of ``select(X, types)``, after one untimed run."""
    with _quiet_convergence():
        select(X, types)
        return min(_timed(lambda: select(X, types)) for _ in range(SELECT_REPEAT))


def _sklearn_select(X, types):
    """scikit-learn's equivalent of select_model: fit, bic and aic of every grid cell."""
    from sklearn.mixture import GaussianMixture
    for covariance_type in types:
        for k in SELECT_GRID:
            model = GaussianMixture(k, covariance_type=covariance_type,
                                    random_state=SEED).fit(X)
            model.bic(X)
            model.aic(X)


def _fastem_select(X, types):
    from .selection import select_model
    select_model(X, n_components=SELECT_GRID, covariance_types=types, random_state=SEED)


def run_select(opts):
    """W8: the whole select_model grid (default init and tol) vs a scikit-learn loop."""
    n, d, k = SELECT_SHAPE
    X = make_blobs(n, d, k)
    fe = _select_grid_seconds(_fastem_select, X, opts.types)
    sk, sk_mode = _faster_threading_mode(
        lambda: (_select_grid_seconds(_sklearn_select, X, opts.types),))
    return dict(fe=fe, sk=sk[0], sk_mode=sk_mode, types=opts.types)


def print_select(select, out):
    n, d, _ = SELECT_SHAPE
    print(f"W8 select_model {n}x{d} f64, K {SELECT_GRID.start}..{SELECT_GRID.stop - 1} x "
          f"{len(select['types'])} covariance types (fit + bic + aic per cell, default init "
          f"and tol): fastem {select['fe'] * 1e3:.1f} ms, sklearn loop "
          f"{select['sk'] * 1e3:.1f} ms ({select['sk_mode']}), skl/fe "
          f"{select['sk'] / select['fe']:.1f}x (best of {SELECT_REPEAT})", file=out)


def _shape(name, opts):
    cov, n, d, k = WORKLOADS[name]
    if opts.rows:
        n = opts.rows
    elif opts.preset == "small":
        n //= SMALL_DIVISOR
    return cov, n, d, k


def row_specs(opts):
    """(row name, workload, dtype) of every table row: the selected workloads in --dtype,
    and W1's shape again in the other dtype (W7)."""
    other_dtype = "float32" if opts.dtype == "float64" else "float64"
    specs = []
    for name, (cov, *_) in WORKLOADS.items():
        if cov in opts.types:
            specs.append((name, name, opts.dtype))
            if name == "W1":
                specs.append((OTHER_DTYPE_ROW, name, other_dtype))
    return specs


def run_all(opts, daal4py):
    """(rows, iris): every table row, then iris. Iris first, and each data set freed after
    its row: timings of small fits were seen to degrade several-fold while gigabytes of
    earlier data were alive."""
    iris = run_iris(opts) if "full" in opts.types else None
    rows = []
    for row_name, workload, dtype in row_specs(opts):
        cov, n, d, k = _shape(workload, opts)
        X = make_blobs(n, d, k, dtype)
        rows.append(run_workload(row_name, X, cov, k, opts, daal4py))
        del X
        gc.collect()
    return rows, iris


@contextmanager
def cpu_hogs(n):
    """``n`` CPU-bound Python processes running beside this block; killed when it ends,
    however it ends. Each also exits by itself once this process is gone (its parent id
    changes), so even a SIGKILL of the benchmark leaves none behind."""
    loop = (f"import os\nwhile os.getppid() == {os.getpid()}:\n"
            "    for _ in range(1_000_000): pass\n")
    procs = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", loop],
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


# ------------------------------------------------------------ Bayesian rows
# BayesianGaussianMixture per variational iteration, fastem vs scikit-learn, on the
# W1-W5 shapes (also ``python -m fastem.bench_bayes``). Both start alike
# (init_params='random_from_data', same seed); s/iter is the fastest of ``iters``
# iterations (E-step pass, M-step, lower bound; tol=0), so the initialisation and
# the data-derived priors are not counted: fastem's per-iteration report, and
# scikit-learn's fit-loop body (_e_step, _m_step, _compute_lower_bound) timed after
# a one-iteration fit. fastem is warmed first. The fastest of ``repeat`` rounds.
BAYES_ITERS = 3  # iterations per Bayesian measurement in the main benchmark


def _bayes_model(cls, k, covariance_type, max_iter):
    return cls(n_components=k, covariance_type=covariance_type, max_iter=max_iter, tol=0.0,
               init_params="random_from_data", random_state=SEED)


def bayes_fastem_iteration_seconds(X, k, covariance_type, iters):
    """(seconds of each iteration, model): fastem's own per-iteration report."""
    from .bayesian import BayesianGaussianMixture
    from ._base import reporting_iterations
    seconds = []
    model = _bayes_model(BayesianGaussianMixture, k, covariance_type, iters)
    with _quiet_convergence(), reporting_iterations(lambda *report: seconds.append(report[3])):
        model.fit(X)
    return seconds, model


def bayes_sklearn_iteration_seconds(X, k, covariance_type, iters):
    """(seconds of each iteration, model): scikit-learn's E-step, M-step and lower
    bound (the body of its fit loop), timed one iteration at a time after a
    one-iteration fit."""
    from sklearn.mixture import BayesianGaussianMixture as SklearnBGM
    model = _bayes_model(SklearnBGM, k, covariance_type, 1)
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


def run_bayes_workload(name, opts):
    covariance_type, n, d, k = WORKLOADS[name]
    n = getattr(opts, "rows", None) or max(4 * k, n // opts.divisor)
    # Row Bk: BayesianGaussianMixture on the shape of workload Wk.
    row = {"name": "B" + name[1:], "cov": covariance_type, "n": n, "d": d, "k": k}
    data = {dtype: make_blobs(n, d, k, dtype=dtype) for dtype in (np.float64, np.float32)}
    for X in data.values():
        bayes_fastem_iteration_seconds(X[:2 * PARTITION_ROWS + 1], k, covariance_type, 2)  # JIT
    # Rounds of all three measurements, the fastest kept: a burst of load from
    # elsewhere then spoils one round, not one column.
    for _ in range(opts.repeat):
        for dtype, X in data.items():
            seconds = min(bayes_fastem_iteration_seconds(X, k, covariance_type, opts.iters)[0])
            key = f"fastem_{np.dtype(dtype).name}"
            row[key] = min(row.get(key, np.inf), seconds)
        (seconds, _), mode = _faster_threading_mode(lambda: (min(bayes_sklearn_iteration_seconds(
            data[np.float64], k, covariance_type, opts.iters)[0]), None))
        if seconds < row.get("sklearn", np.inf):
            row["sklearn"], row["mode"] = seconds, mode
    return row


def _bayes_ratio(a, b):
    return f"{a / b:.1f}x" if b > 0 else "n/a"


def print_bayes_table(rows, out):
    print(f"{'id':3} {'cov':9} {'N':>8} {'D':>3} {'K':>3} {'fastem f64':>11} "
          f"{'fastem f32':>11} {'sklearn':>10} {'mode':>6} {'f64 speed-up':>12} "
          f"{'f32/f64':>8}", file=out)
    for r in rows:
        print(f"{r['name']:3} {r['cov']:9} {r['n']:>8} {r['d']:>3} {r['k']:>3} "
              f"{r['fastem_float64'] * 1e3:>8.2f} ms {r['fastem_float32'] * 1e3:>8.2f} ms "
              f"{r['sklearn'] * 1e3:>7.1f} ms {r['mode']:>6} "
              f"{_bayes_ratio(r['sklearn'], r['fastem_float64']):>12} "
              f"{_bayes_ratio(r['fastem_float64'], r['fastem_float32']):>8}", file=out)


def bayes_rows(opts):
    """The Bayesian rows of the main benchmark: W1-W5 of the selected types, at the
    preset's sizes, float64 and float32."""
    divisor = 1 if opts.preset == "targets" else SMALL_DIVISOR
    names = [name for name, (cov, *_) in WORKLOADS.items() if cov in opts.types]
    bayes_opts = argparse.Namespace(divisor=divisor, iters=min(opts.iters, BAYES_ITERS),
                                    repeat=opts.repeat, rows=opts.rows)
    return [run_bayes_workload(name, bayes_opts) for name in names]


# ------------------------------------------------------------------ output
def _fmt_s(x):
    return f"{x:.3g}" if x is not None else "-"


def _label(r):
    return f"{r['name']} {r['cov']:<9} N={r['n']} D={r['d']} K={r['k']} f{r['dtype'][5:]}"


def print_table(rows, iris, out):
    header = (f"{'workload':<34} {'fastem s/it':>11} {'sklearn s/it':>12} {'mode':>7} "
              f"{'skl/fe':>7} {'oneDAL s/it':>13} {'dal/fe':>7} {'GFLOP/s':>8} {'%GEMM':>6} "
              f"{'LB diff skl':>11} {'LB diff dal':>11}")
    print(header, file=out)
    print("-" * len(header), file=out)
    for r in rows:
        dal = _fmt_s(r["dal"]) if r["dal"] is not None else r["dal_note"]
        dal_ratio = f"{r['dal'] / r['fe']:.2f}x" if r["dal"] is not None else "-"
        dal_lb = f"{r['dal_lb_diff']:.1e}" if r["dal_lb_diff"] is not None else "-"
        print(f"{_label(r):<34} {_fmt_s(r['fe']):>11} {_fmt_s(r['sk']):>12} {r['sk_mode']:>7} "
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
    for r in rows:
        if "dal_error" in r:
            print(f"{r['name']} oneDAL failed: {r['dal_error']}", file=out)
    print_dtype_speedup(rows, out)


def print_dtype_speedup(rows, out):
    """float32 over float64 on the W1 shape, per library (W1 and W7 rows)."""
    by_dtype = {r["dtype"]: r for r in rows if r["name"] in ("W1", OTHER_DTYPE_ROW)}
    if len(by_dtype) != 2:
        return
    f64, f32 = by_dtype["float64"], by_dtype["float32"]
    speedups = [f"fastem {f64['fe'] / f32['fe']:.2f}x", f"sklearn {f64['sk'] / f32['sk']:.2f}x"]
    if f64["dal"] is not None and f32["dal"] is not None:
        speedups.append(f"oneDAL {f64['dal'] / f32['dal']:.2f}x")
    print(f"W1/W7 float32 speed-up over float64: {', '.join(speedups)}; fastem LB diff "
          f"f32 vs f64 {_rel_diff(f32['fe_lb'], f64['fe_lb']):.1e}", file=out)


def print_contention(n_hogs, quiet, busy, out):
    """fastem's slow-down under load and the sklearn ratio under the same load."""
    (rows, iris), (busy_rows, busy_iris) = quiet, busy
    print(f"\nUnder load: {n_hogs} CPU-bound process(es) beside the benchmark on "
          f"{os.cpu_count()} CPUs (oneDAL not rerun); quiet = the table above, without them",
          file=out)
    header = (f"{'workload':<34} {'fastem quiet':>12} {'fastem busy':>11} {'busy/quiet':>10} "
              f"{'sklearn busy':>12} {'mode':>7} {'skl/fe busy':>11}")
    print(header, file=out)
    print("-" * len(header), file=out)
    for r, b in zip(rows, busy_rows):
        print(f"{_label(b):<34} {_fmt_s(r['fe']):>12} {_fmt_s(b['fe']):>11} "
              f"{b['fe'] / r['fe']:>9.2f}x {_fmt_s(b['sk']):>12} {b['sk_mode']:>7} "
              f"{b['sk'] / b['fe']:>10.2f}x", file=out)
    if iris is not None:
        fe, fe_busy, sk_busy = iris["fe"][0], busy_iris["fe"][0], busy_iris["sk"][0]
        print(f"W6 iris whole fit: fastem quiet {fe * 1e6:.0f} us, busy {fe_busy * 1e6:.0f} us "
              f"({fe_busy / fe:.2f}x); sklearn busy {sk_busy * 1e6:.0f} us "
              f"({busy_iris['sk_mode']}), skl/fe busy {sk_busy / fe_busy:.1f}x", file=out)


# --------------------------------------------------------------------- CLI
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m fastem.bench",
        description="fastem vs scikit-learn (and oneDAL if installed): seconds per EM "
                    "iteration from identical initial parameters.")
    p.add_argument("--preset", choices=sorted(PRESET_DEFAULTS), default="small",
                   help="small: target shapes with N/%d (<= %d s on a quiet 2-core machine); "
                        "targets: the real workloads (several minutes)"
                        % (SMALL_DIVISOR, SMALL_PRESET_BUDGET_S))
    p.add_argument("--iters", type=int, default=None,
                   help="EM iterations per fit (default: 10 small, 5 targets)")
    p.add_argument("--types", default=",".join(COV_TYPES),
                   help="comma-separated covariance types to run (default: all)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="dtype of the W1-W5 rows (W7 is W1 in the other dtype)")
    p.add_argument("--repeat", type=int, default=None,
                   help="fits per measurement, best kept (default: 1)")
    p.add_argument("--rows", type=int, default=None,
                   help="override N of every workload (smoke tests)")
    p.add_argument("--gemm-size", type=int, default=None,
                   help="square GEMM size of the reference throughput (default 1000 small, "
                        "2000 targets; at least %d)" % MIN_GEMM_SIZE)
    p.add_argument("--iris-seconds", type=float, default=0.5,
                   help="time budget per library of the iris whole-fit timing (default 0.5)")
    p.add_argument("--no-onedal", action="store_true", help="skip oneDAL even if installed")
    p.add_argument("--no-bayesian", action="store_true",
                   help="skip the BayesianGaussianMixture rows")
    p.add_argument("--no-compile-time", action="store_true",
                   help="skip the compile-time measurement (fresh processes, empty cache)")
    p.add_argument("--contention", type=int, default=0, metavar="N",
                   help="then rerun the workloads and iris beside N CPU-bound processes")
    opts = p.parse_args(argv)
    iters, repeat, gemm_size = PRESET_DEFAULTS[opts.preset]
    opts.iters = iters if opts.iters is None else opts.iters
    opts.repeat = repeat if opts.repeat is None else opts.repeat
    opts.gemm_size = gemm_size if opts.gemm_size is None else opts.gemm_size
    opts.types = [t.strip() for t in opts.types.split(",") if t.strip()]
    bad = sorted(set(opts.types) - set(COV_TYPES))
    if bad:
        p.error(f"unknown covariance types {bad}; choose from {list(COV_TYPES)}")
    if opts.iters < 1 or opts.repeat < 1:
        p.error("--iters and --repeat must be >= 1")
    if opts.gemm_size < MIN_GEMM_SIZE:
        p.error(f"--gemm-size must be >= {MIN_GEMM_SIZE}: smaller products are not "
                "compute-bound, so %GEMM would be meaningless")
    if opts.contention < 0:
        p.error("--contention must be >= 0")
    return opts


def main(argv=None, out=None):
    """Run the benchmark and print the table; returns 0 (the CLI exit status)."""
    out = sys.stdout if out is None else out
    opts = parse_args(argv)
    _require_sklearn()
    import sklearn

    import fastem
    daal4py = _import_daal4py()
    t_start = time.perf_counter()

    print(f"fastem bench: preset={opts.preset} iters={opts.iters} repeat={opts.repeat} "
          f"cpus={os.cpu_count()} fastem threads={fastem.get_num_threads()} "
          f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, oneDAL "
          f"{'installed' if daal4py else 'not installed (pip install scikit-learn-intelex)'}",
          file=out)
    out.flush()
    if not opts.no_compile_time:
        print_compile_times(opts.types, out)

    gemm_dtypes = sorted({dtype for _, _, dtype in row_specs(opts)})
    gemm = {name: gemm_gflops(opts.gemm_size, name) for name in gemm_dtypes}
    print("numpy GEMM %d^3: " % opts.gemm_size
          + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in gemm.items())
          + " (best of 3 with BLAS threads as set and 3 with one; measured again at the end, "
            "best kept)", file=out)
    print(f"s/it = fit time / n_iter_, best of {opts.repeat}; identical initial parameters, "
          f"max_iter={opts.iters}, tol=0. Before the timed fits each library fits the same data "
          f"once with max_iter=1 (compilation and cache loading excluded). sklearn: the faster "
          f"of its thread pools as they are (thr=N) and limited to 1 (thr=1): mode.", file=out)
    out.flush()

    rows, iris = run_all(opts, daal4py)
    select = run_select(opts)
    # The machine's load changes during a long run: the reference is the best GEMM
    # seen at the start or the end, so %GEMM is never flattered by a slow moment.
    for name in gemm_dtypes:
        gemm_end = gemm_gflops(opts.gemm_size, name)
        if gemm_end > gemm[name]:
            print(f"numpy GEMM {name} at the end: {gemm_end:.1f} GFLOP/s (used)", file=out)
            gemm[name] = gemm_end
    for row in rows:
        row["gemm_pct"] = 100.0 * row["gflops"] / gemm[row["dtype"]]
    print("", file=out)
    print_table(rows, iris, out)
    print_select(select, out)
    print("\nGFLOP/s: fastem model flops per iteration (full 2NKD^2, diag 8NKD, spherical 4NKD, "
          "tied 2ND^2+4NKD) / fastem s/it; %GEMM vs numpy GEMM in the row's dtype. "
          "LB diff: relative difference of lower_bound_ vs sklearn in the same dtype.", file=out)
    print(f"Both s/it include each fit's fixed cost amortised over {opts.iters} iterations; "
          f"sklearn's fit also estimates parameters from initial responsibilities and runs "
          f"a final E-step (about one extra iteration).", file=out)
    out.flush()

    if not opts.no_bayesian:
        print(f"\nBayesianGaussianMixture (init_params='random_from_data', same seed), s/it = "
              f"fastest of {opts.repeat} x {min(opts.iters, BAYES_ITERS)} variational iterations "
              f"(pass, M-step, lower bound); sklearn f64 in its faster mode:", file=out)
        print_bayes_table(bayes_rows(opts), out)
        out.flush()

    if opts.contention:
        busy_opts = argparse.Namespace(**{**vars(opts), "no_onedal": True})
        with cpu_hogs(opts.contention):
            busy = run_all(busy_opts, None)
        print_contention(opts.contention, (rows, iris), busy, out)

    total = time.perf_counter() - t_start
    budget = (f" (the small preset's budget: {SMALL_PRESET_BUDGET_S} s on a quiet 2-core "
              f"machine, cold cache included)" if opts.preset == "small" and not opts.rows
              else "")
    print(f"total {total:.1f} s{budget}", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
