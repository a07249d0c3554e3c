"""select_model: grid fitting, BIC/AIC choice, failed fits, memmap/dask input, bad input."""
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from fastem import GaussianMixture
from fastem.exceptions import ConvergenceWarning
from fastem.selection import ModelSelectionResult, select_model

TYPES = ("full", "tied", "diag", "spherical")
COMPARED_FIELDS = ("n_components", "covariance_type", "bic", "aic", "lower_bound",
                   "n_iter", "converged", "failed", "error")


def rotation(degrees):
    t = np.radians(degrees)
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


def elongated(degrees, long=4.0, short=0.25):
    r = rotation(degrees)
    return r @ np.diag([long, short]) @ r.T


# Three well-separated 2-D components whose covariances are exactly of one type.
TRUE_MEANS = np.array([[0.0, 0.0], [12.0, 0.0], [0.0, 12.0]])
TRUE_COVARIANCES = {
    "full": [elongated(0), elongated(60), elongated(120)],
    "tied": [elongated(45)] * 3,
    "diag": [np.diag([4.0, 0.25]), np.diag([0.25, 4.0]), np.diag([1.0, 2.5])],
    "spherical": [0.25 * np.eye(2), 1.0 * np.eye(2), 2.25 * np.eye(2)],
}


def sample_mixture(covariance_type, n_per_component=300, seed=0):
    rng = np.random.default_rng(seed)
    parts = [rng.multivariate_normal(mean, cov, n_per_component)
             for mean, cov in zip(TRUE_MEANS, TRUE_COVARIANCES[covariance_type])]
    return np.vstack(parts)


@pytest.fixture(scope="module")
def full_data():
    return sample_mixture("full", n_per_component=150, seed=1)


@pytest.fixture(scope="module")
def full_result(full_data):
    return select_model(full_data, n_components=range(1, 5), random_state=0)


@pytest.fixture
def no_fit(monkeypatch):
    """Make any fit fail loudly: the checks under test must run before the first fit."""
    def fit(self, *args, **kwargs):
        raise AssertionError("fit was called before the input was rejected")
    monkeypatch.setattr(GaussianMixture, "fit", fit)


# ------------------------------------------------------------ recovering K and type
@pytest.mark.parametrize("covariance_type", TYPES)
def test_bic_recovers_true_k_and_covariance_type(covariance_type):
    X = sample_mixture(covariance_type)
    result = select_model(X, n_components=range(1, 5), random_state=0)
    assert result.best_params == {"n_components": 3, "covariance_type": covariance_type}
    assert result.best.n_components == 3
    assert result.best.covariance_type == covariance_type


def test_bic_recovers_k_on_blobs():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    X, _ = sklearn_datasets.make_blobs(n_samples=600, centers=[[-6, -6], [6, -6], [0, 6]],
                                       cluster_std=1.0, random_state=3)
    result = select_model(X, n_components=range(1, 6), random_state=0)
    # Isotropic blobs of equal variance are both 'spherical' and 'tied' mixtures.
    assert result.best.n_components == 3
    assert result.best.covariance_type in ("spherical", "tied")
    # Within every covariance type BIC is lowest at the true K.
    for cov_type in TYPES:
        rows = result.table[result.table["covariance_type"] == cov_type]
        assert rows["n_components"][np.argmin(rows["bic"])] == 3, cov_type


# --------------------------------------------------------------- the table
def test_table_has_one_row_per_fit_in_grid_order(full_result):
    table = full_result.table
    assert isinstance(full_result, ModelSelectionResult)
    assert len(table) == 16 == len(full_result.models)
    assert_array_equal(table["n_components"], np.tile([1, 2, 3, 4], 4))
    assert_array_equal(table["covariance_type"], np.repeat(TYPES, 4))
    for name in ("bic", "aic", "lower_bound", "n_iter", "converged", "fit_seconds",
                 "failed", "error"):
        assert name in table.dtype.names
    assert not table["failed"].any()
    assert (table["error"] == "").all()
    assert (table["fit_seconds"] > 0).all()
    for row, model in zip(table, full_result.models):
        assert model.n_components == row["n_components"]
        assert model.covariance_type == row["covariance_type"]
        assert row["lower_bound"] == model.lower_bound_
        assert row["n_iter"] == model.n_iter_
        assert row["converged"] == model.converged_


def test_criteria_are_the_models_bic_and_aic(full_data, full_result):
    """One scoring pass gives both columns: exactly what model.bic / model.aic return."""
    for row, model in zip(full_result.table, full_result.models):
        assert row["bic"] == model.bic(full_data)
        assert row["aic"] == model.aic(full_data)


def test_best_is_the_lowest_bic_and_reproducible(full_data, full_result):
    assert full_result.best_index == int(np.argmin(full_result.table["bic"]))
    assert full_result.best is full_result.models[full_result.best_index]
    alone = GaussianMixture(random_state=0, **full_result.best_params).fit(full_data)
    assert_allclose(alone.means_, full_result.best.means_, rtol=1e-12)
    assert_allclose(alone.covariances_, full_result.best.covariances_, rtol=1e-12)


def test_aic_criterion_picks_lowest_aic(full_data):
    result = select_model(full_data, n_components=range(1, 5), covariance_types=("diag",),
                          criterion="aic", random_state=0)
    assert result.criterion == "aic"
    assert result.best_index == int(np.argmin(result.table["aic"]))


def test_single_values_and_duplicates(full_data):
    result = select_model(full_data, n_components=3, covariance_types="diag", random_state=0)
    assert len(result.table) == 1
    assert result.best_params == {"n_components": 3, "covariance_type": "diag"}
    result = select_model(full_data, n_components=[2, 2, 1], covariance_types=("tied", "tied"),
                          random_state=0)
    assert_array_equal(result.table["n_components"], [2, 1])


def test_records_and_repr(full_result):
    records = full_result.to_records()
    assert len(records) == 16
    assert records[0]["covariance_type"] == "full"
    assert isinstance(records[0]["bic"], float)
    assert isinstance(records[0]["converged"], bool)
    text = repr(full_result)
    assert "best={'n_components': 3" in text
    assert text.count("\n") == 17  # header line, column line, 16 rows


def test_to_frame_with_pandas(full_result):
    pytest.importorskip("pandas")
    frame = full_result.to_frame()
    assert list(frame["bic"]) == list(full_result.table["bic"])


# ------------------------------------------------- BIC/AIC equal independent values
def _n_parameters(covariance_type, k, d):
    cov = {"full": k * d * (d + 1) / 2, "tied": d * (d + 1) / 2, "diag": k * d,
           "spherical": k}[covariance_type]
    return cov + k * d + k - 1


def _dense_covariances(model):
    k, d = model.means_.shape
    cov = model.covariances_
    return {"full": lambda: cov, "tied": lambda: np.broadcast_to(cov, (k, d, d)),
            "diag": lambda: np.stack([np.diag(c) for c in cov]),
            "spherical": lambda: cov[:, None, None] * np.eye(d)}[model.covariance_type]()


def test_bic_aic_equal_scipy_log_likelihood(full_data, full_result):
    n = full_data.shape[0]
    for row, model in zip(full_result.table, full_result.models):
        log_prob = np.column_stack([
            np.log(w) + multivariate_normal(mean, cov).logpdf(full_data)
            for w, mean, cov in zip(model.weights_, model.means_, _dense_covariances(model))])
        log_lik = logsumexp(log_prob, axis=1).sum()
        p = _n_parameters(model.covariance_type, *model.means_.shape)
        assert_allclose(row["bic"], -2 * log_lik + p * np.log(n), rtol=1e-9)
        assert_allclose(row["aic"], -2 * log_lik + 2 * p, rtol=1e-9)


def test_bic_aic_equal_sklearn_for_same_parameters(full_data, full_result):
    sk_mixture = pytest.importorskip("sklearn.mixture")
    for row, model in zip(full_result.table, full_result.models):
        sk = sk_mixture.GaussianMixture(n_components=model.n_components,
                                        covariance_type=model.covariance_type)
        for name in ("weights_", "means_", "covariances_", "precisions_",
                     "precisions_cholesky_", "converged_", "n_iter_", "lower_bound_",
                     "n_features_in_"):
            setattr(sk, name, getattr(model, name))
        assert_allclose(row["bic"], sk.bic(full_data), rtol=1e-10)
        assert_allclose(row["aic"], sk.aic(full_data), rtol=1e-10)


# ---------------------------------------------------------------- failed fits
def test_failed_fits_are_recorded_not_raised():
    # 60 identical points and a Gaussian blob, no regularisation: any component
    # that owns only the identical points has a zero covariance, so every fit with
    # K >= 2 fails except 'tied' (the shared covariance pools the blob).
    rng = np.random.default_rng(0)
    X = np.vstack([np.zeros((60, 2)), rng.normal(10.0, 1.0, (60, 2))])
    result = select_model(X, n_components=range(1, 4), reg_covar=0.0, random_state=0)
    table = result.table
    expected_failed = (table["n_components"] >= 2) & (table["covariance_type"] != "tied")
    assert_array_equal(table["failed"], expected_failed)
    failed = table[table["failed"]]
    assert np.isnan(failed["bic"]).all() and np.isnan(failed["aic"]).all()
    assert all("ValueError" in e and "covariance" in e for e in failed["error"])
    assert (table[~table["failed"]]["error"] == "").all()
    assert all(m is None for m, bad in zip(result.models, table["failed"]) if bad)
    assert not table["failed"][result.best_index]
    assert result.best is not None and result.best.covariance_type == "tied"
    assert "failed: ValueError" in repr(result)


def test_all_fits_failing_raises_with_reason():
    # All rows at the origin: every covariance is exactly 0 (rows of ones would not
    # do: scikit-learn's mean 20 / (20 + 10 eps) < 1 leaves 'diag' and 'spherical' a
    # tiny positive variance, and fastem follows it).
    X = np.zeros((20, 2))
    with pytest.raises(ValueError, match="All 4 fits .*failed.*covariance"):
        select_model(X, n_components=[1], reg_covar=0.0, random_state=0)


def test_non_converged_fits_warn_once_and_are_marked(full_data):
    with pytest.warns(ConvergenceWarning, match="4 of 4 fits did not converge") as record:
        result = select_model(full_data, n_components=range(1, 5), covariance_types="full",
                              max_iter=1, tol=0.0, random_state=0)
    assert len([w for w in record if issubclass(w.category, ConvergenceWarning)]) == 1
    assert not result.table["converged"].any()
    assert (result.table["n_iter"] == 1).all()


# ------------------------------------------------------------- memmap and dask
def _assert_same_tables(a, b):
    for name in COMPARED_FIELDS:
        if a.dtype[name].kind == "f":
            assert_allclose(a[name], b[name], rtol=1e-12, err_msg=name)
        else:
            assert_array_equal(a[name], b[name], err_msg=name)


def _spy_on_inputs(monkeypatch):
    seen = []
    for method in ("fit", "score"):
        original = getattr(GaussianMixture, method)

        def spy(self, X, *args, _original=original, **kwargs):
            seen.append(X)
            return _original(self, X, *args, **kwargs)
        monkeypatch.setattr(GaussianMixture, method, spy)
    return seen


def test_memmap_is_passed_unchanged_and_gives_same_table(tmp_path, monkeypatch, full_data,
                                                         full_result):
    path = tmp_path / "X.npy"
    np.save(path, full_data)
    X = np.load(path, mmap_mode="r")
    seen = _spy_on_inputs(monkeypatch)
    result = select_model(X, n_components=range(1, 5), random_state=0)
    assert len(seen) == 2 * 16  # fit, then one scoring pass for both criteria
    assert all(x is X for x in seen)
    _assert_same_tables(result.table, full_result.table)


def test_dask_array_is_passed_unchanged_and_gives_same_table(monkeypatch, full_data,
                                                             full_result):
    da = pytest.importorskip("dask.array")
    X = da.from_array(full_data, chunks=(100, 2))
    seen = _spy_on_inputs(monkeypatch)
    result = select_model(X, n_components=range(1, 5), random_state=0)
    assert all(x is X for x in seen)
    _assert_same_tables(result.table, full_result.table)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs, match", [
    ({"n_components": []}, "n_components is empty"),
    ({"n_components": range(1, 1)}, "n_components is empty"),
    ({"covariance_types": ()}, "covariance_types is empty"),
    ({"n_components": [2, 31]}, r"n_components \[31\] larger than n_samples = 30"),
    ({"n_components": [0, 1]}, "int >= 1"),
    ({"n_components": [2.5]}, "int >= 1"),
    ({"n_components": [True]}, "int >= 1"),
    ({"criterion": "icl"}, "criterion"),
    ({"criterion": "BIC "}, "criterion"),
    ({"covariance_types": ("full", "banana")}, "banana"),
    ({"tol": -1.0}, "tol"),
    ({"init_params": "magic"}, "init_params"),
])
def test_bad_grid_raises_before_any_fit(no_fit, kwargs, match):
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ValueError, match=match):
        select_model(X, **kwargs)


def test_bad_data_shape_and_keywords_raise_before_any_fit(no_fit):
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ValueError, match="2D"):
        select_model(X[:, 0])
    with pytest.raises(TypeError):
        select_model(X, not_a_parameter=1)
    with pytest.raises(TypeError, match="covariance_types"):
        select_model(X, covariance_type="full")


def test_import_does_not_pull_matplotlib_or_sklearn():
    code = ("import sys, fastem.selection, fastem.plotting; "
            "bad = [m for m in ('matplotlib', 'sklearn', 'pandas') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
