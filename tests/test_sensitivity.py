"""The weighting appendix's text (src/book/sensitivity.py) in both books: the default (unweighted) book
compares its numbers with the weighted run; a book built with ``weighted: true`` is itself the weighted run."""

from __future__ import annotations

import pytest

from src.book import sensitivity

INFO = {
    "n_sample": 2247,
    "weighting": {
        "variables": ["sector_group", "size_group", "industry_group"],
        "cap": 5.0,
        "converged": True,
        "iterations": 59,
        "design_effect": 2.476878702608432,
        "effective_n": 907.1901654423594,
    },
}


def test_weighted_book_appendix_says_the_book_is_the_sensitivity_analysis():
    text = sensitivity.weighted_book(INFO)
    assert "Denne boken er selv følsomhetsanalysen" in text and "`weighted: true`" in text
    assert "alle prosenter og gjennomsnitt" in text and "raking" in text and "designbaserte" in text
    # the raking facts, from data_info.json's weighting block, in Norwegian number format
    assert "sektor, virksomhetsstørrelse og bransje" in text
    assert "kappet ved 5 × snittet" in text
    assert "designeffekt (Kish) 2,48" in text and "effektivt utvalg 907 av 2247" in text
    # the comparison is in the default book, not here: no table, a pointer to `make book`
    assert "standardboken (uvektet)" in text and "`make book`" in text
    assert "|" not in text and "Signifikansutsagn" not in text
    assert "Tabellene viser bokens uvektede tall" not in text
    assert sensitivity.ASSUMPTION in text and "Det forutsetter at" not in text  # said once, not twice


def test_weighted_book_appendix_follows_the_data():
    info = {
        "n_sample": 1500,
        "weighting": {"variables": ["size_group"], "cap": 3.0, "design_effect": 1.3333, "effective_n": 925.4},
    }
    text = sensitivity.weighted_book(info)
    assert "fordeling av sysselsatte på virksomhetsstørrelse (kappet ved 3 × snittet)" in text
    assert "designeffekt (Kish) 1,33" in text and "effektivt utvalg 925 av 1500" in text
    assert "2247" not in text and "2,48" not in text


def test_weighted_book_appendix_without_weights_is_refused():
    with pytest.raises(ValueError, match="no 'weighting' block"):
        sensitivity.weighted_book({"n_sample": 10})


def test_unweighted_introduction_takes_its_shares_from_the_results():
    text = sensitivity.introduction(
        {"02_sample.sector_public_pct": 73.99366802351877, "02_sample.population_sector_public_pct.ssb": 35}
    )
    assert "(74 prosent mot om lag 35 prosent av de\nsysselsatte)" in text
    assert "Tabellene viser bokens uvektede tall (som rapportens)" in text
    assert text.endswith(sensitivity.ASSUMPTION + "\n\n")
    other = sensitivity.introduction(
        {"02_sample.sector_public_pct": 61.6, "02_sample.population_sector_public_pct.ssb": 30}
    )
    assert "(62 prosent mot om lag 30 prosent" in other
    bare = sensitivity.introduction({})  # a build without 02_sample: no numbers, no parenthesis
    assert "offentlig sektor og fra store virksomheter" in bare and "prosent mot" not in bare


def test_the_largest_shifts_have_a_heading_not_a_bold_line_ending_in_a_path():
    """#27: «**De 30 … flytter seg mest** (alle står i `reports/…csv`):» was one justified PDF line whose path
    could not break: wide gaps between its words. A heading of its own, the path in the sentence below."""
    import pandas as pd

    table = pd.DataFrame(
        {
            "id": ["a", "b"],
            "label": ["Kurs", "Tema"],
            "group": [None, "VO"],
            "unit": ["percent", "mean"],
            "published": [40, 3.5],
            "unweighted": [40.2, 3.52],
            "weighted": [45.0, 3.31],
            "unweighted_ci": [(38.0, 42.0), (3.4, 3.6)],
            "weighted_ci": [(42.0, 48.0), (3.2, 3.4)],
            "shift": [4.8, -0.21],
            "verdict_changes": [False, False],
        }
    )
    text = sensitivity.markdown(table)
    assert "### De 2 tallene som flytter seg mest\n\n| Tall |" in text  # the table right under its heading
    assert not [line for line in text.splitlines() if line.startswith("**") and "`" in line]
    assert "`reports/weighting_comparison.csv`" in text
