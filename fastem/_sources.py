"""Row sources: one interface to the rows of X, whatever holds them.

Estimators and the EM loop never test the type of X. ``row_source`` checks X
in scikit-learn's words and wraps it in a source:

* ``ArrayRows``: an in-memory ndarray (one piece), or a memory-mapped array
  (``np.memmap``, ``np.load(..., mmap_mode='r')``) read in place in chunks of
  whole partitions, its NaN/inf checked chunk by chunk during the first pass;
* ``fastem._dask.DaskRows``: a dask array, fitted as a map over its blocks and
  a tree reduction, predicted lazily.

Every source has ``shape``, ``n_samples``, ``n_features``, ``dtype``,
``checked`` (every row has been checked for NaN/inf) and

``stats_pass(job, sample_weight, row_label)``
    One fused pass of the kernels (``_stats.PassJob``) over all rows: a ``Stats``.
``map_rows(fn, dtype, n_columns=None, out=None, row_bytes=0)``
    Per-row outputs ``fn(rows, threads=None)`` chunk by chunk (``row_bytes``: the
    temporaries per row, which bound the chunk); a dask source returns a lazy
    dask array.
``sum_rows(fn, row_bytes=0)``
    The sum of ``fn(rows)`` over all rows, as a float.
``one_partition()``
    The rows in memory when they are checked and fit one partition, else None.
``all_rows()`` / ``take(indices)``
    All rows / the rows at sorted indices, in memory and checked.
``rows_between(start, stop)``
    Rows start..stop (checked unless X was); a caller that has read every
    row this way may then set ``checked``.
``check_all()``
    Raise on the first NaN/inf row of X, unless every row was checked.

A chunked pass folds exactly the partitions of an in-memory pass, in the same
order, so a memory-mapped fit is bitwise the in-memory fit.
"""
import numpy as np

from . import _parallel
from ._chunks import ChunkProgress, n_chunks_of, readonly, row_chunks
from ._config import PARTITION_ROWS
from ._dask import DaskRows, check_dask_array
from ._interrupt import kernel_module
from ._stats import Stats
from ._validation import check_array, check_finite, check_finite_rows, first_nonfinite_row

_NO_ROWS = np.empty(0)


def _is_dask(X):
    return type(X).__module__.split(".")[0] == "dask"


def row_source(X, estimator_name, *, chunk_size=None, verbose=0, ensure_min_samples=1):
    """X checked (before any heavy work) and wrapped in its row source."""
    if _is_dask(X):
        return DaskRows(check_dask_array(X, estimator_name,
                                         ensure_min_samples=ensure_min_samples),
                        estimator_name, verbose)
    checked_in_place = not isinstance(X, np.memmap)  # check_array leaves memmaps to a pass
    X = check_array(X, estimator_name, ensure_min_samples=ensure_min_samples)
    return ArrayRows(X, estimator_name, chunk_size=chunk_size, verbose=verbose,
                     chunked=not checked_in_place or chunk_size is not None,
                     checked=checked_in_place)


def in_memory(rows, estimator_name="GaussianMixture"):
    """A source over a checked in-memory array (an initialisation sample, a batch)."""
    return ArrayRows(rows, estimator_name)


class ArrayRows:
    """Rows of an ndarray: one piece, or chunks of whole partitions when ``chunked``
    (memory-mapped input, or a ``chunk_size`` given)."""

    def __init__(self, X, estimator_name, *, chunk_size=None, verbose=0, chunked=False,
                 checked=True):
        self.X = X
        self.shape = X.shape
        self.n_samples, self.n_features = X.shape
        self.dtype = X.dtype
        self.estimator_name = estimator_name
        self.chunk_size = chunk_size
        self.verbose = verbose
        self.chunked = chunked
        self.checked = checked

    def _chunks(self, what, row_bytes=0):
        """(start, stop, rows) of each chunk, each checked for NaN/inf unless X was."""
        if not self.chunked:
            yield 0, self.n_samples, readonly(self.X)
            return
        n_chunks = n_chunks_of(self.X, self.chunk_size, row_bytes)
        progress = ChunkProgress(self.verbose, self.n_samples, what)
        for index, (start, stop, rows) in enumerate(
                row_chunks(self.X, self.chunk_size, row_bytes)):
            if not self.checked:
                check_finite_rows(rows, start, "X", self.estimator_name)
            yield start, stop, rows
            progress.update(stop, index + 1, n_chunks)

    def stats_pass(self, job, sample_weight, row_label):
        kernel = kernel_module(job.covariance_type).accumulate_stats
        stats = Stats(job.covariance_type, job.n_components, self.n_features)
        for start, stop, rows in self._chunks("EM pass"):
            _parallel.accumulate_stats(
                kernel, rows, sample_weight[start:stop] if sample_weight.shape[0] else _NO_ROWS,
                row_label[start:stop] if row_label.shape[0] else row_label,
                job.component_class, job.means, job.prec_chol, job.log_norm, job.shift, stats)
        self.checked = True
        return stats

    def map_rows(self, fn, dtype, n_columns=None, out=None, row_bytes=0):
        if out is None:
            shape = (self.n_samples,) if n_columns is None else (self.n_samples, n_columns)
            out = np.empty(shape, dtype=dtype)
        for start, stop, rows in self._chunks("predict pass", row_bytes):
            out[start:stop] = fn(rows)
        return out

    def sum_rows(self, fn, row_bytes=0):
        return float(sum(fn(rows).sum() for _, _, rows in self._chunks("pass", row_bytes)))

    def all_rows(self):
        if not self.checked:
            check_finite(self.X, "X", self.estimator_name)  # chunked: no copy
            self.checked = True
        return readonly(self.X)

    def take(self, indices):
        rows = np.ascontiguousarray(self.X[indices])
        if not self.checked and first_nonfinite_row(rows) >= 0:
            self.check_all()  # name the first bad row of X, not of the sample
        return rows

    def one_partition(self):
        """The rows, if they are in memory, checked and at most one partition (the
        EM loop of such small data runs compiled in one call); else None."""
        if self.chunked or not self.checked or self.n_samples > PARTITION_ROWS:
            return None
        return readonly(self.X)

    def rows_between(self, start, stop):
        rows = self.X[start:stop]  # a memory-mapped X: a view, read when indexed
        if not self.checked:
            check_finite_rows(rows, start, "X", self.estimator_name)
        return rows

    def check_all(self):
        if not self.checked:
            check_finite(self.X, "X", self.estimator_name)
            self.checked = True
