"""Where a Gaussian mixture fits and where it does not: six classic 2-D data sets.

Each panel fits a 'full' mixture with the true number of clusters and draws
the 1- and 2-sigma ellipses. Blobs, anisotropic (sheared) blobs, blobs of
unequal variance and imbalanced blobs are Gaussian clusters, which a full
mixture recovers (unlike k-means on the sheared and unequal ones); moons and
circles are not, and a two-component mixture splits them along the wrong lines.

Writes figures/clustering_panel.png. Needs scikit-learn (data sets) and matplotlib.
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import make_blobs, make_circles, make_moons  # noqa: E402

from fastem import GaussianMixture  # noqa: E402
from fastem.plotting import plot_ellipses  # noqa: E402

FIGURES = Path(__file__).resolve().parent / "figures"
N = 1500
SEED = 170

blobs, blob_labels = make_blobs(n_samples=N, random_state=SEED)
anisotropic = blobs @ np.array([[0.6, -0.6], [-0.4, 0.8]])
unequal, _ = make_blobs(n_samples=N, cluster_std=[1.0, 2.5, 0.5], random_state=SEED)
moons, _ = make_moons(n_samples=N, noise=0.05, random_state=SEED)
circles, _ = make_circles(n_samples=N, factor=0.5, noise=0.05, random_state=SEED)
imbalanced = np.vstack([blobs[blob_labels == 0][:500], blobs[blob_labels == 1][:100],
                        blobs[blob_labels == 2][:10]])

datasets = [("blobs", blobs, 3), ("anisotropic", anisotropic, 3),
            ("unequal variance", unequal, 3), ("moons", moons, 2),
            ("circles", circles, 2), ("imbalanced (500 / 100 / 10)", imbalanced, 3)]

fig, axes = plt.subplots(2, 3, figsize=(13, 8), layout="constrained")
for ax, (name, X, k) in zip(axes.ravel(), datasets):
    gmm = GaussianMixture(n_components=k, covariance_type="full", n_init=3,
                          random_state=0).fit(X)
    plot_ellipses(gmm, X, ax=ax, n_std=(1, 2))
    ax.set_title(f"{name}: {k} components")
    ax.set_xlabel("")
    ax.set_ylabel("")
    print(f"{name:28s} weights {np.round(np.sort(gmm.weights_)[::-1], 3)}")
fig.suptitle("GaussianMixture(covariance_type='full'), points coloured by predict, "
             "1- and 2-sigma ellipses")
FIGURES.mkdir(exist_ok=True)
fig.savefig(FIGURES / "clustering_panel.png", dpi=90)
print("wrote", FIGURES / "clustering_panel.png")
