"""Kernels for ``covariance_type='full'``: one (D, D) precision Cholesky per component.

Statistics per component k, centred on the current mean mu_k:
``nk[k] = sum w r``, ``s1[k] = sum w r (x - mu_k)``,
``s2[k] = sum w r (x - mu_k)(x - mu_k)^T`` (upper triangle only; the driver
mirrors it).

The pass, per block of BLOCK rows read in X's dtype: centre the rows on every
mean, split as mu_k = m_k + l_k (m_k in X's dtype, see _common.split_means:
as accurate as a float64 subtraction rounded to X's dtype; float32 X then runs
all its products in float32, twice the SIMD lanes, and is never converted);
the E-step on those blocks (4 x 4 tiles of U); float64 responsibilities
(log-sum-exp over the block's rows, _common.normalize_block); then the moments of each component's rows with weight,
from the same centred blocks, in 4 x 8 register tiles of the upper triangle,
over the whole block when most rows carry weight and otherwise through a
queue of such rows (rows a component does not own cost nothing). Tile sums
(at most QUEUE rows) are added into float64 totals.
"""
import numpy as np
from numba import njit

from .._config import FASTMATH
from ._common import (BLOCK, centre_block, load_block, negligible_weight, normalize_block,
                      split_means)


@njit(cache=True, fastmath=FASTMATH)
def _block_maha(xc, prec_chol, t, maha):
    """maha[i] = |xc[:, i] U|^2 for one component's centred, transposed block.

    xc (features x BLOCK rows) and U = prec_chol (upper triangular) are padded
    with zeros to a multiple of 4 features. Rows are the innermost,
    fixed-length loop (full vector FMAs); 4 x 4 tiles of U are held in locals
    so that each sweep does 16 FMAs per 4 loads and 4 load/stores of t.
    """
    n_padded = xc.shape[0]
    maha[:] = 0.0
    for j0 in range(0, n_padded, 4):
        t[:] = 0.0
        t0, t1, t2, t3 = t[0], t[1], t[2], t[3]
        for l0 in range(0, j0 + 4, 4):  # U[l, j] = 0 below the diagonal
            x0, x1, x2, x3 = xc[l0], xc[l0 + 1], xc[l0 + 2], xc[l0 + 3]
            u0, u1, u2, u3 = prec_chol[l0], prec_chol[l0 + 1], prec_chol[l0 + 2], prec_chol[l0 + 3]
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
        for i in range(BLOCK):
            maha[i] += (t0[i] * t0[i] + t1[i] * t1[i]) + (t2[i] * t2[i] + t3[i] * t3[i])


# Rows of one component queued before their moments are added: the products
# run over whole queues of rows that carry weight (rows a component does not
# own cost nothing), and the queue's float32 sums stay short. The moment loops
# run over exactly QUEUE rows (unused ones have zero weight): a compile-time trip
# count, vector loops without remainders.
QUEUE = BLOCK
# Rows per float32 sum before it is added into the float64 totals: float32 sums
# over all 128 rows of a queue were measured 2 float32 ulps off a float64 fit's
# covariances at 1e4 (32 rows: within 1). float64 sums run over the whole queue.
SUM_ROWS_FLOAT32 = 32


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _add_moments(qx, qw, wx, s1k, s2k):
    """Add the moments of QUEUE queued rows to the float64 totals of one component.

    qx: centred rows, transposed (features padded to a multiple of 8, padding
    zero), working dtype; qw: their weights (zero for unused rows, whose qx
    columns are finite); wx: scratch of qx's shape whose padding rows are zero.
    s1k += sum w x; s2k (padded, float64) += the upper 4 x 8 tiles of sum w x x^T.
    Each tile lives in 32 local accumulators over a run of rows (innermost: one
    vector FMA per row group and accumulator) and is then added to s2k.
    """
    n_features = s1k.shape[0]
    n_padded = qx.shape[0]
    zero = qw[0] - qw[0]  # zero of the working dtype
    sum_rows = SUM_ROWS_FLOAT32 if qx.itemsize == 4 else QUEUE  # a constant per dtype
    for l in range(n_features):
        xl = qx[l]
        wxl = wx[l]
        for r0 in range(0, QUEUE, sum_rows):
            total = zero
            for i in range(r0, r0 + sum_rows):
                v = qw[i] * xl[i]
                wxl[i] = v
                total += v
            s1k[l] += total
    for l0 in range(0, n_padded, 4):
        a0, a1, a2, a3 = wx[l0], wx[l0 + 1], wx[l0 + 2], wx[l0 + 3]
        for j0 in range(l0 // 8 * 8, n_padded, 8):
            y0, y1, y2, y3 = qx[j0], qx[j0 + 1], qx[j0 + 2], qx[j0 + 3]
            y4, y5, y6, y7 = qx[j0 + 4], qx[j0 + 5], qx[j0 + 6], qx[j0 + 7]
            for r0 in range(0, QUEUE, sum_rows):
                c00 = c01 = c02 = c03 = c04 = c05 = c06 = c07 = zero
                c10 = c11 = c12 = c13 = c14 = c15 = c16 = c17 = zero
                c20 = c21 = c22 = c23 = c24 = c25 = c26 = c27 = zero
                c30 = c31 = c32 = c33 = c34 = c35 = c36 = c37 = zero
                for i in range(r0, r0 + sum_rows):
                    z0, z1, z2, z3 = y0[i], y1[i], y2[i], y3[i]
                    z4, z5, z6, z7 = y4[i], y5[i], y6[i], y7[i]
                    b = a0[i]
                    c00 += b * z0; c01 += b * z1; c02 += b * z2; c03 += b * z3  # noqa: E702
                    c04 += b * z4; c05 += b * z5; c06 += b * z6; c07 += b * z7  # noqa: E702
                    b = a1[i]
                    c10 += b * z0; c11 += b * z1; c12 += b * z2; c13 += b * z3  # noqa: E702
                    c14 += b * z4; c15 += b * z5; c16 += b * z6; c17 += b * z7  # noqa: E702
                    b = a2[i]
                    c20 += b * z0; c21 += b * z1; c22 += b * z2; c23 += b * z3  # noqa: E702
                    c24 += b * z4; c25 += b * z5; c26 += b * z6; c27 += b * z7  # noqa: E702
                    b = a3[i]
                    c30 += b * z0; c31 += b * z1; c32 += b * z2; c33 += b * z3  # noqa: E702
                    c34 += b * z4; c35 += b * z5; c36 += b * z6; c37 += b * z7  # noqa: E702
                _add_tile_row(s2k[l0], j0, c00, c01, c02, c03, c04, c05, c06, c07)
                _add_tile_row(s2k[l0 + 1], j0, c10, c11, c12, c13, c14, c15, c16, c17)
                _add_tile_row(s2k[l0 + 2], j0, c20, c21, c22, c23, c24, c25, c26, c27)
                _add_tile_row(s2k[l0 + 3], j0, c30, c31, c32, c33, c34, c35, c36, c37)


@njit(cache=True, fastmath=FASTMATH)
def _add_tile_row(row, j0, c0, c1, c2, c3, c4, c5, c6, c7):
    row[j0] += c0
    row[j0 + 1] += c1
    row[j0 + 2] += c2
    row[j0 + 3] += c3
    row[j0 + 4] += c4
    row[j0 + 5] += c5
    row[j0 + 6] += c6
    row[j0 + 7] += c7


@njit(cache=True, fastmath=FASTMATH)
def _padded_prec_chol(prec_chol, work_of):
    """U in the working dtype (work_of's), padded with zero features to a multiple of 8:
    tiles need no remainders. Only the upper triangle is copied: the E-step tiles read
    zeros below it."""
    n_components, n_features = prec_chol.shape[0], prec_chol.shape[1]
    n_padded = (n_features + 7) // 8 * 8
    prec_chol_w = np.zeros((n_components, n_padded, n_padded), work_of.dtype)
    for k in range(n_components):
        for l in range(n_features):
            for j in range(l, n_features):
                prec_chol_w[k, l, j] = prec_chol[k, l, j]
    return prec_chol_w


@njit(cache=True, fastmath=FASTMATH)
def _block_log_prob(xt, mean_w, mean_lo, prec_chol_w, log_norm, xc, t, maha, log_prob):
    """The block's E-step: xc[k] = the rows centred on mu_k = m_k + l_k (split means,
    working dtype), log_prob[k, i] = log_norm[k] - |xc[k][:, i] U_k|^2 / 2."""
    for k in range(mean_w.shape[0]):
        centre_block(xt, mean_w[k], mean_lo[k], xc[k])
        _block_maha(xc[k], prec_chol_w[k], t, maha)
        lp = log_prob[k]
        for i in range(BLOCK):
            lp[i] = log_norm[k] - 0.5 * maha[i]


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


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _queue_rows(xc, wr, n_block, active, queue_x, queue_w, queue_n, k, wx, s1k, s2k,
                finish):
    """Add the moments of the block's rows with weight for component k: a block
    mostly of such rows directly, other rows through the queue (the queue's
    moments added first when they would not fit); finish: add what the queue
    holds. Copies go feature by feature. One call of the (inlined, large) tile
    code: each call site would compile it again."""
    n_active = 0
    for i in range(n_block):
        if wr[i] != 0.0:
            active[n_active] = i
            n_active += 1
    q = queue_n[k]
    direct = 2 * n_active > BLOCK
    if direct or (q > 0 and (finish or q + n_active > QUEUE)):
        moments_x, moments_w = xc, wr  # rows past n_block have zero weight
        if not direct:
            queue_w[q:] = 0.0
            moments_x, moments_w = queue_x, queue_w
            q = 0
        _add_moments(moments_x, moments_w, wx, s1k, s2k)
        if direct:
            return
    for d in range(xc.shape[0]):
        source = xc[d]
        target = queue_x[d]
        for c in range(n_active):
            target[q + c] = source[active[c]]
    for c in range(n_active):
        queue_w[q + c] = wr[active[c]]
    queue_n[k] = q + n_active


@njit(cache=True, fastmath=FASTMATH, inline="always")
def _accumulate(X, sample_weight, row_label, component_class, means, prec_chol, log_norm,
                nk, s1, s2):
    """The fused pass. Products run in X's dtype (float32 X: twice the SIMD lanes) on
    rows centred on split means; queue sums, log-sum-exp and totals are float64."""
    n_rows = X.shape[0]
    n_components, n_features = means.shape
    prec_chol_w = _padded_prec_chol(prec_chol, X)
    n_padded = prec_chol_w.shape[1]
    work = X.dtype
    mean_w, mean_lo = split_means(means, n_features, X)
    mean_lo_w = mean_lo.astype(work)
    xt = np.empty((n_features, BLOCK), work)
    xc = np.zeros((n_components, n_padded, BLOCK), work)
    t = np.empty((4, BLOCK), work)
    maha = np.empty(BLOCK, work)
    log_prob = np.empty((n_components, BLOCK))
    top, total, scratch = np.empty(BLOCK), np.empty(BLOCK), np.empty(BLOCK)
    used = np.empty(n_components, np.bool_)
    queue_x = np.zeros((n_components, n_padded, QUEUE), work)
    queue_w = np.empty((n_components, QUEUE), work)
    queue_n = np.zeros(n_components, np.int64)
    wr = np.empty((n_components, BLOCK), work)
    active = np.empty(BLOCK, np.int64)
    wx = np.zeros((n_padded, QUEUE), work)
    s2_padded = np.zeros((n_components, n_padded, n_padded))
    negligible = negligible_weight(X)
    log_lik = 0.0
    for i0 in range(0, n_rows + BLOCK, BLOCK):  # one more pass adds what the queues hold
        finish = i0 >= n_rows
        n_block = 0 if finish else min(BLOCK, n_rows - i0)
        if not finish:
            load_block(X, i0, n_block, xt)
            _block_log_prob(xt, mean_w, mean_lo_w, prec_chol_w, log_norm, xc, t, maha,
                            log_prob)
            log_lik += normalize_block(log_prob, sample_weight, row_label, i0, n_block,
                                       component_class, negligible, top, total, scratch, nk,
                                       wr, used)
        for k in range(n_components):
            if finish or used[k]:
                _queue_rows(xc[k], wr[k], n_block, active, queue_x[k], queue_w[k], queue_n, k,
                            wx, s1[k], s2_padded[k], finish)
    for k in range(n_components):
        for l in range(n_features):
            for j in range(n_features):
                s2[k, l, j] = s2_padded[k, l, j]
    return log_lik


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def weighted_log_prob(X, means, prec_chol, log_norm, out):
    n_components, n_features = means.shape
    prec_chol_w = _padded_prec_chol(prec_chol, X)
    work = X.dtype
    mean_w, mean_lo = split_means(means, n_features, X)
    mean_lo_w = mean_lo.astype(work)
    xt = np.empty((n_features, BLOCK), work)
    xc = np.zeros((n_components, prec_chol_w.shape[1], BLOCK), work)
    t = np.empty((4, BLOCK), work)
    maha = np.empty(BLOCK, work)
    log_prob = np.empty((n_components, BLOCK))
    for i0 in range(0, X.shape[0], BLOCK):
        n_block = min(BLOCK, X.shape[0] - i0)
        load_block(X, i0, n_block, xt)
        _block_log_prob(xt, mean_w, mean_lo_w, prec_chol_w, log_norm, xc, t, maha, log_prob)
        for i in range(n_block):
            for k in range(n_components):
                out[i0 + i, k] = log_prob[k, i]
