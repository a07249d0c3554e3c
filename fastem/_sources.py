"""Where rows come from: an in-memory array in one piece, or a memory-mapped file in chunks.

Chunks start at multiples of PARTITION_ROWS, so a chunked pass folds exactly
the partitions of an in-memory pass, in the same order: same bits.
"""
import numpy as np

from ._config import CHUNK_ROWS, PARTITION_ROWS


def chunk_rows_for(X, chunk_size=None):
    """Rows per chunk: ``chunk_size`` rows (int) or bytes (str like '64MB'), rounded
    to a multiple of PARTITION_ROWS; by default CHUNK_ROWS."""
    if chunk_size is None:
        rows = CHUNK_ROWS
    elif isinstance(chunk_size, str):
        rows = parse_bytes(chunk_size) // max(1, X.shape[1] * X.dtype.itemsize)
    else:
        rows = int(chunk_size)
    return max(PARTITION_ROWS, (rows // PARTITION_ROWS) * PARTITION_ROWS)


def parse_bytes(text):
    units = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9,
             "kib": 2**10, "mib": 2**20, "gib": 2**30}
    s = text.strip().lower().replace(" ", "")
    for unit in sorted(units, key=len, reverse=True):
        if s.endswith(unit):
            number = s[: -len(unit)]
            try:
                value = float(number)
            except ValueError:
                break
            if value <= 0:
                break
            return int(value * units[unit])
    raise ValueError(f"chunk_size {text!r} is not a row count or a size like '64MB'.")


def readonly(X):
    """A read-only view: kernels then see one array type whatever the caller's flags,
    so read-only memmaps and writable arrays share one compiled specialisation."""
    view = X.view(np.ndarray)
    view.flags.writeable = False
    return view


def row_chunks(X, chunk_size=None):
    """Yield (start, stop, rows) covering X; one piece unless X is memory-mapped."""
    n = X.shape[0]
    if not isinstance(X, np.memmap) and chunk_size is None:
        yield 0, n, readonly(X)
        return
    step = chunk_rows_for(X, chunk_size)
    for start in range(0, n, step):
        stop = min(n, start + step)
        yield start, stop, readonly(X[start:stop])
