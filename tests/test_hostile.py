"""Hostile use (issue 13): nothing lost, nothing silently wrong.

Crashes (segfault, SIGBUS) and Ctrl-C are reproduced in subprocesses, which
must exit cleanly and leave the estimator and every file as they were.
"""
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastem
from fastem import GaussianMixture, SemiSupervisedGaussianMixture, cli
from fastem._io import ModelFileError

from conftest import REPO_ROOT, quiet_convergence, separated_blobs, sklearn_start


def child_env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def default_sigint():
    """For the children: SIGINT as in an interactive shell. A runner started in the
    background (``pytest &``) ignores SIGINT, its children inherit that, and Python
    then installs no KeyboardInterrupt handler at all: the Ctrl-C tests would test
    nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_child(code, timeout=240, **env):
    """(returncode, stdout, stderr) of ``code`` in a fresh interpreter."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO_ROOT,
                            env=child_env(**env), capture_output=True, text=True,
                            timeout=timeout, preexec_fn=default_sigint)
    return result.returncode, result.stdout, result.stderr


def fitted_state(est):
    return {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")}


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def data():
    X, _ = separated_blobs(n_samples=300, n_features=3, n_centers=3, seed=0)
    return X


# ------------------------------------------------------ 1. warm_start shapes
WARM_START_CHILD = """
import numpy as np, fastem
X = np.random.RandomState(0).randn(200, 3)
gm = fastem.GaussianMixture(2, warm_start=True, random_state=0).fit(X)
before = {k: np.copy(v) for k, v in vars(gm).items() if k.endswith('_') and k[0] != '_'}
Y = np.random.RandomState(1).randn(200, %d)
try:
    gm.fit(Y)
except ValueError as exc:
    print('ValueError:', exc)
after = {k: v for k, v in vars(gm).items() if k.endswith('_') and k[0] != '_'}
assert sorted(before) == sorted(after)
for k in before:
    assert np.array_equal(np.asarray(before[k]), np.asarray(after[k])), k
print('intact')
"""


@pytest.mark.parametrize("n_features", [5, 2])
def test_warm_start_with_another_feature_count_raises(n_features):
    """Used to segfault (5 features) or read and write out of bounds (2 features)."""
    rc, out, err = run_child(WARM_START_CHILD % n_features, NUMBA_BOUNDSCHECK="1")
    assert rc == 0, err
    # scikit-learn's words (sklearn.utils.validation._check_n_features)
    assert (f"ValueError: X has {n_features} features, but GaussianMixture is expecting 3 "
            "features as input") in out
    assert "intact" in out


@pytest.mark.parametrize("fitted,change", [
    ("full", {"n_components": 2}), ("full", {"n_components": 4}),
    ("full", {"covariance_type": "diag"}),
    ("diag", {"covariance_type": "tied"}),  # 3 components, 3 features: same shapes
    ("tied", {"covariance_type": "diag"})])
def test_warm_start_with_other_parameters_raises(data, fitted, change):
    gm = GaussianMixture(3, covariance_type=fitted, warm_start=True,
                         random_state=0).fit(data)
    before = {k: np.copy(v) for k, v in fitted_state(gm).items()}
    gm.set_params(**change)
    name = next(iter(change))
    with pytest.raises(ValueError, match=f"warm_start=True.*{name}.*warm_start=False"):
        gm.fit(data)
    for key, value in before.items():
        assert_array_equal(getattr(gm, key), value)


def test_warm_start_on_float32_data_continues_like_sklearn(data):
    """A float64 fit continued on float32 data: scikit-learn continues too."""
    from sklearn.mixture import GaussianMixture as SkGM
    start = sklearn_start(data, 3, "full")
    with quiet_convergence():
        ours = GaussianMixture(3, warm_start=True, max_iter=2, **start).fit(data)
        theirs = SkGM(3, warm_start=True, max_iter=2, **start).fit(data)
        X32 = data.astype(np.float32)
        ours.fit(X32)
        theirs.fit(X32)
    assert_allclose(ours.means_, theirs.means_, rtol=1e-5, atol=1e-5)
    assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=1e-5)


def test_warm_start_must_be_a_bool(data):
    with pytest.raises(ValueError, match="The 'warm_start' parameter of GaussianMixture "
                                         "must be an instance of 'bool'"):
        GaussianMixture(2, warm_start="yes").fit(data)


def test_fits_pass_with_numba_boundscheck(tmp_path):
    """Representative fits with every array access bounds-checked (fresh cache dir)."""
    code = """
    import warnings, numpy as np, fastem
    warnings.simplefilter('error')
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(150, 3), rng.randn(150, 3) + 6])
    for ct in ('full', 'tied', 'diag', 'spherical'):
        gm = fastem.GaussianMixture(2, covariance_type=ct, random_state=0).fit(X)
        gm.predict(X); gm.score_samples(X)
        gm.set_params(warm_start=True, max_iter=3)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', fastem.ConvergenceWarning)
            gm.fit(X.astype(np.float32))
    y = np.full(300, -1); y[:5] = 0; y[150:155] = 1
    fastem.SemiSupervisedGaussianMixture(covariance_type='diag').fit(X, y).predict(X)
    print('ok')
    """
    tic = time.perf_counter()
    rc, out, err = run_child(code, timeout=600, NUMBA_BOUNDSCHECK="1",
                             NUMBA_CACHE_DIR=str(tmp_path))
    assert rc == 0 and "ok" in out, err
    print(f"boundscheck run: {time.perf_counter() - tic:.1f} s")


# ---------------------------------------------------------- 2, 3. the CLI
@pytest.fixture
def cli_files(tmp_path, data):
    np.save(tmp_path / "data.npy", data)
    assert cli.main(["fit", str(tmp_path / "data.npy"), "-k", "3", "--random-state", "0",
                     "-q", "-o", str(tmp_path / "model.npz")]) == 0
    return tmp_path


def run_cli(*argv):
    return subprocess.run([sys.executable, "-m", "fastem", *map(str, argv)], cwd=REPO_ROOT,
                          env=child_env(), capture_output=True, text=True, timeout=240)


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_predict_refuses_to_overwrite_its_input(cli_files):
    """Used to truncate the memory-mapped input and die of SIGBUS (rc 135)."""
    data, model = cli_files / "data.npy", cli_files / "model.npz"
    before = digest(data), digest(model)
    result = run_cli("predict", model, data, "-o", data)
    assert result.returncode == 1, result.stderr
    assert "fastem: error:" in result.stderr and "input" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_cli("predict", model, data, "-o", model)
    assert result.returncode == 1, result.stderr
    assert (digest(data), digest(model)) == before


@pytest.mark.parametrize("link", ["symlink", "hardlink", "dotted path"])
def test_output_that_is_a_link_to_an_input_is_refused(cli_files, capsys, link):
    data, model = cli_files / "data.npy", cli_files / "model.npz"
    before = digest(data), digest(model)
    for target in (data, model):
        alias = cli_files / f"alias_{target.stem}.npy"
        if link == "symlink":
            alias.symlink_to(target)
        elif link == "hardlink":
            os.link(target, alias)
        else:
            alias = cli_files / "." / ".." / cli_files.name / target.name
        commands = [["predict", model, data, "-o", alias]]
        if target == data:  # the model is no input of fit
            commands.append(["fit", data, "-k", "2", "-q", "-o", alias])
        for argv in commands:
            assert cli.main([str(a) for a in argv]) == 1
            assert "is an input" in capsys.readouterr().err
    assert (digest(data), digest(model)) == before


def test_failed_predict_keeps_a_preexisting_output(cli_files, data, capsys):
    """An error used to delete the -o file even though predict never opened it."""
    bad = data.copy()
    bad[250, 1] = np.nan
    np.save(cli_files / "nan.npy", bad)
    out = cli_files / "labels.npy"
    out.write_bytes(b"precious")
    assert cli.main(["predict", str(cli_files / "model.npz"), str(cli_files / "nan.npy"),
                     "-o", str(out)]) == 1
    assert "NaN" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert leftovers(cli_files) == []


def test_predict_output_is_written_atomically(cli_files, data):
    out = cli_files / "labels.npy"
    out.write_bytes(b"old")
    os.chmod(out, 0o640)
    assert cli.main(["predict", str(cli_files / "model.npz"), str(cli_files / "data.npy"),
                     "-o", str(out)]) == 0
    assert_array_equal(np.load(out), fastem.load(cli_files / "model.npz").predict(data))
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640
    assert leftovers(cli_files) == []


# ------------------------------------------------------------- 4. save()
def test_concurrent_saves_to_one_path_never_corrupt_it(data, tmp_path):
    """Threads shared one temporary name: 'Bad CRC-32' and FileNotFoundError."""
    models = [GaussianMixture(k, random_state=0).fit(data) for k in (1, 2, 3)]
    path = tmp_path / "m.npz"
    errors = []

    def save(model):
        try:
            for _ in range(5):
                model.save(path)
        except Exception as exc:  # collected: a thread's exception would be lost
            errors.append(exc)

    for _ in range(6):
        threads = [threading.Thread(target=save, args=(m,)) for m in models * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        loaded = fastem.load(path)
        assert any(np.array_equal(loaded.means_, m.means_) for m in models)
    assert errors == []
    assert leftovers(tmp_path) == []


def test_save_keeps_permissions_and_follows_symlinks(data, tmp_path):
    gm = GaussianMixture(2, random_state=0).fit(data)
    path = tmp_path / "m.npz"
    old_umask = os.umask(0o022)
    try:
        gm.save(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # as open() would create it
        os.chmod(path, 0o600)
        gm.save(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        os.umask(old_umask)
    (tmp_path / "sub").mkdir()
    link = tmp_path / "sub" / "link.npz"
    link.symlink_to(path)
    GaussianMixture(3, random_state=0).fit(data).save(link)
    assert link.is_symlink()  # the link stays; the file it points to is replaced
    assert fastem.load(path).means_.shape == (3, 3)
    assert leftovers(tmp_path) == [] and leftovers(tmp_path / "sub") == []


# --------------------------------------------------------- 5. model files
def _with_lower_bounds(path, lower_bounds):
    """The members of the model file at ``path`` with ``lower_bounds_`` replaced, the
    header and its checksums updated to match (a well-formed file, as a tamperer would)."""
    with np.load(path) as archive:
        members = {key: archive[key] for key in archive.files}
    header = json.loads(members.pop("header").tobytes())
    members.pop("header_sha256")
    members["fitted.lower_bounds_"] = lower_bounds
    header["arrays"]["fitted.lower_bounds_"] = {
        "dtype": "<f8", "shape": list(lower_bounds.shape),
        "sha256": hashlib.sha256(lower_bounds.tobytes()).hexdigest()}
    header_bytes = json.dumps(header).encode()
    members["header"] = np.frombuffer(header_bytes, np.uint8)
    members["header_sha256"] = np.frombuffer(hashlib.sha256(header_bytes).digest(), np.uint8)
    return members


def test_compressed_members_are_refused(data, tmp_path):
    """A 390 KB file made ``fastem info`` use 2.38 GB: deflated members are refused."""
    gm = GaussianMixture(2, random_state=0).fit(data)
    gm.save(tmp_path / "m.npz")
    members = _with_lower_bounds(tmp_path / "m.npz", np.zeros(20_000_000))  # 160 MB of zeros
    with open(tmp_path / "bomb.npz", "wb") as f:
        np.savez_compressed(f, **members)
    assert os.path.getsize(tmp_path / "bomb.npz") < 1_000_000
    with pytest.raises(ModelFileError, match="compressed"):
        fastem.load(tmp_path / "bomb.npz")


def test_member_sizes_are_bounded_by_the_header(data, tmp_path):
    """lower_bounds_ can hold at most max_iter values: refused before it is read."""
    gm = GaussianMixture(2, random_state=0, max_iter=10).fit(data)
    gm.save(tmp_path / "m.npz")
    members = _with_lower_bounds(tmp_path / "m.npz", np.zeros(1000))
    with open(tmp_path / "long.npz", "wb") as f:
        np.savez(f, **members)
    with pytest.raises(ModelFileError, match="lower_bounds_.*n_iter_"):
        fastem.load(tmp_path / "long.npz")


def _npz_with_header(path, header_bytes):
    with open(path, "wb") as f:
        np.savez(f, header=np.frombuffer(header_bytes, np.uint8),
                 header_sha256=np.frombuffer(hashlib.sha256(header_bytes).digest(), np.uint8))


def test_deeply_nested_or_huge_headers_are_model_file_errors(tmp_path):
    _npz_with_header(tmp_path / "deep.npz", b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ModelFileError, match="header"):
        fastem.load(tmp_path / "deep.npz")
    _npz_with_header(tmp_path / "big.npz", b'{"format": "' + b"x" * (20 * 2**20) + b'"}')
    with pytest.raises(ModelFileError, match="header"):
        fastem.load(tmp_path / "big.npz")


def test_a_fifo_is_refused_without_hanging(tmp_path, capsys):
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    code = f"""
    import fastem
    try:
        fastem.load({str(fifo)!r})
    except fastem._io.ModelFileError as exc:
        print('ModelFileError:', exc)
    """
    rc, out, err = run_child(code, timeout=60)
    assert rc == 0, err
    assert "not a regular file" in out
    assert cli.main(["info", str(fifo)]) == 1
    assert "not a regular file" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"hello", b"PK\x03\x04garbage", b"\x80\x04K\x01.",
                                     b"\x93NUMPY\x01\x00"])
def test_foreign_file_is_not_a_model_file_and_no_pickle_advice(tmp_path, content):
    """Issue 12, item 10: never suggest allow_pickle for a foreign file."""
    path = tmp_path / "foreign.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="not a fastem model file") as info:
        fastem.load(path)
    assert "pickle" not in str(info.value).lower()


# ---------------------------------------------------------------- 6. Ctrl-C
INTERRUPT_CHILD = """
import os, signal, sys, threading, time, warnings
import numpy as np
moment = sys.argv[1]
rng = np.random.RandomState(0)
X = np.vstack([rng.randn(20000, 6) + j for j in range(4)])  # overlapping: a long fit
import fastem
from fastem import _init
gm = fastem.GaussianMixture(4, random_state=0, tol=1e-9, max_iter=40)
if moment == 'warm':
    gm.set_params(max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        gm.fit(X[:1000])
    gm.set_params(max_iter=40)
before = {k: np.copy(v) for k, v in vars(gm).items() if k.endswith('_') and k[0] != '_'}

if moment[0].isdigit():  # a delay in seconds
    threading.Timer(float(moment[:-1]), os.kill, (os.getpid(), signal.SIGINT)).start()
elif moment == 'kmeans':
    original = _init.kmeans_labels
    def kmeans_labels(*args, **kwargs):
        print('KMEANS', flush=True)
        return original(*args, **kwargs)
    _init.kmeans_labels = kmeans_labels
elif moment in ('em', 'warm'):
    from fastem._base import reporting_iterations
    def report(n_iter, *_):
        if n_iter == 2:
            print('EM', flush=True)
    cm = reporting_iterations(report)
    cm.__enter__()
try:
    gm.fit(X)
    print('NOT INTERRUPTED')
except KeyboardInterrupt:
    print('INTERRUPTED')
after = {k: v for k, v in vars(gm).items() if k.endswith('_') and k[0] != '_'}
assert sorted(after) == sorted(before), (sorted(after), sorted(before))
for k in before:
    assert np.array_equal(np.asarray(before[k]), np.asarray(after[k])), k
print('INTACT', flush=True)
if moment in ('em', 'warm'):
    cm.__exit__(None, None, None)
if moment == 'kmeans':
    _init.kmeans_labels = original
gm = fastem.GaussianMixture(4, random_state=0, tol=1e-9, max_iter=40).fit(X)
print('MEANS', np.sort(gm.means_[:, 0]).tolist())
"""


def interrupted_child(moment, marker=None):
    """Run INTERRUPT_CHILD; SIGINT from inside (a delay) or from here at ``marker``."""
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPT_CHILD, moment], cwd=REPO_ROOT,
                            env=child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    lines = []
    if marker is not None:
        for line in proc.stdout:
            lines.append(line)
            if line.strip() == marker:
                time.sleep(0.02)  # inside the compiled k-means / EM kernels by now
                proc.send_signal(signal.SIGINT)
                break
    out, err = proc.communicate(timeout=240)
    return proc.returncode, "".join(lines) + out, err


@pytest.fixture(scope="module")
def reference_means():
    code = INTERRUPT_CHILD.replace("moment = sys.argv[1]", "moment = 'none'")
    code = code.replace("gm.fit(X)\n", "pass\n", 1)
    rc, out, err = run_child(code)
    assert rc == 0, err
    return [line for line in out.splitlines() if line.startswith("MEANS")]


@pytest.mark.parametrize("moment,marker", [("0.1s", None), ("0.3s", None), ("0.6s", None),
                                           ("kmeans", "KMEANS"), ("em", "EM"),
                                           ("warm", "EM")])
def test_ctrl_c_during_a_first_fit(moment, marker, reference_means):
    rc, out, err = interrupted_child(moment, marker)
    assert rc == 0, err
    assert "SystemError" not in err and "Traceback" not in err, err
    assert "INTACT" in out, out
    if marker is not None:
        assert "INTERRUPTED" in out
    means = [line for line in out.splitlines() if line.startswith("MEANS")]
    assert means == reference_means


@pytest.mark.parametrize("delay", [0.05, 0.2])
def test_ctrl_c_during_a_first_predict(tmp_path, data, delay):
    """The first predict of a process also imports numba lazily."""
    GaussianMixture(3, random_state=0).fit(data).save(tmp_path / "m.npz")
    np.save(tmp_path / "X.npy", data)
    code = f"""
    import os, signal, threading
    import numpy as np, fastem
    model = fastem.load({str(tmp_path / "m.npz")!r})
    X = np.load({str(tmp_path / "X.npy")!r})
    threading.Timer({delay}, os.kill, (os.getpid(), signal.SIGINT)).start()
    try:
        for _ in range(20):
            model.predict(X)
    except KeyboardInterrupt:
        print('INTERRUPTED')
    print('LABELS', model.predict(X).tolist())
    """
    rc, out, err = run_child(code)
    assert rc == 0, err
    labels = [line for line in out.splitlines() if line.startswith("LABELS")]
    assert labels == ["LABELS " + str(fastem.load(tmp_path / "m.npz").predict(data).tolist())]


def test_interrupt_wrapped_in_a_system_error_is_a_keyboard_interrupt(data, monkeypatch):
    """A Ctrl-C noticed inside a compiled call surfaced as 'SystemError:
    CPUDispatcher(<function lloyd_step ...>) returned a result with an exception set'."""
    from fastem import _init

    def interrupted_kernels():
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise SystemError("CPUDispatcher(<function lloyd_step>) returned a result "
                              "with an exception set") from exc

    gm = GaussianMixture(3, random_state=0).fit(data)
    before = {k: np.copy(v) for k, v in fitted_state(gm).items()}
    monkeypatch.setattr(_init, "_kernels", interrupted_kernels)
    with pytest.raises(KeyboardInterrupt):
        gm.fit(data)
    for key, value in before.items():
        assert_array_equal(getattr(gm, key), value)
    monkeypatch.undo()
    other = SystemError("a genuine SystemError")
    monkeypatch.setattr(_init, "_kernels", lambda: (_ for _ in ()).throw(other))
    with pytest.raises(SystemError, match="genuine"):
        gm.fit(data)


def test_cli_ctrl_c_prints_interrupted_and_keeps_the_model(cli_files):
    data, model = cli_files / "big.npy", cli_files / "model.npz"
    rng = np.random.RandomState(0)
    np.save(data, np.vstack([rng.randn(40000, 6) + 4 * j for j in range(4)]))
    before = digest(model)
    proc = subprocess.Popen([sys.executable, "-m", "fastem", "fit", str(data), "-k", "4",
                             "--tol", "1e-12", "-o", str(model)], cwd=REPO_ROOT,
                            env=child_env(), stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    with proc:
        for line in proc.stderr:
            if line.split()[:1] == ["2"]:  # the progress line of EM iteration 2
                proc.send_signal(signal.SIGINT)
                break
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == 130, err
    assert "fastem: interrupted" in err and "Traceback" not in err
    assert digest(model) == before
    assert leftovers(cli_files) == []


# -------------------------------------------------------------- 7. overflow
@pytest.mark.parametrize("case", ["huge data", "huge means_init"])
def test_overflow_raises_a_clear_error(case):
    rng = np.random.RandomState(0)
    X = rng.randn(200, 2)
    kwargs = {}
    if case == "huge data":
        X = X * 1e160
    else:
        kwargs = dict(means_init=np.full((2, 2), 1e300))
    gm = GaussianMixture(2, random_state=0, **kwargs)
    with np.errstate(all="ignore"), pytest.raises(ValueError, match="[Ss]cale the (input )?data"):
        gm.fit(X)
    assert fitted_state(gm) == {}


def test_float32_data_too_coarse_around_its_offset_warns():
    rng = np.random.RandomState(0)
    X = (1e8 + rng.randn(500, 2)).astype(np.float32)  # float32 steps of 8 around 1e8
    with pytest.warns(UserWarning, match="float32.*resolution"):
        GaussianMixture(2, random_state=0).fit(X)
    # The same spread around 0, or in float64, is fine (filterwarnings = error).
    GaussianMixture(2, random_state=0).fit((X - np.float32(1e8)))
    GaussianMixture(2, random_state=0).fit(1e8 + rng.randn(500, 2))


# ------------------------------------------------------------------ 9. low
@pytest.mark.parametrize("estimator", ["memmap", "semi-supervised", "all init given"])
def test_max_iter_0_still_checks_for_nan(tmp_path, estimator):
    X = np.random.RandomState(0).randn(300, 2)
    X[200, 1] = np.nan
    if estimator == "memmap":
        np.save(tmp_path / "X.npy", X)
        X = np.load(tmp_path / "X.npy", mmap_mode="r")
        gm = GaussianMixture(2, max_iter=0, init_max_samples=100, random_state=0)
        fit = lambda: gm.fit(X)  # noqa: E731
    elif estimator == "semi-supervised":
        np.save(tmp_path / "X.npy", X)
        X = np.load(tmp_path / "X.npy", mmap_mode="r")
        y = np.full(300, -1)
        y[:3], y[3:6] = 0, 1
        gm = SemiSupervisedGaussianMixture(max_iter=0)
        fit = lambda: gm.fit(X, y)  # noqa: E731
    else:
        np.save(tmp_path / "X.npy", X)
        X = np.load(tmp_path / "X.npy", mmap_mode="r")
        gm = GaussianMixture(2, max_iter=0, weights_init=[0.5, 0.5],
                             means_init=[[0, 0], [1, 1]], precisions_init=np.ones((2, 2, 2))
                             * np.eye(2))
        fit = lambda: gm.fit(X)  # noqa: E731
    with pytest.raises(ValueError, match="NaN.*row 200"):
        fit()


@pytest.mark.parametrize("size", ["1e400MB", "infMB", "nanMB", "-infMB", "0.0000001B"])
def test_bad_chunk_sizes_are_clear_errors(data, size, capsys, tmp_path):
    with pytest.raises(ValueError, match="chunk_size"):
        GaussianMixture(2, chunk_size=size).fit(data)
    np.save(tmp_path / "data.npy", data)
    assert cli.main(["fit", str(tmp_path / "data.npy"), "-k", "2", "--chunk-size", size,
                     "-o", str(tmp_path / "m.npz")]) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["datetime64", "timedelta64", "structured"])
def test_dates_and_records_are_not_silently_cast(kind):
    if kind == "datetime64":
        X = np.arange(20).reshape(10, 2).astype("datetime64[s]")
    elif kind == "timedelta64":
        X = np.arange(20).reshape(10, 2).astype("timedelta64[s]")
    else:
        X = np.zeros((10, 2), dtype=[("a", "f8")])
    with pytest.raises((TypeError, ValueError), match="dtype"):
        GaussianMixture(2).fit(X)


def test_wrapped_minus_one_in_unsigned_labels_is_refused(data):
    y = np.full(300, -1)
    y[:5], y[100:105], y[200:205] = 0, 1, 2
    with pytest.raises(ValueError, match="-1.*unsigned|unsigned.*-1"):
        SemiSupervisedGaussianMixture().fit(data, y.astype(np.uint64))


@pytest.mark.parametrize("scale", [1e308, 1e-320])
def test_extreme_but_equal_sample_weights_give_the_unweighted_fit(data, scale):
    """The fit does not depend on the weights' scale (scikit-learn: no weights)."""
    from sklearn.mixture import GaussianMixture as SkGM
    start = sklearn_start(data, 3, "full")
    ours = GaussianMixture(3, **start).fit(data, sample_weight=np.full(300, scale))
    theirs = SkGM(3, **start).fit(data)
    assert_allclose(ours.means_, theirs.means_, rtol=1e-10, atol=1e-10)
    assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=1e-10)


def test_truncated_npy_is_reported_as_truncated(tmp_path, data, capsys):
    np.save(tmp_path / "data.npy", data)
    raw = (tmp_path / "data.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[:len(raw) // 2])
    assert cli.main(["fit", str(tmp_path / "cut.npy"), "-k", "2", "-o",
                     str(tmp_path / "m.npz")]) == 1
    err = capsys.readouterr().err.replace(str(tmp_path), "<dir>")
    assert "is truncated" in err and "not a numeric" not in err


# ----------------------------------------------------------------- 10. docs
def test_readme_says_how_far_a_model_file_is_trusted():
    with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    assert "### Model files" in text
    section = text.split("### Model files", 1)[1].split("\n#", 1)[0]
    assert "trusted" in section and "never executes code" in section
