"""The report's tests on small data with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src import stats


def test_chi_square_and_cramers_v_by_hand():
    df = pd.DataFrame({"a": [1] * 10 + [1] * 20 + [2] * 20 + [2] * 10, "b": [1] * 10 + [2] * 20 + [1] * 20 + [2] * 10})
    r = stats.chi_square(df, "a", "b")
    assert r.statistic == pytest.approx(4 * 25 / 15)   # expected 15 in every cell
    assert r.df == 1 and r.n == 60
    assert r.effect == pytest.approx(np.sqrt(r.statistic / 60))
    assert r.significant and r.p == pytest.approx(0.00982, abs=1e-4)


def test_welch_t_and_cohens_d_by_hand():
    values = pd.Series([1, 2, 3, 4, 5, 2, 4, 6, 8, 10], dtype=float)
    groups = pd.Series([1] * 5 + [2] * 5)
    r = stats.t_test(values, groups, 1, 2)
    assert r.statistic == pytest.approx(-3 / np.sqrt(2.5))
    assert r.df == pytest.approx(6.25 / (0.25 / 4 + 4 / 4))
    assert r.effect == pytest.approx(-1.2)
    assert r.detail["mean_a"] == 3 and r.detail["mean_b"] == 6
    assert not r.significant


def test_anova_eta_squared_and_tukey():
    values = pd.Series([1, 2, 3, 4, 5, 6, 7, 8, 9], dtype=float)
    groups = pd.Series([1, 1, 1, 2, 2, 2, 3, 3, 3])
    r, tukey = stats.anova(values, groups)
    # between: 3*(2-5)^2 + 0 + 3*(8-5)^2 = 54; total: 60
    assert r.effect == pytest.approx(54 / 60)
    assert r.df == (2, 6)
    assert r.statistic == pytest.approx((54 / 2) / (6 / 6))
    assert len(tukey) == 3
    assert tukey.set_index(["a", "b"]).loc[("1", "3"), "significant"]


def test_cronbach_alpha_extremes_and_item_table():
    base = pd.Series([1, 2, 3, 4, 5, 2, 3, 4], dtype=float)
    same = pd.DataFrame({"x": base, "y": base, "z": base})
    alpha, table = stats.cronbach_alpha(same)
    assert alpha == pytest.approx(1.0)
    assert list(table["item"]) == ["x", "y", "z"] and table["n"].iloc[0] == 8
    rng = np.random.default_rng(0)
    noise = pd.DataFrame(rng.normal(size=(5000, 4)))
    assert abs(stats.cronbach_alpha(noise)[0]) < 0.05


def test_describe_formats_as_in_norwegian_reports():
    r = stats.TestResult("chi2", 85.234, 3, 0.0000001, 0.191, "Cramérs V", 2000)
    assert r.describe() == "χ²(3) = 85,23, p < ,001, Cramérs V = 0,19"
