"""How partitions run: the one place that decides threads.

Every compiled kernel is serial and ``nogil``; it handles the rows it is given
(one partition) and nothing else. This module splits rows into fixed
partitions of ``PARTITION_ROWS`` (a rule on the row count only), runs the
kernel on each partition and, for statistics, folds the partition results
onto the running totals in partition index order on the calling thread. The
sums are therefore the same bits for any thread count, and a memory-mapped X
read in chunks of whole partitions gives the bits of the in-memory pass.

Threads. Partitions run on a ``ThreadPoolExecutor`` owned by fastem, created
on first use with ``get_num_threads()`` workers:

1. ``set_num_threads(n)`` if called (``set_num_threads(None)`` goes back to 2.);
2. else the environment variable ``FASTEM_NUM_THREADS``;
3. else ``NUMBA_NUM_THREADS`` (for users who already set it);
4. else the CPUs this process may run on (``os.sched_getaffinity``).

With one thread, or rows that fit one partition, everything runs inline on
the calling thread: no pool, no wake-up cost. Waiting is blocking (futures
and locks), never spinning, so idle fastem threads take no CPU from other
processes. Numba's own threading layers are not used at all, so any layer
Numba picks (omp, tbb, workqueue) is safe.

Safety. Several Python threads may fit and predict at once: they share the
pool, each folds only its own partitions. Pool tasks never wait on other
tasks, so a fit called from inside a joblib, dask or any other worker thread
cannot deadlock (a call from one of fastem's own pool threads runs inline).
After ``fork`` the child drops the pool (its threads do not exist there) and
makes a new one on first use.

Memory. A pass holds at most ``2 * threads`` partition results in flight
(``IN_FLIGHT_PER_THREAD``), whatever the number of rows. For a fit that is
``(2 * threads + 1)`` statistics buffers of ``8 * (K + K*D + S)`` bytes, where
S is ``K*D*D`` (full), ``D*D`` (tied), ``K*D`` (diag) or ``K`` (spherical),
plus per-thread scratch for blocks of 128 rows, about ``8 * 128 * (2*K + 2*D)`` bytes
(full: about ``2*K*Dp*128*itemsize + K*Dp*Dp*(8 + itemsize)`` bytes of centred blocks
and moment tiles, Dp = D rounded up to a multiple of 8: 3.1 MB at D=64, K=16 in
float64). Predictions
write into one output chunk of ``rows x K`` float64 (see ``chunk_size``).
"""
import collections
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._config import PARTITION_ROWS

# Partition results waiting to be folded, per thread: enough that a thread
# finishing early finds queued work, few enough that memory does not grow with N.
IN_FLIGHT_PER_THREAD = 2

_lock = threading.Lock()
_pool = None
_pool_threads = 0
_num_threads = None  # set_num_threads override
_local = threading.local()  # .in_pool: this thread is one of fastem's workers


def default_num_threads():
    """Threads used unless set_num_threads was called (see the module docstring)."""
    for name in ("FASTEM_NUM_THREADS", "NUMBA_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value:
            try:
                n = int(value)
            except ValueError:
                raise ValueError(f"{name}={value!r} is not a whole number of threads.") \
                    from None
            if n < 1:
                raise ValueError(f"{name}={value!r} must be at least 1.")
            return n
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def get_num_threads():
    """Number of threads fastem's kernels run on (the calling thread included)."""
    return _num_threads if _num_threads is not None else default_num_threads()


def set_num_threads(n):
    """Set the number of threads fastem's kernels run on, for the whole process.

    ``n=None`` restores the default (``FASTEM_NUM_THREADS``, else
    ``NUMBA_NUM_THREADS``, else the CPUs this process may use). Returns the
    previous setting (an int, or None for the default), so that
    ``previous = set_num_threads(1); ...; set_num_threads(previous)`` restores it.
    Results are bitwise identical for any setting.
    """
    global _num_threads
    if n is not None:
        if isinstance(n, bool) or int(n) != n or n < 1:
            raise ValueError(f"n must be a whole number >= 1 or None, got {n!r}.")
        n = int(n)
    with _lock:
        previous, _num_threads = _num_threads, n
    return previous


def _mark_pool_thread():
    _local.in_pool = True


def _get_pool(n_threads):
    """The shared pool with n_threads workers (replaced when the setting changes;
    callers still using the old one finish on it, its threads then exit)."""
    global _pool, _pool_threads
    with _lock:
        if _pool is None or _pool_threads != n_threads:
            _pool = ThreadPoolExecutor(n_threads, thread_name_prefix="fastem",
                                       initializer=_mark_pool_thread)
            _pool_threads = n_threads
        return _pool


def _forget_pool_after_fork():
    """In a forked child the pool's threads are gone: start afresh on first use."""
    global _pool, _pool_threads, _lock
    _lock = threading.Lock()  # it may have been held by another thread at fork time
    _pool = None
    _pool_threads = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def partition_bounds(n_rows):
    """(start, stop) of each fixed partition of n_rows rows (at least one)."""
    return [(start, min(n_rows, start + PARTITION_ROWS))
            for start in range(0, max(n_rows, 1), PARTITION_ROWS)]


def run_partitions(n_rows, work, fold=None, threads=None):
    """Call ``work(start, stop)`` on every partition, and ``fold(result)`` on the
    results in partition order, on the calling thread.

    ``threads``: at most this many threads (default ``get_num_threads()``);
    1 runs everything inline (dask blocks: the scheduler already runs blocks
    side by side). On an exception or interrupt, queued partitions are
    cancelled and running ones finish before this returns, so no task still
    touches the caller's arrays afterwards.
    """
    if n_rows <= PARTITION_ROWS:  # one partition: inline, no thread count needed
        result = work(0, n_rows)
        if fold is not None:
            fold(result)
        return
    bounds = partition_bounds(n_rows)
    n_threads = get_num_threads() if threads is None else threads
    if n_threads <= 1 or getattr(_local, "in_pool", False):
        for start, stop in bounds:
            result = work(start, stop)
            if fold is not None:
                fold(result)
        return
    pool = _get_pool(n_threads)
    window = IN_FLIGHT_PER_THREAD * n_threads
    pending = collections.deque()
    try:
        for start, stop in bounds:
            if len(pending) >= window:
                result = pending.popleft().result()
                if fold is not None:
                    fold(result)
            pending.append(pool.submit(work, start, stop))
        while pending:
            result = pending.popleft().result()
            if fold is not None:
                fold(result)
    finally:
        for future in pending:
            future.cancel()
        for future in pending:
            if not future.cancelled():
                future.exception()  # waits (blocking) for a running task to end


def rows_view(a, dtype=None):
    """Per-row input (X, weights, labels) as a C-contiguous read-only view, and small
    parameters as C-contiguous writable arrays (``params_array``): each kernel then
    sees one array type per dtype, whatever the caller's flags (one compiled variant)."""
    view = np.ascontiguousarray(a, dtype=dtype).view(np.ndarray)
    view.flags.writeable = False
    return view


def params_array(a, dtype=np.float64):
    a = np.ascontiguousarray(a, dtype=dtype)
    return a if a.flags.writeable else a.copy()


def accumulate_stats(kernel, X, sample_weight, row_label, component_class, means,
                     prec_chol, log_norm, shift, stats, threads=None):
    """Add the statistics of X's rows onto ``stats`` (nk, s1, s2, log_lik), partition
    by partition, folded in partition order. X, sample_weight and row_label are
    checked arrays of X's rows (weights and labels may be empty: all ones, none known)."""
    X = rows_view(X)
    sample_weight = rows_view(sample_weight, np.float64)
    row_label = rows_view(row_label, np.int64)
    params = (params_array(component_class, np.int64), params_array(means),
              params_array(prec_chol), params_array(log_norm), params_array(shift))

    def work(start, stop):
        nk, s1, s2 = np.empty_like(stats.nk), np.empty_like(stats.s1), np.empty_like(stats.s2)
        log_lik = kernel(X[start:stop],
                         sample_weight[start:stop] if sample_weight.shape[0] else sample_weight,
                         row_label[start:stop] if row_label.shape[0] else row_label,
                         *params, nk, s1, s2)
        return log_lik, nk, s1, s2

    def fold(result):
        log_lik, nk, s1, s2 = result
        stats.log_lik += log_lik
        stats.nk += nk
        stats.s1 += s1
        stats.s2 += s2

    run_partitions(X.shape[0], work, fold, threads)


def weighted_log_prob(kernel, X, means, prec_chol, log_norm, out, threads=None):
    """out[i, k] = log w_k + log N(x_i | k) for every row; each partition writes its slice
    (out: a C-contiguous float64 array of X's rows)."""
    X = rows_view(X)
    params = (params_array(means), params_array(prec_chol), params_array(log_norm))

    def work(start, stop):
        kernel(X[start:stop], *params, out[start:stop])

    run_partitions(X.shape[0], work, None, threads)
