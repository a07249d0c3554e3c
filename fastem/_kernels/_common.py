"""Pieces shared by the per-covariance-type kernels."""
import math

import numpy as np
from numba import njit

from .._config import FASTMATH, ORDERED_FASTMATH

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


# Responsibilities below exp(-690) (1e-300) count as zero: they are below the
# rounding of any sum they enter (the M-step adds 10 eps to nk), and products
# with subnormal results take a slow microcode path on x86.
NEGLIGIBLE_LOG_RESP = -690.0

# Rows per block of every pass: rows are the innermost loops (full vectors, a
# compile-time trip count: no remainders). Block sums end in horizontal adds and
# per-block constants (tiles of U, broadcasts) are loaded once per block, so long
# blocks pay: 128 rows measured 1.3-1.6x faster than 32 for 'full' (W1, W2, both
# dtypes); scratch per thread grows as K * D * BLOCK.
BLOCK = 128

# Helpers whose loops are reassociated reductions are inline="always" (compiled inside
# each kernel). A call LLVM does not inline runs, in the process that compiled it, the
# callee's own compile, but after a load from Numba's cache the kernel's linked and
# re-optimised copy of it: the sums were measured to differ in their last bits, so a
# fit's first run and later runs gave different results.


@njit(cache=True, fastmath=FASTMATH, inline="always")
def normalize_block(log_prob, sample_weight, row_label, i0, n_block, component_class,
                    negligible, top, total, scale, nk, wr, used):
    """Turn a block's weighted log-probabilities (K, rows) into weighted responsibilities.

    Rows innermost (vector loops over the block's rows); a labelled row keeps responsibility
    only on its class's components (clamped EM). Adds w r into nk (float64); wr[k, i]
    (the working dtype) is w r where it is at least ``negligible``, else zero, and
    used[k] says whether any row of the block has weight there. Rows past n_block and
    rows of weight zero get none. Returns the block's weighted log-likelihood (log-sum-
    exp in float64). log_prob is overwritten; top, total, scale: scratch of one row each.
    """
    n_components, n_cols = log_prob.shape
    for i in range(n_cols):
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
        for i in range(n_cols):
            top[i] = max(top[i], lp[i])
    for i in range(n_cols):
        total[i] = 0.0
        if top[i] == -np.inf:  # no allowed component: zero responsibilities
            top[i] = np.inf
    for k in range(n_components):
        lp = log_prob[k]
        for i in range(n_cols):
            x = lp[i] - top[i]
            e = exp_nonpositive(max(x, NEGLIGIBLE_LOG_RESP))
            e = e if x >= NEGLIGIBLE_LOG_RESP else 0.0
            lp[i] = e
            total[i] += e
    log_lik = 0.0
    for i in range(n_cols):
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
        for i in range(n_cols):
            v = lp[i] * scale[i]
            block_nk += v
            keep = v >= negligible
            wrk[i] = v if keep else 0.0
            n_used += keep
        nk[k] += block_nk
        used[k] = n_used > 0
    return log_lik




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
def split_means(means, n_padded, work_of):
    """mu = m + l: m = mu rounded to the working dtype (work_of's), l = mu - m in float64
    (zero for float64), both (K, n_padded) with zero padding features. For data far
    from the origin x - m is exact (Sterbenz), so (x - m) - l is x - mu as accurately
    as a float64 subtraction rounded to the working dtype."""
    n_components, n_features = means.shape
    mean_w = np.zeros((n_components, n_padded), work_of.dtype)
    mean_lo = np.zeros((n_components, n_padded))
    for k in range(n_components):
        for d in range(n_features):
            mean_w[k, d] = means[k, d]
            mean_lo[k, d] = means[k, d] - np.float64(mean_w[k, d])
    return mean_w, mean_lo


@njit(cache=True, fastmath=ORDERED_FASTMATH)
def centre_block(xt, mean_w, mean_lo, xc):
    """xc[d, i] = (xt[d, i] - m[d]) - l[d] for a transposed block (features x rows), in
    the working dtype, mu = m + l split by split_means (l in the working dtype here)."""
    for d in range(xt.shape[0]):
        m = mean_w[d]
        lo = mean_lo[d]
        x = xt[d]
        c = xc[d]
        for i in range(xt.shape[1]):
            c[i] = (x[i] - m) - lo


@njit(cache=True, fastmath=FASTMATH)
def centre_of_means(means):
    """The unweighted centre of the means (float64), a shift near every component."""
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
