"""Kernels for ``covariance_type='tied'``: one (D, D) precision Cholesky U shared by all components.

Statistics, centred on the shift c (the weighted centre of the current means,
chosen by the driver):
``nk[k] = sum w r``, ``s1[k] = sum w r (x - c)`` (K, D) and
``s2 = sum w (x - c)(x - c)^T`` (D, D, upper triangle only; the driver mirrors
it; responsibilities sum to one per row).

The pass, per block of BLOCK rows, all in float64: x - c (float32 X is read
as it is and widened here); y = (x - c) U once per row (4 x 4 tiles of U in
locals); per component (x - mu_k) U = y - b_k with b_k = (mu_k - c) U, a few
operations per feature; s1 and s2 (upper 4 x 4 tiles) are block products with
rows innermost. Float32 products were tried and dropped: the tied covariance
is s2 minus the between-component scatter, which cancels much of it when the
components lie apart, and the float32 E-step's log-likelihood noise (1e-8
relative) kept a tol=1e-8 fit running twice as many iterations as
scikit-learn's (parameters 2e-5 apart), for a 1.1x gain.
"""
import numpy as np
from numba import njit

from .._config import FASTMATH
from ._common import (BLOCK, centre_of_means, load_centred_block, negligible_weight,
                      normalize_block, row_weight)
from .diag import _block_log_prob


@njit(cache=True, fastmath=FASTMATH)
def _block_product(xs, prec_chol_w, yt):
    """yt = (xs^T U)^T for a transposed block: yt[j, i] = sum_{l <= j} U[l, j] xs[l, i].

    Features padded to a multiple of 4 (U zero there); 4 x 4 tiles of U held in
    locals, rows innermost: 16 FMAs per 4 loads and 4 load/stores of yt.
    """
    n_padded = xs.shape[0]
    for j0 in range(0, n_padded, 4):
        t0, t1, t2, t3 = yt[j0], yt[j0 + 1], yt[j0 + 2], yt[j0 + 3]
        t0[:] = 0.0
        t1[:] = 0.0
        t2[:] = 0.0
        t3[:] = 0.0
        for l0 in range(0, j0 + 4, 4):  # U[l, j] = 0 below the diagonal
            x0, x1, x2, x3 = xs[l0], xs[l0 + 1], xs[l0 + 2], xs[l0 + 3]
            u0, u1 = prec_chol_w[l0], prec_chol_w[l0 + 1]
            u2, u3 = prec_chol_w[l0 + 2], prec_chol_w[l0 + 3]
            u00, u01, u02, u03 = u0[j0], u0[j0 + 1], u0[j0 + 2], u0[j0 + 3]
            u10, u11, u12, u13 = u1[j0], u1[j0 + 1], u1[j0 + 2], u1[j0 + 3]
            u20, u21, u22, u23 = u2[j0], u2[j0 + 1], u2[j0 + 2], u2[j0 + 3]
            u30, u31, u32, u33 = u3[j0], u3[j0 + 1], u3[j0 + 2], u3[j0 + 3]
            for i in range(BLOCK):
                a0, a1, a2, a3 = x0[i], x1[i], x2[i], x3[i]
                t0[i] += (u00 * a0 + u10 * a1) + (u20 * a2 + u30 * a3)
                t1[i] += (u01 * a0 + u11 * a1) + (u21 * a2 + u31 * a3)
                t2[i] += (u02 * a0 + u12 * a1) + (u22 * a2 + u32 * a3)
                t3[i] += (u03 * a0 + u13 * a1) + (u23 * a2 + u33 * a3)


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _add_block_s1(xs, wr, used, s1):
    """s1[k, d] += sum_i wr[k, i] xs[d, i]."""
    n_components, n_features = s1.shape
    zero = wr[0, 0] - wr[0, 0]
    for k in range(n_components):
        if not used[k]:
            continue
        w = wr[k]
        s1k = s1[k]
        for d in range(n_features):
            x = xs[d]
            total = zero
            for i in range(BLOCK):
                total += w[i] * x[i]
            s1k[d] += total


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _add_block_s2(xs, weight, wx, s2_padded):
    """s2_padded (upper 4 x 4 tiles) += sum_i weight[i] xs[:, i] xs[:, i]^T.

    Each tile lives in 16 local accumulators over the block's rows and is stored once.
    """
    n_padded = xs.shape[0]
    for d in range(n_padded):
        x = xs[d]
        wxd = wx[d]
        for i in range(BLOCK):
            wxd[i] = weight[i] * x[i]
    zero = wx[0, 0] - wx[0, 0]
    for l0 in range(0, n_padded, 4):
        a0, a1, a2, a3 = wx[l0], wx[l0 + 1], wx[l0 + 2], wx[l0 + 3]
        for j0 in range(l0, n_padded, 4):
            y0, y1, y2, y3 = xs[j0], xs[j0 + 1], xs[j0 + 2], xs[j0 + 3]
            c00 = c01 = c02 = c03 = zero
            c10 = c11 = c12 = c13 = zero
            c20 = c21 = c22 = c23 = zero
            c30 = c31 = c32 = c33 = zero
            for i in range(BLOCK):
                z0, z1, z2, z3 = y0[i], y1[i], y2[i], y3[i]
                b = a0[i]
                c00 += b * z0; c01 += b * z1; c02 += b * z2; c03 += b * z3  # noqa: E702
                b = a1[i]
                c10 += b * z0; c11 += b * z1; c12 += b * z2; c13 += b * z3  # noqa: E702
                b = a2[i]
                c20 += b * z0; c21 += b * z1; c22 += b * z2; c23 += b * z3  # noqa: E702
                b = a3[i]
                c30 += b * z0; c31 += b * z1; c32 += b * z2; c33 += b * z3  # noqa: E702
            r = s2_padded[l0]
            r[j0] += c00; r[j0 + 1] += c01; r[j0 + 2] += c02; r[j0 + 3] += c03  # noqa: E702
            r = s2_padded[l0 + 1]
            r[j0] += c10; r[j0 + 1] += c11; r[j0 + 2] += c12; r[j0 + 3] += c13  # noqa: E702
            r = s2_padded[l0 + 2]
            r[j0] += c20; r[j0 + 1] += c21; r[j0 + 2] += c22; r[j0 + 3] += c23  # noqa: E702
            r = s2_padded[l0 + 3]
            r[j0] += c30; r[j0 + 1] += c31; r[j0 + 2] += c32; r[j0 + 3] += c33  # noqa: E702


@njit(cache=True, fastmath=FASTMATH)
def _prepare(means, prec_chol, shift):
    """U padded to a multiple of 4 features (zeros), b_k = (mu_k - c) U, a zero rest
    (see diag._block_log_prob) and unit scales."""
    n_components, n_features = means.shape
    n_padded = (n_features + 3) // 4 * 4
    prec_chol_w = np.zeros((n_padded, n_padded))
    shifted_means_u = np.zeros((n_components, n_padded))
    rest = np.zeros((n_components, n_padded))
    unit = np.zeros((n_components, n_padded))
    for l in range(n_features):
        for j in range(l, n_features):
            prec_chol_w[l, j] = prec_chol[l, j]
    for k in range(n_components):
        for j in range(n_features):
            b = 0.0
            for l in range(j + 1):
                b += (means[k, l] - shift[l]) * prec_chol[l, j]
            shifted_means_u[k, j] = b
            unit[k, j] = 1.0
    return prec_chol_w, shifted_means_u, rest, unit


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def accumulate_stats(X, sample_weight, row_label, component_class, means,
                     prec_chol, log_norm, shift, nk, s1, s2):
    n_rows = X.shape[0]
    n_components, n_features = means.shape
    prec_chol_w, shifted_means_u, rest, unit = _prepare(means, prec_chol, shift)
    n_padded = prec_chol_w.shape[0]
    xs = np.empty((n_padded, BLOCK))
    yt = np.empty((n_padded, BLOCK))
    wx = np.empty((n_padded, BLOCK))
    maha = np.empty(BLOCK)
    log_prob = np.empty((n_components, BLOCK))
    top, total, scratch = np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK)
    weight = np.empty(BLOCK)
    wr = np.empty((n_components, BLOCK))
    used = np.empty(n_components, np.bool_)
    s2_padded = np.zeros((n_padded, n_padded))
    negligible = negligible_weight(xs)
    nk[:] = 0.0
    s1[:] = 0.0
    log_lik = 0.0
    for i0 in range(0, n_rows, BLOCK):
        n_block = min(BLOCK, n_rows - i0)
        load_centred_block(X, i0, n_block, shift, xs)
        _block_product(xs, prec_chol_w, yt)
        _block_log_prob(yt, shifted_means_u, unit, rest, log_norm, maha, log_prob)
        log_lik += normalize_block(log_prob, sample_weight, row_label, i0, n_block,
                                   component_class, negligible, top, total, scratch, nk, wr,
                                   used)
        _add_block_s1(xs, wr, used, s1)
        for i in range(BLOCK):  # s2 takes each row's whole weight (rows past the block: none)
            weight[i] = row_weight(sample_weight, i0 + i) if i < n_block else 0.0
        _add_block_s2(xs, weight, wx, s2_padded)
    for l in range(n_features):
        for j in range(n_features):
            s2[l, j] = s2_padded[l, j] if j >= l else 0.0
    return log_lik


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def weighted_log_prob(X, means, prec_chol, log_norm, out):
    n_rows = X.shape[0]
    n_components = means.shape[0]
    shift = centre_of_means(means)
    prec_chol_w, shifted_means_u, rest, unit = _prepare(means, prec_chol, shift)
    xs = np.empty((prec_chol_w.shape[0], BLOCK))
    yt = np.empty_like(xs)
    maha = np.empty(BLOCK)
    log_prob = np.empty((n_components, BLOCK))
    for i0 in range(0, n_rows, BLOCK):
        n_block = min(BLOCK, n_rows - i0)
        load_centred_block(X, i0, n_block, shift, xs)
        _block_product(xs, prec_chol_w, yt)
        _block_log_prob(yt, shifted_means_u, unit, rest, log_norm, maha, log_prob)
        for i in range(n_block):
            for k in range(n_components):
                out[i0 + i, k] = log_prob[k, i]
