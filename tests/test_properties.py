"""Properties of EM that hold for any data, checked on generated cases (hypothesis)."""
import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

import fastem  # noqa: E402
import naive  # noqa: E402
from conftest import COVARIANCE_TYPES, quiet_convergence, rough_start  # noqa: E402

covariance_types = st.sampled_from(COVARIANCE_TYPES)
seeds = st.integers(0, 2**32 - 1)


def mixture_data(seed, n_components, n_features, n_per_component, scale=1.0, offset=0.0):
    """Gaussian clusters with random centres and random (full) shapes."""
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(n_components):
        centre = rng.normal(scale=4.0, size=n_features)
        shape = rng.normal(size=(n_features, n_features)) + np.eye(n_features)
        parts.append(centre + rng.normal(size=(n_per_component, n_features)) @ shape)
    return offset + scale * np.vstack(parts)


@settings(max_examples=25)
@given(seed=seeds, covariance_type=covariance_types, n_components=st.integers(1, 4),
       n_features=st.integers(1, 4), log_scale=st.floats(-3, 3),
       offset=st.sampled_from([0.0, 1e3, -1e6]))
def test_predict_proba_rows_sum_to_one(seed, covariance_type, n_components, n_features,
                                       log_scale, offset):
    scale = 10.0 ** log_scale
    X = mixture_data(seed, n_components, n_features, 30, scale, offset)
    with quiet_convergence():
        gm = fastem.GaussianMixture(n_components, covariance_type=covariance_type,
                                    max_iter=5, random_state=0).fit(X)
    rng = np.random.default_rng(seed + 1)
    # New points, some far outside the data (all log-densities hugely negative).
    queries = np.vstack([X[:20], offset + scale * rng.normal(scale=50.0,
                                                             size=(20, n_features))])
    proba = gm.predict_proba(queries)
    assert proba.shape == (40, n_components)
    assert np.all(proba >= 0.0) and np.all(proba <= 1.0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # Hard labels are the most probable component.
    np.testing.assert_array_equal(gm.predict(queries), proba.argmax(axis=1))
    assert np.all(np.isfinite(gm.score_samples(queries)))


@settings(max_examples=20)
@given(seed=seeds, covariance_type=covariance_types, n_components=st.integers(1, 4),
       n_features=st.integers(1, 3))
def test_em_never_decreases_the_log_likelihood(seed, covariance_type, n_components,
                                               n_features):
    """With reg_covar=0 every M-step maximises the expected log-likelihood exactly, so
    the log-likelihood never goes down (up to rounding)."""
    X = mixture_data(seed, n_components, n_features, 40)
    start = rough_start(X, n_components, covariance_type, seed=seed % 1000)
    with quiet_convergence():
        gm = fastem.GaussianMixture(n_components, covariance_type=covariance_type,
                                    reg_covar=0.0, tol=0.0, max_iter=25, **start).fit(X)
    bounds = np.asarray(gm.lower_bounds_)
    assert len(bounds) == 25 and np.all(np.isfinite(bounds))
    steps = np.diff(bounds)
    assert np.all(steps >= -1e-12 * np.abs(bounds[1:])), steps.min()


@settings(max_examples=15)
@given(seed=seeds, covariance_type=covariance_types, n_components=st.integers(1, 3),
       n_features=st.integers(1, 3))
def test_row_order_does_not_change_the_fit(seed, covariance_type, n_components,
                                           n_features):
    X = mixture_data(seed, n_components, n_features, 50)
    perm = np.random.default_rng(seed).permutation(len(X))
    start = rough_start(X, n_components, covariance_type, seed=seed % 1000)
    with quiet_convergence():
        a = fastem.GaussianMixture(n_components, covariance_type=covariance_type,
                                   tol=1e-8, max_iter=50, **start).fit(X)
        b = fastem.GaussianMixture(n_components, covariance_type=covariance_type,
                                   tol=1e-8, max_iter=50, **start).fit(X[perm])
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-11)
    for name in ("weights_", "means_", "covariances_"):
        x, y = getattr(a, name), getattr(b, name)
        np.testing.assert_allclose(x, y, rtol=1e-8, atol=1e-8 * np.abs(x).max())
    np.testing.assert_allclose(a.score_samples(X)[perm], b.score_samples(X[perm]),
                               rtol=1e-10)


@settings(max_examples=20)
@given(seed=seeds, covariance_type=covariance_types, n_components=st.integers(1, 4),
       n_features=st.integers(1, 4))
def test_score_samples_is_the_mixture_log_density(seed, covariance_type, n_components,
                                                  n_features):
    """score_samples == log sum_k w_k N(x | k) from the fitted parameters (oracle)."""
    X = mixture_data(seed, n_components, n_features, 25)
    with quiet_convergence():
        gm = fastem.GaussianMixture(n_components, covariance_type=covariance_type,
                                    max_iter=3, random_state=1).fit(X)
    precisions = np.linalg.inv(naive.dense_covariances(
        gm.covariances_, covariance_type, n_components, n_features))
    wlp = naive.weighted_log_prob(X, gm.weights_, gm.means_, precisions)
    top = wlp.max(axis=1)
    expected = top + np.log(np.exp(wlp - top[:, None]).sum(axis=1))
    np.testing.assert_allclose(gm.score_samples(X), expected, rtol=1e-9)
    np.testing.assert_allclose(gm.score(X), expected.mean(), rtol=1e-9)
