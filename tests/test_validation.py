"""Bad input: a clear error, raised before any kernel runs, and a previously fitted
estimator left exactly as it was."""
import numpy as np
import pytest

import fastem
import fastem._base
import fastem._init
import fastem._parallel
import fastem._sources
from conftest import COVARIANCE_TYPES, DATASETS


def snapshot(gm):
    """Everything that defines the estimator's state, as comparable bytes."""
    state = {}
    for name, value in vars(gm).items():
        if isinstance(value, np.ndarray):
            state[name] = (value.dtype.str, value.shape, value.tobytes())
        else:
            state[name] = repr(value)
    return state


@pytest.fixture(scope="module")
def blobs():
    X, k = DATASETS["blobs"]()
    return X[:200], k


@pytest.fixture
def fitted(blobs):
    X, k = blobs
    return fastem.GaussianMixture(k, random_state=0).fit(X)


@pytest.fixture
def no_heavy_work(monkeypatch):
    """Fail the test if validation lets a call reach the kernels or the initialisation."""
    def forbidden(*args, **kwargs):
        raise AssertionError("heavy work started before the input was validated")
    for module, names in ((fastem._sources, ("kernel_module",)),
                          (fastem._base, ("kernel_module",)),
                          (fastem._parallel, ("accumulate_stats", "weighted_log_prob",
                                              "run_partitions")),
                          (fastem._init, ("kmeans_labels", "kmeans_plusplus",
                                          "random_resp_stats"))):
        for name in names:
            monkeypatch.setattr(module, name, forbidden)


def assert_rejected(gm, call, match, exc=ValueError):
    before = snapshot(gm)
    with pytest.raises(exc, match=match):
        call(gm)
    assert snapshot(gm) == before


# ------------------------------------------------------------------------ X
BAD_X = {
    "nan": (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 17, np.nan, X),
            "NaN"),
    "inf": (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 17, np.inf, X),
            "infinity"),
    "neg-inf-float32": (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 5,
                                           -np.inf, X).astype(np.float32), "infinity"),
    "1d": (lambda X: X[:, 0], "Expected 2D array"),
    "3d": (lambda X: X[:, :, None], "dim 3"),
    "scalar": (lambda X: 3.0, "Expected 2D array"),
    "no-features": (lambda X: X[:, :0], "0 feature"),
    "complex": (lambda X: X + 1j, "Complex"),
    "strings": (lambda X: np.array([["a", "b", "c"]] * len(X)), "could not"),
}


@pytest.mark.parametrize("case", sorted(BAD_X))
def test_bad_X_at_fit(fitted, blobs, no_heavy_work, case):
    X, k = blobs
    make_bad, match = BAD_X[case]
    assert_rejected(fitted, lambda gm: gm.fit(make_bad(X)), match)
    assert_rejected(fitted, lambda gm: gm.fit_predict(make_bad(X)), match)


@pytest.mark.parametrize("case", sorted(BAD_X))
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
def test_bad_X_at_predict(fitted, blobs, no_heavy_work, case, method):
    X, _ = blobs
    make_bad, match = BAD_X[case]
    assert_rejected(fitted, lambda gm: getattr(gm, method)(make_bad(X)), match)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score",
                                    "bic", "aic"])
def test_wrong_number_of_features_at_predict(fitted, blobs, no_heavy_work, method):
    X, _ = blobs
    assert_rejected(fitted, lambda gm: getattr(gm, method)(X[:, :2]),
                    "X has 2 features, but GaussianMixture is expecting 3")


def test_too_few_samples(fitted, blobs, no_heavy_work):
    X, _ = blobs
    fitted.set_params(n_components=5)
    assert_rejected(fitted, lambda gm: gm.fit(X[:4]), "n_samples >= n_components")
    assert_rejected(fitted, lambda gm: gm.fit(X[:1]), "minimum of 2")


# --------------------------------------------------------------- parameters
@pytest.mark.parametrize("param, value, match", [
    ("covariance_type", "fulll", "covariance_type"),
    ("init_params", "kmeans++", "init_params"),
    ("init_params", None, "init_params"),
    ("tol", -1e-3, "tol"),
    ("tol", np.nan, "tol"),
    ("reg_covar", -1e-6, "reg_covar"),
    ("n_components", 0, "n_components"),
    ("n_components", 2.0, "n_components"),
    ("n_components", True, "n_components"),
    ("max_iter", -1, "max_iter"),
    ("n_init", 0, "n_init"),
    ("verbose_interval", 0, "verbose_interval"),
])
def test_bad_constructor_parameters(fitted, blobs, no_heavy_work, param, value, match):
    X, _ = blobs
    fitted.set_params(**{param: value})
    assert_rejected(fitted, lambda gm: gm.fit(X), match)


def test_unknown_parameter_name(fitted):
    assert_rejected(fitted, lambda gm: gm.set_params(n_component=3), "Invalid parameter")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bad_initial_parameter_shapes(fitted, blobs, no_heavy_work, covariance_type):
    X, k = blobs
    d = X.shape[1]
    fitted.set_params(covariance_type=covariance_type)
    good_precisions = {"full": np.array([np.eye(d)] * k), "tied": np.eye(d),
                       "diag": np.ones((k, d)), "spherical": np.ones(k)}[covariance_type]
    bad_precisions = {"full": np.ones((k, d)), "tied": np.ones((k, d, d)),
                      "diag": np.ones(k), "spherical": np.ones((k, d))}[covariance_type]
    for params in (dict(weights_init=np.full(k + 1, 1.0 / (k + 1))),
                   dict(means_init=np.zeros((k, d + 1))),
                   dict(means_init=np.zeros(k)),
                   dict(precisions_init=bad_precisions)):
        gm = fitted
        before = snapshot(gm)
        gm.set_params(**params)
        with pytest.raises(ValueError, match="should have the shape of"):
            gm.fit(X)
        gm.set_params(weights_init=None, means_init=None, precisions_init=None)
        assert snapshot(gm) == before
    fitted.set_params(precisions_init=good_precisions)
    assert fitted._check_initial_parameters(d)["precisions"].shape == good_precisions.shape


@pytest.mark.parametrize("covariance_type, precisions, match", [
    ("full", lambda k, d: np.array([np.diag([1.0, -1.0, 1.0])] * k), "positive-definite"),
    ("full", lambda k, d: np.array([np.triu(np.ones((d, d)))] * k), "symmetric"),
    ("tied", lambda k, d: np.zeros((d, d)), "positive-definite"),
    ("diag", lambda k, d: np.zeros((k, d)), "positive"),
    ("spherical", lambda k, d: -np.ones(k), "positive"),
    ("diag", lambda k, d: np.full((k, d), np.nan), "NaN"),
])
def test_non_positive_definite_precisions(fitted, blobs, no_heavy_work, covariance_type,
                                          precisions, match):
    X, k = blobs
    fitted.set_params(covariance_type=covariance_type,
                      precisions_init=precisions(k, X.shape[1]))
    assert_rejected(fitted, lambda gm: gm.fit(X), match)


@pytest.mark.parametrize("weights, match", [
    (lambda k: np.full(k, 0.3), "normalized"),
    (lambda k: np.r_[1.5, -0.5, np.zeros(k - 2)], r"range \[0, 1\]"),
])
def test_bad_initial_weights(fitted, blobs, no_heavy_work, weights, match):
    X, k = blobs
    fitted.set_params(weights_init=weights(k))
    assert_rejected(fitted, lambda gm: gm.fit(X), match)


@pytest.mark.parametrize("bad, match", [(-1.0, "Negative"), (np.nan, "NaN")])
def test_bad_sample_weight(fitted, blobs, no_heavy_work, bad, match):
    X, _ = blobs
    sample_weight = np.ones(len(X))
    sample_weight[3] = bad
    assert_rejected(fitted, lambda gm: gm.fit(X, sample_weight=sample_weight), match)


# ----------------------------------------------------------------- not fitted
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score",
                                    "bic", "aic", "sample"])
def test_methods_before_fit_raise_not_fitted(blobs, method):
    X, k = blobs
    gm = fastem.GaussianMixture(k)
    with pytest.raises(fastem.NotFittedError, match="not fitted yet"):
        getattr(gm, method)() if method == "sample" else getattr(gm, method)(X)
    # Also scikit-learn's class (and the builtins it derives from), for code catching those.
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError
    with pytest.raises(SklearnNotFittedError):
        getattr(gm, method)() if method == "sample" else getattr(gm, method)(X)
    with pytest.raises(AttributeError):
        gm.predict(X)


# ---------------------------------------------------------- singular during EM
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_singular_covariance_during_em_names_the_component(fitted, covariance_type):
    """Component 1 sits on 40 copies of one point; with reg_covar=0 its covariance
    collapses to zero at the first M-step (tied: all points on a line)."""
    rng = np.random.default_rng(0)
    if covariance_type == "tied":
        t = rng.normal(size=(80, 1))
        X = np.hstack([t, 2 * t, -t])  # rank one: the shared covariance is singular
        means = np.array([[-1.0, -2.0, 1.0], [1.0, 2.0, -1.0]])
    else:
        X = np.vstack([rng.normal(size=(40, 3)), np.tile([[9.0, 9.0, 9.0]], (40, 1))])
        means = np.array([[0.0, 0.0, 0.0], [9.0, 9.0, 9.0]])
    precisions = {"full": np.array([np.eye(3)] * 2), "tied": np.eye(3),
                  "diag": np.ones((2, 3)), "spherical": np.ones(2)}[covariance_type]
    fitted.set_params(n_components=2, covariance_type=covariance_type, reg_covar=0.0,
                      weights_init=[0.5, 0.5], means_init=means, precisions_init=precisions)
    where = r"shared \(tied\) covariance" if covariance_type == "tied" else "component.s. 1"
    assert_rejected(fitted, lambda gm: gm.fit(X), f"(?s){where}.*reg_covar")
    # The advice is sound: a small reg_covar makes the same fit work.
    fitted.set_params(reg_covar=1e-6)
    fitted.fit(X)
    assert np.all(np.isfinite(fitted.covariances_))
