"""Compile flags and default sizes shared by the kernels and the driver.

Everything here is read once, at import. Environment overrides exist for
experiments; the defaults are what the tests and benchmarks use.
"""
import os

# The package version (also in pyproject.toml); here so that modules that write it
# (model files, the CLI) need not import the package that imports them.
VERSION = "0.1.0"

# LLVM fast-math flags for the kernels. Never 'nnan'/'ninf': a mixture has
# legitimate -inf log-weights (empty or clamped-out components).
# 'reassoc' lets LLVM vectorise reductions; the result still depends only on
# the compiled code and the row partition, never on the thread count.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

# For the few loops whose written order matters: centring on a mean split into a
# rounded part and a rest, (x - m) - l, which reassociation would fold into
# x - (m + l) = x - m. They need no reassociation to vectorise (no reductions).
ORDERED_FASTMATH = FASTMATH - {"reassoc"}

# Rows per partition: the unit of work of one kernel call on one thread (see
# fastem._parallel). Partitions are fixed by this number alone (not by the
# thread count), and partition statistics are folded in index order, so
# results are bitwise identical for any number of threads.
PARTITION_ROWS = int(os.environ.get("FASTEM_PARTITION_ROWS", 4096))

# Rows per chunk for predict/score passes that return per-row outputs, and the
# default chunk for memory-mapped input. Chunk sizes are multiples of
# PARTITION_ROWS so a chunked pass folds the same partitions as an in-memory one.
CHUNK_ROWS = int(os.environ.get("FASTEM_CHUNK_ROWS", 64 * PARTITION_ROWS))
