"""The book as a reader sees it, checked from the built HTML (laid out by headless chromium at 1400 px) and
the PDF's text (pdftotext): tables within the text column, the same chapter and appendix numbers in both,
no caption parted from its figure, no English flag word in the Norwegian text, the downloads.

Renders with the real Quarto (the session's ``quarto_built``, tests/conftest.py) and skips with a message
where quarto, chromium or pdftotext is missing (CI has none of them). What needs no Quarto is tested in
tests/test_codebook_appendix.py (the codebook appendix, the download links, the fallback's numbering).

``BOOK_LAYOUT_ROOT=<project folder>`` checks the book already built there (``make book`` with Quarto)
instead of rendering a fresh copy: for iterating on the layout.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from src.base import paths
from src.book import captions

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("quarto") is None,
        reason="quarto is not on PATH: the Quarto book's layout (HTML + PDF) is not checked here",
    ),
]

PDF = "verneombud-kompendium.pdf"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAG_WORDS = re.compile(r"\b(inconsistent|assumed|external)\b")
SPSS_PHRASE = "Equal variances not assumed"  # SPSS's own row label, quoted as SPSS prints it

# A page that loads each book page in a 1400 px wide frame, lets it lay out, and reports every table's
# width against the text column (<main>): what a reader at 1400 px sees.
# Each table's words split over two lines where the line does not end in a hyphen, a soft hyphen, a dash or a
# zero-width space (after «/» and «_»: filters/table-hyphens.lua): a word broken in the middle («K5.» / «4»,
# «hovedverneomb» / «ud»); code (a sha256, a path) may break anywhere.
MEASURE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><pre id="out">pending</pre><script>
const pages = %s; const out = []; let i = 0;
function broken(d, t) {
  const res = [], ok = '\u00ad\u200b-–—'; const w = d.createTreeWalker(t, NodeFilter.SHOW_TEXT); let n;
  while ((n = w.nextNode())) {
    if (n.parentElement.closest('code')) continue;
    const re = /[^\\s]+/g; let m;
    while ((m = re.exec(n.data))) {
      const word = m[0]; if (word.length < 2) continue;
      const r = d.createRange(); r.setStart(n, m.index); r.setEnd(n, m.index + word.length);
      if (new Set([...r.getClientRects()].map(x => Math.round(x.top))).size < 2) continue;
      let prev = null;
      for (let k = 0; k < word.length; k++) {
        r.setStart(n, m.index + k); r.setEnd(n, m.index + k + 1);
        const rs = r.getClientRects(); if (!rs.length) continue;
        const top = rs[rs.length - 1].top;  // a soft hyphen at a break has a box on both lines
        if (prev !== null && top > prev + 2 && !ok.includes(word[k - 1]) && !ok.includes(word[k]))
          res.push(word.slice(0, k) + '|' + word.slice(k));
        prev = top;
      }
    }
  }
  return res;
}
function next() {
  if (i >= pages.length) { document.getElementById('out').textContent = 'RESULT' + JSON.stringify(out); return; }
  const f = document.createElement('iframe'); f.style.width = '1400px'; f.style.height = '900px';
  f.onload = () => setTimeout(() => {
    const d = f.contentDocument, col = d.querySelector('main').getBoundingClientRect();
    d.querySelectorAll('main table').forEach((t, k) => {
      const r = t.getBoundingClientRect();
      out.push({page: pages[i], k: k, width: Math.round(r.width), column: Math.round(col.width),
                over: Math.round(r.right - col.right), head: (t.querySelector('th') || {}).textContent || '',
                broken: broken(d, t)});
    });
    f.remove(); i++; next();
  }, 400);
  f.src = pages[i]; document.body.appendChild(f);
}
next();
</script></body></html>
"""


@pytest.fixture(scope="module")
def built_root(request) -> Path:
    given = os.environ.get("BOOK_LAYOUT_ROOT")
    return Path(given) if given else request.getfixturevalue("quarto_built")[0]


def book_pages(book: Path) -> list[Path]:
    return [
        p
        for p in sorted(book.rglob("*.html"))
        if "site_libs" not in p.parts and captions.VIEW_DIR not in p.parts and p.name != "measure.html"
    ]


def pdf_pages(root: Path) -> list[str]:
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(
        ["pdftotext", "-layout", str(root / "reports" / paths.BOOK_DIR / PDF), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return text.split("\f")


def visible_text(page: Path) -> str:
    """A page's text as a reader sees it: no code (folded code, code spans), no scripts, no tags."""
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"<(script|style|pre|code|details)\b.*?</\1>", " ", text, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))


@pytest.fixture(scope="module")
def table_widths(built_root, tmp_path_factory):
    if not CHROMIUM:
        pytest.skip("chromium is not installed: the HTML tables' widths are not measured")
    # the session's book is shared (conftest.py: quarto_built): the measuring page goes into a copy of it
    book = shutil.copytree(built_root / "reports" / paths.BOOK_DIR, tmp_path_factory.mktemp("measured") / "book")
    rels = [p.relative_to(book).as_posix() for p in book_pages(book)]
    (book / "measure.html").write_text(MEASURE % json.dumps(rels), encoding="utf-8")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(book))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proc = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--window-size=1400,900",
                "--virtual-time-budget=120000",
                "--dump-dom",
                f"http://127.0.0.1:{server.server_address[1]}/measure.html",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.shutdown()
        (book / "measure.html").unlink()
    found = re.search(r"RESULT(\[.*?\])</pre>", proc.stdout, re.S)
    assert found, "chromium did not lay the pages out: " + proc.stderr[-500:]
    return json.loads(found.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))


def test_no_html_table_is_wider_than_the_text_column(table_widths):
    assert len(table_widths) > 100  # every page's tables were measured
    wide = [
        f"{t['page']} table {t['k']} ({t['head'][:30]}): {t['width']} px in a {t['column']} px column"
        for t in table_widths
        if t["over"] > 1
    ]
    assert not wide, wide


def test_no_html_table_breaks_a_word_without_a_hyphen(table_widths):
    """#27: «main table td{overflow-wrap:anywhere}» fitted every table to the column by breaking words anywhere
    (K1.3 «hovedverneomb» / «ud», «stemme» / «r», the scorecard's «rapporte» / «n»). A word in a table breaks at
    a soft hyphen (filters/table-hyphens.lua), a dash or after «/» and «_», never in the middle (code excepted)."""
    broken = [
        f"{t['page']} table {t['k']} ({t['head'][:30]}): {', '.join(t['broken'][:5])}"
        for t in table_widths
        if t["broken"]
    ]
    assert not broken, broken


def blank_pages_with_marks(pages: list[str]) -> list[str]:
    """Pages with nothing but a page number or a running head (its number and a chapter's name): a blank
    left page before a part or chapter that starts on a right page, printed with its marks."""
    found = []
    for i, page in enumerate(pages, start=1):
        lines = [line.strip() for line in page.splitlines() if line.strip()]
        if not lines or i == len(pages):
            continue
        rest = [line for line in lines if not re.fullmatch(r"\d+", line)]
        if not rest or (len(rest) == 1 and re.match(rf"^{i}\s{{2,}}\S", rest[0])):
            found.append(f"p. {i}: {' / '.join(lines)[:60]}")
    return found


def test_blank_pdf_pages_carry_no_running_head_or_page_number(built_root):
    """#27: the blank left pages before «Metode», «Resultater», a chapter or an appendix that starts on a right
    page carried the running head and the page number (p. 2, 6, 10, 18, 26, 50, 110 ...): a blank page is blank
    (typst/after-title.typ: vo-blank-page)."""
    pages = pdf_pages(built_root)
    assert not blank_pages_with_marks(pages), blank_pages_with_marks(pages)
    assert sum(1 for p in pages[:-1] if not p.strip()) >= 3  # the blank pages are still there, blank


def test_a_lead_in_line_is_not_parted_from_what_it_introduces(built_root):
    """#27: Vedlegg C's «Verktøyene som lager boka:» sat alone at the foot of a page, its table on the next: a
    paragraph ending in a colon keeps with the next block (typst/after-title.typ)."""
    problems = []
    for i, page in enumerate(pdf_pages(built_root), start=1):
        body = [line.strip() for line in page.splitlines() if line.strip() and not re.fullmatch(r"\d+", line.strip())]
        if body and body[-1].endswith(":") and len(body[-1]) < 80:
            problems.append(f"p. {i} ends with «{body[-1]}»")
    assert not problems, problems


def test_html_and_pdf_number_and_name_chapters_and_appendices_alike(built_root):
    root = built_root
    index = (root / "reports" / paths.BOOK_DIR / "index.html").read_text(encoding="utf-8")
    entries = re.findall(
        r'<span class="chapter-number">([^<]+)</span>&nbsp;\s*<span class="chapter-title">([^<]+)</span>', index
    )
    entries = list(dict.fromkeys(entries))
    assert [n for n, _ in entries] == [str(i) for i in range(1, 10)] + ["A", "B", "C", "D"]
    pdf = "\n".join(pdf_pages(root))
    flat = re.sub(r"\s+", " ", pdf)
    for number, title in entries:
        words = " ".join(title.split()[:3])
        shown = f"Vedlegg {number} — {words}" if number.isalpha() else f"{number} {words}"
        assert shown in flat, f"the PDF does not head «{shown} …» as the HTML does"
        assert not re.search(rf"(^|\n)\s*{number}\.\s+{re.escape(title.split()[0])}", pdf), (
            f"the PDF writes «{number}. {title.split()[0]}», the HTML «{number} …»"
        )


def pages_with_images(root: Path) -> set[int]:
    if not shutil.which("pdfimages"):
        pytest.skip("pdfimages (poppler-utils) is not installed")
    listing = subprocess.run(
        ["pdfimages", "-list", str(root / "reports" / paths.BOOK_DIR / PDF)], capture_output=True, text=True, check=True
    ).stdout
    return {int(line.split()[0]) for line in listing.splitlines()[2:] if line.split()[2:3] == ["image"]}


def test_no_pdf_page_parts_a_caption_from_its_figure_or_ends_with_a_caption(built_root):
    """A figure's caption (below it) is on the page of its image; no page ends with a caption whose
    table or figure is on the next page."""
    root = built_root
    images = pages_with_images(root)
    problems = []
    for i, page in enumerate(pdf_pages(root), start=1):
        lines = [line.strip() for line in page.splitlines() if line.strip()]
        body = [line for line in lines if not re.fullmatch(r"\d+", line)]  # the page number
        if body and re.match(r"^\d+\s{2,}\S", page.strip().splitlines()[0].strip() if page.strip() else ""):
            body = body[1:]  # the running head
        if body and re.match(r"^Figur K?[\d.]+:", body[0]) and i not in images:
            problems.append(f"p. {i}: «{body[0][:40]}» opens the page, its figure is on the page before")
        tail = " ".join(body[-3:])
        last = re.search(r"(Tabell|Figur) K?[\d.]+:[^·]*·[^)]*sha256 [0-9a-f]{8}\)$", tail)
        if last and last.group(1) == "Tabell":
            problems.append(f"p. {i}: the caption «{last.group(0)[:40]}» ends the page, its table is on the next")
    assert not problems, problems


def test_no_english_flag_words_or_python_values_in_the_norwegian_text(built_root):
    root = built_root
    book = root / "reports" / paths.BOOK_DIR
    found = []
    for page in book_pages(book):
        text = visible_text(page).replace(SPSS_PHRASE, "")
        for m in FLAG_WORDS.finditer(text):
            found.append(f"{page.relative_to(book)}: «…{text[max(0, m.start() - 40) : m.end() + 20]}…»")
        for m in re.finditer(r"\b(True|False|weighted False|alpha 0\.05)\b", text):
            found.append(f"{page.relative_to(book)}: «{m.group(0)}»")
        titles = re.findall(r'<div class="callout-title-container[^"]*">\s*([^<]+)<', page.read_text(encoding="utf-8"))
        found += [
            f"{page.relative_to(book)}: callout titled «{t.strip()}»"
            for t in titles
            if t.strip() in ("Note", "Warning", "Important", "Tip", "Caution")
        ]
    pdf = re.sub(r"\s+", " ", "\n".join(pdf_pages(root))).replace(SPSS_PHRASE, "")
    found += [f"PDF: «…{pdf[max(0, m.start() - 40) : m.end() + 20]}…»" for m in FLAG_WORDS.finditer(pdf)]
    assert not re.search(r"\bNote\b", pdf), "a callout titled «Note» in the PDF"
    assert not found, found[:20]


def test_html_links_each_tables_csv_and_the_scorecard_codebook_and_notebooks(built_root):
    root = built_root
    book = root / "reports" / paths.BOOK_DIR
    n_links = 0
    for page in book_pages(book):
        text = page.read_text(encoding="utf-8")
        caps = re.findall(r'<div id="(?:tabell|figur)-[^"]+" class="book-caption[^"]*">(.*?)</div>', text, re.S)
        for cap in caps:
            links = re.findall(r'href="([^"]+\.csv)"', cap)
            assert links, f"{page.relative_to(book)}: a caption without its CSV: {cap[:80]}"
            for href in links:
                assert (page.parent / href).resolve().is_file(), f"{page.relative_to(book)}: {href}"
                n_links += 1
    assert n_links >= 90
    for appendix, name in (("scorecard", "scorecard.csv"), ("codebook", "codebook.csv")):
        page = book / "appendices" / f"{appendix}.html"
        assert f'href="../reports/{name}"' in page.read_text(encoding="utf-8")
        assert (book / "reports" / name).is_file()
    views = book / "reports/executed" / captions.VIEW_DIR
    assert sorted(p.stem for p in views.glob("*.ipynb")) == sorted(p.stem for p in views.glob("*.html"))
    # the PDF names its sources but offers no download (a relative file link goes nowhere in a PDF)
    assert "last ned:" not in "\n".join(pdf_pages(root))


def test_figures_have_alt_text_in_html(built_root):
    root = built_root
    book = root / "reports" / paths.BOOK_DIR
    for page in book_pages(book):
        for img in re.findall(r"<img [^>]*figure-img[^>]*>", page.read_text(encoding="utf-8")):
            assert re.search(r'\balt="Figur K?[\d.]+: [^"]+"', img), f"{page.relative_to(book)}: {img[:120]}"


def long_tables_named_in_docs() -> set[str]:
    """The tables docs/book.md names as long on purpose (its section «Long tables in the PDF»)."""
    text = (paths.ROOT / "docs" / "book.md").read_text(encoding="utf-8")
    section = text.split("## Long tables in the PDF", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"Tabell (K?[\d.]+\d)", section))


def table_page_spans(pages: list[str]) -> dict[str, int]:
    """Pages each table runs over: its header row, repeated at the top of every page it continues on."""

    def norm(s):
        return re.sub(r"\s+", " ", s).strip()

    spans = {}
    for i, page in enumerate(pages):
        lines = page.splitlines()
        for j, line in enumerate(lines):
            m = re.match(r"^\s*Tabell (K?[\d.]*\d):", line)
            if not m:
                continue
            k = j
            while k < len(lines) and "sha256" not in lines[k]:
                k += 1
            k += 1
            while k < len(lines) and not lines[k].strip():
                k += 1
            if k >= len(lines) or len(norm(lines[k])) < 8:
                continue
            head, span = norm(lines[k]), 1
            for q in range(i + 1, len(pages)):
                top = pages[q].splitlines()[:6]
                at = next((n for n, x in enumerate(top) if norm(x) == head), None)
                # the same header under another table's caption is that table's (K7.1-K7.3 share theirs)
                if at is not None and not any(re.match(r"^\s*Tabell K?[\d.]*\d:", x) for x in top[:at]):
                    span += 1
                else:
                    break
            spans[m.group(1)] = span
    return spans


def test_no_pdf_table_runs_over_two_pages_but_the_reference_tables_the_docs_name(built_root):
    named = long_tables_named_in_docs()
    assert named, "docs/book.md names no long table"
    spans = table_page_spans(pdf_pages(built_root))
    assert spans, "no table found in the PDF's text"
    too_long = {t: n for t, n in spans.items() if n > 2 and t not in named}
    assert not too_long, f"tables over two pages that docs/book.md does not name: {too_long}"


def stretched_lines(pdf: Path, limit: float = 0.7) -> list[str]:
    """Lines of running text (11 pt or larger: not the 9 pt tables, whose cells pdftotext may join into one
    line) with a gap between two words wider than ``limit`` × the line's height: a justified line stretched
    because its next word (a path, a long code span) could not break. Normal justified lines stay below 0.45."""
    text = subprocess.run(
        ["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    word = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')
    found = []
    for number, page in enumerate(text.split("<page ")[1:], start=1):
        for line in re.findall(r"<line[^>]*>(.*?)</line>", page, re.S):
            words = [(float(a), float(b), float(c), float(d), w) for a, b, c, d, w in word.findall(line)]
            if len(words) < 6 or ". . ." in " ".join(w[4] for w in words):  # short lines, contents' leaders
                continue
            height = max(w[3] - w[1] for w in words)
            gap = max((b[0] - a[2]) / height for a, b in zip(words, words[1:]))
            if height > 11 and gap > limit:
                found.append(f"p. {number}: «{' '.join(w[4] for w in words)[:70]}» (gap {gap:.2f} × its height)")
    return found


def test_no_pdf_line_is_stretched_by_a_word_that_cannot_break(built_root):
    """#27: the front page's «make book ARGS=…» line, chapter 1's «data/codebook.yml» line and a bold line of
    Vedlegg B ending in a path were justified with wide gaps. Inline code breaks after «/», «_», «=» now
    (typst/a4-book.typ), and Vedlegg B's line is a heading."""
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    found = stretched_lines(built_root / "reports" / paths.BOOK_DIR / PDF)
    assert not found, found


def test_no_table_row_is_split_across_pages(tmp_path):
    """#27: a row of Tabell K7.8 began at the foot of p. 65 and ended on p. 66 («Alt i alt er jeg godt fornøyd
    … av» / «HMS-opplæringen jeg fått som verneombud (Bransjerettet …)»): typst/a4-book.typ made the cells
    unbreakable with a show-set rule, which did not keep the row whole. That table as Quarto wrote it
    (tests/data/table_k7_8.typ), placed where the page broke it, typeset by Quarto's typst with the book's
    rules: the row's cells on one page."""
    doc = tmp_path / "rows.typ"
    doc.write_text(
        '#set page(paper: "a4", margin: (x: 2.5cm, y: 2.5cm))\n#set text(size: 11pt)\n'
        + (paths.ROOT / "typst" / "a4-book.typ").read_text(encoding="utf-8")
        + "\n#v(10.6cm)\n#block[\n"
        + (Path(__file__).parent / "data" / "table_k7_8.typ").read_text(encoding="utf-8")
        + "]\n",
        encoding="utf-8",
    )
    made = subprocess.run(
        ["quarto", "typst", "compile", str(doc), str(tmp_path / "rows.pdf")], capture_output=True, text=True
    )
    if made.returncode != 0:
        pytest.skip(f"quarto typst compile failed here: {made.stderr[-300:]}")
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    pages = subprocess.run(
        ["pdftotext", str(tmp_path / "rows.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout.split("\f")
    start = next(i for i, page in enumerate(pages) if "29,45" in page)  # the row's test, on its first line
    end = next(i for i, page in enumerate(pages) if "som verneombud (Bransjerettet" in " ".join(page.split()))
    assert start == end, f"the row runs from page {start + 1} to page {end + 1}"


def test_a_lead_in_line_keeps_with_its_table_wherever_the_page_breaks(tmp_path):
    """#27 (Vedlegg C, p. 115): «Verktøyene som lager boka:» alone at a page's foot. A lead-in paragraph ending
    in a colon, then a table of 20 rows, after text of growing length, typeset with the book's rules
    (typst/a4-book.typ, typst/after-title.typ; the template's functions stubbed): the lead-in is on its table's
    page at every length (without the rule it was parted at 9 of these 20 lengths)."""
    stubs = "#let callout(..args) = none\n#let part(title) = none\n#let appendices(..args, body) = body\n"
    rules = (paths.ROOT / "typst" / "a4-book.typ").read_text(encoding="utf-8") + stubs
    rules += (paths.ROOT / "typst" / "after-title.typ").read_text(encoding="utf-8")
    parted = []
    for n in range(330, 560, 12):
        doc = tmp_path / f"lead{n}.typ"
        doc.write_text(
            '#set page(paper: "a5")\n'
            + rules
            + f"\n#lorem({n})\n\n*Verktøyene som lager boka:*\n\n"
            + "#table(columns: 2, [a], [b], ..range(20).map(i => [row #i]))\n",
            encoding="utf-8",
        )
        made = subprocess.run(
            ["quarto", "typst", "compile", str(doc), str(doc.with_suffix(".pdf"))], capture_output=True, text=True
        )
        if made.returncode != 0:
            pytest.skip(f"quarto typst compile failed here: {made.stderr[-300:]}")
        if not shutil.which("pdftotext"):
            pytest.skip("pdftotext (poppler-utils) is not installed")
        pages = subprocess.run(
            ["pdftotext", str(doc.with_suffix(".pdf")), "-"], capture_output=True, text=True, check=True
        ).stdout.split("\f")
        lead = next(i for i, p in enumerate(pages) if "Verktøyene" in p)
        table = next(i for i, p in enumerate(pages) if "row 0" in p)
        if lead != table:
            parted.append(n)
    assert not parted, f"the lead-in parted from its table after lorem({parted})"


def test_a_table_of_under_two_pages_does_not_run_onto_a_third(tmp_path):
    """#27 (Tabell K7.3): a table of a page and nine tenths began at the foot of p. 54 and ended on p. 56. A
    caption (a block labelled <tabell-…>) and a table of 75 rows (about 1,6 pages), after text of growing
    length, typeset with the book's rules: the table spans at most two pages at every length (without the rule
    it ran onto a third from 180 to 600 words of text before it), its caption on its first page."""
    stubs = "#let callout(..args) = none\n#let part(title) = none\n#let appendices(..args, body) = body\n"
    rules = (paths.ROOT / "typst" / "a4-book.typ").read_text(encoding="utf-8") + stubs
    rules += (paths.ROOT / "typst" / "after-title.typ").read_text(encoding="utf-8")
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    problems = []
    for n in range(0, 780, 60):
        doc = tmp_path / f"span{n}.typ"
        rows = "..range(75).map(i => ([row #i], [#lorem(3)], [x])).flatten()"
        doc.write_text(
            '#set page(paper: "a4", margin: (x: 2.5cm, y: 2.5cm))\n#set text(size: 11pt)\n'
            + rules
            + f"\n#lorem({n})\n\n#block[*Tabell X:* caption] <tabell-x>\n"
            + f"#table(columns: 3, table.header[A][B][C], {rows})\n\n#lorem(50)\n",
            encoding="utf-8",
        )
        pdf = doc.with_suffix(".pdf")
        made = subprocess.run(["quarto", "typst", "compile", str(doc), str(pdf)], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"quarto typst compile failed here: {made.stderr[-300:]}")
        pages = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        pages = pages.split("\f")
        caption, first, last = (next(i for i, p in enumerate(pages) if s in p) for s in ("Tabell X", "row 0", "row 74"))
        if last - first + 1 > 2 or caption != first:
            problems.append(f"lorem({n}): caption p. {caption + 1}, rows p. {first + 1}–{last + 1}")
    assert not problems, problems
