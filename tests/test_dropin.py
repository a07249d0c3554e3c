"""fastem where it claims to be a drop-in for scikit-learn's GaussianMixture (issue 12):
dtypes, warning and error classes, message texts, degenerate fits, starts, feature
names and notebook display, each compared with scikit-learn directly."""
import pickle
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning  # noqa: E402
from sklearn.exceptions import NotFittedError as SklearnNotFittedError  # noqa: E402
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture  # noqa: E402

import fastem  # noqa: E402
from conftest import COVARIANCE_TYPES  # noqa: E402

FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def blobs(n=300, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 3)
    X[: n // 3] += 5.0
    X[n // 3: 2 * n // 3, 0] -= 5.0
    return X


def both(**params):
    return fastem.GaussianMixture(**params), SklearnGaussianMixture(**params)


def error_text(fn):
    with pytest.raises(Exception) as info:
        fn()
    return type(info.value), str(info.value)


# ------------------------------------------------------------- 1. dtypes
def kind(value):
    """A value's dtype for arrays and NumPy scalars, its type for Python objects."""
    return value.dtype if isinstance(value, (np.ndarray, np.generic)) else type(value)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_of_attributes_and_outputs_match_sklearn(covariance_type, dtype):
    X = blobs().astype(dtype)
    other = X.astype(np.float64 if dtype == np.float32 else np.float32)
    ours, theirs = both(n_components=3, covariance_type=covariance_type, random_state=0)
    ours.fit(X)
    theirs.fit(X)
    for name in FITTED + ("lower_bound_", "n_iter_", "converged_"):
        assert kind(getattr(ours, name)) == kind(getattr(theirs, name)), name
    assert {kind(v) for v in ours.lower_bounds_} == {kind(v) for v in theirs.lower_bounds_}
    for data in (X, other):
        for method in ("predict", "predict_proba", "score_samples", "score", "bic", "aic"):
            got, want = getattr(ours, method)(data), getattr(theirs, method)(data)
            assert kind(got) == kind(want), (method, data.dtype)
    with warnings.catch_warnings():
        # numpy finds scikit-learn's float32 tied covariance not quite PSD (not fastem's)
        warnings.simplefilter("ignore", RuntimeWarning)
        their_sample = theirs.sample(5)
    for got, want in zip(ours.sample(5), their_sample):
        assert kind(got) == kind(want)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_model_predicts_like_sklearn_with_its_parameters(covariance_type):
    """A scikit-learn model given fastem's float32 parameters gives the same outputs
    (fastem reads the float32 parameters back as float64 for its kernels)."""
    X = blobs().astype(np.float32)
    ours = fastem.GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    theirs = SklearnGaussianMixture(3, covariance_type=covariance_type)
    for name in FITTED + ("n_features_in_",):
        setattr(theirs, name, getattr(ours, name))
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_warm_start_continues_the_fit(covariance_type):
    """warm_start from float32 attributes: the next fit starts where the previous
    stopped (its first lower bound is the previous last one, up to float32 rounding
    of the parameters) and stays float32."""
    X = blobs().astype(np.float32)
    model = fastem.GaussianMixture(3, covariance_type=covariance_type, random_state=0,
                                   warm_start=True, max_iter=3, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastem.ConvergenceWarning)
        model.fit(X)
        first = list(model.lower_bounds_)
        model.fit(X)
    assert model.means_.dtype == np.float32
    straight = fastem.GaussianMixture(3, covariance_type=covariance_type, random_state=0,
                                      max_iter=6, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fastem.ConvergenceWarning)
        straight.fit(X)
    np.testing.assert_allclose(first + model.lower_bounds_, straight.lower_bounds_,
                               rtol=1e-5)
    np.testing.assert_allclose(model.means_, straight.means_, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------- 2. warning class
def unconverged_fit():
    return fastem.GaussianMixture(3, max_iter=1, random_state=0).fit(blobs())


def test_convergence_warning_seen_by_pytest_warns_sklearn_class():
    with pytest.warns(SklearnConvergenceWarning):
        unconverged_fit()
    with pytest.warns(fastem.ConvergenceWarning):
        unconverged_fit()


def test_sklearn_convergence_warning_filter_silences_fastem():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=SklearnConvergenceWarning)
        unconverged_fit()


def test_not_fitted_error_caught_as_sklearn_class():
    with pytest.raises(SklearnNotFittedError):
        fastem.GaussianMixture().predict(blobs())
    with pytest.raises(fastem.NotFittedError):
        fastem.GaussianMixture().predict(blobs())


def test_bridged_classes_pickle_as_fastem_classes():
    with pytest.warns(SklearnConvergenceWarning) as record:
        unconverged_fit()
    warning = pickle.loads(pickle.dumps(record[0].message))
    assert type(warning) is fastem.ConvergenceWarning


def test_import_fastem_does_not_import_sklearn():
    code = ("import sys, fastem, warnings\n"
            "assert 'sklearn' not in sys.modules\n"
            "import numpy as np\n"
            "X = np.random.RandomState(0).randn(60, 2)\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    fastem.GaussianMixture(3, max_iter=1).fit(X)\n"
            "assert w[0].category is fastem.ConvergenceWarning\n"
            "assert 'sklearn' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# -------------------------------------------------------------- 3. messages
def message_cases():
    X = blobs(60)
    collapsed = np.repeat(np.arange(6.0)[:, None] * [1.0, 2.0], 10, axis=0)
    return [
        ("weights out of range", X, dict(n_components=2, weights_init=[1.5, -0.5])),
        ("weights not normalised", X, dict(n_components=2, weights_init=[0.3, 0.3])),
        ("weights shape", X, dict(n_components=2, weights_init=[0.5, 0.3, 0.2])),
        ("weights NaN", X, dict(n_components=2, weights_init=[np.nan, 0.5])),
        ("means shape", X, dict(n_components=2, means_init=np.zeros((3, 3)))),
        ("precisions shape", X, dict(n_components=2, precisions_init=np.ones(2))),
        ("precisions not positive", X, dict(n_components=2, covariance_type="diag",
                                            precisions_init=-np.ones((2, 3)))),
        ("precisions not PD", X, dict(n_components=2, covariance_type="tied",
                                      precisions_init=-np.eye(3))),
        ("n_components", X, dict(n_components=0)),
        ("covariance_type", X, dict(covariance_type="bad")),
        ("tol", X, dict(tol=-1.0)),
        ("reg_covar", X, dict(reg_covar=-1.0)),
        ("max_iter", X, dict(max_iter=-1)),
        ("init_params", X, dict(init_params="bad")),
        ("n_samples < n_components", X[:3], dict(n_components=4)),
        # Six distinct points, each repeated: a one-point component has covariance 0.
        ("ill-defined covariance", collapsed,
         dict(n_components=6, reg_covar=0.0, means_init=np.arange(6.0)[:, None] * [1.0, 2.0])),
        ("ill-defined covariance float32", collapsed.astype(np.float32),
         dict(n_components=6, reg_covar=0.0, covariance_type="diag",
              means_init=np.arange(6.0)[:, None] * [1.0, 2.0])),
    ]


@pytest.mark.parametrize("case", message_cases(), ids=lambda c: c[0])
def test_error_messages_start_with_sklearns(case):
    _, X, params = case
    ours, theirs = both(**params)
    their_type, their_text = error_text(lambda: theirs.fit(X))
    our_type, our_text = error_text(lambda: ours.fit(X))
    assert issubclass(their_type, our_type) or issubclass(our_type, their_type)
    assert same_sets(our_text).startswith(same_sets(their_text)), (our_text, their_text)


def same_sets(text):
    """Sort the entries of a printed Python set such as {'full', 'tied', ...}: its
    order depends on string hashing, which differs between processes (and between
    two sets with the same entries), in scikit-learn's messages too."""
    return re.sub(r"\{([^{}]*)\}", lambda m: "{" + ", ".join(sorted(m.group(1).split(", ")))
                  + "}", text)


def test_ill_defined_covariance_names_components_and_reg_covar():
    X = np.repeat(np.arange(6.0)[:, None] * [1.0, 2.0], 10, axis=0)
    model = fastem.GaussianMixture(6, reg_covar=0.0, covariance_type="full",
                                   means_init=np.arange(6.0)[:, None] * [1.0, 2.0])
    with pytest.raises(ValueError, match=r"\(fastem: ill-defined: component\(s\) [0-5, ]+; "
                                         r"reg_covar is now 0; a simpler covariance_type"):
        model.fit(X)


def test_not_fitted_and_n_features_messages_equal_sklearns():
    ours, theirs = both(n_components=2)
    assert error_text(lambda: ours.predict(blobs()))[1] == \
        error_text(lambda: theirs.predict(blobs()))[1]
    X = blobs()
    ours.fit(X)
    theirs.fit(X)
    assert error_text(lambda: ours.predict(X[:, :2]))[1] == \
        error_text(lambda: theirs.predict(X[:, :2]))[1]


def test_convergence_warning_message_starts_with_sklearns():
    X = blobs()
    with pytest.warns(SklearnConvergenceWarning) as theirs:
        SklearnGaussianMixture(3, max_iter=1, random_state=0).fit(X)
    with pytest.warns(SklearnConvergenceWarning) as ours:
        fastem.GaussianMixture(3, max_iter=1, random_state=0).fit(X)
    assert str(ours[0].message).startswith(str(theirs[0].message))


# ------------------------------------------------------- 4. degenerate fits
def test_collapsing_spherical_components_finish_like_sklearn():
    """Two components with precision 1e6 on single rows, reg_covar=0: scikit-learn
    finishes the iteration (its empty-component rule leaves a tiny positive
    variance); so does fastem, with the same labels and parameters."""
    X = np.random.RandomState(0).randn(100, 2)
    params = dict(n_components=3, covariance_type="spherical", reg_covar=0.0, max_iter=1,
                  weights_init=np.full(3, 1 / 3), means_init=np.array([X[0], X[1], [0, 0]]),
                  precisions_init=np.array([1e6, 1e6, 1.0]))
    ours, theirs = both(**params)
    with pytest.warns(SklearnConvergenceWarning):
        theirs.fit(X)
    with pytest.warns(SklearnConvergenceWarning):
        ours.fit(X)
    assert ours.converged_ is theirs.converged_ is False
    assert ours.n_iter_ == theirs.n_iter_ == 1
    np.testing.assert_allclose(ours.weights_, theirs.weights_, rtol=1e-12)
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-12, atol=1e-15)
    # The collapsed variances: positive and tiny in both (scikit-learn's are the
    # rounding error of its expanded square, fastem's the exact (10 eps x)^2 / 2).
    assert np.all(ours.covariances_[:2] > 0) and np.all(ours.covariances_[:2] < 1e-13)
    np.testing.assert_allclose(ours.covariances_[2], theirs.covariances_[2], rtol=1e-12)
    np.testing.assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=1e-10)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_empty_component_gets_sklearns_parameters(covariance_type):
    """A component far from every row gets no responsibility at all (it underflows):
    scikit-learn's mean sum(r x) / (nk + 10 eps) is then 0, and so is fastem's."""
    X = blobs()
    means = np.array([[5.0, 0, 0], [-5.0, 0, 0], [0, 0, 0], [1e3, 1e3, 1e3]])
    precisions = {"full": np.broadcast_to(np.eye(3), (4, 3, 3)), "tied": np.eye(3),
                  "diag": np.ones((4, 3)), "spherical": np.ones(4)}[covariance_type]
    params = dict(n_components=4, covariance_type=covariance_type, max_iter=1, tol=0.0,
                  means_init=means, weights_init=np.full(4, 0.25),
                  precisions_init=np.array(precisions))
    ours, theirs = both(**params)
    with pytest.warns(SklearnConvergenceWarning):
        theirs.fit(X)
    with pytest.warns(SklearnConvergenceWarning):
        ours.fit(X)
    np.testing.assert_array_equal(theirs.means_[3], 0.0)
    np.testing.assert_array_equal(ours.means_[3], 0.0)
    for name in FITTED:
        a, b = getattr(ours, name), getattr(theirs, name)
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-8 * np.abs(b).max(), err_msg=name)


# ------------------------------------------------------- 5. the tied start
@pytest.mark.parametrize("init_params", ["k-means++", "random_from_data"])
def test_tied_start_from_seed_rows_equals_sklearns(init_params):
    """scikit-learn's tied start from one seed row per component is the scatter of
    every row; the same random_state gives the same start and the same fit."""
    X = blobs()
    params = dict(n_components=3, covariance_type="tied", init_params=init_params,
                  random_state=7)
    for max_iter in (0, 100):
        ours, theirs = both(max_iter=max_iter, **params)
        ours.fit(X)
        theirs.fit(X)
        for name in FITTED:
            a, b = getattr(ours, name), getattr(theirs, name)
            np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10 * np.abs(b).max(),
                                       err_msg=name)
        assert ours.n_iter_ == theirs.n_iter_
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


# ------------------------------------------------------ 6. feature names
def frames():
    pd = pytest.importorskip("pandas")
    X = blobs()
    return pd, X, pd.DataFrame(X, columns=["a", "b", "c"])


def test_feature_names_in_set_like_sklearn():
    pd, X, df = frames()
    ours, theirs = both(n_components=2, random_state=0)
    ours.fit(df)
    theirs.fit(df)
    assert ours.feature_names_in_.dtype == theirs.feature_names_in_.dtype == object
    np.testing.assert_array_equal(ours.feature_names_in_, theirs.feature_names_in_)
    np.testing.assert_array_equal(ours.predict(df), theirs.predict(df))
    ours.fit(X)  # refit without names forgets them, as scikit-learn does
    theirs.fit(X)
    assert not hasattr(ours, "feature_names_in_") and not hasattr(theirs, "feature_names_in_")
    ours.fit(pd.DataFrame(X))  # non-string column names: no names
    theirs.fit(pd.DataFrame(X))
    assert not hasattr(ours, "feature_names_in_") and not hasattr(theirs, "feature_names_in_")


@pytest.mark.parametrize("columns", [["c", "b", "a"], ["a", "b", "d"], ["a", "b"],
                                     [f"f{i}" for i in range(8)]])
def test_mismatched_feature_names_raise_sklearns_error(columns):
    pd, X, df = frames()
    ours, theirs = both(n_components=2, random_state=0)
    ours.fit(df)
    theirs.fit(df)
    other = pd.DataFrame(np.resize(X, (X.shape[0], len(columns))), columns=columns)
    for method in ("predict", "predict_proba", "score_samples", "score"):
        want = error_text(lambda: getattr(theirs, method)(other))
        got = error_text(lambda: getattr(ours, method)(other))
        assert got[0] is want[0] is ValueError
        assert got[1].startswith(want[1]) if len(columns) != 3 else got[1] == want[1]


def test_names_on_one_side_only_warn_like_sklearn():
    pd, X, df = frames()
    for fit_data, predict_data in ((df, X), (X, df)):
        ours, theirs = both(n_components=2, random_state=0)
        ours.fit(fit_data)
        theirs.fit(fit_data)
        with pytest.warns(UserWarning) as want:
            theirs.predict(predict_data)
        with pytest.warns(UserWarning) as got:
            ours.predict(predict_data)
        assert [str(w.message) for w in got] == [str(w.message) for w in want]


def test_mixed_column_name_types_raise_sklearns_error():
    pd, X, _ = frames()
    df = pd.DataFrame(X, columns=["a", 1, "c"])
    assert error_text(lambda: fastem.GaussianMixture(2).fit(df)) == \
        error_text(lambda: SklearnGaussianMixture(2).fit(df))


def test_save_load_keeps_feature_names(tmp_path):
    pd, X, df = frames()
    model = fastem.GaussianMixture(2, random_state=0).fit(df)
    model.save(tmp_path / "model.npz")
    loaded = fastem.load(tmp_path / "model.npz")
    assert loaded.feature_names_in_.dtype == object
    np.testing.assert_array_equal(loaded.feature_names_in_, model.feature_names_in_)
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        loaded.predict(df[["c", "b", "a"]])


def test_semi_supervised_keeps_feature_names():
    pd, X, df = frames()
    y = np.full(X.shape[0], -1)
    y[:5], y[-5:] = 0, 1
    model = fastem.SemiSupervisedGaussianMixture(covariance_type="diag").fit(df, y)
    np.testing.assert_array_equal(model.feature_names_in_, ["a", "b", "c"])
    with pytest.raises(ValueError, match="The feature names should match"):
        model.predict(df[["c", "b", "a"]])


# ----------------------------------------------- 7. the estimator protocol
def test_repr_html_is_sklearns_diagram():
    from sklearn.utils import estimator_html_repr
    model = fastem.GaussianMixture(3, reg_covar=1e-3)

    def without_ids(html):  # element ids count up from call to call
        return re.sub(r"sk-container-id-\d+|(id|for)=\"[^\"]*\"", "", html)
    assert without_ids(model._repr_html_()) == without_ids(estimator_html_repr(model))
    assert "GaussianMixture" in model._repr_html_() and "reg_covar" in model._repr_html_()


def test_repr_html_without_sklearn_is_escaped_repr(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.utils", None)  # import fails
    model = fastem.GaussianMixture(3, means_init=np.zeros((3, 1)) - 1)
    html = model._repr_html_()
    assert html.startswith("<pre>") and "&lt;" not in repr(model)
    assert "GaussianMixture(" in html and "<" not in html[5:-6]


def test_metadata_routing_requests_nothing():
    """fastem has no get_metadata_routing (documented): scikit-learn's routing
    then treats it as an estimator that requests no metadata."""
    from sklearn.utils.metadata_routing import get_routing_for_object
    assert not hasattr(fastem.GaussianMixture(), "get_metadata_routing")
    routing = get_routing_for_object(fastem.GaussianMixture())
    assert not routing.consumes("fit", ["sample_weight"])


def test_float32_outputs_of_dask_and_semi_supervised_follow_the_same_rule():
    """Lazy dask outputs and the semi-supervised classifier use scikit-learn's rule too:
    float32 only for float32 X and a float32 model."""
    da = pytest.importorskip("dask.array")
    X = blobs().astype(np.float32)
    model = fastem.GaussianMixture(3, random_state=0).fit(X)
    lazy = model.predict_proba(da.from_array(X, chunks=(100, 3)))
    assert lazy.dtype == np.float32
    np.testing.assert_array_equal(lazy.compute(), model.predict_proba(X))
    assert model.score_samples(da.from_array(X.astype(np.float64), chunks=(100, 3))).dtype \
        == np.float64
    y = np.full(X.shape[0], -1)
    y[:5], y[-5:] = 0, 1
    semi = fastem.SemiSupervisedGaussianMixture(covariance_type="diag").fit(X, y)
    assert semi.means_.dtype == semi.class_means_.dtype == np.float32
    assert semi.predict_proba(X).dtype == np.float32
    assert semi.predict_proba(X.astype(np.float64)).dtype == np.float64


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_model_saves_and_loads_as_float32(tmp_path, covariance_type):
    X = blobs().astype(np.float32)
    model = fastem.GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    model.save(tmp_path / "model.npz")
    loaded = fastem.load(tmp_path / "model.npz")
    for name in FITTED:
        assert getattr(loaded, name).dtype == np.float32, name
        np.testing.assert_array_equal(getattr(loaded, name) if name != "precisions_"
                                      else loaded.precisions_cholesky_,
                                      getattr(model, name) if name != "precisions_"
                                      else model.precisions_cholesky_)
    np.testing.assert_allclose(loaded.precisions_, model.precisions_, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
