"""Shared data sets and helpers of the test suite."""
import contextlib
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastem

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

try:  # bounded, deterministic property tests (the suite must stay fast)
    from hypothesis import HealthCheck, settings
    settings.register_profile("fastem", deadline=None, derandomize=True, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("fastem")
except ImportError:  # pragma: no cover
    pass


# ------------------------------------------------------------------ data sets
def blobs():
    from sklearn.datasets import make_blobs
    X, _ = make_blobs(n_samples=600, n_features=3, centers=4,
                      cluster_std=[1.0, 1.5, 0.5, 2.0], random_state=1)
    return X, 4


def iris():
    from sklearn.datasets import load_iris
    return load_iris().data, 3


def anisotropic():
    """Blobs through a shearing linear map (scikit-learn's k-means pitfalls example)."""
    from sklearn.datasets import make_blobs
    X, _ = make_blobs(n_samples=500, centers=3, random_state=170)
    return X @ np.array([[0.60834549, -0.63667341], [-0.40887718, 0.85253229]]), 3


def imbalanced():
    from sklearn.datasets import make_blobs
    X, _ = make_blobs(n_samples=[500, 60, 15], n_features=2,
                      centers=[[0, 0], [6, 6], [-6, 5]], random_state=3)
    return X, 3


DATASETS = {"blobs": blobs, "iris": iris, "anisotropic": anisotropic,
            "imbalanced": imbalanced}


def quantise(X, bits=20):
    """Round to multiples of 2**-bits, so that X + 1e6 (and back) is exact in float64."""
    return np.round(np.asarray(X, dtype=np.float64) * 2.0 ** bits) / 2.0 ** bits


def separated_blobs(n_samples=400, n_features=2, n_centers=3, seed=0):
    """Far-apart blobs: any sensible initialisation must recover them exactly."""
    from sklearn.datasets import make_blobs
    centers = 20.0 * np.eye(max(n_features, n_centers))[:n_centers, :n_features]
    return make_blobs(n_samples=n_samples, centers=centers, cluster_std=1.0,
                      random_state=seed)


# ----------------------------------------------------------------- warnings
@contextlib.contextmanager
def quiet_convergence():
    """Silence both ConvergenceWarning classes (scikit-learn's and fastem's)."""
    from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        warnings.simplefilter("ignore", fastem.ConvergenceWarning)
        yield


# ------------------------------------------------------------ reference fits
def sklearn_start(X, n_components, covariance_type, seed=0, max_iter=1):
    """Initial parameters (weights_init, means_init, precisions_init) from a short
    scikit-learn fit: a realistic start that both implementations then share."""
    from sklearn.mixture import GaussianMixture
    with quiet_convergence():
        gm = GaussianMixture(n_components, covariance_type=covariance_type,
                             max_iter=max_iter, random_state=seed).fit(X)
    return dict(weights_init=gm.weights_, means_init=gm.means_,
                precisions_init=gm.precisions_)


def rough_start(X, n_components, covariance_type, seed=0):
    """A deliberately poor start set by hand (random rows as means, equal weights,
    isotropic precisions of the overall variance), so that EM runs many iterations."""
    X = np.asarray(X, dtype=np.float64)
    rng = np.random.default_rng(seed)
    k, d = n_components, X.shape[1]
    precision = 1.0 / X.var(axis=0).mean()
    precisions = {"full": np.array([precision * np.eye(d)] * k),
                  "tied": precision * np.eye(d),
                  "diag": np.full((k, d), precision),
                  "spherical": np.full(k, precision)}[covariance_type]
    return dict(weights_init=np.full(k, 1.0 / k),
                means_init=X[rng.choice(X.shape[0], k, replace=False)],
                precisions_init=precisions)


def fit_both(X, n_components, covariance_type, start, **kwargs):
    """(fastem fit, scikit-learn fit) with identical parameters and start."""
    from sklearn.mixture import GaussianMixture
    with quiet_convergence():
        ours = fastem.GaussianMixture(n_components, covariance_type=covariance_type,
                                      **start, **kwargs).fit(X)
        theirs = GaussianMixture(n_components, covariance_type=covariance_type,
                                 **start, **kwargs).fit(X)
    return ours, theirs


# -------------------------------------------------------------- subprocesses
def run_python(code, env=None, timeout=300):
    """Run ``code`` in a fresh interpreter (repo on the path); return its stdout."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = REPO_ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    result = subprocess.run([sys.executable, "-c", code], env=full_env, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"subprocess failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@pytest.fixture(params=COVARIANCE_TYPES)
def covariance_type(request):
    return request.param
