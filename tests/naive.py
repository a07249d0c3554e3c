"""Slow, obviously correct NumPy oracles, written from the model's equations.

Nothing here imports fastem: each function is the textbook formula, evaluated
the direct way (dense precision matrices, explicit sums over rows), so that a
test comparing fastem against it compares two independent computations.

Notation: w_i = sample weight of row i, r_ik = responsibility of component k
for row i, P_k = precision matrix of component k (P_k = U_k U_k^T for the
upper-triangular precision Cholesky U_k that the estimator stores).
"""
import numpy as np

LOG_2PI = np.log(2.0 * np.pi)
EPS10 = 10 * np.finfo(np.float64).eps  # scikit-learn's guard against empty components

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


# --------------------------------------------------------------- parameters
def upper_precision_cholesky(covariance):
    """U upper triangular with U U^T = inv(covariance): U = inv(L)^T for covariance = L L^T."""
    lower = np.linalg.cholesky(covariance)
    return np.linalg.inv(lower).T


def precision_matrices(prec_chol, covariance_type, n_components, n_features):
    """Dense (K, D, D) precision matrices P_k = U_k U_k^T, whatever the covariance type."""
    prec_chol = np.asarray(prec_chol, dtype=np.float64)
    if covariance_type == "full":
        return np.array([u @ u.T for u in prec_chol])
    if covariance_type == "tied":
        return np.array([prec_chol @ prec_chol.T] * n_components)
    if covariance_type == "diag":
        return np.array([np.diag(u ** 2) for u in prec_chol])
    return np.array([u ** 2 * np.eye(n_features) for u in prec_chol])


def dense_covariances(covariances, covariance_type, n_components, n_features):
    """Dense (K, D, D) covariance matrices from the estimator's storage shapes."""
    covariances = np.asarray(covariances, dtype=np.float64)
    if covariance_type == "full":
        return covariances.copy()
    if covariance_type == "tied":
        return np.array([covariances] * n_components)
    if covariance_type == "diag":
        return np.array([np.diag(c) for c in covariances])
    return np.array([c * np.eye(n_features) for c in covariances])


def random_parameters(covariance_type, n_components, n_features, rng, scale=1.0, centre=0.0):
    """Well-conditioned random (weights, means, covariances, prec_chol) in the estimator's shapes."""
    k, d = n_components, n_features
    weights = rng.dirichlet(np.full(k, 2.0))
    means = centre + scale * rng.normal(size=(k, d)) * 2.0

    def spd():
        a = rng.normal(size=(d, d))
        return scale ** 2 * (a @ a.T / d + 0.5 * np.eye(d))

    if covariance_type == "full":
        covariances = np.array([spd() for _ in range(k)])
        prec_chol = np.array([upper_precision_cholesky(c) for c in covariances])
    elif covariance_type == "tied":
        covariances = spd()
        prec_chol = upper_precision_cholesky(covariances)
    elif covariance_type == "diag":
        covariances = scale ** 2 * rng.uniform(0.3, 2.0, size=(k, d))
        prec_chol = 1.0 / np.sqrt(covariances)
    else:
        covariances = scale ** 2 * rng.uniform(0.3, 2.0, size=k)
        prec_chol = 1.0 / np.sqrt(covariances)
    return weights, means, covariances, prec_chol


# ------------------------------------------------------------------ E-step
def log_gaussian(X, means, precisions):
    """(N, K): log N(x_i | mu_k, inv(P_k)) = -D/2 log 2pi + 1/2 log det P_k - 1/2 d^T P_k d."""
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    out = np.empty((n_samples, means.shape[0]))
    for k, (mean, precision) in enumerate(zip(means, precisions)):
        sign, log_det = np.linalg.slogdet(precision)
        assert sign > 0
        diff = X - mean
        maha = np.einsum("ij,jl,il->i", diff, precision, diff)
        out[:, k] = -0.5 * n_features * LOG_2PI + 0.5 * log_det - 0.5 * maha
    return out


def weighted_log_prob(X, weights, means, precisions):
    """(N, K): log w_k + log N(x_i | k)."""
    with np.errstate(divide="ignore"):
        return np.log(weights)[None, :] + log_gaussian(X, means, precisions)


def allowed_components(n_samples, n_components, row_label=None, component_class=None):
    """(N, K) bool: which components may explain each row (labelled rows: only their class)."""
    allowed = np.ones((n_samples, n_components), dtype=bool)
    if row_label is not None:
        component_class = np.asarray(component_class)
        for i, label in enumerate(row_label):
            if label >= 0:
                allowed[i] = component_class == label
    return allowed


def responsibilities(wlp, row_label=None, component_class=None):
    """(resp (N, K), per-row log-likelihood (N,)): a softmax over the allowed components."""
    allowed = allowed_components(wlp.shape[0], wlp.shape[1], row_label, component_class)
    masked = np.where(allowed, wlp, -np.inf)
    top = masked.max(axis=1)
    with np.errstate(invalid="ignore"):
        e = np.exp(masked - top[:, None])
    e[~allowed] = 0.0
    total = e.sum(axis=1)
    row_log_lik = top + np.log(total)
    return e / total[:, None], row_log_lik


# -------------------------------------------------------- sufficient stats
def sufficient_stats(X, sample_weight, row_label, component_class, weights, means,
                     prec_chol, covariance_type, shift):
    """(log_lik, nk, s1, s2) of one E-step, as documented in fastem/_stats.py.

    nk[k] = sum_i w_i r_ik; s1[k] = sum_i w_i r_ik (x_i - mu_k) (tied: x_i - c);
    s2 full: sum_i w_i r_ik (x_i - mu_k)(x_i - mu_k)^T (K, D, D); tied:
    sum_i w_i (x_i - c)(x_i - c)^T (D, D); diag: sum_i w_i r_ik (x_i - mu_k)^2
    per feature (K, D); spherical: sum_i w_i r_ik |x_i - mu_k|^2 (K,).
    log_lik = sum_i w_i log sum_k w_k N(x_i | k) (rows of weight 0 left out).
    """
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    w = np.ones(n_samples) if sample_weight is None else np.asarray(sample_weight, float)
    precisions = precision_matrices(prec_chol, covariance_type, n_components, n_features)
    resp, row_log_lik = responsibilities(weighted_log_prob(X, weights, means, precisions),
                                         row_label, component_class)
    used = w > 0
    log_lik = float(np.sum(w[used] * row_log_lik[used]))
    wr = w[:, None] * resp
    nk = wr.sum(axis=0)
    s1 = np.empty((n_components, n_features))
    if covariance_type == "tied":
        xs = X - shift
        for k in range(n_components):
            s1[k] = (wr[:, k, None] * xs).sum(axis=0)
        s2 = np.einsum("i,ij,il->jl", w, xs, xs)
        return log_lik, nk, s1, s2
    if covariance_type == "full":
        s2 = np.empty((n_components, n_features, n_features))
    elif covariance_type == "diag":
        s2 = np.empty((n_components, n_features))
    else:
        s2 = np.empty(n_components)
    for k in range(n_components):
        xc = X - means[k]
        s1[k] = (wr[:, k, None] * xc).sum(axis=0)
        if covariance_type == "full":
            s2[k] = np.einsum("i,ij,il->jl", wr[:, k], xc, xc)
        elif covariance_type == "diag":
            s2[k] = (wr[:, k, None] * xc * xc).sum(axis=0)
        else:
            s2[k] = (wr[:, k] * (xc * xc).sum(axis=1)).sum()
    return log_lik, nk, s1, s2


# ------------------------------------------------------------------ M-step
def m_step(X, sample_weight, resp, covariance_type, reg_covar):
    """(weights, means, covariances) from responsibilities, scikit-learn's equations
    evaluated directly: nk' = sum w r + 10 eps, m_k = sum w r x / nk',
    cov_k = sum w r (x - m_k)(x - m_k)^T / nk' + reg_covar I (tied: the sum over k of
    the numerators over sum nk'; diag: the diagonal; spherical: its mean)."""
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    w = np.ones(n_samples) if sample_weight is None else np.asarray(sample_weight, float)
    wr = w[:, None] * resp
    nk = wr.sum(axis=0) + EPS10
    means = (wr.T @ X) / nk[:, None]
    scatter = np.array([np.einsum("i,ij,il->jl", wr[:, k], X - m, X - m)
                        for k, m in enumerate(means)])
    eye = np.eye(n_features)
    if covariance_type == "full":
        covariances = scatter / nk[:, None, None] + reg_covar * eye
    elif covariance_type == "tied":
        covariances = scatter.sum(axis=0) / nk.sum() + reg_covar * eye
    elif covariance_type == "diag":
        covariances = np.array([np.diag(s) for s in scatter]) / nk[:, None] + reg_covar
    else:
        covariances = (np.array([np.trace(s) for s in scatter]) / nk / n_features
                       + reg_covar)
    return nk / nk.sum(), means, covariances


def precision_cholesky(covariances, covariance_type):
    if covariance_type == "full":
        return np.array([upper_precision_cholesky(c) for c in covariances])
    if covariance_type == "tied":
        return upper_precision_cholesky(covariances)
    return 1.0 / np.sqrt(covariances)


# --------------------------------------------------------------------- EM
def em(X, weights, means, covariances, covariance_type, *, sample_weight=None,
       row_label=None, component_class=None, reg_covar=1e-6, tol=1e-3, max_iter=100):
    """Plain EM from the given start (scikit-learn's loop: E-step, M-step, stop when the
    per-sample mean log-likelihood changes by less than tol).

    Returns a dict of the fitted parameters, lower_bounds (one per iteration) and n_iter.
    """
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    w = np.ones(n_samples) if sample_weight is None else np.asarray(sample_weight, float)
    lower_bound = -np.inf
    history = []
    n_iter = 0
    converged = False
    for n_iter in range(1, max_iter + 1):
        precisions = np.linalg.inv(
            dense_covariances(covariances, covariance_type, n_components, n_features))
        resp, row_log_lik = responsibilities(
            weighted_log_prob(X, weights, means, precisions), row_label, component_class)
        used = w > 0
        previous, lower_bound = lower_bound, np.sum(w[used] * row_log_lik[used]) / w.sum()
        history.append(lower_bound)
        weights, means, covariances = m_step(X, w, resp, covariance_type, reg_covar)
        if abs(lower_bound - previous) < tol:
            converged = True
            break
    return dict(weights=weights, means=means, covariances=covariances,
                lower_bounds=history, lower_bound=lower_bound, n_iter=n_iter,
                converged=converged)


def predict(X, weights, means, covariances, covariance_type):
    n_components, n_features = means.shape
    precisions = np.linalg.inv(
        dense_covariances(covariances, covariance_type, n_components, n_features))
    return weighted_log_prob(X, weights, means, precisions).argmax(axis=1)
