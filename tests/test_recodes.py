"""The codebook's recodes reproduce the report's merged tables (Tabell 2 and 4)."""

from __future__ import annotations

import pandas as pd

from src import helpers as h


def respondents_from_table(codebook, published, var, table, column="Antall"):
    """One row per respondent with the counts a published table prints for ``var``."""
    rows = []
    for code, label in codebook.value_labels(var).items():
        n = h.published_value(table, label, column, published)
        rows += [code] * int(n)
    return pd.DataFrame({var: pd.array(rows, dtype="Int64")})


def test_industry_recode_reproduces_tabell_4_from_tabell_3(codebook, published):
    df = h.apply_recodes(respondents_from_table(codebook, published, "industry", "tabell_03"), codebook)
    t4 = h.frequency_table(df, "industry_11", codebook, count_col="Antall svar")
    for label, n in zip(t4.iloc[:, 0], t4["Antall svar"]):
        assert n == h.published_value("tabell_04", label, "Antall svar", published), label
    assert t4.iloc[0].tolist()[:2] == ["Helse og omsorg", 838]
    assert t4.set_index(t4.columns[0]).loc["Andre bransjer", "Antall svar"] == 374


def test_role_recode_reproduces_tabell_2_totals(codebook, published):
    rows = []
    for code in (1, 2, 3, 4):
        rows += [code] * int(h.published_value("tabell_02", codebook.value_labels("role")[code], "Antall", published))
    df = h.apply_recodes(pd.DataFrame({"role": pd.array(rows, dtype="Int64")}), codebook)
    t2 = h.frequency_table(df, "role", codebook, subtotals="role_group").set_index("Rolle")
    for row in ("Verneombud totalt", "Hovedverneombud", "Totalt"):
        assert t2.loc[row, "Antall"] == h.published_value("tabell_02", row, "Antall", published)
    assert list(t2.index) == [
        "Verneombud",
        "Både verneombud og tillitsvalgt",
        "Tidligere verneombudsrolle",
        "Verneombud totalt",
        "Hovedverneombud",
        "Totalt",
    ]


def test_size_groups_give_tabell_5_subtotals(codebook, published):
    df = h.apply_recodes(respondents_from_table(codebook, published, "firm_size", "tabell_05", "Antall svar"), codebook)
    t5 = h.frequency_table(
        df, "firm_size", codebook, subtotals="size_group", count_col="Antall svar", group_header="Størrelseskategori"
    ).set_index("Virksomhetsstørrelse")
    for row in ("Totalt små", "Totalt mellomstore", "Totalt store", "Totalt"):
        assert t5.loc[row, "Antall svar"] == h.published_value("tabell_05", row, "Antall svar", published)
    assert t5.loc["Totalt store", "Størrelseskategori"] == "Store"


def test_unmapped_codes_become_missing(codebook):
    df = h.apply_recodes(pd.DataFrame({"role": pd.array([1, 4, 5, 6, None], dtype="Int64")}), codebook)
    assert df["role_group"].tolist()[:2] == [1, 2]
    assert df["role_group"].iloc[2:].isna().all()


def test_sector_other_is_left_out_of_sector_group(codebook):
    df = h.apply_recodes(pd.DataFrame({"sector": pd.array([1, 2, 3], dtype="Int64")}), codebook)
    assert df["sector_group"].iloc[:2].tolist() == [1, 2]
    assert pd.isna(df["sector_group"].iloc[2])


def test_industry_group_rule_holds_on_tabell_3(codebook, published):
    df = h.apply_recodes(respondents_from_table(codebook, published, "industry", "tabell_03"), codebook)
    rule = h.check_min_answers(df, "industry_group", codebook)
    assert rule["I tråd med regelen"].all(), rule[~rule["I tråd med regelen"]]


def test_check_min_answers_flags_a_group_below_the_threshold(codebook):
    # Industri with only 50 answers would not be its own group under the > 100 rule.
    df = h.apply_recodes(pd.DataFrame({"industry": pd.array([11] * 50 + [25] * 200, dtype="Int64")}), codebook)
    rule = h.check_min_answers(df, "industry_group", codebook).set_index("Kategori")
    assert not rule.loc["Industri", "I tråd med regelen"]
    assert rule.loc["Helse og omsorg", "I tråd med regelen"]
