"""The M-step compiled: statistics -> (weights, means, covariances, precision Cholesky).

The same arithmetic as ``fastem._stats.m_step`` + ``fastem._linalg.precision_cholesky``
(the NumPy reference, which also produces the error messages), in one serial
call: on small data the ~35 small NumPy calls of that path cost more than the
E-step pass itself. The driver uses this first and falls back to the NumPy
path when a factorisation fails, so errors are still raised there, naming the
component.

Each function returns ``ok`` (False if a covariance is not positive definite)
and the new parameters. Only the upper triangle of ``s2`` is read.
"""
import numpy as np
from numba import njit

EPS10 = 10 * np.finfo(np.float64).eps


@njit(cache=True)
def _cholesky_inverse_upper(cov, prec_chol):
    """prec_chol = inv(L)^T for cov = L L^T (lower L). False if cov is not positive definite."""
    n = cov.shape[0]
    lower = np.zeros((n, n))
    for j in range(n):
        acc = cov[j, j]
        for p in range(j):
            acc -= lower[j, p] * lower[j, p]
        if not acc > 0.0:
            return False
        diag = np.sqrt(acc)
        lower[j, j] = diag
        for i in range(j + 1, n):
            acc = cov[i, j]
            for p in range(j):
                acc -= lower[i, p] * lower[j, p]
            lower[i, j] = acc / diag
    # inv(L) by forward substitution, column by column; store its transpose.
    prec_chol[:, :] = 0.0
    for c in range(n):
        for i in range(c, n):
            acc = 1.0 if i == c else 0.0
            for p in range(c, i):
                acc -= lower[i, p] * prec_chol[c, p]
            prec_chol[c, i] = acc / lower[i, i]
    return True


@njit(cache=True)
def _mean_shift(nk, nk_safe, s1, centres, new_means):
    """New means (scikit-learn's sum r x / nk', written into ``new_means``) and
    their shifts from ``centres`` (see ``fastem._stats.m_step``)."""
    n_components, n_features = s1.shape
    delta = np.empty((n_components, n_features))
    for k in range(n_components):
        for d in range(n_features):
            new_means[k, d] = centres[k, d] * (nk[k] / nk_safe[k]) + s1[k, d] / nk_safe[k]
            delta[k, d] = new_means[k, d] - centres[k, d]
    return delta


@njit(cache=True)
def full(nk, s1, s2, means, shift, reg_covar):
    n_components, n_features = s1.shape
    new_means = np.empty((n_components, n_features))
    cov = np.empty((n_components, n_features, n_features))
    prec_chol = np.empty((n_components, n_features, n_features))
    nk_safe = nk + EPS10
    delta = _mean_shift(nk, nk_safe, s1, means, new_means)
    ok = True
    for k in range(n_components):
        for l in range(n_features):
            for j in range(l, n_features):
                c = (s2[k, l, j] - s1[k, l] * delta[k, j] - delta[k, l] * s1[k, j]
                     + nk[k] * delta[k, l] * delta[k, j]) / nk_safe[k]
                cov[k, l, j] = c
                cov[k, j, l] = c
            cov[k, l, l] += reg_covar
        ok = ok and _cholesky_inverse_upper(cov[k], prec_chol[k])
    return ok, nk_safe / nk_safe.sum(), new_means, cov, prec_chol


@njit(cache=True)
def tied(nk, s1, s2, means, shift, reg_covar):
    n_components, n_features = s1.shape
    nk_safe = nk + EPS10
    new_means = np.empty((n_components, n_features))
    centres = np.empty((n_components, n_features))
    for k in range(n_components):  # a loop: ``centres[:] = shift`` compiled 3 s longer
        for d in range(n_features):
            centres[k, d] = shift[d]
    delta = _mean_shift(nk, nk_safe, s1, centres, new_means)
    total = nk_safe.sum()
    cov = np.empty((n_features, n_features))
    for l in range(n_features):
        for j in range(l, n_features):
            between = 0.0
            for k in range(n_components):
                between += nk_safe[k] * delta[k, l] * delta[k, j]
            c = (s2[l, j] - between) / total
            cov[l, j] = c
            cov[j, l] = c
        cov[l, l] += reg_covar
    prec_chol = np.empty((n_features, n_features))
    ok = _cholesky_inverse_upper(cov, prec_chol)
    return ok, nk_safe / total, new_means, cov, prec_chol


@njit(cache=True)
def diag(nk, s1, s2, means, shift, reg_covar):
    n_components, n_features = s1.shape
    nk_safe = nk + EPS10
    new_means = np.empty((n_components, n_features))
    cov = np.empty((n_components, n_features))
    delta = _mean_shift(nk, nk_safe, s1, means, new_means)
    ok = True
    for k in range(n_components):
        for d in range(n_features):
            squares = s2[k, d] - (2.0 * s1[k, d] - nk[k] * delta[k, d]) * delta[k, d]
            cov[k, d] = squares / nk_safe[k] + reg_covar
            ok = ok and cov[k, d] > 0.0
    return ok, nk_safe / nk_safe.sum(), new_means, cov, 1.0 / np.sqrt(np.abs(cov))


@njit(cache=True)
def spherical(nk, s1, s2, means, shift, reg_covar):
    n_components, n_features = s1.shape
    nk_safe = nk + EPS10
    new_means = np.empty((n_components, n_features))
    cov = np.empty(n_components)
    delta = _mean_shift(nk, nk_safe, s1, means, new_means)
    ok = True
    for k in range(n_components):
        cross = 0.0
        for d in range(n_features):
            cross += (2.0 * s1[k, d] - nk[k] * delta[k, d]) * delta[k, d]
        cov[k] = (s2[k] - cross) / nk_safe[k] / n_features + reg_covar
        ok = ok and cov[k] > 0.0
    return ok, nk_safe / nk_safe.sum(), new_means, cov, 1.0 / np.sqrt(np.abs(cov))
