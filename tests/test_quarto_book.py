"""The Quarto book (HTML and typst PDF) as a reader gets it, and the fallback numbered the same way.

These tests render the book with the real Quarto and run only where ``quarto`` is on PATH (CI has
none: they skip with a message there). The fallback's numbering is checked without Quarto in
``test_fallback_numbers_captions_and_chapters_as_the_quarto_book`` (tests/test_build.py).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

from src.base import paths
from src.book import captions

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("quarto") is None,
        reason="quarto is not on PATH: the Quarto book (HTML + PDF) is not rendered here; "
        "the fallback book is tested in tests/test_build.py",
    ),
]

PDF = "verneombud-kompendium.pdf"
CAPTION_NUMBER = re.compile(r"<strong>(Tabell|Figur|Table|Figure) (K?[\d.]+):</strong>")


def pages(book: Path) -> list[Path]:
    return [p for p in sorted(book.rglob("*.html")) if "site_libs" not in p.parts and captions.VIEW_DIR not in p.parts]


def chapter_pages(book: Path) -> list[Path]:
    return [p for p in pages(book) if re.match(r"\d\d_", p.name)]


def test_quarto_renders_html_and_pdf_without_warnings_and_leaves_the_tree_clean(quarto_built):
    root, proc, gitignore, _ = quarto_built
    book = root / "reports" / paths.BOOK_DIR
    assert (book / "index.html").exists() and (book / PDF).exists()
    assert "Rendering the book with Quarto" in proc.stdout
    assert (root / ".gitignore").read_bytes() == gitignore  # Quarto's line is committed already
    assert not list((root / "reports").rglob("*.quarto_ipynb"))


def test_pdf_has_the_reports_numbers_and_a_sane_length(quarto_built):
    if not (shutil.which("pdfinfo") and shutil.which("pdftotext")):
        pytest.skip("pdfinfo/pdftotext (poppler-utils) are not installed")
    root, *_ = quarto_built
    pdf = root / "reports" / paths.BOOK_DIR / PDF
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    pages_n = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert 80 <= pages_n <= 220, pages_n
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    for caption in ("Tabell 13: Type kurs, i antall og prosent", "Figur 8:", "Tabell 2:", "Tabell K9."):
        assert caption in re.sub(r"\s+", " ", text), caption
    assert not re.search(r"Tabell \d+\.\d+:|Figur \d+\.\d+:", text)  # no Quarto numbering of floats
    assert "Kapitel " not in text and "Bilag" not in text
    assert "Vedlegg" in text and re.search(r"Vedlegg A — Avstemming mot rapporten", text)
    assert not re.search(r"^\s*5\.1\s+Type kurs og læringsform", text, re.M)  # sections are not numbered


def test_html_has_no_subfigures_empty_captions_or_empty_folds(quarto_built):
    root, *_ = quarto_built
    for page in pages(root / "reports" / paths.BOOK_DIR):
        text = page.read_text(encoding="utf-8")
        name = page.name
        assert "quarto-subfloat" not in text and not re.search(r">\s*\([a-z]\)\s*<", text), name
        assert not re.search(r"<figcaption[^>]*>\s*(Figur|Tabell)?\s*[\d.]*:?\s*</figcaption>", text), name
        for fold in re.findall(r"<details[^>]*>(.*?)</details>", text, re.S):
            body = re.sub(r"<summary.*?</summary>", "", fold, flags=re.S)
            assert re.sub(r"<[^>]+>|\s", "", body), f"{name}: an empty «Vis kode» fold"


def test_html_internal_links_resolve(quarto_built):
    root, *_ = quarto_built
    book = root / "reports" / paths.BOOK_DIR
    ids: dict[Path, set[str]] = {}

    def ids_of(p: Path) -> set[str]:
        if p not in ids:
            ids[p] = set(re.findall(r'\bid="([^"]+)"', p.read_text(encoding="utf-8")))
        return ids[p]

    broken = []
    for page in pages(book):
        for href in re.findall(r'<a [^>]*href="([^"]+)"', page.read_text(encoding="utf-8")):
            href = html.unescape(href)
            if re.match(r"^(https?:|mailto:|javascript:)", href) or href == "#":
                continue
            target, _, frag = href.partition("#")
            path = (page.parent / unquote(target)).resolve() if target else page
            if path.is_dir():
                path = path / "index.html"
            if not path.exists():
                broken.append(f"{page.relative_to(book)}: {href}")
            elif frag and path.suffix == ".html" and frag not in ids_of(path):
                broken.append(f"{page.relative_to(book)}: {href} (no id)")
    assert not broken, broken[:20]


def test_html_numbers_chapters_by_notebook_and_captions_by_the_report(quarto_built):
    root, *_ = quarto_built
    book = root / "reports" / paths.BOOK_DIR
    chapter = (book / "reports/executed/05_course_format.html").read_text(encoding="utf-8")
    assert re.search(r'<span class="chapter-number">5</span>', chapter)
    assert chapter.count("<strong>Tabell 13:</strong>") == 1 and 'id="tabell-13"' in chapter
    assert "Rapportens tabell 13" not in chapter
    appendix = (book / "appendices/scorecard.html").read_text(encoding="utf-8")
    assert "Vedlegg A" in appendix and "Bilag" not in appendix
    index = (book / "index.html").read_text(encoding="utf-8")
    assert "0.1" not in re.sub(r"<[^>]+>", " ", index).split("Status for")[0][-200:]  # front page unnumbered
    assert f'href="./{PDF}" title="Last ned PDF"' in index  # the PDF to download
    assert "fonts.googleapis" not in index


def test_quarto_and_fallback_books_number_tables_and_figures_alike(quarto_built):
    root, _, _, fallback = quarto_built
    book = root / "reports" / paths.BOOK_DIR

    def numbers(page_list):
        return {p.stem: CAPTION_NUMBER.findall(" ".join(captions.book_captions(p))) for p in page_list}

    quarto = numbers(chapter_pages(book))
    plain = numbers(chapter_pages(fallback))
    assert quarto and quarto == plain
    assert ("Tabell", "13") in quarto["05_course_format"] and ("Figur", "8") in quarto["07_usefulness"]
