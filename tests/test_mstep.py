"""The compiled M-step equals the NumPy reference path (fastem._stats + fastem._linalg)."""
import numpy as np
import pytest

from conftest import COVARIANCE_TYPES
from fastem import _linalg
from fastem._kernels import mstep
from fastem._stats import Stats, m_step


def random_stats(covariance_type, n_components=4, n_features=5, seed=0):
    """Statistics of a real weighted sample, so the covariances are positive definite."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((200, n_features)) * 3 + 100.0
    resp = rng.dirichlet(np.ones(n_components), size=200)
    means = X[:n_components] + 0.1
    shift = means.mean(axis=0)
    stats = Stats(covariance_type, n_components, n_features)
    stats.nk = resp.sum(axis=0)
    if covariance_type == "tied":
        xs = X - shift
        stats.s1 = resp.T @ xs
        stats.s2 = xs.T @ xs
    else:
        for k in range(n_components):
            xc = X - means[k]
            stats.s1[k] = resp[:, k] @ xc
            if covariance_type == "full":
                stats.s2[k] = (xc * resp[:, k, None]).T @ xc
            elif covariance_type == "diag":
                stats.s2[k] = resp[:, k] @ xc ** 2
            else:
                stats.s2[k] = resp[:, k] @ (xc ** 2).sum(axis=1)
    return stats, means, shift


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_compiled_m_step_equals_numpy_reference(covariance_type):
    stats, means, shift = random_stats(covariance_type)
    nk, want_means, want_cov = m_step(stats, means, shift, covariance_type, 1e-6)
    want_prec_chol = _linalg.precision_cholesky(want_cov, covariance_type, 1e-6)
    ok, weights, got_means, got_cov, got_prec_chol = getattr(mstep, covariance_type)(
        stats.nk, stats.s1, stats.s2, means, shift, 1e-6)
    assert ok
    np.testing.assert_allclose(weights, nk / nk.sum(), rtol=1e-14)
    np.testing.assert_allclose(got_means, want_means, rtol=1e-14)
    np.testing.assert_allclose(got_cov, want_cov, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_prec_chol, want_prec_chol, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_compiled_m_step_reports_a_singular_covariance(covariance_type):
    """Zero statistics around centres at the origin and no regularisation: not
    positive definite, so ok is False (the driver then raises the NumPy path's
    error naming the component). Centres away from the origin would give
    scikit-learn's tiny positive nk (10 eps mu / nk')^2 instead."""
    stats, means, shift = random_stats(covariance_type)
    stats.s1[:] = 0.0
    stats.s2[...] = 0.0
    means[:] = 0.0
    shift[:] = 0.0
    ok = getattr(mstep, covariance_type)(stats.nk, stats.s1, stats.s2, means, shift, 0.0)[0]
    assert not ok
