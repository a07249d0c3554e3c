"""The layout the code promises: no import cycles between fastem's modules, and
estimators that never look at the type of their input (the row sources do)."""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "fastem"
ESTIMATOR_MODULES = ("_base", "mixture", "bayesian", "semi_supervised", "online", "selection")


def _imports(path, modules):
    """Names of the fastem modules ``path`` imports (``from . import x``, ``from .x import y``,
    anywhere in the file, function-level imports included); a name of the package
    itself (``from . import GaussianMixture``) is an import of ``__init__``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name if alias.name in modules else "__init__"
                             for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fastem."):
            found.add(node.module.split(".")[1])
    return found


def _graph():
    modules = {p.stem: p for p in PACKAGE.glob("*.py")}
    modules.update({p.name: p / "__init__.py" for p in PACKAGE.iterdir()
                    if (p / "__init__.py").exists()})
    return {name: _imports(path, modules) & set(modules) - {name}
            for name, path in modules.items()}


def test_no_import_cycles():
    graph = _graph()
    cycles = []

    def visit(node, path):
        for nxt in sorted(graph[node]):
            if nxt in path:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in done:
                visit(nxt, path + [nxt])
        done.add(node)

    done = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name])
    assert cycles == []


def test_the_graph_sees_real_imports():
    """The cycle test would pass on an empty graph: check it finds known edges."""
    graph = _graph()
    assert {"_base", "_init"} <= graph["mixture"]
    assert "_dask" in graph["_sources"]
    assert "__init__" not in graph["_io"]


@pytest.mark.parametrize("module", ESTIMATOR_MODULES)
def test_estimators_do_not_test_the_input_type(module):
    """memmap, dask or in-memory X: the row source decides, not the estimator."""
    used = set()
    for node in ast.walk(ast.parse((PACKAGE / f"{module}.py").read_text())):
        if isinstance(node, ast.Attribute) and node.attr == "memmap":
            used.add("memmap")
        elif isinstance(node, ast.Name) and node.id in ("DaskRows", "_is_dask", "ArrayRows"):
            used.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [getattr(node, "module", None) or ""] + [alias.name for alias in node.names]
            used.update(name for name in names if "dask" in name)
    assert used == set()
