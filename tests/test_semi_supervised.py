"""SemiSupervisedGaussianMixture: agreement with the NumPy reference, closed forms,
label handling, the clamped objective, iteration counts, digits, bad input, sklearn API."""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import naive_semi
from fastem import GaussianMixture
from fastem.exceptions import ConvergenceWarning, NotFittedError
from fastem.semi_supervised import (DataConversionWarning, SemiSupervisedGaussianMixture,
                                     ShrunkStartWarning)

TYPES = ("full", "tied", "diag", "spherical")


# ------------------------------------------------------------------ problems
def overlapping_classes(seed, n=360, n_features=3, n_classes=3, labelled_fraction=0.15,
                        spread=0.7):
    """Classes with different, correlated covariances that overlap (so clamping matters)."""
    rng = np.random.RandomState(seed)
    centres = rng.normal(0, spread, (n_classes, n_features))
    truth = rng.randint(0, n_classes, n)
    X = np.empty((n, n_features))
    for c in range(n_classes):
        mix = 0.4 * np.eye(n_features) + 0.35 * rng.normal(size=(n_features, n_features))
        rows = truth == c
        X[rows] = centres[c] + rng.normal(size=(rows.sum(), n_features)) @ mix
    y = np.full(n, -1)
    for c in range(n_classes):  # every class gets enough labelled rows for 'full'
        members = np.flatnonzero(truth == c)
        picked = rng.choice(members, max(n_features + 2, int(labelled_fraction * len(members))),
                            replace=False)
        y[picked] = c
    return X, y, truth


def customer_problem(seed):
    """The seed use case: two overlapping purchase profiles, 1000 unlabelled + 40 labelled."""
    rng = np.random.RandomState(seed)
    n = 1040
    truth = (rng.uniform(size=n) < 0.4).astype(int)
    likes = rng.multivariate_normal([1.5, 1.0], [[1.0, -0.3], [-0.3, 0.8]], n)
    dislikes = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.5], [0.5, 1.0]], n)
    X = np.where(truth[:, None] == 1, likes, dislikes)
    y = np.full(n, -1)
    for c in (0, 1):
        picked = rng.choice(np.flatnonzero(truth == c), 20, replace=False)
        y[picked] = c
    return X, y, truth


def fit(X, y, **params):
    return SemiSupervisedGaussianMixture(**params).fit(X, y)


def assert_matches_reference(model, ref, m=1):
    """Every fitted quantity equals the reference's to 1e-8."""
    assert model.n_iter_ == ref["n_iter"]
    assert model.converged_ == ref["converged"]
    assert_allclose(model.lower_bounds_, ref["lower_bounds"], rtol=0, atol=1e-8)
    assert_allclose(model.weights_, ref["weights"], rtol=0, atol=1e-8)
    assert_allclose(model.means_, ref["means"], rtol=0, atol=1e-8)
    assert_allclose(model.covariances_, ref["covariances"], rtol=0, atol=1e-8)


# ------------------------------------------------------- agreement with reference
@pytest.mark.parametrize("covariance_type", TYPES)
@pytest.mark.parametrize("mode", ["clamp", "seed"])
@pytest.mark.parametrize("seed, unlabeled_weight, weighted", [
    (0, 1.0, False), (1, 0.3, False), (2, 1.0, True), (3, 0.0, False)])
def test_matches_naive_reference(covariance_type, mode, seed, unlabeled_weight, weighted):
    X, y, _ = overlapping_classes(seed)
    sample_weight = (np.random.RandomState(seed).randint(0, 4, len(X)).astype(float)
                     if weighted else None)
    if weighted:
        sample_weight[y >= 0] += 1  # keep every labelled row
    model = SemiSupervisedGaussianMixture(
        covariance_type=covariance_type, mode=mode, unlabeled_weight=unlabeled_weight,
        tol=1e-9, max_iter=400).fit(X, y, sample_weight=sample_weight)
    ref = naive_semi.fit(X, y, covariance_type, mode, unlabeled_weight, 1e-6, 1e-9, 400,
                         sample_weight=sample_weight)
    assert ref["converged"]
    assert_matches_reference(model, ref)
    proba = naive_semi.predict_proba(X, ref["weights"], ref["means"], ref["covariances"],
                                     covariance_type)
    assert_allclose(model.predict_proba(X), proba, rtol=0, atol=1e-8)


def test_reference_problems_tell_the_modes_apart():
    # The agreement above would be weak if clamping changed nothing on these problems.
    for seed in range(3):
        X, y, _ = overlapping_classes(seed)
        clamp = naive_semi.fit(X, y, "full", "clamp", tol=1e-9, max_iter=400)
        seed_ = naive_semi.fit(X, y, "full", "seed", tol=1e-9, max_iter=400)
        assert np.abs(clamp["means"] - seed_["means"]).max() > 5e-3


def principal_groups(rows, n_groups):
    """Independent version of the documented split: sort along the first principal
    axis (sign: largest-magnitude entry positive), cut into equal-count runs."""
    centred = rows - rows.mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    axis = axis * np.sign(axis[np.argmax(np.abs(axis))])
    order = np.argsort(centred @ axis, kind="stable")
    groups = np.empty(len(rows), dtype=int)
    for g, members in enumerate(np.array_split(order, n_groups)):
        groups[members] = g
    return groups


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("mode", ["clamp", "seed"])
def test_components_per_class_match_reference(covariance_type, mode):
    X, y, _ = overlapping_classes(5, n=500, labelled_fraction=0.4, spread=1.6)
    start_groups = np.zeros(len(X), dtype=int)
    for c in range(3):
        rows = np.flatnonzero(y == c)
        start_groups[rows] = principal_groups(X[rows], 2)
    model = fit(X, y, covariance_type=covariance_type, mode=mode, n_components_per_class=2,
                tol=1e-9, max_iter=1000)
    ref = naive_semi.fit(X, y, covariance_type, mode, tol=1e-9, max_iter=1000, m=2,
                         start_groups=start_groups)
    assert ref["converged"]
    assert_matches_reference(model, ref, m=2)
    proba = naive_semi.predict_proba(X, ref["weights"], ref["means"], ref["covariances"],
                                     covariance_type, m=2)
    assert_allclose(model.predict_proba(X), proba, rtol=0, atol=1e-8)
    assert_array_equal(model.predict(X), proba.argmax(axis=1))


def test_components_per_class_model_multimodal_classes():
    # Class 'a' is two blobs on either side of class 'b': one Gaussian per class
    # cannot separate them, two per class can.
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(-4, 0.7, (300, 2)), rng.normal(4, 0.7, (300, 2)),
                   rng.normal(0, 0.7, (300, 2))])
    truth = np.array(["a"] * 600 + ["b"] * 300, dtype=object)
    y = np.full(900, -1, dtype=object)
    for rows in (np.arange(0, 20), np.arange(300, 320), np.arange(600, 640)):
        y[rows] = truth[rows]
    two = fit(X, y, n_components_per_class=2)
    one = fit(X, y)
    assert two.means_.shape == (4, 2)
    assert two.score(X, truth) > 0.99
    assert one.score(X, truth) < two.score(X, truth) - 0.05
    proba = two.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert list(two.classes_) == ["a", "b"]


# ----------------------------------------------------------------- closed forms
@pytest.mark.parametrize("covariance_type", TYPES)
def test_all_rows_labelled_gives_per_class_mle(covariance_type):
    X, _, truth = overlapping_classes(5)
    reg = 1e-6
    model = fit(X, truth, covariance_type=covariance_type, reg_covar=reg)
    assert model.converged_ and model.n_iter_ <= 2
    d = X.shape[1]
    counts = np.bincount(truth)
    assert_allclose(model.weights_, counts / len(X), atol=1e-12)
    means = np.array([X[truth == c].mean(axis=0) for c in range(3)])
    assert_allclose(model.means_, means, atol=1e-10)
    scatter = [np.cov(X[truth == c].T, bias=True) for c in range(3)]
    expected = {
        "full": np.array(scatter) + reg * np.eye(d),
        "tied": sum(s * n for s, n in zip(scatter, counts)) / len(X) + reg * np.eye(d),
        "diag": np.array([np.diag(s) for s in scatter]) + reg,
        "spherical": np.array([np.trace(s) / d for s in scatter]) + reg,
    }[covariance_type]
    assert_allclose(model.covariances_, expected, atol=1e-10)


def test_zero_unlabeled_weight_is_the_supervised_estimate():
    X, y, _ = overlapping_classes(6)
    model = fit(X, y, unlabeled_weight=0.0)
    labelled = y >= 0
    for c in range(3):
        rows = X[y == c]
        assert_allclose(model.means_[c], rows.mean(axis=0), atol=1e-10)
        assert_allclose(model.covariances_[c], np.cov(rows.T, bias=True) + 1e-6 * np.eye(3),
                        atol=1e-10)
        assert_allclose(model.weights_[c], (y == c).sum() / labelled.sum(), atol=1e-12)


def test_start_and_first_lower_bound_are_the_labelled_class_moments():
    # The start is checked directly: with max_iter=1 the first lower bound is the
    # clamped objective at the class frequencies / means / covariances of the labels.
    X, y, _ = overlapping_classes(7)
    with pytest.warns(ConvergenceWarning):
        model = fit(X, y, max_iter=1)
    labelled = y >= 0
    weights = np.bincount(y[labelled]) / labelled.sum()
    means = np.array([X[y == c].mean(axis=0) for c in range(3)])
    covs = np.array([np.cov(X[y == c].T, bias=True) + 1e-6 * np.eye(3) for c in range(3)])
    expected = naive_semi.objective(X, y, weights, means, covs, "full")
    assert_allclose(model.lower_bounds_[0], expected, rtol=1e-12)


# ------------------------------------------------------------------- labels
def test_no_labelled_row_points_to_gaussian_mixture():
    X, _, _ = overlapping_classes(0)
    with pytest.raises(ValueError, match="no labelled row.*fastem.GaussianMixture"):
        fit(X, np.full(len(X), -1))


def test_relabelling_classes_permutes_predictions():
    X, y, truth = overlapping_classes(8)
    first = fit(X, y)
    # New names whose sorted order is not the old one: the components come in a new order.
    names = np.array(["zebra", "apple", "mango"], dtype=object)
    renamed = np.where(y >= 0, names[np.maximum(y, 0)], -1)
    second = fit(X, renamed)
    assert list(second.classes_) == ["apple", "mango", "zebra"]
    assert_array_equal(second.predict(X), names[first.predict(X)])
    order = [1, 2, 0]  # old class index of each new column
    assert_allclose(second.predict_proba(X), first.predict_proba(X)[:, order], atol=1e-10)
    assert_allclose(second.means_, first.means_[order], atol=1e-10)
    assert first.score(X, truth) > 0.8


def test_string_labels_with_string_unlabelled_mark():
    X, y, truth = customer_problem(0)
    words = np.where(y == 1, "likes", np.where(y == 0, "dislikes", "-1"))
    model = fit(X, words)
    assert list(model.classes_) == ["dislikes", "likes"]
    numeric = fit(X, y)
    assert_array_equal(model.predict(X) == "likes", numeric.predict(X) == 1)


# -------------------------------------------------------- the clamped objective
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("per_class", [1, 2])
def test_clamped_objective_never_decreases(covariance_type, per_class):
    X, y, _ = overlapping_classes(9, n=600, labelled_fraction=0.3)
    with pytest.warns(ConvergenceWarning):
        model = fit(X, y, covariance_type=covariance_type, reg_covar=0.0, tol=0.0,
                    max_iter=60, n_components_per_class=per_class)
    bounds = np.array(model.lower_bounds_)
    assert len(bounds) == 60
    assert np.all(np.diff(bounds) >= -1e-12)
    assert bounds[-1] - bounds[0] > 1e-3  # EM did move
    # The last value is the clamped objective of the parameters before the last
    # M-step; after it the objective is at least as high.
    m = per_class
    after = naive_semi.objective(X, y, model.weights_, model.means_, model.covariances_,
                                 covariance_type, m=m)
    assert after >= bounds[-1] - 1e-12


# ---------------------------------------------------- iterations and accuracy
def test_customer_problem_needs_far_fewer_iterations():
    # tol is tight enough for the count to measure convergence, not the first steps.
    tol = 1e-5
    semi, unsupervised = [], []
    for seed in range(4):
        X, y, truth = customer_problem(seed)
        model = fit(X, y, tol=tol)
        assert model.converged_
        assert model.score(X, truth) > 0.75
        semi.append(model.n_iter_)
        unsupervised += [GaussianMixture(2, init_params="random_from_data", random_state=s,
                                         tol=tol, max_iter=1000).fit(X).n_iter_
                         for s in range(8)]
    assert 3 * np.median(semi) <= np.median(unsupervised)


def best_permutation_accuracy(pred, truth):
    from scipy.optimize import linear_sum_assignment
    k = max(pred.max(), truth.max()) + 1
    table = np.zeros((k, k))
    np.add.at(table, (pred, truth), 1)
    rows, cols = linear_sum_assignment(-table)
    return table[rows, cols].sum() / len(truth)


def test_digits_clamped_beats_unsupervised_and_seeded():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    images, truth = load_digits(return_X_y=True)
    X = PCA(15, random_state=0).fit_transform(images)
    scores = {"clamp": [], "seed": [], "unsupervised": []}
    for draw in range(3):
        rng = np.random.RandomState(draw)
        y = np.full(len(truth), -1)
        for c in range(10):
            picked = rng.choice(np.flatnonzero(truth == c), 10, replace=False)
            y[picked] = c
        for mode in ("clamp", "seed"):
            scores[mode].append(fit(X, y, covariance_type="diag", mode=mode).score(X, truth))
        gm = GaussianMixture(10, covariance_type="diag", random_state=draw).fit(X)
        scores["unsupervised"].append(best_permutation_accuracy(gm.predict(X), truth))
    mean = {k: np.mean(v) for k, v in scores.items()}
    assert mean["clamp"] > mean["seed"] + 0.01
    assert mean["clamp"] > mean["unsupervised"] + 0.03


# --------------------------------------------------------------- bad input
@pytest.fixture
def no_heavy_work(monkeypatch):
    """Any EM pass (start or iteration) fails the test: errors must come before."""
    def forbidden(*args, **kwargs):
        raise AssertionError("an EM pass ran before the input was rejected")
    monkeypatch.setattr(SemiSupervisedGaussianMixture, "_em_pass", forbidden)


def shrunk_start_oracle(X, y, covariance_type, reg_covar):
    """The documented start in NumPy: per class the labelled rows' mean and scatter S
    (ML, bias=True); a class with n labelled rows below ``needed`` gets
    (n S + needed T) / (n + needed), T = the per-feature variance of all rows."""
    d = X.shape[1]
    classes = np.unique(y[y >= 0])
    needed = {"full": d + 1, "diag": 2, "spherical": 2, "tied": len(classes) + d}[covariance_type]
    variance = X.var(axis=0)
    target = {"full": np.diag(variance), "tied": np.diag(variance), "diag": variance,
              "spherical": variance.mean()}[covariance_type]
    scatters, counts = [], []
    for c in classes:
        rows = X[y == c]
        scatter = np.cov(rows.T, bias=True).reshape(d, d)
        counts.append(len(rows))
        scatters.append({"full": scatter, "tied": scatter * len(rows), "diag": np.diag(scatter),
                         "spherical": np.trace(scatter) / d}[covariance_type])
    if covariance_type == "tied":
        n = sum(counts)
        scatters, counts = [sum(scatters) / n], [n]
    covariances = [s if n >= needed else (n * s + needed * target) / (n + needed)
                   for s, n in zip(scatters, counts)]
    reg = reg_covar * np.eye(d) if covariance_type in ("full", "tied") else reg_covar
    covariances = np.array(covariances) + reg
    return covariances[0] if covariance_type == "tied" else covariances


@pytest.mark.parametrize("covariance_type", TYPES)
def test_few_labelled_rows_start_from_the_documented_shrunk_estimate(covariance_type):
    X, y, _ = overlapping_classes(0, n_features=4)
    y = y.copy()
    y[np.flatnonzero(y == 2)[3:]] = -1  # class 2 keeps 3 labelled rows, 'full' needs 5
    if covariance_type in ("diag", "spherical"):
        y[np.flatnonzero(y == 1)[1:]] = -1  # 1 row: too few for a variance too
    if covariance_type == "tied":
        y[np.flatnonzero(y == 0)[1:]] = -1
        y[np.flatnonzero(y == 1)[1:]] = -1  # 1 + 1 + 3 rows < 3 classes + 4 features
    with pytest.warns(ShrunkStartWarning, match="shrunk towards the per-feature variance"):
        start = fit(X, y, covariance_type=covariance_type, max_iter=0)
    assert_allclose(start.covariances_, shrunk_start_oracle(X, y, covariance_type, 1e-6),
                    rtol=1e-10, atol=1e-12)
    with pytest.warns(ShrunkStartWarning):
        model = fit(X, y, covariance_type=covariance_type)
    assert model.converged_


def test_enough_labelled_rows_give_no_warning_and_no_shrinkage():
    X, y, _ = overlapping_classes(0, n_features=4)
    start = fit(X, y, max_iter=0)  # filterwarnings=error: no ShrunkStartWarning
    assert_allclose(start.covariances_, shrunk_start_oracle(X, y, "full", 1e-6), rtol=1e-10)


def test_shrunk_start_warning_names_the_classes():
    X, y, _ = overlapping_classes(0, n_features=4)
    y = y.copy()
    y[np.flatnonzero(y == 2)[3:]] = -1
    with pytest.warns(ShrunkStartWarning, match=r"'full' covariance of class\(es\) 2 \(at "
                                                r"least 5 per component\)"):
        fit(X, y)
    fit(X, y, covariance_type="diag")  # 3 rows are enough for a variance: no warning


def test_digits_few_labels_full_covariance():
    """Issue 12's case, smaller (3 draws): digits in 12 PCA dimensions, 10 labelled rows
    per class, 'full': the fit works and beats unsupervised EM by far on the
    unlabelled rows (README: the 10-draw table)."""
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    images, truth = load_digits(return_X_y=True)
    X = PCA(12, random_state=0).fit_transform(images)
    scores = {"clamp": [], "seed": [], "unsupervised": []}
    for draw in range(3):
        rng = np.random.RandomState(draw)
        y = np.full(len(truth), -1)
        for c in range(10):
            y[rng.choice(np.flatnonzero(truth == c), 10, replace=False)] = c
        unlabelled = y == -1
        for mode in ("clamp", "seed"):
            with pytest.warns(ShrunkStartWarning):
                model = fit(X, y, covariance_type="full", reg_covar=1e-3, mode=mode,
                            max_iter=200)
            scores[mode].append(np.mean(model.predict(X)[unlabelled] == truth[unlabelled]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm = GaussianMixture(10, covariance_type="full", reg_covar=1e-3, random_state=draw,
                                 max_iter=200).fit(X)
        scores["unsupervised"].append(
            best_permutation_accuracy(gm.predict(X)[unlabelled], truth[unlabelled]))
    mean = {k: np.mean(v) for k, v in scores.items()}
    assert mean["clamp"] > 0.9 and mean["seed"] > 0.9, mean
    assert mean["clamp"] > mean["unsupervised"] + 0.08, mean


@pytest.mark.parametrize("y, message", [
    (np.zeros(5), "inconsistent numbers of samples"),
    (np.r_[np.nan, np.zeros(359)], "y contains NaN"),
    (np.r_[0.5, np.zeros(359)], "Unknown label type"),
    (None, "requires y to be passed"),
    (np.where(np.arange(360) % 3 == 0, -1, 1), "-1 marks an unlabelled row.*recode"),
    (np.zeros((360, 2)), "1d array"),
])
def test_bad_y(no_heavy_work, y, message):
    X, _, _ = overlapping_classes(0)
    with pytest.raises(ValueError, match=message):
        fit(X, y)


@pytest.mark.parametrize("params, message", [
    ({"unlabeled_weight": -0.1}, "unlabeled_weight"),
    ({"unlabeled_weight": 1.5}, "unlabeled_weight"),
    ({"unlabeled_weight": "high"}, "unlabeled_weight"),
    ({"mode": "hard"}, "'mode' parameter"),
    ({"n_components": 4}, r"number of classes \(3\) x n_components_per_class \(1\) = 3"),
    ({"n_components_per_class": 0}, "n_components_per_class"),
    ({"covariance_type": "cholesky"}, "covariance_type"),
    ({"n_components_per_class": 40}, "fewer than its 40 component"),
])
def test_bad_parameters(no_heavy_work, params, message):
    X, y, _ = overlapping_classes(0)
    with pytest.raises(ValueError, match=message):
        fit(X, y, **params)


def test_predict_before_fit():
    with pytest.raises(NotFittedError):
        SemiSupervisedGaussianMixture().predict(np.zeros((3, 2)))


def test_column_vector_y_warns_and_is_used():
    X, y, _ = overlapping_classes(0)
    with pytest.warns(DataConversionWarning):
        model = fit(X, y[:, None])
    assert_allclose(model.means_, fit(X, y).means_)


# ------------------------------------------------------------ inputs and API
def test_memmap_input_gives_the_same_fit(tmp_path):
    X, y, _ = overlapping_classes(1)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    a, b = fit(X, y), fit(mapped, y)
    assert_array_equal(a.means_, b.means_)
    assert_array_equal(a.lower_bounds_, b.lower_bounds_)


def test_many_labelled_rows_path_gives_the_same_fit(monkeypatch):
    # Above CHUNK_ROWS labelled rows the start is read in chunks and taken in one
    # pass over X (unlabelled rows weighted 0) instead of from the gathered rows.
    import fastem.semi_supervised as semi
    X, y, _ = overlapping_classes(1, labelled_fraction=0.5)
    gathered = fit(X, y, n_components_per_class=2, covariance_type="diag")
    monkeypatch.setattr(semi, "CHUNK_ROWS", 25)
    chunked = fit(X, y, n_components_per_class=2, covariance_type="diag")
    assert_allclose(chunked.means_, gathered.means_, rtol=0, atol=1e-12)
    assert_allclose(chunked.covariances_, gathered.covariances_, rtol=0, atol=1e-12)
    assert_allclose(chunked.lower_bounds_, gathered.lower_bounds_, rtol=0, atol=1e-12)


def test_dask_input_gives_the_same_fit():
    da = pytest.importorskip("dask.array")
    X, y, _ = overlapping_classes(1)
    a = fit(X, y)
    b = fit(da.from_array(X, chunks=(100, 3)), y)
    assert_allclose(b.means_, a.means_, atol=1e-10)
    assert_array_equal(b.predict(da.from_array(X, chunks=(100, 3))).compute(), a.predict(X))


def test_classifier_api():
    X, y, truth = overlapping_classes(2)
    model = fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 3)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])
    assert model.score(X, truth) == np.mean(model.predict(X) == truth)
    ref = naive_semi._log_prob(X, model.weights_, model.means_, model.covariances_, "full")
    assert_allclose(model.score_samples(X), naive_semi._logsumexp(ref), rtol=1e-10)
    sampled, labels = model.sample(50)
    assert sampled.shape == (50, 3) and set(labels) <= set(model.classes_)
    assert model.get_params()["n_components"] is None
    assert "mode='seed'" in repr(SemiSupervisedGaussianMixture(mode="seed"))


# Checks that cannot pass by design, each with the error it must fail with.
EXPECTED_FAILURES = {
    # These set n_components=1 on multi-class y; the issue requires n_components
    # to equal the number of classes, so fit refuses it.
    "check_dont_overwrite_parameters": "n_components=1 does not match y",
    "check_methods_sample_order_invariance": "n_components=1 does not match y",
    "check_methods_subset_invariance": "n_components=1 does not match y",
    "check_fit2d_1feature": "n_components=1 does not match y",
    "check_fit2d_predict1d": "n_components=1 does not match y",
    # y in {-1, 1}: -1 marks an unlabelled row (sklearn.semi_supervised's convention).
    "check_classifiers_classes": "-1 marks an unlabelled row",
}


@pytest.mark.parametrize("estimator", [
    SemiSupervisedGaussianMixture(),
    SemiSupervisedGaussianMixture(covariance_type="diag", reg_covar=0.01),
])
def test_sklearn_check_estimator(estimator):
    pytest.importorskip("sklearn")
    from sklearn.utils.estimator_checks import check_estimator
    expected = dict(EXPECTED_FAILURES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the checks' own warnings (not a BaseEstimator, ...)
        warnings.simplefilter("always", DataConversionWarning)  # check_supervised_y_2d counts it
        results = check_estimator(estimator, on_fail=None, on_skip=None,
                                  expected_failed_checks=expected)
    failed = {r["check_name"]: r["exception"] for r in results
              if r["status"] not in ("passed", "skipped")}
    assert set(failed) == set(expected), {k: repr(v) for k, v in failed.items()}
    for name, exception in failed.items():
        assert expected[name] in str(exception), (name, exception)
    assert sum(r["status"] == "passed" for r in results) > 40
