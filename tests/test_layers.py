"""The folders of voicecoach/ are its layers, and imports point one way.

core (routine, plan, commands, session and its rules: pure) imports only core; store (the
history) imports only store, the core's definitions (what a set done is) and the folder list;
voice (the edges: speech in and out, models) imports voice, core and the shared configuration;
app (settings, the command line, run, serve, the runner, the views) may import anything.
`paths` and `config` sit at the top, read by every layer.  Lazy imports inside functions count
too: a cycle through them is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import voicecoach

PACKAGE = Path(voicecoach.__file__).parent
SHARED = {"paths", "config"}
MAY_IMPORT = {
    "core": {"core"},
    "store": {"store", "core", "paths"},
    "voice": {"voice", "core", "paths", "config"},
    "app": {"app", "core", "store", "voice", "paths", "config"},
}


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts): p
            for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}


def _imports(path: Path, known: set[str]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("voicecoach"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("voicecoach")}
    return {m for m in found if m in known and m != "voicecoach"}


def _part(module: str) -> str:
    """The layer of a module (core, store, voice, app) or its name when it sits at the top."""
    return module.split(".")[1] if module.count(".") >= 1 else module


def test_every_module_lives_in_a_layer_or_is_shared():
    top = {m.split(".")[1] for m in _modules() if m.count(".") == 1}
    assert top - {"__init__", "__main__"} <= SHARED | set(MAY_IMPORT), sorted(top)


def test_imports_point_from_the_app_towards_the_core():
    modules = _modules()
    known = set(modules)
    wrong = []
    for module, path in modules.items():
        layer = _part(module)
        if layer not in MAY_IMPORT:
            continue
        for dep in _imports(path, known):
            if _part(dep) not in MAY_IMPORT[layer]:
                wrong.append(f"{module} imports {dep}")
    assert wrong == []


def test_the_core_and_the_store_never_import_the_edges_even_lazily():
    # The core is what the fake-clock tests drive in milliseconds: no audio, no database, no argparse.
    for path in (PACKAGE / "core").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        for edge in ("sounddevice", "numpy", "sqlite3", "argparse", "time.sleep"):
            assert edge not in source, f"{path.name} uses {edge}"


def test_no_import_cycles_between_modules():
    modules = _modules()
    known = set(modules)
    graph = {m: _imports(p, known) - {m} for m, p in modules.items()}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []
