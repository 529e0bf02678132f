"""The Quarto edit loop (src/book/render.py: render_quarto_incremental): a chapter edit re-renders that page
and the PDF, anything every page shows re-renders the whole book. Quarto itself is stood in for by a script
that logs its arguments and writes what it was asked for (the real render: tests/test_quarto_book.py)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import nbformat
import pytest

from src.book import render

FAKE_QUARTO = """#!{python}
import hashlib, json, os, sys, time
from pathlib import Path
if sys.argv[1:] == ["--version"]:
    print("{version}")
    sys.exit(0)
args = sys.argv[2:]
with open(os.environ["FAKE_QUARTO_LOG"], "a") as f:
    f.write(json.dumps(args) + "\\n")
out = Path(args[args.index("--output-dir") + 1])
out.mkdir(parents=True, exist_ok=True)
target = args[0]
started = Path(os.environ["FAKE_QUARTO_LOG"] + ".pdf-started")
if "--to" in args and args[args.index("--to") + 1] == "typst":
    started.write_text("")  # the HTML render waits for this: the two run at the same time
    if os.environ.get("FAKE_QUARTO_FAIL") == "typst":
        print("ERROR: typst says no", file=sys.stderr)
        sys.exit(1)
    made_of = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(".").rglob("*")) if p.is_file()}
    (out / "book.pdf").write_text("pdf of " + json.dumps(made_of))
else:
    for _ in range(200):
        if started.exists():
            break
        time.sleep(0.05)
    else:
        print("ERROR: the PDF render did not start while the HTML rendered", file=sys.stderr)
        sys.exit(1)
    if os.environ.get("FAKE_QUARTO_FAIL") == "html":
        print("ERROR: html says no", file=sys.stderr)
        sys.exit(1)
    pages = [target] if target.endswith((".qmd", ".ipynb")) else ["index.qmd", "a.qmd", "ch.ipynb"]
    for p in pages:
        (out / (Path(p).stem + ".html")).write_text("page " + hashlib.sha256(Path(p).read_bytes()).hexdigest())
"""


def notebook(title: str, code: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}"), nbformat.v4.new_code_cell(code)]
    return nbformat.writes(nb)


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "p"
    (root / "typst").mkdir(parents=True)
    (root / "typst" / "a4.typ").write_text("// rules\n")
    (root / "reports").mkdir()
    (root / "reports" / "_info.md").write_text("data A\n")
    (root / "_quarto.yml").write_text(
        "project:\n  type: book\n  render: [index.qmd, a.qmd, ch.ipynb]\n"
        "book:\n  chapters: [index.qmd, a.qmd, ch.ipynb]\nlang: nb\n"
    )
    (root / "index.qmd").write_text("# Forside\n\n{{< include reports/_info.md >}}\n")
    (root / "a.qmd").write_text("# Kapittel A\n\ntekst\n")
    (root / "ch.ipynb").write_text(notebook("Kapittel B", "x = 1"))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "quarto"
    exe.write_text(FAKE_QUARTO.replace("{python}", sys.executable).replace("{version}", render.QUARTO_VERSION))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "quarto.log"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_QUARTO_LOG", str(log))
    return root, log


def calls(log: Path) -> list[list[str]]:
    """Quarto's calls, in the order they were made; the PDF's scratch copy and its output folder (a new
    temporary folder each time) read as <pdf project> and <pdf out>. Clears the log for the next render."""
    out = []
    for line in log.read_text().splitlines() if log.exists() else []:
        args = json.loads(line)
        if "typst" in args:
            args = [
                "<pdf project>" if a.endswith("/project") else "<pdf out>" if a.endswith("/out") else a for a in args
            ]
        out.append(args)
    for f in (log, Path(str(log) + ".pdf-started")):
        f.unlink(missing_ok=True)
    return out


def whole(root: Path, out: Path) -> list[list[str]]:
    """The calls of a whole render: the HTML in the project and the PDF in its scratch copy, at the same time."""
    return sorted([[str(root), "--to", "html", "--output-dir", str(out)], PDF_CALL])


PDF_CALL = ["<pdf project>", "--to", "typst", "--output-dir", "<pdf out>"]


def test_a_chapter_edit_renders_its_page_and_the_pdf_and_reuses_the_rest(project, tmp_path):
    root, log = project
    first = tmp_path / "book1"
    assert render.render_quarto_incremental(first, None, root=root) == "the whole book (HTML and PDF)"
    assert sorted(calls(log)) == whole(root, first)
    assert (first / render.RENDER_RECORD).exists()
    assert (first / "book.pdf").exists() and (first / "index.html").exists()

    (root / "ch.ipynb").write_text(notebook("Kapittel B", "x = 2"))  # the chapter's content, same title
    second = tmp_path / "book2"
    what = render.render_quarto_incremental(second, first, root=root)
    assert what == "1 HTML page(s) (ch.ipynb) and the PDF"
    assert sorted(calls(log)) == sorted([["ch.ipynb", "--to", "html", "--output-dir", str(second)], PDF_CALL])
    assert (second / "a.html").read_text() == (first / "a.html").read_text()  # reused
    assert (second / "ch.html").read_text() != (first / "ch.html").read_text()  # rendered again
    # the PDF is made of everything it needs, copied: the pages, what they include, _quarto.yml, typst/
    made_of = json.loads((second / "book.pdf").read_text().removeprefix("pdf of "))
    assert set(made_of) >= {"_quarto.yml", "typst/a4.typ", "index.qmd", "a.qmd", "ch.ipynb", "reports/_info.md"}
    assert (second / "book.pdf").read_text() != (first / "book.pdf").read_text()  # of the edited chapter

    third = tmp_path / "book3"  # nothing changed since: nothing rendered, the book copied whole
    assert render.render_quarto_incremental(third, second, root=root) == "nothing: every page as before"
    assert calls(log) == [] and (third / "ch.html").read_text() == (second / "ch.html").read_text()


def test_an_included_file_counts_as_its_pages_input(project, tmp_path):
    root, log = project
    render.render_quarto_incremental(tmp_path / "b1", None, root=root)
    (root / "reports" / "_info.md").write_text("data B\n")
    calls(log)
    assert (
        render.render_quarto_incremental(tmp_path / "b2", tmp_path / "b1", root=root)
        == "1 HTML page(s) (index.qmd) and the PDF"
    )


@pytest.mark.parametrize("change", ["title", "config", "typst", "no record", "lang"])
def test_what_every_page_shows_changing_renders_the_whole_book(project, tmp_path, change):
    root, log = project
    first = tmp_path / "b1"
    render.render_quarto_incremental(first, None, root=root)
    if change == "title":  # the navigation of every page shows it
        (root / "a.qmd").write_text("# Kapittel A, nytt navn\n\ntekst\n")
    elif change == "config":
        (root / "_quarto.yml").write_text((root / "_quarto.yml").read_text() + "number-sections: true\n")
    elif change == "typst":
        (root / "typst" / "a4.typ").write_text("// other rules\n")
    elif change == "no record":  # a book the fallback made, or an older one
        (first / render.RENDER_RECORD).unlink()
    elif change == "lang":  # the chapters executed in English: -M lang:en on every page
        nb = nbformat.reads((root / "ch.ipynb").read_text(), as_version=4)
        nb.metadata["papermill"] = {"parameters": {"lang": "en"}}
        (root / "ch.ipynb").write_text(nbformat.writes(nb))
    calls(log)
    second = tmp_path / "b2"
    assert render.render_quarto_incremental(second, first, root=root) == "the whole book (HTML and PDF)"
    assert sorted(c[:3] for c in calls(log)) == sorted([[str(root), "--to", "html"], PDF_CALL[:3]])


def test_many_changed_pages_render_as_one_whole_book(project, tmp_path, monkeypatch):
    root, log = project
    render.render_quarto_incremental(tmp_path / "b1", None, root=root)
    monkeypatch.setattr(render, "MAX_PAGES_ONE_BY_ONE", 1)
    (root / "a.qmd").write_text("# Kapittel A\n\nannen tekst\n")
    (root / "ch.ipynb").write_text(notebook("Kapittel B", "x = 3"))
    calls(log)
    assert (
        render.render_quarto_incremental(tmp_path / "b2", tmp_path / "b1", root=root) == "the whole book (HTML and PDF)"
    )


@pytest.mark.parametrize("failing", ["html", "typst"])
def test_a_failed_html_or_pdf_render_fails_the_book_and_leaves_no_scratch_copy(project, tmp_path, monkeypatch, failing):
    """HTML and PDF render at the same time; either failing fails the render (the build keeps the previous
    book), and the PDF's scratch copy is removed."""
    root, log = project
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("FAKE_QUARTO_FAIL", failing)
    with pytest.raises(RuntimeError, match=f"(?s)quarto render failed.*{failing} says no"):
        render.render_quarto_incremental(tmp_path / "b1", None, root=root)
    assert list(scratch.iterdir()) == []
