"""Iris: a 3-component full mixture started from k-means, against the true species.

``init_params='kmeans'`` (the default) starts EM from k-means labels, computed
in Numba without scikit-learn. The mixture is fitted on all four features; the
plots show petal length against petal width, with the 1-, 2- and 3-sigma
ellipses of the marginal Gaussians on that pair.

Writes figures/iris_kmeans.png. Needs scikit-learn (for the data set) and matplotlib.
"""
from itertools import permutations
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402

from fastem import GaussianMixture  # noqa: E402
from fastem.plotting import plot_convergence, plot_ellipses  # noqa: E402

FIGURES = Path(__file__).resolve().parent / "figures"
PETAL_LENGTH, PETAL_WIDTH = 2, 3

iris = load_iris()
X, species = iris.data, iris.target
gmm = GaussianMixture(n_components=3, covariance_type="full", init_params="kmeans",
                      random_state=0).fit(X)
labels = gmm.predict(X)
# Agreement with the species, under the best matching of components to species.
matching = max(permutations(range(3)), key=lambda p: np.mean(np.asarray(p)[labels] == species))
species_of_component = np.asarray(matching)
agreement = np.mean(species_of_component[labels] == species)
print(f"converged={gmm.converged_} after {gmm.n_iter_} iterations; "
      f"{agreement:.1%} of the flowers in the cluster of their species")

fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.3), layout="constrained")
for k, name in enumerate(iris.target_names):
    rows = species == k
    left.scatter(X[rows, PETAL_LENGTH], X[rows, PETAL_WIDTH], s=12, label=name)
left.set_title("true species")
left.legend()
plot_ellipses(gmm, X, ax=middle, features=(PETAL_LENGTH, PETAL_WIDTH),
              colors=[f"C{s}" for s in species_of_component])  # colour of matched species
middle.set_title(f"GaussianMixture(3, init_params='kmeans'): {agreement:.0%} agree")
for ax in (left, middle):
    ax.set_xlabel(iris.feature_names[PETAL_LENGTH])
    ax.set_ylabel(iris.feature_names[PETAL_WIDTH])
middle.set_xlim(left.get_xlim())
middle.set_ylim(left.get_ylim())
plot_convergence(gmm, ax=right)
right.set_title("EM from the k-means start")
FIGURES.mkdir(exist_ok=True)
fig.savefig(FIGURES / "iris_kmeans.png", dpi=100)
print("wrote", FIGURES / "iris_kmeans.png")
