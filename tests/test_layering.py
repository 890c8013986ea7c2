"""The package's layering (docs/design.md): imports point down the list of layers, never up, and no
module imports itself back through others, counting imports inside functions."""
import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "paddle_rembert")
# Lowest first; a module may import its own layer or one listed before it. "" is the package's __init__.
LAYERS = ["runtime", "version", "checkpoint", "tokenization", "kernels", "modeling", "models", "data", "convert",
          "trainer", "deploy", "testing", "cli", "__main__", ""]


def _modules():
    mods = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                parts = ["paddle_rembert", *os.path.relpath(path, ROOT)[:-3].split(os.sep)]
                if parts[-1] == "__init__":
                    parts.pop()
                mods[".".join(parts)] = path
    return mods


def _imports(name, path, mods):
    """The project modules ``name`` imports, anywhere in its source."""
    package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # "from . import x" imports the module x when there is one, else a name of the package
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods]
            found.update(subs or ([target] if target in mods else []))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in mods)
    return found


def _layer(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.fixture(scope="module")
def graph():
    mods = _modules()
    return {name: _imports(name, path, mods) for name, path in mods.items()}


def test_every_module_is_in_a_layer(graph):
    assert {_layer(m) for m in graph} <= set(LAYERS), {_layer(m) for m in graph} - set(LAYERS)


def test_imports_point_down(graph):
    upward = sorted(f"{a} imports {b}" for a, targets in graph.items() for b in targets
                    if LAYERS.index(_layer(b)) > LAYERS.index(_layer(a)))
    assert not upward, upward


def test_no_import_cycles(graph):
    # depth-first search; a back edge to a module on the current path is a cycle
    state, path, cycles = {}, [], []

    def visit(module):
        state[module] = "open"
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not cycles, cycles


def test_the_checker_sees_imports_inside_functions_and_relative_ones(tmp_path):
    """The checks above are only as good as _imports: it must see lazy and relative imports."""
    mods = {"paddle_rembert.checkpoint.hub": "", "paddle_rembert.models.registry": "", "paddle_rembert.models": "",
            "paddle_rembert": "", "paddle_rembert.version": ""}
    src = tmp_path / "hub.py"
    src.write_text("def f():\n    from ..models import registry\n    from .. import version\n"
                   "    import paddle_rembert\n")
    assert _imports("paddle_rembert.checkpoint.hub", str(src), mods) == {
        "paddle_rembert.models.registry", "paddle_rembert.version", "paddle_rembert"}


def test_no_module_is_over_800_lines():
    top = os.path.dirname(ROOT)
    long = []
    for folder in ("paddle_rembert", "tools", "examples"):
        for dirpath, _, files in os.walk(os.path.join(top, folder)):
            for f in files:
                if f.endswith(".py"):
                    path = os.path.join(dirpath, f)
                    with open(path, encoding="utf-8") as fh:
                        n = sum(1 for _ in fh)
                    if n > 800:
                        long.append(f"{os.path.relpath(path, top)}: {n} lines")
    assert not long, long
