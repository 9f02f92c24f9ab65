"""The package's shape: a small core that knows no domain area, and no import cycles between modules."""

from __future__ import annotations

import ast
from pathlib import Path

import assoc_ledger

PACKAGE = Path(assoc_ledger.__file__).parent
AREAS = ("auth", "orgs", "members", "fund", "web", "demo")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(path: Path) -> set[str]:
    """Imports executed when the module loads (not those deferred inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node) if isinstance(node, ast.If | ast.Try) else [node]:
            if isinstance(sub, ast.Import):
                found.update(a.name for a in sub.names)
            elif isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
                found.add(sub.module)
                found.update(f"{sub.module}.{a.name}" for a in sub.names)
    return {m for m in found if m.split(".")[0] == "assoc_ledger"}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _top_level_imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def test_graph_sees_the_package() -> None:
    graph = _graph()
    assert "assoc_ledger.fund.service" in graph
    assert "assoc_ledger.core.db" in graph["assoc_ledger.fund.models"]


def test_core_knows_no_domain_area() -> None:
    offenders = {name: sorted(m for m in deps if m.split(".")[1] in AREAS)
                 for name, deps in _graph().items() if name.startswith("assoc_ledger.core")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []
