"""fastem.BayesianGaussianMixture against scikit-learn and NumPy oracles.

From identical starts ('random' and 'random_from_data' with the same seed draw
the same numbers) both implementations run the same variational updates in
float64, differing only in the order of operations: labels and iteration
counts agree exactly, lower bounds to 1e-10 relative, parameters to 1e-8.
"""
import pickle
import warnings

import numpy as np
import pytest
from scipy.special import betaln, digamma, gammaln, logsumexp
from sklearn.mixture import BayesianGaussianMixture as SklearnBayesianGaussianMixture

import fastem
from conftest import COVARIANCE_TYPES, DATASETS, quiet_convergence

LB_RTOL = 1e-10
PARAM_RTOL = 1e-8
PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
          "mean_precision_", "degrees_of_freedom_", "mean_prior_", "covariance_prior_")


def fit_both(X, **kwargs):
    with quiet_convergence():
        ours = fastem.BayesianGaussianMixture(**kwargs).fit(X)
        theirs = SklearnBayesianGaussianMixture(**kwargs).fit(X)
    return ours, theirs


def assert_close(a, b, rtol=PARAM_RTOL, name=""):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, name
    # Relative to the largest entry: off-diagonal covariances may be ~0.
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max(), err_msg=name)


def assert_same_fit(ours, theirs, X):
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    theirs_lb = float(np.squeeze(theirs.lower_bound_))  # scikit-learn's tied bound is (1,)
    assert abs(ours.lower_bound_ - theirs_lb) <= LB_RTOL * abs(theirs_lb)
    np.testing.assert_allclose(ours.lower_bounds_,
                               np.squeeze(np.array(theirs.lower_bounds_, dtype=float)),
                               rtol=LB_RTOL)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    for name in FITTED:
        assert_close(getattr(ours, name), getattr(theirs, name), name=name)
    ours_wc, theirs_wc = ours.weight_concentration_, theirs.weight_concentration_
    if isinstance(theirs_wc, tuple):
        assert isinstance(ours_wc, tuple) and len(ours_wc) == 2
        for a, b in zip(ours_wc, theirs_wc):
            assert_close(a, b, name="weight_concentration_")
    else:
        assert_close(ours_wc, theirs_wc, name="weight_concentration_")
    for name in ("weight_concentration_prior_", "mean_precision_prior_",
                 "degrees_of_freedom_prior_", "n_features_in_"):
        assert getattr(ours, name) == getattr(theirs, name), name


SAME_START_CASES = [(init, ct) for init in ("random", "random_from_data")
                    for ct in COVARIANCE_TYPES]


@pytest.mark.parametrize("init_params, covariance_type", SAME_START_CASES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_same_fit_as_sklearn(dataset, prior_type, covariance_type, init_params):
    X, k = DATASETS[dataset]()
    ours, theirs = fit_both(X, n_components=k + 1, covariance_type=covariance_type,
                            weight_concentration_prior_type=prior_type,
                            init_params=init_params, random_state=0, tol=1e-8,
                            max_iter=300)
    assert theirs.n_iter_ > 5  # a real run, not a one-step stop
    assert_same_fit(ours, theirs, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_fit_with_given_priors_and_unconverged_run(covariance_type):
    X, k = DATASETS["anisotropic"]()
    d = X.shape[1]
    cov_prior = {"full": np.array([[2.0, 0.3], [0.3, 1.0]]),
                 "tied": np.array([[2.0, 0.3], [0.3, 1.0]]),
                 "diag": np.array([2.0, 1.0]), "spherical": 1.5}[covariance_type]
    kwargs = dict(n_components=k, covariance_type=covariance_type,
                  weight_concentration_prior=0.01, mean_precision_prior=0.5,
                  mean_prior=np.full(d, 0.5), degrees_of_freedom_prior=d + 1.5,
                  covariance_prior=cov_prior, init_params="random", random_state=3)
    ours, theirs = fit_both(X, tol=1e-8, max_iter=300, **kwargs)
    assert_same_fit(ours, theirs, X)
    with pytest.warns(fastem.ConvergenceWarning):
        ours = fastem.BayesianGaussianMixture(max_iter=3, tol=0.0, **kwargs).fit(X)
    with quiet_convergence():
        theirs = SklearnBayesianGaussianMixture(max_iter=3, tol=0.0, **kwargs).fit(X)
    assert not ours.converged_ and ours.n_iter_ == 3
    assert_same_fit(ours, theirs, X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_fit_on_several_partitions(covariance_type):
    """Enough rows for the parallel kernels (several partitions)."""
    from sklearn.datasets import make_blobs
    from fastem._config import PARTITION_ROWS
    X, _ = make_blobs(n_samples=2 * PARTITION_ROWS + 777, n_features=3, centers=3,
                      cluster_std=[1.0, 2.0, 0.7], random_state=7)
    ours, theirs = fit_both(X, n_components=4, covariance_type=covariance_type,
                            init_params="random", random_state=1, tol=1e-6, max_iter=200)
    assert_same_fit(ours, theirs, X)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_float32_input_fits_like_float64_of_the_same_numbers(covariance_type):
    """float32 rows are centred in float64 and their products run in float32 (issue 8):
    the fit follows scikit-learn's float64 fit of the same numbers within float32
    rounding, handed out in float32 as scikit-learn >= 1.7 does. The tolerance is one
    float32 can resolve: the lower bound is a total (~1e3 here), so float32 rounding
    moves it by ~1e-6 from one iteration to the next."""
    X, k = DATASETS["blobs"]()
    X32 = X.astype(np.float32)
    X64 = X32.astype(np.float64)
    kwargs = dict(n_components=k, covariance_type=covariance_type,
                  init_params="random_from_data", random_state=0, tol=1e-5, max_iter=300)
    with quiet_convergence():
        ours = fastem.BayesianGaussianMixture(**kwargs).fit(X32)
        theirs = SklearnBayesianGaussianMixture(**kwargs).fit(X64)
    assert ours.converged_ and theirs.converged_
    for name in ("weights_", "means_", "covariances_", "precisions_",
                 "precisions_cholesky_", "mean_precision_", "degrees_of_freedom_"):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert a.dtype == np.float32, name
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max(), err_msg=name)
    np.testing.assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=1e-5)
    np.testing.assert_array_equal(ours.predict(X64), theirs.predict(X64))


# ------------------------------------------------------------ NumPy oracles
def oracle_log_prob(X, model):
    """Weighted log-probabilities (N, K) from Bishop's formulas (10.64-10.66, 10.77),
    written in the Wishart's own parameters: scale W_k = precision_k / nu_k."""
    n, d = X.shape
    k = model.means_.shape[0]
    nu = np.broadcast_to(np.asarray(model.degrees_of_freedom_, dtype=float), (k,))
    precisions = {"full": lambda p: p, "tied": lambda p: np.array([p] * k),
                  "diag": lambda p: np.array([np.diag(r) for r in p]),
                  "spherical": lambda p: np.array([v * np.eye(d) for v in p]),
                  }[model.covariance_type](model.precisions_)
    wc = model.weight_concentration_
    if model.weight_concentration_prior_type == "dirichlet_process":
        a, b = wc
        e_log_v, e_log_1mv = digamma(a) - digamma(a + b), digamma(b) - digamma(a + b)
        e_log_pi = e_log_v + np.concatenate([[0.0], np.cumsum(e_log_1mv)[:-1]])
    else:
        e_log_pi = digamma(wc) - digamma(wc.sum())
    out = np.empty((n, k))
    for j in range(k):
        scale = precisions[j] / nu[j]
        e_log_det = (digamma((nu[j] - np.arange(d)) / 2).sum() + d * np.log(2)
                     + np.linalg.slogdet(scale)[1])
        diff = X - model.means_[j]
        e_maha = d / model.mean_precision_[j] + nu[j] * np.einsum(
            "ni,ij,nj->n", diff, scale, diff)
        out[:, j] = e_log_pi[j] + 0.5 * e_log_det - 0.5 * d * np.log(2 * np.pi) - 0.5 * e_maha
    return out


def oracle_update(X, resp, model):
    """Bishop's variational M-step (10.58-10.63) with scikit-learn's conventions
    (covariances normalised by nu, reg_covar on the component covariances) and its
    lower bound (the constant-free form scikit-learn reports)."""
    n, d = X.shape
    k = resp.shape[1]
    ct = model.covariance_type
    a0, b0, nu0 = (model.weight_concentration_prior_, model.mean_precision_prior_,
                   model.degrees_of_freedom_prior_)
    m0, psi0 = model.mean_prior_, model.covariance_prior_
    nk = resp.sum(0) + 10 * np.finfo(float).eps
    xk = resp.T @ X / nk[:, None]
    sk = np.array([(resp[:, j, None] * (X - xk[j])).T @ (X - xk[j]) / nk[j]
                   for j in range(k)]) + model.reg_covar * np.eye(d)
    if ct == "tied":  # scikit-learn's tied estimate assumes rows' resp sum to one
        sk = (X.T @ X - (nk[:, None] * xk).T @ xk) / nk.sum() + model.reg_covar * np.eye(d)
    beta = b0 + nk
    means = (b0 * m0 + nk[:, None] * xk) / beta[:, None]
    if model.weight_concentration_prior_type == "dirichlet_process":
        wc = (1 + nk, a0 + np.array([nk[j + 1:].sum() for j in range(k)]))
    else:
        wc = a0 + nk
    diff = xk - m0
    if ct == "full":
        nu = nu0 + nk
        cov = np.array([psi0 + nk[j] * sk[j] + nk[j] * b0 / beta[j] * np.outer(diff[j], diff[j])
                        for j in range(k)]) / nu[:, None, None]
        logdet_u = np.array([-0.5 * np.linalg.slogdet(c)[1] for c in cov])
    elif ct == "tied":
        nu = nu0 + nk.sum() / k
        cov = (psi0 + sk * nk.sum() / k
               + b0 / k * sum(nk[j] / beta[j] * np.outer(diff[j], diff[j])
                              for j in range(k))) / nu
        logdet_u = -0.5 * np.linalg.slogdet(cov)[1]
    elif ct == "diag":
        nu = nu0 + nk
        cov = (psi0 + nk[:, None] * (np.diagonal(sk, axis1=1, axis2=2)
                                      + (b0 / beta)[:, None] * diff ** 2)) / nu[:, None]
        logdet_u = -0.5 * np.log(cov).sum(1)
    else:
        nu = nu0 + nk
        cov = (psi0 + nk * (np.trace(sk, axis1=1, axis2=2) / d
                            + b0 / beta * (diff ** 2).mean(1))) / nu
        logdet_u = -0.5 * d * np.log(cov)
    log_det_prec_chol = logdet_u - 0.5 * d * np.log(nu)
    nu_rows = np.atleast_1d(nu)
    log_wishart = -(nu * log_det_prec_chol + nu * d * 0.5 * np.log(2.0)
                    + np.array([gammaln(0.5 * (v - np.arange(d))).sum() for v in nu_rows]))
    log_wishart = log_wishart.sum() * (k if ct == "tied" else 1)
    if model.weight_concentration_prior_type == "dirichlet_process":
        log_norm_weight = -betaln(*wc).sum()
    else:
        log_norm_weight = gammaln(wc.sum()) - gammaln(wc).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy_terms = np.where(resp > 0, resp * np.log(resp), 0.0)
    bound = (-entropy_terms.sum() - log_wishart - log_norm_weight
             - 0.5 * d * np.log(beta).sum())
    return dict(weights=wc, mean_precision=beta, means=means, dof=nu, covariances=cov,
                lower_bound=bound)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_estep_constants_match_numpy_oracle(covariance_type, prior_type):
    X, k = DATASETS["iris"]()
    with quiet_convergence():
        model = fastem.BayesianGaussianMixture(
            n_components=k + 1, covariance_type=covariance_type,
            weight_concentration_prior_type=prior_type, max_iter=5, random_state=0).fit(X)
    log_prob = oracle_log_prob(X, model)
    log_norm = logsumexp(log_prob, axis=1)
    np.testing.assert_allclose(model.score_samples(X), log_norm, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(model.predict_proba(X), np.exp(log_prob - log_norm[:, None]),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mstep_and_lower_bound_match_numpy_oracle(covariance_type, prior_type):
    """One variational iteration from a fitted state: the statistics pass, the
    M-step and the lower bound (entropy from the statistics, no N x K matrix)
    against the N x K NumPy computation."""
    X, k = DATASETS["blobs"]()
    with quiet_convergence():
        model = fastem.BayesianGaussianMixture(
            n_components=k + 1, covariance_type=covariance_type,
            weight_concentration_prior_type=prior_type, max_iter=4, random_state=0).fit(X)
    log_prob = oracle_log_prob(X, model)
    resp = np.exp(log_prob - logsumexp(log_prob, axis=1)[:, None])
    expected = oracle_update(X, resp, model)

    from fastem._sources import in_memory
    params = model._current_parameters()
    stats = model._em_pass(in_memory(X), params, np.arange(k + 1, dtype=np.int64),
                           np.empty(0), np.empty(0, dtype=np.int64))
    new = model._parameters_from_stats(stats, params, X.dtype)
    bound = model._lower_bound(stats, params, new, float(X.shape[0]))
    if prior_type == "dirichlet_process":
        for a, b in zip(new.weight_concentration, expected["weights"]):
            assert_close(a, b, rtol=1e-10)
    else:
        assert_close(new.weight_concentration, expected["weights"], rtol=1e-10)
    assert_close(new.mean_precision, expected["mean_precision"], rtol=1e-10)
    assert_close(new.means, expected["means"], rtol=1e-10)
    assert_close(new.degrees_of_freedom, expected["dof"], rtol=1e-10)
    assert_close(new.covariances, expected["covariances"], rtol=1e-9)
    assert abs(bound - expected["lower_bound"]) <= 1e-10 * abs(expected["lower_bound"])


def test_weighted_rows_and_prior_defaults():
    """Frequency weights: weight-0 rows act as removed; the default priors are the
    weighted mean and the ddof=1 covariance of the rows counted with their weights."""
    X, k = DATASETS["imbalanced"]()
    rng = np.random.RandomState(0)
    weights = rng.randint(0, 4, size=X.shape[0]).astype(float)
    kwargs = dict(n_components=k, init_params="random_from_data", random_state=0,
                  tol=1e-8, max_iter=300)
    with quiet_convergence():
        weighted = fastem.BayesianGaussianMixture(**kwargs).fit(X, sample_weight=weights)
    repeated = np.repeat(X, weights.astype(int), axis=0)
    np.testing.assert_allclose(weighted.mean_prior_, repeated.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(weighted.covariance_prior_, np.cov(repeated.T), rtol=1e-11)

    keep = weights > 0
    with quiet_convergence():
        removed = fastem.BayesianGaussianMixture(**kwargs).fit(
            X[keep], sample_weight=weights[keep])
    assert weighted.n_iter_ == removed.n_iter_
    for name in FITTED:
        assert_close(getattr(weighted, name), getattr(removed, name), rtol=1e-10, name=name)


# ------------------------------------------------------------- properties
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_lower_bound_never_decreases(covariance_type, prior_type):
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=8)
    @hypothesis.given(seed=st.integers(0, 2**31 - 1), n_components=st.integers(1, 5),
                      n_features=st.integers(1, 4))
    def check(seed, n_components, n_features):
        rng = np.random.RandomState(seed)
        centers = rng.uniform(-5, 5, size=(3, n_features))
        X = centers[rng.randint(0, 3, size=120)] + rng.standard_normal((120, n_features))
        with quiet_convergence():
            model = fastem.BayesianGaussianMixture(
                n_components=n_components, covariance_type=covariance_type,
                weight_concentration_prior_type=prior_type, init_params="random",
                random_state=seed, tol=0.0, max_iter=40).fit(X)
        bounds = np.asarray(model.lower_bounds_)
        steps = np.diff(bounds)
        assert (steps >= -1e-9 * np.abs(bounds[1:])).all(), steps.min()

    check()


def test_dirichlet_process_keeps_the_components_the_data_need():
    from sklearn.datasets import make_blobs
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    X, _ = make_blobs(n_samples=800, centers=centers, cluster_std=1.0, random_state=0)
    model = fastem.BayesianGaussianMixture(n_components=10, random_state=0,
                                           max_iter=500).fit(X)
    assert model.converged_
    assert (model.weights_ > 0.01).sum() == 4
    assert abs(model.weights_.sum() - 1.0) < 1e-12


# ----------------------------------------------------------- row sources
def _several_partitions():
    from sklearn.datasets import make_blobs
    from fastem._config import PARTITION_ROWS
    X, _ = make_blobs(n_samples=3 * PARTITION_ROWS + 123, n_features=3, centers=3,
                      random_state=5)
    return X, PARTITION_ROWS


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_memmap_fit_is_bitwise_the_in_memory_fit(tmp_path, covariance_type):
    X, partition_rows = _several_partitions()
    path = tmp_path / "x.dat"
    mapped = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape)
    mapped[:] = X
    mapped.flush()
    mapped = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    kwargs = dict(n_components=3, covariance_type=covariance_type, init_params="random",
                  random_state=0, max_iter=15)
    with quiet_convergence():
        in_memory = fastem.BayesianGaussianMixture(**kwargs).fit(X)
        chunked = fastem.BayesianGaussianMixture(chunk_size=partition_rows, **kwargs).fit(mapped)
    assert chunked.lower_bounds_ == in_memory.lower_bounds_
    for name in FITTED + ("mean_precision_",):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(in_memory, name), name)
    np.testing.assert_array_equal(chunked.predict(mapped), in_memory.predict(X))


def test_memmap_nan_row_is_named(tmp_path):
    X, _ = DATASETS["blobs"]()
    X = X.copy()
    X[123, 1] = np.nan
    path = tmp_path / "bad.npy"
    np.save(path, X)
    with pytest.raises(ValueError, match="row 123"):
        fastem.BayesianGaussianMixture(n_components=2).fit(np.load(path, mmap_mode="r"))


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_dask_fit_matches_in_memory_fit(covariance_type):
    da = pytest.importorskip("dask.array")
    X, partition_rows = _several_partitions()
    kwargs = dict(n_components=3, covariance_type=covariance_type, init_params="random",
                  random_state=0, max_iter=15)
    with quiet_convergence():
        in_memory = fastem.BayesianGaussianMixture(**kwargs).fit(X)
        lazy = fastem.BayesianGaussianMixture(**kwargs).fit(
            da.from_array(X, chunks=(partition_rows + 1000, 3)))
    assert lazy.n_iter_ == in_memory.n_iter_
    np.testing.assert_allclose(lazy.lower_bounds_, in_memory.lower_bounds_, rtol=1e-10)
    for name in FITTED:
        assert_close(getattr(lazy, name), getattr(in_memory, name), rtol=1e-10, name=name)


# ------------------------------------------------------------ estimator API
def test_constructor_matches_sklearn():
    import inspect
    ours = inspect.signature(fastem.BayesianGaussianMixture).parameters
    theirs = inspect.signature(SklearnBayesianGaussianMixture).parameters
    fastem_only = {"chunk_size", "init_max_samples"}
    assert set(ours) - fastem_only == set(theirs)
    for name, p in theirs.items():
        assert ours[name].default == p.default, name


@pytest.mark.parametrize("kwargs, message", [
    (dict(weight_concentration_prior_type="x"),
     "'weight_concentration_prior_type' parameter of BayesianGaussianMixture must be a str"),
    (dict(weight_concentration_prior=-1),
     "'weight_concentration_prior' parameter of BayesianGaussianMixture must be None or "
     "a float in the range \\(0.0, inf\\). Got -1 instead."),
    (dict(mean_precision_prior=0), "'mean_precision_prior' parameter"),
    (dict(degrees_of_freedom_prior=0.5),
     "The parameter 'degrees_of_freedom_prior' should be greater than 1, but got 0.500."),
    (dict(mean_prior=[1.0, 2.0, 3.0]),
     "The parameter 'means' should have the shape of \\(2,\\), but got \\(3,\\)"),
    (dict(covariance_prior=np.eye(3)),
     "The parameter 'full covariance_prior' should have the shape of \\(2, 2\\)"),
    (dict(covariance_prior=-np.eye(2)), "'full precision' should be symmetric, positive-definite"),
    (dict(covariance_type="diag", covariance_prior=[1.0, -1.0]),
     "'diag precision' should be positive"),
    (dict(covariance_type="spherical", covariance_prior=-1.0), "'covariance_prior' parameter"),
])
def test_invalid_priors_are_refused_in_sklearn_words(kwargs, message):
    X = np.random.RandomState(0).standard_normal((20, 2))
    with pytest.raises(ValueError, match=message):
        fastem.BayesianGaussianMixture(n_components=2, **kwargs).fit(X)


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_pickle_save_and_load_give_the_same_predictions(tmp_path, covariance_type,
                                                        prior_type):
    X, k = DATASETS["iris"]()
    model = fastem.BayesianGaussianMixture(n_components=k, covariance_type=covariance_type,
                                           weight_concentration_prior_type=prior_type,
                                           random_state=0).fit(X)
    path = tmp_path / "model.npz"
    model.save(path)
    for copy in (pickle.loads(pickle.dumps(model)), fastem.load(path)):
        assert type(copy) is fastem.BayesianGaussianMixture
        np.testing.assert_array_equal(copy.predict_proba(X), model.predict_proba(X))
        np.testing.assert_array_equal(copy.score_samples(X), model.score_samples(X))
        assert copy.lower_bound_ == model.lower_bound_


def test_fit_predict_equals_fit_then_predict_and_sample():
    X, k = DATASETS["blobs"]()
    model = fastem.BayesianGaussianMixture(n_components=k, random_state=0)
    labels = model.fit_predict(X)
    np.testing.assert_array_equal(labels, model.predict(X))
    theirs = SklearnBayesianGaussianMixture(n_components=k, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.fit(X)
    # Same fitted parameters -> scikit-learn's sampler, seeded alike, draws the same rows.
    for name in ("weights_", "means_", "covariances_"):
        setattr(theirs, name, getattr(model, name))
    ours_X, ours_y = model.sample(50)
    theirs_X, theirs_y = theirs.sample(50)
    np.testing.assert_array_equal(ours_y, theirs_y)
    np.testing.assert_allclose(ours_X, theirs_X, rtol=1e-12)


def test_check_estimator_passes():
    checks = pytest.importorskip("sklearn.utils.estimator_checks")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not inherit from",
                                category=UserWarning)
        warnings.simplefilter("ignore", fastem.ConvergenceWarning)
        warnings.simplefilter("ignore", checks.SkipTestWarning)
        checks.check_estimator(fastem.BayesianGaussianMixture())


def test_command_line_fits_a_bayesian_model(tmp_path):
    from fastem import cli
    X, _ = DATASETS["blobs"]()
    data, model_path = tmp_path / "x.npy", tmp_path / "m.npz"
    np.save(data, X)
    assert cli.main(["fit", str(data), "-k", "6", "--bayesian", "--random-state", "0",
                     "-q", "-o", str(model_path)]) == 0
    model = fastem.load(model_path)
    assert type(model) is fastem.BayesianGaussianMixture and model.n_components == 6
    # Usage error (exit status 2): no Bayesian semi-supervised estimator.
    assert cli.main(["fit", str(data), "--labels", str(data), "--bayesian", "-o",
                     str(model_path)]) == 2


BAYES_DIGEST = r"""
import hashlib, json, warnings
import numpy as np
import numba
import fastem
warnings.simplefilter("ignore", fastem.ConvergenceWarning)
rng = np.random.default_rng(0)
X = rng.normal(scale=4.0, size=(3, 3))[rng.integers(0, 3, 3000)] + rng.normal(size=(3000, 3))
sample_weight = rng.uniform(0.0, 3.0, size=3000)
out = {"threads": numba.get_num_threads()}
for ct in ("full", "tied", "diag", "spherical"):
    model = fastem.BayesianGaussianMixture(n_components=4, covariance_type=ct, random_state=0,
                                           max_iter=10, tol=0.0).fit(X, sample_weight=sample_weight)
    h = hashlib.sha256()
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_",
                 "mean_prior_", "covariance_prior_"):
        h.update(np.asarray(getattr(model, name)).tobytes())
    h.update(np.asarray(model.lower_bounds_).tobytes())
    h.update(model.predict_proba(X).tobytes())
    out[ct] = h.hexdigest()
print(json.dumps(out))
"""


def test_fit_is_bitwise_identical_for_any_thread_count():
    import json
    from conftest import JIT_DISABLED, run_python
    if JIT_DISABLED:
        pytest.skip("needs compiled (threaded) kernels")
    digests = []
    for threads in ("1", "2"):
        out = json.loads(run_python(BAYES_DIGEST, env={
            "NUMBA_NUM_THREADS": threads, "FASTEM_PARTITION_ROWS": "16"}).splitlines()[-1])
        assert out.pop("threads") == int(threads)
        digests.append(out)
    assert len(digests[0]) == len(COVARIANCE_TYPES)
    assert digests[0] == digests[1]


def test_bench_module_prints_a_row_per_workload():
    import io
    from fastem import bench_bayes
    out = io.StringIO()
    assert bench_bayes.main(["--divisor", "2000", "--iters", "2", "--workloads", "W3,W5"],
                            out=out) == 0
    rows = [line.split() for line in out.getvalue().splitlines()[2:]]
    assert [row[:2] for row in rows] == [["B3", "diag"], ["B5", "tied"]]
    assert all(row[12].endswith("x") and row[11].startswith("thr=") for row in rows)
