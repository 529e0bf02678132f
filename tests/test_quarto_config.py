"""_quarto.yml: the book's structure (the report's parts, appendices) and the PDF (typst) settings."""

from __future__ import annotations

import yaml

from src.base import contents, paths
from src.book import render

CONFIG = yaml.safe_load(paths.QUARTO_CONFIG.read_text(encoding="utf-8"))


def test_book_follows_the_reports_structure_method_results_appendices():
    chapters = CONFIG["book"]["chapters"]
    assert chapters[0] == "index.qmd"
    parts = {c["part"]: c["chapters"] for c in chapters if isinstance(c, dict)}
    assert list(parts) == ["Metode", "Resultater"]
    assert parts["Metode"] == ["reports/executed/01_cleaning.ipynb"]
    assert [f.split("/")[-1] for f in parts["Resultater"]] == [
        f"{n}.ipynb"
        for n in (
            "02_sample",
            "03_role",
            "04_training",
            "05_course_format",
            "06_topics",
            "07_usefulness",
            "08_future",
            "09_barriers",
        )
    ]
    assert CONFIG["book"]["appendices"] == [
        "appendices/scorecard.qmd",
        "appendices/weighting.qmd",
        "appendices/reproducibility.qmd",
        "appendices/codebook.qmd",
    ]
    # every notebook is a chapter, and Quarto renders exactly the book's files
    assert sorted(contents.notebook_order()) == sorted(p.stem for p in paths.NOTEBOOKS.glob("*.ipynb"))
    assert CONFIG["project"]["render"] == contents.book_files(CONFIG)
    assert contents.book_parts(CONFIG) == {
        "reports/executed/01_cleaning.ipynb": "Metode",
        "reports/executed/02_sample.ipynb": "Resultater",
    }


def test_source_files_of_the_book_exist():
    for f in contents.book_files(CONFIG):
        if not f.startswith("reports/"):  # reports/ is written by the build (tests/test_build.py)
            assert (paths.ROOT / f).exists(), f


def files_named_in(node) -> set[str]:
    """Every string in _quarto.yml that names a file or folder of the repository (filters, includes, …)."""
    if isinstance(node, dict):
        return set().union(*(files_named_in(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(files_named_in(v) for v in node)) if node else set()
    text = str(node).lstrip("/").rstrip("*").rstrip("/")
    if not text or "\n" in text or text.split("/")[0] == "reports":  # reports/: what the build writes
        return set()
    return {text} if (paths.ROOT / text).exists() else set()


def test_a_copied_project_has_every_file_the_book_configuration_names(tmp_path):
    """The tests and the benchmark build copies of the project (``paths.copy_project``): a filter or include
    _quarto.yml names but the copy lacks made every Quarto render of a copy fail (filters/ after #27)."""
    named = files_named_in(CONFIG)
    assert {"filters/table-hyphens.lua", "typst/a4-book.typ", "index.qmd"} <= named
    root = paths.copy_project(tmp_path / "p")
    missing = sorted(f for f in named if not (root / f).exists())
    assert not missing, f"_quarto.yml names files paths.PROJECT_SOURCES does not copy: {missing}"


def test_pdf_is_typst_on_a4_with_figures_fitted_and_long_tables_breaking():
    typst = CONFIG["format"]["typst"]
    assert typst["papersize"] == "a4" and typst["toc"] is True and typst["number-sections"] is True
    margin = typst["margin"]
    text_width_in = (21.0 - 2 * float(margin["x"].removesuffix("cm"))) / 2.54
    assert abs(typst["fig-width"] - text_width_in) < 0.1  # a figure Quarto draws fills the A4 text column
    assert typst["fig-height"] <= (29.7 - 2 * float(margin["y"].removesuffix("cm"))) / 2.54
    header = (paths.ROOT / typst["include-in-header"]).read_text(encoding="utf-8")
    assert "#show figure: set block(breakable: true)" in header  # long tables split across pages
    assert "#show image: it => layout(" in header and "max-figure-height" in header
    assert typst["author"] and "author" not in CONFIG["book"]  # typst's title page needs one; HTML names none
    assert (paths.ROOT / typst["include-before-body"]).exists()


def test_quarto_is_pinned_and_its_norwegian_words_are_the_reports():
    assert render.QUARTO_VERSION.startswith("1.10.")
    assert CONFIG["quarto-required"] == ">=1.10.0 <1.11.0"
    assert render.QUARTO_VERSION in (paths.ROOT / "README.md").read_text(encoding="utf-8")
    words = CONFIG["language"]["nb"]
    assert words["crossref-ch-prefix"] == "Kapittel" and words["section-title-appendices"] == "Vedlegg"
    assert CONFIG["number-depth"] == 1 and CONFIG["book"]["downloads"] == ["pdf"]
    assert "**/*.quarto_ipynb" in (paths.ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_language_and_captions_follow_lang():
    assert CONFIG["lang"] == "nb"
    # no fixed 'Tabell'/'Figur': Quarto's words come from lang (nb by default, en when rendered with -M lang:en)
    assert "crossref" not in CONFIG or not {"tbl-title", "fig-title"} & set(CONFIG["crossref"])
    assert CONFIG["execute"]["enabled"] is False
    assert "/reports/executed/notebook-view/*" in CONFIG["project"]["resources"]  # the caption links' target
    # anchored at the project root: an unanchored Quarto glob also matches the previous book's copy
    # (reports/book/reports/executed/notebook-view/...) and nests it again at every render
    assert all(str(g).startswith("/") for g in CONFIG["project"]["resources"])


def test_the_readme_names_the_long_pdf_tables_docs_book_md_names():
    """The PDF's tables over two pages are the ones docs/book.md names (tests/test_book_layout.py, with Quarto);
    the README names the same, so a reader of the README is not told a different list."""
    import re

    from test_book_layout import long_tables_named_in_docs

    readme = (paths.ROOT / "README.md").read_text(encoding="utf-8")
    line = next(p for p in readme.split("\n\n") if "reference tables a reader needs" in p)
    named = set(re.findall(r"K\d+\.\d+", line))
    assert named == long_tables_named_in_docs(), (named, long_tables_named_in_docs())
