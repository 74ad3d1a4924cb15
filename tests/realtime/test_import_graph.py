"""The import graph of realtime/: no circle, and dependencies that point one way.

Built with `ast` from the source, so imports under ``TYPE_CHECKING`` and
inside functions count as edges too: a circle held together by type hints
is still a circle to whoever reads or moves the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "realtime"
#: Modules whose size the package keeps under this many lines.
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imported(module: str, path: Path) -> set[str]:
    """Return every module name `module` imports (absolute, any nesting)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """Return realtime's modules mapped to the realtime modules each imports.

    ``from realtime import store`` is an edge to ``realtime.store``; an import
    of a package's member is an edge to the package's ``__init__`` only when
    the member is not a module itself. A package's ``__init__`` is not an
    edge of its own submodules (Python imports it first anyway, and it only
    re-exports).
    """
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges = set()
        for name in _imported(module, path):
            if name in modules:
                edges.add(name)
            elif name.rpartition(".")[0] in modules and name.rpartition(".")[0] != "realtime":
                edges.add(name.rpartition(".")[0])
        edges.discard(module)
        graph[module] = {e for e in edges if not module.startswith(f"{e}.")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one circle of the graph as a path (first module repeated), or None."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for target in sorted(graph.get(node, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node)
        if cycle:
            return cycle
    return None


def _all_imports() -> dict[str, set[str]]:
    return {module: _imported(module, path) for module, path in _modules().items()}


def test_find_cycle_reports_the_circle() -> None:
    """The checker itself finds a circle and names its modules in order."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_realtime_has_no_import_cycle() -> None:
    """No module of realtime/ reaches itself through imports (TYPE_CHECKING ones included)."""
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle in realtime/: " + " -> ".join(cycle or ())


def test_protocol_imports_nothing_else_of_realtime() -> None:
    """realtime/protocol is pure: it imports only itself."""
    offenders = {
        module: sorted(t for t in targets if not t.startswith("realtime.protocol"))
        for module, targets in import_graph().items()
        if module.startswith("realtime.protocol")
    }
    assert {m: t for m, t in offenders.items() if t} == {}


def test_transports_do_not_import_the_store() -> None:
    """Transports move frames; Redis keys stay behind the store's callers."""
    offenders = {
        module
        for module, targets in import_graph().items()
        if module.startswith("realtime.transports") and "realtime.store" in targets
    }
    assert offenders == set()


@pytest.mark.parametrize("app", ["config", "orders", "notifications"])
def test_realtime_imports_no_app(app: str) -> None:
    """realtime/ is reusable: it imports neither the site's config nor its apps."""
    offenders = sorted(
        module
        for module, names in _all_imports().items()
        if any(name == app or name.startswith(f"{app}.") for name in names)
    )
    assert offenders == []


def test_no_module_is_over_the_size_limit() -> None:
    """Every module of realtime/ stays small enough to read in one sitting."""
    oversize = {
        module
        for module, path in _modules().items()
        if len(path.read_text().splitlines()) > MAX_LINES
    }
    assert oversize == set()
