"""Online (stepwise) EM against full-batch EM: mean log-likelihood against time.

A float32 file of 300,000 x 8 rows from a known 8-component mixture is
written to a temporary directory and memory-mapped. From the same start
(k-means on a subsample), we record

* full-batch ``GaussianMixture``: the mean log-likelihood of the parameters
  after every iteration (``lower_bounds_``) against the time of the
  iterations so far (one pass over the file each);
* ``MiniBatchGaussianMixture.fit`` with 1, 2 and 3 passes: the exact mean
  log-likelihood of each result against its fit time;
* ``partial_fit`` over a stream of 2,000-row batches: the exact mean
  log-likelihood every 20 batches against the time spent in ``partial_fit``.

All times exclude the initialisation (shared) and the scoring. The y axis
is the gap to the batch optimum (log scale). Writes
figures/online_vs_batch.png. Needs matplotlib.
"""
import os
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fastem import ConvergenceWarning, GaussianMixture, MiniBatchGaussianMixture  # noqa: E402
from fastem.bench_online import write_mixture  # noqa: E402
from fastem.mixture import reporting_iterations  # noqa: E402

FIGURES = Path(__file__).resolve().parent / "figures"
N_SAMPLES, N_FEATURES, N_COMPONENTS = 300_000, 8, 8

with tempfile.TemporaryDirectory() as directory:
    path = os.path.join(directory, "mixture.npy")
    write_mixture(path, N_SAMPLES, N_COMPONENTS, N_FEATURES)
    X = np.load(path, mmap_mode="r")

    # Warm the kernels (compilation is not what this compares).
    MiniBatchGaussianMixture(N_COMPONENTS, batch_size=500, max_passes=1,
                             random_state=0).fit(np.asarray(X[:5000]))
    start = GaussianMixture(N_COMPONENTS, max_iter=0, random_state=0).fit(X)
    init = dict(weights_init=start.weights_, means_init=start.means_,
                precisions_init=start.precisions_)

    seconds = [0.0]
    with reporting_iterations(lambda n, lb, change, s: seconds.append(seconds[-1] + s)), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter may stop it first
        batch = GaussianMixture(N_COMPONENTS, tol=1e-6, max_iter=100, **init).fit(X)
    optimum = batch.lower_bound_
    batch_curve = (seconds[:len(batch.lower_bounds_)], batch.lower_bounds_)

    online_curve = ([], [])
    for passes in (1, 2, 3):
        tic = time.perf_counter()
        online = MiniBatchGaussianMixture(N_COMPONENTS, batch_size=4096, max_passes=passes,
                                          tol=0.0, random_state=0, **init).fit(X)
        online_curve[0].append(time.perf_counter() - tic)
        online_curve[1].append(online.score(X))

    stream = MiniBatchGaussianMixture(N_COMPONENTS, **init)
    stream_curve, spent = ([], []), 0.0
    for index, first in enumerate(range(0, N_SAMPLES, 2000)):
        tic = time.perf_counter()
        stream.partial_fit(X[first:first + 2000])
        spent += time.perf_counter() - tic
        if (index + 1) % 20 == 0:
            stream_curve[0].append(spent)
            stream_curve[1].append(stream.score(X))
    del X

print(f"batch EM optimum {optimum:.6f} after {batch.n_iter_} iterations "
      f"({seconds[-1]:.2f} s)")
for passes, (t, value) in enumerate(zip(*online_curve), start=1):
    print(f"online, {passes} pass(es): {t:.2f} s, gap {optimum - value:.2e} nats/sample")
print(f"partial_fit stream: {spent:.2f} s, gap {optimum - stream_curve[1][-1]:.2e}")

fig, ax = plt.subplots(figsize=(7, 4.5))
floor = 1e-6  # gaps at or below the optimum are drawn on the floor
for (t, values), style, label in [
        (batch_curve, "o-", "full-batch EM (one point per iteration = one pass)"),
        (online_curve, "s-", "MiniBatchGaussianMixture.fit, 1-3 passes"),
        (stream_curve, ".-", "partial_fit over 2,000-row batches (one pass)")]:
    ax.semilogy(t, np.maximum(optimum - np.asarray(values), floor), style, label=label)
ax.axhline(1e-3, color="grey", lw=0.8, ls="--")
ax.text(0, 1.15e-3, "1e-3 nats/sample", color="grey", fontsize=8)
ax.set_xlabel("seconds (initialisation and scoring excluded)")
ax.set_ylabel("gap to the batch EM optimum (nats/sample)")
ax.set_title(f"{N_SAMPLES:,} x {N_FEATURES} float32 memmap, {N_COMPONENTS} full components")
ax.legend(fontsize=8)
fig.tight_layout()
FIGURES.mkdir(exist_ok=True)
fig.savefig(FIGURES / "online_vs_batch.png", dpi=110)
print(f"wrote {FIGURES / 'online_vs_batch.png'}")
