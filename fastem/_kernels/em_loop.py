"""The whole EM loop of a small fit in one compiled call.

For X of at most ``PARTITION_ROWS`` rows (one partition) the Python round trip
of each EM iteration (statistics buffers, log_norm, the kernel call, the M-step
call, the bound, the convergence test) costs more than the pass itself: on
iris (150 x 4) most of a fit. ``run`` makes those iterations in one compiled
call, with the same pieces as the Python loop of ``_base.BaseMixture._iterate``:

* the covariance module's ``accumulate_stats`` on all rows (one partition, as
  ``fastem._parallel`` runs it for such X);
* the compiled M-step of ``fastem._kernels.mstep``;
* ``log_norm_<type>`` and ``shift`` below, which ARE the driver's arithmetic
  (``_stats.Params`` calls them): NumPy's own ``log`` (SIMD) and ``w @ means``
  (BLAS) round differently from compiled code, so a twin could not give the
  same bits.

A fit through ``run`` is therefore the Python loop's, bit for bit. Nothing here
uses fastmath: the order of every sum is the order written.

``run`` stops early at an iteration it cannot finish the way the Python loop
does (the bound is not finite, or an M-step factorisation fails: the Python
loop then raises its error naming the component, or its NumPy fallback copes
with a rounding-level tie); it returns the parameters from before that
iteration, and the Python loop redoes the iteration from there.
"""
import math

import numpy as np
from numba import njit

from .._parallel import params_array, rows_view
from . import diag as _diag
from . import full as _full
from . import mstep
from . import spherical as _spherical
from . import tied as _tied

LOG_2PI = math.log(2 * math.pi)

# What ``run`` reports.
CONVERGED, MAX_ITER, HANDED_BACK = 0, 1, 2


@njit(cache=True)
def _log_norm(weights, log_det, n_features):
    """log(weight_k) + log det(U_k) - D/2 log(2 pi): the constant of each row log-prob."""
    half_d_log_2pi = 0.5 * n_features * LOG_2PI
    out = np.empty(weights.shape[0])
    for k in range(weights.shape[0]):
        out[k] = np.log(weights[k]) + log_det[k] - half_d_log_2pi  # log(0) = -inf: empty
    return out


@njit(cache=True)
def log_norm_full(weights, means, prec_chol):
    n_components, n_features = means.shape
    log_det = np.zeros(n_components)
    for k in range(n_components):
        for d in range(n_features):
            log_det[k] += np.log(prec_chol[k, d, d])
    return _log_norm(weights, log_det, n_features)


@njit(cache=True)
def log_norm_tied(weights, means, prec_chol):
    n_components, n_features = means.shape
    shared = 0.0
    for d in range(n_features):
        shared += np.log(prec_chol[d, d])
    return _log_norm(weights, np.full(n_components, shared), n_features)


@njit(cache=True)
def log_norm_diag(weights, means, prec_chol):
    n_components, n_features = means.shape
    log_det = np.zeros(n_components)
    for k in range(n_components):
        for d in range(n_features):
            log_det[k] += np.log(prec_chol[k, d])
    return _log_norm(weights, log_det, n_features)


@njit(cache=True)
def log_norm_spherical(weights, means, prec_chol):
    n_components, n_features = means.shape
    log_det = np.empty(n_components)
    for k in range(n_components):
        log_det[k] = n_features * np.log(prec_chol[k])
    return _log_norm(weights, log_det, n_features)


@njit(cache=True)
def shift(weights, means):
    """Centre of the tied statistics: the weighted centre of the means."""
    n_components, n_features = means.shape
    total = 0.0
    for k in range(n_components):
        total += weights[k]
    out = np.zeros(n_features)
    for k in range(n_components):
        w = weights[k] / total
        for d in range(n_features):
            out[d] += w * means[k, d]
    return out


# inline="always": each per-type entry point below compiles this body with its own
# kernel, M-step and log_norm. Called as a function, it would take them as
# first-class function arguments, and numba then silently never caches the caller
# (a full recompile, about a second, in every process).
@njit(inline="always")
def _iterate(accumulate_stats, m_step, log_norm, is_tied, X, sample_weight, row_label,
             component_class, weights, means, covariances, prec_chol, s2, reg_covar, tol,
             max_iter, total_weight, lower_bound):
    """The EM iterations (see the module docstring); s2 and covariances: buffers of the
    covariance type's shapes (covariances is returned as is if no iteration finishes)."""
    n_components, n_features = means.shape
    nk = np.empty(n_components)
    s1 = np.empty((n_components, n_features))
    no_shift = np.empty(0)
    lower_bounds = np.empty(max(max_iter, 0))
    status = MAX_ITER
    n_done = 0
    for _ in range(max_iter):
        centre = shift(weights, means) if is_tied else no_shift
        log_lik = accumulate_stats(X, sample_weight, row_label, component_class, means,
                                   prec_chol, log_norm(weights, means, prec_chol), centre,
                                   nk, s1, s2)
        bound = log_lik / total_weight
        if not np.isfinite(bound):
            status = HANDED_BACK
            break
        ok, new_weights, new_means, new_covariances, new_prec_chol = m_step(
            nk, s1, s2, means, centre, reg_covar)
        if not ok:
            status = HANDED_BACK
            break
        weights, means, covariances, prec_chol = (new_weights, new_means, new_covariances,
                                                  new_prec_chol)
        lower_bounds[n_done] = bound
        n_done += 1
        change = bound - lower_bound
        lower_bound = bound
        if abs(change) < tol:
            status = CONVERGED
            break
    return status, lower_bounds[:n_done], weights, means, covariances, prec_chol


# One cached entry point per covariance type.
@njit(nogil=True, cache=True)
def full(X, sample_weight, row_label, component_class, weights, means, prec_chol,
         reg_covar, tol, max_iter, total_weight, lower_bound):
    k, d = means.shape
    return _iterate(_full.accumulate_stats, mstep.full, log_norm_full, False, X, sample_weight,
                    row_label, component_class, weights, means, np.zeros((k, d, d)),
                    prec_chol, np.empty((k, d, d)), reg_covar, tol, max_iter, total_weight,
                    lower_bound)


@njit(nogil=True, cache=True)
def tied(X, sample_weight, row_label, component_class, weights, means, prec_chol,
         reg_covar, tol, max_iter, total_weight, lower_bound):
    d = means.shape[1]
    return _iterate(_tied.accumulate_stats, mstep.tied, log_norm_tied, True, X, sample_weight,
                    row_label, component_class, weights, means, np.zeros((d, d)), prec_chol,
                    np.empty((d, d)), reg_covar, tol, max_iter, total_weight, lower_bound)


@njit(nogil=True, cache=True)
def diag(X, sample_weight, row_label, component_class, weights, means, prec_chol,
         reg_covar, tol, max_iter, total_weight, lower_bound):
    k, d = means.shape
    return _iterate(_diag.accumulate_stats, mstep.diag, log_norm_diag, False, X, sample_weight,
                    row_label, component_class, weights, means, np.zeros((k, d)), prec_chol,
                    np.empty((k, d)), reg_covar, tol, max_iter, total_weight, lower_bound)


@njit(nogil=True, cache=True)
def spherical(X, sample_weight, row_label, component_class, weights, means, prec_chol,
              reg_covar, tol, max_iter, total_weight, lower_bound):
    k = means.shape[0]
    return _iterate(_spherical.accumulate_stats, mstep.spherical, log_norm_spherical, False, X,
                    sample_weight, row_label, component_class, weights, means, np.zeros(k),
                    prec_chol, np.empty(k), reg_covar, tol, max_iter, total_weight,
                    lower_bound)


LOG_NORM = {"full": log_norm_full, "tied": log_norm_tied, "diag": log_norm_diag,
            "spherical": log_norm_spherical}
_LOOPS = {"full": full, "tied": tied, "diag": diag, "spherical": spherical}


# log(0) = -inf of an empty component is expected: compiled code does not warn about it,
# and NumPy (NUMBA_DISABLE_JIT=1) must not either.
_EMPTY_COMPONENTS_OK = dict(divide="ignore")


def log_norm(covariance_type, weights, means, prec_chol):
    """``_stats.Params.log_norm``: one float64 array per call, whatever the inputs' flags."""
    with np.errstate(**_EMPTY_COMPONENTS_OK):
        return LOG_NORM[covariance_type](params_array(weights), params_array(means),
                                         params_array(prec_chol))


def weighted_centre(weights, means):
    """``_stats.Params.shift``."""
    return shift(params_array(weights), params_array(means))


def run(covariance_type, X, sample_weight, row_label, component_class, weights, means,
        prec_chol, reg_covar, tol, max_iter, total_weight, lower_bound):
    """Up to ``max_iter`` EM iterations from (weights, means, prec_chol), all in one call.

    X: a checked in-memory array of at most PARTITION_ROWS rows; sample_weight and
    row_label: per-row arrays or empty (all ones / none known); lower_bound: the
    bound before the first iteration (-inf for a fresh start).

    Returns (status, lower_bounds, weights, means, covariances, prec_chol):
    ``lower_bounds`` of the finished iterations (a list of floats), the parameters
    after the last of them; status CONVERGED, MAX_ITER or HANDED_BACK (the next
    iteration could not be finished here: redo it in Python from these parameters;
    ``covariances`` is then None if no iteration finished).
    """
    with np.errstate(**_EMPTY_COMPONENTS_OK):
        status, bounds, weights, means, covariances, prec_chol = _LOOPS[covariance_type](
            rows_view(X), rows_view(sample_weight, np.float64), rows_view(row_label, np.int64),
            params_array(component_class, np.int64), params_array(weights),
            params_array(means), params_array(prec_chol), float(reg_covar), float(tol),
            int(max_iter), float(total_weight), float(lower_bound))
    if bounds.shape[0] == 0:
        covariances = None
    return status, bounds.tolist(), weights, means, covariances, prec_chol
