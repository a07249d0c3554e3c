"""Smoke test of `python -m fastem.bench` at tiny sizes (seconds with a warm Numba cache)."""
import io
import re
import sys

import pytest

pytest.importorskip("sklearn")

from fastem import bench  # noqa: E402

TINY = ["--rows", "2000", "--iters", "2", "--gemm-size", "128", "--iris-seconds", "0.1",
        "--no-onedal"]


@pytest.fixture(scope="module")
def table():
    out = io.StringIO()
    assert bench.main(TINY, out=out) == 0
    return out.getvalue()


def _row(text, name):
    rows = [line for line in text.splitlines() if line.startswith(name + " ")]
    assert len(rows) == 1, f"expected one {name} row in:\n{text}"
    return rows[0]


def test_table_has_every_workload(table):
    for name, cov in (("W1", "full"), ("W2", "full"), ("W3", "diag"),
                      ("W4", "spherical"), ("W5", "tied")):
        row = _row(table, name)
        assert cov in row and "N=2000" in row
        assert re.search(r"thr=\S+", row)  # sklearn's faster threading mode is named
        assert "skipped" in row  # --no-onedal
    assert "whole fit" in _row(table, "W6") and "us" in _row(table, "W6")
    assert "speed-up" in _row(table, "W7")
    assert "numpy GEMM 128^3" in table


def test_lower_bounds_agree_with_sklearn(table):
    # Same start, same iterations, float64: the lower bounds agree to rounding.
    for name in ("W1", "W2", "W3", "W4", "W5"):
        lb_diff_sklearn = float(_row(table, name).split()[-2])
        assert lb_diff_sklearn < 1e-8, _row(table, name)
    w7 = _row(table, "W7")
    assert float(re.search(r"LB diff f32 vs f64 (\S+)", w7).group(1)) < 1e-4


def test_positive_speeds(table):
    for name in ("W1", "W2", "W3", "W4", "W5"):
        fields = _row(table, name).split()
        ratio = next(f for f in fields if f.endswith("x"))
        assert float(ratio[:-1]) > 0


def test_types_and_dtype_options():
    out = io.StringIO()
    bench.main(["--rows", "1000", "--iters", "1", "--gemm-size", "64", "--no-onedal",
                "--types", "tied", "--dtype", "float32"], out=out)
    text = out.getvalue()
    assert "tied" in _row(text, "W5") and "f32" in _row(text, "W5")
    assert not any(line.startswith(("W1 ", "W6 ", "W7 ")) for line in text.splitlines())


def test_bad_types_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--types", "banana"])
    assert exc.value.code == 2
    assert "unknown covariance types" in capsys.readouterr().err


def test_missing_sklearn_names_the_bench_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes 'import sklearn' fail
    monkeypatch.setitem(sys.modules, "sklearn.mixture", None)
    with pytest.raises(SystemExit, match=r"pip install fastem\[bench\]"):
        bench.main(["--rows", "100"])


def test_model_flops():
    assert bench.model_flops("full", 10, 4, 3) == 2 * 10 * 3 * 16
    assert bench.model_flops("tied", 10, 4, 3) == 2 * 10 * 16 + 4 * 10 * 3 * 4
