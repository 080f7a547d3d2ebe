"""The layout is the architecture: gis -> rollout -> maps, wired together only by the CLI.

The file-level import graph of the packages is read with :mod:`ast` (every
``import``, at module level or inside a function), and checked:

* no cycle between files;
* gis imports neither rollout nor maps;
* maps imports from rollout only the saved-plan contract (``rollout.plan``: load_plan, load_plan_summary, STATUSES);
* in rollout, only ``rollout/cli.py`` imports maps.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gis", "rollout", "maps", "seeds")
PLAN_CONTRACT = {"load_plan", "load_plan_summary", "STATUSES"}


def module_file(module: str) -> Path | None:
    """The file of a module of our packages (``gis.build`` -> gis/build.py), or None for third-party modules."""
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path.relative_to(ROOT)
    return None


def imports_of(path: Path) -> list[tuple[Path, set[str]]]:
    """Every (file imported, names taken from it) in ``path``, function-level imports included."""
    rel = path.relative_to(ROOT)
    package = ".".join(rel.with_suffix("").parts[:-1] if rel.name != "__init__.py" else rel.parent.parts)
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(module_file(a.name), set()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = {a.name for a in node.names}
            submodules = [module_file(f"{base}.{n}") for n in names]
            if any(submodules):  # "from gis import crs": the submodule's file
                out += [(f, set()) for f in submodules if f is not None]
            else:
                out.append((module_file(base), names))
    return [(f, names) for f, names in out if f is not None and f != rel]


def import_graph() -> dict[Path, list[tuple[Path, set[str]]]]:
    files = sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))
    return {f.relative_to(ROOT): imports_of(f) for f in files}


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def find_cycle(edges: dict[Path, set[Path]]) -> list[Path] | None:
    """One import cycle (a list of files, first = last), or None."""
    state: dict[Path, int] = {}  # 1 on the stack, 2 done
    stack: list[Path] = []

    def visit(node: Path) -> list[Path] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_function_level_imports(graph):
    cli = {f for f, _ in graph[Path("rollout/cli.py")]}
    assert Path("maps/map.py") in cli and Path("gis/build.py") in cli  # both imported inside functions
    assert find_cycle({Path("a"): {Path("b")}, Path("b"): {Path("a")}}) == [Path("a"), Path("b"), Path("a")]


def test_no_import_cycle_between_files(graph):
    cycle = find_cycle({f: {g for g, _ in imps} for f, imps in graph.items()})
    assert cycle is None, " -> ".join(map(str, cycle))


def test_gis_imports_neither_rollout_nor_maps(graph):
    bad = [(str(f), str(g)) for f, imps in graph.items() if f.parts[0] == "gis"
           for g, _ in imps if g.parts[0] in ("rollout", "maps")]
    assert not bad


def test_maps_reads_only_the_saved_plan_contract(graph):
    bad = [(str(f), str(g), sorted(names - PLAN_CONTRACT)) for f, imps in graph.items() if f.parts[0] == "maps"
           for g, names in imps
           if g.parts[0] == "rollout" and (g != Path("rollout/plan.py") or not names or names - PLAN_CONTRACT)]
    assert not bad


def test_only_the_cli_wires_rollout_to_maps(graph):
    bad = [(str(f), str(g)) for f, imps in graph.items() if f.parts[0] == "rollout" and f != Path("rollout/cli.py")
           for g, _ in imps if g.parts[0] == "maps"]
    assert not bad
