"""The synthetic export reproduces the report: the fidelity score, measured."""

from __future__ import annotations

import pandas as pd
import pytest

from src.base import reference
from src.synthetic import fidelity


@pytest.fixture(scope="module")
def scores(synthetic_sav):
    sample, excluded = fidelity.prepare(synthetic_sav)
    return fidelity.score(sample, excluded)


def specified(scores: pd.DataFrame) -> pd.DataFrame:
    return scores[scores["status"].isin(["ok", "avvik", "inconsistent"])]


def test_every_calibrated_number_is_within_its_tolerance(scores):
    cal = specified(scores)
    cal = cal[cal["calibrated"] & cal["flag"].ne("inconsistent")]
    misses = cal[cal["status"] != "ok"]
    assert misses.empty, misses[["id", "published", "reproduced", "tolerance"]].to_string()


def test_every_table_cell_is_within_its_tolerance(scores):
    cells = specified(scores)
    cells = cells[cells["source"].str.startswith("Tabell") & cells["flag"].ne("inconsistent")]
    misses = cells[cells["status"] != "ok"]
    assert misses.empty, misses[["id", "published", "reproduced"]].to_string()


def test_at_least_95_percent_of_the_scored_numbers_hold(scores):
    s = fidelity.summary(scores).set_index("entries")
    assert s.loc["alle", "share_ok_pct"] >= 95, s


def test_chapters_with_measures_are_fully_specified(scores):
    """A chapter that has measures has them for every one of its published numbers."""
    chapters = set(specified(scores)["chapter"])
    missing = scores[scores["chapter"].isin(chapters) & (scores["status"] == "ikke spesifisert")]
    assert missing.empty, missing[["id", "chapter", "error"]].to_string()


def test_a_miss_is_reported_as_a_miss(synthetic_sav):
    sample, excluded = fidelity.prepare(synthetic_sav)
    entry = {
        "id": "x",
        "chapter": "02_sample",
        "source": "Tekst 4.1",
        "label": "Kvinner",
        "group": None,
        "unit": "percent",
        "value": 75,
        "tolerance": 0.5,
        "calibrated": True,
        "flag": None,
        "lookup": {"result": "02_sample.gender_women_pct"},
    }
    row = fidelity.score(sample, excluded, entries=[entry]).iloc[0]
    assert row["status"] == "avvik" and round(row["reproduced"]) == 60


def test_measures_name_existing_variables(codebook):
    specs = reference.load_measures()
    names = set(codebook.variables) | set(codebook.recodes) | set(codebook.indices) | set(codebook.groups)
    for key, spec in specs["results"].items():
        for field in ("var", "by", "grid"):
            if field in spec:
                assert spec[field] in names, f"{key}: {field} {spec[field]!r} is not in the codebook"
    for table, layout in specs["tables"].items():
        for field in ("var", "rows", "grid", "multi", "subtotals"):
            if field in layout:
                assert layout[field] in names, f"{table}: {field} {layout[field]!r} is not in the codebook"
