"""Kernels for ``covariance_type='tied'``: one (D, D) precision Cholesky U shared by all components.

The E-step computes y = (x - c) U once per row and subtracts b_k = (mu_k - c) U
per component. Statistics, centred on the shift c (the weighted centre of the
current means, chosen by the driver):
``nk[k] = sum w r``, ``s1[k] = sum w r (x - c)`` (K, D) and
``s2 = sum w (x - c)(x - c)^T`` (D, D; responsibilities sum to one per row).
"""
import numpy as np
from numba import njit

from .._config import FASTMATH
from ._common import (BLOCK, add_scaled_sq_dist, load_block, normalize_row, row_label_of,
                      row_weight)


@njit(cache=True, fastmath=FASTMATH)
def _block_log_prob(xt, shift, prec_chol, shifted_means_u, log_norm, yt, maha, log_prob):
    """log_prob[i, k] for a transposed block; yt[j] = ((x - c) U)[j] for its rows."""
    n_features, n_cols = xt.shape
    n_components = log_norm.shape[0]
    for d in range(n_features):
        c = shift[d]
        for i in range(n_cols):
            xt[d, i] -= c
    for j in range(n_features):
        yj = yt[j]
        yj[:] = 0.0
        for l in range(j + 1):
            u = prec_chol[l, j]
            for i in range(n_cols):
                yj[i] += u * xt[l, i]
    unit = np.ones(n_features)
    for k in range(n_components):
        maha[:] = 0.0
        add_scaled_sq_dist(yt, shifted_means_u[k], unit, maha)
        for i in range(n_cols):
            log_prob[i, k] = log_norm[k] - 0.5 * maha[i]


@njit(cache=True, fastmath=FASTMATH)
def _shifted_means_u(means, prec_chol, shift):
    n_components, n_features = means.shape
    out = np.zeros((n_components, n_features))
    for k in range(n_components):
        for l in range(n_features):
            a = means[k, l] - shift[l]
            for j in range(l, n_features):
                out[k, j] += a * prec_chol[l, j]
    return out


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def accumulate_stats(X, sample_weight, row_label, component_class, means,
                     prec_chol, log_norm, shift, nk, s1, s2):
    n_rows = X.shape[0]
    # b_k = (mu_k - c) U, so that (x - mu_k) U = (x - c) U - b_k.
    shifted_means_u = _shifted_means_u(means, prec_chol, shift)
    n_components, n_features = shifted_means_u.shape
    nk[:] = 0.0
    s1[:] = 0.0
    s2[:] = 0.0
    xt = np.empty((n_features, BLOCK))
    yt = np.empty((n_features, BLOCK))
    maha = np.empty(BLOCK)
    log_prob = np.empty((BLOCK, n_components))
    resp = np.empty(n_components)
    xs = np.empty(n_features)
    log_lik = 0.0
    for i0 in range(0, n_rows, BLOCK):
        n_block = min(BLOCK, n_rows - i0)
        load_block(X, i0, n_block, xt)
        _block_log_prob(xt, shift, prec_chol, shifted_means_u, log_norm, yt, maha, log_prob)
        for i in range(n_block):
            w = row_weight(sample_weight, i0 + i)
            if w == 0.0:
                continue
            log_lik += w * normalize_row(log_prob[i], row_label_of(row_label, i0 + i),
                                         component_class, resp)
            for d in range(n_features):
                xs[d] = xt[d, i]  # already shifted by c
            for k in range(n_components):
                wr = w * resp[k]
                if wr == 0.0:
                    continue
                nk[k] += wr
                s1k = s1[k]
                for d in range(n_features):
                    s1k[d] += wr * xs[d]
            for l in range(n_features):
                a = w * xs[l]
                row = s2[l]
                for j in range(n_features):
                    row[j] += a * xs[j]
    return log_lik


@njit(cache=True, fastmath=FASTMATH)
def _row_log_prob(x, means, prec_chol, log_norm, y, out_row):
    """out_row[k] = log_norm[k] - |(x - mu_k) U|^2 / 2 for one row (y: scratch, D)."""
    n_components, n_features = means.shape
    for k in range(n_components):
        y[:] = 0.0
        for l in range(n_features):
            a = x[l] - means[k, l]
            for j in range(l, n_features):
                y[j] += a * prec_chol[l, j]
        maha = 0.0
        for j in range(n_features):
            maha += y[j] * y[j]
        out_row[k] = log_norm[k] - 0.5 * maha


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def weighted_log_prob(X, means, prec_chol, log_norm, out):
    y = np.empty(means.shape[1])
    for i in range(X.shape[0]):
        _row_log_prob(X[i], means, prec_chol, log_norm, y, out[i])
