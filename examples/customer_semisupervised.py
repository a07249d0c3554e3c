"""Customers who like or dislike a product: unsupervised EM against semi-supervised EM.

Two overlapping 2-D Gaussian groups of customers. 1000 customers are
unlabelled; for 40 of them (20 per group) we know whether they like the
product. An unsupervised mixture (random initialisation) must find the groups
alone; ``SemiSupervisedGaussianMixture`` also uses the 40 labels (``y = -1``
marks an unlabelled row), which both starts it near the answer and ties each
component to a class. The right panel shows the per-sample mean
log-likelihood at each EM iteration (``lower_bounds_``) of both fits: from
its random start the unsupervised fit needs tens of iterations; the
semi-supervised fit settles in a few. Its curve ends slightly lower because
each labelled row counts with its class's density only (log p(x, y) <= log p(x)).

Writes figures/customer_convergence.png. Needs matplotlib.
"""
from itertools import permutations
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fastem import GaussianMixture, SemiSupervisedGaussianMixture  # noqa: E402
from fastem.plotting import plot_convergence, plot_ellipses  # noqa: E402

FIGURES = Path(__file__).resolve().parent / "figures"
CLASSES = ("dislikes", "likes")

rng = np.random.default_rng(7)
means = np.array([[2.0, 2.5], [4.0, 4.0]])
covariances = np.array([[[1.2, 0.5], [0.5, 0.9]], [[1.0, -0.3], [-0.3, 1.4]]])


def customers(n_per_class):
    X = np.vstack([rng.multivariate_normal(m, c, n_per_class)
                   for m, c in zip(means, covariances)])
    return X, np.repeat([0, 1], n_per_class)


X_unlabelled, truth_unlabelled = customers(500)
X_labelled, y_labelled = customers(20)
X = np.vstack([X_unlabelled, X_labelled])
y = np.concatenate([np.full(len(X_unlabelled), -1), y_labelled])

# A tight tol so that both curves run until EM has really settled.
unsupervised = GaussianMixture(n_components=2, init_params="random", tol=1e-6, max_iter=1000,
                               random_state=3).fit(X)
semi = SemiSupervisedGaussianMixture(n_components=2, tol=1e-6, max_iter=1000,
                                     random_state=3).fit(X, y)


def accuracy(labels, truth):
    """Share of customers in their class's component (best matching for unsupervised)."""
    return max(np.mean(np.asarray(p)[labels] == truth) for p in permutations(range(2)))


for name, model in (("unsupervised", unsupervised), ("semi-supervised", semi)):
    score = accuracy(model.predict(X_unlabelled), truth_unlabelled)
    print(f"{name:16s} {model.n_iter_:3d} iterations, converged={model.converged_}, "
          f"accuracy on the unlabelled {score:.1%}")

fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), layout="constrained")
for ax, model, title in ((axes[0], unsupervised, "unsupervised (random init)"),
                         (axes[1], semi, "semi-supervised (40 labels)")):
    plot_ellipses(model, X_unlabelled, ax=ax, n_std=(1, 2))
    for k, marker in zip(range(2), ("v", "^")):
        rows = y_labelled == k
        ax.scatter(X_labelled[rows, 0], X_labelled[rows, 1], marker=marker, s=60,
                   facecolor="white", edgecolor="k", zorder=4, label=f"labelled: {CLASSES[k]}")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"{title}: {model.n_iter_} iterations")
axes[1].set_xlim(axes[0].get_xlim())
axes[1].set_ylim(axes[0].get_ylim())
plot_convergence(unsupervised, ax=axes[2], label="unsupervised (random init)")
plot_convergence(semi, ax=axes[2], label="semi-supervised (40 labels)")
axes[2].set_title("convergence")
FIGURES.mkdir(exist_ok=True)
fig.savefig(FIGURES / "customer_convergence.png", dpi=100)
print("wrote", FIGURES / "customer_convergence.png")
