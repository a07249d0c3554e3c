"""fastem against scikit-learn's GaussianMixture, from identical starting parameters.

Both implementations run the same EM in float64; they differ only in the order
of floating-point operations, so fits from the same start must agree to
rounding: labels and iteration counts exactly, lower bounds to 1e-10 relative,
parameters to 1e-8.
"""
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

import fastem
import naive
from conftest import (COVARIANCE_TYPES, DATASETS, fit_both, quantise, quiet_convergence,
                      rough_start, separated_blobs, sklearn_start)

LB_RTOL = 1e-10
PARAM_RTOL = 1e-8
FLOAT32_RTOL = 1e-5  # float32 input: products in float32
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def assert_params_close(ours, theirs, rtol=PARAM_RTOL, names=FITTED):
    for name in names:
        a, b = getattr(ours, name), getattr(theirs, name)
        assert a.shape == b.shape, name
        # Relative to the largest entry: off-diagonal covariances may be ~0.
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max(),
                                   err_msg=name)


def assert_same_fit(ours, theirs, X, lb_rtol=LB_RTOL):
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    assert abs(ours.lower_bound_ - theirs.lower_bound_) <= lb_rtol * abs(theirs.lower_bound_)
    assert len(ours.lower_bounds_) == len(theirs.lower_bounds_)
    np.testing.assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, rtol=lb_rtol)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_same_fit_as_sklearn(dataset, covariance_type):
    X, k = DATASETS[dataset]()
    start = rough_start(X, k, covariance_type)
    ours, theirs = fit_both(X, k, covariance_type, start, tol=1e-8, max_iter=300)
    assert theirs.n_iter_ > 5  # a real run, not a one-step stop
    assert_same_fit(ours, theirs, X)
    assert_params_close(ours, theirs)
    assert ours.n_features_in_ == theirs.n_features_in_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_fit_as_sklearn_on_several_partitions(covariance_type):
    """Enough rows for several partitions (the parallel kernels, not the one-partition
    serial path that small data takes)."""
    from sklearn.datasets import make_blobs
    from fastem._config import PARTITION_ROWS
    X, _ = make_blobs(n_samples=2 * PARTITION_ROWS + 777, n_features=3, centers=3,
                      cluster_std=[1.0, 2.0, 0.7], random_state=7)
    start = rough_start(X, 3, covariance_type)
    ours, theirs = fit_both(X, 3, covariance_type, start, tol=1e-10, max_iter=100)
    assert theirs.n_iter_ >= 5
    assert_same_fit(ours, theirs, X)
    assert_params_close(ours, theirs)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_default_tol_and_unconverged_runs_match(covariance_type):
    X, k = DATASETS["blobs"]()
    start = sklearn_start(X, k, covariance_type, seed=2)
    ours, theirs = fit_both(X, k, covariance_type, start)
    assert_same_fit(ours, theirs, X)
    assert_params_close(ours, theirs)
    # Stopped by max_iter: same parameters after exactly 2 iterations, both warn.
    with pytest.warns(fastem.ConvergenceWarning):
        ours = fastem.GaussianMixture(k, covariance_type=covariance_type, max_iter=2,
                                      tol=0.0, **start).fit(X)
    with quiet_convergence():
        theirs = SklearnGaussianMixture(k, covariance_type=covariance_type, max_iter=2,
                                        tol=0.0, **start).fit(X)
    assert not ours.converged_ and ours.n_iter_ == 2
    assert_same_fit(ours, theirs, X)
    assert_params_close(ours, theirs)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_input_fits_like_float64(covariance_type):
    """float32 rows are centred in float64 and their products run in float32 (issue 8):
    the fit follows scikit-learn's float64 fit of the same (widened) numbers within
    float32 rounding (lower bounds to 1e-5 relative), handed out in float32 as
    scikit-learn >= 1.7 does."""
    X, k = DATASETS["blobs"]()
    X32 = X.astype(np.float32)
    X64 = X32.astype(np.float64)
    start = sklearn_start(X64, k, covariance_type)
    ours, _ = fit_both(X32, k, covariance_type, start, tol=1e-8, max_iter=300)
    _, theirs = fit_both(X64, k, covariance_type, start, tol=1e-8, max_iter=300)
    assert ours.converged_ and theirs.converged_
    for name in FITTED:
        assert getattr(ours, name).dtype == np.float32, name
    assert_params_close(ours, theirs, rtol=FLOAT32_RTOL)
    assert ours.lower_bound_.dtype == np.float32
    np.testing.assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=FLOAT32_RTOL)
    np.testing.assert_array_equal(ours.predict(X64), theirs.predict(X64))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", ["iris", "anisotropic"])
def test_shifted_data_fits_like_centred_data(dataset, covariance_type):
    """fastem on X + 1e6 (means_init + 1e6) == scikit-learn on X.

    X is rounded to multiples of 2**-20 so that X + 1e6 holds exactly the same
    numbers: any difference is the algorithm's own rounding. The lower bound is
    shift-invariant and must agree to 1e-10. Fitted means live at 1e6, where one
    ulp is 1.2e-10, so means agree to a few ulps (absolute) and covariances, which
    are centred on those means, to 1e-9 relative.
    """
    X, k = DATASETS[dataset]()
    X = quantise(X)
    shifted = X + 1e6
    assert np.array_equal(shifted - 1e6, X)
    start = sklearn_start(X, k, covariance_type)
    _, theirs = fit_both(X, k, covariance_type, start, tol=1e-8, max_iter=300)
    start["means_init"] = start["means_init"] + 1e6
    ours, _ = fit_both(shifted, k, covariance_type, start, tol=1e-8, max_iter=300)
    assert ours.n_iter_ == theirs.n_iter_
    assert abs(ours.lower_bound_ - theirs.lower_bound_) <= LB_RTOL * abs(theirs.lower_bound_)
    np.testing.assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, rtol=LB_RTOL)
    np.testing.assert_array_equal(ours.predict(shifted), theirs.predict(X))
    np.testing.assert_allclose(ours.means_ - 1e6, theirs.means_, rtol=0, atol=8 * 1.2e-10)
    assert_params_close(ours, theirs, rtol=1e-9,
                        names=("weights_", "covariances_", "precisions_"))


@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "full"])
def test_float32_far_from_origin_keeps_positive_variances(covariance_type):
    """float32 data at 1e4 with a spread of a few float32 ulps (ulp(1e4) ~ 1e-3), fitted
    with reg_covar=0: the variances stay finite and positive (a negative or zero one
    would raise), and the fit equals the NumPy EM oracle on the same numbers with the
    offset removed (exact: these float32 values have few significant bits)."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [0.05, 0.0], [0.0, 0.05]])
    labels = rng.integers(0, 3, size=900)
    X32 = (1e4 + centres[labels] + 0.004 * rng.normal(size=(900, 2))).astype(np.float32)
    X64 = X32.astype(np.float64) - 1e4
    assert np.array_equal(X64 + 1e4, X32.astype(np.float64))
    start = sklearn_start(X64, 3, covariance_type)
    covariances = naive.dense_covariances(
        np.linalg.inv(start["precisions_init"]) if covariance_type == "full"
        else 1.0 / start["precisions_init"], covariance_type, 3, 2)
    covariances = (covariances if covariance_type == "full" else
                   np.array([np.diag(c) for c in covariances]) if covariance_type == "diag"
                   else covariances[:, 0, 0])
    want = naive.em(X64, start["weights_init"], start["means_init"], covariances,
                    covariance_type, reg_covar=0.0, tol=1e-6)
    start["means_init"] = start["means_init"] + 1e4
    ours = fastem.GaussianMixture(3, covariance_type=covariance_type, tol=1e-6,
                                  reg_covar=0.0, **start).fit(X32)
    assert np.all(np.isfinite(ours.covariances_))
    variances = (np.diagonal(ours.covariances_, axis1=1, axis2=2)
                 if covariance_type == "full" else ours.covariances_)
    assert np.all(variances > 0)
    assert ours.n_iter_ == want["n_iter"]
    # Handed out in float32 (scikit-learn >= 1.7), computed in float64: the oracle's
    # values rounded to float32, up to one float32 ulp.
    np.testing.assert_allclose(ours.lower_bounds_, want["lower_bounds"],
                               rtol=np.finfo(np.float32).eps)
    np.testing.assert_array_max_ulp(ours.covariances_,
                                    want["covariances"].astype(np.float32), maxulp=1)
    np.testing.assert_array_max_ulp(ours.means_, (want["means"] + 1e4).astype(np.float32),
                                    maxulp=1)


# ------------------------------------------------------------ predict family
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_predict_family_on_the_same_parameters(covariance_type):
    """Give a scikit-learn model fastem's fitted parameters: every method agrees."""
    X, k = DATASETS["blobs"]()
    ours = fastem.GaussianMixture(k, covariance_type=covariance_type, random_state=0).fit(X)
    theirs = SklearnGaussianMixture(k, covariance_type=covariance_type)
    for name in FITTED + ("converged_", "n_iter_", "lower_bound_", "n_features_in_"):
        setattr(theirs, name, getattr(ours, name))
    X_new = np.random.default_rng(1).normal(scale=6.0, size=(257, X.shape[1]))
    for data in (X, X_new):
        np.testing.assert_array_equal(ours.predict(data), theirs.predict(data))
        np.testing.assert_allclose(ours.predict_proba(data), theirs.predict_proba(data),
                                   rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(ours.score_samples(data), theirs.score_samples(data),
                                   rtol=1e-12)
        np.testing.assert_allclose(ours.score(data), theirs.score(data), rtol=1e-12)
        np.testing.assert_allclose(ours.bic(data), theirs.bic(data), rtol=1e-12)
        np.testing.assert_allclose(ours.aic(data), theirs.aic(data), rtol=1e-12)
    assert ours._n_parameters() == theirs._n_parameters()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_predict_equals_fit_then_predict(covariance_type):
    X, k = DATASETS["imbalanced"]()
    gm = fastem.GaussianMixture(k, covariance_type=covariance_type, random_state=3)
    labels = gm.fit_predict(X)
    again = fastem.GaussianMixture(k, covariance_type=covariance_type, random_state=3)
    np.testing.assert_array_equal(labels, again.fit(X).predict(X))
    start = sklearn_start(X, k, covariance_type)
    ours = fastem.GaussianMixture(k, covariance_type=covariance_type, **start)
    theirs = SklearnGaussianMixture(k, covariance_type=covariance_type, **start)
    with quiet_convergence():
        np.testing.assert_array_equal(ours.fit_predict(X), theirs.fit_predict(X))


# ------------------------------------------------------------- init_params
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_init_params_recover_separated_blobs(init_params, covariance_type):
    X, y = separated_blobs(n_samples=240)
    # A tight tol: 'random' starts near a saddle (all means near the data mean) where
    # the lower bound moves slowly, so a loose tol would stop EM there. n_init=4:
    # 'random_from_data' may seed two components in one blob (a local optimum).
    fits = [fastem.GaussianMixture(3, covariance_type=covariance_type,
                                   init_params=init_params, random_state=0,
                                   n_init=4, tol=1e-10, max_iter=300).fit(X)
            for _ in range(2)]
    for gm in fits:
        assert adjusted_rand_score(y, gm.predict(X)) == 1.0
    # A fixed random_state gives the same bits.
    for name in FITTED:
        assert getattr(fits[0], name).tobytes() == getattr(fits[1], name).tobytes()
    assert fits[0].lower_bounds_ == fits[1].lower_bounds_


MATCHING_STARTS = [(c, i) for c in COVARIANCE_TYPES for i in INIT_PARAMS]


@pytest.mark.parametrize("covariance_type, init_params", MATCHING_STARTS)
def test_init_params_match_sklearn(init_params, covariance_type):
    """Same integer seed, same RandomState stream: the same start as scikit-learn.

    'k-means++' and 'random_from_data' start each component from one row, so its
    first covariance is reg_covar * I (precision 1e6) and the first lower bound is
    ~-1e7, where scikit-learn's expanded-square distance (diag, spherical) loses
    ~1e-8 relative: that one value is compared at 1e-6.
    """
    X, k = DATASETS["blobs"]()
    ours, theirs = fit_both(X, k, covariance_type, {}, init_params=init_params,
                            random_state=12, max_iter=30)
    assert ours.n_iter_ == theirs.n_iter_
    sparse_start = init_params in ("k-means++", "random_from_data")
    np.testing.assert_allclose(ours.lower_bounds_[0], theirs.lower_bounds_[0],
                               rtol=1e-6 if sparse_start else LB_RTOL)
    np.testing.assert_allclose(ours.lower_bounds_[1:], theirs.lower_bounds_[1:],
                               rtol=LB_RTOL)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert_params_close(ours, theirs)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_n_init_keeps_the_best_lower_bound(covariance_type):
    X, k = DATASETS["iris"]()
    ours, theirs = fit_both(X, k, covariance_type, {}, init_params="random",
                            random_state=5, n_init=4, max_iter=40)
    np.testing.assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=LB_RTOL)
    assert_params_close(ours, theirs)
    # The best of the four single starts drawn from the same stream.
    rs = np.random.RandomState(5)
    singles = []
    for _ in range(4):
        with quiet_convergence():
            gm = fastem.GaussianMixture(k, covariance_type=covariance_type,
                                        init_params="random", random_state=rs,
                                        max_iter=40).fit(X)
        singles.append(gm.lower_bound_)
    assert ours.lower_bound_ == max(singles)
    assert len(set(np.round(singles, 6))) > 1  # the starts really differ


@pytest.mark.parametrize("init_params", ["random", "kmeans"])
def test_max_iter_zero_keeps_the_last_start_like_sklearn(init_params):
    X, k = DATASETS["iris"]()
    ours, theirs = fit_both(X, k, "full", {}, init_params=init_params, random_state=0,
                            n_init=3, max_iter=0)
    assert ours.n_iter_ == theirs.n_iter_ == 0
    assert ours.lower_bound_ == theirs.lower_bound_ == -np.inf
    assert ours.lower_bounds_ == theirs.lower_bounds_ == []
    assert_params_close(ours, theirs)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_continues_the_previous_fit(covariance_type):
    X, k = DATASETS["anisotropic"]()
    start = sklearn_start(X, k, covariance_type)
    kwargs = dict(covariance_type=covariance_type, max_iter=3, tol=0.0, warm_start=True,
                  **start)
    ours = fastem.GaussianMixture(k, **kwargs)
    theirs = SklearnGaussianMixture(k, **kwargs)
    with quiet_convergence():
        ours.fit(X)
        theirs.fit(X)
        ours.fit(X)
        theirs.fit(X)
        straight = fastem.GaussianMixture(k, covariance_type=covariance_type, max_iter=6,
                                          tol=0.0, **start).fit(X)
    assert_same_fit(ours, theirs, X)
    assert_params_close(ours, theirs)
    # Three more iterations from where the first fit stopped == iterations 4..6.
    np.testing.assert_allclose(ours.lower_bounds_, straight.lower_bounds_[3:], rtol=1e-13)
    assert_params_close(ours, straight, rtol=1e-12)
