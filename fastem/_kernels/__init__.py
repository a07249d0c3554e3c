"""Numba kernels, one module per covariance type with the same function names.

Importing this package compiles nothing: every kernel is ``cache=True`` and
compiled lazily on first call (then loaded from the on-disk cache).

Each covariance module provides

``accumulate_stats(X, sample_weight, row_label, component_class, means,
prec_chol, log_norm, shift, part_rows, log_lik, nk, s1, s2)``
    The fused E/M pass: for every row the weighted log-probabilities, the row
    log-sum-exp, the responsibilities and the sufficient statistics of the next
    M-step, accumulated in float64 per fixed row partition and folded in
    partition order onto the running totals nk, s1, s2 (updated in place).
    Returns log_lik plus the weighted log-likelihood of these rows.

``weighted_log_prob(X, means, prec_chol, log_norm, out)``
    ``out[i, k] = log(weight_k) + log N(x_i | mean_k, cov_k)`` for prediction.
"""
