"""`python -m fastem.bench` at tiny sizes: the table, its oneDAL columns with and without
oneDAL, the warm-up, the compile-time line and --contention."""
import io
import os
import re
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("sklearn")

from conftest import run_python  # noqa: E402

from fastem import bench  # noqa: E402

TINY = ["--rows", "2000", "--iters", "2", "--iris-seconds", "0.1",
        "--no-compile-time"]
ROWS = (("W1", "full"), ("W7", "full"), ("W2", "full"), ("W3", "diag"),
        ("W4", "spherical"), ("W5", "tied"))


def run_bench(argv):
    out = io.StringIO()
    assert bench.main(argv, out=out) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def table():
    return run_bench(TINY + ["--no-onedal"])


def _row(text, name):
    rows = [line for line in text.splitlines() if line.startswith(name + " ")]
    assert len(rows) == 1, f"expected one {name} row in:\n{text}"
    return rows[0]


def _gemm_pct(row):
    return float(re.search(r"(\S+)%", row).group(1))


def test_table_has_every_workload(table):
    for name, cov in ROWS:
        row = _row(table, name)
        assert cov in row and "N=2000" in row
        assert ("f32" if name == "W7" else "f64") in row
        assert re.search(r"thr=\S+", row)  # sklearn's faster threading mode is named
        assert row.split()[10:12] == ["skipped", "-"]  # --no-onedal: no time, no ratio
        assert 0 < _gemm_pct(row) < 100  # fastem below the machine's GEMM throughput
    assert "whole fit" in _row(table, "W6") and "us" in _row(table, "W6")
    assert re.search(r"fastem \S+ ms, sklearn loop \S+ ms \(thr=\S+\), skl/fe \S+x",
                     _row(table, "W8"))
    assert re.search(r"float32 speed-up over float64: fastem \S+x, sklearn \S+x;", table)
    assert "numpy GEMM 1000^3" in table
    assert not re.search(r"^compile:", table, re.MULTILINE)  # --no-compile-time
    assert re.search(r"total \d+\.\d s$", table.rstrip())  # the last line: how long it took


def test_lower_bounds_agree_with_sklearn(table):
    # Same start, same iterations: the lower bounds agree to rounding of the dtype.
    for name, _ in ROWS:
        lb_diff_sklearn = float(_row(table, name).split()[-2])
        assert lb_diff_sklearn < (1e-5 if name == "W7" else 1e-8), _row(table, name)
    f32_vs_f64 = re.search(r"fastem LB diff f32 vs f64 (\S+)", table).group(1)
    assert float(f32_vs_f64) < 1e-4


def test_positive_speeds(table):
    for name, _ in ROWS:
        fields = _row(table, name).split()
        assert float(fields[6]) > 0 and float(fields[7]) > 0  # fastem and sklearn s/it
        assert float(fields[9].rstrip("x")) > 0


def test_onedal_missing_says_not_installed(monkeypatch):
    monkeypatch.setattr(bench, "_import_daal4py", lambda: None)
    text = run_bench(TINY + ["--types", "diag,tied"])
    assert "oneDAL not installed" in text
    for name in ("W3", "W5"):
        assert _row(text, name).split()[10:12] == ["not", "installed"]


def test_onedal_note():
    opts = bench.parse_args([])
    assert bench.onedal_note("full", opts, None) == "not installed"
    assert bench.onedal_note("tied", opts, object()) == "n/a"
    assert bench.onedal_note("diag", opts, object()) is None
    opts = bench.parse_args(["--no-onedal"])
    assert bench.onedal_note("full", opts, None) == "skipped"
    assert bench.onedal_note("full", opts, object()) == "skipped"


def test_onedal_rows_have_numbers():
    pytest.importorskip("daal4py")
    text = run_bench(TINY + ["--types", "diag,full"])
    assert "oneDAL installed" in text
    for name in ("W1", "W7", "W2", "W3"):
        fields = _row(text, name).split()
        assert float(fields[10]) > 0 and float(fields[11].rstrip("x")) > 0
        # oneDAL from the same start reaches sklearn's log-likelihood (not to rounding:
        # measured 4e-9 to 5e-8 relative, its EM differs in details).
        assert float(fields[-1]) < 1e-6, fields
    assert re.search(r"float32 speed-up over float64: .*oneDAL \S+x", text)


def test_types_and_dtype_options():
    text = run_bench(["--rows", "1000", "--iters", "1", "--gemm-size", "500", "--no-onedal",
                      "--no-compile-time", "--types", "tied", "--dtype", "float32"])
    assert "tied" in _row(text, "W5") and "f32" in _row(text, "W5")
    assert not any(line.startswith(("W1 ", "W6 ", "W7 ")) for line in text.splitlines())


@pytest.mark.parametrize("argv, message", [
    (["--types", "banana"], "unknown covariance types"),
    (["--gemm-size", "128"], "--gemm-size must be >= 500"),
    (["--contention", "-1"], "--contention must be >= 0"),
])
def test_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_sklearn_names_the_bench_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes 'import sklearn' fail
    monkeypatch.setitem(sys.modules, "sklearn.mixture", None)
    with pytest.raises(SystemExit, match=r"pip install fastem\[bench\]"):
        bench.main(["--rows", "100"])


def test_model_flops():
    assert bench.model_flops("full", 10, 4, 3) == 2 * 10 * 3 * 16
    assert bench.model_flops("tied", 10, 4, 3) == 2 * 10 * 16 + 4 * 10 * 3 * 4


# A fresh interpreter, so that no kernel is already loaded by other tests: every
# compiled kernel fastem has after the warm-up fit, before and after the timed fit.
WARM_UP_PROBE = """
import sys
import numpy as np
from fastem import bench, _config

def compiled():
    return {(name, attr): tuple(map(str, obj.signatures))
            for name, module in list(sys.modules.items()) if name.startswith("fastem")
            for attr, obj in list(vars(module).items())
            if hasattr(obj, "py_func") and hasattr(obj, "signatures")}

snapshots = []
def spying_time_fit(make_model, X, repeat):
    snapshots.append(compiled())
    result = original(make_model, X, repeat)
    snapshots.append(compiled())
    return result

original, bench.time_fit = bench.time_fit, spying_time_fit
X = bench.make_blobs(3 * _config.PARTITION_ROWS + 5, 5, 3, np.float32)
bench.time_fastem(X, 3, COVARIANCE_TYPE, 2, 1)
warm_up_before, warm_up_after, timed_before, timed_after = snapshots
assert warm_up_after != warm_up_before, "the warm-up compiled nothing"
new = {k: v for k, v in timed_after.items() if timed_before.get(k) != v}
print("compiled inside the timed fit:", new)
"""


@pytest.mark.parametrize("covariance_type", ["full", "spherical"])
def test_warm_up_compiles_what_the_timed_fit_runs(covariance_type):
    # More rows than one partition, float32: the timed fit takes the multi-partition path.
    code = WARM_UP_PROBE.replace("COVARIANCE_TYPE", repr(covariance_type))
    out = run_python(code, timeout=600)
    assert out.strip().endswith("compiled inside the timed fit: {}"), out


def test_compile_time_line():
    with_compile_time = [arg for arg in TINY if arg != "--no-compile-time"]
    text = run_bench(with_compile_time + ["--no-onedal", "--types", "spherical"])
    line = _row(text, "compile:")
    assert "spherical" in line and "excluded from the table" in line
    cold_fit, cold_predict, warm_fit, warm_predict = map(float, re.findall(r"(\d+\.\d+) s", line))
    assert cold_fit > warm_fit > 0  # the empty cache compiled, the warm one loaded
    assert cold_predict > warm_predict > 0


def _gone(pid):
    """The process has exited (a zombie waiting for a reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def _wait_gone(pid, seconds=10):
    deadline = time.monotonic() + seconds
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _gone(pid)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_cpu_hogs_are_killed_on_error():
    with pytest.raises(KeyboardInterrupt):
        with bench.cpu_hogs(2) as pids:
            assert len(pids) == 2 and not any(_gone(pid) for pid in pids)
            raise KeyboardInterrupt  # Ctrl-C in the middle of the benchmark
    assert all(_gone(pid) for pid in pids)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_cpu_hogs_exit_when_the_benchmark_is_killed():
    code = ("import os, signal\nfrom fastem import bench\n"
            "with bench.cpu_hogs(1) as pids:\n"
            "    print(pids[0], flush=True)\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (
        os.path.dirname(os.path.dirname(bench.__file__)), os.environ.get("PYTHONPATH")))))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == -signal.SIGKILL
    assert _wait_gone(int(done.stdout.split()[0]))


def test_contention_table():
    text = run_bench(TINY + ["--no-onedal", "--types", "full", "--iters", "1",
                             "--contention", "1"])
    assert "Under load: 1 CPU-bound process(es)" in text
    busy = text[text.index("Under load"):]
    for name in ("W1", "W7", "W2"):
        fields = _row(busy, name).split()
        quiet_fe, busy_fe, slowdown = float(fields[6]), float(fields[7]), fields[8]
        assert float(slowdown.rstrip("x")) == pytest.approx(busy_fe / quiet_fe, rel=0.02)
    assert re.search(r"W6 iris whole fit: fastem quiet \d+ us, busy \d+ us", busy)
