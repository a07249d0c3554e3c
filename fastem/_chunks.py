"""Chunks of rows: sizes, the chunk iterator of a pass, and progress lines.

Chunks start at multiples of PARTITION_ROWS, so a chunked pass folds exactly
the partitions of an in-memory pass, in the same order: same bits.
"""
import math
import sys
import time

import numpy as np

from ._config import CHUNK_ROWS, PARTITION_ROWS

DEFAULT_CHUNK_BYTES = 64 * 2**20

# verbose=2: a pass over many chunks prints a progress line at most this often.
PROGRESS_SECONDS = 1.0


def chunk_rows_for(X, chunk_size=None, out_row_bytes=0):
    """Rows per chunk: ``chunk_size`` rows (int) or bytes (str like '64MB'), rounded
    down to a multiple of PARTITION_ROWS (at least one partition).

    The default is CHUNK_ROWS rows (64 partitions: enough for every core), fewer
    when a chunk of X, or the per-chunk temporaries of ``out_row_bytes`` per row
    (prediction: rows x n_components floats), would exceed DEFAULT_CHUNK_BYTES.
    A chunk of a memory-mapped file is page cache, not process memory; the
    temporaries are what the chunk size bounds.
    """
    if chunk_size is None:
        row_bytes = max(1, X.shape[1] * X.dtype.itemsize, out_row_bytes)
        rows = min(CHUNK_ROWS, DEFAULT_CHUNK_BYTES // row_bytes)
    elif isinstance(chunk_size, str):
        rows = parse_bytes(chunk_size) // max(1, X.shape[1] * X.dtype.itemsize)
    else:
        rows = int(chunk_size)
    return max(PARTITION_ROWS, (rows // PARTITION_ROWS) * PARTITION_ROWS)


def parse_bytes(text):
    """Bytes in a size like '64MB' or '1.5GiB': a finite number of at least one byte."""
    units = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9,
             "kib": 2**10, "mib": 2**20, "gib": 2**30}
    s = text.strip().lower().replace(" ", "")
    for unit in sorted(units, key=len, reverse=True):
        if s.endswith(unit):
            try:
                value = float(s[: -len(unit)]) * units[unit]
            except ValueError:
                break
            if not (math.isfinite(value) and value >= 1):  # 'infMB', 'nanMB', '1e400MB'
                break
            return int(value)
    raise ValueError(f"chunk_size {text!r} is not a row count or a size like '64MB' "
                     "(a finite number of at least one byte).")


def readonly(X):
    """A read-only view: kernels then see one array type whatever the caller's flags,
    so read-only memmaps and writable arrays share one compiled specialisation."""
    view = X.view(np.ndarray)
    view.flags.writeable = False
    return view


def row_chunks(X, chunk_size=None, out_row_bytes=0):
    """Yield (start, stop, rows) covering X in chunks of ``chunk_rows_for`` rows
    (read-only views: a chunk of a memory-mapped file is read, never copied)."""
    n = X.shape[0]
    step = chunk_rows_for(X, chunk_size, out_row_bytes)
    for start in range(0, n, step):
        stop = min(n, start + step)
        yield start, stop, readonly(X[start:stop])


class ChunkProgress:
    """Per-chunk progress of one long pass, printed at ``verbose >= 2``.

    A line at most every PROGRESS_SECONDS, so short passes stay quiet and a
    pass over a large file or dask array shows how far it has got.
    """

    def __init__(self, verbose, n_rows, what="pass"):
        self.enabled = verbose >= 2
        self.n_rows = n_rows
        self.what = what
        self.started = self.last = time.perf_counter()

    def update(self, rows_done, chunks_done, n_chunks):
        if not self.enabled or n_chunks < 2:
            return
        now = time.perf_counter()
        due = now - self.last >= PROGRESS_SECONDS
        # Once a line was printed, the last chunk prints too (the pass's 100 %).
        closing = chunks_done == n_chunks and self.last != self.started
        if not (due or closing):
            return
        self.last = now
        elapsed = now - self.started
        print(f"    {self.what}: chunk {chunks_done}/{n_chunks}, {rows_done}/{self.n_rows} "
              f"rows ({100.0 * rows_done / max(1, self.n_rows):.0f}%), "
              f"{elapsed:.1f}s elapsed")
        sys.stdout.flush()


def n_chunks_of(X, chunk_size=None, out_row_bytes=0):
    """Number of pieces ``row_chunks`` yields for X."""
    return max(1, -(-X.shape[0] // chunk_rows_for(X, chunk_size, out_row_bytes)))
