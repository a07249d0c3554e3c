"""sample_weight has frequency semantics: weight 0 removes a row, an integer weight w
counts it w times, and scaling all weights changes nothing."""
import numpy as np
import pytest

import fastem
import naive
from conftest import COVARIANCE_TYPES, DATASETS, quiet_convergence, rough_start

RTOL = 1e-12
FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def fit(X, covariance_type, start, sample_weight=None, **kwargs):
    k = start["means_init"].shape[0] if "means_init" in start else kwargs.pop("k")
    with quiet_convergence():
        return fastem.GaussianMixture(k, covariance_type=covariance_type, tol=1e-10,
                                      max_iter=60, **start, **kwargs).fit(
            X, sample_weight=sample_weight)


def assert_same_fit(a, b, rtol=RTOL):
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)
    for name in FITTED:
        x, y = getattr(a, name), getattr(b, name)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * np.abs(y).max(),
                                   err_msg=name)


def data():
    X, k = DATASETS["blobs"]()
    return X[:300], k


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_zero_weight_is_a_removed_row(covariance_type):
    X, k = data()
    start = rough_start(X, k, covariance_type)
    sample_weight = np.ones(len(X))
    sample_weight[np.random.default_rng(0).choice(len(X), 60, replace=False)] = 0.0
    # Zero-weight rows far away: any leak into the statistics would show.
    X = X.copy()
    X[sample_weight == 0] += 1e3
    assert_same_fit(fit(X, covariance_type, start, sample_weight),
                    fit(X[sample_weight > 0], covariance_type, start))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weight_is_a_repeated_row(covariance_type):
    X, k = data()
    start = rough_start(X, k, covariance_type)
    counts = np.random.default_rng(1).integers(0, 4, size=len(X))
    assert_same_fit(fit(X, covariance_type, start, counts.astype(float)),
                    fit(np.repeat(X, counts, axis=0), covariance_type, start))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_scaling_all_weights_changes_nothing(covariance_type):
    X, k = data()
    start = rough_start(X, k, covariance_type)
    assert_same_fit(fit(X, covariance_type, start, np.full(len(X), 2.5)),
                    fit(X, covariance_type, start))
    assert_same_fit(fit(X, covariance_type, start, 2.5), fit(X, covariance_type, start))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_real_weights_match_the_weighted_em_oracle(covariance_type):
    X, k = data()
    start = rough_start(X, k, covariance_type)
    sample_weight = np.random.default_rng(2).uniform(0.0, 3.0, size=len(X))
    ours = fit(X, covariance_type, start, sample_weight, reg_covar=1e-4)
    precisions = start["precisions_init"]
    covariances = (np.linalg.inv(precisions) if covariance_type in ("full", "tied")
                   else 1.0 / precisions)
    want = naive.em(X, start["weights_init"], start["means_init"], covariances,
                    covariance_type, sample_weight=sample_weight, reg_covar=1e-4,
                    tol=1e-10, max_iter=60)
    assert ours.n_iter_ == want["n_iter"]
    np.testing.assert_allclose(ours.lower_bounds_, want["lower_bounds"], rtol=1e-10)
    np.testing.assert_allclose(ours.means_, want["means"], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(ours.covariances_, want["covariances"], rtol=1e-8,
                               atol=1e-8 * np.abs(want["covariances"]).max())


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data"])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_zero_weight_rows_do_not_affect_the_initialisation(init_params, covariance_type):
    """Data-driven starts see weight-0 rows as absent: same seeds, same k-means, so the
    same fit as without those rows (the RandomState draws map onto the same rows)."""
    X, k = data()
    X = X.copy()
    sample_weight = np.ones(len(X))
    removed = np.random.default_rng(3).choice(len(X), 50, replace=False)
    sample_weight[removed] = 0.0
    X[removed] = 500.0 + 10.0 * np.arange(50)[:, None]  # would be picked as seeds
    kwargs = dict(k=k, init_params=init_params, random_state=4, reg_covar=1e-3)
    weighted = fit(X, covariance_type, {}, sample_weight, **kwargs)
    kwargs = dict(k=k, init_params=init_params, random_state=4, reg_covar=1e-3)
    assert_same_fit(weighted, fit(X[sample_weight > 0], covariance_type, {}, **kwargs),
                    rtol=1e-10)
    assert np.all(np.abs(weighted.means_) < 100)


@pytest.mark.parametrize("bad, match", [
    (-1.0, "Negative"),
    (np.nan, "NaN"),
    (np.inf, "infinity"),
])
def test_invalid_weights_raise(bad, match):
    X, k = data()
    sample_weight = np.ones(len(X))
    sample_weight[7] = bad
    with pytest.raises(ValueError, match=match):
        fastem.GaussianMixture(k).fit(X, sample_weight=sample_weight)


def test_weight_shape_and_all_zero_raise():
    X, k = data()
    with pytest.raises(ValueError, match="shape"):
        fastem.GaussianMixture(k).fit(X, sample_weight=np.ones(len(X) - 1))
    with pytest.raises(ValueError, match="shape"):
        fastem.GaussianMixture(k).fit(X, sample_weight=np.ones((len(X), 1)))
    with pytest.raises(ValueError, match="zero"):
        fastem.GaussianMixture(k).fit(X, sample_weight=np.zeros(len(X)))
