"""Long words in the HTML books' tables break at a syllable, with a hyphen, never in the middle (#27).

The Quarto book: filters/table-hyphens.lua (checked here with pandoc where it is installed); the fallback book:
src/book/hyphens.py. Both put soft hyphens at the same places; the layout test (tests/test_book_layout.py)
measures in Chromium that no table breaks a word without a hyphen and none is wider than its column."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from src.base import paths
from src.book import hyphens, render

WORDS = {  # the words a reader of the tables met broken («hovedverneomb» / «ud») and a few more
    "hovedverneombud": "hoved-ver-neom-bud",
    "arbeidsmiljøforhold": "arbeids-mil-jø-for-hold",
    "kontinuitetskorreksjon": "kon-ti-nui-tets-kor-rek-sjon",
    "Opplæring": "Opp-læ-ring",
    "Reprodusert": "Repro-du-sert",
    "Toleranse": "Tole-ranse",
    "grunnopplæringen": "grun-nopp-læ-rin-gen",  # by syllables, not by the compound's parts
    "sikkerhetsskjema": "sik-ker-hets-skjema",
    "Kontrollutvalg": "Kon-trol-lut-valg",
    "stemmer": "stemmer",  # shorter than MIN_WORD: whole
}


def shown(text: str) -> str:
    return text.replace(hyphens.SHY, "-").replace(hyphens.ZWSP, "^")


def test_long_words_get_soft_hyphens_at_their_syllables():
    for word, expected in WORDS.items():
        assert shown(hyphens.hyphenate_text(word)) == expected, word
    assert shown(hyphens.hyphenate_text("bransjerettet/generelt, prompt_toolkit")) == (
        "bran-sje-ret-tet/^gene-relt, prompt_^toolkit"
    )
    for word in WORDS:  # the text is unchanged but for the soft hyphens; no first or last part under EDGE letters
        parts = hyphens.hyphenate_text(word).split(hyphens.SHY)
        assert "".join(parts) == word and min(len(parts[0]), len(parts[-1])) >= min(len(word), hyphens.EDGE)


def test_the_fallback_hyphenates_table_cells_only_and_leaves_tags_code_and_links():
    page = (
        "<p>hovedverneombud</p><table><tr><th>Reprodusert</th></tr><tr><td>"
        '<a href="../x/arbeidsmiljøforhold_y.html">arbeidsmiljøforhold</a> <code>prompt_toolkit</code> &nbsp;'
        "hovedverneombud</td></tr></table>"
    )
    out = hyphens.hyphenate_tables(page)
    assert out.startswith("<p>hovedverneombud</p>")  # prose is not a table
    assert f"<th>Repro{hyphens.SHY}du{hyphens.SHY}sert</th>" in out
    assert 'href="../x/arbeidsmiljøforhold_y.html"' in out and "<code>prompt_toolkit</code> &nbsp;" in out
    assert out.replace(hyphens.SHY, "") == page


def test_no_html_book_breaks_words_anywhere():
    """The rule that broke «hovedverneomb|ud» is gone from both books' style sheets; the Quarto book runs the
    filter on its HTML, the fallback hyphenates its Norwegian pages' tables."""
    quarto = (paths.ROOT / "_quarto.yml").read_text(encoding="utf-8")
    assert (
        "        main table td{overflow-wrap:anywhere" not in quarto
    )  # the Norwegian rule and "- filters/table-hyphens.lua" in quarto
    assert "\ntd{overflow-wrap:anywhere" not in render.CSS
    # an English book (no soft hyphens: the rule is Norwegian) keeps fitting its tables the old way
    assert 'html[lang="en"] main table td{overflow-wrap:anywhere}' in quarto
    assert 'html[lang="en"] td{overflow-wrap:anywhere}' in render.CSS
    assert "hyphenate_tables(body)" in (paths.ROOT / "src/book/render.py").read_text(encoding="utf-8")


def test_the_quarto_filter_hyphenates_as_the_fallback_does(tmp_path):
    quarto = shutil.which("quarto")
    pandoc = [quarto, "pandoc"] if quarto else [shutil.which("pandoc")] if shutil.which("pandoc") else None
    if not pandoc:
        pytest.skip("neither quarto nor pandoc is on PATH: the Lua filter is not run here")
    words = [*WORDS, "bransjerettet/generelt", "prompt_toolkit"]
    doc = tmp_path / "t.md"
    doc.write_text("| Ord |\n|---|\n" + "".join(f"| {w} |\n" for w in words) + "\nhovedverneombud\n", encoding="utf-8")
    out = {}
    for lang in ("nb", "en"):
        out[lang] = subprocess.run(
            [*pandoc, str(doc), "-t", "html", "-M", f"lang={lang}", "--lua-filter", "filters/table-hyphens.lua"],
            capture_output=True,
            text=True,
            check=True,
            cwd=paths.ROOT,
        ).stdout
    cells = re.findall(r"<td>(.*?)</td>", out["nb"])
    assert cells == [hyphens.hyphenate_text(w) for w in words]
    assert "<p>hovedverneombud</p>" in out["nb"]  # prose is left to the browser
    assert hyphens.SHY not in out["en"]  # the rule is Norwegian: an English book is left alone


def test_quartos_search_index_has_the_words_whole(tmp_path):
    """The soft hyphens are for the eye: Quarto's search.json gets the tables' words whole again
    (render.plain_search_index), so a search for «hovedverneombud» finds the table."""
    shy = hyphens.hyphenate_text("hovedverneombud bransjerettet/generelt")
    (tmp_path / "search.json").write_text(
        '[{"text": "' + shy + '", "escaped": "hoved\\u00adver\\u00ADneom\\u200bbud"}]', encoding="utf-8"
    )
    render.plain_search_index(tmp_path)
    text = (tmp_path / "search.json").read_text(encoding="utf-8")
    assert "hovedverneombud bransjerettet/generelt" in text and '"escaped": "hovedverneombud"' in text
