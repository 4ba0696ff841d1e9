"""No import cycle among alexnet_lib's modules (the layering of layout.md: data flows one way).

The graph is read from the source with :mod:`ast`, without importing anything:

* Every ``import`` statement counts, **function-level ones included**. An import moved into a
  function stops Python from failing at import time, but the two modules still need each other;
  a lazy import is the usual way a cycle is hidden (``evaluate.main`` importing ``train``, which
  imports ``evaluate``), so it must not hide it from this test.
* ``from package import name`` is an edge to ``package.name`` when that is a module, else to
  ``package`` (its ``__init__``, where ``name`` is defined).
* Importing ``a.b.c`` first runs ``a/__init__`` and ``a/b/__init__``: an edge to each of those
  parent packages too, except the importer's own parents (they are being imported already).
* A module-level ``__getattr__`` (PEP 562) that forwards a moved name to its new home counts as
  well: it is an import like any other, so the way to move a name is to update its users.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "alexnet_lib"


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """``{"alexnet_lib.data.pipeline": path, ...}``; a package is named by its ``__init__``."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module's imports of other modules of the package (see the module docstring)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        tree = ast.parse(path.read_text(), str(path))
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[:len(package) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    targets.add(submodule if submodule in modules else source)
        own_parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        for target in targets:
            if target in modules:
                graph[name].add(target)
            parts = target.split(".")
            for i in range(1, len(parts)):  # the parent packages that importing it runs
                parent = ".".join(parts[:i])
                if parent in modules and parent not in own_parents:
                    graph[name].add(parent)
        graph[name].discard(name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None (depth-first search, colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph(module_files())
    assert "alexnet_lib.train.trainer" in graph and graph["alexnet_lib.train.trainer"]  # it read them
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("imports, cycle", [
    ({"a/__init__": "", "a/x": "from .y import f\n", "a/y": "def g():\n    from .x import h\n"},
     ["a.x", "a.y", "a.x"]),  # a function-level import closes the cycle
    ({"a/__init__": "from .x import f\n", "a/x": "from a import CONSTANT\n"},
     ["a", "a.x", "a"]),  # a name defined in the package's __init__
    ({"a/__init__": "from .b import f\n", "a/b/__init__": "", "a/b/m": "import a.c\n",
      "a/c": "from .b.m import f\n"}, ["a.b.m", "a.c", "a.b.m"]),
    ({"a/__init__": "from . import x\n", "a/x": "from . import y\n", "a/y": "X = 1\n"}, None),
    ({"a/__init__": "", "a/x": "from .y import f\n",
      "a/y": "def __getattr__(name):\n    from .x import f\n    return f\n"},
     ["a.x", "a.y", "a.x"]),  # a forwarder's import counts too
])
def test_the_cycle_finder(tmp_path, imports, cycle):
    for name, text in imports.items():
        path = tmp_path / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert find_cycle(import_graph(module_files(tmp_path / "a"))) == cycle


def package_graph(graph: dict[str, set[str]], depth: int = 2) -> dict[str, set[str]]:
    """``graph`` with every module folded into its package ``depth`` names deep (all of
    ``alexnet_lib.data.*`` is one node ``alexnet_lib.data``)."""
    def fold(name: str) -> str:
        return ".".join(name.split(".")[:depth])

    folded: dict[str, set[str]] = {fold(name): set() for name in graph}
    for name, targets in graph.items():
        folded[fold(name)] |= {fold(t) for t in targets} - {fold(name)}
    return folded


# The layers of the training path (layout.md): what reads the images, augments them, is the
# network, trains and tests it. alexnet_lib.data imports alexnet_lib.augment (its statistics
# give the PCA lighting, its pipelines apply the crops), so augment must not import data.
LAYERS = ("alexnet_lib.data", "alexnet_lib.augment", "alexnet_lib.model", "alexnet_lib.lrn",
          "alexnet_lib.towers", "alexnet_lib.checkpoint", "alexnet_lib.evaluate",
          "alexnet_lib.train", "alexnet_lib.provenance")


def test_the_training_path_has_no_cycle_between_packages():
    folded = package_graph(import_graph(module_files()))
    layers = {name: folded[name] & set(LAYERS) for name in LAYERS}
    assert "alexnet_lib.augment" in layers["alexnet_lib.data"]  # the edge that once went both ways
    cycle = find_cycle(layers)
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle or [])
