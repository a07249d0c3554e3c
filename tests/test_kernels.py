"""Each Numba kernel, run over fixed partitions by fastem._parallel, against the
NumPy oracles of tests/naive.py.

The kernels read X in its own dtype. float64 X is computed in float64: only
the order of summation differs from the oracle (RTOL). float32 X ('full',
'diag', 'spherical') is centred on means split into a float32 part and a
float64 rest (as accurate as a float64 subtraction rounded to float32), then
its products run in float32 (short float32 sums added into float64 totals):
the oracle, given X.astype(float64), is met within float32 rounding
(RTOL_FLOAT32 on the log-likelihood, the statistics and the log-probabilities).
'tied' computes float32 X in float64.
"""
import contextlib
import importlib

import numpy as np
import pytest

import naive
from conftest import COVARIANCE_TYPES, JIT_DISABLED

from fastem import _parallel
from fastem._stats import Stats, m_step

RTOL = 1e-10
RTOL_FLOAT32 = 1e-5
DTYPES = (np.float64, np.float32)


def rtol_for(X):
    return RTOL if X.dtype == np.float64 else RTOL_FLOAT32


def kernels(covariance_type):
    return importlib.import_module(f"fastem._kernels.{covariance_type}")


def readonly(a):
    """The driver hands kernels read-only views; do the same (one compiled specialisation)."""
    view = np.ascontiguousarray(a).view(np.ndarray)
    view.flags.writeable = False
    return view


def log_norm_of(weights, prec_chol, covariance_type, n_features):
    """log w_k + 1/2 log det P_k - D/2 log 2pi, from dense precision matrices."""
    k = weights.shape[0]
    precisions = naive.precision_matrices(prec_chol, covariance_type, k, n_features)
    half_log_det = np.array([0.5 * np.linalg.slogdet(p)[1] for p in precisions])
    with np.errstate(divide="ignore"):
        return np.log(weights) + half_log_det - 0.5 * n_features * naive.LOG_2PI


def make_case(covariance_type, dtype, n_samples, n_features=3, n_components=4, seed=0,
              centre=0.0):
    rng = np.random.default_rng(seed)
    weights, means, _, prec_chol = naive.random_parameters(
        covariance_type, n_components, n_features, rng, centre=centre)
    comp = rng.integers(0, n_components, size=n_samples)
    X = (means[comp] + rng.normal(size=(n_samples, n_features)) * 1.5).astype(dtype)
    shift = weights @ means + rng.normal(size=n_features)  # any centre will do for 'tied'
    return X, weights, means, prec_chol, shift


def empty_stats(covariance_type, n_components, n_features):
    s = Stats(covariance_type, n_components, n_features)
    return s.nk, s.s1, s.s2


def run_accumulate(covariance_type, X, weights, means, prec_chol, shift, part_rows,
                   sample_weight=None, row_label=None, component_class=None,
                   log_lik=0.0, totals=None, threads=1):
    """The kernel over partitions of part_rows rows on ``threads`` threads, folded onto
    the running totals (log_lik, totals) as the driver does."""
    n_components, n_features = means.shape
    if component_class is None:
        component_class = np.arange(n_components, dtype=np.int64)
    stats = Stats(covariance_type, n_components, n_features)
    stats.log_lik = log_lik
    if totals is not None:
        stats.nk, stats.s1, stats.s2 = totals
    with partitions_of(part_rows):
        _parallel.accumulate_stats(
            kernels(covariance_type).accumulate_stats, readonly(X),
            np.empty(0) if sample_weight is None else np.ascontiguousarray(sample_weight, float),
            np.empty(0, np.int64) if row_label is None
            else np.ascontiguousarray(row_label, np.int64),
            np.ascontiguousarray(component_class, dtype=np.int64),
            np.ascontiguousarray(means), np.ascontiguousarray(prec_chol),
            np.ascontiguousarray(log_norm_of(weights, prec_chol, covariance_type, n_features)),
            np.ascontiguousarray(shift, dtype=np.float64), stats, threads=threads)
    return stats.log_lik, stats.nk, stats.s1, stats.s2


@contextlib.contextmanager
def partitions_of(part_rows):
    """Run fastem._parallel with partitions of part_rows rows."""
    saved = _parallel.PARTITION_ROWS
    _parallel.PARTITION_ROWS = part_rows
    try:
        yield
    finally:
        _parallel.PARTITION_ROWS = saved


def upper(s2, covariance_type):
    """The kernels document only the upper triangle of the (D, D) second moments."""
    return np.triu(s2) if covariance_type in ("full", "tied") else s2


def assert_close(actual, expected, rtol=RTOL):
    """Relative to the largest entry: entries near zero are sums of cancelling terms."""
    expected = np.asarray(expected, dtype=np.float64)
    np.testing.assert_allclose(actual, expected, rtol=rtol,
                               atol=rtol * max(1.0, float(np.abs(expected).max())))


def assert_stats_match_oracle(covariance_type, X, weights, means, prec_chol, shift, got,
                              sample_weight=None, row_label=None, component_class=None):
    n_components = means.shape[0]
    if component_class is None:
        component_class = np.arange(n_components)
    ll, nk, s1, s2 = naive.sufficient_stats(
        X, sample_weight, row_label, component_class, weights, means, prec_chol,
        covariance_type, shift)
    got_ll, got_nk, got_s1, got_s2 = got
    rtol = rtol_for(X)
    np.testing.assert_allclose(got_ll, ll, rtol=rtol)
    assert_close(got_nk, nk, rtol)
    assert_close(got_s1, s1, rtol)
    assert_close(upper(got_s2, covariance_type), upper(s2, covariance_type), rtol)


# ---------------------------------------------------------------- E + stats
# One thread runs the partitions inline; three run them on the pool, out of
# order, and fold them in order: both match the oracle, and each other bit for bit.
THREADS = (1, 3)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_samples, part_rows", [
    (1, 4096), (31, 4096), (32, 4096), (33, 4096), (97, 4096),  # one partition, blocks of 32
    (100, 7),    # 15 partitions, shorter than a block
    (493, 7),    # 71 partitions: more than the pool's in-flight window
    (1000, 33),  # 31 partitions, each a block plus one row
])
def test_accumulate_stats_matches_oracle(covariance_type, dtype, n_samples, part_rows,
                                         threads):
    X, weights, means, prec_chol, shift = make_case(covariance_type, dtype, n_samples)
    got = run_accumulate(covariance_type, X, weights, means, prec_chol, shift, part_rows,
                         threads=threads)
    assert_stats_match_oracle(covariance_type, X, weights, means, prec_chol, shift, got)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_thread_counts_give_the_same_bits(covariance_type, dtype):
    X, weights, means, prec_chol, shift = make_case(covariance_type, dtype, 1000, seed=11)
    rng = np.random.default_rng(3)
    extra = dict(sample_weight=rng.uniform(0.0, 2.0, size=1000),
                 row_label=rng.integers(-1, 4, size=1000))
    for part_rows in (7, 64, 4096):
        results = [run_accumulate(covariance_type, X, weights, means, prec_chol, shift,
                                  part_rows, threads=threads, **extra)
                   for threads in (1, 2, 5)]
        for other in results[1:]:
            for a, b in zip(results[0], other):
                np.testing.assert_array_equal(a, b)
    n_features = means.shape[1]
    log_norm = log_norm_of(weights, prec_chol, covariance_type, n_features)
    outs = []
    for threads in (1, 3):
        out = np.empty((1000, means.shape[0]))
        with partitions_of(64):
            _parallel.weighted_log_prob(kernels(covariance_type).weighted_log_prob,
                                        readonly(X), means, np.ascontiguousarray(prec_chol),
                                        log_norm, out, threads=threads)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_the_kernel_overwrites_its_outputs(covariance_type):
    """A kernel call is one partition: its statistics replace whatever the buffers held
    (the driver folds them), so a stale buffer cannot leak into a fit."""
    X, weights, means, prec_chol, shift = make_case(covariance_type, np.float64, 77, seed=12)
    n_components, n_features = means.shape
    clean = empty_stats(covariance_type, n_components, n_features)
    dirty = [np.full_like(a, 1e300) for a in clean]
    args = (readonly(X), np.empty(0), np.empty(0, np.int64),
            np.arange(n_components, dtype=np.int64), means, np.ascontiguousarray(prec_chol),
            log_norm_of(weights, prec_chol, covariance_type, n_features),
            np.ascontiguousarray(shift, dtype=np.float64))
    ll_clean = kernels(covariance_type).accumulate_stats(*args, *clean)
    ll_dirty = kernels(covariance_type).accumulate_stats(*args, *dirty)
    assert ll_clean == ll_dirty
    for a, b in zip(clean, dirty):
        np.testing.assert_array_equal(a, b)
    assert_stats_match_oracle(covariance_type, X, weights, means, prec_chol, shift,
                              (ll_clean, *clean))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_accumulate_stats_sample_weight(covariance_type, dtype):
    X, weights, means, prec_chol, shift = make_case(covariance_type, dtype, 301, seed=1)
    rng = np.random.default_rng(5)
    sample_weight = rng.uniform(0.1, 3.0, size=301)
    sample_weight[rng.choice(301, 40, replace=False)] = 0.0
    sample_weight[:5] = 0.0  # zeros at the start of a block too
    sample_weight[10:20] = rng.integers(1, 5, size=10)
    got = run_accumulate(covariance_type, X, weights, means, prec_chol, shift, 7,
                         sample_weight=sample_weight)
    assert_stats_match_oracle(covariance_type, X, weights, means, prec_chol, shift, got,
                              sample_weight=sample_weight)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_empty_sample_weight_means_ones(covariance_type):
    X, weights, means, prec_chol, shift = make_case(covariance_type, np.float64, 250, seed=2)
    none = run_accumulate(covariance_type, X, weights, means, prec_chol, shift, 7)
    ones = run_accumulate(covariance_type, X, weights, means, prec_chol, shift, 7,
                          sample_weight=np.ones(250))
    for a, b in zip(none, ones):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_accumulate_stats_labelled_rows(covariance_type, dtype, threads):
    """Clamped EM: a labelled row only has responsibility on its class's components."""
    n = 260
    X, weights, means, prec_chol, shift = make_case(covariance_type, dtype, n, seed=3)
    component_class = np.array([0, 0, 1, 2], dtype=np.int64)  # class 0 has two components
    rng = np.random.default_rng(7)
    row_label = rng.integers(-1, 3, size=n)  # -1 = unlabelled
    sample_weight = rng.uniform(0.0, 2.0, size=n)
    got = run_accumulate(covariance_type, X, weights, means, prec_chol, shift, 7,
                         sample_weight=sample_weight, row_label=row_label,
                         component_class=component_class, threads=threads)
    assert_stats_match_oracle(covariance_type, X, weights, means, prec_chol, shift, got,
                              sample_weight=sample_weight, row_label=row_label,
                              component_class=component_class)
    # The clamp has a visible effect: rows labelled 2 put all their weight on component 3.
    resp, _ = naive.responsibilities(
        naive.weighted_log_prob(X, weights, means, naive.precision_matrices(
            prec_chol, covariance_type, 4, 3)), row_label, component_class)
    assert np.all(resp[row_label == 2, 3] == 1.0)
    assert np.all(resp[row_label == 0][:, 2:] == 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_features", [5, 8, 16, 33, 64])
def test_accumulate_stats_real_sizes(covariance_type, dtype, n_features):
    """K=16 and up to 64 features, weights and clamped labels, three partitions (the last
    one short): every tile, remainder and queue path of the kernels against the oracle."""
    # Pure-Python kernels (coverage runs) get fewer rows: the same paths but the queues.
    n_samples, part_rows = (150, 64) if JIT_DISABLED else (2300, 1000)
    n_components = 16
    X, weights, means, prec_chol, shift = make_case(
        covariance_type, dtype, n_samples, n_features, n_components, seed=n_features)
    rng = np.random.default_rng(n_features)
    sample_weight = rng.uniform(0.0, 2.0, size=n_samples)
    sample_weight[rng.choice(n_samples, 100, replace=False)] = 0.0
    component_class = np.arange(n_components, dtype=np.int64) % 5
    row_label = rng.integers(-1, 5, size=n_samples)
    row_label[rng.random(n_samples) < 0.6] = -1  # most rows unlabelled
    extra = dict(sample_weight=sample_weight, row_label=row_label,
                 component_class=component_class)
    got = run_accumulate(covariance_type, X, weights, means, prec_chol, shift, part_rows,
                         **extra)
    assert_stats_match_oracle(covariance_type, X, weights, means, prec_chol, shift, got,
                              **extra)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_far_from_origin(covariance_type):
    """float32 data offset by 1e4: centred in float64 before the float32 products, the
    statistics meet the oracle and give finite, positive variances."""
    X, weights, means, prec_chol, shift = make_case(covariance_type, np.float32, 3000, 16,
                                                    16, seed=13, centre=1e4)
    means = X[:: 3000 // 16][:16].astype(np.float64) + 0.25  # near the data, as in a fit
    got = run_accumulate(covariance_type, X, weights, means, prec_chol, shift, 1000)
    assert_stats_match_oracle(covariance_type, X, weights, means, prec_chol, shift, got)
    stats = Stats(covariance_type, *means.shape)
    stats.log_lik, stats.nk, stats.s1, stats.s2 = got
    _, _, covariances = m_step(stats, means, shift, covariance_type, 0.0)
    variances = naive.dense_covariances(covariances, covariance_type, *means.shape)
    variances = np.diagonal(variances, axis1=1, axis2=2)
    assert np.all(np.isfinite(variances)) and np.all(variances > 0.0)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_accumulate_stats_far_from_origin(covariance_type):
    """Data and means around 1e6: the centred statistics stay exact (no cancellation)."""
    X, weights, means, prec_chol, shift = make_case(covariance_type, np.float64, 200,
                                                    seed=4, centre=1e6)
    got = run_accumulate(covariance_type, X, weights, means, prec_chol, shift, 7)
    assert_stats_match_oracle(covariance_type, X, weights, means, prec_chol, shift, got)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_running_totals_and_chunks_fold_identically(covariance_type):
    """Calling the kernel on chunks that start at partition boundaries, onto the same
    running totals, gives exactly the bits of one call (what out-of-core relies on)."""
    part_rows = 7
    X, weights, means, prec_chol, shift = make_case(covariance_type, np.float64, 500, seed=6)
    sample_weight = np.random.default_rng(1).uniform(0.5, 2.0, size=500)
    whole = run_accumulate(covariance_type, X, weights, means, prec_chol, shift, part_rows,
                           sample_weight=sample_weight)
    totals = empty_stats(covariance_type, *means.shape)
    log_lik = 0.0
    for start in range(0, 500, 5 * part_rows * 3):  # 105-row chunks
        stop = min(500, start + 105)
        log_lik, *totals = run_accumulate(
            covariance_type, X[start:stop], weights, means, prec_chol, shift, part_rows,
            sample_weight=sample_weight[start:stop], log_lik=log_lik, totals=totals)
    for a, b in zip(whole, (log_lik, *totals)):
        np.testing.assert_array_equal(a, b)
    # Running totals are added to, not overwritten.
    again = run_accumulate(covariance_type, X, weights, means, prec_chol, shift, part_rows,
                           sample_weight=sample_weight, log_lik=whole[0],
                           totals=[a.copy() for a in whole[1:]])
    for a, b in zip(again, whole):
        assert_close(a, 2 * np.asarray(b))


# ------------------------------------------------------------ prediction
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_weighted_log_prob_matches_oracle(covariance_type, dtype, threads):
    X, weights, means, prec_chol, _ = make_case(covariance_type, dtype, 133, seed=8)
    n_components, n_features = means.shape
    out = np.full((133, n_components), np.nan)
    with partitions_of(16):  # 9 partitions, each writing its own slice of out
        _parallel.weighted_log_prob(
            kernels(covariance_type).weighted_log_prob, readonly(X), means,
            np.ascontiguousarray(prec_chol),
            log_norm_of(weights, prec_chol, covariance_type, n_features), out,
            threads=threads)
    expected = naive.weighted_log_prob(
        X, weights, means,
        naive.precision_matrices(prec_chol, covariance_type, n_components, n_features))
    np.testing.assert_allclose(out, expected, rtol=rtol_for(X))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_features", [5, 8, 16, 33, 64])
def test_weighted_log_prob_real_sizes(covariance_type, dtype, n_features):
    """Prediction at K=16 and up to 64 features, two partitions (the last one short, not
    a whole block): every tile and remainder path of the blocked E-step."""
    n_samples, part_rows = (150, 64) if JIT_DISABLED else (1500, 1000)
    n_components = 16
    X, weights, means, prec_chol, _ = make_case(
        covariance_type, dtype, n_samples, n_features, n_components, seed=n_features + 1)
    out = np.full((n_samples, n_components), np.nan)
    with partitions_of(part_rows):
        _parallel.weighted_log_prob(
            kernels(covariance_type).weighted_log_prob, readonly(X), means,
            np.ascontiguousarray(prec_chol),
            log_norm_of(weights, prec_chol, covariance_type, n_features), out, threads=1)
    expected = naive.weighted_log_prob(
        X, weights, means,
        naive.precision_matrices(prec_chol, covariance_type, n_components, n_features))
    # Relative to each row's largest magnitude: entries near zero are differences of
    # terms of that size.
    scale = np.abs(expected).max(axis=1, keepdims=True)
    assert np.all(np.abs(out - expected) <= rtol_for(X) * scale)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_weighted_log_prob_far_from_origin(covariance_type):
    """float32 rows around 1e4 with means near them (as in a fit): the split means keep
    x - mu as accurate as a float64 subtraction, so prediction meets the oracle."""
    X, weights, means, prec_chol, _ = make_case(covariance_type, np.float32, 700, 16, 16,
                                                seed=14, centre=1e4)
    means = X[:: 700 // 16][:16].astype(np.float64) + 0.3  # not representable in float32
    log_norm = log_norm_of(weights, prec_chol, covariance_type, 16)
    out = np.empty((700, 16))
    kernels(covariance_type).weighted_log_prob(readonly(X), means,
                                               np.ascontiguousarray(prec_chol), log_norm, out)
    expected = naive.weighted_log_prob(
        X, weights, means, naive.precision_matrices(prec_chol, covariance_type, 16, 16))
    scale = np.abs(expected).max(axis=1, keepdims=True)
    assert np.all(np.abs(out - expected) <= RTOL_FLOAT32 * scale)


# ------------------------------------------------------------------ M-step
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("centre", [0.0, 1e6])
def test_m_step_matches_oracle(covariance_type, centre):
    """Kernel statistics + _stats.m_step == scikit-learn's M-step equations on the
    responsibilities of the same E-step."""
    X, weights, means, prec_chol, _ = make_case(covariance_type, np.float64, 300, seed=9,
                                                centre=centre)
    n_components, n_features = means.shape
    sample_weight = np.random.default_rng(2).uniform(0.0, 2.0, size=300)
    shift = weights @ means  # what the driver uses
    stats = Stats(covariance_type, n_components, n_features)
    stats.log_lik = kernels(covariance_type).accumulate_stats(
        readonly(X), sample_weight, np.empty(0, np.int64),
        np.arange(n_components, dtype=np.int64), means, np.ascontiguousarray(prec_chol),
        log_norm_of(weights, prec_chol, covariance_type, n_features), shift,
        stats.nk, stats.s1, stats.s2)
    nk, new_means, covariances = m_step(stats, means, shift, covariance_type, 1e-6)

    precisions = naive.precision_matrices(prec_chol, covariance_type, n_components,
                                          n_features)
    resp, _ = naive.responsibilities(naive.weighted_log_prob(X, weights, means, precisions))
    want_weights, want_means, want_cov = naive.m_step(X, sample_weight, resp,
                                                      covariance_type, 1e-6)
    np.testing.assert_allclose(nk / nk.sum(), want_weights, rtol=RTOL)
    np.testing.assert_allclose(new_means, want_means, rtol=RTOL,
                               atol=RTOL * max(1.0, centre))
    # Covariances: relative to the scale of the data, not to 1e6.
    assert_close(covariances, want_cov, rtol=1e-9 if centre else RTOL)
    assert covariances.shape == want_cov.shape


def test_exp_nonpositive_matches_libm():
    """The kernels' vectorisable exp (responsibilities) against math.exp on (-inf, 0]."""
    common = importlib.import_module("fastem._kernels._common")
    from numba import njit

    @njit
    def apply(xs, out):
        for i in range(xs.shape[0]):
            out[i] = common.exp_nonpositive(xs[i])

    rng = np.random.default_rng(0)
    xs = np.concatenate([
        -np.logspace(-300, np.log10(700.0), 4000), -rng.uniform(0, 745.2, 4000),
        [0.0, -0.0, -1e-320, -0.5 * np.log(2), -np.log(2), -708.3, -708.4, -744.0,
         -745.1, -745.13, -745.2, -746.0, -1e300, -np.inf]])
    out = np.empty_like(xs)
    apply(xs, out)
    want = np.exp(xs)
    normal = want >= np.finfo(np.float64).tiny
    np.testing.assert_allclose(out[normal], want[normal], rtol=1e-15, atol=0)
    # Subnormal results: within a couple of units of the smallest subnormal.
    np.testing.assert_allclose(out[~normal], want[~normal], rtol=0, atol=2 * 5e-324)
    assert out[-1] == 0.0 and np.all(out >= 0.0) and np.all(out <= 1.0)
    assert out[np.isin(xs, [0.0])].tolist() == [1.0, 1.0]
