"""k-means kernels for initialisation: k-means++ candidate potentials and Lloyd steps.

Serial and ``nogil``, each on the rows it is given (one partition);
``fastem._parallel`` runs them over fixed partitions and ``fastem._init`` folds
partition results in index order, so they are deterministic for any number of
threads.
"""
import numpy as np
from numba import njit

from .._config import FASTMATH
from ._common import row_weight


@njit(cache=True, fastmath=FASTMATH)
def _sq_dist(x, c):
    acc = 0.0
    for d in range(x.shape[0]):
        t = x[d] - c[d]
        acc += t * t
    return acc


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def update_closest(X, point, closest_sq):
    """closest_sq[i] = min(closest_sq[i], |x_i - point|^2)."""
    for i in range(X.shape[0]):
        d = _sq_dist(X[i], point)
        if d < closest_sq[i]:
            closest_sq[i] = d


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def candidate_potentials(X, sample_weight, closest_sq, candidates, pot):
    """pot[c] = sum_i w_i min(closest_sq_i, |x_i - cand_c|^2) over the rows of X (overwritten)."""
    pot[:] = 0.0
    for i in range(X.shape[0]):
        w = row_weight(sample_weight, i)
        for c in range(candidates.shape[0]):
            d = _sq_dist(X[i], candidates[c])
            pot[c] += w * min(closest_sq[i], d)


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def lloyd_step(X, sample_weight, centers, labels, sums, weights):
    """Nearest centre of each row into labels; the rows' weighted sums and weights per
    centre into sums, weights (overwritten). Returns the rows' weighted inertia."""
    sums[:] = 0.0
    weights[:] = 0.0
    inertia = 0.0
    for i in range(X.shape[0]):
        x = X[i]
        best = 0
        best_d = np.inf
        for c in range(centers.shape[0]):
            d = _sq_dist(x, centers[c])
            if d < best_d:
                best_d = d
                best = c
        labels[i] = best
        w = row_weight(sample_weight, i)
        weights[best] += w
        inertia += w * best_d
        for d in range(X.shape[1]):
            sums[best, d] += w * x[d]
    return inertia
