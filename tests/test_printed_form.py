"""The printed (PDF) form of a table too long for two pages: what it prints must be readable on its own."""

from __future__ import annotations

import pandas as pd

from src.book.tables import markdown_table, printed_form


def test_the_printed_form_carries_the_footnote_on_hidden_cells_it_prints():
    """#27: «Trykt her: …» printed the rows that differ, with their «<5» cells, but left out the footnote on
    cells under 5 that the whole table carries: a reader of the PDF could not read «<5»."""
    shown = pd.DataFrame({"Rad": ["a", "b", "c"], "Antall": [3.0, 40.0, 2.0], "Status": ["avvik", "stemmer", "avvik"]})
    hidden = pd.DataFrame(False, index=shown.index, columns=shown.columns)
    hidden.loc[[0, 2], "Antall"] = True
    full = markdown_table(shown, hidden=hidden, hidden_text="<5")
    pdf = {"rows": (shown["Status"] != "stemmer").to_numpy(), "rows_text": "radene der tallet ikke stemmer"}
    text = printed_form(shown, full, "tabell_x", pdf, {}, "nb", hidden, "<5", 5)
    printed = text.split('::: {.content-hidden when-format="html"}')[1]
    assert printed.count("| <5 |") == 2
    assert "*Skjult: 2 celler bygger på færre enn 5 respondenter" in printed
    # a printed form without hidden cells says nothing about them
    pdf = {"rows": (shown["Status"] == "stemmer").to_numpy(), "rows_text": "radene der tallet stemmer"}
    printed = printed_form(shown, full, "tabell_x", pdf, {}, "nb", hidden, "<5", 5).split("content-hidden")[1]
    assert "Skjult" not in printed and "<5" not in printed
