"""``BayesianGaussianMixture``: scikit-learn's variational Bayesian mixture on fastem's fused passes.

Variational inference alternates the same two steps as EM, and its E-step is
EM's with different per-component constants. With the posterior's expected
log-weights E[log pi_k] (digamma terms of the Dirichlet or stick-breaking
posterior), degrees of freedom nu_k, mean precision beta_k and the stored
precision Cholesky U_k (of the covariance normalised by nu_k, as in
scikit-learn), the log-probability of row x under component k is

    E[log pi_k] + log det U_k - D/2 log(2 pi) - D/2 log(nu_k)
      + (D log 2 + sum_j digamma((nu_k - j) / 2) - D / beta_k) / 2
      - |(x - m_k) U_k|^2 / 2

so the fused kernel runs unchanged with these constants as its ``log_norm``
(``_VariationalParams.log_norm``). The M-step turns the same centred
statistics into scikit-learn's (nk, xk, sk) (``_stats.m_step``) and those into
the posterior. The lower bound needs the responsibilities' entropy; it comes
from the pass's statistics without an N x K matrix:

    sum_i w_i sum_k r_ik log r_ik = sum_k (c_k nk_k - M_k / 2) - sum_i w_i log sum_k p_ik

where c_k is the constant above and M_k = sum_i w_i r_ik |(x_i - m_k) U_k|^2
= tr(U_k^T S2_k U_k) from the centred second moments S2_k.
"""
import math
import numbers

import numpy as np

from . import _linalg
from ._base import NO_LABELS, BaseMixture, Task
from ._init import initial_moments, initial_rows
from ._stats import Params, m_step, pass_job
from ._validation import _check_shape, check_params

PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")


class _VariationalParams(Params):
    """The variational posterior: the mixture's parameters plus the posterior's own.

    ``weight_concentration``: Dirichlet concentrations (K,), or for a Dirichlet
    process the two Beta parameters of each stick, a pair of (K,) arrays.
    ``mean_precision`` (K,); ``degrees_of_freedom`` (K,), a float for 'tied'.
    """

    def __init__(self, weight_concentration, mean_precision, degrees_of_freedom, means,
                 covariances, prec_chol, covariance_type, prior_type):
        self.weight_concentration = weight_concentration
        self.mean_precision = mean_precision
        self.degrees_of_freedom = degrees_of_freedom
        self.prior_type = prior_type
        super().__init__(_weights(weight_concentration, prior_type), means, covariances,
                         prec_chol, covariance_type)

    def expected_log_weights(self):
        from scipy.special import digamma
        if self.prior_type == "dirichlet_process":
            a, b = self.weight_concentration
            digamma_sum = digamma(a + b)
            return (digamma(a) - digamma_sum
                    + np.hstack((0, np.cumsum(digamma(b) - digamma_sum)[:-1])))
        return digamma(self.weight_concentration) - digamma(np.sum(self.weight_concentration))

    def log_norm(self):
        """The E-step's per-component constants (see the module docstring)."""
        from scipy.special import digamma
        n_features = self.means.shape[1]
        dof = self.degrees_of_freedom
        log_det = _linalg.log_det_cholesky(self.prec_chol, self.covariance_type, n_features)
        log_lambda = n_features * np.log(2.0) + np.sum(
            digamma(0.5 * (dof - np.arange(0, n_features)[:, np.newaxis])), 0)
        return np.ascontiguousarray(
            self.expected_log_weights() + log_det - 0.5 * n_features * math.log(2 * math.pi)
            - 0.5 * n_features * np.log(dof)
            + 0.5 * (log_lambda - n_features / self.mean_precision), dtype=np.float64)


def _weights(weight_concentration, prior_type):
    """``weights_``: the posterior's expected mixing weights (scikit-learn's formula)."""
    if prior_type == "dirichlet_process":
        a, b = weight_concentration
        total = a + b
        weights = a / total * np.hstack((1, np.cumprod(b / total)[:-1]))
        return weights / np.sum(weights)
    return weight_concentration / np.sum(weight_concentration)


class BayesianGaussianMixture(BaseMixture):
    """Variational Bayesian estimation of a Gaussian mixture.

    A drop-in replacement for :class:`sklearn.mixture.BayesianGaussianMixture`:
    same constructor, fitted attributes and methods, same fit from the same
    start, computed by fastem's fused kernels (one pass over the rows per
    iteration, no N x K matrix) and therefore with fastem's extras:
    ``sample_weight`` (frequency weights), memory-mapped and dask input,
    float32 input read as float32, ``save``/``fastem.load``. With a
    Dirichlet-process prior (the default) and a generous ``n_components``, the
    weights of components the data do not need shrink towards zero, so the
    number of components is inferred.

    Parameters
    ----------
    n_components : int, default=1
        Upper bound on the number of components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound (a total over
        the rows, as in scikit-learn, not a per-sample mean).
    reg_covar : float, default=1e-6
    max_iter : int, default=100
    n_init : int, default=1
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, \
default='dirichlet_process'
    weight_concentration_prior : float > 0, optional
        Default 1 / n_components. Small values put the mass on few components.
    mean_precision_prior : float > 0, optional
        Default 1.
    mean_prior : array-like of shape (n_features,), optional
        Default: the (weighted) mean of X.
    degrees_of_freedom_prior : float > n_features - 1, optional
        Default n_features.
    covariance_prior : float or array-like, optional
        Prior of the covariance: (D, D) for 'full' and 'tied', (D,) for 'diag',
        a float for 'spherical'. Default: the (weighted) empirical covariance
        of X (ddof=1; for 'diag' its diagonal, for 'spherical' the mean of it).
    random_state, warm_start, verbose, verbose_interval
        As in :class:`fastem.GaussianMixture`.
    chunk_size, init_max_samples
        fastem only, as in :class:`fastem.GaussianMixture`.

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_
        As in :class:`fastem.GaussianMixture` (covariances are the posterior's
        expected covariances, scikit-learn's normalisation).
    weight_concentration_prior_, mean_precision_prior_, mean_prior_, \
degrees_of_freedom_prior_, covariance_prior_
        The prior values used.
    weight_concentration_ : ndarray (K,) or tuple of two ndarrays (K,)
        Dirichlet concentrations, or the Beta parameters of a Dirichlet process.
    mean_precision_ : ndarray of shape (K,)
    degrees_of_freedom_ : ndarray of shape (K,), a float for 'tied'
    converged_, n_iter_, n_features_in_
    lower_bound_ : float
        The variational lower bound (up to constants) of the best start.
    lower_bounds_ : list of float

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import BayesianGaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [4, 2], [12, 4], [10, 7]])
    >>> bgm = BayesianGaussianMixture(n_components=2, random_state=42).fit(X)
    >>> labels = bgm.predict([[0, 0], [9, 3]])
    >>> bool(labels[0] != labels[1])
    True
    >>> np.round(np.sort(bgm.means_[:, 0]), 1)
    array([2.5, 8.5])
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3,
                 reg_covar=1e-6, max_iter=100, n_init=1, init_params="kmeans",
                 weight_concentration_prior_type="dirichlet_process",
                 weight_concentration_prior=None, mean_precision_prior=None,
                 mean_prior=None, degrees_of_freedom_prior=None, covariance_prior=None,
                 random_state=None, warm_start=False, verbose=0, verbose_interval=10,
                 chunk_size=None, init_max_samples=100_000):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size
        self.init_max_samples = init_max_samples

    # ------------------------------------------------------------- priors
    def _prepare(self, source, y, sample_weight):
        check_params(self, source.n_samples, source.n_features)
        self._check_priors(source.n_features)
        self._check_data_parameters(source, sample_weight)
        return Task(self.n_components, sample_weight)

    def _check_priors(self, n_features):
        """The prior parameters, checked before any pass."""
        name = type(self).__name__
        if self.weight_concentration_prior_type not in PRIOR_TYPES:
            raise ValueError(
                f"The 'weight_concentration_prior_type' parameter of {name} must be a str "
                f"among {set(PRIOR_TYPES)}. Got {self.weight_concentration_prior_type!r} "
                "instead.")
        for param in ("weight_concentration_prior", "mean_precision_prior",
                      "degrees_of_freedom_prior"):
            value = getattr(self, param)
            if value is not None and not _positive_real(value):
                raise ValueError(f"The '{param}' parameter of {name} must be None or a "
                                 f"float in the range (0.0, inf). Got {value!r} instead.")
        dof = self.degrees_of_freedom_prior
        if dof is not None and not dof > n_features - 1.0:
            raise ValueError("The parameter 'degrees_of_freedom_prior' should be greater "
                             "than %d, but got %.3f." % (n_features - 1, dof))
        if self.mean_prior is not None:
            mean_prior = _prior_array(self.mean_prior, "mean_prior", name)
            _check_shape(mean_prior, (n_features,), "means")
        cov = self.covariance_prior
        if cov is not None:
            if self.covariance_type == "spherical" or _is_real(cov):
                if not (self.covariance_type == "spherical" and _positive_real(cov)):
                    raise ValueError(
                        f"The 'covariance_prior' parameter of {name} must be None, "
                        + ("a float in the range (0.0, inf)"
                           if self.covariance_type == "spherical" else
                           "an array-like of the covariance's shape")
                        + f" for covariance_type={self.covariance_type!r}. Got {cov!r} "
                        "instead.")
            else:
                _check_covariance_prior(_prior_array(cov, "covariance_prior", name),
                                        self.covariance_type, n_features)

    def _check_data_parameters(self, source, sample_weight):
        """The ``*_prior_`` values used: the given ones, or scikit-learn's defaults
        computed from the data (weighted, in one or two passes over the rows)."""
        n_features = source.n_features
        self.weight_concentration_prior_ = (1.0 / self.n_components
                                            if self.weight_concentration_prior is None
                                            else self.weight_concentration_prior)
        self.mean_precision_prior_ = (1.0 if self.mean_precision_prior is None
                                      else self.mean_precision_prior)
        self.degrees_of_freedom_prior_ = (n_features if self.degrees_of_freedom_prior is None
                                          else self.degrees_of_freedom_prior)
        needs_mean = self.mean_prior is None
        needs_cov = self.covariance_prior is None
        if needs_mean or needs_cov:
            mean, cov = self._data_moments(source, sample_weight, with_cov=needs_cov)
        self.mean_prior_ = (mean if needs_mean
                            else np.asarray(self.mean_prior, dtype=np.float64))
        if not needs_cov:
            self.covariance_prior_ = (float(self.covariance_prior)
                                      if self.covariance_type == "spherical"
                                      else np.asarray(self.covariance_prior, dtype=np.float64))
        elif self.covariance_type == "spherical":
            self.covariance_prior_ = float(cov.mean())
        else:  # (D, D) for full and tied, the variances (D,) for diag
            self.covariance_prior_ = cov

    def _data_moments(self, source, sample_weight, with_cov):
        """Weighted mean and covariance (ddof=1 in frequency weights, as ``np.cov``) of X.

        Computed by the fused kernel with one component (every responsibility 1),
        so every row source takes its usual path and a memory-mapped X gives the
        in-memory bits: a pass centred on 0 for the mean, then one centred on the
        mean for the (co)variances. The full kernel gives the (D, D) covariance
        ('full', 'tied'), the diag kernel the variances.
        """
        n_features = source.n_features
        kind = "full" if self.covariance_type in ("full", "tied") else "diag"
        unit = {"full": np.eye(n_features)[None], "diag": np.ones((1, n_features))}[kind]

        def moments(centre):
            start = Params(np.ones(1), centre[None, :], None, np.ascontiguousarray(unit), kind)
            return source.stats_pass(pass_job(start, np.zeros(1, dtype=np.int64)),
                                     sample_weight, NO_LABELS)

        stats = moments(np.zeros(n_features))
        total = stats.nk[0]
        mean = stats.s1[0] / total
        if not with_cov:
            return mean, None
        stats = moments(mean)
        s1, s2 = stats.s1[0], stats.s2[0]
        if kind == "full":
            s2 = np.triu(s2) + np.triu(s2, 1).T
            scatter = s2 - np.outer(s1, s1) / total
        else:
            scatter = s2 - s1 ** 2 / total
        # ddof=1 in frequency weights; a total weight <= 1 has no unbiased estimate.
        return mean, scatter / (total - 1.0 if total > 1.0 else total)

    # ------------------------------------------------------------- start
    def _initial_parameters(self, source, task, random_state):
        """scikit-learn's ``_initialize``: the posterior from the initial responsibilities."""
        rows, row_weight = initial_rows(source, self.init_max_samples, self.n_components,
                                        task.sample_weight, random_state)
        nk, xk, sk, _ = initial_moments(rows, row_weight, self.init_params, self.n_components,
                                        self.covariance_type, self.reg_covar, random_state)
        return self._posterior(nk, np.asarray(xk, dtype=np.float64),
                               np.asarray(sk, dtype=np.float64), source.dtype)

    # ------------------------------------------------------------- M-step
    def _parameters_from_stats(self, stats, params, dtype):
        """Variational M-step: the posterior from the pass's centred statistics."""
        nk, xk, sk = m_step(stats, params.means, params.shift(), self.covariance_type,
                            self.reg_covar)
        return self._posterior(nk, xk, sk, dtype)

    def _posterior(self, nk, xk, sk, dtype):
        """scikit-learn's ``_estimate_weights``, ``_estimate_means``, ``_estimate_precisions``
        from nk (with its 10 eps), the component means xk and covariances sk."""
        n_components, n_features = xk.shape
        if self.weight_concentration_prior_type == "dirichlet_process":
            weight_concentration = (1.0 + nk, self.weight_concentration_prior_
                                    + np.hstack((np.cumsum(nk[::-1])[-2::-1], 0)))
        else:
            weight_concentration = self.weight_concentration_prior_ + nk
        beta0 = self.mean_precision_prior_
        mean_precision = beta0 + nk
        means = (beta0 * self.mean_prior_ + nk[:, np.newaxis] * xk) / mean_precision[:, None]
        diff = xk - self.mean_prior_
        if self.covariance_type == "full":
            dof = self.degrees_of_freedom_prior_ + nk
            outer = diff[:, :, None] * diff[:, None, :]
            covariances = (self.covariance_prior_ + nk[:, None, None] * sk
                           + (nk * beta0 / mean_precision)[:, None, None] * outer)
            covariances /= dof[:, None, None]
        elif self.covariance_type == "tied":
            dof = self.degrees_of_freedom_prior_ + nk.sum() / n_components
            covariances = (self.covariance_prior_ + sk * nk.sum() / n_components
                           + beta0 / n_components
                           * np.dot((nk / mean_precision) * diff.T, diff))
            covariances /= dof
        elif self.covariance_type == "diag":
            dof = self.degrees_of_freedom_prior_ + nk
            covariances = self.covariance_prior_ + nk[:, None] * (
                sk + (beta0 / mean_precision)[:, None] * np.square(diff))
            covariances /= dof[:, None]
        else:
            dof = self.degrees_of_freedom_prior_ + nk
            covariances = self.covariance_prior_ + nk * (
                sk + beta0 / mean_precision * np.mean(np.square(diff), 1))
            covariances /= dof
        prec_chol = _linalg.precision_cholesky(covariances, self.covariance_type,
                                               self.reg_covar, dtype)
        return _VariationalParams(weight_concentration, mean_precision, dof,
                                  np.ascontiguousarray(means), covariances,
                                  np.ascontiguousarray(prec_chol), self.covariance_type,
                                  self.weight_concentration_prior_type)

    # -------------------------------------------------------- lower bound
    def _lower_bound(self, stats, params, new_params, total_weight):
        """scikit-learn's lower bound (up to constants): the entropy of the pass's
        responsibilities (under ``params``) and the terms of the new posterior."""
        from scipy.special import betaln, gammaln
        n_features = new_params.means.shape[1]
        weighted_log_resp = (params.log_norm() @ stats.nk
                             - 0.5 * _weighted_maha(stats, params) - stats.log_lik)
        dof = new_params.degrees_of_freedom
        log_det_prec_chol = (_linalg.log_det_cholesky(new_params.prec_chol,
                                                      self.covariance_type, n_features)
                             - 0.5 * n_features * np.log(dof))
        log_wishart_norm = -(dof * log_det_prec_chol + dof * n_features * 0.5 * math.log(2.0)
                             + np.sum(gammaln(0.5 * (dof - np.arange(n_features)[:, None])),
                                      0))
        log_wishart = np.sum(log_wishart_norm)  # tied: one term (shape (1,)), K times
        if self.covariance_type == "tied":
            log_wishart *= self.n_components
        concentration = new_params.weight_concentration
        if self.weight_concentration_prior_type == "dirichlet_process":
            log_norm_weight = -np.sum(betaln(concentration[0], concentration[1]))
        else:
            log_norm_weight = gammaln(np.sum(concentration)) - np.sum(gammaln(concentration))
        return float(-weighted_log_resp - log_wishart - log_norm_weight
                     - 0.5 * n_features * np.sum(np.log(new_params.mean_precision)))

    # ------------------------------------------------------------- state
    def _current_parameters(self):
        """The fitted posterior in float64 (what the kernels read), whatever its dtype."""
        def as_float64(a):
            return np.ascontiguousarray(a, dtype=np.float64)

        concentration = self.weight_concentration_
        if self.weight_concentration_prior_type == "dirichlet_process":
            concentration = tuple(as_float64(c) for c in concentration)
        else:
            concentration = as_float64(concentration)
        dof = self.degrees_of_freedom_
        dof = float(dof) if self.covariance_type == "tied" else as_float64(dof)
        return _VariationalParams(concentration, as_float64(self.mean_precision_), dof,
                                  as_float64(self.means_), as_float64(self.covariances_),
                                  as_float64(self.precisions_cholesky_),
                                  self.covariance_type, self.weight_concentration_prior_type)

    def _set_parameters(self, params, dtype=np.float64):
        """Store ``params`` (float64) as the fitted attributes, in ``dtype`` (X's)."""
        concentration = params.weight_concentration
        if self.weight_concentration_prior_type == "dirichlet_process":
            self.weight_concentration_ = tuple(c.astype(dtype) for c in concentration)
        else:
            self.weight_concentration_ = concentration.astype(dtype)
        self.mean_precision_ = params.mean_precision.astype(dtype)
        self.degrees_of_freedom_ = np.asarray(params.degrees_of_freedom).astype(dtype)[()]
        super()._set_parameters(params, dtype)


def _weighted_maha(stats, params):
    """sum_k sum_i w_i r_ik |(x_i - m_k) U_k|^2 from the statistics centred on the means."""
    prec_chol, covariance_type = params.prec_chol, params.covariance_type
    if covariance_type == "full":
        s2 = np.triu(stats.s2) + np.swapaxes(np.triu(stats.s2, 1), 1, 2)
        return float(np.sum((s2 @ prec_chol) * prec_chol))
    if covariance_type == "tied":
        # Centred on the shift c: x - m_k = (x - c) - d_k with d_k = m_k - c, and
        # each row's responsibilities sum to one.
        s2 = np.triu(stats.s2) + np.triu(stats.s2, 1).T
        d = params.means - params.shift()
        precision = prec_chol @ prec_chol.T
        return float(np.sum(s2 * precision) - 2.0 * np.sum((stats.s1 @ precision) * d)
                     + np.sum(stats.nk * np.sum((d @ precision) * d, axis=1)))
    return float(np.sum(stats.s2 * prec_chol ** 2))  # diag (K, D), spherical (K,)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _positive_real(value):
    return _is_real(value) and np.isfinite(value) and value > 0


def _prior_array(value, param, name):
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or isinstance(value, str) or not np.isfinite(array).all():
        raise ValueError(f"The '{param}' parameter of {name} must be None or an "
                         f"array-like of finite numbers. Got {value!r} instead.")
    return array


def _check_covariance_prior(cov, covariance_type, n_features):
    """scikit-learn's shape and definiteness checks (and its messages)."""
    if covariance_type in ("full", "tied"):
        _check_shape(cov, (n_features, n_features), f"{covariance_type} covariance_prior")
        if not (np.allclose(cov, cov.T) and (np.linalg.eigvalsh(cov) > 0.0).all()):
            raise ValueError(f"'{covariance_type} precision' should be symmetric, "
                             "positive-definite")
    else:
        _check_shape(cov, (n_features,), f"{covariance_type} covariance_prior")
        if (cov <= 0.0).any():
            raise ValueError(f"'{covariance_type} precision' should be positive")
