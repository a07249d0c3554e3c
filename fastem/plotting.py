"""Plots of fitted mixtures (optional: needs matplotlib, ``pip install fastem[plot]``).

matplotlib is imported inside each function, so ``import fastem.plotting``
costs nothing and works without it. Every function draws on ``ax`` (or
``axes``) when given, otherwise on a new figure, and returns what it drew on.

==================  ==========================================================
plot_ellipses       data coloured by component, with 1-, 2- and 3-sigma ellipses
plot_convergence    mean log-likelihood per EM iteration (``lower_bounds_``)
plot_membership     membership probability of each component, one panel each
plot_selection      BIC or AIC against n_components, one line per covariance type
==================  ==========================================================
"""
import numpy as np

_INSTALL_HINT = "pip install fastem[plot]"


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("fastem.plotting needs matplotlib, the optional 'plot' extra: "
                          f"{_INSTALL_HINT}") from exc
    return plt


def _colors(n):
    """n distinct colours from matplotlib's default cycle (repeated if n > 10)."""
    plt = _pyplot()
    cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    return [cycle[i % len(cycle)] for i in range(n)]


def _check_fitted(model):
    if not hasattr(model, "means_"):
        raise ValueError(f"{type(model).__name__} is not fitted yet; call fit first.")


def _check_features(features, n_features):
    try:
        i, j = (int(f) for f in features)
    except (TypeError, ValueError):
        raise ValueError(f"features must be a pair of column indices; got {features!r}.") \
            from None
    if n_features < 2:
        raise ValueError("Ellipses need at least 2 features; the model has "
                         f"{n_features}. For 1-D data use plot_membership.")
    if i == j or not (0 <= i < n_features and 0 <= j < n_features):
        raise ValueError(f"features must be two different column indices in "
                         f"[0, {n_features}); got {features!r}.")
    return i, j


def _component_covariances(model, features=(0, 1)):
    """The (K, 2, 2) covariance of each component on a pair of features.

    The marginal of a Gaussian on two features is the 2x2 block of its
    covariance: for 'full' each component's block, for 'tied' the shared
    block repeated, for 'diag' the two variances on the diagonal, for
    'spherical' the component's variance times the identity.
    """
    _check_fitted(model)
    n_components, n_features = model.means_.shape
    i, j = _check_features(features, n_features)
    cov = np.asarray(model.covariances_, dtype=np.float64)
    pair = [i, j]
    if model.covariance_type == "full":
        return cov[:, pair][:, :, pair]
    if model.covariance_type == "tied":
        return np.broadcast_to(cov[np.ix_(pair, pair)], (n_components, 2, 2)).copy()
    if model.covariance_type == "diag":
        out = np.zeros((n_components, 2, 2))
        out[:, 0, 0] = cov[:, i]
        out[:, 1, 1] = cov[:, j]
        return out
    if model.covariance_type == "spherical":
        return cov[:, None, None] * np.eye(2)
    raise ValueError(f"Unknown covariance_type {model.covariance_type!r}.")


def _component_log_prob(model, X):
    """log(weight_k) + log N(x | mean_k, cov_k) of each row, shape (n_samples, K), in NumPy.

    Computed from the fitted attributes (``weights_``, ``means_``,
    ``precisions_cholesky_``), so it gives component indices for any fitted
    mixture, also one whose ``predict`` returns class labels.
    """
    X = np.asarray(X, dtype=np.float64)
    means = np.asarray(model.means_, dtype=np.float64)
    prec_chol = np.asarray(model.precisions_cholesky_, dtype=np.float64)
    n_components, n_features = means.shape
    cov_type = model.covariance_type
    if cov_type in ("full", "tied"):
        chols = prec_chol if cov_type == "full" else np.broadcast_to(
            prec_chol, (n_components, n_features, n_features))
        log_det = np.log(np.diagonal(chols, axis1=1, axis2=2)).sum(axis=1)
        maha = np.column_stack([(((X - m) @ u) ** 2).sum(axis=1)
                                for m, u in zip(means, chols)])
    elif cov_type == "diag":
        log_det = np.log(prec_chol).sum(axis=1)
        maha = np.column_stack([(((X - m) * u) ** 2).sum(axis=1)
                                for m, u in zip(means, prec_chol)])
    else:
        log_det = n_features * np.log(prec_chol)
        maha = np.column_stack([((X - m) ** 2).sum(axis=1) * u ** 2
                                for m, u in zip(means, prec_chol)])
    with np.errstate(divide="ignore"):
        log_weights = np.log(np.asarray(model.weights_, dtype=np.float64))
    return log_weights + log_det - 0.5 * (n_features * np.log(2 * np.pi) + maha)


def _ellipse_geometry(cov, n_std):
    """(width, height, angle in degrees) of the n_std-sigma ellipse of a 2x2 covariance."""
    eigvals, eigvecs = np.linalg.eigh(cov)  # ascending
    eigvals = np.clip(eigvals, 0.0, None)
    major = eigvecs[:, 1]
    angle = np.degrees(np.arctan2(major[1], major[0]))
    return 2.0 * n_std * np.sqrt(eigvals[1]), 2.0 * n_std * np.sqrt(eigvals[0]), angle


def plot_ellipses(model, X, ax=None, *, features=(0, 1), n_std=(1, 2, 3),
                  show_means=True, colors=None):
    """Data coloured by most probable component, with each component's n-sigma ellipses.

    A point's colour is that of the component with the largest
    ``log(weight_k) + log N(x | k)`` over all features (what
    ``GaussianMixture.predict`` returns). For D > 2 the ellipses are those of
    the marginal Gaussians on the chosen pair of ``features`` (the 2x2 blocks
    of the covariances). The n-sigma ellipse has axes ``2 n sqrt(eigenvalue)``
    along the eigenvectors of the 2x2 covariance.

    Parameters
    ----------
    model : fitted GaussianMixture (fastem's or scikit-learn's)
    X : array-like of shape (n_samples, n_features) or None
        Points to scatter; None draws the ellipses only.
    ax : matplotlib Axes, optional
    features : pair of int, default=(0, 1)
        The columns on the x and y axes.
    n_std : sequence of float, default=(1, 2, 3)
        One ellipse per entry and component.
    show_means : bool, default=True
        Mark each component mean with an 'x'.
    colors : sequence of n_components colours, optional
        Default: matplotlib's colour cycle, C0, C1, ... by component index.

    Returns
    -------
    ax : matplotlib Axes
        Holds ``len(n_std) * n_components`` :class:`~matplotlib.patches.Ellipse`
        patches (the smallest of each component labelled ``'component k'`` for a
        legend), a scatter of X (if given) and one of the means.
    """
    plt = _pyplot()
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Ellipse

    covs = _component_covariances(model, features)
    i, j = _check_features(features, model.means_.shape[1])
    means = np.asarray(model.means_, dtype=np.float64)[:, [i, j]]
    if colors is None:
        colors = _colors(len(means))
    elif len(colors) != len(means):
        raise ValueError(f"colors has {len(colors)} entries; the model has {len(means)} "
                         "components.")
    if ax is None:
        _, ax = plt.subplots()

    if X is not None:
        X = np.asarray(X)
        labels = _component_log_prob(model, X).argmax(axis=1)
        points = X[:, [i, j]]
        ax.scatter(points[:, 0], points[:, 1], c=[colors[k] for k in labels], s=8,
                   alpha=0.6, linewidths=0, zorder=2)

    n_std = sorted(float(n) for n in np.atleast_1d(n_std))
    for k, (mean, cov) in enumerate(zip(means, covs)):
        for n in n_std:
            width, height, angle = _ellipse_geometry(cov, n)
            ax.add_patch(Ellipse(xy=tuple(mean), width=width, height=height, angle=angle,
                                 facecolor=to_rgba(colors[k], 0.25 / n),
                                 edgecolor=to_rgba(colors[k], 0.9), linewidth=1.0,
                                 label=f"component {k}" if n == n_std[0] else None))
    if show_means:
        ax.scatter(means[:, 0], means[:, 1], marker="x", c="k", s=40, zorder=3)
    ax.autoscale_view()
    ax.set_xlabel(f"feature {i}")
    ax.set_ylabel(f"feature {j}")
    ax.set_title(f"{len(means)} components, '{model.covariance_type}' "
                 f"({', '.join(f'{n:g}' for n in n_std)}-sigma)")
    return ax


def plot_convergence(model, ax=None, *, label=None, **line_kwargs):
    """Per-sample mean log-likelihood at each EM iteration of the kept fit (``lower_bounds_``).

    Call it again with the same ``ax`` and another ``label`` to compare fits.

    Returns
    -------
    ax : matplotlib Axes
        With one line: x = 1..n_iter_, y = ``lower_bounds_``.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    _check_fitted(model)
    if not hasattr(model, "lower_bounds_"):
        raise ValueError(f"{type(model).__name__} has no lower_bounds_ (the per-iteration "
                         "history); fit it with fastem or scikit-learn >= 1.7.")
    history = np.asarray(model.lower_bounds_, dtype=np.float64)
    if ax is None:
        _, ax = plt.subplots()
    line_kwargs.setdefault("marker", "o")
    line_kwargs.setdefault("markersize", 3)
    ax.plot(np.arange(1, len(history) + 1), history, label=label, **line_kwargs)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("EM iteration")
    ax.set_ylabel("mean log-likelihood per sample")
    if label is not None:
        ax.legend()
    return ax


def plot_membership(model, X, axes=None, *, features=(0, 1), cmap="viridis"):
    """Membership probability ``P(component k | x)`` of every point, one panel per component.

    For a model with ``classes_`` whose ``predict_proba`` returns class
    posteriors (``SemiSupervisedGaussianMixture``), one panel per class.

    With two or more features each panel scatters the chosen pair of
    ``features`` coloured by the probability of its component (0 to 1, one
    shared colour bar). With one feature each panel plots the probability
    against x (points sorted by x).

    Parameters
    ----------
    model : fitted GaussianMixture
    X : array-like of shape (n_samples, n_features)
    axes : sequence of n_components matplotlib Axes, optional
    features : pair of int, default=(0, 1)
    cmap : str, default='viridis'

    Returns
    -------
    axes : ndarray of matplotlib Axes, shape (n_components,)
    """
    plt = _pyplot()
    _check_fitted(model)
    proba = np.asarray(model.predict_proba(X))
    n_components = proba.shape[1]
    classes = getattr(model, "classes_", None)
    if classes is not None and len(classes) == n_components:  # a classifier: class posteriors
        names = [f"class {c}" for c in classes]
        titles = names
    else:
        names = [f"component {k}" for k in range(n_components)]
        titles = [f"{name} (weight {w:.2f})" for name, w in zip(names, model.weights_)]
    n_features = model.means_.shape[1]
    if axes is None:
        n_cols = min(n_components, 4)
        n_rows = -(-n_components // n_cols)
        fig, grid = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 3.0 * n_rows),
                                 squeeze=False, sharex=True, sharey=True,
                                 layout="constrained")
        for extra in grid.ravel()[n_components:]:
            extra.remove()
        axes = grid.ravel()[:n_components]
    else:
        axes = np.asarray(axes, dtype=object).ravel()
        if len(axes) != n_components:
            raise ValueError(f"axes has {len(axes)} Axes; the model has {n_components} "
                             "components.")
        fig = axes[0].figure

    if n_features == 1:
        x = np.asarray(X, dtype=np.float64)[:, 0]
        order = np.argsort(x, kind="stable")
        for k, ax in enumerate(axes):
            ax.plot(x[order], proba[order, k], color=_colors(n_components)[k])
            ax.set_ylim(-0.05, 1.05)
            ax.set_xlabel("feature 0")
            ax.set_ylabel(f"P({names[k]} | x)")
            ax.set_title(titles[k])
        return axes

    i, j = _check_features(features, n_features)
    points = np.asarray(X, dtype=np.float64)[:, [i, j]]
    mappable = None
    for k, ax in enumerate(axes):
        mappable = ax.scatter(points[:, 0], points[:, 1], c=proba[:, k], cmap=cmap,
                              vmin=0.0, vmax=1.0, s=8, linewidths=0)
        ax.set_title(titles[k])
        ax.set_xlabel(f"feature {i}")
        ax.set_ylabel(f"feature {j}")
    fig.colorbar(mappable, ax=list(axes), label="membership probability")
    return axes


def plot_selection(result, ax=None, *, criterion=None):
    """BIC (or AIC) against n_components, one line per covariance type; the best is starred.

    Lower is better. Failed fits leave a gap in their line.

    Parameters
    ----------
    result : ModelSelectionResult
        From :func:`fastem.select_model`.
    ax : matplotlib Axes, optional
    criterion : {'bic', 'aic'}, optional
        Default: the criterion the result was selected by.

    Returns
    -------
    ax : matplotlib Axes
        With one line per covariance type (labelled by it) and a star at the
        lowest value of the plotted criterion.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    criterion = result.criterion if criterion is None else criterion
    if criterion not in ("bic", "aic"):
        raise ValueError(f"criterion must be 'bic' or 'aic'; got {criterion!r}.")
    table = result.table
    if ax is None:
        _, ax = plt.subplots()
    types = list(dict.fromkeys(str(t) for t in table["covariance_type"]))
    colors = _colors(len(types))
    for color, cov_type in zip(colors, types):
        rows = table[table["covariance_type"] == cov_type]
        rows = rows[np.argsort(rows["n_components"], kind="stable")]
        ax.plot(rows["n_components"], rows[criterion], marker="o", color=color,
                label=cov_type)
    values = np.where(table["failed"], np.inf, table[criterion])
    best = table[int(np.argmin(values))]
    ax.scatter([best["n_components"]], [best[criterion]], marker="*", s=250, c="k",
               zorder=3, label=f"best: {best['n_components']}, '{best['covariance_type']}'")
    ax.set_xlabel("n_components")
    ax.set_ylabel(f"{criterion.upper()} (lower is better)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(title="covariance_type")
    return ax
