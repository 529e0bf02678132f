"""Vedlegg D «Kodebok»: every variable from data/codebook.yml with its answers, routing, missing codes and recodes,
protected on real data; and the book's downloads (table CSVs from the captions, scorecard, codebook)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import yaml

from src.base import contents, paths
from src.book import captions, codebook_doc, render


def test_routing_is_said_in_words(codebook):
    words = codebook_doc.routing_words(codebook, "eligible and sufficient_time == 2")
    assert "analyseutvalget" in words and "«Nei»" in words and "«Tilstrekkelig tid»" in words and "`s_16`" in words
    assert codebook_doc.routing_words(codebook, None) == "alle respondentene"
    either = codebook_doc.routing_words(
        codebook, "eligible and (positive_factors_annet == 1 or negative_factors_annet == 1)"
    )
    assert either.count("krysset av for «Annet» i «") == 2  # which question's «Annet», each named
    assert "==" not in either and "eligible" not in either
    assert "`unknown_var == 3`" in codebook_doc.routing_words(codebook, "unknown_var == 3")  # never dropped


def small_frame(codebook, n_each=(40, 3, 0)):
    """role 1-4 (all asked gender), gender codes 1 and 2 with chosen counts, and one respondent not answering."""
    n1, n2, _ = n_each
    rows = n1 + n2 + 1
    data = pd.DataFrame({name: pd.array([pd.NA] * rows, dtype="Int64") for name in codebook.variables})
    data["role"] = pd.array([1] * rows, dtype="Int64")
    data["basic_training"] = pd.array([1] * rows, dtype="Int64")
    data["gender"] = pd.array([1] * n1 + [2] * n2 + [pd.NA], dtype="Int64")
    return data


def test_a_question_has_codes_counts_shares_missing_and_not_asked(codebook):
    data = small_frame(codebook)
    data.loc[0, "role"] = 5  # not asked gender (routing: eligible), so no answer
    data.loc[0, "gender"] = pd.NA
    table, hidden = codebook_doc.frequency(data, codebook, "gender", k=0)
    by = table.set_index("Svar")
    assert by.loc["Kvinne", "Antall"] == 39 and by.loc["Mann", "Antall"] == 3 and by.loc["Kvinne", "Kode"] == 1
    assert abs(by.loc["Kvinne", "Prosent"] - 100 * 39 / 42) < 1e-9
    assert by.loc[codebook_doc.TOTAL_VALID, "Antall"] == 42
    assert by.loc[codebook_doc.NOT_ANSWERED, "Antall"] == 1 and by.loc[codebook_doc.NOT_ASKED, "Antall"] == 1
    assert by.loc[codebook_doc.TOTAL_ALL, "Antall"] == len(data)
    assert not hidden.to_numpy().any()
    # missing codes are listed as such and kept out of the shares
    firm, _ = codebook_doc.frequency(
        data.assign(firm_size=pd.array([9] * 10 + [3] * (len(data) - 10), dtype="Int64")), codebook, "firm_size", k=0
    )
    row = firm[firm["Kode"] == 9].iloc[0]
    assert "mangler-kode" in row["Svar"] and row["Antall"] == 10 and np.isnan(row["Prosent"])


def test_real_data_hide_counts_of_one_to_four_and_what_gives_them_away(codebook):
    data = small_frame(codebook)
    table, hidden = codebook_doc.frequency(data, codebook, "gender", k=5)
    by = hidden.set_axis(table["Svar"])
    assert by.loc["Mann", "Antall"] and by.loc["Mann", "Prosent"]  # 3 men: hidden
    assert by.loc["Kvinne", "Antall"] or by.loc[codebook_doc.TOTAL_VALID, "Antall"]  # not recoverable by subtraction
    md, n = codebook_doc._md(table, hidden, 5, {"Prosent": 1})
    assert n >= 2 and "| <5 |" in md.replace("&lt;", "<") and "| 3 |" not in md
    csv = codebook_doc.long_form(data, codebook, 5)
    men = csv[(csv["variabel"] == "gender") & (csv["kode"] == 2)].iloc[0]
    assert pd.isna(men["antall"]) and pd.isna(men["prosent"])  # stored empty, as every table file


def test_the_appendix_documents_every_variable_recode_and_index(codebook, sample):
    text = codebook_doc.markdown(sample, codebook, k=0, n_sample=len(sample))
    for name, var in codebook.variables.items():
        if var.type == "id":
            continue
        anchor = codebook_doc.ANCHOR + (var.group or name).replace("_", "-")
        assert f"{{#{anchor}}}" in text, name
        assert f"`{var.source}`" in text or var.group, name
    for name in codebook.recodes:
        assert f"{{#{codebook_doc.ANCHOR}{name.replace('_', '-')}}}" in text, name
    for name in codebook.indices:
        assert f"`{name}`" in text
    # a reviewer checks a derived variable without opening YAML: each new code with the codes it is made of
    block = text.split("{#kodebok-industry-group}")[1].split("###")[0]
    assert re.search(
        r"\| 8 \| Andre bransjer \| 2 Varehandel; 8 IT og medier; 10 Finans og forsikring; 11 Andre bransjer \|", block
    )
    n_other = int((sample["industry_group"] == 8).sum())
    assert f"| {n_other:,}".replace(",", "\u202f") in block
    assert "Spurt: verneombud og hovedverneombud" in text and "eligible" not in text.split("## Avledede")[0]


def test_the_codebook_appendix_is_in_the_book_and_the_build():
    from src.pipeline import steps

    config = contents.load_config()
    assert "appendices/codebook.qmd" in config["book"]["appendices"]
    assert config["book"]["appendices"][-1] == "appendices/codebook.qmd"  # Vedlegg D
    assert "../reports/_codebook.md" in (paths.ROOT / "appendices/codebook.qmd").read_text(encoding="utf-8")
    assert {"_codebook.md", "codebook.csv"} <= set(steps.APPENDIX_FILES)
    resources = config["project"]["resources"]
    assert {"/reports/tables/*.csv", "/reports/scorecard.csv", "/reports/codebook.csv"} <= set(resources)


def test_captions_link_their_tables_csv_in_html_only(tmp_path):
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "tabell_13.csv").write_text("a\n1\n", encoding="utf-8")
    code = 'ch.table(t, "tabell_13", decimals={"Prosent": 1})\nch.show_comparison("tabell_99")'
    files = captions.data_files(code, tmp_path / "tables")
    assert files == ["tabell_13.csv"]
    cap = {
        "kind": "tbl",
        "word": "Tabell",
        "number": "13",
        "id": "tabell-13",
        "label": "tbl-t13",
        "text": "Type kurs",
        "source": {
            "label": "Kilde",
            "text": "05_course_format.ipynb, celle 3",
            "href": "notebook-view/05_course_format.html#cell-tbl-t13",
            "data": "data x.sav, sha256 1234",
            "downloads": files,
            "csv_label": "last ned",
        },
    }
    md = captions.caption_markdown(cap)
    html_part, pdf_part = md.split('{.content-visible when-format="html"}')
    assert "[tabell_13.csv](../tables/tabell_13.csv)" in html_part and "tabell_13.csv" not in pdf_part
    # the fallback shows the same link, where its pages find the file
    page = render._flat_links(render.caption_html(cap))
    assert '<a href="reports/tables/tabell_13.csv">tabell_13.csv</a>' in page
    assert render._flat_links('<a href="../reports/scorecard.csv">') == '<a href="reports/scorecard.csv">'


def test_fallback_numbers_once_and_titles_the_front_page_once(tmp_path):
    (tmp_path / "reports" / "executed").mkdir(parents=True)
    (tmp_path / "reports" / "tables").mkdir()
    (tmp_path / "reports" / "tables" / "tabell_02.csv").write_text("a\n1\n", encoding="utf-8")
    (tmp_path / "reports" / "scorecard.csv").write_text("id\n", encoding="utf-8")
    config = {
        "project": {"type": "book"},
        "lang": "nb",
        "book": {"title": "Bok", "chapters": ["index.qmd", "reports/executed/01_a.ipynb"], "appendices": ["app.qmd"]},
    }
    (tmp_path / "_quarto.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (tmp_path / "index.qmd").write_text("# Om kompendiet {.unnumbered}\n\nHei.\n", encoding="utf-8")
    (tmp_path / "app.qmd").write_text("---\ntitle: Kodebok\n---\n\n[CSV](../reports/scorecard.csv)\n", encoding="utf-8")
    import nbformat
    from nbformat.v4 import new_markdown_cell, new_notebook

    nbformat.write(
        new_notebook(cells=[new_markdown_cell("# Datagrunnlag\n\nTekst.")]),
        tmp_path / "reports" / "executed" / "01_a.ipynb",
    )
    render.render_fallback(tmp_path / "out", tmp_path / "reports", tmp_path / "_quarto.yml")
    out = tmp_path / "out"
    index = (out / "index.html").read_text(encoding="utf-8")
    main = index.split("<main>")[1]
    assert main.count("Om kompendiet") == 1  # its <h1>, not a second heading from the text
    assert re.search(r"<main>\s*<h1>Om kompendiet</h1>", index) and "<h1>Om kompendiet</h1>" in index
    assert "nav.sidebar ol{list-style:none" in index  # the entries carry the number, the list none
    assert ">1 Datagrunnlag</a>" in index and ">A Kodebok</a>" in index
    assert 'id="book-search"' in index and (out / "search.js").read_text(encoding="utf-8").count('"href"') == 3
    assert (out / "reports" / "tables" / "tabell_02.csv").exists() and (out / "reports" / "scorecard.csv").exists()
    assert 'href="reports/scorecard.csv"' in (out / "app.html").read_text(encoding="utf-8")


def test_a_weighted_book_says_so_in_its_captions_front_page_and_scorecard(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    from src.book import scorecard

    cell = new_code_cell('#| label: tbl-t02\n#| tbl-cap: "Roller"\nch.table(t, "tabell_02")', execution_count=5)
    cell.outputs = [new_output("display_data", data={"text/markdown": "| a |\n|--:|\n| 1 |"})]
    info = {"file": "x.sav", "sha256": "ab" * 32}
    for weighted, ending in ((False, "Roller"), (True, "Roller (vektet)")):
        nb = new_notebook(cells=[cell.copy()])
        nb.metadata["papermill"] = {"parameters": {"lang": "nb", "weighted": weighted}}
        path = tmp_path / "executed" / "02_sample.ipynb"
        path.parent.mkdir(exist_ok=True)
        nbformat.write(nb, path)
        captions.annotate_notebook(path, info, link_prose=False)
        caps = [captions.caption_of_output(o) for c in nbformat.read(path, as_version=4).cells for o in c.outputs]
        assert [c["text"] for c in caps if c] == [ending]
    scores = pd.DataFrame(
        {
            "id": ["a", "b"],
            "chapter": ["02_sample"] * 2,
            "status": ["ok", "avvik"],
            "calibrated": [True, False],
            "label": ["x", "y"],
            "group": [None, None],
            "published": [1, 2],
            "reproduced": [1, 3],
            "tolerance": [0, 0],
            "flag": [None, None],
            "source": ["t", "t"],
            "link": ["#", "#"],
        }
    )
    assert "Vektet bok" in scorecard.front(scores, weighted=True) and "Vektet bok" not in scorecard.front(scores)
    assert "[Kapittel\u00a02](reports/executed/02_sample.ipynb)" in scorecard.front(scores)  # not wrapped
    assert "Vektet bok" in scorecard.markdown(scores.iloc[:1], weighted=True)


def test_a_long_comparison_prints_only_its_differing_rows_in_the_pdf(tmp_path, monkeypatch):
    from src import helpers as h
    from src.book import scorecard

    shown_md = []
    monkeypatch.setattr(h, "display_markdown", shown_md.append)
    ch = h.Chapter("02_sample", derived_dir=str(tmp_path / "d"), reports_dir=str(tmp_path / "r"))
    ok, off = scorecard.status_text("ok"), scorecard.status_text("avvik")
    n = h.LONG_COMPARISON + 5
    view = pd.DataFrame(
        {
            "Tall": [f"tall {i}" for i in range(n)],
            "Rapporten": ["1"] * n,
            "Status": [off if i == 3 else ok for i in range(n)],
        }
    )
    ch.table(view, "avstemming_02_tekst")
    html_part, pdf_part = shown_md[-1].split('::: {.content-hidden when-format="html"}')
    assert html_part.count(f"| {ok} |") == n - 1 and "tall 19" in html_part  # HTML: every row
    assert "tall 3" in pdf_part and "tall 4" not in pdf_part and "(1 av 20 rader)" in pdf_part
    ch.table(view.assign(Status=ok), "avstemming_02_tekst")  # nothing differs
    pdf_part = shown_md[-1].split('::: {.content-hidden when-format="html"}')[1]
    # a caption over «0 av 20 rader» read as a lost table (#27): the PDF says that all agree
    assert "|" not in pdf_part and "0 av 20" not in pdf_part
    assert "Alle de 20 tallene stemmer med rapporten, så ingen rad trykkes her" in pdf_part
    ch.table(view.iloc[:5], "avstemming_02_tekst")  # short: printed whole
    assert "content-hidden" not in shown_md[-1]


def test_the_book_pages_code_blocks_fit_the_text_column():
    """#27: the front page's command block ran out of its column (HTML) and wrapped (PDF): no line of a code
    block in the book's own pages is longer than 72 characters (about the column at 1400 px and on A4)."""
    pages = [paths.ROOT / "index.qmd", *sorted((paths.ROOT / "appendices").glob("*.qmd"))]
    long = []
    for page in pages:
        blocks = re.findall(r"^```[^\n]*\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M)
        assert page.name != "index.qmd" or blocks, "the front page shows the commands in a code block"
        long += [f"{page.name}: {line}" for b in blocks for line in b.splitlines() if len(line) > 72]
    assert not long, long


def test_a_printed_comparison_numbers_its_explanations_below_the_table(tmp_path, monkeypatch):
    """#27: in the PDF the «Merknad» column of a long comparison was squeezed to a word a line (K5.6, K5.1):
    the PDF prints the note's number in the row and the notes below the table; the HTML keeps them in the row."""
    from src import helpers as h
    from src.book import scorecard

    shown_md = []
    monkeypatch.setattr(h, "display_markdown", shown_md.append)
    ch = h.Chapter("02_sample", derived_dir=str(tmp_path / "d"), reports_dir=str(tmp_path / "r"))
    ok, off = scorecard.status_text("ok"), scorecard.status_text("inconsistent")
    n = h.LONG_COMPARISON + 5
    why = "Avsnitt 4.6 nevner 20 prosent, tabell 19 gir 19,2"
    view = pd.DataFrame(
        {
            "Tall": [f"tall {i}" for i in range(n)],
            "Status": [off if i in (3, 7) else ok for i in range(n)],
            "Merknad": [why if i in (3, 7) else "" for i in range(n)],
        }
    )
    ch.table(view, "avstemming_02_tekst")
    html_part, pdf_part = shown_md[-1].split('::: {.content-hidden when-format="html"}')
    assert f"| tall 3 | {off} | {why} |" in html_part
    assert f"| tall 3 | {off} | (1) |" in pdf_part and f"| tall 7 | {off} | (1) |" in pdf_part
    assert pdf_part.count(why) == 1 and f"\n1. {why}" in pdf_part


def test_a_short_table_with_notes_numbers_them_below_in_the_pdf(tmp_path, monkeypatch):
    """#27: a verdict table's «Merknad» (K5.4: footnote 28) was a column a word wide in the PDF."""
    from src import helpers as h

    shown_md = []
    monkeypatch.setattr(h, "display_markdown", shown_md.append)
    ch = h.Chapter("02_sample", derived_dir=str(tmp_path / "d"), reports_dir=str(tmp_path / "r"))
    why = "Fotnote 28 oppgir offentlig 3,9 mot privat 3,7"
    view = pd.DataFrame({"Sammenligning": ["a", "b"], "Samsvar": ["ja", "nei"], "Merknad": ["", why]})
    ch.table(view, "tester_02")
    html_part, pdf_part = shown_md[-1].split('::: {.content-hidden when-format="html"}')
    assert f"| b | nei | {why} |" in html_part
    assert "| b | nei | (1) |" in pdf_part and f"\n1. {why}" in pdf_part and "Trykt her" not in pdf_part
    ch.table(view.assign(Merknad=""), "tester_02")  # no notes: one table for both
    assert "content-hidden" not in shown_md[-1]
