"""The book's table of contents, from _quarto.yml: chapters and appendices in reading order, the parts, the notebooks."""

from __future__ import annotations

from pathlib import Path

from src.base import paths
from src.base.reference import read_yaml


def load_config(path: Path = paths.QUARTO_CONFIG) -> dict:
    """_quarto.yml, parsed (shared: do not change it)."""
    return read_yaml(path) or {}


def flatten(items) -> list[str]:
    out = []
    for item in items or []:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            if isinstance(item.get("part"), str) and item["part"].endswith((".qmd", ".md", ".ipynb")):
                out.append(item["part"])
            out += flatten(item.get("chapters"))
    return out


def book_files(config: dict | None = None) -> list[str]:
    """Every file of the book in reading order: chapters, then appendices."""
    config = config or load_config()
    book = config.get("book") or {}
    return flatten(book.get("chapters")) + flatten(book.get("appendices"))


def book_parts(config: dict | None = None) -> dict[str, str]:
    """The first file of each ``part:`` of the book -> the part's title (for the fallback's navigation)."""
    config = config or load_config()
    out = {}
    for item in (config.get("book") or {}).get("chapters") or []:
        if isinstance(item, dict) and item.get("part"):
            files = flatten([item])
            if files:
                title = item["part"]
                out[files[0]] = Path(title).stem if str(title).endswith((".qmd", ".md")) else str(title)
    return out


def notebook_order(config: dict | None = None) -> list[str]:
    """Notebook names (e.g. '02_sample') in the order the book lists them."""
    names = []
    for f in book_files(config):
        if f.endswith(".ipynb"):
            names.append(Path(f).stem)
    return names
