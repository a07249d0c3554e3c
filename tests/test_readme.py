"""Every ```python block of README.md runs as written.

Each block runs in a fresh interpreter (cwd: an empty temporary directory, this
checkout first on PYTHONPATH) and must exit 0 without printing any warning.
"""
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

README = os.path.join(REPO_ROOT, "README.md")
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
# Third-party packages the blocks import, beyond fastem's own dependencies.
OPTIONAL = {"sklearn": "scikit-learn", "dask": "dask", "distributed": "distributed",
            "matplotlib": "matplotlib"}


def readme_blocks():
    with open(README, encoding="utf-8") as f:
        text = f.read()
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in BLOCK.finditer(text)]


BLOCKS = readme_blocks()


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 8


def _missing_package(code):
    for module, package in OPTIONAL.items():
        if re.search(rf"^\s*(import|from) {module}\b", code, re.MULTILINE):
            try:
                __import__(module)
            except ImportError:
                return package
    return None


@pytest.mark.parametrize("line, code", BLOCKS, ids=[f"line{line}" for line, _ in BLOCKS])
def test_readme_block_runs(line, code, tmp_path):
    missing = _missing_package(code)
    if missing:
        pytest.skip(f"README block at line {line} needs {missing}")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (REPO_ROOT, os.environ.get("PYTHONPATH")) if p), MPLBACKEND="Agg")
    env.pop("PYTHONWARNINGS", None)  # the interpreter's default: warnings are printed
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    report = f"README.md block at line {line}:\n{code}\nstderr:\n{done.stderr}"
    assert done.returncode == 0, report
    assert "Warning" not in done.stderr, report
