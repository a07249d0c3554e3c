"""Kernels for ``covariance_type='diag'``: precision Cholesky = 1/sigma per feature, (K, D).

Statistics per component k, centred on the current mean mu_k:
``nk[k] = sum w r``, ``s1[k] = sum w r (x - mu_k)``, ``s2[k] = sum w r (x - mu_k)^2``
(per feature, shape (K, D)).

The pass (shared with 'spherical', whose precisions are the same per feature):
each block of ROWS rows is centred once, in float64, on the centre c of the
means and stored in X's dtype (float32 X then runs every product in float32,
twice the SIMD lanes). Per component, with b_k = mu_k - c in X's dtype, the
E-step is ((y - b_k) p_k)^2 = (y p_k - b_k p_k)^2 (two FMAs per feature and
row) and the moments are sums over the block's rows of w r (y - b_k) and
w r (y - b_k)^2, added into float64 totals. The error of a centred value is
a rounding of X's dtype times |x - c| + |mu_k - c| (the spread of the means,
not the distance from the origin). Log-sum-exp and totals are float64.
"""
import numpy as np
from numba import njit

from .._config import FASTMATH
from ._common import (ROWS, centre_of_means, load_centred_block, negligible_weight,
                      normalize_block)


@njit(cache=True, fastmath=FASTMATH)
def _block_log_prob(yt, scale, offset, log_norm, maha, log_prob):
    """log_prob[k, i] = log_norm[k] - sum_d (yt[d, i] scale[k, d] - offset[k, d])^2 / 2.

    Features padded to a multiple of 4 (scale and offset zero there); four features
    per sweep over maha: one load/store of maha per eight FMAs.
    """
    n_padded = yt.shape[0]
    for k in range(scale.shape[0]):
        p, o = scale[k], offset[k]
        maha[:] = 0.0
        for d in range(0, n_padded, 4):
            p0, p1, p2, p3 = p[d], p[d + 1], p[d + 2], p[d + 3]
            o0, o1, o2, o3 = o[d], o[d + 1], o[d + 2], o[d + 3]
            y0, y1, y2, y3 = yt[d], yt[d + 1], yt[d + 2], yt[d + 3]
            for i in range(ROWS):
                t0 = y0[i] * p0 - o0
                t1 = y1[i] * p1 - o1
                t2 = y2[i] * p2 - o2
                t3 = y3[i] * p3 - o3
                maha[i] += (t0 * t0 + t1 * t1) + (t2 * t2 + t3 * t3)
        lp = log_prob[k]
        for i in range(ROWS):
            lp[i] = log_norm[k] - 0.5 * maha[i]


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _add_block_moments(yt, shifted_mean, wr, s1k, s2k):
    """s1k[d] += sum_i wr[i] (yt[d, i] - b[d]), s2k[d] += sum_i wr[i] (yt[d, i] - b[d])^2
    over the block's rows (sums in the working dtype, added into float64)."""
    zero = wr[0] - wr[0]
    for d in range(s1k.shape[0]):
        y = yt[d]
        b = shifted_mean[d]
        t1 = zero
        t2 = zero
        for i in range(ROWS):
            xc = y[i] - b
            a = wr[i] * xc
            t1 += a
            t2 += a * xc
        s1k[d] += t1
        s2k[d] += t2


@njit(cache=True, fastmath=FASTMATH)
def _prepare_scaled(means, scale64, work_of):
    """The pass's constants in the working dtype (work_of's): the centre c (float64),
    b_k = mu_k - c, p_k and b_k p_k, features padded to a multiple of 4 with zeros."""
    n_components, n_features = means.shape
    n_padded = (n_features + 3) // 4 * 4
    work = work_of.dtype
    centre = centre_of_means(means)
    shifted_means = np.zeros((n_components, n_padded), work)
    scale = np.zeros((n_components, n_padded), work)
    offset = np.zeros((n_components, n_padded), work)
    for k in range(n_components):
        for d in range(n_features):
            b = means[k, d] - centre[d]
            shifted_means[k, d] = b
            scale[k, d] = scale64[k, d]
            offset[k, d] = b * scale64[k, d]
    return centre, shifted_means, scale, offset


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _accumulate_per_feature(X, sample_weight, row_label, component_class, means, scale64,
                            log_norm, nk, s1, s2):
    """The fused pass with per-feature precisions scale64 (K, D); s2 per feature (K, D).
    Outputs overwritten; returns the weighted log-likelihood."""
    n_rows = X.shape[0]
    n_components = means.shape[0]
    centre, shifted_means, scale, offset = _prepare_scaled(means, scale64, X)
    work = X.dtype
    yt = np.empty((scale.shape[1], ROWS), work)
    maha = np.empty(ROWS, work)
    log_prob = np.empty((n_components, ROWS))
    top, total, scratch = np.empty(ROWS), np.empty(ROWS), np.empty(ROWS)
    wr = np.empty((n_components, ROWS), work)
    used = np.empty(n_components, np.bool_)
    negligible = negligible_weight(X)
    nk[:] = 0.0
    s1[:] = 0.0
    s2[:] = 0.0
    log_lik = 0.0
    for i0 in range(0, n_rows, ROWS):
        n_block = min(ROWS, n_rows - i0)
        load_centred_block(X, i0, n_block, centre, yt)
        _block_log_prob(yt, scale, offset, log_norm, maha, log_prob)
        log_lik += normalize_block(log_prob, sample_weight, row_label, i0, n_block,
                                   component_class, negligible, top, total, scratch, nk, wr,
                                   used)
        for k in range(n_components):
            if used[k]:
                _add_block_moments(yt, shifted_means[k], wr[k], s1[k], s2[k])
    return log_lik


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def accumulate_stats(X, sample_weight, row_label, component_class, means,
                     prec_chol, log_norm, shift, nk, s1, s2):
    return _accumulate_per_feature(X, sample_weight, row_label, component_class, means,
                                   prec_chol, log_norm, nk, s1, s2)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _log_prob_per_feature(X, means, scale64, log_norm, out):
    """out[i, k] for every row of X: the pass's blocked E-step (prediction)."""
    n_rows = X.shape[0]
    centre, _, scale, offset = _prepare_scaled(means, scale64, X)
    yt = np.empty((scale.shape[1], ROWS), X.dtype)
    maha = np.empty(ROWS, X.dtype)
    log_prob = np.empty((means.shape[0], ROWS))
    for i0 in range(0, n_rows, ROWS):
        n_block = min(ROWS, n_rows - i0)
        load_centred_block(X, i0, n_block, centre, yt)
        _block_log_prob(yt, scale, offset, log_norm, maha, log_prob)
        for i in range(n_block):
            for k in range(means.shape[0]):
                out[i0 + i, k] = log_prob[k, i]


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def weighted_log_prob(X, means, prec_chol, log_norm, out):
    _log_prob_per_feature(X, means, prec_chol, log_norm, out)
