"""src/ is layered: every module imports only its own layer or those below, with no import cycle (read with ast).

The layers, bottom up (docs/architecture.md): ``base`` (1), ``data`` (2),
``analysis`` (3), ``synthetic`` (4), ``book`` (5), ``helpers`` (6, the
notebooks' facade) and ``pipeline`` (7). Every import counts, also one inside a
function, so no cycle can hide in a function body.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from src.base import paths

SRC = paths.ROOT / "src"
LAYERS = {"base": 1, "data": 2, "analysis": 3, "synthetic": 4, "book": 5, "helpers": 6, "pipeline": 7}


def module_name(f: Path) -> str:
    parts = f.relative_to(paths.ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(f): f for f in SRC.rglob("*.py")}


def imports(f: Path) -> list[tuple[str, int, bool]]:
    """(imported src module, line, inside a function) for every import statement in ``f``."""
    tree = ast.parse(f.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "src":
            for a in node.names:  # ``from src.base import paths``: paths is a module; ``from src.x import f``: x is
                names.append(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module)
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "src"]
        found += [(n, node.lineno, id(node) not in top) for n in names if n in MODULES]
    return found


GRAPH = {m: {t for t, _, _ in imports(f) if t != m} for m, f in MODULES.items()}


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_checker_finds_a_cycle_and_reads_function_local_imports(tmp_path):
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from src.base import paths\n", encoding="utf-8")
    assert imports(f) == [("src.base.paths", 2, True)]


def test_no_import_cycle_among_src_modules():
    assert cycles(GRAPH) == []


def test_every_module_is_in_a_layer():
    assert not [m for m in MODULES if m not in ("src", "src.paths") and layer(m) == 0]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module):
    upward = [t for t in GRAPH[module] if layer(t) > layer(module)]
    assert not upward, f"{module} (layer {layer(module)}) imports {upward}"


def test_only_notebooks_and_tests_import_the_facade():
    assert [m for m, targets in GRAPH.items() if "src.helpers" in targets] == []


def test_function_local_imports_only_where_the_build_starts_fast():
    """The build command imports pandas, the notebooks' code and the renderer only when a step needs them
    (a no-op build stays well under a second); nowhere else is an import hidden in a function."""
    local = [
        (m, line, t)
        for m, f in MODULES.items()
        for t, line, inside in imports(f)
        if inside and not m.startswith("src.pipeline.")
    ]
    assert local == []


def test_each_module_says_what_it_is_for():
    missing = [m for m, f in MODULES.items() if not ast.get_docstring(ast.parse(f.read_text(encoding="utf-8")))]
    assert missing == []


def _imported_by(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=paths.ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_a_notebook_does_not_load_the_renderer_and_the_build_does_not_load_pandas():
    """What each process imports costs it seconds: a chapter's kernel (``src.helpers``) needs no nbformat
    (and through it jsonschema's IRI grammar, 3 s); the build command starts without pandas, so a build
    with nothing to do stays well under a second."""
    assert not {"nbformat", "jsonschema", "statsmodels"} & _imported_by("src.helpers")
    assert not {"pandas", "numpy", "nbformat", "papermill"} & _imported_by("src.pipeline.cli")


def private_uses(f: Path) -> list[tuple[str, int]]:
    """``module._name`` for every private name ``f`` takes from another src module: ``from src.x import _name``,
    or ``alias._name`` on a src module it imported (``from src.analysis import measures as ms`` ... ``ms._codes``).
    What a module needs from another is public where it lives; a leading underscore means «only here»."""
    tree = ast.parse(f.read_text(encoding="utf-8"))
    this = module_name(f) if f.is_relative_to(paths.ROOT) else ""
    aliases, found = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "src":
            for a in node.names:
                full = f"{node.module}.{a.name}"
                if full in MODULES:
                    aliases[a.asname or a.name] = full
                elif a.name.startswith("_") and node.module != this:
                    found.append((full, node.lineno))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name in MODULES and a.asname:
                    aliases[a.asname] = a.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and aliases[node.value.id] != this
        ):
            found.append((f"{aliases[node.value.id]}.{node.attr}", node.lineno))
    return sorted(found)


def test_the_private_name_checker_sees_imports_and_attributes(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(
        "from src.book.tables import _hidden, markdown_table\nfrom src.analysis import measures as ms\n"
        "x = ms._codes\ny = ms.grid_vars\nz = ms.__name__\n",
        encoding="utf-8",
    )
    assert private_uses(f) == [("src.analysis.measures._codes", 3), ("src.book.tables._hidden", 1)]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_name_crosses_a_module(module):
    assert private_uses(MODULES[module]) == [], f"{module} uses private names of other modules"
