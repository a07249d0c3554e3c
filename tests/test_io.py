"""Model files (save / fastem.load) and pickling.

Crafted files are written with ``write_model_members``, which recomputes the
checksums, so every semantic check of the loader is exercised on its own (the
checksums are tested separately).
"""
import hashlib
import json
import os
import pickle
import zipfile

import joblib
import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastem
from fastem import GaussianMixture, NotFittedError
from fastem._io import FORMAT_VERSION, ModelFileError, load_with_header

from conftest import COVARIANCE_TYPES, run_python, separated_blobs


@pytest.fixture(scope="module")
def data():
    X, _ = separated_blobs(n_samples=300, n_features=3, n_centers=3, seed=0)
    return X


@pytest.fixture(scope="module")
def fitted(data):
    return {ct: GaussianMixture(3, covariance_type=ct, random_state=0).fit(data)
            for ct in COVARIANCE_TYPES}


def fitted_state(est):
    """Every public fitted attribute (name ending in '_')."""
    return {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")}


def assert_same_model(a, b, X):
    assert type(a) is type(b)
    state_a, state_b = fitted_state(a), fitted_state(b)
    assert sorted(state_a) == sorted(state_b)
    for name, value in state_a.items():
        other = state_b[name]
        if isinstance(value, np.ndarray):
            assert isinstance(other, np.ndarray) and other.dtype == value.dtype, name
            assert_array_equal(other, value, err_msg=name)
        else:
            assert type(other) is type(value) or float(other) == float(value), name
            assert other == value, name
    params_a, params_b = a.get_params(), b.get_params()
    assert sorted(params_a) == sorted(params_b)
    for name, value in params_a.items():
        if isinstance(value, np.ndarray):
            assert_array_equal(params_b[name], value)
        else:
            assert params_b[name] == value, name
    assert_array_equal(b.predict(X), a.predict(X))
    assert_array_equal(b.predict_proba(X), a.predict_proba(X))
    assert_array_equal(b.score_samples(X), a.score_samples(X))


# ------------------------------------------------------------- file helpers
def read_model_members(path):
    with np.load(path, allow_pickle=False) as archive:
        members = {key: archive[key] for key in archive.files}
    header = json.loads(members.pop("header").tobytes().decode("utf-8"))
    members.pop("header_sha256")
    return header, members


def write_model_members(path, header, members, fix_checksums=True):
    """A model file from parts; with ``fix_checksums`` it is self-consistent."""
    header = dict(header)
    if fix_checksums:
        header["arrays"] = {key: {"dtype": a.dtype.str, "shape": list(a.shape),
                                  "sha256": hashlib.sha256(a.tobytes()).hexdigest()}
                            for key, a in members.items()}
    header_bytes = json.dumps(header).encode("utf-8")
    out = {"header": np.frombuffer(header_bytes, np.uint8),
           "header_sha256": np.frombuffer(hashlib.sha256(header_bytes).digest(), np.uint8)}
    out.update(members)
    with open(path, "wb") as f:
        np.savez(f, **out)


class PickleBomb:
    """Unpickling this creates a directory: proof that something was unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


# --------------------------------------------------------------- round trip
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_round_trip_keeps_every_fitted_attribute(fitted, data, tmp_path, covariance_type):
    model = fitted[covariance_type]
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = fastem.load(path)
    assert_same_model(model, loaded, data)
    assert isinstance(loaded.lower_bounds_, list) and isinstance(loaded.converged_, bool)
    assert_array_equal(loaded.sample(50)[0], model.sample(50)[0])  # same random_state


def test_array_parameters_are_stored_and_usable(data, tmp_path):
    start = GaussianMixture(3, random_state=1).fit(data[::2])
    model = GaussianMixture(3, weights_init=start.weights_, means_init=start.means_,
                            precisions_init=start.precisions_).fit(data)
    model.save(tmp_path / "m.npz")
    loaded = fastem.load(tmp_path / "m.npz")
    assert_same_model(model, loaded, data)
    assert_array_equal(loaded.means_init, start.means_)
    # The restored initial parameters give the same fit again.
    assert_same_model(GaussianMixture(**model.get_params()).fit(data),
                      GaussianMixture(**loaded.get_params()).fit(data), data)


def test_unstorable_parameter_is_dropped_with_a_note(data, tmp_path):
    model = GaussianMixture(2, random_state=np.random.RandomState(0)).fit(data)
    model.save(tmp_path / "m.npz")
    loaded, header = load_with_header(tmp_path / "m.npz")
    assert header["dropped_params"] == ["random_state"]
    assert loaded.random_state is None
    assert_array_equal(loaded.predict(data), model.predict(data))


def test_header_describes_the_model(fitted, tmp_path):
    fitted["diag"].save(tmp_path / "m.npz")
    header, members = read_model_members(tmp_path / "m.npz")
    assert header["format"] == "fastem-model"
    assert header["format_version"] == FORMAT_VERSION
    assert header["fastem_version"] == fastem.__version__
    assert header["class"] == "GaussianMixture"
    assert (header["covariance_type"], header["n_components"], header["n_features"]) == \
        ("diag", 3, 3)
    assert header["params"]["n_components"] == 3
    assert all(a.dtype.kind != "O" for a in members.values())


def test_save_writes_exactly_the_given_name(fitted, tmp_path):
    fitted["full"].save(tmp_path / "model.bin")  # no '.npz' appended, no temp left
    assert sorted(os.listdir(tmp_path)) == ["model.bin"]
    fastem.load(tmp_path / "model.bin")


def test_save_needs_a_fitted_model_of_a_known_class(fitted, tmp_path):
    with pytest.raises(NotFittedError):
        GaussianMixture(2).save(tmp_path / "m.npz")

    class MyMixture(GaussianMixture):
        pass

    mine = MyMixture(2)
    mine.__dict__.update(vars(fitted["full"]))
    with pytest.raises(TypeError, match="use pickle or joblib"):
        mine.save(tmp_path / "m.npz")
    with pytest.raises(FileNotFoundError, match="No such directory"):
        fitted["full"].save(tmp_path / "missing" / "m.npz")
    assert not os.listdir(tmp_path)


# ------------------------------------------------------------ broken files
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such model file"):
        fastem.load(tmp_path / "nothing.npz")


def test_truncated_file_is_rejected(fitted, tmp_path):
    fitted["full"].save(tmp_path / "m.npz")
    data = (tmp_path / "m.npz").read_bytes()
    for length in (0, 1, 30, 100, len(data) // 3, len(data) // 2, len(data) - 23,
                   len(data) - 1):
        (tmp_path / "cut.npz").write_bytes(data[:length])
        with pytest.raises(ModelFileError, match="corrupt|not a fastem model"):
            fastem.load(tmp_path / "cut.npz")


def test_every_flipped_bit_is_detected_or_harmless(data, tmp_path):
    model = GaussianMixture(2, covariance_type="spherical", random_state=0).fit(data)
    model.save(tmp_path / "m.npz")
    original = (tmp_path / "m.npz").read_bytes()
    reference = model.score_samples(data[:20])
    detected = 0
    positions = range(0, len(original), 4)  # a quarter of the bytes keeps this quick
    for position in positions:
        damaged = bytearray(original)
        damaged[position] ^= 0x10
        (tmp_path / "bad.npz").write_bytes(bytes(damaged))
        try:
            loaded = fastem.load(tmp_path / "bad.npz")
        except ModelFileError:
            detected += 1
            continue
        # Undetected flips only touch bytes nothing reads (zip timestamps...).
        assert_array_equal(loaded.score_samples(data[:20]), reference)
        assert loaded.get_params() == model.get_params()
    assert detected > 0.8 * len(positions)


def test_modified_array_fails_its_checksum(fitted, tmp_path):
    fitted["full"].save(tmp_path / "m.npz")
    header, members = read_model_members(tmp_path / "m.npz")
    members["fitted.means_"] = members["fitted.means_"] + 1e-9  # a valid, other zip
    write_model_members(tmp_path / "bad.npz", header, members, fix_checksums=False)
    with pytest.raises(ModelFileError, match="checksum of array 'fitted.means_'"):
        fastem.load(tmp_path / "bad.npz")


def test_modified_header_fails_its_checksum(fitted, tmp_path):
    fitted["full"].save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as archive:
        members = {key: archive[key] for key in archive.files}
    text = members["header"].tobytes().decode()
    n_iter = fitted["full"].n_iter_
    assert f'"value": {n_iter}' in text
    members["header"] = np.frombuffer(
        text.replace(f'"value": {n_iter}', f'"value": {n_iter + 1}').encode(), np.uint8)
    with open(tmp_path / "bad.npz", "wb") as f:
        np.savez(f, **members)
    with pytest.raises(ModelFileError, match="header checksum"):
        fastem.load(tmp_path / "bad.npz")


def test_rewritten_file_with_fixed_checksums_loads(fitted, data, tmp_path):
    """The crafting helper itself yields a valid file: the tests below then fail
    only for the change each makes."""
    fitted["full"].save(tmp_path / "m.npz")
    write_model_members(tmp_path / "copy.npz", *read_model_members(tmp_path / "m.npz"))
    assert_same_model(fitted["full"], fastem.load(tmp_path / "copy.npz"), data)


def test_newer_format_version_asks_for_an_upgrade(fitted, tmp_path):
    fitted["full"].save(tmp_path / "m.npz")
    header, members = read_model_members(tmp_path / "m.npz")
    header["format_version"] = FORMAT_VERSION + 1
    write_model_members(tmp_path / "new.npz", header, members)
    with pytest.raises(ModelFileError, match="newer fastem.*Upgrade fastem"):
        fastem.load(tmp_path / "new.npz")


def crafted(model, tmp_path, change):
    """Path of ``model``'s file after ``change(header, members)`` (checksums fixed)."""
    model.save(tmp_path / "m.npz")
    header, members = read_model_members(tmp_path / "m.npz")
    change(header, members)
    write_model_members(tmp_path / "crafted.npz", header, members)
    return tmp_path / "crafted.npz"


def _set(key, func):
    def change(header, members):
        members[key] = func(members[key])
    return change


def _negative_diagonal(u):
    u = u.copy()
    u[1, 0, 0] = -u[1, 0, 0]
    return u


def _lower_entry(u):
    u = u.copy()
    u[0, 2, 0] = 0.5
    return u


def _nan_first(a):
    a = a.copy()
    a.flat[0] = np.nan
    return a


def _drop_member(key, attr):
    def change(header, members):
        del members[key]
        del header["fitted"][attr]
    return change


def _header(**updates):
    def change(header, members):
        for key, value in updates.items():
            target = header
            *path, last = key.split("__")
            for part in path:
                target = target[part]
            target[last] = value
    return change


INVALID_FILES = {
    "negative Cholesky diagonal": ("full", _set("fitted.precisions_cholesky_",
                                                _negative_diagonal), "positive-definite"),
    "not upper triangular": ("full", _set("fitted.precisions_cholesky_", _lower_entry),
                             "upper triangular"),
    "covariances inconsistent": ("full", _set("fitted.covariances_", lambda c: 2 * c),
                                 "not the inverse"),
    "non-positive spherical precision": ("spherical", _set(
        "fitted.precisions_cholesky_", lambda u: -u), "must be positive"),
    "weights do not sum to 1": ("diag", _set("fitted.weights_", lambda w: 0.9 * w),
                                "sum to 1"),
    "float32 means": ("diag", _set("fitted.means_", lambda m: m.astype(np.float32)),
                      "float64"),
    "means of another shape": ("diag", _set("fitted.means_", lambda m: m[:, :2]),
                               "shape"),
    "NaN in the means": ("tied", _set("fitted.means_", _nan_first), "NaN"),
    "missing array": ("tied", _drop_member("fitted.covariances_", "covariances_"),
                      "missing fitted attribute"),
    "unknown class": ("full", _header(**{"class": "KMeans"}), "unknown model class"),
    "unknown parameter": ("full", _header(params__n_clusters=3), "unknown"),
    "invalid parameter value": ("full", _header(params__tol=-1.0), "'tol' parameter"),
    "bad fitted entry": ("diag", _header(fitted__means_=[1, 2]), "bad fitted attribute"),
    "wrong n_features_in_": ("full", _header(fitted__n_features_in_={"kind": "scalar",
                                                                     "value": 4}),
                             "n_features_in_"),
    "bool n_iter_": ("full", _header(fitted__n_iter_={"kind": "scalar", "value": True}),
                     "n_iter_"),
}


@pytest.mark.parametrize("case", sorted(INVALID_FILES))
def test_invalid_contents_are_rejected(fitted, tmp_path, case):
    covariance_type, change, message = INVALID_FILES[case]
    path = crafted(fitted[covariance_type], tmp_path, change)
    with pytest.raises(ModelFileError, match=message):
        fastem.load(path)


def test_malformed_array_list_is_rejected(fitted, tmp_path):
    fitted["full"].save(tmp_path / "m.npz")
    header, members = read_model_members(tmp_path / "m.npz")
    header["arrays"]["fitted.means_"] = ["<f8", [3, 3]]
    write_model_members(tmp_path / "bad.npz", header, members, fix_checksums=False)
    with pytest.raises(ModelFileError, match="bad header entry for 'fitted.means_'"):
        fastem.load(tmp_path / "bad.npz")


def test_foreign_files_are_rejected(tmp_path, data):
    marker = tmp_path / "unpickled"
    np.save(tmp_path / "array.npy", data)
    np.savez(tmp_path / "other.npz", weights=np.ones(3), means=data[:3])
    (tmp_path / "text.npz").write_text("weights,means\n1,2\n")
    (tmp_path / "empty.npz").write_bytes(b"")
    with open(tmp_path / "pickle.npz", "wb") as f:
        pickle.dump(PickleBomb(marker), f)
    for name, message in [("array.npy", "not a fastem model file"),
                          ("other.npz", "not a fastem model file"),
                          ("text.npz", "corrupt or not a fastem model file"),
                          ("empty.npz", "corrupt or not a fastem model file"),
                          ("pickle.npz", "corrupt or not a fastem model file")]:
        with pytest.raises(ModelFileError, match=message):
            fastem.load(tmp_path / name)
    assert not marker.exists()


@pytest.mark.parametrize("where", ["listed member", "unlisted member"])
def test_object_arrays_are_never_unpickled(fitted, tmp_path, where):
    marker = tmp_path / "unpickled"
    bomb = np.array([PickleBomb(marker)], dtype=object)

    def change(header, members):
        members["fitted.means_" if where == "listed member" else "extra"] = bomb

    fitted["full"].save(tmp_path / "m.npz")
    header, members = read_model_members(tmp_path / "m.npz")
    change(header, members)
    write_model_members(tmp_path / "bomb.npz", header, members,
                        fix_checksums=where == "listed member")
    with pytest.raises(ModelFileError, match="Python objects|not listed"):
        fastem.load(tmp_path / "bomb.npz")
    assert not marker.exists()
    # The crafted file really does unpickle when asked to: the test can fail.
    with np.load(tmp_path / "bomb.npz", allow_pickle=True) as archive:
        archive["fitted.means_" if where == "listed member" else "extra"]
    assert marker.exists()


def test_member_claiming_a_huge_size_is_not_read(fitted, tmp_path):
    """A well-formed zip (valid CRCs) whose weights member's .npy header claims
    10**11 rows: numpy would allocate 800 GB before noticing the data is missing."""
    fitted["full"].save(tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz") as source, \
            zipfile.ZipFile(tmp_path / "huge.npz", "w") as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "fitted.weights_.npy":
                # Use the header's padding, so that its length stays the same.
                old, new = b"'shape': (3,), }", b"'shape': (100000000000,), }"
                at = content.index(old)
                assert content[at + len(old):at + len(new)].strip() == b""
                content = content[:at] + new + content[at + len(new):]
            target.writestr(info.filename, content)
    with pytest.raises(ModelFileError, match="claims 800000000000 bytes"):
        fastem.load(tmp_path / "huge.npz")


# ----------------------------------------------------------------- pickling
def test_pickle_and_joblib_round_trip(fitted, data, tmp_path):
    model = fitted["full"]
    payload = pickle.dumps(model)
    assert b"numba" not in payload and b"Dispatcher" not in payload
    assert_same_model(model, pickle.loads(payload), data)
    joblib.dump(model, tmp_path / "m.joblib")
    assert_same_model(model, joblib.load(tmp_path / "m.joblib"), data)


def test_pickle_made_during_a_reported_fit_is_plain(data):
    from fastem._base import reporting_iterations
    seen = []
    with reporting_iterations(lambda *a: seen.append(a)):  # a lambda: not picklable
        model = GaussianMixture(2, random_state=0).fit(data)
    assert len(seen) == model.n_iter_
    assert_array_equal(pickle.loads(pickle.dumps(model)).predict(data), model.predict(data))


def test_pickled_model_predicts_in_a_fresh_process(fitted, data, tmp_path):
    model = fitted["tied"]
    with open(tmp_path / "m.pkl", "wb") as f:
        pickle.dump(model, f)
    np.save(tmp_path / "X.npy", data)
    out = run_python(f"""
import pickle, sys
import numpy as np
with open({str(tmp_path / 'm.pkl')!r}, 'rb') as f:
    model = pickle.load(f)
assert 'numba' not in sys.modules, 'unpickling must not need compiled state'
np.save({str(tmp_path / 'labels.npy')!r}, model.predict(np.load({str(tmp_path / 'X.npy')!r})))
print('numba' in sys.modules)
""")
    assert out.strip() == "True"  # the kernels were loaded afresh to predict
    assert_array_equal(np.load(tmp_path / "labels.npy"), model.predict(data))


# --------------------------------------------------------- semi-supervised
@pytest.mark.parametrize("labels", ["ints", "strings"])
def test_semi_supervised_round_trip(data, tmp_path, labels):
    semi = pytest.importorskip("fastem.semi_supervised")
    _, truth = separated_blobs(n_samples=300, n_features=3, n_centers=3, seed=0)
    y = np.full(truth.shape[0], -1)
    for c in range(3):
        y[np.flatnonzero(truth == c)[:10]] = c
    if labels == "strings":
        y = np.array(["-1", "ant", "bee", "cat"])[y + 1]
    model = semi.SemiSupervisedGaussianMixture(covariance_type="diag").fit(data, y)
    model.save(tmp_path / "semi.npz")
    loaded, header = load_with_header(tmp_path / "semi.npz")
    assert header["class"] == "SemiSupervisedGaussianMixture"
    assert header["classes"] == model.classes_.tolist()
    assert_same_model(model, loaded, data)
    assert loaded.predict(data).dtype == model.classes_.dtype
