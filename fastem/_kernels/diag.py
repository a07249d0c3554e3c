"""Kernels for ``covariance_type='diag'``: precision Cholesky = 1/sigma per feature, (K, D).

Statistics per component k, centred on the current mean mu_k:
``nk[k] = sum w r``, ``s1[k] = sum w r (x - mu_k)``, ``s2[k] = sum w r (x - mu_k)^2``
(per feature, shape (K, D)).

The pass (shared with 'spherical', whose precisions are the same per feature)
reads blocks of BLOCK rows in X's dtype, transposed: float32 X runs every
product in float32 (twice the SIMD lanes) and is never converted. The mean is
split, mu_k = m_k + l_k with m_k = mu_k rounded to X's dtype (float64 X: l_k = 0),
so that x - m_k is exact for data far from the origin (Sterbenz) and
x - mu_k is as accurate as a float64 subtraction rounded to float32:
E-step ((x - m_k) p_k - l_k p_k)^2 (no reassociation there: it would merge
m_k and l_k); moments sum w r (x - m_k) and w r (x - m_k)^2 over a block in X's
dtype, moved onto mu_k in float64 (l_k <= 3e-8 |mu_k|, so the shift cancels
little). Log-sum-exp and totals are float64.
"""
import numpy as np
from numba import njit

from .._config import FASTMATH, ORDERED_FASTMATH
from ._common import BLOCK, load_block, negligible_weight, normalize_block, split_means


@njit(cache=True, fastmath=ORDERED_FASTMATH)
def _block_log_prob(xt, mean_w, scale, offset, log_norm, maha, log_prob):
    """log_prob[k, i] = log_norm[k] - sum_d ((xt[d, i] - m[k, d]) p[k, d] - o[k, d])^2 / 2.

    Features padded to a multiple of 4 (zeros everywhere); four features per sweep
    over maha: one load/store of maha per twelve operations.
    """
    n_padded = xt.shape[0]
    for k in range(scale.shape[0]):
        m, p, o = mean_w[k], scale[k], offset[k]
        maha[:] = 0.0
        for d in range(0, n_padded, 4):
            m0, m1, m2, m3 = m[d], m[d + 1], m[d + 2], m[d + 3]
            p0, p1, p2, p3 = p[d], p[d + 1], p[d + 2], p[d + 3]
            o0, o1, o2, o3 = o[d], o[d + 1], o[d + 2], o[d + 3]
            x0, x1, x2, x3 = xt[d], xt[d + 1], xt[d + 2], xt[d + 3]
            for i in range(BLOCK):
                t0 = (x0[i] - m0) * p0 - o0
                t1 = (x1[i] - m1) * p1 - o1
                t2 = (x2[i] - m2) * p2 - o2
                t3 = (x3[i] - m3) * p3 - o3
                maha[i] += (t0 * t0 + t1 * t1) + (t2 * t2 + t3 * t3)
        lp = log_prob[k]
        for i in range(BLOCK):
            lp[i] = log_norm[k] - 0.5 * maha[i]


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _add_block_moments(xt, mean_w, mean_lo, wr, s1k, s2k):
    """Moments of the block's rows with weights wr about mu = m + l, added to s1k, s2k:
    sums of w (x - m) and w (x - m)^2 in the working dtype, moved onto mu in float64."""
    zero = wr[0] - wr[0]
    total_w = zero
    for i in range(BLOCK):
        total_w += wr[i]
    for d in range(s1k.shape[0]):
        x = xt[d]
        m = mean_w[d]
        t1 = zero
        t2 = zero
        for i in range(BLOCK):
            xc = x[i] - m
            a = wr[i] * xc
            t1 += a
            t2 += a * xc
        lo = mean_lo[d]
        s1k[d] += t1 - lo * total_w
        s2k[d] += t2 - lo * (2.0 * t1 - lo * total_w)


@njit(cache=True, fastmath=FASTMATH)
def _prepare_scaled(means, scale64, work_of):
    """The pass's constants: mu_k = m_k + l_k split (m_k in the working dtype, work_of's;
    l_k float64), p_k and l_k p_k in the working dtype, features padded to a multiple
    of 4 with zeros."""
    n_components, n_features = means.shape
    n_padded = (n_features + 3) // 4 * 4
    mean_w, mean_lo = split_means(means, n_padded, work_of)
    scale = np.zeros((n_components, n_padded), work_of.dtype)
    offset = np.zeros((n_components, n_padded), work_of.dtype)
    for k in range(n_components):
        for d in range(n_features):
            scale[k, d] = scale64[k, d]
            offset[k, d] = mean_lo[k, d] * scale64[k, d]
    return mean_w, mean_lo, scale, offset


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _accumulate_per_feature(X, sample_weight, row_label, component_class, means, scale64,
                            log_norm, nk, s1, s2):
    """The fused pass with per-feature precisions scale64 (K, D); s2 per feature (K, D).
    Outputs overwritten; returns the weighted log-likelihood."""
    n_rows = X.shape[0]
    n_components = means.shape[0]
    mean_w, mean_lo, scale, offset = _prepare_scaled(means, scale64, X)
    work = X.dtype
    xt = np.zeros((scale.shape[1], BLOCK), work)  # padding features stay zero
    maha = np.empty(BLOCK, work)
    log_prob = np.empty((n_components, BLOCK))
    top, total, scratch = np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK)
    wr = np.empty((n_components, BLOCK), work)
    used = np.empty(n_components, np.bool_)
    negligible = negligible_weight(X)
    nk[:] = 0.0
    s1[:] = 0.0
    s2[:] = 0.0
    log_lik = 0.0
    for i0 in range(0, n_rows, BLOCK):
        n_block = min(BLOCK, n_rows - i0)
        load_block(X, i0, n_block, xt)
        _block_log_prob(xt, mean_w, scale, offset, log_norm, maha, log_prob)
        log_lik += normalize_block(log_prob, sample_weight, row_label, i0, n_block,
                                   component_class, negligible, top, total, scratch, nk, wr,
                                   used)
        for k in range(n_components):
            if used[k]:
                _add_block_moments(xt, mean_w[k], mean_lo[k], wr[k], s1[k], s2[k])
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
    mean_w, _, scale, offset = _prepare_scaled(means, scale64, X)
    xt = np.zeros((scale.shape[1], BLOCK), X.dtype)
    maha = np.empty(BLOCK, X.dtype)
    log_prob = np.empty((means.shape[0], BLOCK))
    for i0 in range(0, n_rows, BLOCK):
        n_block = min(BLOCK, n_rows - i0)
        load_block(X, i0, n_block, xt)
        _block_log_prob(xt, mean_w, scale, offset, log_norm, maha, log_prob)
        for i in range(n_block):
            for k in range(means.shape[0]):
                out[i0 + i, k] = log_prob[k, i]


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def weighted_log_prob(X, means, prec_chol, log_norm, out):
    _log_prob_per_feature(X, means, prec_chol, log_norm, out)
