"""Kernels for ``covariance_type='full'``: one (D, D) precision Cholesky per component.

Statistics per component k, centred on the current mean mu_k:
``nk[k] = sum w r``, ``s1[k] = sum w r (x - mu_k)``,
``s2[k] = sum w r (x - mu_k)(x - mu_k)^T`` (upper triangle only; the driver
mirrors it).
"""
import numpy as np
from numba import njit, prange

from .._config import FASTMATH
from ._common import BLOCK, WAVE, load_block, n_partitions, normalize_row, row_label_of, row_weight


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
            for l in range(j + 1):
                u = prec_chol[k, l, j]
                for i in range(xc.shape[1]):
                    t[i] += u * xc[l, i]
            for i in range(xc.shape[1]):
                maha[i] += t[i] * t[i]
        for i in range(xc.shape[1]):
            log_prob[i, k] = log_norm[k] - 0.5 * maha[i]


@njit(cache=True, fastmath=FASTMATH)
def _accumulate_component(X, i0, n_block, wk, mean, xd, nk, s1k, s2k, k):
    """Add the block's weighted, mean-centred moments of one component.

    Rows go four at a time: a rank-4 update of each s2 row is a single
    contiguous pass, so the accumulator is loaded and stored once per four
    rows (the update is store-bound otherwise).
    """
    n_features = mean.shape[0]
    for i in range(0, n_block, 4):
        w0 = wk[i]
        w1 = wk[i + 1] if i + 1 < n_block else 0.0
        w2 = wk[i + 2] if i + 2 < n_block else 0.0
        w3 = wk[i + 3] if i + 3 < n_block else 0.0
        if w0 == 0.0 and w1 == 0.0 and w2 == 0.0 and w3 == 0.0:
            continue
        nk[k] += w0 + w1 + w2 + w3
        for r in range(4):
            if i + r < n_block:
                x = X[i0 + i + r]
                for d in range(n_features):
                    xd[r, d] = x[d] - mean[d]
            else:
                xd[r, :] = 0.0
        x0 = xd[0]
        x1 = xd[1]
        x2 = xd[2]
        x3 = xd[3]
        for l in range(n_features):
            a0 = w0 * x0[l]
            a1 = w1 * x1[l]
            a2 = w2 * x2[l]
            a3 = w3 * x3[l]
            s1k[l] += a0 + a1 + a2 + a3
            row = s2k[l]
            # Full rows, not just the upper triangle: a fixed-length loop stays
            # whole vectors and runs faster than the shorter triangular one.
            for j in range(n_features):
                row[j] += a0 * x0[j] + a1 * x1[j] + a2 * x2[j] + a3 * x3[j]


@njit(cache=True, fastmath=FASTMATH)
def _partition_stats(X, start, stop, sample_weight, row_label, component_class,
                     means, prec_chol, log_norm, nk, s1, s2):
    n_components, n_features = means.shape
    nk[:] = 0.0
    s1[:] = 0.0
    s2[:] = 0.0
    xt = np.empty((n_features, BLOCK))
    xc = np.empty((n_features, BLOCK))
    t = np.empty(BLOCK)
    xd = np.empty((4, n_features))
    maha = np.empty(BLOCK)
    log_prob = np.empty((BLOCK, n_components))
    wr = np.empty((n_components, BLOCK))
    resp = np.empty(n_components)
    log_lik = 0.0
    for i0 in range(start, stop, BLOCK):
        n_block = min(BLOCK, stop - i0)
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


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def accumulate_stats(X, sample_weight, row_label, component_class, means,
                     prec_chol, log_norm, shift, part_rows, log_lik, nk, s1, s2):
    n_rows, n_features = X.shape
    n_components = means.shape[0]
    n_parts = n_partitions(n_rows, part_rows)
    n_slots = min(WAVE, n_parts)
    slot_ll = np.zeros(n_slots)
    slot_nk = np.zeros((n_slots, n_components))
    slot_s1 = np.zeros((n_slots, n_components, n_features))
    slot_s2 = np.zeros((n_slots, n_components, n_features, n_features))
    for first in range(0, n_parts, n_slots):
        n_here = min(n_slots, n_parts - first)
        for slot in prange(n_here):
            start = (first + slot) * part_rows
            stop = min(n_rows, start + part_rows)
            slot_ll[slot] = _partition_stats(
                X, start, stop, sample_weight, row_label, component_class,
                means, prec_chol, log_norm, slot_nk[slot], slot_s1[slot], slot_s2[slot])
        # Fold in partition order, onto the running totals: the same sums
        # whatever the thread count, and whether rows come in one call or in chunks.
        for slot in range(n_here):
            log_lik += slot_ll[slot]
            nk += slot_nk[slot]
            s1 += slot_s1[slot]
            s2 += slot_s2[slot]
    return log_lik


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def weighted_log_prob(X, means, prec_chol, log_norm, out):
    n_rows = X.shape[0]
    n_components, n_features = means.shape
    for i in prange(n_rows):
        xc = np.empty((n_components, n_features))
        y = np.empty(n_features)
        _centre_and_log_prob(X[i], means, prec_chol, log_norm, xc, y, out[i])


# Serial variants for dask blocks: a scheduler already runs blocks in parallel,
# so these never start Numba's thread pool (nogil lets blocks run side by side).
# Same partitions, same fold order as accumulate_stats.

@njit(nogil=True, cache=True, fastmath=FASTMATH)
def accumulate_stats_serial(X, sample_weight, row_label, component_class, means,
                            prec_chol, log_norm, shift, part_rows, log_lik, nk, s1, s2):
    n_rows, n_features = X.shape
    n_components = means.shape[0]
    part_nk = np.zeros(n_components)
    part_s1 = np.zeros((n_components, n_features))
    part_s2 = np.zeros((n_components, n_features, n_features))
    for part in range(n_partitions(n_rows, part_rows)):
        start = part * part_rows
        stop = min(n_rows, start + part_rows)
        log_lik += _partition_stats(X, start, stop, sample_weight, row_label, component_class,
                                    means, prec_chol, log_norm, part_nk, part_s1, part_s2)
        nk += part_nk
        s1 += part_s1
        s2 += part_s2
    return log_lik


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def weighted_log_prob_serial(X, means, prec_chol, log_norm, out):
    n_components, n_features = means.shape
    xc = np.empty((n_components, n_features))
    y = np.empty(n_features)
    for i in range(X.shape[0]):
        _centre_and_log_prob(X[i], means, prec_chol, log_norm, xc, y, out[i])
