"""Density estimation: a 16-component mixture of the two moons, and new points drawn from it.

A Gaussian mixture with many components is a flexible density model even
when the clusters are not Gaussian. ``sample`` draws new points from the fitted
density (seeded by ``random_state``: the same points every run).

Writes figures/moons_density.png. Needs scikit-learn (for ``make_moons``) and matplotlib.
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import make_moons  # noqa: E402

from fastem import GaussianMixture  # noqa: E402
from fastem.plotting import plot_ellipses  # noqa: E402

FIGURES = Path(__file__).resolve().parent / "figures"

X, _ = make_moons(n_samples=500, noise=0.05, random_state=0)
gmm = GaussianMixture(n_components=16, covariance_type="full", random_state=0).fit(X)
X_new, _ = gmm.sample(500)
print(f"converged={gmm.converged_} after {gmm.n_iter_} iterations, "
      f"mean log-likelihood {gmm.score(X):.3f}")

# Log-density on a grid, for contours behind the points.
xx, yy = np.meshgrid(np.linspace(-1.5, 2.5, 200), np.linspace(-1.0, 1.5, 150))
log_density = gmm.score_samples(np.column_stack([xx.ravel(), yy.ravel()])).reshape(xx.shape)

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True, sharey=True,
                                  layout="constrained")
plot_ellipses(gmm, X, ax=left, n_std=(1, 2))
left.set_title("two moons: 16 components (1- and 2-sigma)")
right.contourf(xx, yy, log_density, levels=np.linspace(-8, log_density.max(), 12),
               cmap="Blues", extend="min")
right.scatter(X_new[:, 0], X_new[:, 1], s=8, c="k", label="500 new points (gmm.sample)")
right.set_title("fitted log-density and points drawn from it")
right.set_xlabel("feature 0")
right.legend(loc="lower left")
for ax in (left, right):
    ax.set_xlim(-1.5, 2.5)
    ax.set_ylim(-1.0, 1.5)
FIGURES.mkdir(exist_ok=True)
fig.savefig(FIGURES / "moons_density.png", dpi=110)
print("wrote", FIGURES / "moons_density.png")
