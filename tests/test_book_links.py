"""Every internal link of the built book works, the notebook views included (issue 26), and the views read as
the notebook does in JupyterLab: no raw Quarto markup, no injected parameters or staging paths, cells numbered
as Lab numbers them after «Restart Kernel and Run All Cells» (what the captions' «celle N» says)."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from src.base import paths

pytestmark = pytest.mark.slow

HREF = re.compile(r'\bhref="([^"]*)"')
ID = re.compile(r'\b(?:id|name)="([^"]*)"')
RAW_MARKUP = re.compile(r":::|\{#[\w-]+\}|\]\{\.|\{\.callout|when-format=")


def broken_links(book: Path) -> tuple[int, list[str]]:
    """(internal links checked, the broken ones as 'page -> href'): a link is internal when it has no scheme;
    it works when its file is in the book and its #anchor is an id (or name) there."""
    ids: dict[Path, set[str]] = {}

    def ids_of(p: Path) -> set[str]:
        if p not in ids:
            ids[p] = set(ID.findall(p.read_text(encoding="utf-8", errors="replace"))) if p.suffix == ".html" else set()
        return ids[p]

    checked, broken = 0, []
    for page in sorted(book.rglob("*.html")):
        for raw in HREF.findall(page.read_text(encoding="utf-8", errors="replace")):
            href = html.unescape(raw)
            if not href or re.match(r"^[a-zA-Z][\w+.-]*:", href) or href.startswith("//"):
                continue
            checked += 1
            target, _, anchor = href.partition("#")
            target = target.split("?", 1)[0]
            path = (page.parent / target).resolve() if target else page
            if path.is_dir():
                path = path / "index.html"
            where = f"{page.relative_to(book)} -> {href}"
            if not path.exists():
                broken.append(where)
            elif anchor and anchor not in ids_of(path):
                broken.append(where)
    return checked, broken


def visible_text(page: str) -> str:
    """A page without its code blocks and tags (what a reader reads)."""
    page = re.sub(r"<(pre|style|script)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_the_fallback_book_and_its_notebook_views_have_no_broken_internal_link(built_project):
    book = built_project[0] / "reports" / "book"
    views = list((book / "notebook-view").glob("*.html"))
    assert len(views) >= 9
    checked, broken = broken_links(book)
    assert checked > 500
    assert not broken, f"{len(broken)} of {checked} internal links broken, e.g. {broken[:8]}"


def test_the_quarto_book_has_no_broken_internal_link(request):
    if not shutil.which("quarto"):
        pytest.skip("quarto is not on PATH (CI has none)")
    root, *_ = request.getfixturevalue("quarto_built")  # the session's Quarto book (the build's whole render)
    out = root / "reports" / "book"
    checked, broken = broken_links(out)
    assert checked > 500
    assert not broken, f"{len(broken)} of {checked} internal links broken, e.g. {broken[:8]}"


def test_the_notebook_views_read_as_lab_shows_the_notebook(built_project):
    root = built_project[0]
    views = sorted((root / "reports" / "executed" / "notebook-view").glob("*.html"))
    assert len(views) >= 9
    for view in views:
        page = view.read_text(encoding="utf-8")
        text = visible_text(page)
        m = RAW_MARKUP.search(text)
        assert not m, f"{view.name}: «{text[max(0, m.start() - 80) : m.end() + 40]}»"
        assert "_staging" not in page and "injected-parameters" not in page, view.name
        assert 'class="book-caption' in page or view.stem == "01_cleaning" or "figur" in page


def test_caption_cell_numbers_agree_with_lab_after_restart_and_run_all(built_project, tmp_path, monkeypatch):
    """Run a chapter as Lab's «Restart Kernel and Run All Cells» does (the notebook as it is in notebooks/,
    no injected parameters): every caption's «celle N» and the view's prompt [N] are the numbers Lab shows."""
    from nbclient import NotebookClient

    root = built_project[0]
    monkeypatch.setenv("PYTHONPATH", str(root))  # the kernel imports the built copy's src (as Lab in that clone would)
    monkeypatch.delenv(paths.BUILD_ENV, raising=False)
    name = "02_sample"
    nb = nbformat.read(root / "notebooks" / f"{name}.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(root / "notebooks")}}
    ).execute()
    in_lab = {}
    for cell in nb.cells:
        m = re.search(r"^#\|\s*label:\s*(\S+)", cell.source, re.M) if cell.cell_type == "code" else None
        if m:
            in_lab[m.group(1)] = cell.execution_count
    executed = (root / "reports" / "executed" / f"{name}.ipynb").read_text(encoding="utf-8")
    said = dict(
        (label, int(n))
        for n, label in re.findall(
            r"02_sample\.ipynb, celle (\d+)\]\(notebook-view/02_sample\.html#cell-([\w-]+)\)", executed
        )
    )
    assert len(said) >= 5 and set(said) <= set(in_lab)
    assert said == {k: in_lab[k] for k in said}
    view = (root / "reports" / "executed" / "notebook-view" / f"{name}.html").read_text(encoding="utf-8")
    for label, n in said.items():
        assert re.search(rf'<a id="cell-{n}"></a><div class="prompt">\[{n}\]</div>', view) or re.search(
            rf'id="cell-{label}"><a id="cell-{n}"></a><div class="prompt">\[{n}\]</div>', view
        ), label
