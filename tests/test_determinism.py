"""Bitwise reproducibility: across thread counts, memory layouts and chunked reads,
and a bounded number of compiled kernel specialisations."""
import json

import numpy as np
import pytest

import fastem
from conftest import COVARIANCE_TYPES, JIT_DISABLED, run_python

needs_jit = pytest.mark.skipif(JIT_DISABLED, reason="needs compiled (threaded) kernels")

# Fits every covariance type (k-means init, sample weights, and a labelled-row-free
# EM) on 5,000 rows with 16-row partitions: 313 partitions, many more than the
# pool keeps in flight, then prints a digest of every fitted array and of the
# predict family.
FIT_AND_DIGEST = r"""
import hashlib, json, warnings
import numpy as np
import fastem
from fastem._config import PARTITION_ROWS
assert PARTITION_ROWS == 16, PARTITION_ROWS
warnings.simplefilter("ignore", fastem.ConvergenceWarning)
rng = np.random.default_rng(0)
centres = rng.normal(scale=4.0, size=(3, 3))
X = centres[rng.integers(0, 3, 5000)] + rng.normal(size=(5000, 3))
sample_weight = rng.uniform(0.0, 3.0, size=5000)
out = {"threads": fastem.get_num_threads()}
for ct in ("full", "tied", "diag", "spherical"):
    for dtype in (np.float64, np.float32):
        gm = fastem.GaussianMixture(3, covariance_type=ct, random_state=0, max_iter=15,
                                    tol=0.0).fit(X.astype(dtype), sample_weight=sample_weight)
        h = hashlib.sha256()
        for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
            h.update(getattr(gm, name).tobytes())
        h.update(np.asarray(gm.lower_bounds_).tobytes())
        h.update(gm.predict_proba(X[:1500]).tobytes())
        h.update(gm.score_samples(X[:1500]).tobytes())
        out[ct + str(np.dtype(dtype))] = h.hexdigest()
print(json.dumps(out))
"""


@needs_jit
def test_fit_is_bitwise_identical_for_any_thread_count():
    digests = {}
    for threads in ("1", "2", "3"):
        out = json.loads(run_python(FIT_AND_DIGEST, env={
            "FASTEM_NUM_THREADS": threads, "FASTEM_PARTITION_ROWS": "16"}).splitlines()[-1])
        assert out.pop("threads") == int(threads)
        digests[threads] = out
    assert len(digests["1"]) == 2 * len(COVARIANCE_TYPES)
    assert digests["1"] == digests["2"] == digests["3"]


# Fits from every kind of input a user may pass (one partition, many partitions,
# memory-mapped in chunks), then reports how many compiled specialisations each
# kernel dispatcher holds, per dtype of its first argument.
COUNT_SIGNATURES = r"""
import json, os, tempfile, warnings
import numpy as np
import fastem
from fastem._kernels import full, tied, diag, spherical, kmeans, mstep
warnings.simplefilter("ignore", fastem.ConvergenceWarning)
rng = np.random.default_rng(0)
X = rng.normal(size=(300, 3)) + rng.integers(0, 3, size=(300, 1)) * 5.0
tmp = tempfile.mkdtemp()
inputs = []
for dtype in (np.float64, np.float32):
    c = X.astype(dtype)
    f = np.asfortranarray(c)
    ro = c.copy()
    ro.flags.writeable = False
    path = os.path.join(tmp, f"x_{np.dtype(dtype).name}.npy")
    np.save(path, c)
    mm = np.load(path, mmap_mode="r")
    inputs += [c, f, ro, mm, c[::2], c.tolist() if dtype == np.float64 else c[:, :],
               c[:50], ro[:50]]  # <= one 64-row partition: run inline
for ct in ("full", "tied", "diag", "spherical"):
    for init in ("kmeans", "k-means++", "random", "random_from_data"):
        for x in inputs:
            gm = fastem.GaussianMixture(3, covariance_type=ct, init_params=init,
                                        random_state=0, max_iter=3, chunk_size=128)
            sample_weight = None if init != "kmeans" else np.ones(len(x))
            gm.fit(x, sample_weight=sample_weight)
            gm.predict(x); gm.score_samples(x)
            if isinstance(x, np.ndarray) and x.shape[0] > 64:
                readonly_weight = np.ones(len(x))
                readonly_weight.flags.writeable = False
                gm.set_params(chunk_size=None).fit(x, sample_weight=readonly_weight)
try:
    import dask.array as da
except ImportError:  # the optional extra: the other inputs still count
    da = None
if da is not None:
    for ct in ("full", "tied", "diag", "spherical"):
        for dtype in (np.float64, np.float32):
            x = da.from_array(X.astype(dtype), chunks=(100, 3))
            gm = fastem.GaussianMixture(3, covariance_type=ct, random_state=0, max_iter=3)
            gm.fit(x, sample_weight=np.ones(300)); gm.predict(x).compute()
counts = {}
for mod in (full, tied, diag, spherical, kmeans):
    for name, dispatcher in vars(mod).items():
        if (hasattr(dispatcher, "signatures") and not name.startswith("_")
                and dispatcher.py_func.__module__ == mod.__name__):
            per_dtype = counts.setdefault(mod.__name__.rsplit(".", 1)[1] + "." + name, {})
            for sig in dispatcher.signatures:
                key = str(sig[0].dtype)
                per_dtype[key] = per_dtype.get(key, 0) + 1
for name in ("full", "tied", "diag", "spherical"):
    counts["mstep." + name] = {"float64": len(getattr(mstep, name).signatures)}
print(json.dumps(counts))
"""


@needs_jit
def test_exactly_one_specialisation_per_kernel_and_dtype():
    counts = json.loads(run_python(COUNT_SIGNATURES, env={
        "FASTEM_PARTITION_ROWS": "64"}).splitlines()[-1])
    expected = {f"{ct}.{kernel}" for ct in COVARIANCE_TYPES
                for kernel in ("accumulate_stats", "weighted_log_prob")}
    expected |= {"kmeans.update_closest", "kmeans.candidate_potentials", "kmeans.lloyd_step"}
    expected |= {f"mstep.{ct}" for ct in COVARIANCE_TYPES}
    assert set(counts) == expected
    for name, per_dtype in counts.items():
        want = {"float64"} if name.startswith("mstep.") else {"float64", "float32"}
        assert set(per_dtype) == want, (name, per_dtype)
        assert all(n == 1 for n in per_dtype.values()), (name, per_dtype)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_memory_mapped_chunks_give_the_in_memory_bits(tmp_path, covariance_type):
    """A memory-mapped X is read in chunks of whole partitions: same partitions, same
    fold order, so the same bits as the in-memory fit."""
    from fastem._config import PARTITION_ROWS
    rng = np.random.default_rng(1)
    n = 3 * PARTITION_ROWS + 123
    X = rng.normal(size=(n, 2)) + rng.integers(0, 3, size=(n, 1)) * 4.0
    np.save(tmp_path / "x.npy", X)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    kwargs = dict(covariance_type=covariance_type, random_state=0, max_iter=5, tol=0.0)
    with pytest.warns(fastem.ConvergenceWarning):
        in_memory = fastem.GaussianMixture(3, **kwargs).fit(X)
    with pytest.warns(fastem.ConvergenceWarning):
        chunked = fastem.GaussianMixture(3, chunk_size=PARTITION_ROWS, **kwargs).fit(mapped)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert getattr(in_memory, name).tobytes() == getattr(chunked, name).tobytes(), name
    assert in_memory.lower_bounds_ == chunked.lower_bounds_
    assert in_memory.score_samples(X).tobytes() == chunked.score_samples(mapped).tobytes()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_layout_and_writeability_do_not_change_the_fit(covariance_type):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 3)) + rng.integers(0, 3, size=(500, 1)) * 4.0
    readonly = X.copy()
    readonly.flags.writeable = False
    fits = [fastem.GaussianMixture(3, covariance_type=covariance_type,
                                   random_state=0).fit(x)
            for x in (X, np.asfortranarray(X), readonly, X.tolist())]
    for gm in fits[1:]:
        assert gm.means_.tobytes() == fits[0].means_.tobytes()
        assert gm.covariances_.tobytes() == fits[0].covariances_.tobytes()
        assert gm.lower_bounds_ == fits[0].lower_bounds_
