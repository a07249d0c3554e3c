"""dask.array input: fits equal to the in-memory fit whatever the chunking (threaded
scheduler and a two-process dask.distributed cluster), X persisted once, lazy
predictions, NaN/inf named by row, and the ImportError without dask."""
import sys

import numpy as np
import pytest

import fastem
from conftest import COVARIANCE_TYPES, quiet_convergence, run_python
from fastem._config import PARTITION_ROWS

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def _mixture_rows(n, d, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(3, d))
    return (centres[rng.integers(0, 3, n)] + rng.normal(size=(n, d))).astype(dtype)


def _assert_same_fit(reference, other, rtol=1e-10):
    """Every fitted array within rtol of the reference, relative to its largest entry."""
    assert other.n_iter_ == reference.n_iter_
    assert other.converged_ == reference.converged_
    for name in FITTED:
        a, b = getattr(reference, name), getattr(other, name)
        assert np.max(np.abs(a - b)) <= rtol * np.max(np.abs(a)), name
    assert other.lower_bound_ == pytest.approx(reference.lower_bound_, rel=rtol)


@pytest.fixture
def threads():
    """The local threaded scheduler (dask.array's default), whatever else is set up."""
    with dask.config.set(scheduler="threads"):
        yield


# ---------------------------------------------------- fits, any chunking
CHUNKINGS = [
    (2 * PARTITION_ROWS, 3),          # whole partitions
    (3001, 3),                        # blocks cutting through partitions
    ((7000, 6000, 7000), (3,)),       # irregular blocks
    (20_000, 3),                      # a single block
    (5000, 1),                        # column blocks (rechunked to whole rows)
]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_max_samples", [100_000, 4000])  # all rows; a subsample
def test_fit_equals_the_in_memory_fit_for_any_chunking(threads, covariance_type,
                                                      init_max_samples):
    X = _mixture_rows(20_000, 3)
    kwargs = dict(covariance_type=covariance_type, random_state=0, max_iter=200,
                  init_max_samples=init_max_samples)
    reference = fastem.GaussianMixture(3, **kwargs).fit(X)
    for chunks in CHUNKINGS:
        fitted = fastem.GaussianMixture(3, **kwargs).fit(da.from_array(X, chunks=chunks))
        _assert_same_fit(reference, fitted)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_every_init_and_float32_and_sample_weight(threads, init_params):
    X = _mixture_rows(9000, 2, seed=1, dtype=np.float32)
    weights = np.random.default_rng(2).uniform(0.0, 3.0, X.shape[0])
    for limit in (None, 3000):
        kwargs = dict(covariance_type="full", init_params=init_params, random_state=1,
                      max_iter=8, tol=0.0, init_max_samples=limit)
        with quiet_convergence():
            reference = fastem.GaussianMixture(3, **kwargs).fit(X, sample_weight=weights)
            fitted = fastem.GaussianMixture(3, **kwargs).fit(da.from_array(X, chunks=2500),
                                                             sample_weight=weights)
        assert fitted.means_.dtype == np.float32  # float32 in, float32 out (scikit-learn)
        # float32 products (issue 8): dask blocks split the rows into other partitions
        # than the in-memory fit, so the sums round differently: float32 rounding
        _assert_same_fit(reference, fitted, rtol=1e-5)


def test_dask_fit_matches_scikit_learn_from_the_same_start(threads):
    """Correctness against the reference itself, not only against the in-memory path."""
    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
    X = _mixture_rows(6000, 3, seed=3)
    start = dict(weights_init=[0.3, 0.3, 0.4], means_init=X[[0, 1, 2]],
                 precisions_init=np.array([np.eye(3)] * 3))
    with quiet_convergence():
        ours = fastem.GaussianMixture(3, max_iter=30, **start).fit(
            da.from_array(X, chunks=1700))
        theirs = SklearnGaussianMixture(3, max_iter=30, **start).fit(X)
    _assert_same_fit(theirs, ours)


def test_integer_dask_input_is_cast_block_by_block(threads):
    X = np.round(_mixture_rows(3000, 2, seed=4) * 100).astype(np.int32)
    reference = fastem.GaussianMixture(2, random_state=0).fit(X)
    fitted = fastem.GaussianMixture(2, random_state=0).fit(da.from_array(X, chunks=1000))
    _assert_same_fit(reference, fitted)


def test_x_is_computed_once_not_every_iteration(threads):
    X = _mixture_rows(8000, 2, seed=5)
    computed_blocks = []

    def source(block):
        if block.shape[0]:  # dask also calls it once on an empty array, for the meta
            computed_blocks.append(block.shape[0])
        return block

    lazy = da.from_array(X, chunks=2000).map_blocks(source, dtype=X.dtype)
    with quiet_convergence():
        gm = fastem.GaussianMixture(3, random_state=0, max_iter=12, tol=0.0,
                                    init_max_samples=1000).fit(lazy)
    assert gm.n_iter_ == 12
    assert sorted(computed_blocks) == [2000] * 4


# ------------------------------------------------------------- predictions
def test_predict_family_is_lazy_and_equals_in_memory(threads):
    X = _mixture_rows(10_000, 3, seed=6)
    gm = fastem.GaussianMixture(3, random_state=0).fit(X)
    lazy_X = da.from_array(X, chunks=(3000, 2))
    labels = gm.predict(lazy_X)
    proba = gm.predict_proba(lazy_X)
    log_density = gm.score_samples(lazy_X)
    for result in (labels, proba, log_density):
        assert isinstance(result, da.Array)
    assert labels.dtype == np.int64 and labels.shape == (10_000,)
    assert proba.shape == (10_000, 3) and proba.chunks[0] == lazy_X.chunks[0]
    np.testing.assert_array_equal(labels.compute(), gm.predict(X))
    np.testing.assert_allclose(proba.compute(), gm.predict_proba(X), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(log_density.compute(), gm.score_samples(X), rtol=1e-12)
    assert gm.score(lazy_X) == pytest.approx(gm.score(X), rel=1e-12)
    assert gm.bic(lazy_X) == pytest.approx(gm.bic(X), rel=1e-12)


def test_fit_predict_returns_lazy_labels(threads):
    X = _mixture_rows(5000, 2, seed=7)
    labels = fastem.GaussianMixture(3, random_state=0).fit_predict(da.from_array(X, chunks=2000))
    assert isinstance(labels, da.Array)
    reference = fastem.GaussianMixture(3, random_state=0).fit_predict(X)
    np.testing.assert_array_equal(labels.compute(), reference)


def test_predict_out_is_refused_for_dask(threads):
    X = _mixture_rows(500, 2)
    gm = fastem.GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(TypeError, match="lazy"):
        gm.predict(da.from_array(X, chunks=100), out=np.empty(500, dtype=np.int64))


# ------------------------------------------------------------- bad input
@pytest.mark.parametrize("init_max_samples", [None, 1500])
def test_fit_names_the_first_bad_row(threads, init_max_samples):
    X = _mixture_rows(8000, 2, seed=8)
    X[5100, 1] = np.inf   # the first bad row, in the third block
    X[7000, 0] = np.nan   # a later one, in another block
    gm = fastem.GaussianMixture(2, random_state=0, init_max_samples=init_max_samples)
    with pytest.raises(ValueError, match=r"infinity .*\(first at row 5100\)"):
        gm.fit(da.from_array(X, chunks=2000))


def test_lazy_predict_raises_on_bad_rows_when_computed(threads):
    X = _mixture_rows(4000, 2, seed=9)
    gm = fastem.GaussianMixture(2, random_state=0).fit(X)
    X[3500, 0] = np.nan
    labels = gm.predict(da.from_array(X, chunks=1000))  # nothing computed yet
    with pytest.raises(ValueError, match=r"NaN \(first at row 3500\)"):
        labels.compute()


def test_bad_dask_arrays_are_refused_before_any_compute():
    gm = fastem.GaussianMixture(2)
    with pytest.raises(ValueError, match="Expected 2D array"):
        gm.fit(da.ones(10, chunks=5))
    with pytest.raises(ValueError, match="dim 3"):
        gm.fit(da.ones((4, 4, 4), chunks=2))
    with pytest.raises(ValueError, match="Complex"):
        gm.fit(da.ones((10, 2), chunks=5) * 1j)
    unknown = da.ones((10, 2), chunks=5)
    unknown = unknown[unknown[:, 0] > 0]  # row count unknown until computed
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        gm.fit(unknown)
    with pytest.raises(ValueError, match="minimum of 2"):
        gm.fit(da.ones((1, 2), chunks=1))


def test_fitted_feature_count_is_checked_lazily():
    gm = fastem.GaussianMixture(2, random_state=0).fit(_mixture_rows(300, 2))
    with pytest.raises(ValueError, match="X has 3 features"):
        gm.predict(da.ones((10, 3), chunks=5))


def test_without_dask_an_import_error_names_the_extra(monkeypatch):
    X = da.from_array(_mixture_rows(100, 2), chunks=50)
    monkeypatch.setitem(sys.modules, "dask", None)  # 'import dask' now fails
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(ImportError, match=r"pip install 'fastem\[dask\]'"):
        fastem.GaussianMixture(2).fit(X)


def test_import_fastem_does_not_import_dask():
    out = run_python("import sys, fastem; print(sorted(m for m in sys.modules "
                     "if m.split('.')[0] in ('dask', 'distributed')))")
    assert out.strip() == "[]"


# ---------------------------------------------------------------- progress
def test_verbose_2_reports_progress_per_block(threads, monkeypatch, capsys):
    import fastem._chunks
    monkeypatch.setattr(fastem._chunks, "PROGRESS_SECONDS", 0.0)
    X = da.from_array(_mixture_rows(6000, 2, seed=11), chunks=2000)
    with quiet_convergence():
        fastem.GaussianMixture(2, random_state=0, max_iter=2, tol=0.0, verbose=2,
                               verbose_interval=1, init_max_samples=1000).fit(X)
    out = capsys.readouterr().out
    assert out.count("dask pass: chunk 3/3") == 2  # one per EM iteration
    assert "Iteration 2" in out


# ------------------------------------------------------ dask.distributed
@pytest.fixture(scope="module")
def client():
    """A two-process LocalCluster, started and closed here."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None)
    dask_client = distributed.Client(cluster)
    try:
        yield dask_client
    finally:
        dask_client.close()
        cluster.close()


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_fit_on_a_distributed_cluster_equals_the_in_memory_fit(client, covariance_type):
    from distributed import get_task_stream
    X = _mixture_rows(20_000, 3, seed=12)
    kwargs = dict(covariance_type=covariance_type, random_state=0, init_max_samples=5000)
    reference = fastem.GaussianMixture(3, **kwargs).fit(X)
    lazy_X = da.from_array(X, chunks=3001)
    with get_task_stream(client) as stream:  # the client is the default scheduler
        fitted = fastem.GaussianMixture(3, **kwargs).fit(lazy_X)
        labels = fitted.predict(lazy_X).compute()
    _assert_same_fit(reference, fitted)
    np.testing.assert_array_equal(labels, reference.predict(X))
    block_tasks = [task for task in stream.data if "_block_stats" in str(task["key"])]
    assert len(block_tasks) == 7 * fitted.n_iter_  # 7 blocks per EM iteration
    assert len({task["worker"] for task in block_tasks}) == 2  # both workers took part
