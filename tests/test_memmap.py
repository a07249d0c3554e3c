"""Memory-mapped input: chunked passes, bitwise agreement with in-memory fits,
NaN/inf found chunk by chunk, predict(out=...), bounded initialisation, and the
anonymous-memory budget of a fit on a 200 MB file (measured in a subprocess)."""
import os
import selectors
import subprocess
import sys

import numpy as np
import pytest

import fastem
from conftest import COVARIANCE_TYPES, JIT_DISABLED, REPO_ROOT, quiet_convergence
from fastem._config import PARTITION_ROWS
from fastem._init import subsample_indices
from fastem._chunks import chunk_rows_for, row_chunks

FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")
INITS = ("kmeans", "k-means++", "random", "random_from_data")


def _mixture_rows(n, d, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(3, d))
    return (centres[rng.integers(0, 3, n)] + rng.normal(size=(n, d))).astype(dtype)


def _mapped(tmp_path, X, name="x.npy"):
    np.save(tmp_path / name, X)
    return np.load(tmp_path / name, mmap_mode="r")


def _assert_bitwise_equal(a, b):
    for name in FITTED:
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    assert a.lower_bounds_ == b.lower_bounds_
    assert a.n_iter_ == b.n_iter_


# ------------------------------------------------------------ same bits
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_subsampled_init_memmap_fit_is_bitwise_the_in_memory_fit(tmp_path, covariance_type,
                                                                 dtype):
    """More rows than init_max_samples: both fits initialise on the same random
    subsample, and the chunked EM passes fold the same partitions in the same order."""
    X = _mixture_rows(6 * PARTITION_ROWS + 77, 3, dtype=dtype)
    mapped = _mapped(tmp_path, X)
    kwargs = dict(covariance_type=covariance_type, random_state=0, max_iter=6, tol=0.0,
                  init_max_samples=5000)
    with quiet_convergence():
        in_memory = fastem.GaussianMixture(3, **kwargs).fit(X)
        chunked = fastem.GaussianMixture(3, chunk_size=2 * PARTITION_ROWS, **kwargs).fit(mapped)
    _assert_bitwise_equal(in_memory, chunked)


@pytest.mark.parametrize("init_params", INITS)
def test_every_init_gives_the_same_bits_from_a_memmap(tmp_path, init_params):
    X = _mixture_rows(3 * PARTITION_ROWS + 5, 2, seed=3)
    mapped = _mapped(tmp_path, X)
    weights = np.random.default_rng(4).uniform(0.5, 2.0, X.shape[0])
    for limit in (None, 3000):  # every row, then a subsample
        kwargs = dict(covariance_type="full", init_params=init_params, random_state=2,
                      max_iter=4, tol=0.0, init_max_samples=limit)
        with quiet_convergence():
            in_memory = fastem.GaussianMixture(3, **kwargs).fit(X, sample_weight=weights)
            chunked = fastem.GaussianMixture(3, chunk_size="40KB", **kwargs).fit(
                mapped, sample_weight=weights)
        _assert_bitwise_equal(in_memory, chunked)


def test_memmap_fit_matches_scikit_learn_from_the_same_start(tmp_path):
    """Correctness against the reference, not only against the in-memory path."""
    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
    X = _mixture_rows(2 * PARTITION_ROWS + 300, 3, seed=5)
    mapped = _mapped(tmp_path, X)
    start = dict(weights_init=[0.3, 0.3, 0.4], means_init=X[[0, 1, 2]],
                 precisions_init=np.array([np.eye(3)] * 3))
    with quiet_convergence():
        ours = fastem.GaussianMixture(3, chunk_size=PARTITION_ROWS, max_iter=20,
                                      **start).fit(mapped)
        theirs = SklearnGaussianMixture(3, max_iter=20, **start).fit(X)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.means_, theirs.means_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.covariances_, theirs.covariances_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=1e-12)
    np.testing.assert_array_equal(ours.predict(mapped), theirs.predict(X))
    np.testing.assert_allclose(ours.score(mapped), theirs.score(X), rtol=1e-12)


def test_predict_family_on_a_memmap_equals_in_memory(tmp_path):
    X = _mixture_rows(3 * PARTITION_ROWS + 11, 2, seed=6, dtype=np.float32)
    mapped = _mapped(tmp_path, X)
    gm = fastem.GaussianMixture(3, random_state=0, chunk_size=PARTITION_ROWS).fit(X)
    reference = fastem.GaussianMixture(3, random_state=0).fit(X)
    np.testing.assert_array_equal(gm.predict(mapped), reference.predict(X))
    np.testing.assert_array_equal(gm.predict_proba(mapped), reference.predict_proba(X))
    np.testing.assert_array_equal(gm.score_samples(mapped), reference.score_samples(X))
    # score sums chunk by chunk instead of keeping a per-row array: rounding only.
    np.testing.assert_allclose(gm.score(mapped), reference.score(X), rtol=1e-13)
    assert gm.bic(mapped) == pytest.approx(reference.bic(X), rel=1e-13)


# ------------------------------------------------------------- predict(out=)
def test_predict_writes_labels_into_a_memmap_out(tmp_path):
    X = _mixture_rows(2 * PARTITION_ROWS + 9, 2, seed=7)
    mapped = _mapped(tmp_path, X)
    gm = fastem.GaussianMixture(3, random_state=0, chunk_size=PARTITION_ROWS).fit(mapped)
    out = np.lib.format.open_memmap(tmp_path / "labels.npy", mode="w+", dtype=np.int32,
                                    shape=(X.shape[0],))
    out[:] = -1
    returned = gm.predict(mapped, out=out)
    assert returned is out
    out.flush()
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), gm.predict(X))


@pytest.mark.parametrize("make_out, error, match", [
    (lambda n: np.empty(n + 1, dtype=np.int64), ValueError, "shape"),
    (lambda n: np.empty((n, 1), dtype=np.int64), ValueError, "shape"),
    (lambda n: np.empty(n, dtype=np.float64), ValueError, "integer dtype"),
    (lambda n: [0] * n, TypeError, "numpy array"),
])
def test_predict_out_is_checked(make_out, error, match):
    X = _mixture_rows(200, 2)
    gm = fastem.GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(error, match=match):
        gm.predict(X, out=make_out(X.shape[0]))


def test_predict_out_must_be_writable():
    X = _mixture_rows(200, 2)
    gm = fastem.GaussianMixture(2, random_state=0).fit(X)
    out = np.empty(200, dtype=np.int64)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        gm.predict(X, out=out)


# ------------------------------------------------------------- NaN and inf
@pytest.mark.parametrize("bad_value, match", [(np.nan, "NaN"), (np.inf, "infinity")])
@pytest.mark.parametrize("limit", [None, 2000])
def test_bad_rows_are_found_during_the_first_pass_and_named(tmp_path, bad_value, match, limit):
    X = _mixture_rows(3 * PARTITION_ROWS, 2, seed=8)
    first_bad = 2 * PARTITION_ROWS + 17  # in the third chunk
    X[first_bad, 1] = bad_value
    X[first_bad + 100, 0] = np.nan
    mapped = _mapped(tmp_path, X)
    gm = fastem.GaussianMixture(2, random_state=0, chunk_size=PARTITION_ROWS,
                                init_max_samples=limit)
    with pytest.raises(ValueError, match=rf"{match}.* \(first at row {first_bad}\)"):
        gm.fit(mapped)


def test_a_bad_row_in_the_init_subsample_names_the_first_bad_row_of_x(tmp_path):
    X = _mixture_rows(3 * PARTITION_ROWS, 2, seed=9)
    X[5, 0] = np.inf       # the first bad row
    X[100:, 1] = np.nan    # so that the subsample certainly holds bad rows
    mapped = _mapped(tmp_path, X)
    gm = fastem.GaussianMixture(2, random_state=0, init_max_samples=500)
    with pytest.raises(ValueError, match=r"infinity .*\(first at row 5\)"):
        gm.fit(mapped)


def test_predict_on_a_memmap_checks_each_chunk(tmp_path):
    X = _mixture_rows(3 * PARTITION_ROWS, 2, seed=10)
    gm = fastem.GaussianMixture(2, random_state=0, chunk_size=PARTITION_ROWS).fit(X)
    X[PARTITION_ROWS + 3, 0] = np.nan
    mapped = _mapped(tmp_path, X)
    for method in (gm.predict, gm.predict_proba, gm.score_samples, gm.score):
        with pytest.raises(ValueError, match=rf"NaN \(first at row {PARTITION_ROWS + 3}\)"):
            method(mapped)


def test_a_clean_subsampled_memmap_fit_makes_no_separate_finiteness_pass(tmp_path,
                                                                         monkeypatch):
    """With a subsampled init, the NaN/inf check rides on the first EM pass: the
    whole-array scan (check_finite) is never called."""
    import fastem._sources
    import fastem._validation
    calls = []

    def spy(X, *args, **kwargs):
        calls.append(X.shape)
        return original(X, *args, **kwargs)
    original = fastem._validation.check_finite
    monkeypatch.setattr(fastem._validation, "check_finite", spy)
    monkeypatch.setattr(fastem._sources, "check_finite", spy)
    mapped = _mapped(tmp_path, _mixture_rows(3 * PARTITION_ROWS, 2, seed=11))
    fastem.GaussianMixture(2, random_state=0, init_max_samples=1000).fit(mapped)
    assert calls == []
    fastem.GaussianMixture(2, random_state=0).fit(np.array(mapped))  # in memory: checked first
    assert len(calls) == 1


# --------------------------------------------------------- no whole copies
def test_memmaps_that_would_need_a_whole_copy_are_refused(tmp_path):
    X = _mixture_rows(100, 3)
    ints = _mapped(tmp_path, X.astype(np.int32), "ints.npy")
    fortran = _mapped(tmp_path, np.asfortranarray(X), "fortran.npy")
    assert not fortran.flags.c_contiguous
    gm = fastem.GaussianMixture(2)
    with pytest.raises(ValueError, match="must be float32 or float64"):
        gm.fit(ints)
    with pytest.raises(ValueError, match="C-contiguous"):
        gm.fit(fortran)
    with pytest.raises(ValueError, match="C-contiguous"):
        gm.fit(_mapped(tmp_path, X, "c.npy")[:, :2])
    fitted = fastem.GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="C-contiguous"):
        fitted.predict(fortran)


def test_chunks_are_views_of_the_file_not_copies(tmp_path):
    mapped = _mapped(tmp_path, _mixture_rows(3 * PARTITION_ROWS + 1, 2, dtype=np.float32))
    pieces = list(row_chunks(mapped, PARTITION_ROWS))
    assert [(s, e) for s, e, _ in pieces] == [
        (0, PARTITION_ROWS), (PARTITION_ROWS, 2 * PARTITION_ROWS),
        (2 * PARTITION_ROWS, 3 * PARTITION_ROWS), (3 * PARTITION_ROWS, 3 * PARTITION_ROWS + 1)]
    for start, stop, rows in pieces:
        assert np.shares_memory(rows, mapped)
        assert not rows.flags.writeable


# ----------------------------------------------------------- chunk sizes
def test_chunk_size_in_rows_bytes_and_default():
    X = np.empty((10, 16), dtype=np.float32)  # 64-byte rows
    assert chunk_rows_for(X, 3 * PARTITION_ROWS + 5) == 3 * PARTITION_ROWS
    assert chunk_rows_for(X, 1) == PARTITION_ROWS  # at least one partition
    assert chunk_rows_for(X, f"{64 * 5 * PARTITION_ROWS}B") == 5 * PARTITION_ROWS
    assert chunk_rows_for(X, "8MB") == (8_000_000 // 64) // PARTITION_ROWS * PARTITION_ROWS
    assert chunk_rows_for(X) == 64 * PARTITION_ROWS
    wide = np.empty((10, 512), dtype=np.float64)  # 4 KiB rows: the default holds 64 MiB
    assert chunk_rows_for(wide) == max(PARTITION_ROWS, (64 * 2**20 // 4096) // PARTITION_ROWS
                                       * PARTITION_ROWS)
    widest = np.empty((10, 2**16), dtype=np.float64)  # 512 KiB rows: still one partition
    assert chunk_rows_for(widest) == PARTITION_ROWS
    # Prediction with many components: the per-chunk outputs are bounded too.
    assert chunk_rows_for(X, out_row_bytes=2 * 8 * 512) == (64 * 2**20 // 8192) // \
        PARTITION_ROWS * PARTITION_ROWS
    assert chunk_rows_for(X, 3 * PARTITION_ROWS, out_row_bytes=2 * 8 * 512) == \
        3 * PARTITION_ROWS  # an explicit chunk_size is taken as given


@pytest.mark.parametrize("chunk_size", [0, -5, 2.5, True, "lots", "-3MB"])
def test_bad_chunk_size_is_refused(chunk_size):
    with pytest.raises(ValueError, match="chunk_size"):
        fastem.GaussianMixture(2, chunk_size=chunk_size).fit(_mixture_rows(50, 2))


# --------------------------------------------------------- init subsample
def test_kmeans_runs_on_at_most_init_max_samples_rows(monkeypatch, tmp_path):
    import fastem._init
    seen = []
    original = fastem._init.kmeans_labels

    def spy(X, *args, **kwargs):
        seen.append((type(X), X.shape[0]))
        return original(X, *args, **kwargs)
    monkeypatch.setattr(fastem._init, "kmeans_labels", spy)
    mapped = _mapped(tmp_path, _mixture_rows(5000, 2, seed=12))
    fastem.GaussianMixture(3, random_state=0, init_max_samples=700, n_init=2).fit(mapped)
    assert seen == [(np.ndarray, 700), (np.ndarray, 700)]


def test_inputs_up_to_the_limit_are_initialised_as_without_a_limit():
    """The default bound leaves small inputs (all of scikit-learn's tests) unchanged."""
    X = _mixture_rows(3000, 2, seed=13)
    for init_params in INITS:
        a = fastem.GaussianMixture(3, init_params=init_params, random_state=0).fit(X)
        b = fastem.GaussianMixture(3, init_params=init_params, random_state=0,
                                   init_max_samples=None).fit(X)
        c = fastem.GaussianMixture(3, init_params=init_params, random_state=0,
                                   init_max_samples=3000).fit(X)
        _assert_bitwise_equal(a, b)
        _assert_bitwise_equal(a, c)


def test_subsampled_init_still_finds_separated_clusters():
    rng = np.random.default_rng(14)
    centres = np.array([[0.0, 0.0], [30.0, 0.0], [0.0, 30.0]])
    labels = rng.integers(0, 3, 60_000)
    X = centres[labels] + rng.normal(size=(60_000, 2))
    gm = fastem.GaussianMixture(3, random_state=0, init_max_samples=2000).fit(X)
    found = np.sort(gm.means_[:, 0] + 10 * gm.means_[:, 1])
    np.testing.assert_allclose(found, np.sort(centres[:, 0] + 10 * centres[:, 1]), atol=0.1)
    np.testing.assert_allclose(np.sort(gm.weights_), np.sort(np.bincount(labels) / 60_000),
                               atol=1e-3)


@pytest.mark.parametrize("limit", [0, -1, 2.0, True])
def test_bad_init_max_samples_is_refused(limit):
    with pytest.raises(ValueError, match="init_max_samples"):
        fastem.GaussianMixture(2, init_max_samples=limit).fit(_mixture_rows(50, 2))


@pytest.mark.parametrize("n, m", [(10, 3), (1000, 999), (10**12, 1000), (50_000, 100)])
def test_subsample_indices_are_distinct_sorted_and_in_range(n, m):
    idx = subsample_indices(n, m, np.random.RandomState(0))
    assert idx.dtype == np.int64 and idx.shape == (m,)
    assert (np.diff(idx) > 0).all()
    assert idx[0] >= 0 and idx[-1] < n


@pytest.mark.parametrize("n, m", [(12, 3), (200, 5)])
def test_subsample_indices_are_uniform(n, m):
    """Every row is drawn with probability m / n (a chi-square test at 1e-4 would
    fail this test by chance once in ten thousand seeds; the seed is fixed)."""
    from scipy.stats import chisquare
    rs = np.random.RandomState(0)
    trials = 20_000
    counts = np.zeros(n)
    for _ in range(trials):
        counts[subsample_indices(n, m, rs)] += 1
    assert chisquare(counts).pvalue > 1e-4


# ---------------------------------------------------------------- progress
def test_verbose_2_reports_progress_per_chunk(tmp_path, monkeypatch, capsys):
    import fastem._chunks
    monkeypatch.setattr(fastem._chunks, "PROGRESS_SECONDS", 0.0)
    mapped = _mapped(tmp_path, _mixture_rows(3 * PARTITION_ROWS, 2, seed=15))
    with quiet_convergence():
        gm = fastem.GaussianMixture(2, random_state=0, chunk_size=PARTITION_ROWS, verbose=2,
                                    max_iter=2, verbose_interval=1).fit(mapped)
    out = capsys.readouterr().out
    assert out.count("EM pass: chunk 3/3") >= 2  # every iteration (and the init moments)
    assert "Iteration 2" in out
    gm.predict(mapped)
    assert "predict pass: chunk 3/3" in capsys.readouterr().out
    gm.set_params(verbose=1).fit(mapped)
    assert "chunk" not in capsys.readouterr().out


def test_short_passes_stay_quiet_at_verbose_2(tmp_path, capsys):
    mapped = _mapped(tmp_path, _mixture_rows(3 * PARTITION_ROWS, 2, seed=15))
    kwargs = dict(random_state=0, chunk_size=PARTITION_ROWS)
    fastem.GaussianMixture(2, **kwargs).fit(mapped)  # kernels compiled/loaded: passes are short
    capsys.readouterr()
    fastem.GaussianMixture(2, verbose=2, **kwargs).fit(mapped)
    assert "chunk" not in capsys.readouterr().out  # every pass took far less than a second


# ---------------------------------------------- anonymous memory, 200 MB file
# The child fits a memory-mapped float32 file after a warm-up (kernels loaded,
# allocator primed), reports its RssAnon (anonymous memory: excludes the page
# cache that backs the mapped file) and waits; the parent then samples the
# child's RssAnon from /proc every few milliseconds while it fits, so the peak
# includes every temporary the fit makes. Afterwards the child fits the same
# rows in memory and writes both models for a bitwise comparison.
MEMORY_CHILD = r"""
import sys, time, warnings
import numpy as np
import fastem
warnings.simplefilter("ignore", fastem.ConvergenceWarning)
path, out_path = sys.argv[1], sys.argv[2]

def rss_anon_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])

X = np.load(path, mmap_mode="r")
kwargs = dict(n_components=3, covariance_type="full", random_state=0, max_iter=4, tol=0.0,
              chunk_size="8MB")
fastem.GaussianMixture(**kwargs, init_max_samples=20_000).fit(X[:200_000])  # warm-up
print("ready", rss_anon_kib(), flush=True)
sys.stdin.readline()
mapped = fastem.GaussianMixture(**kwargs).fit(X)
print("fitted", rss_anon_kib(), flush=True)
sys.stdin.readline()
in_memory = fastem.GaussianMixture(**kwargs).fit(np.array(X))
np.savez(out_path, **{f"{which}_{name}": getattr(model, name)
                      for which, model in (("mapped", mapped), ("memory", in_memory))
                      for name in ("weights_", "means_", "covariances_",
                                   "precisions_cholesky_", "lower_bounds_", "n_iter_")})
print("done", flush=True)
"""


def _rss_anon_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon line")


def _sample_peak_rss_anon(child):
    """(peak, baseline): the child's RssAnon (KiB) before and at most during its fit."""
    try:
        line = child.stdout.readline()
        assert line.startswith("ready "), f"child failed before the fit: {line!r}"
        baseline = peak = int(line.split()[1])
        child.stdin.write("go\n")
        child.stdin.flush()
        selector = selectors.DefaultSelector()
        selector.register(child.stdout, selectors.EVENT_READ)
        while not selector.select(timeout=0.002):  # until the child prints 'fitted'
            peak = max(peak, _rss_anon_kib(child.pid))
        selector.close()
        tag, after = child.stdout.readline().split()
        assert tag == "fitted"
        peak = max(peak, int(after))
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "done"
        assert child.wait(timeout=120) == 0
        return peak, baseline
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status")
@pytest.mark.skipif(JIT_DISABLED, reason="pure-Python kernels would take minutes")
def test_fit_on_a_200_mb_memmap_stays_within_64_mib_of_anonymous_memory(tmp_path):
    n_rows, n_features = 3_276_800, 16  # 800 partitions; 209.7 MB of float32
    path = tmp_path / "big.npy"
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                  shape=(n_rows, n_features))
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(3, n_features))
    step = 1 << 18
    for start in range(0, n_rows, step):
        stop = min(n_rows, start + step)
        X[start:stop] = centres[rng.integers(0, 3, stop - start)] + rng.standard_normal(
            (stop - start, n_features), dtype=np.float32)
    X.flush()
    del X

    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    with subprocess.Popen([sys.executable, "-c", MEMORY_CHILD, str(path),
                           str(tmp_path / "models.npz")],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                          env=env, cwd=REPO_ROOT) as child:
        peak, baseline = _sample_peak_rss_anon(child)

    growth_mib = (peak - baseline) / 1024
    print(f"RssAnon growth during the fit: {growth_mib:.1f} MiB (baseline "
          f"{baseline / 1024:.1f} MiB)")
    assert growth_mib < 64

    models = np.load(tmp_path / "models.npz")
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_",
                 "lower_bounds_", "n_iter_"):
        # Same partitions folded in the same order: the same bits, not just close.
        assert models[f"mapped_{name}"].tobytes() == models[f"memory_{name}"].tobytes(), name
