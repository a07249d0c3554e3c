"""Small K x D x D linear algebra of the M-step, in NumPy (no compiled code).

Shapes follow scikit-learn:

==============  ====================  =====================
covariance      covariances_          precisions_cholesky_
==============  ====================  =====================
'full'          (K, D, D)             (K, D, D) upper
'tied'          (D, D)                (D, D) upper
'diag'          (K, D)                (K, D)
'spherical'     (K,)                  (K,)
==============  ====================  =====================

The precision Cholesky U satisfies precision = U U^T, so the Mahalanobis
distance is |(x - mu) U|^2 and log det(precision) / 2 = sum(log diag(U)).
"""
import numpy as np


# scikit-learn's message (``_compute_precision_cholesky``), verbatim; fastem's details follow.
SINGULAR_MESSAGE = (
    "Fitting the mixture model failed because some components have ill-defined empirical "
    "covariance (for instance caused by singleton or collapsed samples). Try to decrease "
    "the number of components, increase reg_covar, or scale the input data.")
FLOAT32_ADVICE = (" The numerical accuracy can also be improved by passing float64 data "
                  "instead of float32.")


def _singular_error(components, covariance_type, reg_covar, dtype):
    message = SINGULAR_MESSAGE + (FLOAT32_ADVICE if dtype == np.float32 else "")
    if covariance_type == "tied":
        where = "the shared (tied) covariance"
    else:
        where = f"component(s) {', '.join(str(k) for k in components)}"
    simpler = {"full": ["'diag'", "'spherical'"], "tied": ["'diag'", "'spherical'"],
               "diag": ["'spherical'"], "spherical": []}[covariance_type]
    message += (f" (fastem: ill-defined: {where}; reg_covar is now {reg_covar:g}"
                + (f"; a simpler covariance_type ({' or '.join(simpler)}) needs fewer rows "
                   "per component.)" if simpler else ".)"))
    return ValueError(message)


def precision_cholesky(covariances, covariance_type, reg_covar=0.0, dtype=np.float64):
    """Upper-triangular U with U U^T = inv(covariance); a clear error if singular."""
    if covariance_type in ("full", "tied"):
        batch = covariances[None] if covariance_type == "tied" else covariances
        try:
            lower = np.linalg.cholesky(batch)
        except np.linalg.LinAlgError:
            bad = []
            for k in range(batch.shape[0]):
                try:
                    np.linalg.cholesky(batch[k])
                except np.linalg.LinAlgError:
                    bad.append(k)
            raise _singular_error(bad, covariance_type, reg_covar, dtype) from None
        eye = np.broadcast_to(np.eye(batch.shape[-1]), batch.shape)
        # inv(L) by triangular solve; its transpose is upper triangular.
        prec_chol = np.swapaxes(np.linalg.solve(lower, eye), -1, -2)
        prec_chol = np.triu(prec_chol)
        return prec_chol[0] if covariance_type == "tied" else prec_chol
    bad_mask = ~(covariances > 0.0)
    if bad_mask.any():
        bad = np.unique(np.nonzero(bad_mask)[0]).tolist()
        raise _singular_error(bad, covariance_type, reg_covar, dtype)
    return 1.0 / np.sqrt(covariances)


def precision_cholesky_from_precisions(precisions, covariance_type):
    """U from the precision matrices (scikit-learn's flip trick: J P J = L L^T, U = J L J)."""
    if covariance_type in ("full", "tied"):
        flipped = np.flip(precisions, axis=(-2, -1))
        return np.flip(np.linalg.cholesky(flipped), axis=(-2, -1))
    return np.sqrt(precisions)


def precisions_from_cholesky(prec_chol, covariance_type):
    if covariance_type in ("full", "tied"):
        return prec_chol @ np.swapaxes(prec_chol, -1, -2)
    return prec_chol ** 2


def covariances_from_cholesky(prec_chol, covariance_type):
    """Covariances from U (used when the start was given as precisions)."""
    if covariance_type in ("full", "tied"):
        inv_u = np.linalg.inv(prec_chol)
        return np.swapaxes(inv_u, -1, -2) @ inv_u
    return 1.0 / prec_chol ** 2


def log_det_cholesky(prec_chol, covariance_type, n_features):
    """log det(U), per component (or one number for 'tied')."""
    if covariance_type == "full":
        return np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return np.log(np.diag(prec_chol)).sum()
    if covariance_type == "diag":
        return np.log(prec_chol).sum(axis=1)
    return n_features * np.log(prec_chol)


def logsumexp_rows(a):
    """log sum exp over the last axis (-inf where every entry is -inf)."""
    top = a.max(axis=-1)
    finite_top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - finite_top[..., None]).sum(axis=-1)) + finite_top
