"""The scikit-learn estimator API: parameters, cloning, pipelines, model selection,
pickling, fitted attribute shapes, sampling, and a light ``import fastem``."""
import json
import pickle
import warnings

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

import fastem
from conftest import COVARIANCE_TYPES, DATASETS, quiet_convergence, run_python


def test_import_is_light():
    out = run_python(
        "import sys, json, fastem\n"
        "heavy = ('numba', 'scipy', 'sklearn', 'dask', 'distributed', 'matplotlib', 'pandas')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n")
    assert json.loads(out.splitlines()[-1]) == []


def test_public_names():
    assert issubclass(fastem.ConvergenceWarning, UserWarning)
    assert issubclass(fastem.NotFittedError, ValueError)
    assert issubclass(fastem.NotFittedError, AttributeError)
    assert isinstance(fastem.__version__, str)


# ------------------------------------------------------------------- params
def test_constructor_matches_sklearn():
    """Same parameter names and defaults as scikit-learn's (plus fastem's own)."""
    ours = fastem.GaussianMixture().get_params()
    theirs = SklearnGaussianMixture().get_params()
    for name, value in theirs.items():
        assert name in ours, name
        assert ours[name] == value, name
    assert set(ours) - set(theirs) <= {"chunk_size", "init_max_samples"}


def test_get_set_params_and_clone():
    from sklearn.base import clone
    gm = fastem.GaussianMixture(3, covariance_type="diag", tol=1e-4, random_state=7)
    assert gm.set_params(max_iter=17) is gm and gm.max_iter == 17
    X, _ = DATASETS["iris"]()
    gm.fit(X)
    copy = clone(gm)
    assert type(copy) is fastem.GaussianMixture
    assert copy.get_params() == gm.get_params()
    assert not hasattr(copy, "means_")
    np.testing.assert_array_equal(copy.fit(X).means_, gm.means_)
    assert "covariance_type='diag'" in repr(gm) and "max_iter=17" in repr(gm)
    assert repr(fastem.GaussianMixture()) == "GaussianMixture()"


def test_tags_match_sklearn():
    from sklearn.utils import get_tags
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not inherit from",
                                category=UserWarning)
        assert get_tags(fastem.GaussianMixture()) == get_tags(SklearnGaussianMixture())


# ---------------------------------------------------------------- composition
def test_pipeline_with_standard_scaler():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X, k = DATASETS["anisotropic"]()
    X = X * [100.0, 0.01]
    pipe = make_pipeline(StandardScaler(), fastem.GaussianMixture(k, random_state=0))
    labels = pipe.fit(X).predict(X)
    scaled = StandardScaler().fit_transform(X)
    direct = fastem.GaussianMixture(k, random_state=0).fit(scaled)
    np.testing.assert_array_equal(labels, direct.predict(scaled))
    np.testing.assert_allclose(pipe.score(X), direct.score(scaled), rtol=1e-12)
    np.testing.assert_allclose(pipe.predict_proba(X), direct.predict_proba(scaled),
                               rtol=1e-12, atol=1e-15)


def test_grid_search_over_n_components_agrees_with_sklearn():
    """Model selection by held-out log-likelihood: the same choice and the same CV
    scores as scikit-learn's GaussianMixture (k-means starts are the same)."""
    from sklearn.model_selection import GridSearchCV
    X, _ = DATASETS["blobs"]()
    grid = {"n_components": [2, 3, 4, 5]}  # scikit-learn's k-means makes this slow
    ours = GridSearchCV(fastem.GaussianMixture(random_state=0), grid, cv=3).fit(X)
    with quiet_convergence():
        theirs = GridSearchCV(SklearnGaussianMixture(random_state=0), grid, cv=3).fit(X)
    assert ours.best_params_ == theirs.best_params_
    assert isinstance(ours.best_estimator_, fastem.GaussianMixture)
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"],
                               theirs.cv_results_["mean_test_score"], rtol=1e-8)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_pickle_round_trip(covariance_type):
    X, k = DATASETS["iris"]()
    gm = fastem.GaussianMixture(k, covariance_type=covariance_type, random_state=0).fit(X)
    again = pickle.loads(pickle.dumps(gm))
    np.testing.assert_array_equal(again.predict_proba(X), gm.predict_proba(X))
    assert again.get_params() == gm.get_params()


# ---------------------------------------------------------- fitted attributes
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fitted_attributes_have_sklearns_shapes_and_types(covariance_type):
    X, k = DATASETS["blobs"]()
    ours = fastem.GaussianMixture(k, covariance_type=covariance_type, random_state=0)
    assert ours.fit(X) is ours
    theirs = SklearnGaussianMixture(k, covariance_type=covariance_type,
                                    random_state=0).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_",
                 "precisions_cholesky_"):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert isinstance(a, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype, name
    assert ours.n_features_in_ == X.shape[1]
    assert isinstance(ours.n_iter_, int) and isinstance(ours.converged_, bool)
    assert isinstance(ours.lower_bound_, float)
    assert len(ours.lower_bounds_) == ours.n_iter_
    assert ours.lower_bounds_[-1] == ours.lower_bound_
    # precisions_ is the inverse of covariances_.
    cov = ours.covariances_
    if covariance_type in ("full", "tied"):
        np.testing.assert_allclose(ours.precisions_ @ cov,
                                   np.broadcast_to(np.eye(X.shape[1]), cov.shape), atol=1e-10)
    else:
        np.testing.assert_allclose(ours.precisions_ * cov, 1.0, rtol=1e-12)
    labels = ours.predict(X)
    assert labels.dtype.kind == "i" and labels.shape == (len(X),)
    np.testing.assert_allclose(ours.score(X), ours.score_samples(X).mean(), rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_draws_like_sklearn(covariance_type):
    X, k = DATASETS["blobs"]()
    ours = fastem.GaussianMixture(k, covariance_type=covariance_type, random_state=3).fit(X)
    theirs = SklearnGaussianMixture(k, covariance_type=covariance_type, random_state=3)
    for name in ("weights_", "means_", "covariances_", "precisions_",
                 "precisions_cholesky_", "n_features_in_", "converged_", "n_iter_",
                 "lower_bound_"):
        setattr(theirs, name, getattr(ours, name))
    Xs, ys = ours.sample(250)
    Xt, yt = theirs.sample(250)
    np.testing.assert_array_equal(ys, yt)
    np.testing.assert_allclose(Xs, Xt, rtol=1e-12, atol=1e-12)
    assert Xs.shape == (250, X.shape[1])
    with pytest.raises(ValueError, match="n_samples"):
        ours.sample(0)


def test_verbose_prints_progress(capsys):
    X, k = DATASETS["iris"]()
    fastem.GaussianMixture(k, verbose=2, verbose_interval=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out and "Iteration 1" in out and "converged" in out


def test_convergence_warning_is_fastems_class():
    X, k = DATASETS["iris"]()
    with pytest.warns(fastem.ConvergenceWarning, match="did not converge"):
        gm = fastem.GaussianMixture(k, max_iter=1, tol=0.0, random_state=0).fit(X)
    assert gm.converged_ is False and gm.n_iter_ == 1
