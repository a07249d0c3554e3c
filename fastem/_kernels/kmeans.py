"""k-means kernels for initialisation: k-means++ candidate potentials and Lloyd steps.

Both are parallel over fixed row partitions and fold partition results in
index order, so they are deterministic for any number of threads.
"""
import numpy as np
from numba import njit, prange

from .._config import FASTMATH
from ._common import WAVE, n_partitions, row_weight


@njit(cache=True, fastmath=FASTMATH)
def _sq_dist(x, c):
    acc = 0.0
    for d in range(x.shape[0]):
        t = x[d] - c[d]
        acc += t * t
    return acc


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def sq_dist_to_point(X, point, out):
    for i in prange(X.shape[0]):
        out[i] = _sq_dist(X[i], point)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def candidate_potentials(X, sample_weight, closest_sq, candidates, part_rows):
    """Potential sum_i w_i min(closest_sq_i, |x_i - cand|^2) for each candidate row."""
    n_rows = X.shape[0]
    n_cand = candidates.shape[0]
    n_parts = n_partitions(n_rows, part_rows)
    partial = np.zeros((n_parts, n_cand))
    for p in prange(n_parts):
        stop = min(n_rows, (p + 1) * part_rows)
        for i in range(p * part_rows, stop):
            w = row_weight(sample_weight, i)
            for c in range(n_cand):
                d = _sq_dist(X[i], candidates[c])
                partial[p, c] += w * min(closest_sq[i], d)
    pot = np.zeros(n_cand)
    for p in range(n_parts):
        pot += partial[p]
    return pot


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def update_closest(X, point, closest_sq):
    for i in prange(X.shape[0]):
        d = _sq_dist(X[i], point)
        if d < closest_sq[i]:
            closest_sq[i] = d


@njit(cache=True, fastmath=FASTMATH)
def _assign_partition(X, sample_weight, centers, labels, start, stop, sums, weights):
    """Nearest centre of rows start..stop; adds their weighted sums and weights, returns inertia."""
    sums[:] = 0.0
    weights[:] = 0.0
    inertia = 0.0
    for i in range(start, stop):
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


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def lloyd_step(X, sample_weight, centers, labels, part_rows):
    """Assign rows to their nearest centre; return (sums, weights, inertia) per centre."""
    n_rows, n_features = X.shape
    n_clusters = centers.shape[0]
    n_parts = n_partitions(n_rows, part_rows)
    n_slots = min(WAVE, n_parts)
    slot_sums = np.zeros((n_slots, n_clusters, n_features))
    slot_w = np.zeros((n_slots, n_clusters))
    slot_inertia = np.zeros(n_slots)
    sums = np.zeros((n_clusters, n_features))
    weights = np.zeros(n_clusters)
    inertia = 0.0
    for first in range(0, n_parts, n_slots):
        n_here = min(n_slots, n_parts - first)
        for slot in prange(n_here):
            start = (first + slot) * part_rows
            slot_inertia[slot] = _assign_partition(
                X, sample_weight, centers, labels, start, min(n_rows, start + part_rows),
                slot_sums[slot], slot_w[slot])
        for slot in range(n_here):
            sums += slot_sums[slot]
            weights += slot_w[slot]
            inertia += slot_inertia[slot]
    return sums, weights, inertia


@njit(cache=True, fastmath=FASTMATH)
def lloyd_step_serial(X, sample_weight, centers, labels, part_rows):
    """``lloyd_step`` without the thread pool (same partitions, same fold): small inputs."""
    n_rows, n_features = X.shape
    n_clusters = centers.shape[0]
    part_sums = np.zeros((n_clusters, n_features))
    part_w = np.zeros(n_clusters)
    sums = np.zeros((n_clusters, n_features))
    weights = np.zeros(n_clusters)
    inertia = 0.0
    for part in range(n_partitions(n_rows, part_rows)):
        start = part * part_rows
        inertia += _assign_partition(X, sample_weight, centers, labels, start,
                                     min(n_rows, start + part_rows), part_sums, part_w)
        sums += part_sums
        weights += part_w
    return sums, weights, inertia
