"""The package's wings import in one direction only, so a newcomer can read it top down."""

from __future__ import annotations

import ast
from pathlib import Path

import helpcenter

ROOT = Path(helpcenter.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every helpcenter module and the helpcenter modules (and top-level packages) it imports."""
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                found.add(target)
                # `from .pkg import x` may import the submodule pkg.x
                found.update(f"{target}.{a.name}" for a in node.names)
        graph[name] = found
    return graph


def _internal(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {m: {t for t in targets if t in graph and t != m} for m, targets in graph.items()}


def test_no_module_imports_itself_back_through_others():
    graph = _internal(_imports())
    for package in [m for m in graph if m.count(".") <= 1]:
        graph[package] = {t for t in graph[package] if not t.startswith(package + ".")}  # a package lists its parts
    seen: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph[node]):
            if seen.get(nxt) == 1:
                cycle.extend(stack[stack.index(nxt):] + [node, nxt] if nxt in stack else [node, nxt])
                return
            if not seen.get(nxt):
                visit(nxt, stack + [node])
                if cycle:
                    return
        seen[node] = 2

    for module in sorted(graph):
        if not seen.get(module):
            visit(module, [])
        assert not cycle, f"import circle: {' -> '.join(cycle)}"


def _wing(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_wings_import_downwards_only():
    graph = _imports()
    may_use = {  # a wing may import the shared modules (config, db, instance, fsutil) and these wings
        "engine": set(),
        "support": set(),
        "insights": {"support"},
        "web": {"engine", "support", "insights"},
        "cli": {"engine", "support", "insights", "web"},
    }
    wings = set(may_use)
    for module, targets in graph.items():
        wing = _wing(module)
        if wing not in wings:
            continue
        for target in targets:
            other = _wing(target)
            if target.startswith("helpcenter.") and other in wings and other != wing:
                assert other in may_use[wing], f"{module} imports {target}: {wing} must not depend on {other}"


def test_engine_knows_neither_flask_nor_the_database():
    for module, targets in _imports().items():
        if _wing(module) == "engine":
            bad = {t for t in targets if t.split(".")[0] in {"flask", "sqlalchemy"} or t == "helpcenter.db"}
            assert not bad, f"{module} imports {bad}"


def test_web_layer_never_builds_the_index():
    for module, targets in _imports().items():
        if _wing(module) == "web":
            assert "helpcenter.engine.build" not in targets, module
            assert "helpcenter.engine.content" not in targets and "helpcenter.engine.render" not in targets, module
