"""The EM loop, once: ``BaseMixture`` and the hooks its estimators fill in.

Follow X through a fit: ``fit`` checks it and wraps it in a row source
(``_sources.row_source``), and ``_run_fit`` runs the loop of scikit-learn's
``BaseMixture.fit_predict`` on it: ``n_init`` starts (or one ``warm_start``
continuation), each iterated until the change of the lower bound is below
``tol`` or ``max_iter`` is reached; the best start is kept, a
``ConvergenceWarning`` says when it did not converge, and the fitted state is
stored in one step (a Ctrl-C at any moment leaves the estimator as it was).
Each iteration is ONE fused pass of the kernels over the rows
(``source.stats_pass``) followed by the M-step on its statistics.

The estimators are siblings that fill in hooks:

``_prepare(source, y, sample_weight)``
    Check the parameters (before any heavy work) and return the ``Task``:
    components, per-row weights and clamped labels, user initial parameters.
``_initial_parameters(source, task, random_state)``
    The parameters of one start.
``_iterate(source, task, params, lower_bound)``
    The iterations of one start (here: EM; online EM replaces it): a ``Run``.
``_parameters_from_stats(stats, params, dtype)``, ``_lower_bound(...)``
    The M-step and the convergence criterion.
``_current_parameters()`` / ``_set_parameters(params, dtype)``
    Fitted attributes <-> ``_stats.Params``.

The predict family (``predict``, ``predict_proba``, ``score_samples``,
``score``, ``sample``) maps a per-row function over the same row sources.
"""
import contextlib
import contextvars
import copy
import functools
import inspect
import sys
import time
import warnings

import numpy as np

from . import _linalg, _parallel
from ._interrupt import interrupt_safe, kernel_module
from ._sources import row_source
from ._stats import Params, m_step, pass_job
from ._validation import (check_feature_names, check_finite_pass, check_is_fitted,
                          check_n_features, check_random_state, check_sample_weight,
                          check_warm_start, warn_coarse_resolution)
from .exceptions import ConvergenceWarning, sklearn_compatible

NO_LABELS = np.empty(0, dtype=np.int64)

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


class Task:
    """What one fit runs EM on, beyond the rows.

    ``sample_weight`` (empty: all ones) and ``row_label`` (empty: none clamped)
    are per row; ``component_class[k]`` is the class of component k (a row with
    label c shares its responsibility among the components of class c);
    ``init`` holds the user's initial parameters, ``start`` a start the estimator
    made already (semi-supervised: from the labels); ``extra`` fitted attributes
    the estimator derives from the task (e.g. ``classes_``).
    """

    def __init__(self, n_components, sample_weight, row_label=NO_LABELS,
                 component_class=None, init=None, start=None, extra=None):
        self.n_components = n_components
        self.start = start
        self.sample_weight = sample_weight
        self.row_label = row_label
        self.component_class = (np.arange(n_components, dtype=np.int64)
                                if component_class is None else component_class)
        self.init = {} if init is None else init
        self.extra = {} if extra is None else extra

    def total_weight(self, n_samples):
        return (float(self.sample_weight.sum()) if self.sample_weight.shape[0]
                else float(n_samples))


class Run:
    """The outcome of one start: parameters, iterations, lower bounds, convergence.
    ``state``: what else the iterations keep (online EM: its running statistics)."""

    def __init__(self, params, n_iter, lower_bounds, converged, start_bound=-np.inf,
                 state=None):
        self.params = params
        self.n_iter = n_iter
        self.lower_bounds = lower_bounds
        self.converged = converged
        self.lower_bound = lower_bounds[-1] if lower_bounds else start_bound
        self.state = state


def component_outputs(job, kind, rows, threads=None):
    """Per-row outputs of the components: 'labels', 'proba', 'score_samples' or
    'log_prob' (log(weight_k) + log N(x | k), (rows, K))."""
    wlp = np.empty((rows.shape[0], job.n_components))
    _parallel.weighted_log_prob(kernel_module(job.covariance_type).weighted_log_prob, rows,
                                job.means, job.prec_chol, job.log_norm, wlp, threads=threads)
    if kind == "log_prob":
        return wlp
    if kind == "labels":
        return wlp.argmax(axis=1)
    log_density = _linalg.logsumexp_rows(wlp)
    if kind == "score_samples":
        return log_density
    return np.exp(wlp - log_density[:, None])


class BaseMixture:
    """The EM loop and the predict family shared by fastem's mixtures (see the module)."""

    # Whether a start that reached max_iter without converging warns (online EM
    # stops after its passes by design).
    _warns_unconverged = True

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
            float32 and float64 arrays (also memory-mapped) are used as they are;
            dask arrays are fitted blockwise.
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional
            Frequency weights: weight 0 removes a row, an integer weight w
            counts it w times.

        Returns
        -------
        self
        """
        self._fit(X, y, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return ``predict(X)`` (same as ``fit(X).predict(X)``)."""
        return self._per_row(self._fit(X, y, sample_weight), "labels")

    @interrupt_safe
    def _fit(self, X, y, sample_weight):
        """Check X, run the EM loop on a copy of the estimator, then take over the
        copy's state in one step; returns X's row source."""
        fit = copy.copy(self)
        check_feature_names(fit, X, reset=True)
        source = row_source(X, type(self).__name__, chunk_size=getattr(self, "chunk_size", None),
                            verbose=self.verbose, ensure_min_samples=2)
        sample_weight = check_sample_weight(sample_weight, source.n_samples)
        fit._run_fit(source, fit._prepare(source, y, sample_weight))
        self.__dict__ = fit.__dict__  # one assignment: nothing half-updated by a Ctrl-C
        return source

    def _run_fit(self, source, task):
        """The EM loop (scikit-learn's ``fit_predict``), storing the best start."""
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        if not do_init:  # before any kernel sees the previous fit's arrays
            check_warm_start(self, source.n_features)
        random_state = check_random_state(self.random_state)
        best = None
        for init_index in range(self.n_init if do_init else 1):
            self._print_init_begin(init_index)
            if do_init:
                params, lower_bound = self._initial_parameters(source, task, random_state), -np.inf
            else:
                params, lower_bound = self._current_parameters(), float(self.lower_bound_)
            run = self._iterate(source, task, params, lower_bound, random_state)
            self._print_init_end(run.lower_bound, run.converged)
            # scikit-learn's rule: while no start has a finite bound (max_iter=0), the
            # latest start wins.
            if best is None or run.lower_bound > best.lower_bound or best.lower_bound == -np.inf:
                best = run
        best = self._finish(source, task, best)
        source.check_all()  # when no pass read every row (max_iter=0)
        if not best.converged and self.max_iter > 0 and self._warns_unconverged:
            warnings.warn("Best performing initialization did not converge. Try different "
                          "init parameters, or increase max_iter, tol, or check for "
                          f"degenerate data. (fastem: stopped at max_iter={self.max_iter} "
                          f"with the last change of the lower bound above tol={self.tol:g}.)",
                          sklearn_compatible(ConvergenceWarning), stacklevel=5)
        dtype = np.dtype(source.dtype)
        warn_coarse_resolution(best.params.weights, best.params.means, best.params.covariances,
                               self.covariance_type, dtype)
        self._store(best, task, source.n_features, dtype)

    def _iterate(self, source, task, params, lower_bound, random_state):
        """EM iterations of one start: a pass, the M-step, the convergence test."""
        total_weight = task.total_weight(source.n_samples)
        history = []
        converged = False
        n_iter = 0
        last_iter = self.max_iter
        rows = source.one_partition()
        if (rows is not None and self.verbose == 0 and _iteration_callback.get() is None
                and type(self)._lower_bound is BaseMixture._lower_bound
                and type(self)._parameters_from_stats is BaseMixture._parameters_from_stats):
            # Small data, maximum-likelihood EM, nothing to report per iteration: the
            # iterations below in one compiled call (the same bits). It hands back an
            # iteration it cannot finish (non-finite bound, failed M-step factorisation):
            # the loop below redoes it and raises or copes.
            em_loop = kernel_module("em_loop")
            status, history, *arrays = em_loop.run(
                self.covariance_type, rows, task.sample_weight, task.row_label,
                task.component_class, params.weights, params.means, params.prec_chol,
                self.reg_covar, self.tol, self.max_iter, total_weight, lower_bound)
            if history:
                params = Params(*arrays, self.covariance_type)
                n_iter, lower_bound = len(history), history[-1]
            converged = status == em_loop.CONVERGED
            if status != em_loop.HANDED_BACK:
                last_iter = n_iter
        tic = time.perf_counter()
        for n_iter in range(n_iter + 1, last_iter + 1):
            previous = lower_bound
            iteration_start = time.perf_counter()
            stats = self._em_pass(source, params, task.component_class, task.sample_weight,
                                  task.row_label)
            check_finite_pass(stats.log_lik / total_weight, n_iter)
            new_params = self._parameters_from_stats(stats, params, source.dtype)
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
        return Run(params, n_iter, history, converged, start_bound=lower_bound)

    def _parameters_from_stats(self, stats, params, dtype):
        """M-step: new weights, means, covariances and their precision Cholesky factors.

        The compiled M-step runs first (one call instead of ~35 small NumPy
        calls: most of an iteration on small data); when a factorisation fails
        the NumPy reference path takes over and raises the error naming the
        component (or succeeds, if the failure was a rounding-level tie).
        """
        compiled_m_step = getattr(kernel_module("mstep"), self.covariance_type)
        ok, weights, means, covariances, prec_chol = compiled_m_step(
            stats.nk, stats.s1, stats.s2, params.means, params.kernel_shift(),
            float(self.reg_covar))
        if not ok:
            nk, means, covariances = m_step(stats, params.means, params.shift(),
                                            self.covariance_type, self.reg_covar)
            prec_chol = _linalg.precision_cholesky(covariances, self.covariance_type,
                                                   self.reg_covar, dtype)
            weights = nk / nk.sum()
        return Params(weights, np.ascontiguousarray(means), covariances,
                      np.ascontiguousarray(prec_chol), self.covariance_type)

    def _em_pass(self, source, params, component_class, sample_weight, row_label):
        """One fused E-step + sufficient-statistics pass over the rows of ``source``."""
        return source.stats_pass(pass_job(params, component_class), sample_weight, row_label)

    def _finish(self, source, task, best):
        """Hook: after the starts, before storing (online EM refines here)."""
        return best

    def _store(self, run, task, n_features, dtype):
        """The fitted attributes of ``run``. float32 in, float32 out, as scikit-learn
        >= 1.7 (the statistics and EM stay float64 inside)."""
        self._set_parameters(run.params, dtype)
        self.converged_ = run.converged
        self.n_iter_ = run.n_iter
        self.lower_bound_ = dtype.type(run.lower_bound)
        self.lower_bounds_ = [dtype.type(value) for value in run.lower_bounds]
        self.n_features_in_ = n_features
        vars(self).update(task.extra)

    def _lower_bound(self, stats, params, new_params, total_weight):
        """Hook: the convergence criterion of one iteration, from the pass's statistics
        (taken under ``params``) and the M-step's ``new_params``: here the per-sample
        mean log-likelihood."""
        return stats.log_lik / total_weight

    # ---------------------------------------------------------------- state
    def _n_parameters(self):
        k, d = self.means_.shape
        cov = {"full": k * d * (d + 1) / 2.0, "diag": k * d,
               "tied": d * (d + 1) / 2.0, "spherical": k}[self.covariance_type]
        return int(cov + d * k + k - 1)

    def _current_parameters(self):
        """The fitted parameters in float64 (what the kernels read), whatever their dtype."""
        def as_float64(a):
            return np.ascontiguousarray(a, dtype=np.float64)

        return Params(as_float64(self.weights_), as_float64(self.means_),
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

    def _output_dtype(self, source):
        """scikit-learn's dtype of per-row outputs: float32 only for float32 X and a
        float32 model (either one float64 gives float64)."""
        return np.result_type(source.dtype, self.means_.dtype)

    # ------------------------------------------------------------- predict
    def _validated(self, X):
        """X's row source, after the fitted model and X were checked against each other."""
        check_is_fitted(self)
        check_feature_names(self, X, reset=False)
        source = row_source(X, type(self).__name__, chunk_size=getattr(self, "chunk_size", None),
                            verbose=self.verbose)
        check_n_features(self, source)
        return source

    def _row_function(self, kind):
        """Hook: the per-row function of ``kind`` and its (dtype, n_columns)."""
        job = pass_job(self._current_parameters(), None)
        fn = functools.partial(component_outputs, job, kind)
        if kind == "labels":
            return fn, np.int64, None
        return fn, np.float64, (job.n_components if kind == "proba" else None)

    def _per_row(self, source, kind, out=None, dtype=None):
        """Per-row outputs of ``kind`` over the rows of ``source``, chunk by chunk
        (bounded memory: per row, one float64 output per component and one more of
        its size)."""
        fn, fn_dtype, n_columns = self._row_function(kind)
        return source.map_rows(fn, fn_dtype if dtype is None else dtype, n_columns, out,
                               row_bytes=2 * 8 * self.weights_.shape[0])

    def predict(self, X, out=None):
        """Index of the most probable component of each row.

        ``out`` (fastem only): a writable 1-D integer array or ``np.memmap`` of
        n_samples entries; labels are written into it chunk by chunk and it is
        returned (so labels of a file larger than memory can go to a file).
        A dask X gives a lazy dask array (``out`` is then not accepted).
        """
        source = self._validated(X)
        if out is not None:
            out = _check_out(out, source.n_samples, self.weights_.shape[0])
        return self._per_row(source, "labels", out)

    def predict_proba(self, X):
        """Posterior probability of each component for each row, shape (n_samples, K)."""
        source = self._validated(X)
        return self._per_row(source, "proba", dtype=self._output_dtype(source))

    def score_samples(self, X):
        """Log-density of each row under the mixture."""
        source = self._validated(X)
        return self._per_row(source, "score_samples", dtype=self._output_dtype(source))

    def score(self, X, y=None):
        """Per-sample mean log-likelihood of X (streamed: no per-row array for a memmap)."""
        source = self._validated(X)
        fn, _, _ = self._row_function("score_samples")
        return float(source.sum_rows(fn, row_bytes=2 * 8 * self.weights_.shape[0])
                     / source.n_samples)

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
