"""Kernels for ``covariance_type='spherical'``: one precision Cholesky 1/sigma per component, (K,).

Statistics per component k, centred on the current mean mu_k:
``nk[k] = sum w r``, ``s1[k] = sum w r (x - mu_k)`` (K, D),
``s2[k] = sum w r |x - mu_k|^2`` (K,).

The pass is the 'diag' one (see fastem._kernels.diag) with the same precision
for every feature; its per-feature second moments are summed at the end.
"""
import numpy as np
from numba import njit

from .._config import FASTMATH
from .diag import _accumulate_per_feature, _log_prob_per_feature


@njit(cache=True, fastmath=FASTMATH)
def _per_feature(prec_chol, n_features):
    scale = np.empty((prec_chol.shape[0], n_features))
    for k in range(prec_chol.shape[0]):
        scale[k, :] = prec_chol[k]
    return scale


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def accumulate_stats(X, sample_weight, row_label, component_class, means,
                     prec_chol, log_norm, shift, nk, s1, s2):
    n_components, n_features = means.shape
    s2_per_feature = np.empty((n_components, n_features))
    log_lik = _accumulate_per_feature(X, sample_weight, row_label, component_class, means,
                                      _per_feature(prec_chol, n_features), log_norm, nk, s1,
                                      s2_per_feature)
    for k in range(n_components):
        s2[k] = s2_per_feature[k].sum()
    return log_lik


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def weighted_log_prob(X, means, prec_chol, log_norm, out):
    _log_prob_per_feature(X, means, _per_feature(prec_chol, means.shape[1]), log_norm, out)
