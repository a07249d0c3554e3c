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

Predict. ``predict``/``predict_proba``/``score_samples`` map the estimator's
per-row function (the ``weighted_log_prob`` kernel on the worker's own thread)
over the blocks and return lazy dask arrays.
"""
import importlib

import numpy as np

from . import _parallel
from ._chunks import ChunkProgress
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
    """The row source of a checked dask X (see ``fastem._sources``).

    For fitting, X is persisted once, on the first pass or gathering (into the
    workers' memory with a ``dask.distributed`` Client, into this process with
    the local schedulers); per-row outputs stay lazy.
    """

    def __init__(self, X, estimator_name="GaussianMixture", verbose=0):
        require_dask()
        self.array = X
        self.shape = tuple(int(n) for n in X.shape)
        self.n_samples, self.n_features = self.shape
        self.dtype = X.dtype
        self.estimator_name = estimator_name
        self.verbose = verbose
        self.checked = False  # NaN/inf: by the first pass over the blocks
        self.block_rows = tuple(int(n) for n in X.chunks[0])
        self.starts = np.concatenate([[0], np.cumsum(self.block_rows)]).astype(np.int64)
        self._blocks = None
        self._gathered = None
        self._per_row = {}

    @property
    def blocks(self):
        """The persisted blocks, as delayed objects (persisted on first use)."""
        return self._persisted()[1]

    def _persisted(self):
        """(X persisted, its blocks): what every fit-time read uses, so that X is
        computed once per fit, whatever reads it first."""
        if self._blocks is None:
            self.array = self.array.persist()
            self._blocks = self.array.to_delayed().ravel().tolist()
        return self.array, self._blocks

    # ----------------------------------------------------------- gathering
    def all_rows(self):
        """All rows, in memory and checked (computed once per source)."""
        if self._gathered is None:
            rows = np.ascontiguousarray(self._persisted()[0].compute())
            check_finite(rows, "X", self.estimator_name)
            self._gathered = rows
            self.checked = True
        return self._gathered

    def take(self, indices):
        """The rows at sorted ``indices``, in memory and checked."""
        rows = np.ascontiguousarray(self._persisted()[0][indices].compute())
        if first_nonfinite_row(rows) >= 0:
            self.check_all()  # name the first bad row of X, not of the sample
        return rows

    def one_partition(self):
        return None  # a dask X is fitted blockwise, however small

    def rows_between(self, start, stop):
        rows = np.ascontiguousarray(self._persisted()[0][start:stop].compute())
        if not self.checked:
            check_finite_rows(rows, start, "X", self.estimator_name)
        return rows

    def check_all(self):
        """Raise the NaN/inf error naming the first bad row of X (if there is one)."""
        if self.checked:
            return
        dask, _ = require_dask()
        firsts = dask.compute(*[dask.delayed(_first_bad_row, pure=True)(block, int(start))
                                for block, start in zip(self.blocks, self.starts)])
        bad = [row for row in firsts if row >= 0]
        if bad:
            row = min(bad)
            check_finite_rows(self.array[row:row + 1].compute(), row, "X", self.estimator_name)
        self.checked = True

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
    def stats_pass(self, job, sample_weight, row_label):
        """One EM statistics pass: a map over the blocks, a tree sum, one compute."""
        dask, _ = require_dask()
        delayed = dask.delayed
        shared = delayed(tuple(job), pure=True, traverse=False)
        weights = self.per_row_blocks(sample_weight)
        labels = self.per_row_blocks(row_label)
        check_rows = not self.checked
        parts = [delayed(_block_stats, pure=True)(block, w, lab, int(start), shared,
                                                  check_rows)
                 for block, w, lab, start in zip(self.blocks, weights, labels, self.starts)]
        root = parts
        while len(root) > 1:
            root = [delayed(_merge_stats, pure=True)(job.covariance_type,
                                                     *root[i:i + SPLIT_EVERY])
                    for i in range(0, len(root), SPLIT_EVERY)]
        rows_of_key = {part.key: n for part, n in zip(parts, self.block_rows)}
        with _progress_callback(self.verbose, self.shape[0], rows_of_key):
            stats, bad_row = dask.compute(root[0])[0]
        if bad_row >= 0:
            check_finite_rows(self.array[bad_row:bad_row + 1].compute(), bad_row, "X",
                              self.estimator_name)
        self.checked = True
        return stats

    # ------------------------------------------------------------- per row
    def map_rows(self, fn, dtype, n_columns=None, out=None, row_bytes=0):
        """Lazy per-row outputs: ``fn`` maps over the blocks on the workers' own
        threads (no thread pool inside a scheduler's threads)."""
        if out is not None:
            raise TypeError("out= is not supported for dask input: predict returns a "
                            "lazy dask array; store it with dask.array.store.")
        dtype = np.dtype(dtype)
        kwargs = dict(fn=fn, estimator_name=self.estimator_name, out_dtype=dtype, dtype=dtype,
                      meta=np.empty((0,) if n_columns is None else (0, 0), dtype=dtype))
        if n_columns is None:
            return self.array.map_blocks(_block_outputs, drop_axis=1, **kwargs)
        return self.array.map_blocks(_block_outputs, chunks=(self.array.chunks[0],
                                                             (n_columns,)), **kwargs)

    def sum_rows(self, fn, row_bytes=0):
        return float(self.map_rows(fn, np.float64).sum().compute())


def _block_stats(block, sample_weight, row_label, start, shared, check_rows):
    """(statistics of one block, first NaN/inf row of X in it or -1)."""
    (covariance_type, n_components, means, prec_chol, log_norm, shift,
     component_class) = shared  # a PassJob, sent as a plain tuple
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


def _block_outputs(block, fn=None, estimator_name=None, out_dtype=None, block_info=None):
    """``fn`` on one block, on the worker's own thread; the NaN/inf error of a lazy
    output names the first bad row of X in this block."""
    start = block_info[0]["array-location"][0][0] if block_info else 0
    check_finite_rows(block, start, "X", estimator_name)
    return np.asarray(fn(block, threads=1), dtype=out_dtype)
