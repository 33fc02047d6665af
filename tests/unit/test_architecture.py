"""The architecture, read from the code's imports: dependencies point one way, data <- models <- training <-
predictors <- tasks <- api <- reporting <- cli/serve, with no cycle between modules and no command-line
module doing more than parse, call the API and print."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "irtnet"
#: Layer of each top-level part of the package; a module may import its own layer or lower ones only.
LAYERS = {
    "_version": 0, "errors": 0, "numeric": 0, "_io": 0, "metrics": 0,
    "config": 1, "data": 1,
    "models": 2, "training": 3, "predictors": 4, "tasks": 5, "api": 6, "reporting": 7, "cli": 8, "serve": 8,
    "integrations": 8,
}


def _module(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    path = SRC.parent / name.replace(".", "/")
    return path.with_suffix(".py").exists() or path.is_dir()


def _imports(path: Path) -> set[str]:
    """Every irtnet module `path` imports, at the top or inside a function."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("irtnet")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("irtnet"):
            subs = {f"{node.module}.{a.name}" for a in node.names if _is_module(f"{node.module}.{a.name}")}
            found |= subs
            if len(subs) < len(node.names):  # names defined in the module itself
                found.add(node.module)
    return found


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None  # the package root is the lazy facade


GRAPH = {_module(p): _imports(p) for p in SRC.rglob("*.py")}


def test_every_part_of_the_package_has_a_layer():
    assert {m.split(".")[1] for m in GRAPH if "." in m} <= set(LAYERS)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module):
    mine = _layer(module)
    if mine is None:
        return
    upward = sorted(i for i in GRAPH[module] if (_layer(i) if _layer(i) is not None else 99) > mine)
    assert not upward, f"{module} (layer {mine}) imports upward: {upward}"


def test_no_import_cycles():
    graph = {m: {i for i in deps if i in GRAPH and i != m} for m, deps in GRAPH.items() if m != "irtnet"}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt]
                # a package importing its own submodules is not a cycle of meaning
                if not all(c.startswith(cycle[0] + ".") or cycle[0].startswith(c) for c in cycle[1:]):
                    raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_the_command_line_goes_through_the_api():
    """cli/ reaches the lower floors only through irtnet.api and the public data entry points (importers, the
    table type, its summary, merging tables, the synthetic generator, the format and merge-choice names for help
    texts; `irtnet data` stays free of torch), reporting for display."""
    allowed = ("irtnet.api", "irtnet.reporting", "irtnet.cli", "irtnet.config", "irtnet.errors", "irtnet._io",
               "irtnet.predictors.spec", "irtnet.data.importers", "irtnet.data.summary", "irtnet.data.synthetic",
               "irtnet.data.table", "irtnet.data.merge", "irtnet.data.formats",
               "irtnet.serve")
    for module, deps in GRAPH.items():
        if module.startswith("irtnet.cli"):
            below = sorted(d for d in deps if not d.startswith(allowed))
            assert not below, f"{module} bypasses the API: {below}"
