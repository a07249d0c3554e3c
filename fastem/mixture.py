"""``GaussianMixture``: scikit-learn's estimator, fitted by fused Numba EM passes.

The EM loop is ``_base.BaseMixture``'s; this class fills in its hooks: the
parameter checks and the start (``_init``); the maximum-likelihood M-step
is the base class's. Per EM iteration the loop makes ONE pass over the rows,
in which a kernel computes every row's log-densities, responsibilities and
log-likelihood and accumulates the sufficient statistics of the next M-step;
the N x K responsibility matrix never exists during a fit.
"""
import math

import numpy as np

from . import _init, _linalg
from ._base import BaseMixture, Task
from ._stats import Params
from ._validation import check_means, check_params, check_precisions, check_weights


class GaussianMixture(BaseMixture):
    """Gaussian mixture model fitted by expectation-maximisation.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: same
    constructor, fitted attributes and methods, same convergence rule and the
    same fit from the same initial parameters, computed by fused Numba
    kernels (one pass over the data per EM iteration, statistics accumulated
    in float64 centred on the current means, bitwise reproducible across
    thread counts). float32 input is read as float32, never copied to float64.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        'full': each component its own (D, D) covariance; 'tied': one shared
        (D, D) covariance; 'diag': each component a diagonal covariance (D,);
        'spherical': each component a single variance.
    tol : float, default=1e-3
        Convergence threshold on the change of the per-sample mean
        log-likelihood between iterations.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the covariance diagonals.
    max_iter : int, default=100
        Number of EM iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the best lower bound is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How initial responsibilities are drawn (all in Numba, no scikit-learn).
    weights_init, means_init, precisions_init : array-like, optional
        User initial parameters (shapes as scikit-learn's). Any given one
        overrides the value from ``init_params``.
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        Start from the previous fit's parameters (``n_init`` is then ignored).
    verbose : int, default=0
        1 prints the initialisations, 2 also every ``verbose_interval``-th iteration
        and, during a pass over a memory-mapped file or dask array that takes
        longer than a second, per-chunk progress.
    verbose_interval : int, default=10
    chunk_size : int or str, optional
        fastem only: rows (int) or bytes (e.g. ``'64MB'``) per chunk when reading
        memory-mapped input (rounded down to whole 4096-row partitions). Default:
        64 partitions of rows, fewer for rows wider than 256 bytes so that a
        chunk holds at most 64 MiB.
    init_max_samples : int or None, default=100_000
        fastem only: the initialisation (k-means++ and Lloyd, k-means++,
        'random' or 'random_from_data') runs on at most this many rows. Larger
        inputs are initialised from a uniform random subsample of this many
        rows, drawn without replacement (with their sample weights), so the
        initialisation needs memory for the sample only, whatever the size of
        X; the EM iterations then use every row. Inputs of at most this many
        rows are initialised exactly as scikit-learn does. None: always use
        every row.

    Memory-mapped and dask input
    ----------------------------
    ``np.memmap`` and ``np.load(path, mmap_mode='r')`` arrays (C-contiguous
    float32/float64) are read in place, chunk by chunk; NaN/inf are checked
    chunk by chunk during the first pass and reported by row. Given the same
    rows, a fit on a memory-mapped file is bitwise equal to the in-memory fit
    (chunks are whole partitions, folded in the same order). ``predict`` can
    write labels into a memory-mapped ``out``. ``dask.array.Array`` input
    (``pip install 'fastem[dask]'``) is fitted by a map over the blocks and a
    tree reduction per iteration, and predicted lazily (see ``fastem._dask``).

    Attributes
    ----------
    Fitted arrays and bounds have X's dtype (float32 in, float32 out, as in
    scikit-learn >= 1.7); EM itself runs on float64 statistics.

    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        'full' (K, D, D), 'tied' (D, D), 'diag' (K, D), 'spherical' (K,).
    precisions_ : ndarray
        Inverses of ``covariances_``, same shapes.
    precisions_cholesky_ : ndarray
        Upper-triangular U with precision = U U^T, same shapes.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Per-sample mean log-likelihood of the best fit, at its last iteration.
    lower_bounds_ : list of float
        That value at every iteration of the best fit.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Column names of a pandas (or polars) DataFrame X, when all are strings.

    Notes
    -----
    No metadata routing (``get_metadata_routing``): scikit-learn's
    meta-estimators route no metadata (e.g. ``sample_weight``) to fastem.
    ``_repr_html_`` shows scikit-learn's estimator diagram when it is installed.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.round(np.sort(gm.means_[:, 0]), 6)
    array([ 1., 10.])
    >>> gm.predict([[0, 0], [12, 3]]).tolist() == [int(gm.predict([[0, 0]])[0]), int(gm.predict([[12, 3]])[0])]
    True
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3,
                 reg_covar=1e-6, max_iter=100, n_init=1, init_params="kmeans",
                 weights_init=None, means_init=None, precisions_init=None,
                 random_state=None, warm_start=False, verbose=0, verbose_interval=10,
                 chunk_size=None, init_max_samples=100_000):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.chunk_size = chunk_size
        self.init_max_samples = init_max_samples

    # ------------------------------------------------------------ EM hooks
    def _prepare(self, source, y, sample_weight):
        check_params(self, source.n_samples, source.n_features)
        return Task(self.n_components, sample_weight,
                    init=self._check_initial_parameters(source.n_features))

    def _check_initial_parameters(self, n_features):
        init = {}
        if self.weights_init is not None:
            init["weights"] = check_weights(self.weights_init, self.n_components)
        if self.means_init is not None:
            init["means"] = check_means(self.means_init, self.n_components, n_features)
        if self.precisions_init is not None:
            init["precisions"] = check_precisions(self.precisions_init, self.covariance_type,
                                                  self.n_components, n_features)
        return init

    def _initial_parameters(self, source, task, random_state):
        """The start of ``init_params`` on at most ``init_max_samples`` rows, overridden
        by the user's ``weights_init``/``means_init``/``precisions_init``."""
        init = task.init
        weights = means = covariances = None
        if len(init) < 3:  # some parameter comes from the rows
            rows, row_weight = _init.initial_rows(source, self.init_max_samples,
                                                  self.n_components, task.sample_weight,
                                                  random_state)
            nk, means, covariances, total = _init.initial_moments(
                rows, row_weight, self.init_params, self.n_components, self.covariance_type,
                self.reg_covar, random_state)
            weights = nk / total
        weights = init.get("weights", weights)
        means = init.get("means", means)
        if "precisions" in init:
            prec_chol = _linalg.precision_cholesky_from_precisions(
                init["precisions"], self.covariance_type)
            covariances = _linalg.covariances_from_cholesky(prec_chol, self.covariance_type)
        else:
            prec_chol = _linalg.precision_cholesky(covariances, self.covariance_type,
                                                   self.reg_covar, source.dtype)
        return Params(np.asarray(weights, dtype=np.float64),
                      np.ascontiguousarray(means, dtype=np.float64), covariances,
                      np.ascontiguousarray(prec_chol, dtype=np.float64), self.covariance_type)

    # ------------------------------------------------------------- criteria
    def bic(self, X):
        """Bayesian information criterion on X (lower is better)."""
        n = np.shape(X)[0]
        return -2 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X):
        """Akaike information criterion on X (lower is better)."""
        return -2 * self.score(X) * np.shape(X)[0] + 2 * self._n_parameters()
