"""Kernels for ``covariance_type='diag'``: precision Cholesky = 1/sigma per feature, (K, D).

Statistics per component k, centred on the current mean mu_k:
``nk[k] = sum w r``, ``s1[k] = sum w r (x - mu_k)``, ``s2[k] = sum w r (x - mu_k)^2``
(per feature, shape (K, D)).
"""
import numpy as np
from numba import njit

from .._config import FASTMATH
from ._common import (BLOCK, add_scaled_sq_dist, load_block, normalize_row, row_label_of,
                      row_weight)


@njit(cache=True, fastmath=FASTMATH)
def _block_log_prob(xt, means, prec_chol, log_norm, maha, log_prob):
    """log_prob[i, k] for a transposed block (features x rows); rows innermost."""
    n_components, n_features = means.shape
    for k in range(n_components):
        maha[:] = 0.0
        add_scaled_sq_dist(xt, means[k], prec_chol[k], maha)
        for i in range(xt.shape[1]):
            log_prob[i, k] = log_norm[k] - 0.5 * maha[i]


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def accumulate_stats(X, sample_weight, row_label, component_class, means,
                     prec_chol, log_norm, shift, nk, s1, s2):
    n_rows = X.shape[0]
    n_components, n_features = means.shape
    nk[:] = 0.0
    s1[:] = 0.0
    s2[:] = 0.0
    xt = np.empty((n_features, BLOCK))
    maha = np.empty(BLOCK)
    log_prob = np.empty((BLOCK, n_components))
    resp = np.empty(n_components)
    log_lik = 0.0
    for i0 in range(0, n_rows, BLOCK):
        n_block = min(BLOCK, n_rows - i0)
        load_block(X, i0, n_block, xt)
        _block_log_prob(xt, means, prec_chol, log_norm, maha, log_prob)
        for i in range(n_block):
            w = row_weight(sample_weight, i0 + i)
            if w == 0.0:
                continue
            log_lik += w * normalize_row(log_prob[i], row_label_of(row_label, i0 + i),
                                         component_class, resp)
            x = X[i0 + i]
            for k in range(n_components):
                wr = w * resp[k]
                if wr == 0.0:
                    continue
                nk[k] += wr
                mean = means[k]
                s1k = s1[k]
                s2k = s2[k]
                for d in range(n_features):
                    xc = x[d] - mean[d]
                    a = wr * xc
                    s1k[d] += a
                    s2k[d] += a * xc
    return log_lik


@njit(cache=True, fastmath=FASTMATH)
def _row_log_prob(x, means, prec_chol, log_norm, out_row):
    """out_row[k] = log_norm[k] - |(x - mu_k) * prec_chol_k|^2 / 2 for one row."""
    for k in range(means.shape[0]):
        maha = 0.0
        for d in range(means.shape[1]):
            t = (x[d] - means[k, d]) * prec_chol[k, d]
            maha += t * t
        out_row[k] = log_norm[k] - 0.5 * maha


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def weighted_log_prob(X, means, prec_chol, log_norm, out):
    for i in range(X.shape[0]):
        _row_log_prob(X[i], means, prec_chol, log_norm, out[i])
