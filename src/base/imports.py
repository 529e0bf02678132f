"""Which ``src`` modules a piece of code imports, directly or through other ``src`` modules (for up-to-date checks).

Modules are named by their dotted path below ``src`` (``helpers``,
``base.paths``, ``analysis.weighting`` for a package, ``analysis.weighting.raking``).
Importing a module runs its packages' ``__init__`` too, so those count as
dependencies. Read with a regular expression rather than by parsing (a no-op
rebuild reads every notebook and module; parsing them cost 0.4 s);
tests/test_pipeline.py checks that it finds at least what Python's parser
finds, in every file.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from src.base import paths

IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+src((?:\.\w+)*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]+)|import[ \t]+([^\n#;]+))", re.MULTILINE
)
SRC = paths.ROOT / "src"


def module_file(name: str) -> Path | None:
    """The file of module ``name`` (``base.paths`` -> src/base/paths.py, a package -> its __init__.py), or None."""
    base = SRC.joinpath(*name.split("."))
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        if f.is_file():
            return f
    return None


def imported_modules(code: str) -> set[str]:
    """The src modules ``code`` imports (``from src import x``, ``from src.a import b``, ``import src.a.b``, ...)."""
    found = set()
    for package, names, plain in IMPORT.findall(code):
        if plain:
            found |= {n.split()[0][4:] for n in plain.split(",") if n.strip().startswith("src.")}
            continue
        package = package.lstrip(".")
        if package:
            found.add(package)
        for n in names.strip("() \t\n").replace("\n", " ").split(","):
            if n.strip():  # ``from src.base import paths``: the name may be a module of the package
                sub = f"{package}.{n.split()[0]}" if package else n.split()[0]
                if module_file(sub):
                    found.add(sub)
    return {m for m in found if module_file(m)}


def _with_packages(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


@cache
def _module_imports(name: str) -> frozenset[str]:
    return frozenset(imported_modules(module_file(name).read_text(encoding="utf-8")))


def dependencies(code: str) -> list[Path]:
    """Every src file ``code`` imports, directly or through other src modules, with their packages and src/__init__.py."""
    todo, seen = set(imported_modules(code)), set()
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo |= (_module_imports(m) | _with_packages(m)) - seen
    files = {module_file(m) for m in seen} | {SRC / "__init__.py"}
    return sorted(f for f in files if f is not None and f.is_file())


def module_dependencies(*names: str) -> list[Path]:
    """The files of modules ``names`` and of every src module they import (see ``dependencies``)."""
    return dependencies("\n".join(f"import src.{n}" for n in names))
