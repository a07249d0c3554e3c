"""asv benchmarks for fastem (see ../README.md)."""
