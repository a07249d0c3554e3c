"""Model selection: fit a grid of ``n_components`` x ``covariance_type`` and rank by BIC or AIC.

``select_model`` fits every cell of the grid one after the other in this
process. Each fit is an ordinary :class:`fastem.GaussianMixture` fit, so it
runs its partitions on fastem's thread pool (``fastem.set_num_threads``,
``FASTEM_NUM_THREADS``; README "Threads") and reuses the compiled (and
disk-cached) code of the previous fits; there is no process pool. The data are passed to
``fit`` and ``score`` (one pass gives both criteria) exactly as given, so memory-mapped
and dask input is read through the same sources as a single fit and never copied whole.

``import fastem.selection`` imports neither matplotlib nor scikit-learn.
"""
import math
import numbers
import time
import warnings

import numpy as np

from ._validation import COVARIANCE_TYPES, check_params
from .exceptions import ConvergenceWarning, sklearn_compatible
from .mixture import GaussianMixture

CRITERIA = ("bic", "aic")

# Exceptions that mean "this cell of the grid could not be fitted" (a singular
# covariance, a numerical breakdown). Anything else is a bug or a bad call and
# propagates.
_FIT_ERRORS = (ValueError, ArithmeticError)

_FIELDS = [
    ("n_components", np.int64),
    ("covariance_type", "U9"),
    ("bic", np.float64),
    ("aic", np.float64),
    ("lower_bound", np.float64),
    ("n_iter", np.int64),
    ("converged", np.bool_),
    ("fit_seconds", np.float64),
    ("failed", np.bool_),
]


class ModelSelectionResult:
    """The outcome of :func:`select_model`.

    Attributes
    ----------
    best : GaussianMixture
        The fitted model with the lowest criterion among the fits that succeeded.
    best_index : int
        Row of ``best`` in ``table``.
    table : numpy structured array, one row per fit
        Fields ``n_components``, ``covariance_type``, ``bic``, ``aic``,
        ``lower_bound`` (per-sample mean log-likelihood), ``n_iter``,
        ``converged``, ``fit_seconds``, ``failed`` and ``error`` (the reason a
        fit failed, empty otherwise). A failed fit has NaN criteria.
        ``fit_seconds`` is the wall time of ``fit``; the first fit of a
        covariance type in a process includes loading (or compiling) its
        kernels. Rows come
        in grid order: covariance types in the order given, and within each,
        ``n_components`` in the order given.
    models : list
        The fitted model of each row (``None`` for a failed fit).
    criterion : {'bic', 'aic'}
        The criterion ``best`` minimises. Lower is better.
    """

    def __init__(self, table, models, criterion):
        self.table = table
        self.models = models
        self.criterion = criterion
        values = np.where(table["failed"], np.inf, table[criterion])
        self.best_index = int(np.argmin(values))
        self.best = models[self.best_index]

    @property
    def best_params(self):
        """``{'n_components': ..., 'covariance_type': ...}`` of the best model."""
        row = self.table[self.best_index]
        return {"n_components": int(row["n_components"]),
                "covariance_type": str(row["covariance_type"])}

    def plot(self, ax=None, criterion=None):
        """Criterion against ``n_components``, one line per covariance type (needs matplotlib).

        See :func:`fastem.plotting.plot_selection`.
        """
        from .plotting import plot_selection
        return plot_selection(self, ax=ax, criterion=criterion)

    def to_records(self):
        """The table as a list of dicts (plain Python values)."""
        return [{name: row[name].item() for name in self.table.dtype.names}
                for row in self.table]

    def to_frame(self):
        """The table as a pandas DataFrame (needs pandas; nothing else in fastem does)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("ModelSelectionResult.to_frame needs pandas: pip install "
                              "pandas (result.table is a NumPy structured array and "
                              "result.to_records() a list of dicts without it).") from exc
        return pd.DataFrame.from_records(self.table)

    def __repr__(self):
        lines = [f"ModelSelectionResult(criterion={self.criterion!r}, "
                 f"best={self.best_params})",
                 f"{'n_components':>12} {'covariance':>10} {'bic':>14} {'aic':>14} "
                 f"{'n_iter':>6} {'converged':>9} {'seconds':>8}"]
        for i, row in enumerate(self.table):
            mark = " *" if i == self.best_index else ""
            if row["failed"]:
                lines.append(f"{row['n_components']:>12} {row['covariance_type']:>10} "
                             f"failed: {row['error']}")
                continue
            lines.append(f"{row['n_components']:>12} {row['covariance_type']:>10} "
                         f"{row['bic']:>14.6g} {row['aic']:>14.6g} {row['n_iter']:>6} "
                         f"{str(bool(row['converged'])):>9} {row['fit_seconds']:>8.3f}"
                         f"{mark}")
        return "\n".join(lines)


def select_model(X, n_components=range(1, 10),
                 covariance_types=("full", "tied", "diag", "spherical"),
                 criterion="bic", n_init=1, random_state=None, **gmm_kwargs):
    """Fit a Gaussian mixture for every number of components and covariance type; keep the best.

    Every pair of the grid ``n_components`` x ``covariance_types`` is fitted
    with :class:`fastem.GaussianMixture` and scored on ``X`` with the fitted
    model's ``bic`` and ``aic``. **Lower BIC/AIC is better**, as in
    scikit-learn (``bic = -2 log L + p log n``, ``aic = -2 log L + 2 p``).
    R's mclust reports BIC with the opposite sign (``2 log L - p log n``,
    higher is better); negate its values to compare.

    Fits run one after the other in this process; each runs on fastem's
    thread pool (``fastem.get_num_threads()`` threads, set with
    ``fastem.set_num_threads`` or ``FASTEM_NUM_THREADS``). A fit that fails
    (for instance a singular covariance) is
    recorded in the table with its reason instead of stopping the grid.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Anything :meth:`GaussianMixture.fit` accepts: ndarray, memory-mapped
        array (read in chunks, never copied whole) or dask array. It is passed
        unchanged to every ``fit`` and ``score``.
    n_components : iterable of int or int, default=range(1, 10)
        Numbers of components to try (duplicates are dropped). Each must be
        at least 1 and at most ``n_samples``.
    covariance_types : iterable of str or str, default=('full', 'tied', 'diag', 'spherical')
        Covariance types to try.
    criterion : {'bic', 'aic'}, default='bic'
        Which criterion picks ``best`` (both are always computed).
    n_init : int, default=1
        Initialisations per fit (passed to every ``GaussianMixture``).
    random_state : int, RandomState instance or None, default=None
        Passed unchanged to every ``GaussianMixture``: with an int, each cell's
        fit equals ``GaussianMixture(k, covariance_type=t, n_init=n_init,
        random_state=random_state, **gmm_kwargs).fit(X)``.
    **gmm_kwargs
        Other :class:`GaussianMixture` parameters (``tol``, ``reg_covar``,
        ``max_iter``, ``init_params``, ``chunk_size``, ...).

    Returns
    -------
    ModelSelectionResult
        ``.best`` (the fitted model with the lowest criterion), ``.table``
        (one row per fit), ``.models`` and ``.plot()``.

    Raises
    ------
    ValueError
        Before any fit: empty grid, ``n_components`` not a positive int or
        larger than ``n_samples``, unknown ``criterion`` or covariance type, or
        an invalid ``GaussianMixture`` parameter. After the grid: when every
        fit failed (the message lists the reasons).
    TypeError
        An unknown keyword in ``gmm_kwargs``.

    Warns
    -----
    ConvergenceWarning
        Once, after the grid, if any fit stopped at ``max_iter`` (the
        ``converged`` column says which).

    Examples
    --------
    >>> import numpy as np
    >>> from fastem.selection import select_model
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-5, 1, (200, 2)), rng.normal(5, 1, (200, 2))])
    >>> result = select_model(X, n_components=range(1, 5), random_state=0)
    >>> result.best.n_components
    2
    >>> len(result.table)
    16
    """
    X = _as_data(X)
    n_samples, n_features = _shape(X)
    grid_k = _check_n_components(n_components, n_samples)
    grid_types = _check_covariance_types(covariance_types)
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}; got {criterion!r}.")
    for name in ("n_components", "covariance_type"):
        if name in gmm_kwargs:
            raise TypeError(f"select_model got {name!r} in gmm_kwargs; pass the grid as "
                            "n_components=... and covariance_types=... instead.")

    grid = [(k, t) for t in grid_types for k in grid_k]
    models = [GaussianMixture(n_components=k, covariance_type=t, n_init=n_init,
                              random_state=random_state, **gmm_kwargs) for k, t in grid]
    for model in models:  # every parameter checked before the first fit
        check_params(model, n_samples if n_samples is not None else model.n_components,
                     n_features if n_features is not None else 1)

    table = np.zeros(len(grid), dtype=_FIELDS)
    errors = [""] * len(grid)
    for i, ((k, t), model) in enumerate(zip(grid, models)):
        row = table[i]
        row["n_components"], row["covariance_type"] = k, t
        tic = time.perf_counter()
        try:
            with warnings.catch_warnings():
                # Reported once for the whole grid below, from the table.
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X)
            row["fit_seconds"] = time.perf_counter() - tic
            row["bic"], row["aic"] = _criteria(model, X)
        except _FIT_ERRORS as exc:
            row["fit_seconds"] = time.perf_counter() - tic
            row["failed"] = True
            row["bic"] = row["aic"] = row["lower_bound"] = np.nan
            errors[i] = f"{type(exc).__name__}: {exc}"
            models[i] = None
            continue
        row["lower_bound"] = model.lower_bound_
        row["n_iter"] = model.n_iter_
        row["converged"] = model.converged_

    table = _with_errors(table, errors)
    if table["failed"].all():
        reasons = sorted(set(errors))
        raise ValueError(f"All {len(grid)} fits of the grid failed. Reason(s): "
                         + " | ".join(reasons))
    not_converged = table[~table["failed"] & ~table["converged"]]
    if len(not_converged):
        cells = ", ".join(f"({r['n_components']}, {r['covariance_type']!s})"
                          for r in not_converged)
        warnings.warn(f"{len(not_converged)} of {len(grid)} fits did not converge "
                      f"(n_components, covariance_type): {cells}. Increase max_iter or "
                      "tol; result.table['converged'] marks them.",
                      sklearn_compatible(ConvergenceWarning), stacklevel=2)
    return ModelSelectionResult(table, models, criterion)


def _criteria(model, X):
    """``(model.bic(X), model.aic(X))``, the same bits, from one scoring pass over X
    instead of two (a tenth of a small grid's time)."""
    score = model.score(X)
    n = np.shape(X)[0]
    n_parameters = model._n_parameters()
    return (-2 * score * n + n_parameters * math.log(n),
            -2 * score * n + 2 * n_parameters)


def _as_data(X):
    """X unchanged if it has a shape (ndarray, memmap, dask array); else one ndarray."""
    if hasattr(X, "shape") and hasattr(X, "ndim"):
        return X
    return np.asarray(X)


def _shape(X):
    """(n_samples, n_features); None for a dimension a lazy array does not know yet."""
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D array of shape (n_samples, n_features), got "
                         f"{X.ndim}D with shape {tuple(X.shape)}. Reshape a single "
                         "feature with X.reshape(-1, 1).")

    def known(n):
        return int(n) if n is not None and not (isinstance(n, float) and np.isnan(n)) \
            else None
    return known(X.shape[0]), known(X.shape[1])


def _check_n_components(n_components, n_samples):
    if isinstance(n_components, (numbers.Integral, np.integer)) and \
            not isinstance(n_components, bool):
        n_components = [n_components]
    try:
        values = list(n_components)
    except TypeError:
        raise ValueError("n_components must be an int or an iterable of ints; got "
                         f"{n_components!r}.") from None
    if not values:
        raise ValueError("n_components is empty: the grid needs at least one number "
                         "of components.")
    grid = []
    for k in values:
        if not isinstance(k, (numbers.Integral, np.integer)) or isinstance(k, bool) or k < 1:
            raise ValueError(f"Every n_components must be an int >= 1; got {k!r}.")
        if int(k) not in grid:
            grid.append(int(k))
    if n_samples is not None:
        too_many = [k for k in grid if k > n_samples]
        if too_many:
            raise ValueError(f"n_components {too_many} larger than n_samples = {n_samples}: "
                             "a mixture cannot have more components than samples. Use "
                             f"n_components <= {n_samples}.")
    return grid


def _check_covariance_types(covariance_types):
    if isinstance(covariance_types, str):
        covariance_types = [covariance_types]
    values = list(covariance_types)
    if not values:
        raise ValueError("covariance_types is empty: the grid needs at least one of "
                         f"{COVARIANCE_TYPES}.")
    grid = []
    for t in values:
        if t not in COVARIANCE_TYPES:
            raise ValueError(f"Unknown covariance type {t!r}; expected some of "
                             f"{COVARIANCE_TYPES}.")
        if t not in grid:
            grid.append(t)
    return grid


def _with_errors(table, errors):
    """Append the ``error`` text field, as wide as the longest reason."""
    width = max([1] + [len(e) for e in errors])
    out = np.zeros(table.shape, dtype=_FIELDS + [("error", f"U{width}")])
    for name, _ in _FIELDS:
        out[name] = table[name]
    out["error"] = errors
    return out
