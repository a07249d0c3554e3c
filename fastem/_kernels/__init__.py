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
    ('full' computes float32 X's products in float32 on rows centred in
    float64, adding short float32 sums into the float64 totals.)

``weighted_log_prob(X, means, prec_chol, log_norm, out)``
    ``out[i, k] = log(weight_k) + log N(x_i | mean_k, cov_k)`` for prediction.
"""
