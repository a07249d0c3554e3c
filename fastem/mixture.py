"""``GaussianMixture``: scikit-learn's estimator, fitted by fused Numba EM passes.

The driver is deliberately thin. Per EM iteration it makes ONE pass over the
rows (``_em_pass``), in which a kernel computes every row's log-densities,
responsibilities and log-likelihood and accumulates the sufficient statistics
of the next M-step; the driver then turns those statistics into parameters
(``_stats.m_step`` and K small Cholesky factorisations in ``_linalg``). The
N x K responsibility matrix never exists during a fit.
"""
import contextlib
import contextvars
import copy
import importlib
import inspect
import math
import sys
import time
import warnings

import numpy as np

from . import _linalg, _parallel
from ._config import PARTITION_ROWS
from ._dask import DaskRows, lazy_predict
from ._interrupt import import_kernels, interrupt_safe
from ._init import kmeans_labels, kmeans_plusplus, random_resp_stats, subsample_indices
from ._sources import ChunkProgress, n_chunks_of, readonly, row_chunks
from ._stats import Stats, m_step
from ._validation import (_is_dask, check_array, check_feature_names, check_finite,
                          check_finite_pass, check_finite_rows, check_is_fitted, check_means,
                          check_n_features, check_params, check_precisions,
                          check_sample_weight, check_warm_start, check_weights,
                          first_nonfinite_row, warn_coarse_resolution)
from .exceptions import ConvergenceWarning, sklearn_compatible

_EMPTY_WEIGHTS = np.empty(0)
_EMPTY_LABELS = np.empty(0, dtype=np.int64)

# Progress hook (the command line's): f(n_iter, lower_bound, change, seconds),
# called after every EM iteration of the fits run inside ``reporting_iterations(f)``.
# A context variable rather than an estimator attribute: estimators stay plain
# (picklable) and fits run on internal copies of an estimator report too.
_iteration_callback = contextvars.ContextVar("fastem_iteration_callback", default=None)


@contextlib.contextmanager
def reporting_iterations(callback):
    """Within this block, call ``callback(n_iter, lower_bound, change, seconds)``
    after every EM iteration of every fit."""
    token = _iteration_callback.set(callback)
    try:
        yield
    finally:
        _iteration_callback.reset(token)


def _kernel_module(covariance_type):
    """The kernel module of a covariance type (imported on first use: numba is slow to import)."""
    import_kernels()  # a Ctrl-C during the first import of numba must not break it
    return importlib.import_module(f"fastem._kernels.{covariance_type}")


def check_random_state(seed):
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, (int, np.integer)):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(f"{seed!r} cannot be used to seed a numpy.random.RandomState instance")


class _Params:
    """One set of mixture parameters, in the estimator's attribute shapes (float64)."""

    def __init__(self, weights, means, covariances, prec_chol, covariance_type):
        self.weights = weights
        self.means = means
        self.covariances = covariances
        self.prec_chol = prec_chol
        self.covariance_type = covariance_type

    def log_norm(self):
        """log(weight_k) + log det(U_k) - D/2 log(2 pi): the constant of each row log-prob.
        Compiled (the compiled EM loop computes it between iterations: same bits)."""
        from ._kernels import em_loop
        return em_loop.log_norm(self.covariance_type, self.weights, self.means, self.prec_chol)

    def shift(self):
        """Centre for the tied statistics: the weighted centre of the current means
        (compiled, as ``log_norm``)."""
        from ._kernels import em_loop
        return em_loop.weighted_centre(self.weights, self.means)


class GaussianMixture:
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

    # ------------------------------------------------------------------ params
    @classmethod
    def _get_param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values()
                      if p.name != "self" and p.kind != p.VAR_KEYWORD)

    def get_params(self, deep=True):
        """Constructor parameters, as scikit-learn's ``get_params``."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(f"Invalid parameter {key!r} for estimator {self}. "
                                 f"Valid parameters are: {valid!r}.")
            setattr(self, key, value)
        return self

    def __repr__(self):
        defaults = {p.name: p.default for p in
                    inspect.signature(type(self).__init__).parameters.values()}
        changed = []
        for name in self._get_param_names():
            value = getattr(self, name)
            default = defaults.get(name)
            same = (value is default or (not isinstance(value, np.ndarray)
                                         and not isinstance(default, np.ndarray)
                                         and value == default))
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def save(self, path):
        """Write the fitted model to ``path``, a versioned ``.npz`` model file.

        The file holds only numeric arrays and a JSON header (no pickles);
        read it back with :func:`fastem.load`.
        """
        from ._io import save_model
        save_model(self, path)

    def __sklearn_tags__(self):
        # Only scikit-learn calls this, so importing it here adds no dependency.
        from sklearn.base import BaseEstimator
        tags = BaseEstimator.__sklearn_tags__(self)
        tags.estimator_type = "density_estimator"  # what DensityMixin sets
        return tags

    def _repr_html_(self):
        """Notebook display: scikit-learn's estimator diagram when scikit-learn is
        installed (imported only here), else the escaped ``repr``."""
        try:
            from sklearn.utils import estimator_html_repr
        except ImportError:
            import html
            return f"<pre>{html.escape(repr(self))}</pre>"
        return estimator_html_repr(self)

    # --------------------------------------------------------------------- fit
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM (``n_init`` starts, best lower bound kept).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            float32 and float64 arrays (also memory-mapped) are used as they are.
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Frequency weights: weight 0 removes a row, an integer weight w
            counts it w times.

        Returns
        -------
        self
        """
        check_feature_names(self, X, reset=True)
        X = check_array(X, type(self).__name__, ensure_min_samples=2)
        self._fit(X, check_sample_weight(sample_weight, X.shape[0]))
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return ``predict(X)`` (same as ``fit(X).predict(X)``)."""
        check_feature_names(self, X, reset=True)
        X = check_array(X, type(self).__name__, ensure_min_samples=2)
        self._fit(X, check_sample_weight(sample_weight, X.shape[0]))
        return self._predict_checked(X)

    @interrupt_safe
    def _fit(self, X, sample_weight, row_label=_EMPTY_LABELS, component_class=None):
        """The EM driver. ``row_label``/``component_class`` clamp labelled rows
        (semi-supervised); empty for ordinary EM."""
        n_samples, n_features = X.shape
        check_params(self, n_samples, n_features)
        init = self._check_initial_parameters(n_features)
        if component_class is None:
            component_class = np.arange(self.n_components, dtype=np.int64)
        kernels = _kernel_module(self.covariance_type)
        total_weight = float(sample_weight.sum()) if sample_weight.shape[0] else float(n_samples)

        do_init = not (self.warm_start and hasattr(self, "converged_"))
        if not do_init:
            check_warm_start(self, n_features)
        n_init = self.n_init if do_init else 1
        random_state = check_random_state(self.random_state)
        if _is_dask(X):
            X = DaskRows(X, type(self).__name__)  # persisted once for all passes
        # NaN/inf of memory-mapped and dask X: checked by the first pass over all rows.
        unchecked = isinstance(X, (np.memmap, DaskRows))
        self._check_data_parameters(X, sample_weight)
        gathered = {}
        # Small in-memory X, no per-iteration output, GaussianMixture's own EM:
        # the whole loop of each start runs compiled (fastem._kernels.em_loop).
        compiled_loop = (isinstance(X, np.ndarray) and not isinstance(X, np.memmap)
                         and n_samples <= PARTITION_ROWS and self.verbose == 0
                         and _iteration_callback.get() is None
                         and type(self)._lower_bound is GaussianMixture._lower_bound
                         and type(self)._parameters_from_stats
                         is GaussianMixture._parameters_from_stats)

        best = None
        max_lower_bound = -np.inf
        for init_index in range(n_init):
            self._print_init_begin(init_index)
            if do_init:
                init_X, init_weight, init_label, checked = self._init_rows(
                    X, sample_weight, row_label, random_state, len(init) == 3, gathered)
                unchecked = unchecked and not checked
                params = self._initial_parameters(init_X, init_weight, init_label,
                                                  component_class, random_state, init)
                lower_bound = -np.inf
            else:
                params = self._current_parameters()
                lower_bound = float(self.lower_bound_)
            history = []
            converged = False
            n_iter = 0
            tic = time.perf_counter()
            last_iter = self.max_iter
            if compiled_loop:
                # The iterations below in one compiled call (same bits). It hands back
                # an iteration it cannot finish (non-finite bound, failed M-step
                # factorisation): the loop below redoes it and raises or copes.
                from ._kernels import em_loop
                status, history, *arrays = em_loop.run(
                    self.covariance_type, X, sample_weight, row_label, component_class,
                    params.weights, params.means, params.prec_chol, self.reg_covar,
                    self.tol, self.max_iter, total_weight, lower_bound)
                if history:
                    params = _Params(*arrays, self.covariance_type)
                    n_iter, lower_bound = len(history), history[-1]
                converged = status == em_loop.CONVERGED
                if status != em_loop.HANDED_BACK:
                    last_iter = n_iter
            for n_iter in range(n_iter + 1, last_iter + 1):
                previous = lower_bound
                iteration_start = time.perf_counter()
                stats = self._em_pass(kernels, X, params, sample_weight, row_label,
                                      component_class, check_rows=unchecked)
                unchecked = False
                check_finite_pass(stats.log_lik / total_weight, n_iter)
                new_params = self._parameters_from_stats(stats, params, X.dtype)
                lower_bound = self._lower_bound(stats, params, new_params, total_weight)
                params = new_params
                history.append(lower_bound)
                change = lower_bound - previous
                report = _iteration_callback.get()
                if report is not None:
                    report(n_iter, lower_bound, change, time.perf_counter() - iteration_start)
                tic = self._print_iter_end(n_iter, change, tic)
                if abs(change) < self.tol:
                    converged = True
                    break
            self._print_init_end(lower_bound, converged)
            # scikit-learn's rule: while no start has a finite bound (max_iter=0), the
            # latest start wins.
            if lower_bound > max_lower_bound or max_lower_bound == -np.inf:
                max_lower_bound = lower_bound
                best = (params, n_iter, history, converged)

        params, n_iter, history, converged = best
        if unchecked:  # no pass read every row (max_iter=0): check NaN/inf now
            if isinstance(X, DaskRows):
                X.raise_first_nonfinite()
            else:
                check_finite(X, "X", type(self).__name__)
        if not converged and self.max_iter > 0:
            warnings.warn("Best performing initialization did not converge. Try different "
                          "init parameters, or increase max_iter, tol, or check for "
                          f"degenerate data. (fastem: stopped at max_iter={self.max_iter} "
                          f"with the last change of the lower bound above tol={self.tol:g}.)",
                          sklearn_compatible(ConvergenceWarning), stacklevel=4)
        dtype = np.dtype(X.dtype)
        warn_coarse_resolution(params.weights, params.means, params.covariances,
                               self.covariance_type, dtype)
        # The fitted state changes in one step (one dict update, which an interrupt
        # cannot split): a Ctrl-C at any moment of fit leaves the estimator as it was.
        # scikit-learn >= 1.7 keeps the input's precision: float32 in, float32 out
        # (the statistics and EM stay float64 inside).
        staged = copy.copy(self)
        staged._set_parameters(params, dtype)
        staged.converged_ = converged
        staged.n_iter_ = n_iter
        staged.lower_bound_ = dtype.type(max_lower_bound)
        staged.lower_bounds_ = [dtype.type(value) for value in history]
        staged.n_features_in_ = n_features
        vars(self).update(vars(staged))

    def _check_data_parameters(self, X, sample_weight):
        """Hook: settings derived from the data before the starts (priors); none here."""

    def _lower_bound(self, stats, params, new_params, total_weight):
        """Hook: the convergence criterion of one iteration, from the pass's statistics
        (taken under ``params``) and the M-step's ``new_params``: here the per-sample
        mean log-likelihood."""
        return stats.log_lik / total_weight

    def _em_pass(self, kernels, X, params, sample_weight, row_label, component_class,
                 check_rows=False):
        """One fused E-step + sufficient-statistics pass over all rows, chunk by chunk.

        ``check_rows``: also check each chunk for NaN/inf before using it (the
        first pass over a memory-mapped or dask X)."""
        stats = Stats(self.covariance_type, self.n_components, X.shape[1])
        log_norm = params.log_norm()
        # Only the tied kernels read the shift (the others centre on each mean).
        shift = params.shift() if self.covariance_type == "tied" else _EMPTY_WEIGHTS
        if isinstance(X, DaskRows):
            return X.em_pass(self.covariance_type, stats.nk.shape[0], params.means,
                             params.prec_chol, log_norm, shift, sample_weight, row_label,
                             component_class, check_rows=check_rows, verbose=self.verbose)
        n_chunks = n_chunks_of(X, self.chunk_size)
        progress = ChunkProgress(self.verbose, X.shape[0], "EM pass")
        for index, (start, stop, rows) in enumerate(row_chunks(X, self.chunk_size)):
            if check_rows:
                check_finite_rows(rows, start, "X", type(self).__name__)
            _parallel.accumulate_stats(
                kernels.accumulate_stats, rows,
                sample_weight[start:stop] if sample_weight.shape[0] else _EMPTY_WEIGHTS,
                row_label[start:stop] if row_label.shape[0] else _EMPTY_LABELS,
                component_class, params.means, params.prec_chol, log_norm, shift, stats)
            progress.update(stop, index + 1, n_chunks)
        return stats

    def _parameters_from_stats(self, stats, params, dtype):
        """M-step: new weights, means, covariances and their precision Cholesky factors.

        The compiled M-step runs first (one call instead of ~35 small NumPy
        calls: most of an iteration on small data); when a factorisation fails
        the NumPy reference path takes over and raises the error naming the
        component (or succeeds, if the failure was a rounding-level tie).
        """
        shift = params.shift() if self.covariance_type == "tied" else _EMPTY_WEIGHTS
        compiled_m_step = getattr(importlib.import_module("fastem._kernels.mstep"),
                                  self.covariance_type)
        ok, weights, means, covariances, prec_chol = compiled_m_step(
            stats.nk, stats.s1, stats.s2, params.means, shift, float(self.reg_covar))
        if not ok:
            nk, means, covariances = m_step(stats, params.means, params.shift(),
                                            self.covariance_type, self.reg_covar)
            prec_chol = _linalg.precision_cholesky(covariances, self.covariance_type,
                                                   self.reg_covar, dtype)
            weights = nk / nk.sum()
        return _Params(weights, np.ascontiguousarray(means), covariances,
                       np.ascontiguousarray(prec_chol), self.covariance_type)

    # ---------------------------------------------------------- initialisation
    def _init_rows(self, X, sample_weight, row_label, random_state, unused, gathered):
        """(rows, weights, labels, checked): what the initialisation runs on.

        All of X if it has at most ``init_max_samples`` rows (or the limit is
        None), else a uniform random subsample of that many rows, in row order,
        with their weights and labels: a bounded in-memory array whatever the
        size of X (a memory-mapped file reads only those rows). ``checked``:
        every row of X has been checked for NaN/inf. ``unused``: the user gave
        every initial parameter, so no rows are read. ``gathered`` caches a
        small dask X computed into memory, across ``n_init`` starts.
        """
        n_samples = X.shape[0]
        is_dask = isinstance(X, DaskRows)
        if unused:
            return X, sample_weight, row_label, not (is_dask or isinstance(X, np.memmap))
        limit = self.init_max_samples
        if limit is None or n_samples <= max(limit, self.n_components):
            if is_dask:
                if "rows" not in gathered:
                    gathered["rows"] = X.to_numpy()  # checks NaN/inf
                return gathered["rows"], sample_weight, row_label, True
            if isinstance(X, np.memmap):
                check_finite(X, "X", type(self).__name__)  # chunked, no copy
                return readonly(X), sample_weight, row_label, True
            return X, sample_weight, row_label, True
        indices = subsample_indices(n_samples, max(limit, self.n_components), random_state)
        rows = X.take(indices) if is_dask else X[indices]
        checked = not (is_dask or isinstance(X, np.memmap))
        if not checked and first_nonfinite_row(rows) >= 0:
            # Name the first bad row of X, not of the sample.
            if is_dask:
                X.raise_first_nonfinite()
            else:
                check_finite(X, "X", type(self).__name__)
        return (rows, sample_weight[indices] if sample_weight.shape[0] else sample_weight,
                row_label[indices] if row_label.shape[0] else row_label, checked)

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

    def _initial_parameters(self, X, sample_weight, row_label, component_class,
                            random_state, init):
        if len(init) < 3:
            weights, means, covariances = self._initial_from_responsibilities(
                X, sample_weight, random_state)
        else:
            weights = means = covariances = None
        if "weights" in init:
            weights = init["weights"]
        if "means" in init:
            means = init["means"]
        if "precisions" in init:
            prec_chol = _linalg.precision_cholesky_from_precisions(
                init["precisions"], self.covariance_type)
            covariances = _linalg.covariances_from_cholesky(prec_chol, self.covariance_type)
        else:
            prec_chol = _linalg.precision_cholesky(covariances, self.covariance_type,
                                                   self.reg_covar, X.dtype)
        return _Params(np.asarray(weights, dtype=np.float64),
                       np.ascontiguousarray(means, dtype=np.float64), covariances,
                       np.ascontiguousarray(prec_chol, dtype=np.float64),
                       self.covariance_type)

    def _initial_from_responsibilities(self, X, sample_weight, random_state):
        """Parameters from the initial responsibilities of ``init_params``.

        Hard assignments (k-means labels, or one seed row per component) go
        through the fused kernel with every row clamped to its component, so
        the first M-step is exactly the one EM would do with those
        responsibilities. As in scikit-learn, the weights are nk / n_samples,
        and a tied start from seed rows takes the scatter of every row (its
        M-step assumes each row's responsibilities sum to 1).
        """
        n_samples = X.shape[0]
        n_components = self.n_components
        if self.init_params == "random":
            return self._initial_from_soft_responsibilities(X, sample_weight, random_state)
        if self.init_params == "kmeans":
            labels, centers = kmeans_labels(X, n_components, sample_weight, random_state)
            weights_rows = sample_weight
        else:
            if self.init_params == "k-means++":
                seeds = kmeans_plusplus(X, n_components, sample_weight, random_state)
            else:  # random_from_data: distinct rows among those that count (weight > 0),
                # so a weight-0 row acts as removed (same draw as without it)
                rows = (np.arange(n_samples) if sample_weight.shape[0] == 0
                        else np.flatnonzero(sample_weight > 0))
                if rows.shape[0] < n_components:
                    raise ValueError(
                        f"init_params='random_from_data' needs n_components = {n_components} "
                        f"rows with positive sample_weight, got {rows.shape[0]}.")
                seeds = rows[random_state.choice(rows.shape[0], size=n_components,
                                                 replace=False)]
            labels = np.zeros(n_samples, dtype=np.int64)
            labels[seeds] = np.arange(n_components)
            weights_rows = np.zeros(n_samples)
            weights_rows[seeds] = 1.0
            centers = X[seeds].astype(np.float64)
        nk, means, covariances = self._hard_assignment_moments(
            X, weights_rows, labels, centers)
        if self.covariance_type == "tied" and self.init_params != "kmeans":
            # scikit-learn's tied M-step, (X^T X - sum_k nk' m_k m_k^T) / sum nk', takes
            # X^T X over every row: from seed rows that is not the seeds' scatter.
            d = X.shape[1]
            gram = np.zeros((d, d))
            for start in range(0, n_samples, PARTITION_ROWS):
                rows = np.asarray(X[start:start + PARTITION_ROWS], dtype=np.float64)
                weighted = (rows if sample_weight.shape[0] == 0
                            else rows * sample_weight[start:start + PARTITION_ROWS, None])
                gram += weighted.T @ rows
            covariances = (gram - (means.T * nk) @ means) / nk.sum()
            covariances[np.arange(d), np.arange(d)] += self.reg_covar
        total = float(sample_weight.sum()) if sample_weight.shape[0] else float(n_samples)
        return nk / total, means, covariances

    def _hard_assignment_moments(self, X, sample_weight, labels, centers):
        """(nk', means, covariances) of rows assigned to components by ``labels``."""
        k, d = centers.shape
        identity = {"full": np.broadcast_to(np.eye(d), (k, d, d)), "tied": np.eye(d),
                    "diag": np.ones((k, d)), "spherical": np.ones(k)}[self.covariance_type]
        start = _Params(np.full(k, 1.0 / k), centers, None,
                        np.ascontiguousarray(identity), self.covariance_type)
        stats = self._em_pass(_kernel_module(self.covariance_type), X, start, sample_weight,
                              labels, np.arange(k, dtype=np.int64))
        return m_step(stats, centers, start.shift(), self.covariance_type, self.reg_covar)

    def _initial_from_soft_responsibilities(self, X, sample_weight, random_state):
        """'random': uniform responsibilities, streamed; two passes (means, then moments)."""
        k, d = self.n_components, X.shape[1]
        resp_chunks = random_resp_stats(X, k, random_state, sample_weight)
        nk = np.zeros(k)
        sums = np.zeros((k, d))
        for s, e, r in resp_chunks():
            nk += r.sum(axis=0)
            sums += r.T @ X[s:e]
        nk_safe = nk + 10 * np.finfo(np.float64).eps
        means = sums / nk_safe[:, None]
        stats = Stats(self.covariance_type, k, d)
        stats.nk = nk
        shift = (nk_safe / nk_safe.sum()) @ means
        for s, e, r in resp_chunks():
            rows = np.asarray(X[s:e], dtype=np.float64)
            if self.covariance_type == "tied":
                xs = rows - shift
                stats.s1 += r.T @ xs
                stats.s2 += (xs * r.sum(axis=1)[:, None]).T @ xs
                continue
            for j in range(k):
                xc = rows - means[j]
                stats.s1[j] += r[:, j] @ xc
                if self.covariance_type == "full":
                    stats.s2[j] += (xc * r[:, j, None]).T @ xc
                elif self.covariance_type == "diag":
                    stats.s2[j] += r[:, j] @ (xc * xc)
                else:
                    stats.s2[j] += r[:, j] @ (xc * xc).sum(axis=1)
        nk_out, means_out, covariances = m_step(stats, means, shift, self.covariance_type,
                                                self.reg_covar)
        total = float(sample_weight.sum()) if sample_weight.shape[0] else float(X.shape[0])
        return nk_out / total, means_out, covariances

    # ---------------------------------------------------------------- state
    def _current_parameters(self):
        """The fitted parameters in float64 (what the kernels read), whatever their dtype."""
        def as_float64(a):
            return np.ascontiguousarray(a, dtype=np.float64)

        return _Params(as_float64(self.weights_), as_float64(self.means_),
                       as_float64(self.covariances_), as_float64(self.precisions_cholesky_),
                       self.covariance_type)

    def _set_parameters(self, params, dtype=np.float64):
        """Store ``params`` (float64) as the fitted attributes, in ``dtype`` (X's)."""
        self.weights_ = params.weights.astype(dtype)
        self.means_ = params.means.astype(dtype)
        self.covariances_ = np.asarray(params.covariances).astype(dtype)
        self.precisions_cholesky_ = params.prec_chol.astype(dtype)
        self.precisions_ = _linalg.precisions_from_cholesky(
            params.prec_chol, self.covariance_type).astype(dtype)

    def _output_dtype(self, X):
        """scikit-learn's dtype of per-row outputs: float32 only for float32 X and a
        float32 model (either one float64 gives float64)."""
        return np.result_type(X.dtype, self.means_.dtype)

    # ------------------------------------------------------------- predict
    def _weighted_log_prob_chunks(self, X):
        """Yield (start, stop, log(weight_k) + log N(x | k)) chunk by chunk (bounded memory)."""
        kernels = _kernel_module(self.covariance_type)
        params = self._current_parameters()
        log_norm = params.log_norm()
        check = isinstance(X, np.memmap)  # check_array left its NaN/inf check to this pass
        # Per row: this float64 output and one more of its size made by the caller.
        out_row_bytes = 2 * 8 * params.means.shape[0]
        n_chunks = n_chunks_of(X, self.chunk_size, out_row_bytes)
        progress = ChunkProgress(self.verbose, X.shape[0], "predict pass")
        for index, (start, stop, rows) in enumerate(row_chunks(X, self.chunk_size,
                                                               out_row_bytes)):
            if check:
                check_finite_rows(rows, start, "X", type(self).__name__)
            out = np.empty((stop - start, params.means.shape[0]))
            _parallel.weighted_log_prob(kernels.weighted_log_prob, rows, params.means,
                                        params.prec_chol, log_norm, out)
            yield start, stop, out
            progress.update(stop, index + 1, n_chunks)

    def _validated(self, X):
        check_is_fitted(self)
        check_feature_names(self, X, reset=False)
        X = check_array(X, type(self).__name__)
        check_n_features(self, X)
        return X

    def predict(self, X, out=None):
        """Index of the most probable component of each row.

        ``out`` (fastem only): a writable 1-D integer array or ``np.memmap`` of
        n_samples entries; labels are written into it chunk by chunk and it is
        returned (so labels of a file larger than memory can go to a file).
        A dask X gives a lazy dask array (``out`` is then not accepted).
        """
        return self._predict_checked(self._validated(X), out)

    def _predict_checked(self, X, out=None):
        if _is_dask(X):
            if out is not None:
                raise TypeError("out= is not supported for dask input: predict returns a "
                                "lazy dask array; store it with dask.array.store.")
            return lazy_predict(self, X, "labels")
        labels = np.empty(X.shape[0], dtype=np.int64) if out is None else _check_out(
            out, X.shape[0], self.means_.shape[0])
        for start, stop, wlp in self._weighted_log_prob_chunks(X):
            labels[start:stop] = wlp.argmax(axis=1)
        return labels

    def predict_proba(self, X):
        """Posterior probability of each component for each row, shape (n_samples, K)."""
        X = self._validated(X)
        if _is_dask(X):
            return lazy_predict(self, X, "proba").astype(self._output_dtype(X))
        proba = np.empty((X.shape[0], self.means_.shape[0]), dtype=self._output_dtype(X))
        for start, stop, wlp in self._weighted_log_prob_chunks(X):
            proba[start:stop] = np.exp(wlp - _logsumexp_rows(wlp)[:, None])
        return proba

    def score_samples(self, X):
        """Log-density of each row under the mixture."""
        X = self._validated(X)
        if _is_dask(X):
            return lazy_predict(self, X, "score_samples").astype(self._output_dtype(X))
        out = np.empty(X.shape[0], dtype=self._output_dtype(X))
        for start, stop, wlp in self._weighted_log_prob_chunks(X):
            out[start:stop] = _logsumexp_rows(wlp)
        return out

    def score(self, X, y=None):
        """Per-sample mean log-likelihood of X (streamed: no per-row array for a memmap)."""
        X = self._validated(X)
        if _is_dask(X):
            return float(lazy_predict(self, X, "score_samples").mean().compute())
        total = 0.0
        for start, stop, wlp in self._weighted_log_prob_chunks(X):
            total += _logsumexp_rows(wlp).sum()
        return float(total / X.shape[0])

    def sample(self, n_samples=1):
        """Draw ``n_samples`` points (and their component labels) from the fitted mixture.

        Seeded by ``random_state`` exactly as scikit-learn's ``sample``.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError("Invalid value for 'n_samples': %r . The sampling requires at "
                             "least one sample." % (n_samples,))
        rng = check_random_state(self.random_state)
        # float64 parameters (as scikit-learn's float64 output): numpy's positive
        # semi-definiteness check is too strict for float32-rounded covariances.
        params = self._current_parameters()
        counts = rng.multinomial(n_samples, params.weights)
        d = params.means.shape[1]
        if self.covariance_type == "full":
            parts = [rng.multivariate_normal(mean, cov, int(c))
                     for mean, cov, c in zip(params.means, params.covariances, counts)]
        elif self.covariance_type == "tied":
            parts = [rng.multivariate_normal(mean, params.covariances, int(c))
                     for mean, c in zip(params.means, counts)]
        else:
            parts = [mean + rng.standard_normal(size=(int(c), d)) * np.sqrt(cov)
                     for mean, cov, c in zip(params.means, params.covariances, counts)]
        X = np.vstack(parts)
        y = np.concatenate([np.full(int(c), j, dtype=int) for j, c in enumerate(counts)])
        return X, y

    def _n_parameters(self):
        k, d = self.means_.shape
        cov = {"full": k * d * (d + 1) / 2.0, "diag": k * d,
               "tied": d * (d + 1) / 2.0, "spherical": k}[self.covariance_type]
        return int(cov + d * k + k - 1)

    def bic(self, X):
        """Bayesian information criterion on X (lower is better)."""
        n = np.shape(X)[0]
        return -2 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X):
        """Akaike information criterion on X (lower is better)."""
        return -2 * self.score(X) * np.shape(X)[0] + 2 * self._n_parameters()

    # ------------------------------------------------------------- verbose
    def _print_init_begin(self, n_init):
        if self.verbose == 1:
            print(f"Initialization {n_init}")
        elif self.verbose >= 2:
            print(f"Initialization {n_init}")
            self._verbose_start = time.perf_counter()
        sys.stdout.flush()

    def _print_iter_end(self, n_iter, change, tic):
        if n_iter % self.verbose_interval == 0:
            now = time.perf_counter()
            if self.verbose == 1:
                print(f"  Iteration {n_iter}")
            elif self.verbose >= 2:
                print(f"  Iteration {n_iter}\t time lapse {now - tic:.5f}s\t "
                      f"ll change {change:.5f}")
            return now
        return tic

    def _print_init_end(self, lower_bound, converged):
        if self.verbose == 1:
            print(f"Initialization {'converged' if converged else 'did not converge'}.")
        elif self.verbose >= 2:
            elapsed = time.perf_counter() - getattr(self, "_verbose_start", time.perf_counter())
            print(f"Initialization {'converged' if converged else 'did not converge'}. "
                  f"time lapse {elapsed:.5f}s\t lower bound {lower_bound:.5f}.")


def _logsumexp_rows(a):
    top = a.max(axis=1)
    finite_top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - finite_top[:, None]).sum(axis=1)) + finite_top


def _check_out(out, n_samples, n_components):
    """``predict(out=...)``: a writable 1-D integer array of n_samples entries."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array or np.memmap, got {type(out).__name__}.")
    if out.shape != (n_samples,):
        raise ValueError(f"out has shape {out.shape}, expected ({n_samples},).")
    if out.dtype.kind not in "iu":
        raise ValueError(f"out must have an integer dtype, got {out.dtype}.")
    if np.iinfo(out.dtype).max < n_components - 1:
        raise ValueError(f"out's dtype {out.dtype} cannot hold labels up to "
                         f"{n_components - 1}.")
    if not out.flags.writeable:
        raise ValueError("out is read-only.")
    return out
