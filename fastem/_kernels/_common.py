"""Pieces shared by the per-covariance-type kernels."""
import math

import numpy as np
from numba import njit

from .._config import FASTMATH

# exp on (-inf, 0] without a libm call, so the responsibility loop vectorises
# (libm's scalar exp was a third of the spherical pass). Cody-Waite reduction
# x = n ln2 + r, |r| <= ln2/2, a degree-13 Taylor polynomial (error < 3e-16
# relative) and 2^n from a table (exact, subnormals included).
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_POW2 = np.array([2.0 ** n for n in range(-1075, 1)])
_EXP_COEFFS = tuple(1.0 / math.factorial(k) for k in range(13, -1, -1))


@njit(cache=True, fastmath=FASTMATH, inline="always")
def exp_nonpositive(x):
    """exp(x) for x <= 0 (x = -inf gives 0), vectorisable."""
    x = max(x, -745.2)  # below this exp(x) rounds to 0; keeps the table index >= 0
    n = math.floor(x * _LOG2E + 0.5)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = _EXP_COEFFS[0]
    for c in _EXP_COEFFS[1:]:
        p = p * r + c
    return p * _POW2[int(n) + 1075]


@njit(cache=True, fastmath=FASTMATH)
def row_weight(sample_weight, i):
    """Frequency weight of row i; an empty array means all ones."""
    if sample_weight.shape[0] == 0:
        return 1.0
    return sample_weight[i]


@njit(cache=True, fastmath=FASTMATH)
def row_label_of(row_label, i):
    """Known class of row i, or -1 for an unlabelled row (empty array: none known)."""
    if row_label.shape[0] == 0:
        return -1
    return row_label[i]


@njit(cache=True, fastmath=FASTMATH)
def normalize_row(log_prob, label, component_class, resp):
    """Turn one row's weighted log-probabilities into responsibilities.

    A labelled row (label >= 0) keeps responsibility only on the components
    that stand for its class (clamped EM). Returns the row's log-likelihood
    (log-sum-exp over the allowed components).
    """
    n_components = log_prob.shape[0]
    top = -np.inf
    for k in range(n_components):
        if label >= 0 and component_class[k] != label:
            log_prob[k] = -np.inf
        if log_prob[k] > top:
            top = log_prob[k]
    if top == -np.inf:
        for k in range(n_components):
            resp[k] = 0.0
        return -np.inf
    total = 0.0
    for k in range(n_components):
        e = exp_nonpositive(log_prob[k] - top)
        resp[k] = e
        total += e
    inv = 1.0 / total
    for k in range(n_components):
        resp[k] *= inv
    return top + math.log(total)


# Responsibilities below exp(-690) (1e-300) count as zero: they are below the
# rounding of any sum they enter (the M-step adds 10 eps to nk), and their
# subnormal products would cost 100x (half the spherical pass at K=64).
NEGLIGIBLE_LOG_RESP = -690.0

# Rows per block of the row-innermost passes (diag, spherical, tied): the moment sums
# over a block end in horizontal adds, so a long block makes them rare. A compile-time
# constant, like BLOCK.
#
# Helpers whose loops are reassociated reductions are inline="always" (compiled inside
# each kernel). A call LLVM does not inline runs, in the process that compiled it, the
# callee's own compile, but after a load from Numba's cache the kernel's linked and
# re-optimised copy of it: the sums were measured to differ in their last bits, so a
# fit's first run and later runs gave different results.
ROWS = 128


@njit(cache=True, fastmath=FASTMATH, inline="always")
def normalize_block(log_prob, sample_weight, row_label, i0, n_block, component_class,
                    negligible, top, total, scale, nk, wr, used):
    """Turn a block's weighted log-probabilities (K, ROWS) into weighted responsibilities.

    Rows innermost (vector loops over ROWS rows); a labelled row keeps responsibility
    only on its class's components (clamped EM). Adds w r into nk (float64); wr[k, i]
    (the working dtype) is w r where it is at least ``negligible``, else zero, and
    used[k] says whether any row of the block has weight there. Rows past n_block and
    rows of weight zero get none. Returns the block's weighted log-likelihood (log-sum-
    exp in float64). log_prob is overwritten; top, total, scale: scratch of ROWS.
    """
    n_components = log_prob.shape[0]
    for i in range(ROWS):
        scale[i] = row_weight(sample_weight, i0 + i) if i < n_block else 0.0
        top[i] = -np.inf
    if row_label.shape[0] != 0:
        for i in range(n_block):
            label = row_label[i0 + i]
            if label >= 0:
                for k in range(n_components):
                    if component_class[k] != label:
                        log_prob[k, i] = -np.inf
    for k in range(n_components):
        lp = log_prob[k]
        for i in range(ROWS):
            top[i] = max(top[i], lp[i])
    for i in range(ROWS):
        total[i] = 0.0
        if top[i] == -np.inf:  # no allowed component: zero responsibilities
            top[i] = np.inf
    for k in range(n_components):
        lp = log_prob[k]
        for i in range(ROWS):
            x = lp[i] - top[i]
            e = exp_nonpositive(max(x, NEGLIGIBLE_LOG_RESP))
            e = e if x >= NEGLIGIBLE_LOG_RESP else 0.0
            lp[i] = e
            total[i] += e
    log_lik = 0.0
    for i in range(ROWS):
        w = scale[i]
        if w != 0.0:
            if total[i] > 0.0:
                log_lik += w * (top[i] + math.log(total[i]))
                scale[i] = w / total[i]
            else:
                log_lik += w * -np.inf
                scale[i] = 0.0
    for k in range(n_components):
        lp = log_prob[k]
        wrk = wr[k]
        block_nk = 0.0
        n_used = 0
        for i in range(ROWS):
            v = lp[i] * scale[i]
            block_nk += v
            keep = v >= negligible
            wrk[i] = v if keep else 0.0
            n_used += keep
        nk[k] += block_nk
        used[k] = n_used > 0
    return log_lik


# Rows per inner block of the fused pass: a compile-time constant so that the
# row loops have a fixed trip count and vectorise without remainders.
BLOCK = 32


@njit(cache=True, fastmath=FASTMATH)
def load_block(X, i0, n_block, xt):
    """Copy rows i0 .. i0+n_block of X, transposed, into xt (features x block rows), in
    xt's dtype.

    Columns past n_block are zeroed; the caller gives those rows zero weight. Rows of xt
    past X's features are not touched.
    """
    n_features = X.shape[1]
    for i in range(n_block):
        for d in range(n_features):
            xt[d, i] = X[i0 + i, d]
    for i in range(n_block, xt.shape[1]):
        for d in range(n_features):
            xt[d, i] = 0.0


@njit(cache=True, fastmath=FASTMATH)
def add_scaled_sq_dist(xt, centre, scale, maha):
    """maha[i] += sum_d ((xt[d, i] - centre[d]) * scale[d])^2 over a transposed block.

    Four features per sweep over maha: one load/store of maha per four
    multiply-adds (the sweep is store-bound otherwise).
    """
    n_features, n_cols = xt.shape
    n_four = n_features // 4 * 4
    for d in range(0, n_four, 4):
        c0, c1, c2, c3 = centre[d], centre[d + 1], centre[d + 2], centre[d + 3]
        p0, p1, p2, p3 = scale[d], scale[d + 1], scale[d + 2], scale[d + 3]
        x0, x1, x2, x3 = xt[d], xt[d + 1], xt[d + 2], xt[d + 3]
        for i in range(n_cols):
            t0 = (x0[i] - c0) * p0
            t1 = (x1[i] - c1) * p1
            t2 = (x2[i] - c2) * p2
            t3 = (x3[i] - c3) * p3
            maha[i] += (t0 * t0 + t1 * t1) + (t2 * t2 + t3 * t3)
    for d in range(n_four, n_features):
        c = centre[d]
        p = scale[d]
        xd = xt[d]
        for i in range(n_cols):
            t = (xd[i] - c) * p
            maha[i] += t * t


@njit(cache=True, fastmath=FASTMATH)
def centre_block(xt, mean, xc):
    """xc[d, i] = xt[d, i] - mean[d] for a transposed block (features x BLOCK rows).

    The subtraction is in float64 (exact enough for data far from the origin),
    then rounded to xc's dtype: the working dtype, X's.
    """
    for d in range(xt.shape[0]):
        m = mean[d]
        for i in range(BLOCK):
            xc[d, i] = xt[d, i] - m


@njit(cache=True, fastmath=FASTMATH)
def centre_of_means(means):
    """The unweighted centre of the means (float64): the kernels subtract it from every
    row once (in float64) and then work on offsets from it, so data far from the
    origin loses nothing when the offsets are rounded to float32."""
    n_components, n_features = means.shape
    centre = np.zeros(n_features)
    for k in range(n_components):
        for d in range(n_features):
            centre[d] += means[k, d]
    for d in range(n_features):
        centre[d] /= n_components
    return centre


@njit(cache=True, fastmath=FASTMATH)
def load_centred_block(X, i0, n_block, centre, yt):
    """yt[d, i] = X[i0 + i, d] - centre[d] (subtracted in float64, stored in yt's dtype)
    for a transposed block of yt.shape[1] rows. Columns past n_block, and feature rows
    past X's (padding), are zero; the caller gives such rows zero weight."""
    n_features = X.shape[1]
    n_padded, n_cols = yt.shape
    for i in range(n_block):
        x = X[i0 + i]
        for d in range(n_features):
            yt[d, i] = np.float64(x[d]) - centre[d]
    for i in range(n_block, n_cols):
        for d in range(n_features):
            yt[d, i] = 0.0
    for d in range(n_features, n_padded):
        for i in range(n_cols):
            yt[d, i] = 0.0


@njit(cache=True, fastmath=FASTMATH)
def negligible_weight(X):
    """sqrt of the smallest normal number of X's dtype. Moment weights below it would
    make subnormal products (100x slower, often in float32); such weights count in
    nk only: their moments are far below the rounding of any total. (Literals: np.finfo
    costs compile time.)"""
    return 1.08e-19 if X.itemsize == 4 else 1.49e-154
