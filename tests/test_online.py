"""Stepwise (online) EM: MiniBatchGaussianMixture.fit over shuffled batches and partial_fit.

The running statistics are checked against a NumPy oracle written from the
stepwise-EM equations with dense responsibilities and raw (uncentred)
moments; one update with eta = 1 on all of X against one GaussianMixture
iteration; memmap, dask and ndarray input against each other; the fitted
model against the full-batch EM optimum.
"""
import json
import warnings

import numpy as np
import pytest

import fastem
from conftest import COVARIANCE_TYPES, JIT_DISABLED, quiet_convergence, run_python
from fastem import GaussianMixture, MiniBatchGaussianMixture
from fastem.online import recentred, statistics_of_parameters

FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")


def _mixture_rows(n, d=3, k=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(k, d))
    scales = rng.uniform(0.5, 1.5, size=(k, d))
    labels = rng.integers(0, k, n)
    return (centres[labels] + rng.normal(size=(n, d)) * scales[labels]).astype(dtype)


def _start(X, k, covariance_type, seed=1):
    """A hand-made start (random rows as means, the overall variance as covariances)."""
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    precision = 1.0 / np.asarray(X, dtype=np.float64).var(axis=0).mean()
    precisions = {"full": np.array([precision * np.eye(d)] * k),
                  "tied": precision * np.eye(d),
                  "diag": np.full((k, d), precision),
                  "spherical": np.full(k, precision)}[covariance_type]
    return dict(weights_init=np.full(k, 1.0 / k),
                means_init=np.asarray(X[rng.choice(X.shape[0], k, replace=False)],
                                      dtype=np.float64),
                precisions_init=precisions)


def _assert_bitwise_equal(a, b, names=FITTED):
    for name in names:
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name
    assert a.lower_bounds_ == b.lower_bounds_


# ------------------------------------------------------------ NumPy oracle
def _covariances(start, covariance_type):
    p = np.asarray(start["precisions_init"], dtype=np.float64)
    return np.linalg.inv(p) if covariance_type in ("full", "tied") else 1.0 / p


def _dense_log_prob(X, weights, means, covariances, covariance_type):
    """log(weight_k) + log N(x | mean_k, cov_k) for every row and component (dense)."""
    n, d = X.shape
    k = means.shape[0]
    out = np.empty((n, k))
    for j in range(k):
        cov = {"full": lambda: covariances[j], "tied": lambda: covariances,
               "diag": lambda: np.diag(covariances[j]),
               "spherical": lambda: covariances[j] * np.eye(d)}[covariance_type]()
        diff = X - means[j]
        _, log_det = np.linalg.slogdet(cov)
        maha = np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff)
        out[:, j] = np.log(weights[j]) - 0.5 * (d * np.log(2 * np.pi) + log_det + maha)
    return out


def _oracle_batch_moments(X, w, weights, means, covariances, covariance_type):
    """Raw moments (n_k, sum w r x, sum w r x x^T) per unit weight, and mean log-lik."""
    lp = _dense_log_prob(X, weights, means, covariances, covariance_type)
    top = lp.max(axis=1, keepdims=True)
    log_density = top[:, 0] + np.log(np.exp(lp - top).sum(axis=1))
    resp = np.exp(lp - log_density[:, None]) * w[:, None]
    total = w.sum()
    return (resp.sum(axis=0) / total, resp.T @ X / total,
            np.einsum("nk,ni,nj->kij", resp, X, X) / total, (w * log_density).sum() / total)


def _oracle_m_step(n, m1, m2, covariance_type, reg_covar):
    means = m1 / n[:, None]
    d = means.shape[1]
    full = m2 / n[:, None, None] - means[:, :, None] * means[:, None, :]
    if covariance_type == "full":
        cov = full + reg_covar * np.eye(d)
    elif covariance_type == "tied":
        cov = (m2.sum(axis=0) - np.einsum("k,ki,kj->ij", n, means, means)) / n.sum()
        cov = cov + reg_covar * np.eye(d)
    elif covariance_type == "diag":
        cov = np.diagonal(full, axis1=1, axis2=2) + reg_covar
    else:
        cov = np.diagonal(full, axis1=1, axis2=2).mean(axis=1) + reg_covar
    return n / n.sum(), means, cov


def _model_raw_moments(model):
    """The model's running statistics (centred, in units of the first batch) as raw
    moments per unit weight, for comparison with the oracle."""
    state = model._online_state
    s, c = state.running, state.centre
    ct = model.covariance_type
    k, d = s.s1.shape
    nk = s.nk / state.scale
    s1 = s.s1 / state.scale
    if ct == "tied":
        m1 = s1 + nk[:, None] * c[None, :]
        return nk, m1, None
    m1 = s1 + nk[:, None] * c
    if ct == "full":
        s2 = s.s2 / state.scale
        m2 = (s2 + s1[:, :, None] * c[:, None, :] + c[:, :, None] * s1[:, None, :]
              + nk[:, None, None] * c[:, :, None] * c[:, None, :])
        return nk, m1, m2
    return nk, m1, None


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_running_statistics_equal_numpy_oracle(covariance_type):
    rng = np.random.default_rng(3)
    X = _mixture_rows(1200, d=3, k=3, seed=2)
    batches = np.array_split(X, 5)
    weights = [rng.uniform(0.2, 2.0, b.shape[0]) if i % 2 else None
               for i, b in enumerate(batches)]
    start = _start(X, 3, covariance_type)
    t0, kappa, reg = 2.0, 0.6, 1e-6
    model = MiniBatchGaussianMixture(3, covariance_type=covariance_type, reg_covar=reg,
                                     learning_offset=t0, learning_decay=kappa, **start)
    params = (np.asarray(start["weights_init"]), start["means_init"],
              _covariances(start, covariance_type))
    running = None
    for t, (batch, w) in enumerate(zip(batches, weights)):
        model.partial_fit(batch, sample_weight=w)
        ww = np.ones(batch.shape[0]) if w is None else w
        n, m1, m2, ll = _oracle_batch_moments(batch, ww, *params, covariance_type)
        eta = 1.0 if t == 0 else (t + t0) ** -kappa
        new = (n, m1, m2, ll)
        running = new if running is None else tuple(
            (1 - eta) * a + eta * b for a, b in zip(running, new))
        params = _oracle_m_step(*running[:3], covariance_type, reg)

        nk, model_m1, model_m2 = _model_raw_moments(model)
        np.testing.assert_allclose(nk, running[0], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(model_m1, running[1], rtol=1e-10, atol=1e-10)
        if model_m2 is not None:
            np.testing.assert_allclose(model_m2, running[2], rtol=1e-10, atol=1e-10)
        assert model.lower_bound_ == pytest.approx(running[3], rel=1e-10)
        for name, value in zip(("weights_", "means_", "covariances_"), params):
            np.testing.assert_allclose(getattr(model, name), value, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name} after batch {t}")
    assert model.n_steps_ == len(batches)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_fit_pass_with_tail_averaging_equals_numpy_oracle(covariance_type):
    """One pass of fit over 4 batches: stepwise updates, then the parameters of the
    average of the running statistics after updates 3 and 4 (the second half)."""
    from fastem._chunks import chunk_rows_for
    from fastem.online import batch_indices
    X = _mixture_rows(2000, d=3, k=3, seed=21)
    w = np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0])
    start = _start(X, 3, covariance_type)
    t0, kappa, reg = 1.0, 0.75, 1e-6
    model = MiniBatchGaussianMixture(3, covariance_type=covariance_type, batch_size=500,
                                     max_passes=1, learning_offset=t0, learning_decay=kappa,
                                     random_state=4, **start).fit(X, sample_weight=w)
    # The batch order: the given start draws nothing, so the pass's draws come first.
    block_rows = chunk_rows_for(X) // 500 * 500
    order = list(batch_indices(2000, 500, block_rows, np.random.RandomState(4)))
    assert len(order) == 4 and np.array_equal(np.sort(np.concatenate(order)), np.arange(2000))
    params = (start["weights_init"], start["means_init"], _covariances(start, covariance_type))
    running, tail, pass_log_lik = None, [], 0.0
    for t, rows in enumerate(order):
        new = _oracle_batch_moments(X[rows], w[rows], *params, covariance_type)
        pass_log_lik += new[3] * w[rows].sum()
        new = tuple(v * w.sum() for v in new[:3]) + (new[3],)  # fit's unit: all of X
        eta = 1.0 if t == 0 else (t + t0) ** -kappa
        running = new if running is None else tuple(
            (1 - eta) * a + eta * b for a, b in zip(running, new))
        params = _oracle_m_step(*running[:3], covariance_type, reg)
        if t >= 2:
            tail.append(running)
    average = tuple((a + b) / 2 for a, b in zip(*tail))
    weights, means, covariances = _oracle_m_step(*average[:3], covariance_type, reg)
    np.testing.assert_allclose(model.weights_, weights, rtol=1e-10)
    np.testing.assert_allclose(model.means_, means, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.covariances_, covariances, rtol=1e-9, atol=1e-12)
    assert model.lower_bounds_ == [pytest.approx(pass_log_lik / w.sum(), rel=1e-12)]
    assert model.n_steps_ == 4


def test_float32_batches_follow_the_oracle():
    X = _mixture_rows(900, d=4, k=2, seed=5, dtype=np.float32)
    start = _start(X, 2, "full")
    model = MiniBatchGaussianMixture(2, learning_offset=1.0, learning_decay=0.8, **start)
    X64 = X.astype(np.float64)
    params = (start["weights_init"], start["means_init"], _covariances(start, "full"))
    running = None
    for t, rows in enumerate(np.array_split(np.arange(900), 3)):
        model.partial_fit(X[rows])
        new = _oracle_batch_moments(X64[rows], np.ones(rows.shape[0]), *params, "full")
        eta = 1.0 if t == 0 else (t + 1.0) ** -0.8
        running = new if running is None else tuple(
            (1 - eta) * a + eta * b for a, b in zip(running, new))
        params = _oracle_m_step(*running[:3], "full", 1e-6)
    np.testing.assert_allclose(model.means_, params[1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.covariances_, params[2], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_recentring_is_exact(covariance_type):
    """Statistics moved to another centre equal the statistics taken about it."""
    from fastem._stats import Stats
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) + 7.0
    resp = rng.dirichlet(np.ones(2), size=50)
    old = rng.normal(size=(2, 3)) + 7.0
    new = rng.normal(size=(2, 3)) + 7.0
    if covariance_type == "tied":
        old, new = old[0], new[0]

    def about(centre):
        s = Stats(covariance_type, 2, 3)
        s.nk = resp.sum(axis=0)
        for j in range(2):
            c = centre if covariance_type == "tied" else centre[j]
            xc = X - c
            s.s1[j] = resp[:, j] @ xc
            if covariance_type == "full":
                s.s2[j] = (xc * resp[:, j, None]).T @ xc
            elif covariance_type == "diag":
                s.s2[j] = resp[:, j] @ (xc * xc)
            elif covariance_type == "spherical":
                s.s2[j] = resp[:, j] @ (xc * xc).sum(axis=1)
        if covariance_type == "tied":
            s.s2 = (X - centre).T @ (X - centre)
        return s

    moved = recentred(about(old), old, new, covariance_type)
    direct = about(new)
    for name in ("nk", "s1", "s2"):
        np.testing.assert_allclose(getattr(moved, name), getattr(direct, name),
                                   rtol=1e-12, atol=1e-11)


# ---------------------------------------------- eta = 1 on all of X = one EM step
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_one_whole_data_step_is_one_em_iteration(covariance_type, dtype):
    X = _mixture_rows(5000, d=3, k=3, seed=1, dtype=dtype)
    w = np.random.default_rng(0).uniform(0.5, 1.5, X.shape[0])
    with quiet_convergence():
        batch = GaussianMixture(3, covariance_type=covariance_type, max_iter=1,
                                random_state=0).fit(X, sample_weight=w)
    online = MiniBatchGaussianMixture(3, covariance_type=covariance_type, batch_size=5000,
                                      max_passes=1, random_state=0).fit(X, sample_weight=w)
    _assert_bitwise_equal(online, batch)
    assert online.n_steps_ == 1

    # partial_fit from the same given start: its first call is that iteration too.
    start = _start(X, 3, covariance_type)
    with quiet_convergence():
        batch = GaussianMixture(3, covariance_type=covariance_type, max_iter=1,
                                **start).fit(X)
    stream = MiniBatchGaussianMixture(3, covariance_type=covariance_type, **start)
    stream.partial_fit(X)
    _assert_bitwise_equal(stream, batch)


# ------------------------------------------------------------- bad batches
def _state(model):
    state = {name: getattr(model, name) for name in vars(model)}
    return {name: (value.tobytes() if isinstance(value, np.ndarray) else
                   list(value) if isinstance(value, list) else value)
            for name, value in state.items()}


@pytest.mark.parametrize("fitted", [False, True])
def test_bad_batches_raise_and_leave_the_model_unchanged(fitted):
    X = _mixture_rows(600, d=3, k=3, seed=4)
    model = MiniBatchGaussianMixture(3, random_state=0)
    if fitted:
        model.partial_fit(X[:300])
    before = _state(model)
    nan_rows = X[:50].copy()
    nan_rows[7, 1] = np.nan
    inf_rows = X[:50].copy()
    inf_rows[3, 0] = np.inf
    bad = [(nan_rows, None, "NaN"), (inf_rows, None, "infinity"),
           (X[:50], -np.ones(50), "Negative"), (X[:50], np.zeros(50), "non-zero"),
           (X[:50], np.ones(49), "sample_weight.shape"),
           (np.empty((0, 3)), None, "0 sample")]
    if fitted:
        bad.append((X[:50, :2], None, "2 features, but MiniBatchGaussianMixture is "
                                      "expecting 3"))
    else:
        bad.append((X[:2], None, "n_samples >= n_components"))
    for rows, w, message in bad:
        with pytest.raises(ValueError, match=message):
            model.partial_fit(rows, sample_weight=w)
        assert _state(model) == before, message
    # A batch with the wrong width after a successful one is refused too.
    if not fitted:
        assert not hasattr(model, "means_")


def test_partial_fit_rejects_bad_parameters_before_touching_the_model():
    X = _mixture_rows(300, seed=4)
    for params, message in [({"batch_size": 0}, "batch_size"),
                            ({"learning_decay": 0.5}, "learning_decay"),
                            ({"learning_decay": 1.2}, "learning_decay"),
                            ({"learning_offset": -1.0}, "learning_offset"),
                            ({"max_passes": 0}, "max_passes"),
                            ({"refine": "yes"}, "refine")]:
        model = MiniBatchGaussianMixture(3, **params)
        with pytest.raises(ValueError, match=message):
            model.partial_fit(X)
        assert not hasattr(model, "means_")
        with pytest.raises(ValueError, match=message):
            model.fit(X)


def test_fit_names_the_first_nan_row_of_a_memmap(tmp_path):
    X = _mixture_rows(3000, seed=6)
    X[2100, 2] = np.nan
    np.save(tmp_path / "x.npy", X)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    model = MiniBatchGaussianMixture(3, batch_size=256, init_max_samples=500,
                                     random_state=0)
    with pytest.raises(ValueError, match="row 2100"):
        model.fit(mapped)
    assert not hasattr(model, "means_")


# ----------------------------------------------------- same data, same bits
def test_same_random_state_same_bits_and_batch_order_matters():
    X = _mixture_rows(20000, seed=7)
    a = MiniBatchGaussianMixture(3, batch_size=1000, random_state=5).fit(X)
    b = MiniBatchGaussianMixture(3, batch_size=1000, random_state=5).fit(X)
    _assert_bitwise_equal(a, b)
    c = MiniBatchGaussianMixture(3, batch_size=1000, random_state=6).fit(X)
    assert a.means_.tobytes() != c.means_.tobytes()


DIGEST = r"""
import hashlib, json
import numpy as np
import numba
import fastem
rng = np.random.default_rng(0)
X = rng.normal(size=(6000, 3)) + rng.normal(scale=4, size=(3, 3))[rng.integers(0, 3, 6000)]
out = {"threads": numba.get_num_threads()}
for ct in ("full", "tied", "diag", "spherical"):
    gm = fastem.MiniBatchGaussianMixture(3, covariance_type=ct, batch_size=200,
                                         max_passes=2, random_state=0).fit(X)
    h = hashlib.sha256()
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        h.update(getattr(gm, name).tobytes())
    h.update(np.asarray(gm.lower_bounds_).tobytes())
    out[ct] = h.hexdigest()
print(json.dumps(out))
"""


@pytest.mark.skipif(JIT_DISABLED, reason="needs compiled (threaded) kernels")
def test_bitwise_identical_for_any_thread_count():
    # 16-row partitions: every 200-row batch runs the partitioned (threaded) kernel.
    digests = []
    for threads in ("1", "2"):
        out = json.loads(run_python(DIGEST, env={
            "NUMBA_NUM_THREADS": threads, "FASTEM_PARTITION_ROWS": "16"}).splitlines()[-1])
        assert out.pop("threads") == int(threads)
        digests.append(out)
    assert digests[0] == digests[1]


def test_memmap_fit_equals_in_memory_fit(tmp_path, covariance_type):
    X = _mixture_rows(9000, d=3, seed=8, dtype=np.float32)
    w = np.random.default_rng(1).uniform(0.0, 2.0, X.shape[0])
    np.save(tmp_path / "x.npy", X)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    # 4096-row blocks: three blocks, visited in a shuffled order.
    kwargs = dict(covariance_type=covariance_type, batch_size=512, chunk_size=4096,
                  init_max_samples=2000, random_state=3)
    a = MiniBatchGaussianMixture(3, **kwargs).fit(X, sample_weight=w)
    b = MiniBatchGaussianMixture(3, **kwargs).fit(mapped, sample_weight=w)
    _assert_bitwise_equal(a, b)


def test_dask_fit_equals_in_memory_fit():
    da = pytest.importorskip("dask.array")
    import dask
    X = _mixture_rows(6000, d=3, seed=9)
    kwargs = dict(batch_size=500, chunk_size=4096, random_state=2)
    a = MiniBatchGaussianMixture(3, **kwargs).fit(X)
    with dask.config.set(scheduler="synchronous"):
        b = MiniBatchGaussianMixture(3, **kwargs).fit(da.from_array(X, chunks=(1000, 3)))
    _assert_bitwise_equal(a, b)
    with dask.config.set(scheduler="synchronous"):
        c = MiniBatchGaussianMixture(3, refine=True, tol=1e-6, **kwargs).fit(
            da.from_array(X, chunks=(1000, 3)))
    assert c.converged_ and c.n_refine_iter_ >= 1


# -------------------------------------------------------------- quality
def _batch_optimum(X, covariance_type):
    """Full-batch EM to convergence, from the k-means start the online fits share
    (same random_state, all rows within init_max_samples)."""
    return GaussianMixture(3, covariance_type=covariance_type, tol=1e-10, max_iter=1000,
                           random_state=0).fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_few_passes_reach_the_batch_optimum_and_refine_lands_on_it(covariance_type):
    X = _mixture_rows(40000, d=3, k=3, seed=10)
    best = _batch_optimum(X, covariance_type)
    online = MiniBatchGaussianMixture(3, covariance_type=covariance_type, batch_size=500,
                                      max_passes=3, random_state=0).fit(X)
    assert online.n_iter_ <= 3 and len(online.lower_bounds_) == online.n_iter_
    assert online.score(X) > best.score(X) - 1e-3
    # The per-pass prequential estimate tracks the true mean log-likelihood.
    assert abs(online.lower_bound_ - online.score(X)) < 5e-3

    refined = MiniBatchGaussianMixture(3, covariance_type=covariance_type, batch_size=500,
                                       max_passes=2, refine=True, tol=1e-10, max_iter=1000,
                                       random_state=0).fit(X)
    assert refined.converged_
    assert refined.lower_bound_ == pytest.approx(best.lower_bound_, rel=1e-8)
    assert refined.lower_bounds_[:2] == refined.lower_bounds_[:refined.n_iter_]
    assert len(refined.lower_bounds_) == refined.n_iter_ + refined.n_refine_iter_


def test_partial_fit_over_a_stream_matches_fit():
    X = _mixture_rows(40000, d=3, k=3, seed=11)
    fitted = MiniBatchGaussianMixture(3, batch_size=500, max_passes=2, random_state=0).fit(X)
    order = np.random.default_rng(0).permutation(X.shape[0])

    def stream():
        for rows in np.array_split(order, 160):
            yield X[rows]

    streamed = MiniBatchGaussianMixture(3, random_state=0)  # k-means on the first batch
    for batch in stream():
        streamed.partial_fit(batch)
    assert streamed.n_steps_ == 160 and len(streamed.lower_bounds_) == 160
    assert abs(streamed.score(X) - fitted.score(X)) < 2e-3
    assert abs(streamed.lower_bound_ - streamed.score(X)) < 1e-2


# ---------------------------------------------------------- the model API
def test_predict_family_save_load_and_continue_streaming(tmp_path):
    X = _mixture_rows(8000, d=3, seed=13)
    model = MiniBatchGaussianMixture(3, batch_size=1000, random_state=0).fit(X)
    assert model.predict(X).shape == (8000,)
    assert model.predict_proba(X[:5]).sum(axis=1) == pytest.approx(np.ones(5))
    assert np.isfinite(model.bic(X)) and np.isfinite(model.aic(X))
    assert model.sample(10)[0].shape == (10, 3)
    np.testing.assert_array_equal(model.fit_predict(X), model.predict(X))

    model.save(tmp_path / "m.npz")
    loaded = fastem.load(tmp_path / "m.npz")
    assert type(loaded) is MiniBatchGaussianMixture
    assert loaded.get_params()["batch_size"] == 1000 and loaded.n_steps_ == model.n_steps_
    np.testing.assert_array_equal(loaded.score_samples(X), model.score_samples(X))

    # A loaded model has no running statistics: statistics rebuilt from its
    # parameters (which the M-step maps back to them) stand in.
    params = loaded._current_parameters()
    rebuilt = statistics_of_parameters(params, 1000.0, loaded.reg_covar)
    new = loaded._parameters_from_stats(rebuilt, params, np.float64)
    np.testing.assert_allclose(new.means, params.means, rtol=0, atol=1e-12)
    np.testing.assert_allclose(new.covariances, params.covariances, rtol=1e-12)
    np.testing.assert_allclose(new.weights, params.weights, rtol=1e-12)
    loaded.partial_fit(X[:1000])
    model.partial_fit(X[:1000])
    assert loaded.n_steps_ == model.n_steps_
    np.testing.assert_allclose(loaded.means_, model.means_, rtol=0, atol=1e-3)


@pytest.mark.parametrize("covariance_type", ["tied", "spherical"])
def test_rebuilt_statistics_map_back_to_the_parameters(covariance_type):
    X = _mixture_rows(3000, d=3, seed=14)
    model = MiniBatchGaussianMixture(3, covariance_type=covariance_type, batch_size=500,
                                     random_state=0).fit(X)
    params = model._current_parameters()
    new = model._parameters_from_stats(
        statistics_of_parameters(params, 3000.0, model.reg_covar), params, np.float64)
    np.testing.assert_allclose(new.means, params.means, rtol=0, atol=1e-12)
    np.testing.assert_allclose(new.covariances, params.covariances, rtol=1e-12)


def test_command_line_mini_batch(tmp_path, capsys):
    from fastem.cli import main
    X = _mixture_rows(5000, d=3, seed=15)
    np.save(tmp_path / "x.npy", X)
    status = main(["fit", str(tmp_path / "x.npy"), "-k", "3", "--mini-batch",
                   "--batch-size", "500", "--max-passes", "2", "--random-state", "0",
                   "-o", str(tmp_path / "m.npz")])
    assert status == 0
    err = capsys.readouterr().err
    assert "mini-batch" in err
    assert len([line for line in err.splitlines() if line.strip()[:1] in "12"]) == 2
    model = fastem.load(tmp_path / "m.npz")
    expected = MiniBatchGaussianMixture(3, batch_size=500, max_passes=2,
                                        random_state=0).fit(X)
    assert model.means_.tobytes() == expected.means_.tobytes()
    assert main(["fit", str(tmp_path / "x.npy"), "-k", "3", "--batch-size", "500",
                 "-o", str(tmp_path / "m.npz")]) == 2  # needs --mini-batch
    assert main(["fit", str(tmp_path / "x.npy"), "--mini-batch", "--labels",
                 str(tmp_path / "x.npy"), "-o", str(tmp_path / "m.npz")]) == 2


def test_import_stays_light():
    out = run_python("import sys, fastem; fastem.MiniBatchGaussianMixture; "
                     "print(sorted(m for m in sys.modules if m.split('.')[0] in "
                     "('numba', 'scipy', 'sklearn', 'dask')))")
    assert out.strip() == "[]"


def test_warnings_are_not_raised_by_a_budgeted_fit():
    X = _mixture_rows(4000, seed=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MiniBatchGaussianMixture(3, batch_size=400, max_passes=1, random_state=0).fit(X)


def test_float32_fit_keeps_float32_attributes_as_gaussian_mixture():
    # float32 in, float32 out (scikit-learn >= 1.7), also for online EM and partial_fit
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3000, 3)).astype(np.float32)
    online = MiniBatchGaussianMixture(2, batch_size=1000, random_state=0).fit(X)
    streamed = MiniBatchGaussianMixture(2, random_state=0).partial_fit(X[:1000])
    for model in (online, streamed):
        for name in ("weights_", "means_", "covariances_", "precisions_",
                     "precisions_cholesky_"):
            assert getattr(model, name).dtype == np.float32, name


@pytest.mark.parametrize("change", ["n_features", "n_components", "covariance_type"])
def test_warm_start_and_partial_fit_refuse_a_previous_fit_of_other_shapes(change):
    # The previous fit's arrays go to compiled kernels, which do not check shapes: a
    # mismatch must be refused before (it used to end in a broadcast error or a segfault).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 3))
    for continue_by in ("warm_start", "partial_fit"):
        model = MiniBatchGaussianMixture(2, warm_start=True, batch_size=500,
                                         random_state=0).fit(X)
        before = {k: v.copy() for k, v in vars(model).items() if isinstance(v, np.ndarray)}
        X_new = rng.normal(size=(2000, 5)) if change == "n_features" else X
        if change == "n_components":
            model.set_params(n_components=3)
        elif change == "covariance_type":
            model.set_params(covariance_type="diag")
        with pytest.raises(ValueError, match="features" if change == "n_features"
                           else f"{change}.*previous fit"):
            if continue_by == "warm_start":
                model.fit(X_new)
            else:
                model.partial_fit(X_new)
        for key, value in before.items():
            np.testing.assert_array_equal(getattr(model, key), value)
