"""The layers of DESIGN.md, checked on the source: imports point down only, and no module cycles.

Every ``import`` and ``from ... import`` is read with :mod:`ast`, including the ones inside
functions (imported on first use is still a dependency).
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: the rank of each layer: a module may import its own layer's modules or a lower rank's
RANKS = {
    "eventstore": 0,
    "projections": 1,
    "planner.domain": 2,
    "planner.engine": 3,
    "planner.plans": 4,  # plans in and out: translations between files and the engine's commands
    "planner.service": 5,
    "planner.mcp": 6,  # the plan as MCP tools: below the server, which will mount them over HTTP
    "planner.web": 6,  # the dashboard and its JSON API: below the server, which starts it
    "planner.server": 7,
    "planner.agents": 8,
    "planner.spec": 9,
    "planner.cli": 10,
    "planner": 11,  # the package's lazy facade and __main__
}
OURS = ("eventstore", "projections", "planner")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> str:
    return max((name for name in RANKS if module == name or module.startswith(name + ".")), key=len)


def _imports(path: Path, module: str) -> set[str]:
    """Every module of ours that ``path`` imports at run time (absolute names; relative ones resolved)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    for block in ast.walk(tree):  # `if TYPE_CHECKING:` imports are for type checkers, not run
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test):
            block.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return {name for name in found if name.split(".")[0] in OURS}


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for top in OURS for p in (ROOT / top).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        deps = set()
        for name in _imports(path, module):
            while name and name not in modules:  # `from pkg.mod import function` -> pkg.mod
                name = name.rpartition(".")[0]
            if name and name != module:
                deps.add(name)
        graph[module] = deps
    return graph


GRAPH = _graph()


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module: str) -> None:
    mine = _layer(module)
    upward = sorted(d for d in GRAPH[module] if RANKS[_layer(d)] > RANKS[mine]
                    and not (mine == "planner" and module in ("planner", "planner.__main__")))
    assert not upward, f"{module} ({mine}) imports from higher layers: {upward}"


def test_no_module_cycles() -> None:
    # a package's __init__ is a dependency of its modules only through Python's import
    # machinery, never through our code, so the edges are exactly the import statements
    try:
        graphlib.TopologicalSorter(GRAPH).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_the_check_sees_imports() -> None:
    """The check can fail: it finds the engine's import of the domain, and projections' of states."""
    assert "planner.domain.errors" in GRAPH["planner.engine.engine"]
    assert "projections.states" in GRAPH["projections.graph"]
