"""Shared data, start parameters and import fallback for the asv benchmarks.

Self-contained on purpose (no fastem.bench import), so the suite also runs
against older commits.
"""
import functools
import importlib.util
import os
import sys
import warnings

import numpy as np

# Modest sizes: every benchmark of the suite runs in a few minutes with --quick on 2 cores.
N_SAMPLES = 20_000
N_FEATURES = 16
N_COMPONENTS = 8
ITERS = 5  # EM iterations per timed fit
SEED = 0

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
DTYPES = ["float64", "float32"]

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(BENCH_DIR))

# environment_type 'existing' (--python=same) installs nothing: when fastem is not
# installed in the interpreter, benchmark the working tree. The same path is put in
# front of the code that timeraw_* benchmarks run in a fresh interpreter.
if importlib.util.find_spec("fastem") is None:
    sys.path.insert(0, REPO_ROOT)
    SYS_PATH_SETUP = f"import sys; sys.path.insert(0, {REPO_ROOT!r})\n"
else:
    SYS_PATH_SETUP = ""


@functools.lru_cache(maxsize=None)
def blobs(dtype="float64", n_samples=N_SAMPLES, n_features=N_FEATURES,
          n_components=N_COMPONENTS):
    """K Gaussian blobs with random full covariances (the side-by-side benchmark's
    data set); built once per process."""
    from fastem.bench import make_blobs

    X = make_blobs(n_samples, n_features, n_components, dtype=dtype, seed=SEED)
    X.flags.writeable = False  # shared between benchmarks: nobody may modify it
    return X


def start_parameters(X, covariance_type, n_components=N_COMPONENTS):
    """Identical k-means-free start: random rows as means, scaled identity precisions."""
    n_samples, n_features = X.shape
    rng = np.random.default_rng(SEED + 1)
    means = X[rng.choice(n_samples, n_components, replace=False)].astype(np.float64)
    inv_var = 1.0 / float(X.astype(np.float64).var(axis=0).mean())
    precisions = {
        "full": lambda: np.tile(np.eye(n_features) * inv_var, (n_components, 1, 1)),
        "tied": lambda: np.eye(n_features) * inv_var,
        "diag": lambda: np.full((n_components, n_features), inv_var),
        "spherical": lambda: np.full(n_components, inv_var),
    }[covariance_type]()
    return dict(weights_init=np.full(n_components, 1.0 / n_components),
                means_init=means, precisions_init=precisions)


def fixed_start_model(cls, X, covariance_type, max_iter=ITERS):
    """An estimator (fastem or sklearn) that runs exactly max_iter iterations from the start."""
    return cls(n_components=N_COMPONENTS, covariance_type=covariance_type, max_iter=max_iter,
               tol=0.0, init_params="random_from_data", random_state=SEED,
               **start_parameters(X, covariance_type))


def quiet_fit(model, X):
    """Fit, silencing the ConvergenceWarning that tol=0 always triggers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X)
