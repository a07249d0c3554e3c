"""Numba kernels, one module per covariance type with the same function names.

Importing this package compiles nothing: every kernel is ``cache=True`` and
compiled lazily on first call (then loaded from the on-disk cache).

Every kernel is serial and ``nogil`` and handles exactly the rows it is given:
one partition. ``fastem._parallel`` splits rows into fixed partitions, runs
the kernel on each (on its thread pool, or inline) and folds partition results
in index order. One compiled kernel per job, one specialisation per X dtype.

Each covariance module provides

``accumulate_stats(X, sample_weight, row_label, component_class, means,
prec_chol, log_norm, shift, nk, s1, s2)``
    The fused E/M pass over the rows of X: for every row the weighted
    log-probabilities, the row log-sum-exp, the responsibilities and the
    sufficient statistics of the next M-step, accumulated in float64 into
    nk, s1, s2 (overwritten). Returns the rows' weighted log-likelihood.
    Rows are read in blocks of 128 in X's dtype: float32 X is never converted
    ('full', 'diag', 'spherical' run their products in float32, on rows
    centred on means split into a float32 part and a float64 rest, so that
    data far from the origin stays exact; short float32 sums go into float64
    totals; 'tied' computes in float64). Log-sum-exp is float64.
    Helpers with reassociated sums are ``inline='always'``: a non-inlined one
    gave other bits when loaded from Numba's cache than when freshly compiled.

``weighted_log_prob(X, means, prec_chol, log_norm, out)``
    ``out[i, k] = log(weight_k) + log N(x_i | mean_k, cov_k)`` for prediction.
"""
