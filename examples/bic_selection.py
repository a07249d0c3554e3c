"""Choosing the number of components and the covariance type by BIC.

The data come from a known mixture: four 2-D components, each with its own
rotated, elongated covariance (a 'full' mixture). ``select_model`` fits
n_components = 1..9 for all four covariance types (36 fits) and keeps the
lowest BIC; lower is better, as in scikit-learn (mclust's BIC has the
opposite sign).

Writes figures/bic_selection.png. Needs matplotlib.
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fastem.plotting import plot_ellipses  # noqa: E402
from fastem.selection import select_model  # noqa: E402

FIGURES = Path(__file__).resolve().parent / "figures"


def rotated(degrees, long, short):
    t = np.radians(degrees)
    r = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return r @ np.diag([long, short]) @ r.T


rng = np.random.default_rng(0)
true_means = [(0, 0), (7, 1), (2, 7), (9, 8)]
true_covariances = [rotated(30, 3.0, 0.3), rotated(-45, 2.0, 0.5), rotated(80, 2.5, 0.2),
                    rotated(0, 1.0, 1.0)]
X = np.vstack([rng.multivariate_normal(m, c, 400) for m, c in zip(true_means, true_covariances)])

result = select_model(X, n_components=range(1, 10), criterion="bic", random_state=0)
print(result)
print("best:", result.best_params, "(truth: 4 components, 'full')")

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
result.plot(ax=left)
left.set_title("BIC of 36 fits (lower is better)")
plot_ellipses(result.best, X, ax=right)
right.set_title(f"best: {result.best.n_components} components, "
                f"'{result.best.covariance_type}'")
FIGURES.mkdir(exist_ok=True)
fig.savefig(FIGURES / "bic_selection.png", dpi=100)
print("wrote", FIGURES / "bic_selection.png")
