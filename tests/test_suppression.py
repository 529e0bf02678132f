"""Small-cell suppression (min_cell): the rule on hand-made tables, the chapter's tables, and a real build."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from src import helpers as h
from src.analysis import suppression as sp
from src.base import disclosure, paths
from src.base.inputs import ParameterError


def test_counts_below_the_threshold_are_hidden_zero_and_the_threshold_itself_are_not():
    values = pd.DataFrame({"Antall": [0, 1, 4, 5, 120]})
    hidden = disclosure.mask(values, values, pd.DataFrame(index=values.index), 5)
    assert hidden["Antall"].tolist() == [False, True, True, False, False]


def test_percentages_hidden_by_a_small_numerator_or_a_small_group_and_means_by_a_small_group():
    values = pd.DataFrame({"Prosent": [0.0, 0.2, 75.0, 40.0], "Snitt": [3.1, 4.0, 2.5, np.nan]})
    counts = pd.DataFrame({"Prosent": [0, 3, 3, 400], "Snitt": [np.nan] * 4})
    bases = pd.DataFrame({"Prosent": [1500, 1500, 4, 1000], "Snitt": [900, 4, 5, 2]})
    hidden = disclosure.mask(values, counts, bases, 5)
    assert hidden["Prosent"].tolist() == [False, True, True, False]  # 0 of 1500 shown; 3 of 1500; 3 of 4
    assert hidden["Snitt"].tolist() == [False, True, False, False]  # the NaN mean has nothing to hide
    assert not disclosure.mask(values, counts, bases, 0).to_numpy().any()  # min_cell: 0 switches it off


def test_hidden_cells_are_stored_empty_and_printed_as_less_than_k():
    table = pd.DataFrame({"Rolle": ["A", "B", "Totalt"], "Antall": [3, 40, 43], "Prosent": [7.0, 93.0, 100.0]})
    counts, bases = disclosure.inferred_support(table)
    hidden = disclosure.mask(table, counts, bases, 5)
    assert hidden.loc[0].tolist() == [False, True, True] and not hidden.loc[1:].to_numpy().any()
    stored = disclosure.apply(table, hidden)
    assert pd.isna(stored.loc[0, "Antall"]) and pd.isna(stored.loc[0, "Prosent"]) and stored.loc[1, "Antall"] == 40
    text = h.markdown_table(stored, hidden=hidden, hidden_text="<5")
    assert "| A | <5 | <5 |" in text and "| B | 40 | 93 |" in text


def test_the_threshold_is_never_applied_to_synthetic_data():
    assert disclosure.threshold(5, synthetic=True) == 0
    assert disclosure.threshold(5, synthetic=False) == 5
    assert disclosure.threshold(0, synthetic=False) == 0


def test_footnote_says_how_many_and_why():
    assert disclosure.footnote(3, 5) == (
        "*Skjult: 3 celler bygger på færre enn 5 respondenter og vises som «<5» "
        "(personvern for reelle data, parameteren `min_cell` = 5); i tabellfilen står de tomme.*"
    )
    assert disclosure.footnote(1, 5, "en").startswith(
        "*Suppressed: 1 cell rests on fewer than 5 respondents and is shown"
    )


def test_layout_support_counts_each_cell_and_its_group(sample, codebook):
    counts, bases = sp.layout_support("tabell_17", sample, codebook)
    base = sample["course_type"].where(sample["course_type"].isin([1, 2, 3, 4]))
    groups = base.groupby(sample["industry_group"]).count()
    physical = sample["course_type"].isin([1, 3]).groupby(sample["industry_group"]).sum()
    for i, code in enumerate(codebook.value_labels("industry_group")):
        assert bases.loc[i, "Fysisk"] == groups[code]
        assert counts.loc[i, "Fysisk"] == physical[code]
    assert bases["Fysisk"].iloc[-1] == base.count()  # 'Totalt': everyone answering


def chapter(tmp_path, synthetic: bool, min_cell: int = 5) -> h.Chapter:
    derived = tmp_path / "derived"
    derived.mkdir(parents=True, exist_ok=True)
    (derived / paths.DATA_INFO_FILE).write_text(json.dumps({"synthetic": synthetic}), encoding="utf-8")
    return h.Chapter("02_sample", str(derived), str(tmp_path / "reports"), min_cell=min_cell)


@pytest.mark.parametrize("synthetic, min_cell, hidden", [(False, 5, True), (True, 5, False), (False, 0, False)])
def test_chapter_tables_hide_small_cells_of_real_data_only(tmp_path, synthetic, min_cell, hidden):
    # (a third row: with two, the other row's count would be hidden too, as 43 - 40 gives A away)
    table = pd.DataFrame(
        {"Rolle": ["A", "B", "C", "Totalt"], "Antall": [3, 40, 50, 93], "Prosent": [3.2, 43.0, 53.8, 100.0]}
    )
    ch = chapter(tmp_path, synthetic, min_cell)
    written = ch.table(table, "tabell_test", show=False)
    stored = pd.read_csv(tmp_path / "reports" / paths.TABLES_DIR / "tabell_test.csv")
    assert pd.isna(stored.loc[0, "Antall"]) is hidden and pd.isna(written.loc[0, "Prosent"]) is hidden
    assert pd.isna(stored.loc[1, "Antall"]) is hidden  # secondary: B hidden too, else 93 - 50 - 40 = A
    assert stored.loc[2, "Antall"] == 50 and stored.loc[3, "Antall"] == 93
    assert ch.results.get("02_sample.suppressed_cells.tabell_test") == (4 if hidden else None)


def test_min_cell_must_be_a_whole_number_not_below_zero():
    for bad, message in (
        (-1, "'min_cell' must be a whole number >= 0"),
        (2.5, "'min_cell' must be int"),
        (True, "'min_cell' must be int"),
    ):
        with pytest.raises(ParameterError, match=message):
            h.check_params({"min_cell": bad})
    assert h.check_params({"min_cell": 0}) == {"min_cell": 0}


@pytest.mark.slow
def test_a_real_export_gets_its_small_cells_hidden_in_reports_tables(tmp_path, synthetic_frame, codebook):
    """The synthetic data presented as a real export (no 'synthetic' in its name or file label)."""
    import pyreadstat

    raw = tmp_path / "surveyxact_export_2024.sav"
    value_labels = {
        s: {float(k): lab for k, lab in v.values.items()} for s, v in codebook.by_source().items() if v.values
    }
    pyreadstat.write_sav(synthetic_frame, str(raw), file_label="SurveyXact export", variable_value_labels=value_labels)
    root = paths.copy_project(tmp_path / "project")  # a build writes only inside its project
    derived, reports = root / "derived", root / "reports"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "src.pipeline",
            "--no-render",
            "--notebooks",
            "01_cleaning,02_sample",
            "-p",
            f"raw_path={raw}",
            "-p",
            "derived_dir=derived",
            "-p",
            "reports_dir=reports",
            "-p",
            "min_cell=5",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    info = json.loads((derived / paths.DATA_INFO_FILE).read_text(encoding="utf-8"))
    assert info["synthetic"] is False

    # Tabell 3 (one row per industry): the industries with 1-4 respondents are hidden, the others shown
    sample = pd.read_parquet(derived / paths.RESPONDENTS_FILE)
    n = sample["industry"].value_counts()
    t3 = pd.read_csv(reports / "tables" / "tabell_03.csv")
    labels = codebook.value_labels("industry")
    small = {labels[c] for c in labels if 0 < n.get(c, 0) < 5}
    assert small, "the test needs an industry with fewer than 5 respondents"
    for _, row in t3.iterrows():
        if row.iloc[0] in small:
            assert pd.isna(row["Antall"]) and pd.isna(row["Prosent"]), row.iloc[0]
        elif row.iloc[0] in labels.values():
            assert row["Antall"] == n.get({v: k for k, v in labels.items()}[row.iloc[0]], 0)

    # no count in any table of these chapters rests on 1-4 respondents
    for f in (reports / "tables").glob("*.csv"):
        table = pd.read_csv(f)
        for col in (c for c in table.columns if str(c).startswith("Antall")):
            values = pd.to_numeric(table[col], errors="coerce").dropna()
            assert not ((values > 0) & (values < 5)).any(), f"{f.name} / {col}: {values[values < 5].tolist()}"
    results = json.loads((reports / "results.json").read_text(encoding="utf-8"))
    assert results["02_sample.suppressed_cells.tabell_03"] == 2 * len(small)
    executed = (reports / "executed" / "02_sample.ipynb").read_text(encoding="utf-8")
    assert "«<5»" in executed and "| <5 | <5 |" in executed


# -- secondary suppression, hidden numbers in prose, tests and results (issue 17) --------------------


def test_secondary_suppression_hides_a_partner_where_a_total_would_give_a_cell_away():
    t = pd.DataFrame(
        {
            "Størrelse": ["1-4", "5-9", "10-29", "Totalt små", "50-99", "100-249", "Totalt"],
            "Antall": [3, 20, 30, 53, 60, 80, 193],
        }
    )
    primary = disclosure.mask(t, t[["Antall"]], pd.DataFrame(index=t.index), 5)
    hidden = disclosure.complementary(t, primary)["Antall"].tolist()
    # 1-4 is hidden, and 5-9 too (the smallest other cell under «Totalt små»); the rest is shown
    assert hidden == [True, True, False, False, False, False, False]
    # two hidden cells in a line: nothing more is needed
    t2 = t.assign(Antall=[3, 2, 30, 35, 60, 80, 175])
    assert (
        disclosure.complementary(t2, disclosure.mask(t2, t2[["Antall"]], pd.DataFrame(index=t2.index), 5))[
            "Antall"
        ].sum()
        == 2
    )


def test_secondary_suppression_across_a_row_of_percentages_summing_to_100():
    t = pd.DataFrame({"Bransje": ["A", "B"], "Fysisk": [98.5, 60.0], "Digitalt": [1.5, 40.0]})
    counts = pd.DataFrame({"Fysisk": [197, 60], "Digitalt": [3, 40]})
    hidden = disclosure.complementary(
        t, disclosure.mask(t, counts, pd.DataFrame({"Fysisk": [200, 100], "Digitalt": [200, 100]}), 5)
    )
    assert hidden.loc[0, ["Fysisk", "Digitalt"]].tolist() == [True, True]  # 100 - 98.5 would give 1.5 away
    assert not hidden.loc[1].any()


def test_a_hidden_number_reads_as_fewer_than_k_and_stays_hidden_in_arithmetic():
    n = disclosure.Hidden(5)
    assert f"Av de {n} som svarte" == "Av de færre enn 5 som svarte"
    assert (
        str(disclosure.Hidden(5, "stat")) == "(skjult: færre enn 5 svar)"
        and str(disclosure.Hidden(10, "count", "en")) == "fewer than 10"
    )
    assert (
        isinstance(n + 3, disclosure.Hidden)
        and isinstance(sum([2, n]), disclosure.Hidden)
        and isinstance(abs(n - 1), disclosure.Hidden)
    )
    assert not (n > 2) and not (n < 2) and h.fmt_number(n) == "færre enn 5"


def test_chapter_hides_small_counts_shares_means_and_tests_of_real_data(tmp_path, sample):
    derived = tmp_path / "derived"
    derived.mkdir()
    small = sample[(sample["role_group"] == 1) | (sample.index.isin(sample.index[sample["role_group"] == 2][:3]))]
    small.to_parquet(derived / paths.RESPONDENTS_FILE)
    (derived / paths.DATA_INFO_FILE).write_text(json.dumps({"synthetic": False}), encoding="utf-8")
    ch = h.Chapter("04_training", str(derived), str(tmp_path / "reports"))
    hvo = ch.state("04_training.basic_training_full_pct.hvo")  # a share of 3 hovedverneombud
    assert isinstance(hvo, disclosure.Hidden) and ch.fmt(hvo) == "(skjult: færre enn 5 svar)"
    assert ch.results["04_training.basic_training_full_pct.hvo"] is None
    assert "basic_training_full_pct.hvo" in ch.results["04_training.suppressed_results"]
    assert "04_training.basic_training_full_pct.hvo.ci95" not in ch.results
    assert isinstance(ch.state("04_training.basic_training_full_pct"), float)  # the whole sample is shown
    t = ch.verdict("04_training.f01_important_necessary.vo_vs_hvo.significant")
    assert (
        isinstance(t, disclosure.HiddenTest) and h.verdict_text(t) == "ikke vist" and h.significance(t) == "ikke vist"
    )
    assert ch.results["04_training.f01_important_necessary.vo_vs_hvo.statistic"] is None
    row = ch.verdict_table(["04_training.f01_important_necessary.vo_vs_hvo.significant"]).iloc[0]
    assert row["Test"].startswith("ikke vist") and row["Samsvar"] == "–"
    assert ch.count(3) == disclosure.Hidden(5) and ch.count(0) == 0 and ch.count(12) == 12
    assert ch.fmt(66.7, 0, n=3) == "(skjult: færre enn 5 svar)" and ch.fmt(66.7, 0, n=30) == "67"
    table = pd.DataFrame({"Påstand": ["a", "b"], "VO": [4.1, 3.9], "HVO": [disclosure.Hidden(5, "stat"), 4.0]})
    with pytest.raises(disclosure.UnknownSupport, match="columns 'VO', 'HVO' do not"):  # (#26) not declared
        ch.table(table, "hidden_cells", show=False)
    disclosure.declare_protected(table, ["VO", "HVO"], "means protected one by one (Chapter.protect)")
    written = ch.table(table, "hidden_cells", show=False)
    assert pd.isna(written.loc[0, "HVO"]) and written.loc[1, "HVO"] == 4.0
    assert ch.results["04_training.suppressed_cells.hidden_cells"] == 1


def test_a_synthetic_chapter_hides_nothing(tmp_path, sample):
    derived = tmp_path / "derived"
    derived.mkdir()
    sample[sample["role_group"] == 1].head(40).to_parquet(derived / paths.RESPONDENTS_FILE)
    (derived / paths.DATA_INFO_FILE).write_text(json.dumps({"synthetic": True}), encoding="utf-8")
    ch = h.Chapter("02_sample", str(derived), str(tmp_path / "reports"))
    assert ch.count(3) == 3 and not isinstance(ch.state("02_sample.under10_n"), disclosure.Hidden)
