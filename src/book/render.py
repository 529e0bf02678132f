"""Rendering the book: Quarto when it is installed, else an nbconvert fallback.

Both read the same ``_quarto.yml`` (title, chapter order, appendices) and the
same executed notebooks, and both honour the Quarto cell options the
notebooks carry (``#| label``, ``#| tbl-cap``, ``#| fig-cap``, ``#| echo``),
so a caption written once shows in either book.

The fallback writes ``index.html`` plus one page per chapter, in
``_quarto.yml`` order, with a sidebar, previous/next links, code folded
under "Vis kode", and the captions. It is for reading without Quarto; the
PDF book needs Quarto (typst).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat
import yaml

from src.base import paths
from src.base.contents import book_files, book_parts, flatten, load_config
from src.book.hyphens import hyphenate_tables
from src.book.markup import markdown_to_html  # noqa: F401  (Markdown as Quarto reads it, to HTML; #26)

VIEW_DIR = "notebook-view"  # src/book/captions.py writes each chapter's notebook view there (caption links)
TABLES_HREF = "../tables"  # captions link a table's CSV relative to the chapter page (src/book/captions.py)
DOWNLOADS = ("scorecard.csv", "codebook.csv")  # reports/ files the appendices link (../reports/<file>)
PAGE_WORDS_NOTE_NB = "Gjengitt uten Quarto (reserve-gjengivelse med nbconvert)."
CELL_OPTION = re.compile(r"^#\|\s*([\w-]+)\s*:\s*(.*)$")
INCLUDE = re.compile(r"\{\{<\s*include\s+(\S+)\s*>\}\}")
HEADING_ATTRS = re.compile(r"^(#+ .*?)\s*\{[#.][^}]*\}\s*$", re.M)  # '# Title {#sec-x .unnumbered}'


def strip_heading_attrs(text: str) -> str:
    """Drop Pandoc attributes from headings (Quarto reads them; plain Markdown would print them)."""
    return HEADING_ATTRS.sub(r"\1", text)


QUARTO_VERSION = "1.10.18"  # the Quarto the book is made with (README; _quarto.yml's quarto-required)
INSTALL_STAMP = ".quarto-cli-install-failed"  # in .venv: the pinned quarto-cli could not be installed there


def quarto_available() -> str | None:
    """Path of the quarto executable (on PATH, else the one pip installed into this venv), or None."""
    import sys

    found = shutil.which("quarto")
    if found:
        return found
    venv_quarto = Path(sys.prefix) / "bin" / "quarto"
    return str(venv_quarto) if sys.prefix != sys.base_prefix and venv_quarto.exists() else None


def quarto_version(exe: str) -> str:
    try:
        return subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def version_note(exe: str) -> str | None:
    """One line when the quarto found is not the version the book is made with, else None."""
    found = quarto_version(exe)
    if found != QUARTO_VERSION:
        return (
            f"Note: the book is made with Quarto {QUARTO_VERSION}; {exe} is {found or 'of unknown version'} "
            "(the render may differ)."
        )
    return None


def install_quarto(log=print) -> str | None:
    """Try once per virtual environment to install the pinned Quarto from PyPI (``quarto-cli``).

    The package downloads the official release when it is installed, so it needs the internet.
    A failure is said in one line and remembered with a stamp in the venv (no second try);
    returns the quarto executable, or None.
    """
    import sys

    if sys.prefix == sys.base_prefix:  # not in a venv: never pip-install into the system Python
        return None
    stamp = Path(sys.prefix) / INSTALL_STAMP
    if stamp.exists():
        return None
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--retries",
            "0",
            "--timeout",
            "15",
            f"quarto-cli=={QUARTO_VERSION}",
        ],
        capture_output=True,
        text=True,
    )
    exe = quarto_available()
    if proc.returncode != 0 or not exe:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        stamp.write_text(f"pip install quarto-cli=={QUARTO_VERSION} failed: {last}\n", encoding="utf-8")
        log(
            f"Quarto not found, and pip could not install quarto-cli=={QUARTO_VERSION} into {sys.prefix} "
            f"({last[:120]}); not tried again (remove {paths.relative(stamp)} to retry)."
        )
        return None
    log(f"Installed Quarto {QUARTO_VERSION} into {sys.prefix} (pip install quarto-cli).")
    return exe


def quarto_error(stdout: str, stderr: str) -> tuple[str, str]:
    """(failing format, Quarto's own error lines) of a failed ``quarto render``."""
    text = stderr or stdout
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    lines = plain.splitlines()
    errors = [i for i, line in enumerate(lines) if re.search(r"\bERROR\b|^error:|\berror:", line)]
    if errors:
        shown = []
        for i in errors[:6]:
            shown += lines[i : i + 6]
        detail = "\n".join(dict.fromkeys(shown))  # each line once, in order
    else:
        detail = "\n".join(lines[-25:])
    fmt = "PDF (typst)" if re.search(r"\[typst\]|\.typ\b|typst", plain) else "HTML"
    return fmt, detail


# ---------------------------------------------------------------------------
# _quarto.yml
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# Cell options shared by both renderers
# ---------------------------------------------------------------------------


def cell_options(source: str) -> tuple[dict, str]:
    """Split a code cell into its ``#|`` options and the remaining code."""
    opts, body, in_header = {}, [], True
    for line in source.splitlines():
        m = CELL_OPTION.match(line) if in_header else None
        if m:
            value = yaml.safe_load(m.group(2)) if m.group(2).strip() else None
            opts[m.group(1)] = value
        else:
            in_header = False
            body.append(line)
    return opts, "\n".join(body).strip("\n")


# ---------------------------------------------------------------------------
# Fallback renderer
# ---------------------------------------------------------------------------

CSS = """
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#212529;line-height:1.5}
.layout{display:flex;min-height:100vh}
nav.sidebar{width:17rem;flex:none;background:#f5f6f8;border-right:1px solid #dee2e6;padding:1rem;font-size:.92rem}
nav.sidebar h1{font-size:1.05rem;margin:0 0 .8rem}
nav.sidebar ol{list-style:none;padding-left:0;margin:0}  /* the entries carry the book's numbers (1, A) */
nav.sidebar input{width:100%;box-sizing:border-box;margin:0 0 .8rem;padding:.3rem .5rem;border:1px solid #ced4da;border-radius:4px}
nav.sidebar .search-hits{margin:-.4rem 0 .8rem;font-size:.85rem}
nav.sidebar .search-hits li{margin:.2rem 0}
nav.sidebar li{margin:.3rem 0}
nav.sidebar a{color:#1f4e79;text-decoration:none}
nav.sidebar a.active{font-weight:700}
nav.sidebar .appendix{margin-top:1rem;font-weight:600;color:#555}
main{flex:1;min-width:0;max-width:62rem;padding:1.5rem 2.5rem 4rem;overflow-wrap:break-word}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.92rem;max-width:100%}
table:has(th:nth-child(7)){font-size:.82rem}
table:has(th:nth-child(10)){font-size:.75rem}
th,td{border-bottom:1px solid #dee2e6;padding:.25rem .45rem;text-align:left}
td{overflow-wrap:break-word;hyphens:auto}  /* long words break at their soft hyphens (src/book/hyphens.py) */
html[lang="en"] td{overflow-wrap:anywhere}  /* an English book has no soft hyphens (a Norwegian rule) */
th{border-bottom:2px solid #adb5bd}
.caption{font-weight:600;margin:1.2rem 0 .2rem}
.book-caption{font-weight:600;margin:1.2rem 0 .3rem}
.book-caption p{margin:0}
.caption-source{font-weight:400;color:#6c757d;font-size:.85em}
.fig-caption{margin:.4rem 0 1.4rem}
figure{margin:1rem 0}
figcaption{font-weight:600;margin-top:.3rem}
img{max-width:100%}
details.code{margin:.4rem 0;font-size:.85rem}
details.code summary{cursor:pointer;color:#6c757d}
details.code pre,pre{background:#f8f9fa;padding:.6rem;overflow-x:auto}
.callout{border-left:5px solid #0d6efd;background:#f1f6ff;padding:.4rem 1rem;margin:1rem 0}
.callout-warning{border-color:#e0a800;background:#fff8e1}
.callout-important{border-color:#dc3545;background:#fdecee}
.pager{display:flex;justify-content:space-between;border-top:1px solid #dee2e6;margin-top:3rem;padding-top:1rem}
.renderer-note{color:#6c757d;font-size:.8rem;margin-top:2rem}
"""


SEARCH_JS = """
(function(){
  var box=document.getElementById('book-search'), hits=document.getElementById('book-search-hits');
  if(!box||!window.BOOK_INDEX) return;
  box.addEventListener('input', function(){
    var q=box.value.trim().toLowerCase(); hits.innerHTML='';
    if(q.length<2) return;
    window.BOOK_INDEX.forEach(function(p){
      var i=p.text.toLowerCase().indexOf(q);
      if(i<0 && p.title.toLowerCase().indexOf(q)<0) return;
      var li=document.createElement('li'), a=document.createElement('a');
      a.href=p.href; a.textContent=p.title;
      li.appendChild(a);
      if(i>=0){var s=document.createElement('div'); s.textContent='… '+p.text.slice(Math.max(0,i-40),i+60)+' …'; li.appendChild(s);}
      hits.appendChild(li);
    });
    if(!hits.children.length){var li=document.createElement('li'); li.textContent='–'; hits.appendChild(li);}
  });
})();
"""


def write_search_index(out_dir: Path, pages: list[tuple[str, str, str]]) -> Path:
    """search.js: every page's title and plain text, and the sidebar's search (the fallback has no Quarto search)."""
    import json

    entries = []
    for href, title, body in pages:
        text = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
        entries.append({"href": href, "title": title, "text": re.sub(r"\s+", " ", text).strip()})
    out = out_dir / "search.js"
    out.write_text("window.BOOK_INDEX=" + json.dumps(entries, ensure_ascii=False) + ";\n" + SEARCH_JS, encoding="utf-8")
    return out


def _page(
    title: str, book_title: str, nav: str, body: str, pager: str, lang: str, note: str = PAGE_WORDS_NOTE_NB
) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)} – {html.escape(book_title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f'<body>\n<div class="layout">\n{nav}\n<main>\n{body}\n{pager}\n'
        f'<p class="renderer-note">{html.escape(note)}</p>\n'
        '</main>\n</div>\n<script src="search.js"></script>\n</body>\n</html>\n'
    )


def _notebook_title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                return re.sub(r"\s*\{[^}]*\}\s*$", "", m.group(1)).strip()
    return "Kapittel"


def _qmd_title(text: str) -> tuple[str, str]:
    """(title, body) of a .qmd: title from the front matter or the first heading."""
    title = None
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end > 0:
            front = yaml.safe_load(text[3:end]) or {}
            title = front.get("title")
            text = text[end + 4 :]
    if not title:
        m = re.search(r"^#\s+(.+)$", text, re.M)
        title = re.sub(r"\s*\{[^}]*\}\s*$", "", m.group(1)).strip() if m else "Forside"
        if m:  # the page prints its title once (as <h1>), not again from the text
            text = text[: m.start()] + text[m.end() :]
    return str(title), text


def inline_markdown(text: str) -> str:
    """A caption's Markdown (links, emphasis) as inline HTML, without the paragraph around it."""
    out = markdown_to_html(str(text)).strip()
    return out[3:-4] if out.startswith("<p>") and out.endswith("</p>") and out.count("<p>") == 1 else out


def _prepare_notebook(nb, fold_label: str) -> None:
    """Apply the Quarto cell options to a notebook before nbconvert sees it.

    Captions become outputs (table caption above the outputs, figure caption
    below), the code becomes a folded <details> block, and Markdown outputs
    with callouts become HTML. Cells with ``echo: false`` show no code;
    ``include: false`` hides the cell.
    """
    keep = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            if cell.cell_type == "markdown":
                cell.source = strip_heading_attrs(cell.source)
            keep.append(cell)
            continue
        opts, code = cell_options(cell.source)
        if opts.get("include") is False:
            continue
        new_outputs = []
        label = opts.get("label")
        anchor = f'<a id="{html.escape(str(label))}"></a>' if label else ""
        tags = cell.get("metadata", {}).get("tags", [])
        if code and opts.get("echo", True) is not False and "injected-parameters" not in tags:
            new_outputs.append(
                _html_output(
                    f'<details class="code"><summary>{fold_label}</summary><pre><code>{html.escape(code)}</code></pre></details>'
                )
            )
        if opts.get("tbl-cap"):
            new_outputs.append(_html_output(f'{anchor}<p class="caption">{inline_markdown(opts["tbl-cap"])}</p>'))
            anchor = ""
        for out in cell.get("outputs", []):
            data = out.get("data", {}) if out.get("output_type") in ("display_data", "execute_result") else {}
            cap = caption_of_output(out)
            if cap is not None:  # the numbered caption src/book/captions.py wrote (the same as in the Quarto book)
                new_outputs.append(_html_output(caption_html(cap)))
            elif "text/markdown" in data:
                new_outputs.append(_html_output(markdown_to_html(data["text/markdown"])))
            elif "image/png" in data:
                meta_cap = (cell.get("metadata", {}).get("compendium") or {}).get("fig-cap")
                new_outputs.append(
                    _html_output(
                        f'<img alt="{html.escape(_plain(opts.get("fig-alt") or opts.get("fig-cap") or meta_cap or ""))}" '
                        f'src="data:image/png;base64,{data["image/png"].strip()}">'
                    )
                )
            else:
                new_outputs.append(out)
        if opts.get("fig-cap"):
            new_outputs.append(_html_output(f"{anchor}<figcaption>{inline_markdown(opts['fig-cap'])}</figcaption>"))
        cell.source = ""
        cell.outputs = new_outputs
        keep.append(cell)
    nb.cells = keep


def caption_of_output(out) -> dict | None:
    """The caption src/book/captions.py put into an output's metadata, or None."""
    return ((out.get("metadata") or {}).get("compendium") or {}).get("caption")


def caption_html(cap: dict) -> str:
    """A numbered caption as the fallback shows it: the markup Quarto makes of src/book/captions.py's div."""
    src = cap["source"]
    link = f'<a href="{html.escape(src["href"])}">{html.escape(src["text"])}</a>'
    files = src.get("downloads") or []
    if files:  # the CSV of the table (or of the figure's numbers), as in the Quarto book's HTML
        link += f" · {html.escape(src.get('csv_label', 'CSV'))}: " + ", ".join(
            f'<a href="{TABLES_HREF}/{html.escape(f)}">{html.escape(f)}</a>' for f in files
        )
    return (
        f'<div id="{html.escape(cap["id"])}" class="book-caption {cap["kind"]}-caption">\n'
        f"<p><strong>{html.escape(cap['word'])} {html.escape(cap['number'])}:</strong> "
        f'{inline_markdown(cap["text"])} <span class="caption-source">({html.escape(src["label"])}: {link} · '
        f"{html.escape(src['data'])})</span></p>\n"
        "</div>"
    )


def _plain(text) -> str:
    """Caption text for an alt attribute: Markdown links reduced to their text."""
    return re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", str(text))


def _html_output(text: str):
    return nbformat.v4.new_output("display_data", data={"text/html": text})


def _normalise(rel: Path) -> str:
    """'appendices/../reports/x.md' -> 'reports/x.md' (without touching the file system)."""
    parts = []
    for part in rel.parts:
        if part == "..":
            parts.pop() if parts else None
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


SOURCE_LINK = re.compile(r'href="(?:\.\./)*(?:[\w-]+/)*([\w-]+)\.(?:ipynb|qmd)(#[^"]*)?"')


def _flat_links(html_text: str) -> str:
    """Links to source files (Quarto style: 'reports/executed/02_sample.ipynb#tbl-t02') -> the fallback's pages.

    Downloads are where the Quarto book has them (``<book>/reports/tables/*.csv``, ``<book>/reports/*.csv``);
    a page of the fallback sits at the book's root, so its links lose the ``../`` that climbs out of
    Quarto's ``reports/executed/`` and ``appendices/``.
    """
    html_text = html_text.replace(f'href="{TABLES_HREF}/', 'href="reports/tables/').replace(
        'href="../reports/', 'href="reports/'
    )
    return SOURCE_LINK.sub(lambda m: f'href="{m.group(1)}.html{m.group(2) or ""}"', html_text)


def copy_downloads(reports: Path, out_dir: Path) -> None:
    """The files the book links for download, where the Quarto book has them (``project: resources``)."""
    tables = reports / paths.TABLES_DIR
    if tables.is_dir():
        (out_dir / "reports" / paths.TABLES_DIR).mkdir(parents=True, exist_ok=True)
        for f in sorted(tables.glob("*.csv")):
            shutil.copyfile(f, out_dir / "reports" / paths.TABLES_DIR / f.name)
    for name in DOWNLOADS:
        if (reports / name).is_file():
            (out_dir / "reports").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(reports / name, out_dir / "reports" / name)


def _include(path: Path, source: str = "index.qmd") -> str:
    if not path.exists():
        raise FileNotFoundError(f"{source} includes {path}, which the build did not write")
    return path.read_text(encoding="utf-8")


def book_lang(notebooks: list[Path], default: str = "nb") -> str:
    """The language the executed chapters were built in (papermill's ``lang`` parameter).

    Every chapter must agree: a book half in Norwegian and half in English is
    refused, naming the notebooks of each language.
    """
    langs: dict[str, list[str]] = {}
    for p in notebooks:
        if Path(p).exists():
            nb = nbformat.read(p, as_version=4)
            lang = str(((nb.metadata.get("papermill") or {}).get("parameters") or {}).get("lang", default))
            langs.setdefault(lang, []).append(Path(p).stem)
    if len(langs) > 1:
        detail = "; ".join(f"lang={k}: {', '.join(v)}" for k, v in sorted(langs.items()))
        raise RuntimeError(
            f"the executed chapters were built in different languages ({detail}); "
            'rebuild them all with one lang (make book ARGS="-p lang=...")'
        )
    return next(iter(langs), default)


PAGE_WORDS = {
    "nb": {
        "fold": "Vis kode",
        "appendix": "Vedlegg",
        "appendix_one": "Vedlegg",
        "search": "Søk i boka",
        "note": "Gjengitt uten Quarto (reserve-gjengivelse med nbconvert).",
    },
    "en": {
        "fold": "Show code",
        "appendix": "Appendices",
        "appendix_one": "Appendix",
        "search": "Search the book",
        "note": "Rendered without Quarto (nbconvert fallback).",
    },
}


def render_fallback(
    out_dir: Path, reports_dir: Path | None = None, config_path: Path = paths.QUARTO_CONFIG, lang: str | None = None
) -> Path:
    """Render the HTML book with nbconvert into ``out_dir``; returns index.html.

    ``lang`` (labels of the page furniture and ``<html lang>``) defaults to the
    language the executed chapters were built in, else ``lang`` in _quarto.yml.
    Each chapter's notebook view (``executed/notebook-view/``, written by
    src/book/captions.py, the target of the caption links) is copied to
    ``<out_dir>/notebook-view/``.
    """
    from nbconvert import HTMLExporter

    config = load_config(config_path)
    book = config.get("book") or {}
    book_title = str(book.get("title", "Bok"))
    root = config_path.parent
    files = book_files(config)

    def locate(rel: str) -> Path:
        # the book lists reports/...; a build with another reports_dir keeps them there
        if reports_dir is not None and rel.startswith("reports/"):
            return Path(reports_dir) / rel[len("reports/") :]
        return root / rel

    lang = lang or book_lang([locate(f) for f in files if f.endswith(".ipynb")], str(config.get("lang", "nb")))
    words = PAGE_WORDS.get(lang, PAGE_WORDS["nb"])
    fold_label = words["fold"]

    n_chapters = len(flatten(book.get("chapters")))
    parts = book_parts(config)
    exporter = HTMLExporter(
        template_name="basic", exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )

    pages = []  # (source file, output name, title, body html)
    views: set[Path] = set()
    for i, rel in enumerate(files):
        src = locate(rel)
        if not src.exists():
            raise FileNotFoundError(f"_quarto.yml lists {rel}, which does not exist (run the notebooks first)")
        out_name = "index.html" if i == 0 else Path(rel).stem + ".html"
        if src.suffix == ".ipynb":
            views.add(src.parent / VIEW_DIR)
            nb = nbformat.read(src, as_version=4)
            title = _notebook_title(nb)
            _prepare_notebook(nb, fold_label)
            body, _ = exporter.from_notebook_node(nb)
        else:
            title, text = _qmd_title(src.read_text(encoding="utf-8"))
            here = Path(rel).parent
            text = INCLUDE.sub(lambda m: _include(locate(_normalise(here / m.group(1))), str(rel)), text)
            body = f"<h1>{html.escape(title)}</h1>\n" + markdown_to_html(text)
        pages.append((rel, out_name, title, body))

    # numbered as in the Quarto book (_quarto.yml: number-sections, number-depth 1): the front page
    # not, the chapters 1, 2, ... in order (01_cleaning = 1), the appendices A, B, C
    numbered = []
    chapter = 0
    for i, (rel, out_name, title, body) in enumerate(pages):
        if i == 0:
            number, heading = "", title
        elif i < n_chapters:
            chapter += 1
            number, heading = str(chapter), f"{chapter} {title}"
        else:
            number = chr(ord("A") + i - n_chapters)
            heading = f"{words['appendix_one']} {number} — {title}"
        if number:
            body = re.sub(
                r"<h1([^>]*)>",
                lambda m: (
                    f'<h1{m.group(1)}><span class="chapter-number">'
                    f"{html.escape(heading[: -len(title)].rstrip())}</span> "
                ),
                body,
                count=1,
            )
        numbered.append((rel, out_name, f"{number} {title}".strip(), body))
    pages = numbered

    out_dir.mkdir(parents=True, exist_ok=True)
    for view in sorted(v for v in views if v.is_dir()):
        shutil.copytree(view, out_dir / VIEW_DIR, dirs_exist_ok=True)
    for page in sorted((out_dir / VIEW_DIR).glob("*.html")):  # the views' downloads, where the fallback has them
        text = page.read_text(encoding="utf-8")
        fixed = text.replace(f'href="../{TABLES_HREF}/', 'href="../reports/tables/')
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")
    copy_downloads(Path(reports_dir) if reports_dir is not None else root / "reports", out_dir)
    for i, (_rel, out_name, title, body) in enumerate(pages):
        items = []
        for j, (_, name, t, _) in enumerate(pages):
            if j == n_chapters and j < len(pages):
                items.append(f'</ol><div class="appendix">{words["appendix"]}</div><ol>')
            elif pages[j][0] in parts:
                items.append(f'</ol><div class="appendix">{html.escape(parts[pages[j][0]])}</div><ol>')
            cls = ' class="active"' if j == i else ""
            items.append(f'<li><a href="{name}"{cls}>{html.escape(t)}</a></li>')
        nav = (
            f'<nav class="sidebar"><h1><a href="index.html">{html.escape(book_title)}</a></h1>'
            f'<input type="search" id="book-search" placeholder="{words["search"]}" aria-label="{words["search"]}">'
            f'<ol class="search-hits" id="book-search-hits"></ol>'
            f"<ol>{''.join(items)}</ol></nav>"
        )
        prev_link = f'<a href="{pages[i - 1][1]}">← {html.escape(pages[i - 1][2])}</a>' if i > 0 else "<span></span>"
        next_link = (
            f'<a href="{pages[i + 1][1]}">{html.escape(pages[i + 1][2])} →</a>'
            if i + 1 < len(pages)
            else "<span></span>"
        )
        pager = f'<div class="pager">{prev_link}{next_link}</div>'
        shown = hyphenate_tables(body) if lang == "nb" else body  # a table's long words break at a syllable
        (out_dir / out_name).write_text(
            _flat_links(_page(title, book_title, nav, shown, pager, lang, words["note"])), encoding="utf-8"
        )
    write_search_index(out_dir, [(name, t, body) for _, name, t, body in pages])
    return out_dir / "index.html"


IMG_NO_ALT = re.compile(r'<img(?![^>]*\balt="[^"]+")([^>]*?)(\s*/?)>')
FIG_CAPTION = re.compile(r'<div id="(figur-[^"]+)" class="book-caption fig-caption">\s*<p>(.*?)</p>', re.S)


def figure_alt_text(page: str) -> str:
    """Each figure's image gets its caption (without the source) as alt text: Quarto leaves it empty,
    since src/book/captions.py takes the caption out of the cell (Quarto must not make a float of it)."""
    out, last = [], 0
    for m in IMG_NO_ALT.finditer(page):
        cap = FIG_CAPTION.search(page, m.end())
        if not cap or page.count("<img", m.end(), cap.start()):  # the next caption belongs to another image
            continue
        text = re.sub(r'<span class="caption-source">.*', "", cap.group(2), flags=re.S)
        alt = html.escape(re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", text))).strip(), quote=True)
        attrs = re.sub(r'\s*\balt=""', "", m.group(1))
        out += [page[last : m.start()], f'<img{attrs} alt="{alt}"{m.group(2)}>']
        last = m.end()
    return "".join(out) + page[last:]


def _quarto_lang(root: Path, config: dict) -> str:
    return book_lang([root / f for f in book_files(config) if f.endswith(".ipynb")], str(config.get("lang", "nb")))


def _quarto_cmd(exe: str, config: dict, lang: str, *args: str) -> list[str]:
    cmd = [exe, "render", *args]
    if lang != str(config.get("lang", "nb")):
        cmd += ["-M", f"lang:{lang}"]  # Quarto's labels (Figure/Table, Code, ...) in the chapters' language
    return cmd


def _check_quarto(returncode: int, stdout: str, stderr: str) -> None:
    if returncode != 0:
        fmt, detail = quarto_error(stdout, stderr)
        raise RuntimeError(
            f"quarto render failed in the {fmt} book (exit {returncode}); "
            f"the previous book is left in place. Quarto said:\n{detail}"
        )


def _run_quarto(exe: str, root: Path, config: dict, lang: str, *args: str) -> None:
    proc = subprocess.run(_quarto_cmd(exe, config, lang, *args), cwd=root, capture_output=True, text=True)
    _check_quarto(proc.returncode, proc.stdout, proc.stderr)


# -- the PDF beside the HTML ----------------------------------------------------
# HTML and PDF are rendered at the same time, by two Quarto processes (the machine's two cores), each in a
# project folder of its own: the PDF in a scratch copy of what it is made from (the pages, the files they
# include, _quarto.yml, typst/). Two renders in one folder would share Quarto's scratch files (.quarto/,
# the <page>_files/ folders it writes beside each page and removes after) and its output folder; in two
# folders they share nothing. The copy is of the same files, taken before either render starts, so the
# PDF and the HTML are of one build; the PDF is moved into the book only when both succeeded.


def pdf_inputs(root: Path, config: dict) -> list[str]:
    """The files (relative to ``root``) the PDF is made from: _quarto.yml, typst/, every page and what it includes."""
    pages = [str(p) for p in (config.get("project") or {}).get("render") or book_files(config)]
    files = ["_quarto.yml", *(str(p.relative_to(root)) for p in sorted((root / "typst").rglob("*")) if p.is_file())]
    if (root / ".gitignore").is_file():
        files.append(".gitignore")  # Quarto appends its line to a .gitignore without it
    for rel in pages:
        files.append(rel)
        if rel.endswith(".qmd"):
            page = root / rel
            for inc in INCLUDE.findall(page.read_text(encoding="utf-8")):
                f = (page.parent / inc).resolve()
                if f.is_file():
                    files.append(str(f.relative_to(root.resolve())))
    return list(dict.fromkeys(files))


class PdfRender:
    """``quarto render --to typst`` of a scratch copy of the project, running while the HTML renders.

    ``finish(out_dir)`` waits for it and moves the PDF into the book; ``cancel()`` stops it. The scratch
    folder is removed either way."""

    def __init__(self, exe: str, root: Path, config: dict, lang: str):
        self.scratch = Path(tempfile.mkdtemp(prefix="vo-quarto-pdf-"))
        try:
            project = self.scratch / "project"
            for rel in pdf_inputs(root, config):
                (project / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / rel, project / rel)
            self.out = self.scratch / "out"
            self.log = open(self.scratch / "quarto.log", "w+", encoding="utf-8")  # noqa: SIM115 (closed in _end)
            self.proc = subprocess.Popen(
                _quarto_cmd(exe, config, lang, str(project), "--to", "typst", "--output-dir", str(self.out)),
                cwd=project,
                stdout=self.log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        except BaseException:
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise

    def _end(self) -> str:
        self.log.seek(0)
        text = self.log.read()
        self.log.close()
        return text

    def finish(self, out_dir: Path) -> None:
        try:
            returncode = self.proc.wait()
            output = self._end()
            _check_quarto(returncode, output, "")
            pdfs = sorted(self.out.glob("*.pdf"))
            if not pdfs:
                raise RuntimeError(f"quarto render made no PDF (its output folder held {sorted(os.listdir(self.out))})")
            for pdf in pdfs:
                shutil.move(pdf, out_dir / pdf.name)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def cancel(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self._end()
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)


def _with_pdf(exe: str, root: Path, config: dict, lang: str, out_dir: Path, html) -> None:
    """Run ``html()`` (the HTML renders) while the PDF renders beside it; then move the PDF into ``out_dir``."""
    pdf = PdfRender(exe, root, config, lang)
    try:
        html()
    except BaseException:
        pdf.cancel()
        raise
    pdf.finish(out_dir)


def add_alt_text(out_dir: Path) -> None:
    """Every figure of the rendered HTML pages (not the notebook views) gets its caption as alt text."""
    for page in sorted(Path(out_dir).rglob("*.html")):
        if "site_libs" in page.parts or VIEW_DIR in page.parts:
            continue
        text = page.read_text(encoding="utf-8")
        new = figure_alt_text(text)
        if new != text:
            page.write_text(new, encoding="utf-8")


def plain_search_index(out_dir: Path) -> None:
    """Quarto's search index without the soft hyphens and zero-width spaces of the tables' words
    (filters/table-hyphens.lua): a search for «hovedverneombud» finds the table that breaks it «hoved-ver-neom-bud»."""
    index = Path(out_dir) / "search.json"
    if index.is_file():
        text = index.read_text(encoding="utf-8")
        plain = text.replace("\u00ad", "").replace("\u200b", "")  # as characters, and as JSON escapes
        plain = re.sub(r"\\u00ad|\\u200b", "", plain, flags=re.I)
        if plain != text:
            index.write_text(plain, encoding="utf-8")


def _quarto_setup(reports_dir: Path | None, root: Path) -> tuple[str, dict, str]:
    if reports_dir is not None and Path(reports_dir).resolve() != (root / "reports").resolve():
        raise RuntimeError(
            "the Quarto book reads reports/ (see _quarto.yml); build with reports_dir: reports "
            "or use --renderer fallback"
        )
    exe = quarto_available()
    if not exe:
        raise RuntimeError("quarto is not on PATH")
    config = load_config(root / "_quarto.yml")
    return exe, config, _quarto_lang(root, config)


def render_quarto(out_dir: Path, reports_dir: Path | None = None, root: Path = paths.ROOT) -> Path:
    """``quarto render`` of the project into ``out_dir`` (HTML and PDF per _quarto.yml).

    When the chapters were executed with another ``lang`` than _quarto.yml's
    (``make book ARGS="-p lang=en"``), that language is passed as a metadata
    override (``-M lang:en``).
    """
    exe, config, lang = _quarto_setup(reports_dir, root)
    inputs = quarto_inputs(root, config, lang, quarto_version(exe))
    _render_whole(exe, root, config, lang, out_dir)
    write_render_record(out_dir, inputs)
    return out_dir / "index.html"


def _render_whole(exe: str, root: Path, config: dict, lang: str, out_dir: Path) -> None:
    """The whole book: the HTML (``--to html``) in the project, the PDF at the same time in a scratch copy."""

    def html() -> None:
        _run_quarto(exe, root, config, lang, str(root), "--to", "html", "--output-dir", str(out_dir))
        add_alt_text(out_dir)
        plain_search_index(out_dir)

    _with_pdf(exe, root, config, lang, out_dir, html)


# -- incremental renders ------------------------------------------------------
# A chapter edit re-renders that chapter's HTML page alone (Quarto's incremental render of a book: the other
# pages are those of the previous render) and the PDF, a single file made of every chapter, whole
# (``quarto render --to typst``). The book stays whole and of one build: a page is reused only when
# everything it is made from is byte for byte what the previous render used (RENDER_RECORD, in the book),
# and anything that shows on every page (_quarto.yml, typst/, the titles and order of the pages, Quarto's
# version, the language) changing renders the whole book.

RENDER_RECORD = ".quarto-render.json"  # in the Quarto book: what each page was rendered from
MAX_PAGES_ONE_BY_ONE = 3  # more changed pages than this: one whole render is faster


def _page_title(path: Path) -> str:
    if path.suffix == ".ipynb":
        return _notebook_title(nbformat.read(path, as_version=4))
    return _qmd_title(path.read_text(encoding="utf-8"))[0]


def page_inputs(rel: str, root: Path = paths.ROOT) -> str:
    """sha256 of what page ``rel`` of the book is made from: its file and the files it includes."""
    path = root / rel
    h = hashlib.sha256(path.read_bytes())
    if path.suffix == ".qmd":
        for inc in INCLUDE.findall(path.read_text(encoding="utf-8")):
            f = path.parent / inc
            h.update(inc.encode() + b"\0" + (f.read_bytes() if f.is_file() else b"(missing)"))
    return h.hexdigest()


def quarto_inputs(root: Path, config: dict, lang: str, version: str) -> dict:
    """What the Quarto book is made from: ``common`` (what shows on every page) and each page's inputs."""
    pages = [str(p) for p in (config.get("project") or {}).get("render") or book_files(config)]
    common = hashlib.sha256(f"quarto {version}\nlang {lang}\n".encode())
    for f in [root / "_quarto.yml", *sorted(p for p in (root / "typst").rglob("*") if p.is_file())]:
        common.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    for rel in pages:  # the navigation of every page: the pages in order, with their titles
        common.update(f"{rel}\0{_page_title(root / rel)}\n".encode())
    return {"common": common.hexdigest(), "pages": {rel: page_inputs(rel, root) for rel in pages}}


def write_render_record(out_dir: Path, inputs: dict) -> None:
    (out_dir / RENDER_RECORD).write_text(json.dumps(inputs, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def changed_pages(previous: Path | None, inputs: dict) -> list[str] | None:
    """The pages whose inputs differ from the previous Quarto book's (``previous``: its folder), or None
    when that book cannot be reused (none, not Quarto's, or what every page shows changed)."""
    try:
        before = json.loads((previous / RENDER_RECORD).read_text(encoding="utf-8"))
    except (TypeError, OSError, ValueError):
        return None
    if (
        not isinstance(before, dict)
        or before.get("common") != inputs["common"]
        or set(before.get("pages") or {}) != set(inputs["pages"])
    ):
        return None
    return [rel for rel, digest in inputs["pages"].items() if before["pages"][rel] != digest]


def render_quarto_incremental(
    out_dir: Path, previous: Path | None, reports_dir: Path | None = None, root: Path = paths.ROOT
) -> str:
    """The Quarto book into ``out_dir``, re-rendering only what changed since the book in ``previous`` (a
    vouched-for copy of the last render, or None): the changed HTML pages one by one and the PDF whole;
    everything when the previous book cannot be reused. Returns what was rendered, for the build's log."""
    exe, config, lang = _quarto_setup(reports_dir, root)
    inputs = quarto_inputs(root, config, lang, quarto_version(exe))
    changed = changed_pages(previous, inputs)
    if changed is None or len(changed) > MAX_PAGES_ONE_BY_ONE:
        _render_whole(exe, root, config, lang, out_dir)
        write_render_record(out_dir, inputs)
        return "the whole book (HTML and PDF)"
    shutil.copytree(previous, out_dir, symlinks=True)

    def html() -> None:
        for rel in changed:  # Quarto's incremental render of a book page: the other pages are the previous ones
            _run_quarto(exe, root, config, lang, rel, "--to", "html", "--output-dir", str(out_dir))
        views = root / "reports" / "executed" / VIEW_DIR  # project resources (_quarto.yml): the notebook views
        if views.is_dir():
            shutil.copytree(views, out_dir / "reports" / "executed" / VIEW_DIR, dirs_exist_ok=True)
        copy_downloads(root / "reports", out_dir)  # the tables' CSVs the captions link (project resources)
        add_alt_text(out_dir)
        plain_search_index(out_dir)

    if changed:  # the PDF is one file made of every page: rendered whole, beside the changed pages
        _with_pdf(exe, root, config, lang, out_dir, html)
    else:
        html()
    write_render_record(out_dir, inputs)
    return (
        f"{len(changed)} HTML page(s) ({', '.join(changed)}) and the PDF"
        if changed
        else "nothing: every page as before"
    )
