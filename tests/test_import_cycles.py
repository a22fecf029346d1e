"""The package has no runtime import cycle: every module can be read bottom-up.

Every import that can run counts, at module level or deferred inside a function: a lazy import
only moves the cycle to run time. Imports under ``if TYPE_CHECKING:`` do not run and do not count.
A package's own ``__init__`` re-exporting its submodules is not a cycle by itself; an edge back
into the package from one of them is.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import inpaint_async

ROOT = Path(inpaint_async.__file__).parent
PACKAGE = "inpaint_async"


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join((PACKAGE, *parts))] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id.endswith("TYPE_CHECKING")) or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import under ``node`` that can run, at module level or inside a function."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _runtime_imports(other)
        else:
            yield from _runtime_imports(child)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        package = name if is_package else name.rpartition(".")[0]
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    stem = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    stem = node.module or ""
                targets = [stem] + [f"{stem}.{alias.name}" for alias in node.names]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _without_package_reexports(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Drop the edges of a package's ``__init__`` into its own submodules (re-exports)."""
    modules = _modules()
    pruned = {}
    for name, targets in graph.items():
        if modules[name].name == "__init__.py":
            targets = {t for t in targets if not t.startswith(name + ".")}
        pruned[name] = targets
    return pruned


def test_the_package_has_no_runtime_import_cycle() -> None:
    """No group of modules imports each other in code that can run (TYPE_CHECKING aside)."""
    assert _cycles(_without_package_reexports(_graph())) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The checker itself: a two-module and a three-module loop are reported, a chain is not."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert _cycles(graph) == [["a", "b"], ["c", "d", "e"]]
