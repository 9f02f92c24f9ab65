"""The package's shape: areas depend on each other in the one direction declared in ``assoc_ledger.layers``.

Every import counts: at module level, inside functions, under ``TYPE_CHECKING``. Modules are also free
of import cycles at load time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import assoc_ledger
from assoc_ledger.layers import AREAS

PACKAGE = Path(assoc_ledger.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.Module, module: str, *, top_level_only: bool) -> set[str]:
    """The assoc_ledger modules a module imports (relative imports resolved)."""
    nodes: list[ast.AST] = []
    if top_level_only:
        for node in tree.body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            nodes.extend(ast.walk(node) if isinstance(node, ast.If | ast.Try) else [node])
    else:
        nodes = list(ast.walk(tree))
    found: set[str] = set()
    for sub in nodes:
        if isinstance(sub, ast.Import):
            found.update(a.name for a in sub.names)
        elif isinstance(sub, ast.ImportFrom):
            base = sub.module or ""
            if sub.level:
                anchor = module.split(".")[: -sub.level] if sub.level else []
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in sub.names)
        elif (isinstance(sub, ast.Call) and ast.unparse(sub.func) in ("importlib.import_module", "__import__")
              and sub.args and isinstance(sub.args[0], ast.Constant) and isinstance(sub.args[0].value, str)):
            found.add(sub.args[0].value)
    return {m for m in found if m.split(".")[0] == "assoc_ledger"}


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def _area(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in AREAS) else None


def violations(sources: dict[str, str]) -> list[str]:
    """Every import of a module against the declared direction, as 'importer -> imported'."""
    rank = {area: i for i, area in enumerate(AREAS)}
    found: list[str] = []
    for module, source in sorted(sources.items()):
        area = _area(module)
        if area is None:  # the package's own assembling modules (app, cli, models) may import anything
            continue
        assert area in rank, f"{module}: area {area!r} is not declared in assoc_ledger.layers.AREAS"
        targets = _imports(ast.parse(source), module, top_level_only=False)
        # "from a.b import c" names both a.b and a.b.c: report the most specific one only.
        for target in sorted(t for t in targets if not any(o.startswith(t + ".") for o in targets)):
            other = _area(target)
            if other is None and target in sources:  # names from the package's __init__ (its version) are fine
                found.append(f"{module} -> {target} (an area imports the package's assembling modules)")
            elif other is not None and other in rank and rank[other] > rank[area]:
                found.append(f"{module} -> {target} ({area} may not depend on {other})")
    return found


def _sources() -> dict[str, str]:
    return {name: path.read_text(encoding="utf-8") for name, path in _modules().items()}


def test_every_area_is_declared() -> None:
    areas = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert areas - set(AREAS) == set()


def test_areas_depend_in_the_declared_direction() -> None:
    assert violations(_sources()) == []


def test_a_back_import_is_found_even_inside_a_function() -> None:
    planted = _sources()
    planted["assoc_ledger.orgs.planted"] = (
        "def open_books():\n    from assoc_ledger.fund import service\n    return service\n")
    planted["assoc_ledger.auth.planted"] = "if True:\n    import assoc_ledger.orgs.models\n"
    planted["assoc_ledger.core.planted"] = "from ..members import models\n"
    found = violations(planted)
    assert "assoc_ledger.orgs.planted -> assoc_ledger.fund.service (orgs may not depend on fund)" in found
    assert "assoc_ledger.auth.planted -> assoc_ledger.orgs.models (auth may not depend on orgs)" in found
    assert "assoc_ledger.core.planted -> assoc_ledger.members.models (core may not depend on members)" in found
    assert len(found) == 3


def test_graph_sees_the_package() -> None:
    sources = _sources()
    assert "assoc_ledger.fund.service" in sources
    assert "assoc_ledger.core.db" in _imports(ast.parse(sources["assoc_ledger.fund.models"]),
                                              "assoc_ledger.fund.models", top_level_only=True)


def test_no_import_cycles() -> None:
    sources = _sources()
    graph = {name: {m for m in _imports(ast.parse(src), name, top_level_only=True) if m in sources and m != name}
             for name, src in sources.items()}
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
