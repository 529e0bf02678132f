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


def test_the_option_tests_get_two_lines_a_test_in_the_pdf():
    """#27 (Tabell K9.6, K9.3): seven columns sized by their cells left the test column «χ²(1) =» / «76,75,» /
    «p < ,001,» / «Cramérs» / «V = 0,22», five lines a cell. The printed form has short share headers and fixed
    shares of the A4 line that give a test two lines (LINE_BUDGET characters of 9 pt across the column)."""
    from src.book.comparisons import option_display
    from src.book.tables import LINE_BUDGET

    test = "χ²(1) = 76,75, p < ,001, Cramérs V = 0,22"
    table = pd.DataFrame(
        {
            "Negative faktorer for utøvelse av verneombudsrollen": ["Manglende kunnskap og kompetanse om HMS-arbeid"],
            "Prosent VO": [25.0],
            "Prosent HVO": [50.0],
            "Differanse (prosentpoeng)": [24.9],
            "Test": [test],
            "Reprodusert": ["signifikant"],
            "Nevnt i rapporten": ["ja"],
        }
    )
    shown, _, decimals = option_display("VO", "HVO")(table, None, {"Differanse (prosentpoeng)": 1})
    assert list(shown.columns)[1:4] == ["VO (%)", "HVO (%)", "Differanse (prosent\u00adpoeng)"]
    assert decimals == {"Differanse (prosent\u00adpoeng)": 1}
    lines = markdown_table(shown, decimals).splitlines()
    dashes = [len(c.strip(":")) + 1 for c in lines[1].strip("|").split("|")]
    share = dict(zip(shown.columns, (d / sum(dashes) for d in dashes)))
    assert share["Test"] * LINE_BUDGET >= len(test) / 2 + 2, share  # a test on two lines
    assert share["Test"] == max(share[c] for c in shown.columns[1:])


def test_a_verdict_table_gives_its_test_as_much_room_as_its_label():
    """#27: sized by their cells, a verdict table's test got a quarter of the A4 line (five lines a Tukey pair)
    and Tabell K7.3 ran onto a third page for one row. Its columns have fixed shares (tables.VERDICT_WIDTHS): the
    comparison's label and the test, about as long, the same."""
    test = "Tukeys HSD (Tukey-Kramer): forskjell i gjennomsnitt (I − J) 0,08 [95 % KI −0,07; 0,22], justert p = ,477"
    table = pd.DataFrame(
        {
            "Sammenligning": [
                "Kursholderen(e) hadde gode formidlingsevner (helt bransjerettet vs delvis bransjerettet)"
            ],
            "Test": [test],
            "Rapporten": ["ikke testet i rapporten"],
            "Reprodusert": ["ikke signifikant"],
            "Samsvar": ["–"],
        }
    )
    for frame in (table, table.assign(Merknad=["(1)"])):
        lines = markdown_table(frame).splitlines()
        dashes = [len(c.strip(":")) + 1 for c in lines[1].strip("|").split("|")]
        share = dict(zip(frame.columns, (d / sum(dashes) for d in dashes)))
        assert share["Test"] >= 0.28 and share["Test"] == share["Sammenligning"] == max(share.values()), share
