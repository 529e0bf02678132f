"""The open answers' review figures on real data (#28): no count of 1-4, no agreement on 1-4 reviews.

Fast companions of the groups-of-1–4 search in tests/test_disclosure.py (which builds and searches a
whole book): the chapter's paragraph, its results and its agreement table for a summary with 3 reviews
(2 changed) and a theme answered 3 times, in a chapter whose data cannot be shown to be synthetic (so protected).
"""

import json

import pandas as pd

from src import helpers as h

SUMMARY = pd.DataFrame(
    {
        "variable": ["insufficient_time_theme", "hvo_further_training_theme"],
        "n_answers": [711, 3],
        "n_reviewed": [3, 0],
        "n_changed": [2, 0],
        "n_stale": [0, 0],
        "agreement_pct": [33.3, float("nan")],
        "kappa": [0.0, float("nan")],
        "kappa_low": [-0.5, float("nan")],
        "kappa_high": [0.5, float("nan")],
        "n_not_coded": [40, 1],
        "review_source": ["ark", "ark"],
        # the audit sample (#29): the 3 reviews are all in it; agreement and kappa rest on it
        "n_audit": [30, 3],
        "n_audit_reviewed": [3, 0],
        "n_unmatched": [0, 0],
        "n_non_answer": [38, 0],
        "n_not_recognised": [2, 1],
    }
)


def chapter(tmp_path):
    return h.Chapter("01_cleaning", derived_dir=str(tmp_path / "no_derived_data"), reports_dir=str(tmp_path / "r"))


def test_the_paragraph_and_results_hold_no_count_or_agreement_of_1_to_4(tmp_path):
    ch = chapter(tmp_path)
    assert ch.min_cell_in_force == 5  # real unless the data say they are synthetic
    text = h.coding_summary(ch, SUMMARY)
    for leak in (
        "3 gjennomgått",
        "endret 2 av",
        "samsvar 33",
        "kappa 0,00",
        "3 svar",
        "1 står som",
        "708",
        "3 av dem",
        "2 ikke gjenkjent",
        "38 ikke svar",
    ):
        assert leak not in text, (leak, text)
    assert "færre enn 5 gjennomgått" in text and "samsvaret vises ikke" in text, text
    ch.flush_results()
    results = json.loads(next((tmp_path / "r").rglob("01_cleaning.json")).read_text(encoding="utf-8"))
    for field in ("n_reviewed", "n_changed", "agreement_pct", "kappa", "kappa_low", "kappa_high"):
        assert results[f"01_cleaning.coding.insufficient_time_theme.{field}"] is None, field
    assert results["01_cleaning.coding.hvo_further_training_theme.n_answers"] is None
    assert results["01_cleaning.coding.insufficient_time_theme.n_answers"] == 711


def test_the_agreement_table_withholds_agreement_on_fewer_than_5_reviews(tmp_path):
    ch = chapter(tmp_path)
    table = ch.table(h.coding_agreement_table(SUMMARY, ch.codebook), "koding_samsvar", show=False)
    first = table.iloc[0]
    assert first[["Samsvar (prosent)", "Kappa", "KI nedre", "KI øvre"]].isna().all(), first.to_dict()
    assert pd.isna(first["Antall gjennomgått"]) and pd.isna(first["Endret av forsker (kontrollutvalget)"])
    assert first["Antall svar"] == 711 and pd.isna(table.iloc[1]["Antall svar"])


def test_agreement_is_shown_when_it_rests_on_enough_reviews(tmp_path):
    ch = chapter(tmp_path)
    enough = SUMMARY.iloc[[0]].assign(n_reviewed=60, n_audit_reviewed=30, n_changed=10, agreement_pct=83.3, kappa=0.71)
    text = h.coding_summary(ch, enough)
    assert "60 gjennomgått" in text and "samsvar 83 prosent" in text and "kappa 0,71" in text, text
    table = ch.table(h.coding_agreement_table(enough, ch.codebook), "koding_samsvar", show=False)
    assert table.iloc[0]["Kappa"] == 0.71


def printed_agreement(tmp_path, monkeypatch, summary, synthetic=False):
    shown = []
    monkeypatch.setattr(h, "display_markdown", shown.append)
    ch = chapter(tmp_path)
    if synthetic:
        monkeypatch.setattr(type(ch), "min_cell_in_force", property(lambda self: 0))
    table = ch.table(
        h.coding_agreement_table(summary, ch.codebook),
        "koding_samsvar",
        {"Samsvar (prosent)": 0, "Kappa": 2, "KI nedre": 2, "KI øvre": 2},
    )
    lines = [x for x in shown[-1].splitlines() if x.startswith("|")]
    return table, [[c.strip() for c in x.strip("|").split("|")] for x in lines]


def test_the_agreement_table_is_printed_narrow_and_written_whole(tmp_path, monkeypatch):
    """Printed with 8 short columns (kappa with its interval in one), the CSV with the 10 it computes (#27:
    ten long headers ran over the HTML column and into each other in the PDF)."""
    enough = SUMMARY.iloc[[0]].assign(
        n_reviewed=60, n_audit_reviewed=30, n_changed=1, agreement_pct=96.7, kappa=0.96, kappa_low=0.88, kappa_high=1.0
    )
    table, rows = printed_agreement(tmp_path, monkeypatch, enough, synthetic=True)
    header, first = [h.replace("\u00ad", "") for h in rows[0]], rows[2]  # headers may break at soft hyphens
    assert header == [
        "Spørsmål (kodet tema)",
        "Svar",
        "Gjennomgått",
        "Kontrollutvalg",
        "Gjennomgått i kontroll",
        "Endret i kontroll",
        "Samsvar (%)",
        "Kappa (95 % KI)",
    ]
    assert first[1:] == ["711", "60", "30", "30", "1", "97", "0,96\u00a0(0,88–1,00)"], first
    assert "kodet tema" not in first[0]
    assert len(table.columns) == 10 and table.iloc[0]["KI nedre"] == 0.88  # the CSV as computed
    csv = pd.read_csv(tmp_path / "r" / "tables" / "koding_samsvar.csv")
    assert list(csv.columns) == list(table.columns)


def test_the_printed_agreement_hides_kappa_and_its_interval_together(tmp_path, monkeypatch):
    _, rows = printed_agreement(tmp_path, monkeypatch, SUMMARY)
    first = rows[2]
    assert rows[0][-1] == "Kappa (95 % KI)" and first[-1] == "<5", first  # not «<5 (<5–<5)», nor 0,00 (−0,50–…)
    assert "711" in first


def test_a_soft_hyphen_is_where_a_header_may_break_so_the_label_column_gets_the_room():
    """K1.3 in HTML broke «hovedverneombud» inside the word while «Gjennom­gått i kontroll» kept 13 characters:
    a header's soft hyphen is a break, so its column needs only the longest part."""
    from src.book.tables import column_widths

    header = ["Spørsmål", "Gjennom\u00adgått i kontroll"]
    rows = [["Opplæring som hovedverneombud", "30"]]
    soft, hard = column_widths(header, rows), column_widths(["Spørsmål", "Gjennomgått i kontroll"], rows)
    assert soft[1] < hard[1]


def test_the_learning_curve_is_printed_under_short_headers_and_written_whole(tmp_path, monkeypatch):
    """K1.4: eight long headers ran over the HTML column (a scroll bar, the last column cut); the book prints
    short ones, the CSV keeps the long names the results and tests use."""
    from src.book.tables import CURVE_SHOWN

    ch = chapter(tmp_path)
    shown = []
    monkeypatch.setattr(h, "display_markdown", shown.append)
    curve, _, _ = h.coding_learning_curve(ch)
    ch.table(curve, "koding_laeringskurve", {"Kappa": 2})
    header = [c.strip() for c in shown[-1].splitlines()[0].strip("|").split("|")]
    assert header == [CURVE_SHOWN.get(c, c) for c in curve.columns]
    assert all(len(w) <= 12 for c in header for w in c.replace("\u00ad", " ").split())  # no long unbreakable word
    assert list(pd.read_csv(tmp_path / "r" / "tables" / "koding_laeringskurve.csv").columns) == list(curve.columns)
