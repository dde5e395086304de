"""The package's structure, drawn from the code: every `jamflow` import (top-level and function-local)
of every module under src/jamflow, read with `ast`. The graph has no circle, and no module imports a
module of a higher layer (docs/architecture.md, "Layers")."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "jamflow"

# lowest first; a module may import its own layer and the layers below it. A name is a module or a
# package (it covers everything under it); the longest name that matches a module decides its layer.
LAYERS: list[tuple[str, ...]] = [
    ("jamflow.errors", "jamflow.timeline", "jamflow.dtypes", "jamflow.fileio", "jamflow.ffmpeg",
     "jamflow.progress", "jamflow.limits", "jamflow.validate", "jamflow.native_memory"),       # base
    ("jamflow.audio", "jamflow.motion"),                                                     # signals
    ("jamflow.config", "jamflow.model", "jamflow.vocoder", "jamflow.testing"),               # networks
    ("jamflow.render",),                                                                     # frames
    ("jamflow.data",),                                                                       # corpora
    ("jamflow.infer",),                                                                      # inference
    ("jamflow.train",),                                                                      # training
    ("jamflow.eval",),                                                                       # evaluation
    ("jamflow.ui", "jamflow.serve"),                                                         # services
    ("jamflow.commands",),                                                                   # command line
    ("jamflow.cli", "jamflow"),                                                              # entry points
]


def module_name(path: Path, root: Path = SRC) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(tree: ast.AST) -> set[str]:
    """Every absolute `jamflow...` name imported anywhere in the tree (`from a import b` gives a.b)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return {n for n in names if n == "jamflow" or n.startswith("jamflow.")}


def resolve(name: str, modules) -> str | None:
    """`jamflow.a.b.c` -> the longest prefix that is a module (c may be a function of jamflow.a.b)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def command_modules() -> set[str]:
    """What `jamflow.cli` imports by name when a command runs (its COMMANDS table)."""
    from jamflow.cli import COMMANDS

    return {module for module, _ in COMMANDS.values()}


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    """module -> the package modules it imports."""
    sources = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph = {}
    for name, path in sources.items():
        found = {resolve(n, sources) for n in imported_names(ast.parse(path.read_text(encoding="utf-8")))}
        if name == "jamflow.cli":
            found |= command_modules()
        graph[name] = {m for m in found if m and m != name and m != "jamflow"}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of imports as [a, b, ..., a], or None (depth-first search, colours white/grey/black)."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def layer_of(module: str, layers=LAYERS) -> int | None:
    best, best_len = None, -1
    for i, names in enumerate(layers):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best_len:
                best, best_len = i, len(name)
    return best


def upward_imports(graph: dict[str, set[str]], layers=LAYERS) -> list[str]:
    return [f"{a} (layer {layer_of(a, layers)}) imports {b} (layer {layer_of(b, layers)})"
            for a, targets in sorted(graph.items()) for b in sorted(targets)
            if layer_of(b, layers) > layer_of(a, layers)]


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_every_module_has_a_layer(graph):
    assert len(graph) > 100  # the walk found the package
    assert [m for m in graph if layer_of(m) is None] == []


def test_no_import_circle(graph):
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_no_upward_import(graph):
    assert upward_imports(graph) == []


def test_inference_and_domain_code_stay_below_their_users(graph):
    """The rules the layers exist for, spelled out: inference does not reach evaluation, training or the
    command line, and no domain module reaches the command line."""
    def reaches(a: str, b: str) -> bool:
        return a == b or a.startswith(b + ".")

    for module, targets in graph.items():
        if reaches(module, "jamflow.infer"):
            assert not [t for t in targets if reaches(t, "jamflow.eval") or reaches(t, "jamflow.train")], module
        if not (reaches(module, "jamflow.commands") or reaches(module, "jamflow.cli")):
            assert not [t for t in targets if reaches(t, "jamflow.commands")], module


def test_checker_finds_a_circle_and_an_upward_import(tmp_path):
    """The checks can fail: a made-up package with a circle through a function-local import, and a
    base module that imports a command."""
    pkg = tmp_path / "jamflow"
    (pkg / "model").mkdir(parents=True)
    (pkg / "commands").mkdir()
    for init in (pkg, pkg / "model", pkg / "commands"):
        (init / "__init__.py").write_text("")
    (pkg / "model" / "a.py").write_text("from jamflow.model.b import f\n")
    (pkg / "model" / "b.py").write_text("def f():\n    from jamflow.model import a\n")
    (pkg / "errors.py").write_text("import jamflow.commands.tts\n")
    (pkg / "commands" / "tts.py").write_text("from jamflow.model.a import f\n")
    made = import_graph(pkg)
    assert made["jamflow.model.b"] == {"jamflow.model.a"}
    assert find_cycle(made) in (["jamflow.model.a", "jamflow.model.b", "jamflow.model.a"],
                                ["jamflow.model.b", "jamflow.model.a", "jamflow.model.b"])
    assert upward_imports(made) == ["jamflow.errors (layer 0) imports jamflow.commands.tts (layer 9)"]
    assert find_cycle({"x": {"y"}, "y": set()}) is None
