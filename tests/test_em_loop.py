"""The compiled EM loop (fastem._kernels.em_loop) against the Python loop of
BaseMixture._iterate: the same lower bounds, n_iter, converged flag and fitted
parameters, bit for bit, and the same errors.

The Python loop is the reference: a fit inside ``reporting_iterations`` (a
per-iteration callback) always takes it. Every comparison also checks that the
other fit really went through the compiled loop (``em_loop.run`` is counted).
"""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from conftest import COVARIANCE_TYPES, JIT_DISABLED, iris, run_python
from fastem import BayesianGaussianMixture, GaussianMixture, _linalg
from fastem._config import PARTITION_ROWS
from fastem.exceptions import ConvergenceWarning
from fastem._base import reporting_iterations
from fastem.semi_supervised import SemiSupervisedGaussianMixture

em_loop = pytest.importorskip("fastem._kernels.em_loop")

FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


@pytest.fixture
def loop_calls(monkeypatch):
    """The number of em_loop.run calls made so far (a one-element list)."""
    calls = [0]
    real_run = em_loop.run

    def counted(*args, **kwargs):
        calls[0] += 1
        return real_run(*args, **kwargs)

    monkeypatch.setattr(em_loop, "run", counted)
    return calls


def python_loop_fit(model, *args, **kwargs):
    """Fit through the Python loop, recording (n_iter, lower_bound) per iteration."""
    seen = []
    with reporting_iterations(lambda n_iter, bound, change, seconds: seen.append((n_iter, bound))):
        model.fit(*args, **kwargs)
    return seen


def outcome(make, *args, **kwargs):
    """('ok', fitted model) or ('error', message) of make().fit(*args, **kwargs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            return "ok", make().fit(*args, **kwargs)
        except ValueError as exc:
            return "error", str(exc)


def python_outcome(make, *args, **kwargs):
    with reporting_iterations(lambda *report: None):
        return outcome(make, *args, **kwargs)


def assert_same_fit(compiled, reference):
    assert compiled.n_iter_ == reference.n_iter_
    assert compiled.converged_ == reference.converged_
    assert [b.tobytes() for b in np.asarray(compiled.lower_bounds_)] == \
        [b.tobytes() for b in np.asarray(reference.lower_bounds_)]
    assert compiled.lower_bound_.tobytes() == reference.lower_bound_.tobytes()
    for name in FITTED:
        a, b = getattr(compiled, name), getattr(reference, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), name


def assert_same_outcome(make, loop_calls, *args, **kwargs):
    before = loop_calls[0]
    compiled = outcome(make, *args, **kwargs)
    assert loop_calls[0] > before, "the compiled loop was not used"
    used = loop_calls[0]
    reference = python_outcome(make, *args, **kwargs)
    assert loop_calls[0] == used, "the reference fit used the compiled loop"
    assert compiled[0] == reference[0], (compiled, reference)
    if compiled[0] == "error":
        assert compiled[1] == reference[1]
    else:
        assert_same_fit(compiled[1], reference[1])
    return compiled


def mixture_data(seed, n=300, n_features=3, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (3, n_features))
    X = centres[rng.integers(0, 3, n)] + rng.normal(size=(n, n_features))
    return X.astype(dtype)


# ------------------------------------------------------------ same bits as Python
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_gaussian_mixture_same_bits(covariance_type, dtype, weighted, loop_calls):
    X = mixture_data(0, dtype=dtype)
    sample_weight = (np.random.default_rng(1).integers(0, 4, X.shape[0]).astype(float)
                     if weighted else None)
    status, model = assert_same_outcome(
        lambda: GaussianMixture(3, covariance_type=covariance_type, random_state=0, tol=1e-6),
        loop_calls, X, sample_weight=sample_weight)
    assert status == "ok" and model.n_iter_ > 2


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_semi_supervised_clamped_same_bits(covariance_type, dtype, weighted, loop_calls):
    X = mixture_data(2, dtype=dtype)
    rng = np.random.default_rng(3)
    y = np.full(X.shape[0], -1)
    y[:60] = np.repeat([0, 1, 2], 20)
    sample_weight = rng.uniform(0.5, 2.0, X.shape[0]) if weighted else None
    status, model = assert_same_outcome(
        lambda: SemiSupervisedGaussianMixture(covariance_type=covariance_type, mode="clamp",
                                              n_components_per_class=2, unlabeled_weight=0.5,
                                              tol=1e-6, random_state=0),
        loop_calls, X, y, sample_weight=sample_weight)
    assert status == "ok" and model.n_iter_ > 2


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_iris_starts_and_warm_start_same_bits(covariance_type, loop_calls):
    X, k = iris()
    for init_params in ("kmeans", "k-means++", "random", "random_from_data"):
        assert_same_outcome(
            lambda: GaussianMixture(k, covariance_type=covariance_type, n_init=3,
                                    init_params=init_params, random_state=1),
            loop_calls, X)
    # warm start: the compiled loop starts from the previous bound (not -inf)
    compiled = GaussianMixture(k, covariance_type=covariance_type, warm_start=True,
                               max_iter=3, random_state=0)
    reference = GaussianMixture(k, covariance_type=covariance_type, warm_start=True,
                                max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(3):
            compiled.fit(X)
            python_loop_fit(reference, X)
            assert_same_fit(compiled, reference)


def test_max_iter_zero_and_one(loop_calls):
    X, k = iris()
    for max_iter in (0, 1):
        assert_same_outcome(lambda: GaussianMixture(k, max_iter=max_iter, random_state=0),
                            loop_calls, X)


# ------------------------------------------------------------ hand-back and errors
def collapsing_start(n_features=2):
    """Two clusters, 4 identical rows far away, and a start whose component 2 is very
    wide around those rows: iteration 1 gives it the 4 rows and a share of the others
    (a covariance of about 37), iteration 2 the 4 rows alone: an M-step that fails."""
    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(0, 1, (60, n_features)), rng.normal(100, 1, (60, n_features)),
                   np.full((4, n_features), 200.0)])
    means = np.array([[0.0] * n_features, [100.0] * n_features, [200.0] * n_features])
    scale = np.array([1.0, 1.0, 1e-4])
    precisions = {"full": np.eye(n_features) * scale[:, None, None],
                  "diag": np.ones((3, n_features)) * scale[:, None],
                  "spherical": scale}
    return X, means, precisions


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_singular_covariance_same_error(covariance_type, loop_calls):
    X, means, precisions = collapsing_start()
    # errstate: under NUMBA_DISABLE_JIT the M-step's 1/sqrt(0) is NumPy's and warns
    with np.errstate(divide="ignore"):
        status, message = assert_same_outcome(
            lambda: GaussianMixture(3, covariance_type=covariance_type, reg_covar=0.0,
                                    weights_init=np.full(3, 1 / 3), means_init=means,
                                    precisions_init=precisions[covariance_type]),
            loop_calls, X)
    assert status == "error" and "component(s) 2" in message


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_run_hands_back_before_the_failing_iteration(covariance_type):
    """run stops before the iteration whose M-step fails (the second), with the bound and
    the parameters of the Python loop's first iteration."""
    X, means, precisions = collapsing_start()

    def make(max_iter):
        return GaussianMixture(3, covariance_type=covariance_type, reg_covar=0.0,
                               max_iter=max_iter, weights_init=np.full(3, 1 / 3),
                               means_init=means, precisions_init=precisions[covariance_type])

    seen = []
    with np.errstate(divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(ValueError, match="ill-defined"):
            with reporting_iterations(lambda n, bound, change, s: seen.append(bound)):
                make(100).fit(X)
        first = make(1)
        python_loop_fit(first, X)
        status, bounds, *params = em_loop.run(
            covariance_type, X, np.empty(0), np.empty(0, dtype=np.int64), np.arange(3),
            np.full(3, 1 / 3), means,
            _linalg.precision_cholesky_from_precisions(precisions[covariance_type],
                                                       covariance_type),
            0.0, first.tol, 100, float(X.shape[0]), -np.inf)
    assert status == em_loop.HANDED_BACK
    assert len(seen) == 1 and bounds == seen
    for name, value in zip(("weights_", "means_", "covariances_", "precisions_cholesky_"),
                           params):
        assert value.tobytes() == getattr(first, name).tobytes(), name


def test_non_finite_bound_same_error(loop_calls):
    X = mixture_data(4, n_features=2)
    with np.errstate(all="ignore"):
        status, message = assert_same_outcome(
            lambda: GaussianMixture(2, random_state=0, means_init=np.full((2, 2), 1e300)),
            loop_calls, X)
    assert status == "error" and "overflow" in message


# ------------------------------------------------------------ when it is used
def test_used_only_for_plain_small_in_memory_fits(loop_calls, tmp_path, capsys):
    X = mixture_data(6)
    GaussianMixture(2, random_state=0).fit(X)
    assert loop_calls[0] == 1
    GaussianMixture(2, random_state=0, verbose=2).fit(X)
    capsys.readouterr()
    python_loop_fit(GaussianMixture(2, random_state=0), X)
    path = tmp_path / "X.npy"
    np.save(path, X)
    GaussianMixture(2, random_state=0).fit(np.load(path, mmap_mode="r"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        big = mixture_data(7, n=PARTITION_ROWS + 1, n_features=2)
        GaussianMixture(2, random_state=0, max_iter=2, tol=0).fit(big)
        BayesianGaussianMixture(n_components=2, random_state=0, max_iter=5).fit(X)
    assert loop_calls[0] == 1


# ------------------------------------------------------------ the disk cache
CACHED_FIT = """
import json, warnings
import numpy as np
import fastem
from fastem._kernels import em_loop
rng = np.random.default_rng(0)
X = np.vstack([rng.normal(0, 1, (100, 3)), rng.normal(4, 1, (100, 3))])
gm = fastem.GaussianMixture(2, covariance_type='diag', random_state=0).fit(X)
stats = em_loop.diag.stats
print(json.dumps(dict(hits=sum(stats.cache_hits.values()),
                      misses=sum(stats.cache_misses.values()),
                      bits=[gm.means_.tobytes().hex(), gm.precisions_cholesky_.tobytes().hex(),
                            np.float64(gm.lower_bound_).tobytes().hex()])))
"""


@pytest.mark.skipif(JIT_DISABLED, reason="nothing is compiled or cached without the JIT")
def test_loop_is_cached_and_cache_gives_the_compiled_bits(tmp_path):
    """The per-type loops compile the shared iterations with their kernel (an inlined
    body, not functions passed as arguments, which numba silently never caches): a
    second fresh process loads the loop from the disk cache, with the same bits."""
    import json
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    fresh = json.loads(run_python(CACHED_FIT, env=env))
    cached = json.loads(run_python(CACHED_FIT, env=env))
    assert (fresh["hits"], fresh["misses"]) == (0, 1)
    assert (cached["hits"], cached["misses"]) == (1, 0)
    assert cached["bits"] == fresh["bits"]


# ------------------------------------------------------------ the driver's arithmetic
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_norm_and_shift_match_numpy(covariance_type):
    """The compiled log_norm / shift (the driver's own) against NumPy formulas."""
    rng = np.random.default_rng(8)
    k, d = 4, 5
    weights = rng.dirichlet(np.ones(k))
    weights[1] = 0.0  # an empty component: log weight -inf
    means = rng.normal(size=(k, d)) * 100
    prec_chol = {"full": np.triu(rng.uniform(0.5, 2, (k, d, d))),
                 "tied": np.triu(rng.uniform(0.5, 2, (d, d))),
                 "diag": rng.uniform(0.5, 2, (k, d)),
                 "spherical": rng.uniform(0.5, 2, k)}[covariance_type]
    if covariance_type in ("full", "tied"):
        log_det = np.log(np.diagonal(prec_chol, axis1=-2, axis2=-1)).sum(axis=-1)
    elif covariance_type == "diag":
        log_det = np.log(prec_chol).sum(axis=1)
    else:
        log_det = d * np.log(prec_chol)
    with np.errstate(divide="ignore"):
        expected = np.log(weights) + log_det - 0.5 * d * np.log(2 * np.pi)
    got = em_loop.log_norm(covariance_type, weights, means, prec_chol)
    assert got[1] == -np.inf
    assert_allclose(got, expected, rtol=1e-14, atol=0)
    assert_allclose(em_loop.weighted_centre(weights, means), weights / weights.sum() @ means,
                    rtol=1e-13, atol=1e-12)


# ------------------------------------------------------------ property test
hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@hypothesis.given(seed=st.integers(0, 2**31 - 1), n_rows=st.integers(2, 120),
                  n_features=st.integers(1, 5), n_components=st.integers(1, 4),
                  covariance_type=st.sampled_from(COVARIANCE_TYPES),
                  dtype=st.sampled_from([np.float64, np.float32]),
                  weighted=st.booleans(), max_iter=st.integers(1, 30),
                  tol=st.sampled_from([0.0, 1e-6, 1e-3, 1.0]), reg_covar=st.sampled_from([0.0, 1e-6]))
@hypothesis.settings(max_examples=40)
def test_random_small_inputs_same_outcome(seed, n_rows, n_features, n_components,
                                          covariance_type, dtype, weighted, max_iter, tol,
                                          reg_covar):
    hypothesis.assume(n_rows >= n_components)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, n_features)) * rng.uniform(0.1, 10)
    X[rng.integers(0, n_rows, n_rows // 3)] = X[0]  # repeated rows: degenerate components
    X = X.astype(dtype)
    sample_weight = rng.integers(0, 3, n_rows).astype(float) if weighted else None
    hypothesis.assume(sample_weight is None or np.count_nonzero(sample_weight) >= n_components)
    calls = [0]
    real_run = em_loop.run

    def counted(*args, **kwargs):
        calls[0] += 1
        return real_run(*args, **kwargs)

    em_loop.run = counted  # hypothesis runs the body many times: no monkeypatch fixture
    try:
        make = lambda: GaussianMixture(n_components, covariance_type=covariance_type,  # noqa
                                       max_iter=max_iter, tol=tol, reg_covar=reg_covar,
                                       random_state=seed)
        compiled = outcome(make, X, sample_weight=sample_weight)
        reference = python_outcome(make, X, sample_weight=sample_weight)
    finally:
        em_loop.run = real_run
    assert compiled[0] == reference[0], (compiled, reference)
    if compiled[0] == "error":
        assert compiled[1] == reference[1]
    else:
        assert calls[0] == 1
        assert_same_fit(compiled[1], reference[1])
