"""Captions with provenance and the report's numbers, in the book's language: a step run on the executed notebooks.

After papermill has executed the chapters (``reports/executed/*.ipynb``) and
before the book is rendered, :func:`annotate_notebook` turns every table and
figure caption (the ``#| label`` + ``#| tbl-cap`` / ``#| fig-cap`` cell options
the notebook carries) into a caption output of the cell that

* carries the report's number when the cell reproduces one of its tables or
  figures (label ``tbl-t13`` -> «Tabell 13», ``fig-f08`` -> «Figur 8»), and the
  compendium's own number otherwise («Tabell K5.1»: chapter 5, its first own
  table), with an anchor (``tabell-13``, ``figur-8``, ``tabell-k5-1``);
* is in the book's language: the notebook's Norwegian caption, or, when the
  notebooks ran with ``lang: en``, the English caption for the cell's label
  from ``data/reference/captions_en.yml``;
* ends with its source: a link to the notebook cell that made it and the data
  it was made from, e.g. ``Tabell 2: … (Kilde: [02_sample.ipynb, celle 5](notebook-view/02_sample.html#cell-tbl-t02)
  · data verneombud_2024_synthetic.sav, sha256 1a2b3c4d)``; in the PDF the
  source is plain text (Quarto cuts a relative link with a ``#`` to a bare
  fragment in a single-file book, which typst refuses).

Quarto cannot give a float a number by hand, so the caption is a div of our
own (``::: {#tabell-13 .book-caption}``) and the label and caption options are
taken out of the executed copy (kept in the cell's metadata, ``compendium.*``):
Quarto makes no float of the cell, numbers nothing its own way, and never
splits a cell with several outputs into sub-figures. The fallback renderer
shows the same caption from the output's metadata. Table captions go above the
outputs, figure captions right after the figure. The prose's «tabell 13» /
«figur 8» become links to the table or figure the book shows under that number.

The link target is a *notebook view* this step writes beside the executed
notebooks (``reports/executed/notebook-view/<notebook>.html``, with a copy of
the executed ``.ipynb`` to download): every cell with its code, options and
outputs, each code cell anchored as ``cell-<label>`` and ``cell-<n>`` (``n`` =
the execution count Jupyter shows). The link is relative to the chapter page,
so it works in both renderers: Quarto writes the chapter
``reports/executed/07_usefulness.ipynb`` to ``<book>/reports/executed/07_usefulness.html``
and copies ``reports/executed/notebook-view/`` beside it (``project: resources``
in ``_quarto.yml``); the nbconvert fallback writes the chapter to
``<book>/07_usefulness.html`` and copies the folder to ``<book>/notebook-view/``.

The step is idempotent and cheap: the caption as the notebook wrote it is kept
in the cell's metadata (``compendium.tbl-cap``/``fig-cap``) and every run starts
from it, so running twice never appends twice; a notebook (or view page) whose
content would not change is not rewritten (its file time stays, for
incremental builds).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
from pathlib import Path

import nbformat
import yaml

from src.base import paths
from src.base.escape import md_text
from src.base.reference import CAPTIONS_EN, load_captions_en
from src.book.render import cell_options, markdown_to_html

CAPTION_KEYS = ("tbl-cap", "fig-cap")
META_KEY = "compendium"
VIEW_DIR = "notebook-view"
CATALOGUE = CAPTIONS_EN
SHORT_SHA = 8
BANNER_SHA = re.compile(r"sha256 `([0-9a-f]{64})`")

WORDS = {
    "nb": {
        "source": "Kilde",
        "cell": "celle",
        "data": "data",
        "csv": "last ned",
        "download": "Last ned notatboken (.ipynb)",
        "back": "Tilbake til kapitlet",
        "title": "Notatbok",
    },
    "en": {
        "source": "Source",
        "cell": "cell",
        "data": "data",
        "csv": "download",
        "download": "Download the notebook (.ipynb)",
        "back": "Back to the chapter",
        "title": "Notebook",
    },
}


class CaptionError(ValueError):
    """A caption catalogue or an executed notebook that the step cannot use."""


# ---------------------------------------------------------------------------
# the English caption catalogue
# ---------------------------------------------------------------------------


def load_catalogue(path: Path = CATALOGUE) -> dict[str, str]:
    """label -> English caption, from captions_en.yml (``captions:`` section)."""
    try:
        raw = load_captions_en(path)
    except yaml.YAMLError as exc:
        raise CaptionError(f"{paths.relative(path)} is not valid YAML: {exc}") from None
    captions = raw.get("captions")
    if not isinstance(captions, dict):
        raise CaptionError(f"{paths.relative(path)} needs a mapping 'captions: {{<cell label>: <English caption>}}'")
    bad = sorted(
        str(k)
        for k, v in captions.items()
        if not isinstance(v, str) or not v.strip() or not str(k).startswith(("tbl-", "fig-"))
    )
    if bad:
        raise CaptionError(
            f"{paths.relative(path)}: captions must be non-empty strings under tbl-/fig- labels; check {bad}"
        )
    return {str(k): v.strip() for k, v in captions.items()}


def labelled_cells(nb) -> list[tuple[int, str, str, str]]:
    """(cell index, label, caption option key, caption) for every captioned code cell."""
    out = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        opts, code = cell_options(cell.source)
        meta = cell.metadata.get(META_KEY) or {}  # an annotated notebook keeps them there
        label = opts.get("label") or meta.get("label")
        for key in CAPTION_KEYS:
            caption = meta.get(key) or opts.get(key)
            if caption and label:
                out.append((i, str(label), key, str(caption)))
    return out


# ---------------------------------------------------------------------------
# one notebook
# ---------------------------------------------------------------------------


def short_sha(sha: str) -> str:
    return sha[:SHORT_SHA]


REPORT_LABEL = re.compile(r"^(tbl)-t(\d+)$|^(fig)-f(\d+)$")  # tbl-t13 = the report's Tabell 13, fig-f08 = Figur 8
KIND_WORDS = {"nb": {"tbl": "Tabell", "fig": "Figur"}, "en": {"tbl": "Table", "fig": "Figure"}}
ANCHOR_WORDS = {"tbl": "tabell", "fig": "figur"}
CAPTION_OUTPUT = "caption"  # output metadata compendium: {"caption": {...}} marks the caption this step writes


def chapter_number(name: str) -> str:
    """'05_course_format' -> '5' (the book numbers chapters by notebook: 01_cleaning is chapter 1)."""
    m = re.match(r"^(\d+)_", name)
    return str(int(m.group(1))) if m else name


def number_of(label: str, kind: str, name: str, own_counter: dict) -> tuple[str, str]:
    """(number shown, anchor id) of a captioned cell.

    A cell labelled ``tbl-t<n>``/``fig-f<n>`` reproduces the report's table/figure n and carries
    its number (Tabell 13, anchor ``tabell-13``). The compendium's own tables and figures are
    numbered per chapter with a K (Tabell K5.1, anchor ``tabell-k5-1``), so they never look like
    one of the report's.
    """
    m = REPORT_LABEL.match(label)
    if m and (m.group(1) or m.group(3)) == kind:
        n = str(int(m.group(2) or m.group(4)))
        return n, f"{ANCHOR_WORDS[kind]}-{n}"
    own_counter[kind] = own_counter.get(kind, 0) + 1
    n = f"K{chapter_number(name)}.{own_counter[kind]}"
    return n, f"{ANCHOR_WORDS[kind]}-{n.lower().replace('.', '-')}"


def report_anchors(notebooks_dir: Path | None = None) -> dict[tuple[str, str], tuple[str, str]]:
    """('tbl'|'fig', report number) -> (notebook, anchor) for every report table/figure the book reproduces."""
    notebooks_dir = Path(notebooks_dir or paths.NOTEBOOKS)
    out = {}
    for p in sorted(notebooks_dir.glob("*.ipynb")):
        for _, label, key, _ in labelled_cells(nbformat.read(p, as_version=4)):
            m = REPORT_LABEL.match(label)
            if m:
                kind = key[:3]
                n = str(int(m.group(2) or m.group(4)))
                out[(kind, n)] = (p.stem, f"{ANCHOR_WORDS[kind]}-{n}")
    return out


def shown_tables(reports: Path, notebooks_dir: Path | None = None) -> dict[str, tuple[str, str, str]]:
    """``reports/tables/<name>.csv`` -> (notebook, anchor, caption number) of the captioned table or figure that
    shows it in the book («tabell-k5-7», «Tabell K5.7»), in the chapters' order: what a scorecard row links to.

    The same numbering as the captions (``number_of`` over the notebooks' captioned cells, and the
    CSV a cell writes found as ``data_files`` finds it)."""
    out: dict[str, tuple[str, str, str]] = {}
    for nb_path in sorted(Path(notebooks_dir or paths.NOTEBOOKS).glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        counter: dict[str, int] = {}
        for i, label, key, _ in labelled_cells(nb):
            number, anchor = number_of(label, key[:3], nb_path.stem, counter)
            shown = f"{KIND_WORDS['nb'][key[:3]]} {number}"  # «Tabell K5.7», «Figur 8», as the caption
            for f in data_files(cell_options(nb.cells[i].source)[1], reports / paths.TABLES_DIR):
                out.setdefault(f[: -len(".csv")], (nb_path.stem, anchor, shown))
    return out


TABLES_HREF = "../tables"  # a chapter page (reports/executed/x.html in Quarto) to reports/tables/ in the book


def data_files(code: str, tables_dir: Path) -> list[str]:
    """The CSV files a captioned cell wrote: the names in its code that are files in ``reports/tables/``.

    Every captioned cell names its table or figure by a literal (``ch.table(t, "tabell_13")``,
    ``ch.figure("figur_08")``), and ``Chapter.table``/``figure`` write ``reports/tables/<name>.csv``.
    """
    names = dict.fromkeys(re.findall(r"[\"']([A-Za-z0-9_.-]+)[\"']", code))
    return [f"{n}.csv" for n in names if (Path(tables_dir) / f"{n}.csv").is_file()]


def downloads_markdown(cap: dict) -> str:
    """« · CSV: tabell_13.csv» linked to the table's (or the figure's numbers') CSV: HTML only."""
    files = (cap.get("source") or {}).get("downloads") or []
    if not files:
        return ""
    links = ", ".join(f"[{f}]({TABLES_HREF}/{f})" for f in files)
    return f" · {cap['source'].get('csv_label', 'CSV')}: {links}"


def caption_markdown(cap: dict) -> str:
    """The caption as Quarto reads it: a div with the anchor id; the provenance and download links only in HTML.

    In the PDF the source is plain text: Quarto's book filter cuts a relative link with a ``#``
    to the bare fragment in a single-file book, which typst refuses (a label that does not exist).
    The download links (the CSV of a table, the numbers of a figure) are the HTML book's only.
    """
    src = cap["source"]
    source = (
        f'[[{src["text"]}]({src["href"]}){downloads_markdown(cap)}]{{.content-visible when-format="html"}}'
        f'[{src["text"]}]{{.content-hidden when-format="html"}}'
    )
    return (
        f"::: {{#{cap['id']} .book-caption .{cap['kind']}-caption}}\n"
        f"**{cap['word']} {cap['number']}:** {cap['text']} "
        f"[({src['label']}: {source} · {src['data']})]{{.caption-source}}\n:::"
    )


def caption_plain(cap: dict) -> str:
    """The caption in one line of Markdown (link kept): what the tests compare."""
    src = cap["source"]
    return (
        f"{cap['word']} {cap['number']}: {cap['text']} ({src['label']}: [{src['text']}]({src['href']}) · {src['data']})"
    )


def caption_output(cap: dict):
    return nbformat.v4.new_output(
        "display_data", data={"text/markdown": caption_markdown(cap)}, metadata={META_KEY: {CAPTION_OUTPUT: cap}}
    )


def caption_of_output(out) -> dict | None:
    return ((out.get("metadata") or {}).get(META_KEY) or {}).get(CAPTION_OUTPUT)


def _strip_options(source: str, keys) -> str:
    pattern = re.compile(rf"^#\|\s*({'|'.join(map(re.escape, keys))})\s*:")
    return "\n".join(line for line in source.splitlines() if not pattern.match(line))


MENTION = re.compile(r"(?<![\[\w/#-])([Tt]abell|[Ff]igur)(en)?\s+(\d+)(?![\w\]]|,\d)")


def link_mentions(text: str, name: str, anchors: dict) -> str:
    """«tabell 13» / «figur 8» in prose -> a link to that table/figure (same chapter: #anchor; another: its page).

    Headings, code and text already inside a link are left alone; a number the book does not
    reproduce stays plain.
    """
    out = []
    in_code = False
    for line in text.split("\n"):
        if line.startswith("```"):
            in_code = not in_code
        if in_code or line.lstrip().startswith("#") or line.startswith(":::"):
            out.append(line)
            continue
        pieces = re.split(r"(`[^`]*`|\[[^\]]*\]\([^)]*\))", line)  # code spans and links stay as they are

        def repl(m):
            kind = "tbl" if m.group(1).lower() == "tabell" else "fig"
            hit = anchors.get((kind, m.group(3)))
            if not hit:
                return m.group(0)
            nb, anchor = hit
            return f"[{m.group(0)}]({'#' + anchor if nb == name else f'{nb}.ipynb#{anchor}'})"

        for i in range(0, len(pieces), 2):
            pieces[i] = MENTION.sub(repl, pieces[i])
        out.append("".join(pieces))
    return "\n".join(out)


INJECTED = "injected-parameters"  # papermill's tag on the cell it adds (the build's parameters)


def lab_number(nb, index: int) -> int:
    """The number JupyterLab shows for code cell ``index`` after «Restart Kernel and Run All Cells».

    papermill's execution counts include the parameters cell it injects; Lab, running the notebook
    as it is in notebooks/, has no such cell, so every later count is one less there. The caption's
    «celle N», the view's prompt and its ``#cell-N`` anchor all use this number (#26).
    """
    cells = nb.cells
    injected = sum(
        1
        for c in cells[:index]
        if c.cell_type == "code" and INJECTED in c.metadata.get("tags", []) and c.get("execution_count")
    )
    count = cells[index].get("execution_count")
    if count:
        return int(count) - injected
    return 1 + sum(1 for c in cells[:index] if c.cell_type == "code" and INJECTED not in c.metadata.get("tags", []))


def _markdown_text(out) -> str | None:
    text = (out.get("data") or {}).get("text/markdown")
    if text is None:
        return None
    return text if isinstance(text, str) else "".join(text)


def notebook_data_sha(nb) -> str | None:
    """The sha256 of the data the notebook's banner says it read (None if it shows none)."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = (out.get("data") or {}).get("text/markdown", "")
            m = BANNER_SHA.search(text if isinstance(text, str) else "".join(text))
            if m:
                return m.group(1)
    return None


def notebook_lang(nb, default: str = "nb") -> str:
    """The ``lang`` parameter papermill ran the notebook with."""
    return str(((nb.metadata.get("papermill") or {}).get("parameters") or {}).get("lang", default))


def notebook_weighted(nb) -> bool:
    """Whether papermill ran the notebook with ``weighted: true`` (its percentages and means are weighted)."""
    return ((nb.metadata.get("papermill") or {}).get("parameters") or {}).get("weighted") is True


WEIGHTED_NOTE = {"nb": " (vektet)", "en": " (weighted)"}


def annotate_notebook(
    path: Path, info: dict, lang: str | None = None, catalogue: dict[str, str] | None = None, link_prose: bool = True
) -> tuple[bool, list[str]]:
    """Rewrite the captions of one executed notebook in place.

    Returns (changed, labels without an English caption). ``lang`` defaults to
    the language the notebook was executed in. Raises CaptionError when the
    notebook shows data other than ``info`` (a stale executed notebook).
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    lang = lang or notebook_lang(nb)
    if lang not in WORDS:
        raise CaptionError(f"{paths.relative(path)}: unknown language {lang!r} (expected 'nb' or 'en')")
    seen = notebook_data_sha(nb)
    if seen and seen != info["sha256"]:
        raise CaptionError(
            f"{paths.relative(path)} was executed on data with sha256 {short_sha(seen)}…, but "
            f"{paths.DATA_INFO_FILE} names {info['file']} with sha256 {short_sha(info['sha256'])}…: "
            "execute the notebook again (make book) before rendering"
        )
    if lang == "en" and catalogue is None:
        catalogue = load_catalogue()
    missing = []

    name = path.stem
    words = WORDS[lang]
    kinds = KIND_WORDS[lang]
    counter: dict[str, int] = {}
    anchors = report_anchors() if link_prose else {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            if link_prose:
                cell.source = link_mentions(cell.source, name, anchors)
            continue
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        if ("parameters" in tags or "injected-parameters" in tags) and not re.search(
            r"^#\|\s*include\s*:", cell.source, re.M
        ):
            cell.source = "#| include: false\n" + cell.source  # no empty «Kode» fold at the top of a chapter
        opts, code = cell_options(cell.source)
        meta = cell.metadata.get(META_KEY) or {}
        label = opts.get("label") or meta.get("label")
        keys = [k for k in CAPTION_KEYS if opts.get(k) or meta.get(k)]
        outputs = [o for o in cell.get("outputs", []) if caption_of_output(o) is None]
        for o in outputs:  # Quarto reads an output's text/html before its text/markdown: the Markdown only (#26)
            if ((o.get("metadata") or {}).get(META_KEY) or {}).get("html") == "from-markdown":
                (o.get("data") or {}).pop("text/html", None)
        if link_prose:
            for o in outputs:
                md = _markdown_text(o)
                if md is not None:
                    o["data"]["text/markdown"] = link_mentions(md, name, anchors)
        if not label or not keys:
            cell.outputs = outputs
            continue
        meta = cell.metadata.setdefault(META_KEY, {})
        meta["label"] = str(label)
        for key in keys:
            original = meta.setdefault(key, str(opts.get(key)))  # the caption as the notebook wrote it
            caption = original
            if lang == "en":
                if str(label) in catalogue:
                    caption = catalogue[str(label)]
                else:
                    missing.append(str(label))
            if notebook_weighted(nb):  # a weighted book says so under every table and figure
                caption = caption.rstrip() + WEIGHTED_NOTE[lang]
            kind = key[:3]
            number, anchor = number_of(str(label), kind, name, counter)
            count = lab_number(nb, i)
            cap = {
                "kind": kind,
                "word": kinds[kind],
                "number": number,
                "id": anchor,
                "label": str(label),
                "text": caption,
                "source": {
                    "label": words["source"],
                    "text": f"{name}.ipynb, {words['cell']} {count}",
                    "href": f"{VIEW_DIR}/{name}.html#cell-{label}",
                    "data": f"{words['data']} {md_text(info['file'])}, sha256 {short_sha(info['sha256'])}",
                    "downloads": data_files(code, path.parent.parent / paths.TABLES_DIR),
                    "csv_label": words["csv"],
                },
            }
            if kind == "tbl":  # tables have their caption above (as in the report), figures below
                outputs.insert(0, caption_output(cap))
            else:
                at = next((j + 1 for j, o in enumerate(outputs) if "image/png" in (o.get("data") or {})), len(outputs))
                outputs.insert(at, caption_output(cap))
        # Quarto must not make a float of the cell: it would number it its own way («Tabell 6.1»)
        # and split a cell with several outputs into sub-figures. Label and caption live on in the
        # metadata (compendium.*) and in the caption output.
        cell.source = _strip_options(cell.source, ("label",) + CAPTION_KEYS)
        cell.outputs = outputs
    new_text = nbformat.writes(nb)
    if not new_text.endswith("\n"):
        new_text += "\n"
    changed = new_text != text
    if changed:
        tmp = path.with_suffix(".ipynb.tmp")
        tmp.write_text(new_text, encoding="utf-8")
        tmp.replace(path)
    return changed, missing


# ---------------------------------------------------------------------------
# the notebook view (the link target)
# ---------------------------------------------------------------------------

VIEW_CSS = """
body{margin:0 auto;max-width:62rem;padding:1.5rem 2rem 4rem;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#212529;line-height:1.5}
.cell{border-left:3px solid #dee2e6;margin:1rem 0;padding:.2rem 0 .2rem .8rem}
.cell:target{border-left-color:#e0a800;background:#fffbea}
.prompt{color:#6c757d;font:600 .8rem monospace}
pre{background:#f8f9fa;padding:.6rem;overflow-x:auto;font-size:.85rem}
table{border-collapse:collapse;font-size:.9rem;display:block;overflow-x:auto}
th,td{border-bottom:1px solid #dee2e6;padding:.2rem .6rem;text-align:left}
img{max-width:100%}
.bar{display:flex;gap:1.5rem;font-size:.9rem}
.callout{border-left:5px solid #0d6efd;background:#f1f6ff;padding:.4rem 1rem;margin:1rem 0}
.callout-warning{border-color:#e0a800;background:#fff8e1}
.callout-important{border-color:#dc3545;background:#fdecee}
.book-caption{font-weight:600;margin:1rem 0 .3rem}
.book-caption p{margin:0}
.caption-source{font-weight:400;color:#6c757d;font-size:.85em}
"""


def _output_html(out) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        return f"<pre>{html.escape(''.join(out.get('text', '')))}</pre>"
    if kind == "error":
        return f"<pre>{html.escape(out.get('ename', ''))}: {html.escape(out.get('evalue', ''))}</pre>"
    data = out.get("data", {})
    if "image/png" in data:
        return f'<img alt="" src="data:image/png;base64,{data["image/png"].strip()}">'
    if "text/markdown" in data:
        return markdown_to_html(data["text/markdown"])
    if "text/html" in data:
        return data["text/html"]
    if "text/plain" in data:
        return f"<pre>{html.escape(data['text/plain'])}</pre>"
    return ""


VIEW_VERSION = (
    b"view-3"  # bump when view_page changes what it writes (#26: links, Lab numbers, no injected cell; downloads)
)
VIEW_HREF = re.compile(r'href="([^"]*)"')


def view_links(page: str, name: str) -> str:
    """The links of a notebook view made to work from inside ``notebook-view/`` (#26).

    What the chapter page links (a caption's ``notebook-view/<nb>.html#cell-…``, a prose mention's
    ``#tabell-13`` or ``<other>.ipynb#figur-8``) is relative to the chapter; in the view the same
    targets are this folder's pages (every view carries its captions' ids). An anchor the view does
    not have goes to the chapter page (``../<nb>.html#…``).
    """
    ids = set(re.findall(r'\bid="([^"]+)"', page))

    def fix(m):
        href = html.unescape(m.group(1))
        if re.match(r"^[a-z]+:", href) or href.startswith("//"):
            return m.group(0)
        target, hash_, anchor = href.partition("#")
        if target.startswith(VIEW_DIR + "/"):
            target = target[len(VIEW_DIR) + 1 :]
        elif target.endswith(".ipynb") and hash_:
            target = Path(target).stem + ".html"
        if target in ("", f"{name}.html") and hash_:
            target = "" if anchor in ids else f"../{name}.html"
        if target.startswith(TABLES_HREF + "/"):  # a caption's download, relative to the chapter page: one up
            target = "../" + target
        return f'href="{html.escape(target + hash_ + anchor)}"'

    return VIEW_HREF.sub(fix, page)


def view_page(nb, name: str, lang: str = "nb", digest: str = "") -> str:
    """The notebook as one HTML page: every cell, code shown, code cells anchored by label and number.

    As the notebook reads in JupyterLab: the parameters papermill injected (the build's staging
    folders) are left out, and cells are numbered as Lab numbers them (``lab_number``).
    """
    w = WORDS[lang]
    parts = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            parts.append(f'<div class="cell md">{markdown_to_html(cell.source)}</div>')
            continue
        if cell.cell_type != "code" or INJECTED in cell.metadata.get("tags", []):
            continue
        opts, _ = cell_options(cell.source)
        label = opts.get("label") or (cell.metadata.get(META_KEY) or {}).get("label")
        number = lab_number(nb, i)
        ids = [f"cell-{number}"] + ([f"cell-{label}"] if label else [])
        anchors = "".join(f'<a id="{html.escape(str(a))}"></a>' for a in ids[:-1])
        outputs = "".join(_output_html(o) for o in cell.get("outputs", []))
        parts.append(
            f'<div class="cell code" id="{html.escape(str(ids[-1]))}">{anchors}'
            f'<div class="prompt">[{number}]</div><pre><code>{html.escape(cell.source)}</code></pre>'
            f"{outputs}</div>"
        )
    return view_links(
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="source-sha256" content="{digest}">\n'
        f"<title>{w['title']}: {html.escape(name)}.ipynb</title>\n<style>{VIEW_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(name)}.ipynb</h1>\n"
        f'<p class="bar"><a href="{html.escape(name)}.ipynb" download>{w["download"]}</a>'
        f'<a href="../{html.escape(name)}.html">{w["back"]}</a></p>\n' + "\n".join(parts) + "\n</body>\n</html>\n",
        name,
    )


def write_view(path: Path, out_dir: Path | None = None) -> bool:
    """Write ``notebook-view/<name>.html`` and a copy of the notebook beside ``path``; False if current."""
    path = Path(path)
    out_dir = out_dir or path.parent / VIEW_DIR
    raw = path.read_bytes()
    digest = hashlib.sha256(raw + VIEW_VERSION).hexdigest()  # a view made by an older page writer is redone
    page, copy = out_dir / f"{path.stem}.html", out_dir / path.name
    if (
        page.exists()
        and copy.exists()
        and f'content="{digest}"' in page.read_text(encoding="utf-8")[:400]
        and copy.read_bytes() == raw
    ):
        return False
    out_dir.mkdir(parents=True, exist_ok=True)
    nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    page.write_text(view_page(nb, path.stem, notebook_lang(nb), digest), encoding="utf-8")
    shutil.copyfile(path, copy)
    return True


# ---------------------------------------------------------------------------
# the whole book
# ---------------------------------------------------------------------------


def data_info(params: dict) -> dict:
    """``<derived_dir>/data_info.json`` (file name and sha256 of the export the notebooks read)."""
    info_path = paths.resolve(params["derived_dir"]) / paths.DATA_INFO_FILE
    if not info_path.exists():
        raise CaptionError(f"{paths.relative(info_path)} does not exist: run 01_cleaning first (make book does this)")
    return json.loads(info_path.read_text(encoding="utf-8"))


def annotate_executed(path: Path, params: dict, log=print) -> tuple[bool, list[str]]:
    """One executed notebook, just after it ran: its captions and its notebook view (beside it).

    For a build that runs notebooks one by one (or in parallel): each notebook
    task calls this on its own output before promoting it.
    """
    changed, missing = annotate_notebook(Path(path), data_info(params))
    write_view(Path(path))
    if missing:
        log(
            f"  no English caption in {paths.relative(CATALOGUE)} for {Path(path).stem}: {', '.join(missing)} "
            "(the Norwegian caption is shown)"
        )
    return changed, missing


def annotate_book(params: dict, log=print) -> dict:
    """Captions with provenance and in the book's language for every executed chapter; the notebook views.

    Reads ``<derived_dir>/data_info.json`` and ``<reports_dir>/executed/*.ipynb``; each notebook's
    captions are put in the language it was executed in (papermill's ``lang`` parameter).
    Returns {'changed': [...], 'views': [...], 'missing_en': {notebook: [labels]}}.
    """
    info = data_info(params)
    executed = paths.resolve(params["reports_dir"]) / paths.EXECUTED_DIR
    result = {"changed": [], "views": [], "missing_en": {}}
    notebooks = sorted(executed.glob("*.ipynb"))
    catalogue = None
    for nb_path in notebooks:
        # each notebook in the language it was executed in (its tables and labels are in that language)
        lang = notebook_lang(nbformat.read(nb_path, as_version=4), params.get("lang", "nb"))
        if lang == "en" and catalogue is None:
            catalogue = load_catalogue()
        changed, missing = annotate_notebook(nb_path, info, lang, catalogue)
        if changed:
            result["changed"].append(nb_path.stem)
        if missing:
            result["missing_en"][nb_path.stem] = missing
        if write_view(nb_path):
            result["views"].append(nb_path.stem)
    # views of notebooks that are gone (a chapter removed) go too
    view_dir = executed / VIEW_DIR
    if view_dir.exists():
        keep = {p.stem for p in notebooks}
        for f in view_dir.iterdir():
            if f.stem not in keep:
                f.unlink()
    for name, labels in result["missing_en"].items():
        log(
            f"  no English caption in {paths.relative(CATALOGUE)} for {name}: {', '.join(labels)} "
            "(the Norwegian caption is shown)"
        )
    return result


# ---------------------------------------------------------------------------
# checking a rendered book
# ---------------------------------------------------------------------------

CAPTION_HTML = re.compile(r'<div (?=[^>]*class="book-caption)[^>]*>\s*(.*?)\s*</div>', re.S)
HREF = re.compile(r'href="([^"]+)"')
CAPTION_SHA = re.compile(rf"sha256 ([0-9a-f]{{{SHORT_SHA}}})\)")


def book_captions(page: Path) -> list[str]:
    """The inner HTML of every table and figure caption of a rendered page."""
    return [
        re.sub(r"^<p>|</p>$", "", c.strip()).strip()
        for c in CAPTION_HTML.findall(Path(page).read_text(encoding="utf-8"))
    ]


def caption_problems(book_dir: Path, sha256: str) -> list[str]:
    """Every caption of the rendered HTML book without a working source link or with another data checksum.

    A link works when its file exists in the book and the anchor is an id in it.
    """
    problems = []
    book_dir = Path(book_dir)
    for page in sorted(book_dir.rglob("*.html")):
        if VIEW_DIR in page.parts:
            continue
        for cap in book_captions(page):
            where = f"{page.relative_to(book_dir)}: «{re.sub('<[^>]+>', '', cap)[:70]}…»"
            links = [h for h in HREF.findall(cap) if VIEW_DIR in h]
            if not links:
                problems.append(f"{where} has no link to its notebook cell")
            for href in links:
                target, _, anchor = html.unescape(href).partition("#")
                path = (page.parent / target).resolve()
                if not path.exists():
                    problems.append(f"{where} links to {target}, which is not in the book")
                elif not anchor or f'id="{anchor}"' not in path.read_text(encoding="utf-8"):
                    problems.append(f"{where} links to #{anchor}, which {target} has no id for")
            shas = CAPTION_SHA.findall(cap)
            if shas != [short_sha(sha256)]:
                problems.append(f"{where} states data sha256 {shas or 'none'}, expected {short_sha(sha256)}")
    return problems
