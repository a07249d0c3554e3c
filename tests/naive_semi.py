"""Independent NumPy reference of semi-supervised EM ('seed' and 'clamp' modes).

Written from the equations, one textbook step at a time, with dense N x K
responsibility matrices and np.linalg: nothing here is shared with fastem.

Model: K = C x m components, component k belongs to class k // m.
Row weights: w_i = sample_weight_i, times lambda for an unlabelled row.

Start (labelled rows only; ``start_groups`` gives each labelled row's component):
    n_k = sum_{i in k} w_i,  pi_k = n_k / sum_j n_j,  mu_k = sum_{i in k} w_i x_i / n_k,
    Sigma_k = sum_{i in k} w_i (x_i - mu_k)(x_i - mu_k)^T / n_k + reg I
    ('tied': the pooled sum over k divided by sum_k n_k, + reg I).

E-step: log_p_ik = log pi_k + log N(x_i | mu_k, Sigma_k). 'clamp': for a labelled
row, log_p_ik = -inf on components of other classes. ll_i = logsumexp_k log_p_ik,
r_ik = exp(log_p_ik - ll_i). Objective = sum_i w_i ll_i / sum_i w_i.

M-step: n_k = sum_i w_i r_ik, pi_k = n_k / sum n, mu_k = sum_i w_i r_ik x_i / n_k,
Sigma_k = sum_i w_i r_ik (x_i - mu_k)(x_i - mu_k)^T / n_k + reg I
('diag': the diagonal only; 'spherical': the mean of the diagonal; 'tied': the
sum over k divided by sum_k n_k).

Stop after the first iteration whose objective changed by less than tol (the
objective before iteration 1 is -inf), as scikit-learn's GaussianMixture.
"""
import numpy as np


def _log_gauss(X, mean, cov, covariance_type):
    """log N(x | mean, cov) for every row of X; cov in the type's own shape."""
    d = X.shape[1]
    diff = X - mean
    if covariance_type in ("full", "tied"):
        sign, logdet = np.linalg.slogdet(cov)
        assert sign > 0
        maha = np.einsum("ij,ij->i", diff, np.linalg.solve(cov, diff.T).T)
    elif covariance_type == "diag":
        logdet = np.sum(np.log(cov))
        maha = np.sum(diff ** 2 / cov, axis=1)
    else:
        logdet = d * np.log(cov)
        maha = np.sum(diff ** 2, axis=1) / cov
    return -0.5 * (d * np.log(2 * np.pi) + logdet + maha)


def _logsumexp(a):
    top = np.max(a, axis=1, keepdims=True)
    return (top + np.log(np.sum(np.exp(a - top), axis=1, keepdims=True)))[:, 0]


def _m_step(X, w, resp, covariance_type, reg_covar):
    """Weights, means, covariances from responsibilities resp (N, K) and row weights w."""
    n_samples, d = X.shape
    wr = resp * w[:, None]
    nk = wr.sum(axis=0)
    weights = nk / nk.sum()
    means = (wr.T @ X) / nk[:, None]
    scatter = []
    for k in range(resp.shape[1]):
        diff = X - means[k]
        scatter.append((diff * wr[:, k:k + 1]).T @ diff)
    scatter = np.array(scatter)
    if covariance_type == "full":
        cov = scatter / nk[:, None, None] + reg_covar * np.eye(d)
    elif covariance_type == "tied":
        cov = scatter.sum(axis=0) / nk.sum() + reg_covar * np.eye(d)
    elif covariance_type == "diag":
        cov = np.array([np.diag(s) for s in scatter]) / nk[:, None] + reg_covar
    else:
        cov = np.array([np.trace(s) / d for s in scatter]) / nk + reg_covar
    return weights, means, cov


def _log_prob(X, weights, means, cov, covariance_type):
    """(N, K) matrix of log pi_k + log N(x_i | k)."""
    out = np.empty((X.shape[0], means.shape[0]))
    for k in range(means.shape[0]):
        cov_k = cov if covariance_type == "tied" else cov[k]
        out[:, k] = np.log(weights[k]) + _log_gauss(X, means[k], cov_k, covariance_type)
    return out


def objective(X, y_index, weights, means, cov, covariance_type, m=1, row_weight=None,
              clamp=True):
    """Weighted mean of each row's log-likelihood (clamped for labelled rows when clamp)."""
    log_p = _log_prob(X, weights, means, cov, covariance_type)
    if clamp:
        log_p = _clamp(log_p, y_index, m)
    w = np.ones(X.shape[0]) if row_weight is None else row_weight
    return float(w @ _logsumexp(log_p) / w.sum())


def _clamp(log_p, y_index, m):
    component_class = np.arange(log_p.shape[1]) // m
    labelled = y_index >= 0
    other = labelled[:, None] & (component_class[None, :] != y_index[:, None])
    return np.where(other, -np.inf, log_p)


def fit(X, y_index, covariance_type="full", mode="clamp", unlabeled_weight=1.0,
        reg_covar=1e-6, tol=1e-3, max_iter=100, sample_weight=None, m=1,
        start_groups=None):
    """Semi-supervised EM. y_index: class index 0..C-1 per row, -1 unlabelled.

    start_groups: component (0..m-1 within its class) of each labelled row at
    the start; needed when m > 1. Returns a dict of the fitted quantities.
    """
    X = np.asarray(X, dtype=np.float64)
    n_classes = int(y_index.max()) + 1
    n_components = n_classes * m
    labelled = y_index >= 0
    sw = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    w = np.where(labelled, sw, sw * unlabeled_weight)

    # Start: one-hot responsibilities of the labelled rows, weight 0 elsewhere.
    start_resp = np.zeros((X.shape[0], n_components))
    groups = np.zeros(X.shape[0], dtype=int) if start_groups is None else start_groups
    rows = np.flatnonzero(labelled)
    start_resp[rows, y_index[rows] * m + groups[rows]] = 1.0
    weights, means, cov = _m_step(X, np.where(labelled, sw, 0.0), start_resp,
                                  covariance_type, reg_covar)
    start = (weights, means, cov)

    lower_bound = -np.inf
    history = []
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        previous = lower_bound
        log_p = _log_prob(X, weights, means, cov, covariance_type)
        if mode == "clamp":
            log_p = _clamp(log_p, y_index, m)
        ll = _logsumexp(log_p)
        lower_bound = float(w @ ll / w.sum())
        history.append(lower_bound)
        resp = np.exp(log_p - ll[:, None])
        weights, means, cov = _m_step(X, w, resp, covariance_type, reg_covar)
        if abs(lower_bound - previous) < tol:
            converged = True
            break
    return {"weights": weights, "means": means, "covariances": cov, "n_iter": n_iter,
            "lower_bounds": history, "converged": converged, "start": start}


def predict_proba(X, weights, means, cov, covariance_type, m=1):
    """Class posteriors: component posteriors summed over each class's components."""
    log_p = _log_prob(np.asarray(X, float), weights, means, cov, covariance_type)
    resp = np.exp(log_p - _logsumexp(log_p)[:, None])
    return resp.reshape(resp.shape[0], -1, m).sum(axis=2)
