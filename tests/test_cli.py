"""The ``fastem`` command line: fit / predict / score / info / bench, and its errors."""
import os
import pickle
import subprocess
import sys
import types

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import fastem
from fastem import GaussianMixture, cli

from conftest import REPO_ROOT, separated_blobs


class PickleBomb:
    """Unpickling this creates a directory: proof that something was unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Data files, and a model fitted through the command line, shared by the tests."""
    d = tmp_path_factory.mktemp("cli")
    X, truth = separated_blobs(n_samples=600, n_features=3, n_centers=3, seed=2)
    paths = {"dir": d, "data": d / "data.npy", "model": d / "model.npz"}
    np.save(paths["data"], X)
    np.save(d / "X2.npy", X[:, :2])
    np.save(d / "flat.npy", X[:, 0])
    np.save(d / "cube.npy", X.reshape(600, 3, 1))
    np.save(d / "text.npy", X.astype(str))
    X_nan = X.copy()
    X_nan[7, 1] = np.nan
    np.save(d / "nan.npy", X_nan)
    np.savez(d / "archive.npz", X=X)
    np.save(d / "objects.npy", np.array([[PickleBomb(d / "unpickled")]], dtype=object),
            allow_pickle=True)
    y = np.full(600, -1)
    for c in range(3):
        y[np.flatnonzero(truth == c)[:10]] = c
    paths["labels"] = d / "labels.npy"
    np.save(paths["labels"], y)
    np.save(d / "labels_short.npy", y[:100])
    np.save(d / "labels_float.npy", y + 0.5)
    assert cli.main(["fit", str(paths["data"]), "-k", "3", "--random-state", "0", "-q",
                     "-o", str(paths["model"])]) == 0
    return paths


def run(capsys, *argv):
    """(exit status, stdout, stderr) of ``fastem argv`` run in-process."""
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


# ---------------------------------------------------------------------- fit
def test_fit_equals_the_estimator_and_reports_every_iteration(files, tmp_path, capsys):
    X = np.load(files["data"], mmap_mode="r")
    status, out, err = run(capsys, "fit", files["data"], "-k", 3, "--covariance-type",
                           "diag", "--random-state", 1, "-o", tmp_path / "m.npz")
    assert status == 0 and out == ""
    model = fastem.load(tmp_path / "m.npz")
    expected = GaussianMixture(3, covariance_type="diag", random_state=1).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert_array_equal(getattr(model, name), getattr(expected, name))
    assert model.lower_bounds_ == expected.lower_bounds_

    lines = err.splitlines()
    assert "3 'diag' components" in lines[0] and "600 rows x 3 features" in lines[0]
    assert lines[1].split() == ["iter", "mean", "log-lik", "change", "seconds"]
    rows = [line.split() for line in lines[2:2 + expected.n_iter_]]
    assert [int(r[0]) for r in rows] == list(range(1, expected.n_iter_ + 1))
    assert_allclose([float(r[1]) for r in rows], expected.lower_bounds_, rtol=0, atol=1e-8)
    assert rows[0][2] == "-"  # no change at the first iteration
    assert_allclose([float(r[2]) for r in rows[1:]], np.diff(expected.lower_bounds_),
                    rtol=1e-4)
    assert all(float(r[3]) >= 0 for r in rows)
    assert "converged" in lines[-1] and str(tmp_path / "m.npz") in lines[-1]


def test_fit_in_chunks_equals_fit_in_one_piece(files, tmp_path, capsys):
    for name, extra in (("whole", []), ("chunked", ["--chunk-size", 4096])):
        assert run(capsys, "fit", files["data"], "-k", 3, "--random-state", 0, "-q",
                   *extra, "-o", tmp_path / f"{name}.npz")[0] == 0
    whole, chunked = fastem.load(tmp_path / "whole.npz"), fastem.load(tmp_path / "chunked.npz")
    assert chunked.chunk_size == 4096 and whole.chunk_size is None
    assert_array_equal(chunked.means_, whole.means_)
    assert chunked.lower_bounds_ == whole.lower_bounds_


def test_fit_reports_non_convergence_as_a_warning(files, tmp_path, capsys):
    status, _, err = run(capsys, "fit", files["data"], "-k", 3, "--max-iter", 1,
                         "--tol", 0, "-o", tmp_path / "m.npz")
    assert status == 0
    assert "fastem: warning: Best performing initialization did not converge" in err
    assert not fastem.load(tmp_path / "m.npz").converged_


def test_semi_supervised_fit(files, tmp_path, capsys):
    semi = pytest.importorskip("fastem.semi_supervised")
    status, _, err = run(capsys, "fit", files["data"], "--labels", files["labels"],
                         "--covariance-type", "spherical", "--unlabeled-weight", 0.5,
                         "-o", tmp_path / "semi.npz")
    assert status == 0
    assert "semi-supervised" in err and "mean log-lik" in err
    model = fastem.load(tmp_path / "semi.npz")
    X, y = np.load(files["data"]), np.load(files["labels"])
    expected = semi.SemiSupervisedGaussianMixture(
        covariance_type="spherical", unlabeled_weight=0.5).fit(X, y)
    assert type(model) is type(expected)
    assert_array_equal(model.classes_, expected.classes_)
    assert_array_equal(model.means_, expected.means_)
    assert sum(line.strip()[:1].isdigit() for line in err.splitlines()) == expected.n_iter_

    assert run(capsys, "predict", tmp_path / "semi.npz", files["data"],
               "-o", tmp_path / "classes.npy")[0] == 0
    assert_array_equal(np.load(tmp_path / "classes.npy"), expected.predict(X))
    status, out, _ = run(capsys, "score", tmp_path / "semi.npz", files["data"])
    assert status == 0
    assert float(out) == GaussianMixture.score(expected, X)  # the mixture's log-likelihood


# ----------------------------------------------------- predict, score, info
@pytest.mark.parametrize("proba", [False, True])
def test_predict_writes_labels_or_probabilities(files, tmp_path, capsys, monkeypatch, proba):
    model = fastem.load(files["model"])
    X = np.load(files["data"])
    expected = model.predict_proba(X) if proba else model.predict(X)
    monkeypatch.setattr(cli, "CHUNK_ROWS", 128)  # several chunks into the output file
    status, out, err = run(capsys, "predict", files["model"], files["data"],
                           "-o", tmp_path / "out.npy", *(["--proba"] if proba else []))
    assert (status, out, err) == (0, "", "")
    result = np.load(tmp_path / "out.npy", allow_pickle=False)
    assert result.dtype == expected.dtype
    assert_array_equal(result, expected)


def test_score_is_the_mean_log_likelihood(files, capsys):
    model = fastem.load(files["model"])
    X = np.load(files["data"])
    # Independent reference: scipy densities of the stored parameters.
    log_dens = np.column_stack([
        np.log(w) + multivariate_normal(mean, cov).logpdf(X)
        for w, mean, cov in zip(model.weights_, model.means_, model.covariances_)])
    status, out, _ = run(capsys, "score", files["model"], files["data"])
    assert status == 0
    assert_allclose(float(out), logsumexp(log_dens, axis=1).mean(), rtol=1e-12)


def test_info_describes_the_model(files, capsys):
    model = fastem.load(files["model"])
    status, out, _ = run(capsys, "info", files["model"])
    assert status == 0
    fields = dict(line.split(":", 1) for line in out.splitlines())
    assert fields["class"].split()[0] == "GaussianMixture"
    assert fields["covariance type"].strip() == "full"
    assert fields["components"].strip() == "3" and fields["features"].strip() == "3"
    assert fields["converged"].strip() == f"yes, after {model.n_iter_} iteration(s)"
    assert float(fields["lower bound"].split()[0]) == pytest.approx(model.lower_bound_)


def test_help_and_bench_dispatch(capsys, monkeypatch):
    assert cli.main(["--help"]) == 0
    assert "bench" in capsys.readouterr().out
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"fastem {fastem.__version__}"
    calls = []
    fake = types.ModuleType("fastem.bench")
    fake.main = lambda argv=None: calls.append(argv) or 7
    monkeypatch.setitem(sys.modules, "fastem.bench", fake)
    monkeypatch.setattr(fastem, "bench", fake, raising=False)
    assert cli.main(["bench", "--preset", "small", "-h"]) == 7
    assert calls == [["--preset", "small", "-h"]]


# ------------------------------------------------------------------ errors
def _newer_model(files):
    import hashlib
    import json
    path = files["dir"] / "newer.npz"
    with np.load(files["model"], allow_pickle=False) as archive:
        members = {key: archive[key] for key in archive.files}
    header = json.loads(members["header"].tobytes())
    header["format_version"] += 1
    text = json.dumps(header).encode()
    members["header"] = np.frombuffer(text, np.uint8)
    members["header_sha256"] = np.frombuffer(hashlib.sha256(text).digest(), np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **members)
    return path


def _truncated_model(files):
    path = files["dir"] / "truncated.npz"
    raw = files["model"].read_bytes()
    path.write_bytes(raw[:len(raw) // 2])
    return path


# (argv with {placeholders}, message expected on stderr)
DATA_ERRORS = {
    "fit, missing data": ("fit {dir}/none.npy -k 2 -o {dir}/m.npz", "none.npy: no such file"),
    "predict, missing model": ("predict {dir}/none.npz {data} -o {dir}/o.npy",
                               "none.npz: no such file"),
    "predict, missing data": ("predict {model} {dir}/none.npy -o {dir}/o.npy",
                              "none.npy: no such file"),
    "fit, 1-D array": ("fit {dir}/flat.npy -k 2 -o {dir}/m.npz",
                       "expected a 2-D array (rows x features), got a 1-D array"),
    "score, 3-D array": ("score {model} {dir}/cube.npy", "got a 3-D array"),
    "fit, strings": ("fit {dir}/text.npy -k 2 -o {dir}/m.npz", "expected a numeric array"),
    "fit, object array": ("fit {dir}/objects.npy -k 2 -o {dir}/m.npz",
                          "not a numeric .npy array file"),
    "fit, npz data": ("fit {dir}/archive.npz -k 2 -o {dir}/m.npz", "is an .npz archive"),
    "fit, NaN": ("fit {dir}/nan.npy -k 2 -o {dir}/m.npz", "contains NaN"),
    "predict, feature mismatch": ("predict {model} {dir}/X2.npy -o {dir}/o.npy",
                                  "X2.npy has 2 features (columns) but the model"),
    "score, feature mismatch": ("score {model} {dir}/X2.npy", "was fitted on 3"),
    "info, truncated model": ("info {truncated}", "is corrupt or not a fastem model file"),
    "predict, truncated model": ("predict {truncated} {data} -o {dir}/o.npy",
                                 "is corrupt or not a fastem model file"),
    "info, foreign .npy": ("info {data}", "data.npy is not a fastem model file"),
    "score, foreign .npz": ("score {dir}/archive.npz {data}",
                            "archive.npz is not a fastem model file"),
    "info, newer model": ("info {newer}", "newer fastem"),
    "fit, output directory missing": ("fit {data} -k 2 -o {dir}/no/m.npz", "does not exist"),
    "fit, too many components": ("fit {dir}/X2.npy -k 700 -o {dir}/m.npz",
                                 "n_samples >= n_components"),
    "fit, labels of another length": ("fit {data} --labels {dir}/labels_short.npy "
                                      "-o {dir}/m.npz", "has 100 labels but the data has 600"),
    "fit, non-integer labels": ("fit {data} --labels {dir}/labels_float.npy -o {dir}/m.npz",
                                "labels must be integers"),
}


@pytest.mark.parametrize("case", sorted(DATA_ERRORS))
def test_data_and_model_errors_exit_1(files, capsys, case):
    template, message = DATA_ERRORS[case]
    names = {key: str(value) for key, value in files.items()}
    names.update(truncated=str(_truncated_model(files)), newer=str(_newer_model(files)))
    status, out, err = run(capsys, *template.format(**names).split())
    assert status == 1, err
    # One error report (after the fit's banner line, for fit errors), no traceback.
    report = err[err.index("fastem: error: "):]
    assert report.count("fastem: error: ") == 1 and message in report, err
    assert not (files["dir"] / "unpickled").exists()
    assert not (files["dir"] / "o.npy").exists() and not (files["dir"] / "m.npz").exists()


USAGE_ERRORS = {
    "no command": ("", "required: COMMAND"),
    "unknown command": ("train {data}", "invalid choice: 'train'"),
    "missing -k": ("fit {data} -o {dir}/m.npz", "-k/--n-components"),
    "missing -o": ("fit {data} -k 2", "-o/--output"),
    "bad covariance type": ("fit {data} -k 2 --covariance-type dense -o {dir}/m.npz",
                            "invalid choice: 'dense'"),
    "bad chunk size": ("fit {data} -k 2 --chunk-size 12XB -o {dir}/m.npz", "--chunk-size"),
    "zero components": ("fit {data} -k 0 -o {dir}/m.npz", "must be at least 1"),
    "--mode without --labels": ("fit {data} -k 2 --mode seed -o {dir}/m.npz",
                                "--mode needs --labels"),
    "--n-init with --labels": ("fit {data} --labels {labels} --n-init 3 -o {dir}/m.npz",
                               "--n-init does not apply with --labels"),
    "predict without -o": ("predict {model} {data}", "-o/--output"),
}


@pytest.mark.parametrize("case", sorted(USAGE_ERRORS))
def test_usage_errors_exit_2(files, capsys, case):
    template, message = USAGE_ERRORS[case]
    names = {key: str(value) for key, value in files.items()}
    status, out, err = run(capsys, *template.format(**names).split())
    assert status == 2
    assert err.startswith("usage: fastem") and "error: " in err and message in err


# -------------------------------------------------------------- subprocess
def test_python_m_fastem_in_a_subprocess(files, tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def fastem_run(*argv):
        return subprocess.run([sys.executable, "-m", "fastem", *map(str, argv)], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)

    fit = fastem_run("fit", files["data"], "-k", 3, "--random-state", 0, "-o", "m.npz")
    assert fit.returncode == 0, fit.stderr
    assert fit.stdout == "" and "mean log-lik" in fit.stderr
    model = fastem.load(tmp_path / "m.npz")
    reference = fastem.load(files["model"])  # the same fit, run in-process
    assert_array_equal(model.means_, reference.means_)

    error = fastem_run("predict", "m.npz", files["dir"] / "X2.npy", "-o", "out.npy")
    assert error.returncode == 1
    assert error.stderr.startswith("fastem: error: ") and "Traceback" not in error.stderr
    assert not (tmp_path / "out.npy").exists()
    pickle.dumps(model)  # a loaded model is an ordinary picklable estimator
