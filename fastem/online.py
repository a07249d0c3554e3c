"""``MiniBatchGaussianMixture``: stepwise (online) EM over mini-batches and streams.

Stepwise EM (Cappe & Moulines 2009; Liang & Klein 2009) keeps running
sufficient statistics ``s`` and, after every mini-batch, mixes in that batch's
statistics and runs the M-step::

    s <- (1 - eta_t) s + eta_t * s_hat(batch),    eta_t = (t + t0) ** -kappa

``s_hat(batch)`` is the batch's statistics (``_stats.Stats``: nk, s1, s2,
log-likelihood) from the same fused kernel pass as a ``GaussianMixture``
iteration (sample weights and clamped labels included), divided by the batch's
total weight and multiplied by a fixed ``scale``: the total weight of X in
``fit``, of the first batch in ``partial_fit``. The scale is a constant unit
(the M-step only reads ratios, up to scikit-learn's ``10 eps`` guard on nk);
with it one update with ``eta = 1`` on a batch holding all of X is exactly one
``GaussianMixture`` iteration.

The kernels return statistics centred on the means of the parameters they ran
with (tied: on ``_Params.shift()``). The running statistics are kept centred on
the centre of the latest parameters and are moved to the new centre exactly
(``recentred``) before each mix; everything is float64.

``t`` counts the updates made before the current one; the first update after
an initialisation has no running statistics to mix with and takes the batch's
statistics as they are (eta = 1).
"""
import copy
import math
import numbers
import time

import numpy as np

from ._base import NO_LABELS, Run, Task, _iteration_callback
from ._chunks import chunk_rows_for
from ._interrupt import interrupt_safe
from ._sources import in_memory, row_source
from ._stats import Stats
from ._validation import (check_n_features, check_params, check_random_state,
                          check_sample_weight, check_warm_start)
from .mixture import GaussianMixture


class _OnlineState:
    """Where stepwise EM stands: parameters, running statistics (None before
    the first update) and the centre they are taken about, updates made, the
    statistics' unit, and the running estimate of the mean log-likelihood.
    Never modified in place: an update makes a new state, so a failed update
    changes nothing."""

    def __init__(self, params, running, centre, n_steps, scale, log_lik):
        self.params = params
        self.running = running
        self.centre = centre
        self.n_steps = n_steps
        self.scale = scale
        self.log_lik = log_lik


def _symmetric(s2, covariance_type):
    """The kernels fill only the upper triangle of full/tied second moments."""
    if covariance_type == "full":
        return np.triu(s2) + np.swapaxes(np.triu(s2, 1), 1, 2)
    if covariance_type == "tied":
        return np.triu(s2) + np.triu(s2, 1).T
    return s2.copy()


def recentred(stats, old_centre, new_centre, covariance_type):
    """The same statistics taken about ``new_centre`` instead of ``old_centre`` (exact).

    With d = new - old: s1' = s1 - nk d and
    s2' = s2 - s1 d^T - d s1^T + nk d d^T (diag and spherical: its diagonal, its trace).
    Tied: one centre for all rows, so the row sums sum_k s1_k and sum_k nk enter s2.
    """
    out = Stats(covariance_type, *stats.s1.shape)
    out.log_lik = stats.log_lik
    out.nk = stats.nk.copy()
    d = new_centre - old_centre
    nk, s1 = stats.nk, stats.s1
    if covariance_type == "tied":
        out.s1 = s1 - nk[:, None] * d[None, :]
        row_s1 = s1.sum(axis=0)
        out.s2 = (stats.s2 - np.outer(row_s1, d) - np.outer(d, row_s1)
                  + nk.sum() * np.outer(d, d))
        return out
    out.s1 = s1 - nk[:, None] * d
    if covariance_type == "full":
        cross = s1[:, :, None] * d[:, None, :]
        out.s2 = (stats.s2 - cross - np.swapaxes(cross, 1, 2)
                  + nk[:, None, None] * d[:, :, None] * d[:, None, :])
    elif covariance_type == "diag":
        out.s2 = stats.s2 - 2.0 * s1 * d + nk[:, None] * d * d
    else:
        out.s2 = stats.s2 - 2.0 * (s1 * d).sum(axis=1) + nk * (d * d).sum(axis=1)
    return out


def _mixed(running, batch, eta):
    """(1 - eta) running + eta batch, field by field (new arrays)."""
    out = Stats.__new__(Stats)
    for name in ("log_lik", "nk", "s1", "s2"):
        setattr(out, name, (1.0 - eta) * getattr(running, name) + eta * getattr(batch, name))
    return out


def statistics_of_parameters(params, scale, reg_covar):
    """Running statistics that the M-step maps back to ``params`` (to rounding):
    nk = weights * scale, centred on the parameters' centre, covariances less
    reg_covar. They stand in for the running statistics of a model that has
    none (loaded from a file, or refined by full-batch EM)."""
    covariance_type = params.covariance_type
    k, n_features = params.means.shape
    stats = Stats(covariance_type, k, n_features)
    stats.nk = params.weights * scale
    nk = stats.nk
    cov = np.asarray(params.covariances, dtype=np.float64)
    eye = np.eye(n_features)
    if covariance_type == "full":
        stats.s2 = nk[:, None, None] * (cov - reg_covar * eye)
    elif covariance_type == "diag":
        stats.s2 = nk[:, None] * (cov - reg_covar)
    elif covariance_type == "spherical":
        stats.s2 = nk * (cov - reg_covar) * n_features
    else:
        offsets = params.means - params.shift()
        stats.s1 = nk[:, None] * offsets
        stats.s2 = nk.sum() * (cov - reg_covar * eye) + (offsets.T * nk) @ offsets
    return stats


def batch_indices(n_samples, batch_size, block_rows, random_state):
    """Sorted row indices of each mini-batch of one pass over ``n_samples`` rows.

    The rows are cut into blocks of ``block_rows`` contiguous rows; the blocks
    are visited in a random order, and each block's rows are dealt at random
    into batches of ``batch_size`` (the last batch of a block may be smaller).
    A memory-mapped file is thus read one block region at a time (sequential
    at the scale of a block), each batch is a uniform sample of its block,
    and no more than one block's index permutation is ever in memory.
    """
    starts = np.arange(0, n_samples, block_rows)
    for start in starts[random_state.permutation(starts.shape[0])]:
        stop = min(n_samples, int(start) + block_rows)
        order = start + random_state.permutation(stop - start)
        for first in range(0, stop - start, batch_size):
            yield np.sort(order[first:first + batch_size])


class MiniBatchGaussianMixture(GaussianMixture):
    """Gaussian mixture fitted by stepwise (online) EM over mini-batches.

    After every mini-batch the running sufficient statistics move towards the
    batch's, ``s <- (1 - eta_t) s + eta_t s_hat(batch)`` with step size
    ``eta_t = (t + learning_offset) ** -learning_decay``, and the M-step
    runs: a few passes over data too big to iterate over many times reach
    nearly the full-batch EM optimum (Cappe & Moulines 2009). ``fit`` walks
    an ndarray, ``np.memmap`` or dask array in shuffled batches with bounded
    memory; ``partial_fit`` takes one batch of a stream at a time. Every
    covariance type, float32/float64 and sample weights are supported;
    ``predict``, ``score``, ``sample``, ``bic``, ``save`` ... are those of
    :class:`GaussianMixture`.

    Parameters
    ----------
    n_components, covariance_type, reg_covar, n_init, init_params, weights_init,
    means_init, precisions_init, random_state, warm_start, verbose, verbose_interval,
    init_max_samples :
        As for :class:`GaussianMixture`. The initialisation runs on at most
        ``init_max_samples`` rows of X (``fit``) or on the first batch
        (``partial_fit``). ``n_init`` runs whole online fits and keeps the one
        with the best last ``lower_bounds_`` value. ``warm_start=True``: ``fit``
        goes on from the fitted parameters (running statistics rebuilt from
        them, the step-size schedule going on at ``n_steps_``).
    tol : float, default=1e-3
        ``fit`` stops after a pass whose ``lower_bounds_`` value changed by
        less than ``tol`` from the previous pass; also the tolerance of the
        refinement (``refine=True``).
    max_iter : int, default=100
        The most full-batch EM iterations of the refinement (``refine=True``).
    chunk_size : int or str, optional
        Rows (int) or bytes (str) of a block of contiguous rows from which
        batches are drawn (see ``fit``); the default as ``GaussianMixture``'s
        chunk (at most 262144 rows or 64 MiB).
    batch_size : int, default=16384
        Rows per mini-batch.
    max_passes : int, default=3
        Most passes over the data in ``fit``.
    learning_offset : float, default=10.0
        t0 >= 0 of the step size: larger values take smaller early steps.
    learning_decay : float, default=0.7
        kappa in (0.5, 1] of the step size (Robbins-Monro conditions).
    refine : bool, default=False
        After the online passes of ``fit``, run full-batch EM iterations
        (``GaussianMixture``'s, with ``tol`` and ``max_iter``) from the online
        solution: the exact EM fixed point at the cost of a few more passes.

    Attributes
    ----------
    weights_, means_, covariances_, precisions_, precisions_cholesky_, n_features_in_ :
        As for :class:`GaussianMixture`.
    lower_bounds_ : list of float
        ``fit``: one value per pass: the mean log-likelihood per sample (per
        unit of weight) over that pass, each batch scored by the parameters
        in force just before it updated them (a prequential estimate: every
        batch is scored by a model not yet updated on it in this pass). With
        ``refine=True`` the refinement's per-iteration values (exact, as
        ``GaussianMixture.lower_bounds_``) follow. ``partial_fit`` appends
        ``lower_bound_`` after every call.
    lower_bound_ : float
        ``fit``: the last value of ``lower_bounds_``. ``partial_fit``: the
        running estimate of the mean log-likelihood, the batches' mean
        log-likelihoods (each under the parameters before its update) mixed
        with the same step sizes as the statistics.
    converged_ : bool
        ``fit``: the change between the last two passes was below ``tol`` (with
        ``refine=True``: the refinement converged). ``partial_fit``: False.
    n_iter_ : int
        Passes over the data made by ``fit``'s online phase (0 after partial_fit).
    n_steps_ : int
        Mini-batch updates made since the initialisation (the ``t`` of the schedule).
    n_refine_iter_ : int
        Full-batch EM iterations of the refinement (0 without it).

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import MiniBatchGaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-5, 1, (5000, 2)), rng.normal(5, 1, (5000, 2))])
    >>> gm = MiniBatchGaussianMixture(2, batch_size=1000, random_state=0).fit(X)
    >>> np.round(np.sort(gm.means_[:, 0]))
    array([-5.,  5.])
    """

    def __init__(self, n_components=1, *, covariance_type="full", tol=1e-3,
                 reg_covar=1e-6, max_iter=100, n_init=1, init_params="kmeans",
                 weights_init=None, means_init=None, precisions_init=None,
                 random_state=None, warm_start=False, verbose=0, verbose_interval=10,
                 chunk_size=None, init_max_samples=100_000, batch_size=16384,
                 max_passes=3, learning_offset=10.0, learning_decay=0.7, refine=False):
        super().__init__(n_components, covariance_type=covariance_type, tol=tol,
                         reg_covar=reg_covar, max_iter=max_iter, n_init=n_init,
                         init_params=init_params, weights_init=weights_init,
                         means_init=means_init, precisions_init=precisions_init,
                         random_state=random_state, warm_start=warm_start, verbose=verbose,
                         verbose_interval=verbose_interval, chunk_size=chunk_size,
                         init_max_samples=init_max_samples)
        self.batch_size = batch_size
        self.max_passes = max_passes
        self.learning_offset = learning_offset
        self.learning_decay = learning_decay
        self.refine = refine

    def _check_online_params(self):
        name = type(self).__name__
        for param in ("batch_size", "max_passes"):
            v = getattr(self, param)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
                raise ValueError(f"The '{param}' parameter of {name} must be an int in the "
                                 f"range [1, inf). Got {v!r} instead.")
        t0 = self.learning_offset
        if (not isinstance(t0, numbers.Real) or isinstance(t0, bool) or not math.isfinite(t0)
                or t0 < 0):
            raise ValueError(f"The 'learning_offset' parameter of {name} must be a float in "
                             f"the range [0.0, inf). Got {t0!r} instead.")
        kappa = self.learning_decay
        if (not isinstance(kappa, numbers.Real) or isinstance(kappa, bool)
                or not 0.5 < kappa <= 1.0):
            raise ValueError(f"The 'learning_decay' parameter of {name} must be a float in "
                             f"the range (0.5, 1.0]. Got {kappa!r} instead.")
        if not isinstance(self.refine, (bool, np.bool_)):
            raise ValueError(f"The 'refine' parameter of {name} must be a bool. "
                             f"Got {self.refine!r} instead.")

    # ------------------------------------------------------------- one update
    def _step_size(self, n_steps):
        return (n_steps + float(self.learning_offset)) ** -float(self.learning_decay)

    def _online_step(self, state, rows, sample_weight, row_label, component_class):
        """One stepwise-EM update on a checked in-memory batch: (new state, the
        batch's log-likelihood sum, its total weight). ``state`` is not modified.
        A batch of total weight 0 changes nothing."""
        params = state.params
        batch = self._em_pass(in_memory(rows, type(self).__name__), params, component_class,
                              sample_weight, row_label)
        weight = float(sample_weight.sum()) if sample_weight.shape[0] else float(rows.shape[0])
        if weight == 0.0:
            return state, 0.0, 0.0
        batch_log_lik = batch.log_lik
        unit = state.scale / weight  # exactly 1.0 when the batch is all the data
        batch.nk = batch.nk * unit
        batch.s1 = batch.s1 * unit
        batch.s2 = _symmetric(batch.s2, self.covariance_type) * unit
        batch.log_lik = batch_log_lik / weight  # per unit of weight, as lower_bound_
        if state.running is None:
            running = batch
        else:
            eta = self._step_size(state.n_steps)
            previous = recentred(state.running, state.centre, params.centre(),
                                 self.covariance_type)
            running = _mixed(previous, batch, eta)
        new_params = self._parameters_from_stats(running, params, rows.dtype)
        new_state = _OnlineState(new_params, running, params.centre(), state.n_steps + 1,
                                 state.scale, running.log_lik)
        return new_state, batch_log_lik, weight

    # -------------------------------------------------------------------- fit
    # The EM loop of BaseMixture runs the starts; these hooks make each start a run
    # of online passes and refine the best one.
    _warns_unconverged = False  # a fit ends after max_passes by design

    def _prepare(self, source, y, sample_weight):
        task = super()._prepare(source, y, sample_weight)
        self._check_online_params()
        return task

    def _iterate(self, source, task, params, lower_bound, random_state):
        """Online passes of one start (or of the continued warm-started fit)."""
        scale = task.total_weight(source.n_samples)
        if self.warm_start and hasattr(self, "converged_"):
            state = self._resumed_state(scale)
        else:
            state = _OnlineState(params, None, None, 0, scale, 0.0)
        state, history, converged = self._online_passes(source, task, state, random_state)
        return Run(state.params, len(history), history, converged, state=state)

    def _finish(self, source, task, best):
        """``refine=True``: full-batch EM from the best start's parameters."""
        best.n_refine_iter = 0
        if not self.refine:
            return best
        refined = self._refined(source, task, best.params)
        run = Run(refined._current_parameters(), best.n_iter,
                  best.lower_bounds + refined.lower_bounds_, refined.converged_)
        run.state = _OnlineState(run.params, None, None, best.state.n_steps, best.state.scale,
                                 refined.lower_bound_)
        run.n_refine_iter = refined.n_iter_
        return run

    def _store(self, run, task, n_features, dtype):
        super()._store(run, task, n_features, dtype)
        self._online_state = run.state
        self.n_steps_ = run.state.n_steps
        self.n_refine_iter_ = run.n_refine_iter

    def _online_passes(self, source, task, state, random_state):
        """Up to ``max_passes`` passes of stepwise EM: (state, per-pass mean
        log-likelihoods, converged).

        Each pass ends with tail averaging (Polyak-Ruppert; Cappe & Moulines
        2009): the running statistics of the pass's second half of updates are
        averaged (all moved to one centre), and the pass's parameters are the
        M-step of that average, which cancels most of the step-to-step noise.
        """
        n_samples = source.n_samples
        block_rows = max(1, chunk_rows_for(source, self.chunk_size) // self.batch_size)
        block_rows *= self.batch_size
        n_batches = sum(-(-min(block_rows, n_samples - start) // self.batch_size)
                        for start in range(0, n_samples, block_rows))
        history = []
        converged = False
        tic = time.perf_counter()
        for n_pass in range(1, self.max_passes + 1):
            pass_start = time.perf_counter()
            log_lik = weight = 0.0
            average, average_centre, n_averaged = None, None, 0
            for index, (rows, weights, labels) in enumerate(self._batches(
                    source, task, block_rows, random_state)):
                state, batch_log_lik, batch_weight = self._online_step(
                    state, rows, weights, labels, task.component_class)
                log_lik += batch_log_lik
                weight += batch_weight
                if 2 * index + 1 >= n_batches and state.running is not None:
                    n_averaged += 1
                    average = state.running if average is None else _mixed(
                        recentred(average, average_centre, state.centre,
                                  self.covariance_type),
                        state.running, 1.0 / n_averaged)
                    average_centre = state.centre
            source.checked = True  # rows_between checked every block of the pass
            if n_averaged > 1:
                centre = state.params.centre()
                average = recentred(average, average_centre, centre, self.covariance_type)
                state = _OnlineState(
                    self._parameters_from_stats(average, state.params, source.dtype), average,
                    centre, state.n_steps, state.scale, average.log_lik)
            history.append(log_lik / weight)
            change = history[-1] - (history[-2] if n_pass > 1 else -np.inf)
            report = _iteration_callback.get()
            if report is not None:
                report(n_pass, history[-1], change, time.perf_counter() - pass_start)
            tic = self._print_iter_end(n_pass, change, tic)
            if abs(change) < self.tol:
                converged = True
                break
        return state, history, converged

    def _batches(self, source, task, block_rows, random_state):
        """Yield (rows, weights, labels) of each batch of one pass: one read of each
        block of contiguous rows, its batches cut from it in memory."""
        block = None
        sample_weight, row_label = task.sample_weight, task.row_label
        for indices in batch_indices(source.n_samples, self.batch_size, block_rows,
                                     random_state):
            start = int(indices[0]) // block_rows * block_rows
            if block is None or block[0] != start:
                block = (start, source.rows_between(start, min(source.n_samples,
                                                               start + block_rows)))
            yield (np.ascontiguousarray(block[1][indices - start]),
                   sample_weight[indices] if sample_weight.shape[0] else sample_weight,
                   row_label[indices] if row_label.shape[0] else row_label)

    def _refined(self, source, task, params):
        """A GaussianMixture warm-started from ``params`` and run to convergence on X."""
        batch = GaussianMixture(**{name: getattr(self, name)
                                   for name in GaussianMixture._get_param_names()})
        batch.warm_start = True
        batch._set_parameters(params)
        batch.converged_ = False
        batch.lower_bound_ = -np.inf
        batch._run_fit(source, task)
        return batch

    def _resumed_state(self, scale):
        """The stepwise-EM state of a fitted model that has no running statistics
        (loaded from a file, refined by batch EM, or warm-started): statistics
        rebuilt from its parameters, the step-size schedule going on at n_steps_."""
        params = self._current_parameters()
        running = statistics_of_parameters(params, scale, self.reg_covar)
        running.log_lik = self.lower_bound_
        return _OnlineState(params, running, params.centre(), getattr(self, "n_steps_", 0),
                            scale, self.lower_bound_)

    # ------------------------------------------------------------ streams
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the model with one mini-batch of a stream (one stepwise-EM step).

        The first call initialises the model (``init_params`` on this batch,
        or ``weights_init``/``means_init``/``precisions_init``) and takes the
        batch's statistics as the running statistics; later calls mix theirs in
        with step ``eta_t``. A fitted or loaded model continues from its
        parameters (its running statistics, or statistics rebuilt from its
        parameters when it has none, e.g. after ``fastem.load``). A bad batch
        (wrong number of features, NaN/inf, negative or all-zero weights, fewer
        rows than components on the first call) raises ValueError and leaves the
        model exactly as it was.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        self._partial_fit(X, sample_weight)
        return self

    @interrupt_safe
    def _partial_fit(self, X, sample_weight):
        source = row_source(X, type(self).__name__, verbose=self.verbose)
        rows = np.ascontiguousarray(source.all_rows())  # in memory (dask: computed), checked
        n_samples, n_features = rows.shape
        sample_weight = check_sample_weight(sample_weight, n_samples)
        weight = float(sample_weight.sum()) if sample_weight.shape[0] else float(n_samples)
        fit = copy.copy(self)  # the fitted state changes in one step at the end
        if hasattr(fit, "means_"):
            check_n_features(fit, rows)
            check_warm_start(fit, n_features, continuing="partial_fit continues the fitted "
                             "model", afresh="fit a new estimator")
            fit._check_online_params()
            state = getattr(fit, "_online_state", None)
            if state is None or state.running is None:  # loaded, or refined by batch EM
                state = fit._resumed_state(weight if state is None else state.scale)
        else:
            check_params(fit, n_samples, n_features)
            fit._check_online_params()
            task = Task(fit.n_components, sample_weight,
                        init=fit._check_initial_parameters(n_features))
            params = fit._initial_parameters(in_memory(rows, type(self).__name__), task,
                                             check_random_state(fit.random_state))
            state = _OnlineState(params, None, None, 0, weight, 0.0)
        state, _, _ = fit._online_step(state, rows, sample_weight, NO_LABELS,
                                       np.arange(fit.n_components, dtype=np.int64))
        history = list(getattr(fit, "lower_bounds_", []))
        fit._set_parameters(state.params, rows.dtype)
        fit._online_state = state
        fit.n_steps_ = state.n_steps
        fit.n_features_in_ = n_features
        fit.converged_ = False
        fit.n_iter_ = getattr(fit, "n_iter_", 0)
        fit.n_refine_iter_ = getattr(fit, "n_refine_iter_", 0)
        fit.lower_bound_ = float(state.log_lik)
        fit.lower_bounds_ = history + [fit.lower_bound_]
        self.__dict__ = fit.__dict__  # one assignment: nothing half-updated by a Ctrl-C
