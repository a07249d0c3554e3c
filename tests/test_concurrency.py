"""fastem under concurrency: Python threads, fork pools, joblib, dask, every Numba
threading layer.

Each layer runs in its own subprocess, so a crash or an abort is a failed exit
code rather than a dead test run, and a hang is a timeout. In it, every
scenario is compared bit for bit with a single-threaded reference computed
first in the same process. The data has many small partitions
(FASTEM_PARTITION_ROWS=256) and fastem runs on 3 threads, so the thread pool is
busy in every scenario.
"""
import json

import pytest

from conftest import JIT_DISABLED, run_python

SCENARIOS = r"""
import hashlib, importlib, json, multiprocessing, os, sys, threading, warnings
import numpy as np
import numba

layer = os.environ["NUMBA_THREADING_LAYER"]
try:  # is this layer installed at all? (tbb needs the optional libtbb)
    importlib.import_module({"tbb": "numba.np.ufunc.tbbpool", "omp": "numba.np.ufunc.omppool",
                             "workqueue": "numba.np.ufunc.workqueue"}[layer])
except ImportError as exc:
    print(json.dumps({"unavailable": str(exc)}))
    sys.exit(0)

import fastem
warnings.simplefilter("ignore", fastem.ConvergenceWarning)
assert fastem.get_num_threads() == 3

rng = np.random.default_rng(0)
X = rng.normal(size=(6000, 4)) + rng.integers(0, 3, size=(6000, 1)) * 4.0
KW = dict(n_components=3, random_state=0, max_iter=20, tol=0.0)


def digest(gm, X=X):
    h = hashlib.sha256()
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        h.update(getattr(gm, name).tobytes())
    h.update(gm.predict_proba(X).tobytes())
    return h.hexdigest()


def fit_digest(covariance_type):
    return digest(fastem.GaussianMixture(covariance_type=covariance_type, **KW).fit(X))


# Single-threaded references.
previous = fastem.set_num_threads(1)
reference = {ct: fit_digest(ct) for ct in ("full", "diag")}
model = fastem.GaussianMixture(covariance_type="full", **KW).fit(X)
reference_proba = model.predict_proba(X).tobytes()
fastem.set_num_threads(previous)
results = {}


def in_threads(target, n):
    out = [None] * n
    def run(i):
        out[i] = target(i)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


# Two Python threads fitting at once (different covariance types, one shared pool).
got = in_threads(lambda i: fit_digest(("full", "diag")[i]), 2)
results["two_threads_fit"] = got == [reference["full"], reference["diag"]]

# Several threads predicting on one model.
got = in_threads(lambda i: model.predict_proba(X).tobytes(), 4)
results["threads_predict"] = all(g == reference_proba for g in got)


# A fork-based pool started after fits that used the thread pool.
def fit_in_child(covariance_type):
    return fit_digest(covariance_type)


with multiprocessing.get_context("fork").Pool(2) as pool:
    got = pool.map(fit_in_child, ["full", "diag"], chunksize=1)
results["fork_pool_after_fit"] = got == [reference["full"], reference["diag"]]

# joblib GridSearchCV, loky and threading backends, against n_jobs=1.
from joblib import parallel_backend
from sklearn.model_selection import GridSearchCV


def grid_scores(n_jobs):
    search = GridSearchCV(fastem.GaussianMixture(random_state=0, max_iter=20, tol=0.0),
                          {"n_components": [2, 3], "covariance_type": ["full", "diag"]},
                          cv=2, n_jobs=n_jobs)
    return search.fit(X).cv_results_["mean_test_score"].tolist()


serial_scores = grid_scores(1)
for backend in ("loky", "threading"):
    with parallel_backend(backend, n_jobs=2):
        results["gridsearch_" + backend] = grid_scores(2) == serial_scores

# dask, threaded scheduler, against the synchronous scheduler.
import dask
import dask.array as da

Xd = da.from_array(X, chunks=(1000, 4))
fits = {}
for scheduler in ("sync", "threads"):
    with dask.config.set(scheduler=scheduler):
        gm = fastem.GaussianMixture(covariance_type="full", **KW).fit(Xd)
        fits[scheduler] = (gm.means_.tobytes(), gm.covariances_.tobytes(),
                           gm.predict_proba(Xd).compute().tobytes())
results["dask_threads"] = fits["threads"] == fits["sync"]

# fastem never started Numba's own thread pool (so no layer can spin or abort).
from numba.np.ufunc import parallel
results["numba_pool_unused"] = not parallel._is_initialized
print(json.dumps(results))
"""


@pytest.mark.skipif(JIT_DISABLED, reason="concurrency of the compiled kernels")
@pytest.mark.parametrize("layer", ["workqueue", "omp", "tbb"])
def test_every_scenario_gives_the_single_threaded_bits(layer):
    out = run_python(SCENARIOS, env={"NUMBA_THREADING_LAYER": layer,
                                     "FASTEM_NUM_THREADS": "3",
                                     "FASTEM_PARTITION_ROWS": "256"}, timeout=240)
    results = json.loads(out.splitlines()[-1])
    if "unavailable" in results:
        pytest.skip(f"Numba threading layer {layer!r} is not installed: "
                    f"{results['unavailable']}")
    assert results == {name: True for name in results}, results
    assert set(results) == {"two_threads_fit", "threads_predict", "fork_pool_after_fit",
                            "gridsearch_loky", "gridsearch_threading", "dask_threads",
                            "numba_pool_unused"}


FORK_CHILD_MAKES_A_NEW_POOL = r"""
import os
import numpy as np
import fastem
from fastem import _parallel

X = np.random.default_rng(0).normal(size=(3000, 2))
gm = fastem.GaussianMixture(2, random_state=0, max_iter=5).fit(X)
assert _parallel._pool is not None
pid = os.fork()
if pid == 0:
    ok = _parallel._pool is None  # the parent's pool threads do not exist here
    ok = ok and fastem.GaussianMixture(2, random_state=0, max_iter=5).fit(X).means_.tobytes() \
        == gm.means_.tobytes()
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(JIT_DISABLED, reason="concurrency of the compiled kernels")
def test_a_forked_child_drops_the_pool_and_fits():
    out = run_python(FORK_CHILD_MAKES_A_NEW_POOL, env={"FASTEM_NUM_THREADS": "2",
                                                      "FASTEM_PARTITION_ROWS": "256"},
                     timeout=120)
    assert out.split()[-1] == "0"


def test_thread_count_rule(monkeypatch):
    """FASTEM_NUM_THREADS, else NUMBA_NUM_THREADS, else the CPUs this process may use;
    set_num_threads overrides all and returns the previous setting."""
    import os

    import fastem
    from fastem import _parallel

    monkeypatch.delenv("FASTEM_NUM_THREADS", raising=False)
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    previous = fastem.set_num_threads(None)
    try:
        assert fastem.get_num_threads() == len(os.sched_getaffinity(0))
        monkeypatch.setenv("NUMBA_NUM_THREADS", "5")
        assert fastem.get_num_threads() == 5
        monkeypatch.setenv("FASTEM_NUM_THREADS", "2")
        assert fastem.get_num_threads() == 2
        assert fastem.set_num_threads(7) is None
        assert fastem.get_num_threads() == 7
        assert fastem.set_num_threads(None) == 7
        assert fastem.get_num_threads() == 2
        for bad in (0, -1, 1.5, True, "2"):
            with pytest.raises((ValueError, TypeError)):
                fastem.set_num_threads(bad)
        monkeypatch.setenv("FASTEM_NUM_THREADS", "many")
        with pytest.raises(ValueError, match="FASTEM_NUM_THREADS"):
            _parallel.default_num_threads()
    finally:
        fastem.set_num_threads(previous)


def test_partitions_are_folded_in_order_and_the_window_is_bounded(monkeypatch):
    """Results arrive in partition order whatever the thread count, and at most
    IN_FLIGHT_PER_THREAD * threads partitions are in flight at once."""
    import threading
    import time

    from fastem import _parallel

    monkeypatch.setattr(_parallel, "PARTITION_ROWS", 10)
    lock = threading.Lock()
    live = [0, 0]  # in flight now, most ever

    def work(start, stop):
        with lock:
            live[0] += 1
            live[1] = max(live[1], live[0])
        time.sleep(0.002 * ((start // 10) % 3))  # finish out of order
        return start, stop

    for threads in (1, 2, 4):
        folded = []

        def fold(result):
            folded.append(result)
            with lock:
                live[0] -= 1

        live[:] = [0, 0]
        _parallel.run_partitions(205, work, fold, threads=threads)
        assert folded == [(s, min(205, s + 10)) for s in range(0, 205, 10)]
        assert live[1] <= _parallel.IN_FLIGHT_PER_THREAD * threads
