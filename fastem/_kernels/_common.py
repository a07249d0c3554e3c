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


# Rows per inner block of the fused pass: a compile-time constant so that the
# row loops have a fixed trip count and vectorise without remainders.
BLOCK = 32


@njit(cache=True, fastmath=FASTMATH)
def load_block(X, i0, n_block, xt):
    """Copy rows i0 .. i0+n_block of X, transposed, into xt (features x BLOCK), in float64.

    Columns past n_block are zeroed; the caller gives those rows zero weight.
    """
    n_features = X.shape[1]
    for i in range(n_block):
        for d in range(n_features):
            xt[d, i] = X[i0 + i, d]
    for i in range(n_block, BLOCK):
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
def negligible_weight(X):
    """sqrt of the smallest normal number of X's dtype. Moment weights below it would
    make subnormal products (100x slower, often in float32); such weights count in
    nk only: their moments are far below the rounding of any total. (Literals: np.finfo
    costs compile time.)"""
    return 1.08e-19 if X.itemsize == 4 else 1.49e-154
