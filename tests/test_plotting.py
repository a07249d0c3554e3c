"""fastem.plotting: each plot rendered with Agg to PNG, and its content checked."""
import io
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from fastem import GaussianMixture  # noqa: E402
from fastem import plotting  # noqa: E402
from fastem.selection import select_model  # noqa: E402

TYPES = ("full", "tied", "diag", "spherical")
MEANS = np.array([[0.0, 0.0, 0.0], [8.0, 1.0, -3.0], [1.0, 9.0, 4.0]])


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def X3():
    """Three 3-D clusters with correlated, unequal covariances."""
    rng = np.random.default_rng(0)
    a = np.array([[1.5, 0.0, 0.0], [0.9, 0.6, 0.0], [0.3, -0.2, 0.8]])
    return np.vstack([mean + rng.normal(size=(120, 3)) @ (a * (1 + 0.4 * k)).T
                      for k, mean in enumerate(MEANS)])


@pytest.fixture(scope="module")
def X2(X3):
    return np.ascontiguousarray(X3[:, :2])


@pytest.fixture(scope="module")
def models(X2):
    return {t: GaussianMixture(3, covariance_type=t, random_state=0).fit(X2) for t in TYPES}


def render(fig):
    """Draw to PNG bytes with Agg; a real render, not just artist creation."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = buf.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    return data


def ellipse_points(ellipse, n=64):
    """Points on the drawn ellipse in data coordinates (the unit circle through the
    patch transform)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    circle = np.column_stack([np.cos(t), np.sin(t)])
    return ellipse.get_patch_transform().transform(circle)


def dense_covariance(model, k):
    d = model.means_.shape[1]
    cov = model.covariances_
    return {"full": lambda: cov[k], "tied": lambda: cov, "diag": lambda: np.diag(cov[k]),
            "spherical": lambda: cov[k] * np.eye(d)}[model.covariance_type]()


# ------------------------------------------------------------------ ellipses
@pytest.mark.parametrize("covariance_type", TYPES)
def test_ellipses_are_the_n_sigma_contours_of_each_component(models, X2, covariance_type):
    model = models[covariance_type]
    ax = plotting.plot_ellipses(model, X2)
    render(ax.figure)
    ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert len(ellipses) == 3 * model.n_components
    for k in range(model.n_components):
        mine = [e for e in ellipses if np.allclose(e.center, model.means_[k])]
        assert len(mine) == 3, "three ellipses centred on each mean"
        precision = np.linalg.inv(dense_covariance(model, k))
        radii = []
        for e in mine:
            diff = ellipse_points(e) - model.means_[k]
            mahalanobis = np.sqrt(np.einsum("ni,ij,nj->n", diff, precision, diff))
            assert_allclose(mahalanobis, mahalanobis[0], rtol=1e-9)  # a contour
            radii.append(mahalanobis[0])
        assert_allclose(sorted(radii), [1.0, 2.0, 3.0], rtol=1e-9)
    assert ax.get_xlabel() == "feature 0" and ax.get_ylabel() == "feature 1"
    assert covariance_type in ax.get_title()


def test_ellipse_scatter_shows_every_point_coloured_by_component(models, X2):
    model = models["full"]
    ax = plotting.plot_ellipses(model, X2)
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    data = [c for c in scatters if len(c.get_offsets()) == len(X2)]
    assert len(data) == 1
    assert_allclose(data[0].get_offsets(), X2)
    colors = data[0].get_facecolors()
    labels = model.predict(X2)
    for k in range(3):  # one colour per component, different between components
        assert len(np.unique(colors[labels == k], axis=0)) == 1
    assert len(np.unique(colors[:, :3], axis=0)) == 3
    means = [c for c in scatters if len(c.get_offsets()) == 3]
    assert_allclose(means[0].get_offsets(), model.means_)


def test_ellipses_for_a_pair_of_features_of_3d_data(X3):
    model = GaussianMixture(3, random_state=0).fit(X3)
    ax = plotting.plot_ellipses(model, X3, features=(2, 0), n_std=(1, 2))
    render(ax.figure)
    ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert len(ellipses) == 2 * 3
    assert ax.get_xlabel() == "feature 2" and ax.get_ylabel() == "feature 0"
    for k in range(3):
        centre = model.means_[k, [2, 0]]
        mine = [e for e in ellipses if np.allclose(e.center, centre)]
        assert len(mine) == 2
        block = model.covariances_[k][np.ix_([2, 0], [2, 0])]  # the marginal covariance
        precision = np.linalg.inv(block)
        for e in mine:
            diff = ellipse_points(e) - centre
            r = np.sqrt(np.einsum("ni,ij,nj->n", diff, precision, diff))
            assert_allclose(r, r[0], rtol=1e-9)
            assert round(r[0], 9) in (1.0, 2.0)


def test_ellipses_on_given_axes_without_data(models):
    fig, (left, right) = plt.subplots(1, 2)
    ax = plotting.plot_ellipses(models["diag"], None, ax=right, n_std=(2,))
    assert ax is right
    assert len(right.patches) == 3 and len(left.patches) == 0
    for e in right.patches:  # 'diag': axis-aligned
        assert e.angle % 90 == pytest.approx(0.0, abs=1e-9)
    render(fig)


def test_ellipses_bad_input(models, X2):
    with pytest.raises(ValueError, match="features"):
        plotting.plot_ellipses(models["full"], X2, features=(0, 0))
    with pytest.raises(ValueError, match="features"):
        plotting.plot_ellipses(models["full"], X2, features=(0, 5))
    one_d = GaussianMixture(2, random_state=0).fit(X2[:, :1])
    with pytest.raises(ValueError, match="at least 2 features"):
        plotting.plot_ellipses(one_d, X2[:, :1])
    with pytest.raises(ValueError, match="not fitted"):
        plotting.plot_ellipses(GaussianMixture(2), X2)


def test_ellipses_accept_a_sklearn_model(X2):
    sk_mixture = pytest.importorskip("sklearn.mixture")
    model = sk_mixture.GaussianMixture(2, covariance_type="tied", random_state=0).fit(X2)
    ax = plotting.plot_ellipses(model, X2)
    assert len(ax.patches) == 6
    render(ax.figure)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_point_colours_come_from_a_correct_component_log_density(models, X2, covariance_type):
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal
    model = models[covariance_type]
    log_prob = plotting._component_log_prob(model, X2)
    expected = np.column_stack([
        np.log(model.weights_[k])
        + multivariate_normal(model.means_[k], dense_covariance(model, k)).logpdf(X2)
        for k in range(3)])
    assert_allclose(log_prob, expected, rtol=1e-10)
    assert_allclose(logsumexp(log_prob, axis=1), model.score_samples(X2), rtol=1e-10)
    assert_array_equal(log_prob.argmax(axis=1), model.predict(X2))


# --------------------------------------------------------------- convergence
def test_convergence_plots_lower_bounds_per_iteration(models):
    ax = plotting.plot_convergence(models["full"], label="full")
    plotting.plot_convergence(models["spherical"], ax=ax, label="spherical")
    render(ax.figure)
    assert len(ax.lines) == 2
    for line, name in zip(ax.lines, ("full", "spherical")):
        model = models[name]
        assert_array_equal(line.get_xdata(), np.arange(1, model.n_iter_ + 1))
        assert_array_equal(line.get_ydata(), model.lower_bounds_)
        assert line.get_label() == name
        assert line.get_ydata()[-1] == model.lower_bound_
    assert ax.get_xlabel() == "EM iteration"
    assert "log-likelihood" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["full", "spherical"]


# ---------------------------------------------------------------- membership
def test_membership_has_one_panel_per_component(models, X2):
    model = models["full"]
    axes = plotting.plot_membership(model, X2)
    fig = axes[0].figure
    render(fig)
    assert len(axes) == 3
    proba = model.predict_proba(X2)
    for k, ax in enumerate(axes):
        (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert_allclose(points.get_offsets(), X2)
        assert_allclose(points.get_array(), proba[:, k])
        assert points.get_clim() == (0.0, 1.0)
        assert ax.get_title().startswith(f"component {k}")
        assert ax.get_xlabel() == "feature 0"
    # a shared colour bar: one more Axes in the figure
    assert len(fig.axes) == 4
    assert fig.axes[-1].get_ylabel() == "membership probability"


def test_membership_for_1d_data_plots_probability_curves(X2):
    x = X2[:, :1]
    model = GaussianMixture(2, random_state=0).fit(x)
    axes = plotting.plot_membership(model, x)
    render(axes[0].figure)
    proba = model.predict_proba(x)
    order = np.argsort(x[:, 0], kind="stable")
    for k, ax in enumerate(axes):
        (line,) = ax.lines
        assert_allclose(line.get_xdata(), x[order, 0])
        assert_allclose(line.get_ydata(), proba[order, k])
        assert ax.get_ylabel() == f"P(component {k} | x)"


def test_membership_of_a_classifier_has_one_panel_per_class(models, X2):
    class Classifier:
        """A fitted mixture whose predict_proba gives class posteriors, like
        SemiSupervisedGaussianMixture."""
        classes_ = np.array(["no", "maybe", "yes"])

        def __init__(self, model):
            self.model = model
            self.means_, self.weights_ = model.means_, model.weights_

        def predict_proba(self, X):
            return self.model.predict_proba(X)

    axes = plotting.plot_membership(Classifier(models["tied"]), X2)
    assert [ax.get_title() for ax in axes] == ["class no", "class maybe", "class yes"]
    render(axes[0].figure)


def test_membership_wrong_number_of_axes(models, X2):
    fig, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="3 components"):
        plotting.plot_membership(models["full"], X2, axes=axes)


# ----------------------------------------------------------------- selection
def test_selection_plot_has_a_line_per_covariance_type(X2):
    result = select_model(X2, n_components=range(1, 5), random_state=0)
    ax = result.plot()
    render(ax.figure)
    assert len(ax.lines) == 4
    for line, cov_type in zip(ax.lines, TYPES):
        rows = result.table[result.table["covariance_type"] == cov_type]
        assert line.get_label() == cov_type
        assert_array_equal(line.get_xdata(), [1, 2, 3, 4])
        assert_allclose(line.get_ydata(), rows["bic"])
    star = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(star) == 1
    best = result.table[result.best_index]
    assert_allclose(star[0].get_offsets(), [[best["n_components"], best["bic"]]])
    assert ax.get_xlabel() == "n_components"
    assert ax.get_ylabel() == "BIC (lower is better)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:4] == list(TYPES)

    ax = plotting.plot_selection(result, criterion="aic")
    assert ax.get_ylabel() == "AIC (lower is better)"
    assert_allclose(ax.lines[0].get_ydata(), result.table["aic"][:4])
    with pytest.raises(ValueError, match="criterion"):
        plotting.plot_selection(result, criterion="icl")


def test_selection_plot_leaves_gaps_for_failed_fits():
    rng = np.random.default_rng(0)
    X = np.vstack([np.zeros((60, 2)), rng.normal(10.0, 1.0, (60, 2))])
    result = select_model(X, n_components=range(1, 4), covariance_types=("full", "tied"),
                          reg_covar=0.0, random_state=0)
    ax = result.plot()
    render(ax.figure)
    full_line = ax.lines[0]
    assert np.isnan(full_line.get_ydata()[1:]).all()
    assert np.isfinite(ax.lines[1].get_ydata()).all()


# ------------------------------------------------------------ no matplotlib
def test_missing_matplotlib_names_the_extra(monkeypatch, models, X2):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    calls = [lambda: plotting.plot_ellipses(models["full"], X2),
             lambda: plotting.plot_convergence(models["full"]),
             lambda: plotting.plot_membership(models["full"], X2),
             lambda: plotting.plot_selection(object())]
    for call in calls:
        with pytest.raises(ImportError, match=r"pip install fastem\[plot\]"):
            call()
