"""dask.array input: EM as a map over blocks plus a tree reduction; lazy predictions.

fastem imports dask only when it is given a dask array; dask is the optional
extra ``pip install 'fastem[dask]'`` (an ImportError naming it otherwise).

Fit. X is checked lazily (``check_dask_array``), rechunked to whole rows per
block and persisted once (``DaskRows``): into the workers' memory with a
``dask.distributed`` Client, into this process with the local schedulers.
Every EM iteration is then one graph: the serial, nogil Numba statistics
kernel (``accumulate_stats``, run over the block's partitions on the worker's
own thread: no thread pool inside a scheduler's threads) maps over the
blocks, the per-block statistics are summed by a tree of ``_merge_stats``
tasks (SPLIT_EVERY children per node), and one ``compute`` returns the
totals. The driver does the M-step; the next graph carries the new
parameters as one shared task, which the scheduler sends to the workers (the
broadcast). Inside a block the kernel folds the
same fixed row partitions as the in-memory pass; only the order in which
partitions and blocks are added differs, so a fit matches the in-memory fit
to rounding (about 1e-16 relative per pass), whatever the chunking.

Initialisation runs in the driver on at most ``init_max_samples`` rows (see
``GaussianMixture``): all of X when it is that small (computed once per fit),
else a uniform random subsample gathered from the blocks; k-means is
k-means++ seeding plus Lloyd on those rows (not k-means||).

Predict. ``predict``/``predict_proba``/``score_samples`` map the
``weighted_log_prob`` kernel (on the worker's own thread) over the blocks and
return lazy dask arrays.
"""
import importlib

import numpy as np

from . import _parallel
from ._sources import ChunkProgress
from ._stats import Stats
from ._validation import (check_2d, check_finite, check_finite_rows, check_min_size,
                          first_nonfinite_row)

EXTRA = "fastem[dask]"

# Children per node of the reduction tree of per-block statistics.
SPLIT_EVERY = 8


def require_dask():
    """(dask, dask.array), or an ImportError that names the extra to install."""
    try:
        import dask
        import dask.array as da
    except ImportError as exc:
        raise ImportError(
            f"fastem needs dask for dask arrays, and dask could not be imported ({exc}). "
            f"Install the optional extra: pip install '{EXTRA}'") from exc
    return dask, da


def check_dask_array(X, estimator_name, *, ensure_min_samples=1, name="X"):
    """A 2-D float32/float64 dask array with whole rows per block (all lazy: computes nothing).

    Other numeric dtypes are cast to float64 block by block when computed.
    NaN/inf are checked by the first pass over the blocks.
    """
    _, da = require_dask()
    if not isinstance(X, da.Array):
        raise TypeError(
            f"Of the dask collections, {estimator_name} takes dask.array.Array for {name}; "
            f"got {type(X).__module__}.{type(X).__name__}. Convert it, e.g. with "
            ".to_dask_array(lengths=True).")
    check_2d(X, estimator_name)
    if any(np.isnan(c) for c in X.chunks[0] + X.chunks[1]):
        raise ValueError(f"dask array {name} has unknown chunk sizes; call "
                         f"{name}.compute_chunk_sizes() first.")
    if X.dtype.kind == "c":
        raise ValueError("Complex data not supported\n")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"dask array {name} must have a numeric dtype, got {X.dtype}.")
    check_min_size(X.shape, ensure_min_samples, estimator_name)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return X


class DaskRows:
    """A checked dask X prepared for fitting: whole rows per block, persisted once.

    Stands in for X in the EM driver (``shape``, ``dtype``, ``ndim``).
    """

    ndim = 2

    def __init__(self, X, estimator_name="GaussianMixture"):
        require_dask()
        self.array = X.persist()
        self.shape = tuple(int(n) for n in X.shape)
        self.dtype = X.dtype
        self.estimator_name = estimator_name
        self.block_rows = tuple(int(n) for n in X.chunks[0])
        self.starts = np.concatenate([[0], np.cumsum(self.block_rows)]).astype(np.int64)
        self.blocks = self.array.to_delayed().ravel().tolist()
        self._per_row = {}

    # ----------------------------------------------------------- gathering
    def to_numpy(self):
        """All rows, in memory (used only when X is at most init_max_samples rows)."""
        rows = np.ascontiguousarray(self.array.compute())
        check_finite(rows, "X", self.estimator_name)
        return rows

    def take(self, indices):
        """The rows at sorted ``indices``, in memory."""
        return np.ascontiguousarray(self.array[indices].compute())

    def raise_first_nonfinite(self):
        """Raise the NaN/inf error naming the first bad row of X (if there is one)."""
        dask, _ = require_dask()
        firsts = dask.compute(*[dask.delayed(_first_bad_row, pure=True)(block, int(start))
                                for block, start in zip(self.blocks, self.starts)])
        bad = [row for row in firsts if row >= 0]
        if bad:
            row = min(bad)
            check_finite_rows(self.array[row:row + 1].compute(), row, "X", self.estimator_name)

    def per_row_blocks(self, values):
        """A per-row vector (sample weights, row labels) split like X's blocks.

        Sent to the workers once per fit (cached by identity); an empty vector
        means none and is passed to every block as it is.
        """
        if values.shape[0] == 0:
            return [values] * len(self.blocks)
        cached = self._per_row.get(id(values))
        if cached is None or cached[0] is not values:
            _, da = require_dask()
            persisted = da.from_array(values, chunks=(self.block_rows,)).persist()
            cached = (values, persisted.to_delayed().ravel().tolist())
            self._per_row[id(values)] = cached
        return cached[1]

    # ------------------------------------------------------------- EM pass
    def em_pass(self, covariance_type, n_components, means, prec_chol, log_norm, shift,
                sample_weight, row_label, component_class, check_rows=False, verbose=0):
        """One EM statistics pass: a map over the blocks, a tree sum, one compute."""
        dask, _ = require_dask()
        delayed = dask.delayed
        shared = delayed((covariance_type, n_components, means, prec_chol, log_norm, shift,
                          component_class), pure=True, traverse=False)
        weights = self.per_row_blocks(sample_weight)
        labels = self.per_row_blocks(row_label)
        parts = [delayed(_block_stats, pure=True)(block, w, lab, int(start), shared,
                                                  check_rows)
                 for block, w, lab, start in zip(self.blocks, weights, labels, self.starts)]
        root = parts
        while len(root) > 1:
            root = [delayed(_merge_stats, pure=True)(covariance_type, *root[i:i + SPLIT_EVERY])
                    for i in range(0, len(root), SPLIT_EVERY)]
        rows_of_key = {part.key: n for part, n in zip(parts, self.block_rows)}
        with _progress_callback(verbose, self.shape[0], rows_of_key):
            stats, bad_row = dask.compute(root[0])[0]
        if bad_row >= 0:
            check_finite_rows(self.array[bad_row:bad_row + 1].compute(), bad_row, "X",
                              self.estimator_name)
        return stats


def _block_stats(block, sample_weight, row_label, start, shared, check_rows):
    """(statistics of one block, first NaN/inf row of X in it or -1)."""
    (covariance_type, n_components, means, prec_chol, log_norm, shift,
     component_class) = shared
    stats = Stats(covariance_type, n_components, block.shape[1])
    if check_rows:
        bad = first_nonfinite_row(block)
        if bad >= 0:
            return stats, start + bad
    kernels = importlib.import_module(f"fastem._kernels.{covariance_type}")
    # On the worker's own thread (threads=1): the scheduler runs blocks side by side.
    _parallel.accumulate_stats(kernels.accumulate_stats, block, sample_weight, row_label,
                               component_class, means, prec_chol, log_norm, shift, stats,
                               threads=1)
    return stats, -1


def _merge_stats(covariance_type, *parts):
    """Sum of the children's statistics, in order (inputs are not modified)."""
    total = Stats(covariance_type, *parts[0][0].s1.shape)
    for stats, _ in parts:
        total.add(stats)
    bad = [row for _, row in parts if row >= 0]
    return total, (min(bad) if bad else -1)


def _first_bad_row(block, start):
    bad = first_nonfinite_row(block)
    return start + bad if bad >= 0 else -1


def _progress_callback(verbose, n_rows, rows_of_key):
    """At verbose >= 2, per-block progress for the local schedulers (a
    ``dask.distributed`` cluster reports on its own dashboard instead)."""
    import contextlib

    if verbose < 2:
        return contextlib.nullcontext()
    from dask.callbacks import Callback

    progress = ChunkProgress(verbose, n_rows, "dask pass")
    done = {"blocks": 0, "rows": 0}

    def posttask(key, result, dsk, state, worker_id):
        n = rows_of_key.get(key)
        if n is not None:
            done["blocks"] += 1
            done["rows"] += n
            progress.update(done["rows"], done["blocks"], len(rows_of_key))

    return Callback(posttask=posttask)


# ---------------------------------------------------------------- predict
def lazy_predict(est, X, kind):
    """Lazy per-row outputs of a fitted estimator on a checked dask X.

    kind: 'labels' (int64), 'proba' (float64, n_components columns) or
    'score_samples' (float64).
    """
    require_dask()
    params = est._current_parameters()
    shared = (est.covariance_type, type(est).__name__, params.means, params.prec_chol,
              params.log_norm())
    n_components = params.means.shape[0]
    if kind == "proba":
        return X.map_blocks(_block_predict, shared=shared, kind=kind, dtype=np.float64,
                            chunks=(X.chunks[0], (n_components,)),
                            meta=np.empty((0, 0), dtype=np.float64))
    dtype = np.int64 if kind == "labels" else np.float64
    return X.map_blocks(_block_predict, shared=shared, kind=kind, dtype=dtype, drop_axis=1,
                        meta=np.empty((0,), dtype=dtype))


def _block_predict(block, shared=None, kind=None, block_info=None):
    from .mixture import _logsumexp_rows

    covariance_type, estimator_name, means, prec_chol, log_norm = shared
    start = block_info[0]["array-location"][0][0] if block_info else 0
    # Lazy outputs: the error names the first bad row of this block.
    check_finite_rows(block, start, "X", estimator_name)
    kernels = importlib.import_module(f"fastem._kernels.{covariance_type}")
    wlp = np.empty((block.shape[0], means.shape[0]))
    _parallel.weighted_log_prob(kernels.weighted_log_prob, block, means, prec_chol, log_norm,
                                wlp, threads=1)
    if kind == "labels":
        return wlp.argmax(axis=1).astype(np.int64)
    log_density = _logsumexp_rows(wlp)
    if kind == "score_samples":
        return log_density
    return np.exp(wlp - log_density[:, None])
