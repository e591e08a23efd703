"""No import circles between the modules of spatial_common, spatial_eval, spatial_runtime and spatial_perception.

The import graph is read from the source with :mod:`ast` (nothing is imported): every ``import`` and
``from ... import`` anywhere in a module (module level, inside functions and classes), except under
``if TYPE_CHECKING:``, plus ``importlib.import_module("literal")`` calls. Relative imports are resolved
against the importing module's package. ``import a.b.c`` is an edge to the deepest of ``a.b.c``, ``a.b``,
``a`` that is a module of these packages; ``from a.b import c`` is an edge to ``a.b.c`` when that is a
module, else to ``a.b`` (again the deepest existing prefix). Only edges between modules of the three
packages count; a module importing itself is no edge.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "spatial_common": ROOT / "python-common" / "spatial_common",
    "spatial_eval": ROOT / "python-eval" / "spatial_eval",
    "spatial_perception": ROOT / "gpu-server" / "spatial_perception",
    "spatial_runtime": ROOT / "python-runtime" / "spatial_runtime",
}
MAX_CYCLES_PER_COMPONENT = 50


def discover_modules(packages: dict[str, Path] = PACKAGES) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (source file, is a package ``__init__``) for every ``.py`` file of the packages."""
    modules: dict[str, tuple[Path, bool]] = {}
    for name, folder in packages.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [name, *path.relative_to(folder).with_suffix("").parts]
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            modules[".".join(parts)] = (path, is_package)
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _import_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Import statements and ``import_module`` calls below ``node``, skipping ``if TYPE_CHECKING:`` bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.orelse:
                yield from _import_nodes_of(stmt)
            continue
        yield from _import_nodes_of(child)


def _import_nodes_of(node: ast.AST) -> Iterator[ast.AST]:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.Call)):
        yield node
    yield from _import_nodes(node)


def _literal_import_module(call: ast.Call) -> tuple[str, str | None] | None:
    """``(name, package)`` of an ``importlib.import_module("literal"[, "package"])`` call, else None."""
    func = call.func
    named = (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id == "import_module"
    )
    if not named or not call.args:
        return None
    first = call.args[0]
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None
    package = None
    second = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "package"), None)
    if isinstance(second, ast.Constant) and isinstance(second.value, str):
        package = second.value
    return first.value, package


def _resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str | None:
    """Absolute dotted name of ``from <'.' * level><name> import ...`` written in ``module``."""
    if level == 0:
        return name
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 > len(base) - 1:
        return None  # beyond the top-level package
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _deepest(dotted: str, modules: dict[str, tuple[Path, bool]]) -> str | None:
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: str, modules: dict[str, tuple[Path, bool]]) -> set[str]:
    """The modules of ``modules`` that ``module`` imports (see the module docstring for the rules)."""
    path, is_package = modules[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    targets: set[str | None] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            targets.update(_deepest(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(module, is_package, node.level, node.module)
            if base is None:
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.add(full if alias.name != "*" and full in modules else _deepest(base, modules))
        elif isinstance(node, ast.Call):
            found = _literal_import_module(node)
            if found is None:
                continue
            name, package = found
            if name.startswith("."):
                if package is None:
                    continue
                level = len(name) - len(name.lstrip("."))
                name = _resolve_relative(package, True, level, name.lstrip(".") or None) or ""
            targets.add(_deepest(name, modules))
    return {t for t in targets if t is not None and t != module}


def import_graph(packages: dict[str, Path] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the modules it imports, for every module of ``packages``."""
    modules = discover_modules(packages)
    return {m: imports_of(m, modules) for m in modules}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan), each sorted; only those with a cycle (2+ modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return sorted(out)


def cycles_in(
    component: list[str], graph: dict[str, set[str]], limit: int = MAX_CYCLES_PER_COMPONENT
) -> list[list[str]]:
    """Elementary cycles inside one component, each as a path that starts and ends at its smallest module."""
    members = set(component)
    found: list[list[str]] = []
    for start in component:
        path = [start]

        def walk(node: str, start: str = start, path: list[str] = path) -> None:
            for nxt in sorted(graph[node] & members):
                if len(found) >= limit:
                    return
                if nxt == start:
                    found.append([*path, start])
                elif nxt > start and nxt not in path:
                    path.append(nxt)
                    walk(nxt)
                    path.pop()

        walk(start)
    return found


def describe_cycles(graph: dict[str, set[str]]) -> list[str]:
    lines = []
    for component in strongly_connected(graph):
        lines.append(f"circle of {len(component)} modules: {', '.join(component)}")
        lines += [f"  {' -> '.join(cycle)}" for cycle in cycles_in(component, graph)]
    return lines


def test_the_graph_is_read():
    graph = import_graph()
    assert {"spatial_common.geometry", "spatial_runtime.session", "spatial_perception.app"} <= graph.keys()
    assert "spatial_runtime.display" in graph["spatial_runtime.session"]


def test_no_import_cycles():
    lines = describe_cycles(import_graph())
    assert not lines, "import circles (each path is one cycle; break it):\n" + "\n".join(lines)


def test_the_rules_on_a_small_tree(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from pkg.sub import leaf\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "leaf.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\ndef f():\n    from .. import b\n"
    )
    (pkg / "a.py").write_text("import pkg.sub.leaf.missing\n")
    (pkg / "b.py").write_text("import importlib\nimportlib.import_module('pkg.sub.leaf')\nimport numpy\n")
    graph = import_graph({"pkg": pkg})
    assert graph == {
        "pkg": {"pkg.sub.leaf"},
        "pkg.sub": set(),
        "pkg.sub.leaf": {"pkg.b"},
        "pkg.a": {"pkg.sub.leaf"},
        "pkg.b": {"pkg.sub.leaf"},
    }
    assert describe_cycles(graph) == [
        "circle of 2 modules: pkg.b, pkg.sub.leaf",
        "  pkg.b -> pkg.sub.leaf -> pkg.b",
    ]
