"""Sufficient statistics of one EM pass and the M-step that turns them into parameters.

The kernels return, per component k (w = sample weight, r = responsibility):

* ``nk[k] = sum w r``
* ``s1[k] = sum w r (x - mu_k)``          (tied: ``sum w r (x - c)``)
* ``s2``  = the centred second moments    (full: (K, D, D) upper triangle of
  ``sum w r (x - mu_k)(x - mu_k)^T``; diag: (K, D); spherical: (K,);
  tied: ``sum w (x - c)(x - c)^T``)

Centring on the current means (or shift c) keeps the sums exact for data far
from the origin. The new mean is scikit-learn's ``sum w r x / nk'`` with
nk' = nk + 10 eps (its guard against empty components), i.e.
``m = mu nk / nk' + s1 / nk'``: an empty component's mean becomes 0, as in
scikit-learn, and a one-row component's mean moves by the few ulps that give
it scikit-learn's tiny positive covariance instead of 0. With delta = m - mu
(the covariance is stationary in delta, so rounding of m barely matters):
``sum w r (x - m)(x - m)^T = s2 - s1 delta^T - delta s1^T + nk delta delta^T``.

``Params`` is one set of mixture parameters as the kernels read them, and
``PassJob`` what one fused pass needs to know about them.
"""
import collections

import numpy as np

from ._interrupt import kernel_module

EPS10 = 10 * np.finfo(np.float64).eps


class Params:
    """One set of mixture parameters, in the estimator's attribute shapes (float64)."""

    def __init__(self, weights, means, covariances, prec_chol, covariance_type):
        self.weights = weights
        self.means = means
        self.covariances = covariances
        self.prec_chol = prec_chol
        self.covariance_type = covariance_type

    def log_norm(self):
        """log(weight_k) + log det(U_k) - D/2 log(2 pi): the constant of each row log-prob.
        Compiled: the compiled EM loop of small fits computes it between iterations, and
        NumPy's SIMD log would round differently (one implementation, the same bits)."""
        return kernel_module("em_loop").log_norm(self.covariance_type, self.weights,
                                                 self.means, self.prec_chol)

    def shift(self):
        """Centre for the tied statistics: the weighted centre of the current means
        (compiled, as ``log_norm``)."""
        return kernel_module("em_loop").weighted_centre(self.weights, self.means)

    def kernel_shift(self):
        """The ``shift`` argument of the kernels and the compiled M-step: only tied
        statistics are taken about it (the others are centred on each mean)."""
        return self.shift() if self.covariance_type == "tied" else _NO_SHIFT

    def centre(self):
        """The point the kernels centre their statistics on (tied: one shift for all)."""
        return self.shift() if self.covariance_type == "tied" else self.means


_NO_SHIFT = np.empty(0)

# What a fused pass needs: the kernel module's name, the parameters as the kernels
# read them, and the class of each component (labelled rows are clamped to theirs).
PassJob = collections.namedtuple(
    "PassJob", "covariance_type n_components means prec_chol log_norm shift component_class")


def pass_job(params, component_class):
    """The ``PassJob`` of one pass under ``params``."""
    return PassJob(params.covariance_type, params.means.shape[0], params.means,
                   params.prec_chol, params.log_norm(), params.kernel_shift(), component_class)


class Stats:
    """Running totals of one pass (added to in place by the kernels)."""

    def __init__(self, covariance_type, n_components, n_features):
        self.log_lik = 0.0
        self.nk = np.zeros(n_components)
        self.s1 = np.zeros((n_components, n_features))
        self.s2 = np.zeros({
            "full": (n_components, n_features, n_features),
            "tied": (n_features, n_features),
            "diag": (n_components, n_features),
            "spherical": (n_components,),
        }[covariance_type])

    def add(self, other):
        """Merge another pass's totals (e.g. a dask block)."""
        self.log_lik += other.log_lik
        self.nk += other.nk
        self.s1 += other.s1
        self.s2 += other.s2
        return self


def m_step(stats, means, shift, covariance_type, reg_covar):
    """Weights (unnormalised nk'), means and covariances from one pass's statistics.

    ``means`` are the centres the statistics were taken around (``shift`` for tied).
    """
    nk = stats.nk
    nk_safe = nk + EPS10
    s1 = stats.s1
    centre = shift[None, :] if covariance_type == "tied" else means
    new_means = centre * (nk / nk_safe)[:, None] + s1 / nk_safe[:, None]
    # The scatter around the stored means, as scikit-learn's: the 10 eps moves a
    # mean only where it is representable (nk of a few rows at most).
    delta = new_means - centre
    n_features = means.shape[1]
    if covariance_type == "full":
        s2 = np.triu(stats.s2) + np.swapaxes(np.triu(stats.s2, 1), 1, 2)
        cross = s1[:, :, None] * delta[:, None, :]
        scatter = (s2 - cross - np.swapaxes(cross, 1, 2)
                   + nk[:, None, None] * delta[:, :, None] * delta[:, None, :])
        cov = scatter / nk_safe[:, None, None]
        cov[:, np.arange(n_features), np.arange(n_features)] += reg_covar
    elif covariance_type == "tied":
        # sum_n w (x-c)(x-c)^T - sum_k nk' (m_k - c)(m_k - c)^T, over sum_k nk'.
        s2 = np.triu(stats.s2) + np.triu(stats.s2, 1).T
        cov = (s2 - (delta.T * nk_safe) @ delta) / nk_safe.sum()
        cov[np.arange(n_features), np.arange(n_features)] += reg_covar
    elif covariance_type == "diag":
        squares = stats.s2 - (2.0 * s1 - nk[:, None] * delta) * delta
        cov = squares / nk_safe[:, None] + reg_covar
    else:
        squares = stats.s2 - ((2.0 * s1 - nk[:, None] * delta) * delta).sum(axis=1)
        cov = squares / nk_safe / n_features + reg_covar
    return nk_safe, new_means, cov
