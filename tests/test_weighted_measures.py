"""weighted: true — shares and means use the raking weights, tests their design-based versions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src import helpers as h
from src.analysis import measures as ms
from src.analysis import weighting


@pytest.fixture()
def frame():
    return pd.DataFrame(
        {
            "gender": pd.array([1, 1, 2, 2, 2, None], dtype="Int64"),
            "role_group": pd.array([1, 2, 1, 2, 1, 1], dtype="Int64"),
            "seniority": pd.array([1, 4, 2, 4, 3, 1], dtype="Int64"),
            "weight": [2.0, 1.0, 1.0, 1.0, 0.5, 0.5],
        }
    )


def test_weighted_share_and_mean_by_hand(frame, codebook):
    spec = {"stat": "pct", "var": "gender", "codes": [1]}
    assert ms.evaluate(spec, frame, codebook) == pytest.approx(40.0)
    assert ms.evaluate(spec, frame, codebook, weighted=True) == pytest.approx(100 * 3 / 5.5)
    sub = {**spec, "where": "role_group == 1"}
    assert ms.evaluate(sub, frame, codebook, weighted=True) == pytest.approx(100 * 2 / 3.5)
    mean = {"stat": "mean", "var": "seniority"}
    assert ms.evaluate(mean, frame, codebook, weighted=True) == pytest.approx(
        np.average([1, 4, 2, 4, 3, 1], weights=frame["weight"])
    )
    # counts stay the respondents counted
    assert ms.evaluate({"stat": "count", "var": "gender", "codes": [2]}, frame, codebook, weighted=True) == 3


def test_weighted_tests_are_design_based(frame, codebook):
    chi = ms.test({"test": "chi2", "var": "gender", "by": "role_group"}, frame, codebook, weights=frame["weight"])
    assert chi.test == "rao_scott_f"
    t = ms.test(
        {"test": "ttest", "var": "seniority", "by": "role_group", "groups": [1, 2]},
        frame,
        codebook,
        weights=frame["weight"],
    )
    assert t.test == "svyglm_t"


def test_weighted_needs_the_weight_column(frame, codebook):
    with pytest.raises(ms.MeasureError, match="weight"):
        ms.evaluate(
            {"stat": "pct", "var": "gender", "codes": [1]}, frame.drop(columns="weight"), codebook, weighted=True
        )


def test_frequency_table_weighted_percent_keeps_counts(frame, codebook):
    t = h.frequency_table(frame, "gender", codebook, weights=frame["weight"]).set_index("Kjønn")
    assert t.loc["Kvinne", "Antall"] == 2
    assert t.loc["Kvinne", "Prosent"] == pytest.approx(100 * 3 / 5.5)
    assert t.loc["Totalt", "Prosent"] == pytest.approx(100)


def test_raking_weights_of_the_synthetic_sample(sample, codebook):
    weighted, result = h.add_weights(sample, codebook)
    assert result.converged
    w = weighted["weight"]
    assert (w > 0).all() and np.isfinite(w).all() and w.sum() == pytest.approx(len(sample))
    assert w.max() <= weighting.WEIGHT_CAP * w.mean() + 1e-6
    public = ms.evaluate({"stat": "pct", "var": "sector_group", "codes": [1]}, weighted, codebook, weighted=True)
    assert public == pytest.approx(35, abs=0.01)
