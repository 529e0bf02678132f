"""The nbconvert fallback book: order, navigation, captions, folded code."""

from __future__ import annotations

import nbformat
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from src.base import contents
from src.book import render


def make_book(tmp_path):
    (tmp_path / "reports" / "executed").mkdir(parents=True)
    config = {
        "project": {"type": "book"},
        "lang": "nb",
        "book": {
            "title": "Testbok",
            "chapters": ["index.qmd", "reports/executed/02_b.ipynb", "reports/executed/01_a.ipynb"],
            "appendices": ["reports/executed/03_c.ipynb"],
        },
    }
    (tmp_path / "_quarto.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (tmp_path / "index.qmd").write_text(
        "---\ntitle: Forside\n---\n\nHei.\n\n{{< include reports/_inc.md >}}\n", encoding="utf-8"
    )
    (tmp_path / "reports" / "_inc.md").write_text(
        "::: {.callout-warning}\n**Syntetiske** data\n:::\n", encoding="utf-8"
    )
    for name, title in (("01_a", "Kapittel A"), ("02_b", "Kapittel B"), ("03_c", "Vedlegg C")):
        code = new_code_cell("#| label: tbl-x\n#| tbl-cap: \"Tabell 9: Et eksempel\"\nprint('hemmelig kode')")
        code.outputs = [new_output("display_data", data={"text/markdown": "| a | b |\n|:--|--:|\n| x | 1 |"})]
        hidden = new_code_cell("#| include: false\nsecret = 1")
        nb = new_notebook(cells=[new_markdown_cell(f"# {title} {{#sec-{name}}}\n\nTekst."), code, hidden])
        nbformat.write(nb, tmp_path / "reports" / "executed" / f"{name}.ipynb")
    return tmp_path / "_quarto.yml"


def test_fallback_renders_pages_in_quarto_order_with_navigation(tmp_path):
    cfg = make_book(tmp_path)
    index = render.render_fallback(tmp_path / "out", tmp_path / "reports", cfg)
    out = tmp_path / "out"
    assert index == out / "index.html"
    assert sorted(p.name for p in out.iterdir()) == ["01_a.html", "02_b.html", "03_c.html", "index.html", "search.js"]
    html = index.read_text(encoding="utf-8")
    # navigation lists the chapters in _quarto.yml order (B before A), then the appendix
    assert html.index("Kapittel B") < html.index("Kapittel A") < html.index("Vedlegg") < html.index("Vedlegg C")
    assert 'class="callout callout-warning"' in html and "<strong>Syntetiske</strong>" in html
    page = (out / "02_b.html").read_text(encoding="utf-8")
    assert "{#sec-" not in page
    assert '<a href="index.html">← Forside</a>' in page and "Kapittel A →" in page


def test_fallback_shows_captions_folds_code_and_honours_include_false(tmp_path):
    cfg = make_book(tmp_path)
    render.render_fallback(tmp_path / "out", tmp_path / "reports", cfg)
    page = (tmp_path / "out" / "01_a.html").read_text(encoding="utf-8")
    assert '<a id="tbl-x"></a><p class="caption">Tabell 9: Et eksempel</p>' in page
    assert '<details class="code"><summary>Vis kode</summary>' in page
    assert "hemmelig kode" in page and "#| tbl-cap" not in page
    assert "secret = 1" not in page
    assert "<table>" in page and '<td style="text-align:left">x</td>' in page


def test_missing_chapter_is_named(tmp_path):
    cfg = make_book(tmp_path)
    (tmp_path / "reports" / "executed" / "01_a.ipynb").unlink()
    try:
        render.render_fallback(tmp_path / "out", tmp_path / "reports", cfg)
    except FileNotFoundError as exc:
        assert "01_a.ipynb" in str(exc)
    else:
        raise AssertionError("expected FileNotFoundError")


def test_cell_options_are_parsed_like_quarto():
    opts, code = render.cell_options(
        '#| label: tbl-t02\n#| tbl-cap: "Tabell 2: Roller"\n#| echo: false\nx = 1\n#| not an option'
    )
    assert opts == {"label": "tbl-t02", "tbl-cap": "Tabell 2: Roller", "echo": False}
    assert code == "x = 1\n#| not an option"


def test_notebook_order_follows_quarto_yml():
    assert contents.notebook_order()[:2] == ["01_cleaning", "02_sample"]


def test_links_to_source_files_become_fallback_pages():
    html = '<a href="../reports/executed/02_sample.ipynb#tbl-t02">x</a> <a href="appendices/scorecard.qmd">y</a>'
    assert render._flat_links(html) == '<a href="02_sample.html#tbl-t02">x</a> <a href="scorecard.html">y</a>'


# -- Quarto: version, install attempt, errors ------------------------------------

TYPST_FAILURE = """\x1b[1m[13/13] appendices/reproducibility.qmd\x1b[22m
[typst]: Compiling index.typ to index.pdf...error: label `<cell-tbl-flow>` does not exist in the document
    ┌─ index.typ:812:5
\x1b[91mERROR: Typst compilation failed\x1b[39m
"""


def test_a_failed_quarto_render_names_the_format_and_shows_quartos_lines():
    fmt, detail = render.quarto_error("", TYPST_FAILURE)
    assert fmt == "PDF (typst)"
    assert "label `<cell-tbl-flow>` does not exist" in detail and "Typst compilation failed" in detail
    assert "\x1b[" not in detail
    fmt, detail = render.quarto_error("", "ERROR: YAMLException: bad indentation (_quarto.yml, 12:3)\n")
    assert fmt == "HTML" and "bad indentation" in detail


def test_another_quarto_version_is_said_in_one_line(monkeypatch):
    monkeypatch.setattr(render, "quarto_version", lambda exe: "1.6.40")
    note = render.version_note("/usr/bin/quarto")
    assert note and "\n" not in note and render.QUARTO_VERSION in note and "1.6.40" in note
    monkeypatch.setattr(render, "quarto_version", lambda exe: render.QUARTO_VERSION)
    assert render.version_note("/usr/bin/quarto") is None


def test_quarto_install_is_tried_once_per_venv_and_the_failure_said_in_one_line(tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.setattr(sys, "base_prefix", "/usr")
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    calls = []

    def no_network(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(
            cmd, 1, "", "ERROR: No matching distribution found for quarto-cli==1.10.18\n"
        )

    monkeypatch.setattr(render.subprocess, "run", no_network)
    said = []
    assert render.install_quarto(said.append) is None
    assert len(said) == 1 and "quarto-cli==" + render.QUARTO_VERSION in said[0] and "\n" not in said[0]
    assert any(f"quarto-cli=={render.QUARTO_VERSION}" in c for c in calls[0])
    assert (tmp_path / render.INSTALL_STAMP).exists()
    assert render.install_quarto(said.append) is None and len(calls) == 1 and len(said) == 1  # not again
