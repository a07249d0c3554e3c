"""Initialisation: initial responsibilities -> initial parameters.

``init_params``: k-means (k-means++ seeding + Lloyd), k-means++, random,
random_from_data. Everything here runs on the rows it is given (at most
``init_max_samples`` of X, see ``initial_rows``), through Numba kernels, with
the estimator's RandomState, and needs no scikit-learn. The moments of hard
assignments come from the fused kernel pass with every row clamped to its
component, so the first M-step is exactly the one EM would do with those
responsibilities; statistics become parameters in ``_stats.m_step`` only.
"""
import numpy as np

from . import _parallel
from ._config import PARTITION_ROWS
from ._sources import in_memory
from ._stats import Params, Stats, m_step, pass_job


def _kernels():
    from ._kernels import kmeans
    return kmeans


def _weights_of(sample_weight, start, stop):
    """Rows start..stop of sample_weight (empty: all ones)."""
    return sample_weight[start:stop] if sample_weight.shape[0] else sample_weight


def update_closest(X, point, closest_sq):
    """closest_sq = min(closest_sq, squared distance to point), partition by partition."""
    km = _kernels()
    point = _parallel.params_array(point)
    _parallel.run_partitions(X.shape[0], lambda start, stop: km.update_closest(
        X[start:stop], point, closest_sq[start:stop]))


def candidate_potentials(X, sample_weight, closest_sq, candidates):
    """k-means++ potential of each candidate row, partition sums folded in order."""
    km = _kernels()
    sample_weight = _parallel.rows_view(sample_weight, np.float64)
    candidates = _parallel.params_array(candidates)
    pot = np.zeros(candidates.shape[0])

    def work(start, stop):
        part = np.empty(candidates.shape[0])
        km.candidate_potentials(X[start:stop], _weights_of(sample_weight, start, stop),
                                closest_sq[start:stop], candidates, part)
        return part

    def fold(part):
        pot[:] += part

    _parallel.run_partitions(X.shape[0], work, fold)
    return pot


def lloyd_step(X, sample_weight, centers, labels):
    """Assign rows to their nearest centre (into labels); (sums, weights) per centre."""
    km = _kernels()
    sample_weight = _parallel.rows_view(sample_weight, np.float64)
    centers = _parallel.params_array(centers)
    sums = np.zeros(centers.shape)
    weights = np.zeros(centers.shape[0])

    def work(start, stop):
        part_sums = np.empty(centers.shape)
        part_weights = np.empty(centers.shape[0])
        km.lloyd_step(X[start:stop], _weights_of(sample_weight, start, stop), centers,
                      labels[start:stop], part_sums, part_weights)
        return part_sums, part_weights

    def fold(part):
        sums[:] += part[0]
        weights[:] += part[1]

    _parallel.run_partitions(X.shape[0], work, fold)
    return sums, weights


def kmeans_plusplus(X, n_clusters, sample_weight, random_state):
    """Greedy k-means++ seeding (Arthur & Vassilvitskii; the variant scikit-learn uses).

    Returns the indices of the chosen rows.
    """
    X = _parallel.rows_view(X)  # one compiled specialisation per dtype, whatever the flags
    n_samples = X.shape[0]
    w = np.ones(n_samples) if sample_weight.shape[0] == 0 else sample_weight
    n_local_trials = 2 + int(np.log(n_clusters))
    indices = np.empty(n_clusters, dtype=np.int64)
    indices[0] = random_state.choice(n_samples, p=w / w.sum())
    closest_sq = np.full(n_samples, np.inf)
    update_closest(X, X[indices[0]].astype(np.float64), closest_sq)
    current_pot = float(closest_sq @ w)
    for c in range(1, n_clusters):
        rand_vals = random_state.uniform(size=n_local_trials) * current_pot
        candidate_ids = np.searchsorted(np.cumsum(w * closest_sq), rand_vals)
        np.clip(candidate_ids, None, n_samples - 1, out=candidate_ids)
        candidates = X[candidate_ids].astype(np.float64)
        pots = candidate_potentials(X, sample_weight, closest_sq, candidates)
        best = int(np.argmin(pots))
        current_pot = float(pots[best])
        indices[c] = candidate_ids[best]
        update_closest(X, candidates[best], closest_sq)
    return indices


def kmeans_labels(X, n_clusters, sample_weight, random_state, max_iter=100, tol=1e-4):
    """Lloyd's algorithm from k-means++ seeds; returns per-row cluster labels.

    Stops when the squared centre shift falls below ``tol`` times the mean
    feature variance (scikit-learn's rule). Empty clusters keep their centre.
    """
    X = _parallel.rows_view(X)
    centers = X[kmeans_plusplus(X, n_clusters, sample_weight, random_state)].astype(np.float64)
    labels = np.zeros(X.shape[0], dtype=np.int64)
    variances = _column_variances(X)
    threshold = tol * float(np.mean(variances))
    for _ in range(max_iter):
        sums, weights = lloyd_step(X, sample_weight, centers, labels)
        new_centers = centers.copy()
        filled = weights > 0
        new_centers[filled] = sums[filled] / weights[filled, None]
        shift = float(((new_centers - centers) ** 2).sum())
        centers = new_centers
        if shift <= threshold:
            break
    lloyd_step(X, sample_weight, centers, labels)
    return labels, centers


def _column_variances(X, chunk=1 << 16):
    """Per-feature variance in float64, streamed (two passes, no whole-array copy)."""
    n = X.shape[0]
    total = np.zeros(X.shape[1])
    for s in range(0, n, chunk):
        total += X[s:s + chunk].sum(axis=0, dtype=np.float64)
    mean = total / n
    sq = np.zeros(X.shape[1])
    for s in range(0, n, chunk):
        sq += ((X[s:s + chunk] - mean) ** 2).sum(axis=0, dtype=np.float64)
    return sq / n


def random_resp_stats(X, n_components, random_state, sample_weight, chunk=1 << 16):
    """'random' init: uniform responsibilities normalised per row, streamed in row chunks.

    The draws come in row-major chunks from the same RandomState stream as one
    (n_samples, n_components) draw, so the start equals scikit-learn's for the
    same seed. Returns (resp-weighted means, a callable giving chunks of resp).
    """
    n = X.shape[0]
    state = random_state.get_state()

    def resp_chunks():
        random_state.set_state(state)
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            r = random_state.uniform(size=(e - s, n_components))
            r /= r.sum(axis=1, keepdims=True)
            if sample_weight.shape[0]:
                r *= sample_weight[s:e, None]
            yield s, e, r

    return resp_chunks


def subsample_indices(n_samples, n_draw, random_state):
    """Sorted indices of ``n_draw`` distinct rows of ``n_samples``, uniformly at random.

    Memory is O(n_draw), whatever n_samples: ``choice(replace=False)`` would
    shuffle all n_samples indices (512 MB for 64 M rows). Draw with
    replacement until enough distinct rows are found, then keep a random
    n_draw of them; by symmetry every subset of n_draw rows is equally likely.
    """
    if n_samples <= 4 * n_draw:
        return np.sort(random_state.permutation(n_samples)[:n_draw]).astype(np.int64)
    chosen = np.unique(random_state.randint(0, n_samples, size=n_draw, dtype=np.int64))
    while chosen.size < n_draw:
        extra = random_state.randint(0, n_samples, size=2 * (n_draw - chosen.size),
                                     dtype=np.int64)
        chosen = np.union1d(chosen, extra)
    if chosen.size > n_draw:
        chosen = np.sort(chosen[random_state.choice(chosen.size, size=n_draw, replace=False)])
    return chosen.astype(np.int64)


# ------------------------------------------------------------ moments of a start
def initial_rows(source, limit, n_components, sample_weight, random_state):
    """(rows, weights): the in-memory, checked rows an initialisation runs on.

    All of X if it has at most ``limit`` rows (or the limit is None), else a
    uniform random subsample of that many rows, in row order, with their
    weights: a bounded array whatever the size of X (a memory-mapped file
    reads only those rows, a dask array gathers only those).
    """
    if limit is None or source.n_samples <= max(limit, n_components):
        return source.all_rows(), sample_weight
    indices = subsample_indices(source.n_samples, max(limit, n_components), random_state)
    return (source.take(indices),
            sample_weight[indices] if sample_weight.shape[0] else sample_weight)


def initial_moments(rows, sample_weight, init_params, n_components, covariance_type,
                    reg_covar, random_state):
    """(nk', means, covariances, total weight) of the responsibilities of ``init_params``
    on in-memory ``rows``, as scikit-learn's ``_initialize`` computes them (nk' = nk + 10 eps).

    Hard assignments (k-means labels, or one seed row per component) go through
    the fused kernel. As in scikit-learn, a tied start from seed rows takes the
    scatter of every row (its M-step assumes each row's responsibilities sum to 1).
    """
    n_samples = rows.shape[0]
    total = float(sample_weight.sum()) if sample_weight.shape[0] else float(n_samples)
    if init_params == "random":
        return (*_soft_moments(rows, sample_weight, n_components, covariance_type, reg_covar,
                               random_state), total)
    if init_params == "kmeans":
        labels, centers = kmeans_labels(rows, n_components, sample_weight, random_state)
        weights_rows = sample_weight
    else:
        if init_params == "k-means++":
            seeds = kmeans_plusplus(rows, n_components, sample_weight, random_state)
        else:  # random_from_data: distinct rows among those that count (weight > 0),
            # so a weight-0 row acts as removed (same draw as without it)
            candidates = (np.arange(n_samples) if sample_weight.shape[0] == 0
                          else np.flatnonzero(sample_weight > 0))
            if candidates.shape[0] < n_components:
                raise ValueError(
                    f"init_params='random_from_data' needs n_components = {n_components} "
                    f"rows with positive sample_weight, got {candidates.shape[0]}.")
            seeds = candidates[random_state.choice(candidates.shape[0], size=n_components,
                                                   replace=False)]
        labels = np.zeros(n_samples, dtype=np.int64)
        labels[seeds] = np.arange(n_components)
        weights_rows = np.zeros(n_samples)
        weights_rows[seeds] = 1.0
        centers = rows[seeds].astype(np.float64)
    nk, means, covariances = hard_assignment_moments(
        in_memory(rows), weights_rows, labels, centers, covariance_type, reg_covar)
    if covariance_type == "tied" and init_params != "kmeans":
        # scikit-learn's tied M-step, (X^T X - sum_k nk' m_k m_k^T) / sum nk', takes
        # X^T X over every row: from seed rows that is not the seeds' scatter.
        d = rows.shape[1]
        gram = np.zeros((d, d))
        for start in range(0, n_samples, PARTITION_ROWS):
            part = np.asarray(rows[start:start + PARTITION_ROWS], dtype=np.float64)
            weighted = (part if sample_weight.shape[0] == 0
                        else part * sample_weight[start:start + PARTITION_ROWS, None])
            gram += weighted.T @ part
        covariances = (gram - (means.T * nk) @ means) / nk.sum()
        covariances[np.arange(d), np.arange(d)] += reg_covar
    return nk, means, covariances, total


def hard_assignment_moments(source, sample_weight, labels, centers, covariance_type,
                            reg_covar):
    """(nk', means, covariances) of the rows of a row source assigned to components
    by ``labels`` (rows of weight 0 count for nothing), from one clamped kernel pass
    centred on ``centers``."""
    k, d = centers.shape
    identity = {"full": np.broadcast_to(np.eye(d), (k, d, d)), "tied": np.eye(d),
                "diag": np.ones((k, d)), "spherical": np.ones(k)}[covariance_type]
    start = Params(np.full(k, 1.0 / k), centers, None, np.ascontiguousarray(identity),
                   covariance_type)
    stats = source.stats_pass(pass_job(start, np.arange(k, dtype=np.int64)), sample_weight,
                              labels)
    # centre(): the shift only where the statistics are taken about it (tied)
    return m_step(stats, centers, start.centre(), covariance_type, reg_covar)


def _soft_moments(rows, sample_weight, n_components, covariance_type, reg_covar,
                  random_state):
    """'random': uniform responsibilities, streamed; two passes (means, then moments)."""
    k, d = n_components, rows.shape[1]
    resp_chunks = random_resp_stats(rows, k, random_state, sample_weight)
    nk = np.zeros(k)
    sums = np.zeros((k, d))
    for s, e, r in resp_chunks():
        nk += r.sum(axis=0)
        sums += r.T @ rows[s:e]
    nk_safe = nk + 10 * np.finfo(np.float64).eps
    means = sums / nk_safe[:, None]
    stats = Stats(covariance_type, k, d)
    stats.nk = nk
    shift = (nk_safe / nk_safe.sum()) @ means
    for s, e, r in resp_chunks():
        part = np.asarray(rows[s:e], dtype=np.float64)
        if covariance_type == "tied":
            xs = part - shift
            stats.s1 += r.T @ xs
            stats.s2 += (xs * r.sum(axis=1)[:, None]).T @ xs
            continue
        for j in range(k):
            xc = part - means[j]
            stats.s1[j] += r[:, j] @ xc
            if covariance_type == "full":
                stats.s2[j] += (xc * r[:, j, None]).T @ xc
            elif covariance_type == "diag":
                stats.s2[j] += r[:, j] @ (xc * xc)
            else:
                stats.s2[j] += r[:, j] @ (xc * xc).sum(axis=1)
    return m_step(stats, means, shift, covariance_type, reg_covar)
