"""Kernels for ``covariance_type='full'``: one (D, D) precision Cholesky per component.

Statistics per component k, centred on the current mean mu_k:
``nk[k] = sum w r``, ``s1[k] = sum w r (x - mu_k)``,
``s2[k] = sum w r (x - mu_k)(x - mu_k)^T`` (upper triangle only; the driver
mirrors it).
"""
import numpy as np
from numba import njit

from .._config import FASTMATH
from ._common import BLOCK, load_block, normalize_row, row_label_of, row_weight


@njit(cache=True, fastmath=FASTMATH)
def _centre_and_log_prob(x, means, prec_chol, log_norm, xc, y, log_prob):
    """Row-at-a-time log-probabilities (prediction): log_norm[k] - |(x - mu_k) U_k|^2 / 2."""
    n_components, n_features = means.shape
    for k in range(n_components):
        for d in range(n_features):
            xc[k, d] = x[d] - means[k, d]
            y[d] = 0.0
        # y = xc U with U upper triangular: row l of U touches columns j >= l.
        for l in range(n_features):
            a = xc[k, l]
            for j in range(l, n_features):
                y[j] += a * prec_chol[k, l, j]
        maha = 0.0
        for d in range(n_features):
            maha += y[d] * y[d]
        log_prob[k] = log_norm[k] - 0.5 * maha


@njit(cache=True, fastmath=FASTMATH)
def _centre_block(xt, mean, xc):
    """xc[d, i] = xt[d, i] - mean[d] for a transposed block of BLOCK rows."""
    for d in range(xt.shape[0]):
        m = mean[d]
        for i in range(xc.shape[1]):
            xc[d, i] = xt[d, i] - m


@njit(cache=True, fastmath=FASTMATH)
def _block_log_prob(xt, means, prec_chol, log_norm, xc, t, maha, log_prob):
    """log_prob[i, k] for the BLOCK rows of xt (transposed: features x rows).

    Rows are the innermost, fixed-length loop so every update is a full
    vector FMA; the triangle of U_k is walked column by column.
    """
    n_components, n_features = means.shape
    for k in range(n_components):
        _centre_block(xt, means[k], xc)
        maha[:] = 0.0
        for j in range(n_features):
            t[:] = 0.0
            # Four rows of U per sweep over t: one load/store of t per four FMAs
            # (the sweep is store-bound otherwise).
            n_four = (j + 1) // 4 * 4
            for l in range(0, n_four, 4):
                u0 = prec_chol[k, l, j]
                u1 = prec_chol[k, l + 1, j]
                u2 = prec_chol[k, l + 2, j]
                u3 = prec_chol[k, l + 3, j]
                x0 = xc[l]
                x1 = xc[l + 1]
                x2 = xc[l + 2]
                x3 = xc[l + 3]
                for i in range(xc.shape[1]):
                    t[i] += (u0 * x0[i] + u1 * x1[i]) + (u2 * x2[i] + u3 * x3[i])
            for l in range(n_four, j + 1):
                u = prec_chol[k, l, j]
                xl = xc[l]
                for i in range(xc.shape[1]):
                    t[i] += u * xl[i]
            for i in range(xc.shape[1]):
                maha[i] += t[i] * t[i]
        for i in range(xc.shape[1]):
            log_prob[i, k] = log_norm[k] - 0.5 * maha[i]


@njit(cache=True, fastmath=FASTMATH)
def _accumulate_component(X, i0, n_block, wk, mean, xd, nk, s1k, s2k, k):
    """Add the block's weighted, mean-centred moments of one component.

    Rows go eight at a time: a rank-8 update of each s2 row is a single
    contiguous pass, so the accumulator is loaded and stored once per eight
    rows (the update is store-bound otherwise). Rows past n_block get zero
    weight and a zero centred vector.
    """
    n_features = mean.shape[0]
    w = np.zeros(8)
    for i in range(0, n_block, 8):
        any_weight = False
        for r in range(8):
            w[r] = wk[i + r] if i + r < n_block else 0.0
            if w[r] != 0.0:
                any_weight = True
        if not any_weight:
            continue
        for r in range(8):
            nk[k] += w[r]
            if i + r < n_block:
                x = X[i0 + i + r]
                for d in range(n_features):
                    xd[r, d] = x[d] - mean[d]
            else:
                xd[r, :] = 0.0
        w0, w1, w2, w3, w4, w5, w6, w7 = w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]
        x0, x1, x2, x3 = xd[0], xd[1], xd[2], xd[3]
        x4, x5, x6, x7 = xd[4], xd[5], xd[6], xd[7]
        for l in range(n_features):
            a0 = w0 * x0[l]
            a1 = w1 * x1[l]
            a2 = w2 * x2[l]
            a3 = w3 * x3[l]
            a4 = w4 * x4[l]
            a5 = w5 * x5[l]
            a6 = w6 * x6[l]
            a7 = w7 * x7[l]
            s1k[l] += ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
            row = s2k[l]
            # Full rows, not just the upper triangle: a fixed-length loop stays
            # whole vectors and runs faster than the shorter triangular one.
            for j in range(n_features):
                row[j] += (((a0 * x0[j] + a1 * x1[j]) + (a2 * x2[j] + a3 * x3[j]))
                           + ((a4 * x4[j] + a5 * x5[j]) + (a6 * x6[j] + a7 * x7[j])))


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def accumulate_stats(X, sample_weight, row_label, component_class, means,
                     prec_chol, log_norm, shift, nk, s1, s2):
    nk[:] = 0.0
    s1[:] = 0.0
    s2[:] = 0.0
    # The pass lives in a helper: measured about 10 % faster than the same loops
    # written here (LLVM optimises the call as it did the old per-partition
    # helper), for under a second more compile time.
    return _accumulate(X, sample_weight, row_label, component_class, means, prec_chol,
                       log_norm, nk, s1, s2)


@njit(cache=True, fastmath=FASTMATH)
def _accumulate(X, sample_weight, row_label, component_class, means, prec_chol, log_norm,
                nk, s1, s2):
    n_rows = X.shape[0]
    n_components, n_features = means.shape
    xt = np.empty((n_features, BLOCK))
    xc = np.empty((n_features, BLOCK))
    t = np.empty(BLOCK)
    xd = np.empty((8, n_features))
    maha = np.empty(BLOCK)
    log_prob = np.empty((BLOCK, n_components))
    wr = np.empty((n_components, BLOCK))
    resp = np.empty(n_components)
    log_lik = 0.0
    for i0 in range(0, n_rows, BLOCK):
        n_block = min(BLOCK, n_rows - i0)
        load_block(X, i0, n_block, xt)
        _block_log_prob(xt, means, prec_chol, log_norm, xc, t, maha, log_prob)
        wr[:] = 0.0  # padding rows keep zero weight
        for i in range(n_block):
            w = row_weight(sample_weight, i0 + i)
            if w == 0.0:
                continue
            log_lik += w * normalize_row(log_prob[i], row_label_of(row_label, i0 + i),
                                         component_class, resp)
            for k in range(n_components):
                wr[k, i] = w * resp[k]
        for k in range(n_components):
            _accumulate_component(X, i0, n_block, wr[k], means[k], xd, nk, s1[k], s2[k], k)
    return log_lik


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def weighted_log_prob(X, means, prec_chol, log_norm, out):
    n_components, n_features = means.shape
    xc = np.empty((n_components, n_features))
    y = np.empty(n_features)
    for i in range(X.shape[0]):
        _centre_and_log_prob(X[i], means, prec_chol, log_norm, xc, y, out[i])
