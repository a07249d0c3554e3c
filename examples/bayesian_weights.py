"""Inferring the number of components: a Dirichlet-process mixture with 10 components
fitted to data from 4, and the weights it gives them.

With ``weight_concentration_prior_type='dirichlet_process'`` (the default) the
posterior puts almost no weight on components the data do not need, so the
fitted weights show how many clusters there are. Compared with
``GaussianMixture(n_components=10)``, which spreads the 4 clusters over all 10.

Writes figures/bayesian_weights.png. Needs scikit-learn (for ``make_blobs``) and matplotlib.
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402

from fastem import BayesianGaussianMixture, GaussianMixture  # noqa: E402
from fastem.plotting import plot_ellipses  # noqa: E402

FIGURES = Path(__file__).resolve().parent / "figures"

centers = [[0, 0], [10, 0], [0, 10], [10, 10]]
X, _ = make_blobs(n_samples=800, centers=centers, cluster_std=1.0, random_state=0)
bgm = BayesianGaussianMixture(n_components=10, random_state=0, max_iter=500).fit(X)
gm = GaussianMixture(n_components=10, random_state=0).fit(X)
print("BayesianGaussianMixture weights:", np.round(bgm.weights_, 3))
print(f"components with weight > 0.01: {(bgm.weights_ > 0.01).sum()}")

fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), layout="constrained")
index = np.arange(10)
axes[0].bar(index - 0.2, bgm.weights_, width=0.4, label="BayesianGaussianMixture (DP prior)")
axes[0].bar(index + 0.2, gm.weights_, width=0.4, label="GaussianMixture")
axes[0].axhline(0.01, color="k", lw=0.8, ls="--")
axes[0].set_xticks(index)
axes[0].set_xlabel("component")
axes[0].set_ylabel("weight")
axes[0].set_title("weights of 10 components, data from 4")
axes[0].legend(fontsize=8)
# The unused components stay near the prior (broad, at the data mean): show
# only the components that carry weight.
used = np.flatnonzero(bgm.weights_ > 0.01)
axes[1].scatter(X[:, 0], X[:, 1], s=6, c=bgm.predict(X), cmap="tab10", vmin=0, vmax=9)
axes[1].scatter(bgm.means_[used, 0], bgm.means_[used, 1], marker="x", s=80, c="k")
axes[1].set_title(f"BayesianGaussianMixture: {used.size} components in use")
plot_ellipses(gm, X, ax=axes[2], n_std=(2,))
axes[2].set_title("GaussianMixture: all 10 in use")
FIGURES.mkdir(exist_ok=True)
fig.savefig(FIGURES / "bayesian_weights.png", dpi=110)
print(f"wrote {FIGURES / 'bayesian_weights.png'}")
