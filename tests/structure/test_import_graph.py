"""No import cycle in ``soen_train``: its static import graph, read with :mod:`ast` (nothing is
imported), minus the allow-listed edges below, must be acyclic.

Every ``import`` / ``from ... import`` statement counts, at module level or inside a function,
except those under ``if TYPE_CHECKING:`` (never executed). A function-level import still runs
the imported module and ties the two modules together, so hiding an import inside a function
does not remove a cycle; it only defers it. An edge goes to the most specific module named:
``from a.b import c`` is an edge to ``a.b.c`` when that is a module, else to ``a.b``. Importing
``a.b.c`` also runs the package ``a/b/__init__.py`` first; that implicit edge to parent packages
is not counted (a package ``__init__`` that gathers its own submodules is not a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

from soen_train.graph_components import strongly_connected_components

PACKAGE = "soen_train"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / PACKAGE

Edge = Tuple[str, str]


def module_name(path: Path, root: Path = PACKAGE_DIR) -> str:
    """Dotted module name of a file of the package (``pkg/__init__.py`` -> ``pkg``)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules(root: Path = PACKAGE_DIR) -> Dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.stmt]:
    """Import statements anywhere in the tree, skipping ``if TYPE_CHECKING:`` bodies."""
    stack: List[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(name: str, path: Path, modules: Dict[str, Path]) -> Set[str]:
    """Modules of the package that module ``name`` (file ``path``) imports."""
    is_package = path.name == "__init__.py"
    out: Set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            targets = [t for t in targets[:-1] if t in modules] or [base]
        for target in targets:
            while target and target not in modules:  # `import a.b.c` names a.b.c (or a package)
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def import_graph(root: Path = PACKAGE_DIR) -> Dict[str, Set[str]]:
    """Module -> the package modules it imports."""
    modules = package_modules(root)
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one module, each sorted."""
    successors = {v: sorted(ws) for v, ws in graph.items()}
    return sorted(sorted(c) for c in strongly_connected_components(sorted(graph), successors) if len(c) > 1)


#: Import edges (importer, imported) that today close a cycle, each with why it is still there.
#: Nothing may be added: a new cycle is fixed, not listed. An entry whose import is gone fails
#: the test until it is removed, so the list only shrinks.
ALLOWED_CYCLE_EDGES: Dict[Edge, str] = {}


@pytest.fixture(scope="module")
def graph() -> Dict[str, Set[str]]:
    return import_graph()


def test_graph_sees_the_package(graph):
    """The walk finds the package's modules and their imports (a broken walk would pass)."""
    assert "soen_train.cli" in graph and "soen_train.model.network" in graph
    assert "soen_train.model.network" in graph["soen_train.model"]  # from .network import ...
    assert "soen_train.errors" in graph["soen_train.model.file_errors"]
    # a function-level import counts: runner imports the JAX loop inside a function
    assert "soen_train.training.jax_loop.repeat" in graph["soen_train.training.runner"]


def test_jax_package_holds_no_training_loop(graph):
    """``soen_train.jax`` is array maths: none of its modules imports ``soen_train.training``
    (the loop that drives it, ``training.jax_loop``, imports it, never the reverse)."""
    importing = {m for m, targets in graph.items() if m.startswith("soen_train.jax")
                 and any(t.startswith("soen_train.training") for t in targets)}
    assert not importing, f"soen_train.jax imports the training package: {sorted(importing)}"


def test_loop_policy_is_backend_neutral():
    """``soen_train.loop_policy`` imports no torch, Lightning or JAX (both backends use it)."""
    banned = ("torch", "lightning", "jax", "optax", "numpy")
    found = {}
    for path in sorted((PACKAGE_DIR / "loop_policy").glob("*.py")):
        for node in _import_nodes(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""])
            bad = [n for n in names if n.split(".")[0] in banned
                   or n.startswith(("soen_train.training", "soen_train.jax"))]
            if bad:
                found.setdefault(path.name, []).extend(bad)
    assert (PACKAGE_DIR / "loop_policy" / "early_stopping.py").is_file()
    assert not found, f"loop_policy imports backend code: {found}"


def test_cycle_detection_on_a_known_graph():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    graph["c"] = set()
    assert cycles(graph) == []


def test_no_import_cycle_beyond_the_allowed_edges(graph):
    pruned = {m: {t for t in targets if (m, t) not in ALLOWED_CYCLE_EDGES}
              for m, targets in graph.items()}
    found = cycles(pruned)
    assert not found, "import cycle(s) in soen_train: " + "; ".join(" <-> ".join(c) for c in found)


def test_every_allowed_edge_is_still_needed(graph):
    """An edge that is gone, or whose cycle is broken elsewhere, must leave the list."""
    not_needed = []
    for edge in ALLOWED_CYCLE_EDGES:
        others = set(ALLOWED_CYCLE_EDGES) - {edge}
        pruned = {m: {t for t in targets if (m, t) not in others} for m, targets in graph.items()}
        if edge[1] not in graph.get(edge[0], set()) or not cycles(pruned):
            not_needed.append(edge)
    assert not not_needed, f"remove from ALLOWED_CYCLE_EDGES (no cycle without them): {not_needed}"
