"""Survey weighting (src/analysis/weighting.py): raking, design-based estimates and tests, replicate weights.

Hand-made data where the answer is known, every bad input, and agreement
with R's ``survey`` package (``Rscript`` with ``library(survey)``; skipped
with a message when R is absent, but a failure when the CI variable is set).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import textwrap

import numpy as np
import pandas as pd
import pytest

from src.analysis import weighting as W
from src.analysis.weighting import WeightingError, WeightingWarning


def achieved(data: pd.DataFrame, weights, var: str) -> dict:
    """Weighted shares of ``var`` among respondents who have it (computed independently of the module)."""
    frame = pd.DataFrame({"v": data[var].to_numpy(), "w": np.asarray(weights, dtype=float)}).dropna()
    s = frame.groupby("v")["w"].sum()
    return (s / s.sum()).to_dict()


def two_margin_data() -> tuple[pd.DataFrame, dict]:
    a = [1] * 62 + [1] * 18 + [2] * 18 + [2] * 2
    b = [1] * 62 + [2] * 18 + [1] * 18 + [2] * 2
    return pd.DataFrame({"a": a, "b": b}), {"a": {1: 0.6, 2: 0.4}, "b": {1: 0.6, 2: 0.4}}


def sector_size_data(seed: int = 7, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sector = rng.choice([1, 2], n, p=[0.7, 0.3])
    size = np.where(
        sector == 1, rng.choice([1, 2, 3], n, p=[0.2, 0.3, 0.5]), rng.choice([1, 2, 3], n, p=[0.5, 0.25, 0.25])
    )
    return pd.DataFrame({"sector_group": pd.array(sector, dtype="Int64"), "size_group": pd.array(size, dtype="Int64")})


SECTOR_SIZE = {"sector_group": {1: 35, 2: 65}, "size_group": {1: 0.48, 2: 0.20, 3: 0.32}}


# ---------------------------------------------------------------------------
# Raking on hand-made data
# ---------------------------------------------------------------------------


def test_one_margin_is_post_stratification():
    df = pd.DataFrame({"s": [1] * 30 + [2] * 70})
    r = W.rake(df, {"s": {1: 0.5, 2: 0.5}})
    assert r.converged and r.iterations == 1
    assert r.weights[df["s"] == 1].to_numpy() == pytest.approx(50 / 30)
    assert r.weights[df["s"] == 2].to_numpy() == pytest.approx(50 / 70)


def test_raking_reproduces_the_targets_on_hand_made_data():
    df = sector_size_data()
    r = W.rake(df, SECTOR_SIZE, tol=1e-10)
    assert r.converged and r.max_deviation <= 1e-10
    assert achieved(df, r.weights, "sector_group") == pytest.approx({1: 0.35, 2: 0.65}, abs=1e-9)
    assert achieved(df, r.weights, "size_group") == pytest.approx({1: 0.48, 2: 0.20, 3: 0.32}, abs=1e-9)
    # the diagnostics table says the same
    t = r.margins.set_index(["variable", "code"])
    assert t.loc[("sector_group", 1), "target_pct"] == pytest.approx(35)
    assert t.loc[("sector_group", 1), "achieved_pct"] == pytest.approx(35, abs=1e-7)
    assert t.loc[("size_group", 3), "n"] == int((df["size_group"] == 3).sum())
    assert t.loc[("size_group", 3), "sample_pct"] == pytest.approx(100 * (df["size_group"] == 3).mean())
    assert t["difference_pct"].abs().max() <= 1e-7


def test_weights_are_positive_finite_sum_to_n_and_keep_the_index():
    df = sector_size_data().set_axis(range(1000, 1300))
    r = W.rake(df, SECTOR_SIZE)
    w = r.weights
    assert (w.index == df.index).all() and len(w) == len(df)
    assert np.isfinite(w).all() and (w > 0).all()
    assert w.sum() == pytest.approx(len(df))


def test_diagnostics_kish_and_weight_summary():
    df = sector_size_data()
    r = W.rake(df, SECTOR_SIZE)
    w = r.weights.to_numpy()
    n = len(w)
    assert r.design_effect == pytest.approx(n * np.sum(w**2) / np.sum(w) ** 2)
    assert r.effective_n == pytest.approx(np.sum(w) ** 2 / np.sum(w**2))
    s = r.weight_summary
    assert s["min"] == w.min() and s["max"] == w.max() and s["median"] == pytest.approx(np.median(w))
    assert s["p5"] == pytest.approx(np.percentile(w, 5)) and s["p95"] == pytest.approx(np.percentile(w, 95))
    assert s["mean"] == pytest.approx(1)
    assert "Kish" in r.describe("en") and "designeffekt" in r.describe("nb")
    # Kish on known weights: w = (1, 1, 1, 3) -> 4 * 12 / 36
    assert W.kish_design_effect([1, 1, 1, 3]) == pytest.approx((4 * 12 / 36, 36 / 12))


def test_margins_given_in_percent_or_proportions_give_the_same_weights():
    df = sector_size_data()
    pct = W.rake(df, {"sector_group": {1: 35, 2: 65}, "size_group": {1: 48, 2: 20, 3: 32}})
    prop = W.rake(df, {"sector_group": {1: 0.35, 2: 0.65}, "size_group": {1: 0.48, 2: 0.2, 3: 0.32}})
    assert pct.weights.to_numpy() == pytest.approx(prop.weights.to_numpy(), rel=1e-12)


# ---------------------------------------------------------------------------
# Bad input: every case gives a clear WeightingError
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "margins, message",
    [
        ({"sektor_group": {1: 0.35, 2: 0.65}}, r"unknown variable 'sektor_group'.*did you mean 'sector_group'"),
        ({"sector_group": {1: 0.35, 2: 0.64}}, r"margin 'sector_group': shares sum to 0\.99; expected 1"),
        ({"sector_group": {1: 35, 2: 64}}, r"margin 'sector_group': shares sum to 99; expected 1"),
        ({"sector_group": {1: 1.2, 2: -0.2}}, r"share of category 2 is negative"),
        ({"sector_group": {1: float("nan"), 2: 0.65}}, r"not a finite number"),
        ({"sector_group": {1: "many", 2: 0.65}}, r"share of category 1 is 'many', not a number"),
        ({"sector_group": {}}, r"margin 'sector_group': empty"),
        (
            {"sector_group": {1: 1.0}},
            r"variable 'sector_group': category 2 \(\d+ respondent\(s\)\) is not in the margin",
        ),
        ({"size_group": {1: 0.4, 2: 0.2, 3: 0.3, 4: 0.1}}, r"margin category 4 \(share 0\.1\) has no respondents"),
        ({"sector_group": {1: 0, 2: 1}}, r"category 1 has share 0 but \d+ respondent"),
        (
            {"sector_group": {"Offentlig": 0.35, "Privat": 0.65}},
            r"keyed by strings .* key margins by the codebook's codes",
        ),
    ],
)
def test_bad_margins_are_refused_with_a_clear_message(margins, message):
    with pytest.raises(WeightingError, match=message):
        W.rake(sector_size_data(), margins)


def test_category_missing_from_the_margin_names_variable_category_and_count():
    df = sector_size_data()
    n3 = int((df["size_group"] == 3).sum())
    with pytest.raises(WeightingError) as e:
        W.rake(df, {"size_group": {1: 0.6, 2: 0.4}})
    assert f"variable 'size_group': category 3 ({n3} respondent(s)) is not in the margin" in str(e.value)


def test_every_problem_is_listed_at_once():
    with pytest.raises(WeightingError) as e:
        W.rake(sector_size_data(), {"sektor": {1: 1}, "size_group": {1: 0.5, 2: 0.6, 3: 0.1}, "sector_group": {1: 1.0}})
    msg = str(e.value)
    assert "unknown variable 'sektor'" in msg and "margin 'size_group': shares sum to 1.2" in msg
    assert "variable 'sector_group': category 2" in msg


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"missing": "drop"}, r"missing='drop': expected one of 'available', 'impute_mode', 'separate', 'error'"),
        ({"weight_cap": 1.0}, r"weight_cap=1\.0: expected a number > 1"),
        ({"weight_cap": "5"}, r"weight_cap='5'"),
        ({"max_iter": 0}, r"max_iter=0: expected an integer >= 1"),
        ({"tol": 0}, r"tol=0: expected a positive number"),
    ],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(WeightingError, match=message):
        W.rake(sector_size_data(), SECTOR_SIZE, **kwargs)


def test_empty_margins_or_data_are_refused():
    with pytest.raises(WeightingError, match="non-empty dict"):
        W.rake(sector_size_data(), {})
    with pytest.raises(WeightingError, match="no rows"):
        W.rake(sector_size_data().iloc[:0], SECTOR_SIZE)
    with pytest.raises(WeightingError, match="every respondent is missing it"):
        W.rake(pd.DataFrame({"s": pd.array([None, None], dtype="Int64")}), {"s": {1: 1.0}})


# ---------------------------------------------------------------------------
# Respondents missing a raking variable
# ---------------------------------------------------------------------------


def data_with_missing_sector() -> pd.DataFrame:
    df = sector_size_data()
    df.loc[df.index[:20], "sector_group"] = pd.NA
    return df


def test_missing_available_rakes_them_on_the_variables_they_have():
    df = data_with_missing_sector()
    r = W.rake(df, SECTOR_SIZE, tol=1e-10)
    assert r.missing == "available" and r.missing_counts == {"sector_group": 20, "size_group": 0}
    assert len(r.weights) == len(df) and (r.weights > 0).all() and r.weights.sum() == pytest.approx(len(df))
    # sector: distribution among those who have it; size: among everyone (missing sector included)
    assert achieved(df, r.weights, "sector_group") == pytest.approx({1: 0.35, 2: 0.65}, abs=1e-9)
    assert achieved(df, r.weights, "size_group") == pytest.approx({1: 0.48, 2: 0.20, 3: 0.32}, abs=1e-9)
    # respondents missing sector all carry the weight of their size group's missing-sector cell
    miss = df["sector_group"].isna()
    for _size, grp in r.weights[miss].groupby(df.loc[miss, "size_group"]):
        assert grp.nunique() == 1
    t = r.margins.set_index(["variable", "code"])
    assert t.loc[("sector_group", 1), "n"] + t.loc[("sector_group", 2), "n"] == len(df) - 20


def test_missing_available_with_one_margin_by_hand():
    # the 2 missing keep weight 1; the 8 observed share their total 8 as 50/50 between codes 1 (6) and 2 (2)
    df = pd.DataFrame({"s": pd.array([1] * 6 + [2] * 2 + [None] * 2, dtype="Int64")})
    r = W.rake(df, {"s": {1: 0.5, 2: 0.5}})
    assert r.weights.to_numpy() == pytest.approx([4 / 6] * 6 + [2.0] * 2 + [1.0] * 2)


def test_missing_separate_keeps_their_sample_share():
    df = data_with_missing_sector()
    r = W.rake(df, SECTOR_SIZE, missing="separate", tol=1e-10)
    t = r.margins.set_index(["variable", "code"])
    assert t.loc[("sector_group", "missing"), "target_pct"] == pytest.approx(100 * 20 / len(df))
    assert t.loc[("sector_group", 1), "target_pct"] == pytest.approx(35 * (1 - 20 / len(df)))
    assert r.weights[df["sector_group"].isna()].sum() / len(df) == pytest.approx(20 / len(df), abs=1e-9)
    shares = achieved(df, r.weights, "sector_group")  # among those who have a sector: the margin
    assert shares == pytest.approx({1: 0.35, 2: 0.65}, abs=1e-9)


def test_missing_impute_mode_treats_them_as_the_modal_category():
    df = data_with_missing_sector()
    r = W.rake(df, SECTOR_SIZE, missing="impute_mode", tol=1e-10)
    mode = int(df["sector_group"].mode()[0])
    imputed = df.assign(sector_group=df["sector_group"].fillna(mode))
    assert achieved(imputed, r.weights, "sector_group") == pytest.approx({1: 0.35, 2: 0.65}, abs=1e-9)
    assert any("20 missing imputed as the modal category 1" in note for note in r.notes)
    same = W.rake(imputed, SECTOR_SIZE, tol=1e-10)
    assert r.weights.to_numpy() == pytest.approx(same.weights.to_numpy(), rel=1e-9)


def test_missing_error_names_the_variable_and_count():
    with pytest.raises(WeightingError, match=r"variable 'sector_group': 20 respondent\(s\) missing it"):
        W.rake(data_with_missing_sector(), SECTOR_SIZE, missing="error")


# ---------------------------------------------------------------------------
# Trimming and convergence
# ---------------------------------------------------------------------------


def test_trimming_caps_weights_and_keeps_the_margins():
    df, m = two_margin_data()
    untrimmed = W.rake(df, m, weight_cap=None)
    assert untrimmed.weight_summary["max_to_mean"] > 5
    r = W.rake(df, m, weight_cap=4)
    assert r.converged and r.trim_rounds > 0 and r.n_trimmed == 2
    assert r.untrimmed_max_to_mean == pytest.approx(untrimmed.weight_summary["max_to_mean"])
    assert r.weights.max() / r.weights.mean() <= 4 * (1 + 1e-6)
    assert achieved(df, r.weights, "a") == pytest.approx({1: 0.6, 2: 0.4}, abs=1e-8)
    assert achieved(df, r.weights, "b") == pytest.approx({1: 0.6, 2: 0.4}, abs=1e-8)
    # by hand: cell (2,2) at the cap 4 -> 8; (2,1) and (1,2) carry 40 - 8 = 32 over 18; (1,1) 60 - 32 over 62
    w = r.weights.groupby([df["a"], df["b"]]).first()
    assert w.to_numpy() == pytest.approx([28 / 62, 32 / 18, 32 / 18, 4.0], rel=1e-6)
    # the default cap (5) binds here too
    assert W.rake(df, m).weights.max() <= 5 * (1 + 1e-6)


def test_an_infeasible_cap_is_reported_not_hidden():
    df = pd.DataFrame({"s": [1] * 95 + [2] * 5})
    with pytest.warns(WeightingWarning, match=r"category 2: 5 respondent\(s\) must carry an average weight of 6\.00"):
        r = W.rake(df, {"s": {1: 0.7, 2: 0.3}})
    # the last step is a raking sweep: the single margin holds, the cap does not (and says so)
    assert not r.converged and r.weight_summary["max_to_mean"] > 5 and r.trim_rounds == 100
    assert any("did not converge" in note for note in r.notes)
    assert (r.weights > 0).all() and r.weights.sum() == pytest.approx(100)


def test_non_convergence_is_reported():
    # structural zeros: every sector-1 respondent is in size 1, so 35 % vs 48 % cannot both hold
    df = pd.DataFrame({"sector_group": [1] * 50 + [2] * 50, "size_group": [1] * 50 + [2] * 25 + [3] * 25})
    with pytest.warns(WeightingWarning, match="did not converge"):
        r = W.rake(df, SECTOR_SIZE, max_iter=50)
    assert not r.converged and r.iterations == 50 and r.max_deviation > 0.05
    # too few sweeps for a feasible problem is also non-convergence
    with pytest.warns(WeightingWarning, match=r"after 1 sweeps"):
        r1 = W.rake(sector_size_data(), SECTOR_SIZE, max_iter=1)
    assert not r1.converged and r1.iterations == 1 and r1.max_deviation > 1e-8
    assert "IKKE" in r1.describe()


# ---------------------------------------------------------------------------
# Weighted estimates with linearization SEs
# ---------------------------------------------------------------------------


def test_weighted_mean_equals_hand_computation():
    y = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    w = np.array([1.0, 1.0, 2.0, 4.0, 9.0])
    est, se, lo, hi = W.weighted_mean(y, w)
    assert est == pytest.approx(25 / 8)
    # z_i = w_i (y_i - 25/8) / 8, and 0 for the missing row (a domain, as R's na.rm): V = N/(N-1) sum z_i^2, N = 5
    z = [1 * (1 - 25 / 8) / 8, 1 * (2 - 25 / 8) / 8, 2 * (3 - 25 / 8) / 8, 4 * (4 - 25 / 8) / 8, 0.0]
    assert se == pytest.approx(math.sqrt(5 / 4 * sum(v * v for v in z)))
    # a pre-filtered sample is a smaller design: N = 4
    assert W.weighted_mean(y[:4], w[:4]).se == pytest.approx(math.sqrt(4 / 3 * sum(v * v for v in z)))
    assert (lo, hi) == pytest.approx((est - 1.959963984540054 * se, est + 1.959963984540054 * se))


def test_weighted_share_equals_hand_computation():
    v = pd.Series([1, 2, 1, 3, None, 9], dtype="Int64")
    w = pd.Series([1.0, 2.0, 3.0, 2.0, 5.0, 1.0])
    est, se, _, _ = W.weighted_share(v, w, 1, base_codes=[1, 2, 3])  # 'Vet ikke' (9) left out
    assert est == pytest.approx(100 * 4 / 8)
    z = np.array([1 * (1 - 0.5), 2 * (0 - 0.5), 3 * (1 - 0.5), 2 * (0 - 0.5), 0, 0]) / 8  # N = 6 rows in the design
    assert se == pytest.approx(100 * math.sqrt(6 / 5 * np.sum(z**2)))
    assert W.weighted_share(v, w, [1, 2]).estimate == pytest.approx(100 * 6 / 9)


def test_equal_weights_give_the_textbook_standard_error():
    y = np.random.default_rng(1).normal(size=50)
    est, se, _, _ = W.weighted_mean(y, np.full(50, 3.0))
    assert est == pytest.approx(y.mean()) and se == pytest.approx(y.std(ddof=1) / math.sqrt(50))


def test_descrstatsw_treats_weights_as_frequencies_and_differs_from_the_design_based_se():
    from statsmodels.stats.weightstats import DescrStatsW

    rng = np.random.default_rng(3)
    y = rng.normal(size=200)
    w = rng.uniform(0.2, 5, 200)
    w = w * len(w) / w.sum()  # normalised to sum n, as rake returns them
    ours = W.weighted_mean(y, w)
    freq = DescrStatsW(y, weights=w)
    assert freq.mean == pytest.approx(ours.estimate)  # same point estimate ...
    assert abs(freq.std_mean / ours.se - 1) > 0.05  # ... but a different SE
    # the design-based SE does not depend on the scale of the weights; DescrStatsW's does
    assert W.weighted_mean(y, 10 * w).se == pytest.approx(ours.se)
    assert DescrStatsW(y, weights=10 * w).std_mean == pytest.approx(freq.std_mean / math.sqrt(10), rel=1e-2)


def test_bad_weights_are_refused():
    with pytest.raises(WeightingError, match="missing, negative or infinite"):
        W.weighted_mean([1.0, 2.0, 3.0], [1.0, np.nan, 1.0])
    with pytest.raises(WeightingError, match="missing, negative or infinite"):
        W.weighted_mean([1.0, 2.0, 3.0], [1.0, -1.0, 1.0])
    with pytest.raises(WeightingError, match="length 2 does not match the 3 values"):
        W.weighted_mean([1.0, 2.0, 3.0], [1.0, 1.0])
    with pytest.raises(WeightingError, match="expected numeric"):
        W.weighted_mean(["a", "b"], [1.0, 1.0])


# ---------------------------------------------------------------------------
# Design-based tests on hand-checkable cases
# ---------------------------------------------------------------------------


def test_rao_scott_with_equal_weights_is_pearson_times_n_minus_1_over_n():
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"r": rng.choice([1, 2, 3], 120), "c": rng.choice([1, 2], 120)})
    from src.analysis.stats import chi_square

    pearson = chi_square(df, "r", "c")
    r = W.rao_scott_chi2(df, "r", "c", np.full(120, 2.0))
    # with equal weights Delta = n/(n-1) I: F = X² (n-1) / (n df), df1 = df exactly
    assert r.statistic == pytest.approx(pearson.statistic * 119 / (120 * 2))
    assert r.df[0] == pytest.approx(2) and r.df[1] == pytest.approx(2 * 119)
    assert r.detail["pearson_chi2"] == pytest.approx(pearson.statistic)
    assert r.effect == pytest.approx(pearson.effect) and r.n == 120 and r.test == "rao_scott_f"


def test_mean_difference_with_equal_weights_is_hc0_times_n_over_n_minus_1():
    import statsmodels.api as sm

    rng = np.random.default_rng(6)
    g = pd.Series(rng.choice([1, 2, 3], 90))
    y = pd.Series(rng.normal(size=90) + (g == 1))
    sub = g.isin([1, 2])
    n = int(sub.sum())
    r = W.weighted_mean_difference(y[sub], g[sub], np.ones(n), 1, 2)
    ols = sm.OLS(y[sub].to_numpy(), sm.add_constant((g[sub] == 1).to_numpy(float))).fit(cov_type="HC0")
    assert r.effect == pytest.approx(y[g == 1].mean() - y[g == 2].mean())
    assert r.detail["se"] == pytest.approx(ols.bse[1] * math.sqrt(n / (n - 1)))
    assert r.df == n - 2 and r.detail["mean_a"] == pytest.approx(y[g == 1].mean())
    # given the whole sample, group 3 is a domain outside the comparison: N = 90 in the variance, df still n - 2
    whole = W.weighted_mean_difference(y, g, np.ones(90), 1, 2)
    assert whole.effect == pytest.approx(r.effect) and whole.df == n - 2
    assert whole.detail["se"] == pytest.approx(ols.bse[1] * math.sqrt(90 / 89))


def test_anova_of_two_groups_is_the_squared_t():
    rng = np.random.default_rng(8)
    g = rng.choice([1, 2], 80)
    y = rng.normal(size=80) + 0.5 * g
    w = rng.uniform(0.5, 2, 80)
    t = W.weighted_mean_difference(y, g, w, 2, 1)
    f = W.weighted_anova(y, g, w)
    assert f.statistic == pytest.approx(t.statistic**2) and f.p == pytest.approx(t.p)
    assert f.df == (1, 78)


# ---------------------------------------------------------------------------
# Jackknife replicate weights
# ---------------------------------------------------------------------------


def test_jackknife_replicates_are_re_raked_to_the_margins():
    df = data_with_missing_sector()
    reps = W.jackknife_replicates(df, SECTOR_SIZE, groups=10, seed=1, tol=1e-10)
    assert reps.replicates.shape == (len(df), 10) and reps.scale == pytest.approx(0.9)
    assert reps.group.value_counts().between(len(df) // 10, len(df) // 10 + 1).all()
    for r, col in enumerate(reps.replicates.columns):
        w = reps.replicates[col]
        out = (reps.group == r).to_numpy()
        assert (w[out] == 0).all() and (w[~out] > 0).all() and w.sum() == pytest.approx(len(df))
        kept = df[~out]
        assert achieved(kept, w[~out], "sector_group") == pytest.approx({1: 0.35, 2: 0.65}, abs=1e-9)
        assert achieved(kept, w[~out], "size_group") == pytest.approx({1: 0.48, 2: 0.20, 3: 0.32}, abs=1e-9)
    assert all(reps.converged)
    again = W.jackknife_replicates(df, SECTOR_SIZE, groups=10, seed=1, tol=1e-10)
    assert again.replicates.equals(reps.replicates)  # seeded: reproducible


def test_replicate_se_formula():
    df = sector_size_data()
    y = np.random.default_rng(2).normal(size=len(df)) + df["sector_group"].to_numpy(float)
    reps = W.jackknife_replicates(df, SECTOR_SIZE, groups=20, seed=3)
    est, se = W.replicate_se(lambda w: np.average(y, weights=w), reps)
    thetas = np.array([np.average(y, weights=reps.replicates[c]) for c in reps.replicates])
    assert est == pytest.approx(np.average(y, weights=reps.weights))
    assert se == pytest.approx(math.sqrt(19 / 20 * np.sum((thetas - thetas.mean()) ** 2)))
    _, se_mse = W.replicate_se(lambda w: np.average(y, weights=w), reps, mse=True)
    assert se_mse >= se


def test_jackknife_that_empties_a_category_says_which_replicate():
    df = pd.DataFrame({"s": [1] * 40 + [2]})
    with pytest.raises(WeightingError, match=r"jackknife replicate \d+ .* cannot be raked"):
        W.jackknife_replicates(df, {"s": {1: 0.5, 2: 0.5}}, groups=5, weight_cap=None)


# ---------------------------------------------------------------------------
# Population margins from data/reference/population_margins.yml
# ---------------------------------------------------------------------------


def test_population_margins_are_keyed_by_codebook_codes(codebook):
    m = W.population_margins()
    assert set(m) == {"industry_11", "sector_group", "size_group"}
    for var, shares in m.items():
        assert list(shares) == list(codebook.value_labels(var)), var
        assert sum(shares.values()) == pytest.approx(1, abs=1e-12)
    assert m["sector_group"] == {1: 0.35, 2: 0.65}
    assert m["size_group"][1] == pytest.approx(48 / 99)  # printed 48 + 19 + 32 = 99, normalised
    listed = 612300 + 366100 + 224000 + 262700 + 236200 + 207000 + 164900 + 117000 + 62100 + 51900
    assert m["industry_11"][11] == pytest.approx((W.TOTAL_EMPLOYED_2023 - listed) / W.TOTAL_EMPLOYED_2023)
    assert m["industry_11"][1] == pytest.approx(612300 / 2_900_000)
    assert W.population_margins(total_employed=3_000_000)["industry_11"][1] == pytest.approx(612300 / 3_000_000)


def test_population_margins_grouped_industry(codebook):
    m11 = W.population_margins()["industry_11"]
    mg = W.population_margins(industry="industry_group")
    assert "industry_11" not in mg and list(mg["industry_group"]) == list(codebook.value_labels("industry_group"))
    assert mg["industry_group"][8] == pytest.approx(m11[2] + m11[8] + m11[10] + m11[11])
    with pytest.raises(WeightingError, match="industry='size_group'"):
        W.population_margins(industry="size_group")


@pytest.mark.parametrize(
    "yml, message",
    [
        (
            "s:\n  variable: sector_group\n  unit: percent\n  values: {Offentleg: 35, Privat: 65}\n",
            r"label\(s\) \['Offentleg'\] are not value labels of 'sector_group'",
        ),
        (
            "s:\n  variable: sector_group\n  unit: percent\n  values: {Offentlig: 35}\n",
            r"categories \['Privat'\] of 'sector_group' have no value",
        ),
        (
            "s:\n  variable: sector_group\n  unit: percent\n  values: {Offentlig: 30, Privat: 65}\n",
            r"percentages sum to 95, more than rounding",
        ),
        (
            "s:\n  variable: sector_group\n  unit: percent\n  values: {Offentlig: null, Privat: 65}\n",
            r"null value\(s\) for \['Offentlig'\]",
        ),
        ("s:\n  variable: sektor\n  unit: percent\n  values: {a: 1}\n", r"variable 'sektor' is not in the codebook"),
    ],
)
def test_population_margins_refuse_a_bad_file(tmp_path, yml, message):
    p = tmp_path / "margins.yml"
    p.write_text(yml, encoding="utf-8")
    with pytest.raises(WeightingError, match=message):
        W.population_margins(p)


def test_raking_the_synthetic_sample_to_the_population(sample):
    """industry_11 cannot meet the cap (Varehandel: 33 respondents for 12.6 %); industry_group can."""
    grouped = W.rake(sample, W.population_margins(industry="industry_group"))
    assert grouped.converged and grouped.weights.max() <= 5 * (1 + 1e-6)
    assert grouped.missing_counts["sector_group"] > 0  # 'Annet' sector: raked on size and industry
    with pytest.warns(WeightingWarning, match=r"'industry_11' category 2: \d+ respondent\(s\) must carry"):
        full = W.rake(sample, W.population_margins())
    assert not full.converged


# ---------------------------------------------------------------------------
# Agreement with R's survey package
# ---------------------------------------------------------------------------

R_INSTALL = "apt-get install -y r-base-core r-cran-survey"


def _ci_is_set() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_r_survey() -> str:
    """Path of Rscript with the survey package; skip without it, but fail when CI is set."""
    rscript = shutil.which("Rscript")
    problem = None
    if rscript is None:
        problem = "Rscript is not on PATH"
    else:
        check = 'quit(status = if (requireNamespace("survey", quietly = TRUE)) 0 else 1)'
        probe = subprocess.run([rscript, "-e", check], capture_output=True, text=True, timeout=120)
        if probe.returncode != 0:
            problem = f"R's survey package is not installed ({rscript})"
    if problem:
        msg = f"{problem}; the comparison with R's survey package needs `{R_INSTALL}`"
        if _ci_is_set():
            pytest.fail(msg + " (CI is set, so this may not be skipped)", pytrace=False)
        pytest.skip(msg)
    return rscript


def test_r_gate_skips_locally_and_fails_in_ci(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Rscript is not on PATH"):
        require_r_survey()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_r_survey()


R_MARGINS = {
    "sector": {1: 0.35, 2: 0.65},
    "size": {1: 0.48, 2: 0.20, 3: 0.32},
    "ind": {1: 0.30, 2: 0.30, 3: 0.25, 4: 0.15},
}
JK_GROUPS = 20

R_SCRIPT = textwrap.dedent(r"""
    suppressPackageStartupMessages(library(survey))
    args <- commandArgs(trailingOnly = TRUE)
    df <- read.csv(args[1])
    reps <- as.matrix(read.csv(args[2]))
    jkgroup <- read.csv(args[3])$jk_group
    out <- function(key, x) cat(sprintf("%s %.17g\n", key, as.numeric(x)), sep = "")
    n <- nrow(df)

    d <- svydesign(ids = ~1, weights = ~w, data = df)
    m <- svymean(~y, d, na.rm = TRUE)
    out("mean", coef(m)); out("mean_se", SE(m))
    ds <- subset(d, !is.na(cat))
    s <- svymean(~I(as.numeric(cat %in% c(1, 2))), ds)
    out("share", 100 * coef(s)); out("share_se", 100 * SE(s))

    chi <- svychisq(~ind + ans, d)
    out("chisq_F", chi$statistic); out("chisq_ndf", chi$parameter[1]); out("chisq_ddf", chi$parameter[2])
    out("chisq_p", chi$p.value)
    chi1 <- svychisq(~ind + ans, d, statistic = "Chisq")
    out("chisq1_stat", chi1$statistic); out("chisq1_p", chi1$p.value)
    chim <- svychisq(~cat + ans, subset(d, !is.na(cat)))
    out("chisqm_F", chim$statistic); out("chisqm_ndf", chim$parameter[1]); out("chisqm_ddf", chim$parameter[2])
    out("chisqm_p", chim$p.value)

    dab <- subset(d, g %in% c(1, 3) & !is.na(y))
    fit <- svyglm(y ~ I(as.numeric(g == 1)), design = dab)
    cf <- summary(fit)$coefficients
    out("glm_coef", cf[2, 1]); out("glm_se", cf[2, 2]); out("glm_t", cf[2, 3]); out("glm_p", cf[2, 4])
    out("glm_intercept_se", cf[1, 2])

    fit3 <- svyglm(y ~ factor(g), design = subset(d, !is.na(y)))
    rt <- regTermTest(fit3, ~factor(g))
    out("anova_F", rt$Ftest); out("anova_df", rt$df); out("anova_ddf", rt$ddf); out("anova_p", rt$p)

    pop <- list(data.frame(sector = c(1, 2), Freq = n * c(0.35, 0.65)),
                data.frame(size = c(1, 2, 3), Freq = n * c(0.48, 0.20, 0.32)),
                data.frame(ind = c(1, 2, 3, 4), Freq = n * c(0.30, 0.30, 0.25, 0.15)))
    ctl <- list(maxit = 2000, epsilon = 1e-12, verbose = FALSE)
    d1 <- svydesign(ids = ~1, weights = ~one, data = df)
    raked <- rake(d1, list(~sector, ~size, ~ind), pop, control = ctl)
    out("rake_w", weights(raked))

    drep <- svrepdesign(data = df, repweights = reps, weights = ~w, type = "JK1", combined.weights = TRUE)
    mr <- svymean(~y, drep, na.rm = TRUE)
    out("jk_mean", coef(mr)); out("jk_mean_se", SE(mr))

    G <- length(unique(jkgroup))
    rep0 <- sapply(0:(G - 1), function(r) ifelse(jkgroup == r, 0, G / (G - 1)))
    d0rep <- svrepdesign(data = df, repweights = rep0, weights = ~one, type = "JK1", combined.weights = TRUE)
    rraked <- rake(d0rep, list(~sector, ~size, ~ind), pop, control = ctl)
    out("rrep_w", weights(rraked, type = "analysis"))
""")


def r_comparison_data(seed: int = 20241008, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sector = rng.choice([1, 2], n, p=[0.7, 0.3])
    size = np.where(
        sector == 1, rng.choice([1, 2, 3], n, p=[0.2, 0.3, 0.5]), rng.choice([1, 2, 3], n, p=[0.5, 0.25, 0.25])
    )
    ind = rng.choice([1, 2, 3, 4], n, p=[0.45, 0.2, 0.2, 0.15])
    y = 3 + 0.4 * (sector == 2) - 0.3 * (size == 3) + 0.2 * ind + rng.normal(0, 1, n)
    y[rng.random(n) < 0.05] = np.nan
    ans = np.array([rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2] if i <= 2 else [0.3, 0.3, 0.4]) for i in ind])
    cat = rng.choice([1, 2, 3], n, p=[0.3, 0.3, 0.4]).astype(float)
    cat[rng.random(n) < 0.08] = np.nan
    return pd.DataFrame(
        {"sector": sector, "size": size, "ind": ind, "ans": ans, "cat": cat, "g": size, "y": y, "one": 1.0}
    )


@pytest.fixture(scope="module")
def r_results(tmp_path_factory):
    rscript = require_r_survey()
    tmp = tmp_path_factory.mktemp("r_survey")
    df = r_comparison_data()
    raked = W.rake(df, R_MARGINS, weight_cap=None, tol=1e-14, max_iter=5000)
    assert raked.converged
    df["w"] = raked.weights.to_numpy()
    reps = W.jackknife_replicates(
        df.drop(columns="w"), R_MARGINS, groups=JK_GROUPS, seed=11, weight_cap=None, tol=1e-14, max_iter=5000
    )
    df.to_csv(tmp / "data.csv", index=False, na_rep="NA")
    reps.replicates.to_csv(tmp / "reps.csv", index=False)
    reps.group.to_frame().to_csv(tmp / "groups.csv", index=False)
    (tmp / "compare.R").write_text(R_SCRIPT, encoding="utf-8")
    run = subprocess.run(
        [
            rscript,
            "--vanilla",
            str(tmp / "compare.R"),
            str(tmp / "data.csv"),
            str(tmp / "reps.csv"),
            str(tmp / "groups.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, f"Rscript failed:\n{run.stderr}"
    r: dict[str, list[float]] = {}
    for line in run.stdout.splitlines():
        key, value = line.split()
        r.setdefault(key, []).append(float(value))
    return {"df": df, "raked": raked, "reps": reps, "r": {k: np.array(v) for k, v in r.items()}}


def close(ours, theirs, rel=1e-6):
    """At least six significant digits: relative difference <= 1e-6 (elementwise)."""
    ours, theirs = np.atleast_1d(np.asarray(ours, dtype=float)), np.atleast_1d(np.asarray(theirs, dtype=float))
    assert ours.shape == theirs.shape
    rel_diff = np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-300)
    assert rel_diff.max() <= rel, f"max relative difference {rel_diff.max():.3g} (ours {ours}, R {theirs})"


def test_r_weighted_mean_and_se(r_results):
    df, r = r_results["df"], r_results["r"]
    est, se, _, _ = W.weighted_mean(df["y"], df["w"])
    close(est, r["mean"]), close(se, r["mean_se"])


def test_r_weighted_share_and_se(r_results):
    df, r = r_results["df"], r_results["r"]
    est, se, _, _ = W.weighted_share(df["cat"], df["w"], [1, 2])
    close(est, r["share"]), close(se, r["share_se"])


def test_r_svychisq_rao_scott_f(r_results):
    df, r = r_results["df"], r_results["r"]
    res = W.rao_scott_chi2(df, "ind", "ans", "w")
    close(res.statistic, r["chisq_F"]), close(res.df[0], r["chisq_ndf"]), close(res.df[1], r["chisq_ddf"])
    close(res.p, r["chisq_p"])
    close(res.detail["pearson_chi2"], r["chisq1_stat"]), close(res.detail["chisq_first_order_p"], r["chisq1_p"])
    # with missing answers (a domain): svychisq(~cat + ans, subset(design, !is.na(cat)))
    m = W.rao_scott_chi2(df, "cat", "ans", "w")
    close(m.statistic, r["chisqm_F"]), close(m.df[0], r["chisqm_ndf"]), close(m.df[1], r["chisqm_ddf"])
    close(m.p, r["chisqm_p"])


def test_r_svyglm_coefficient_and_se(r_results):
    df, r = r_results["df"], r_results["r"]
    res = W.weighted_mean_difference(df["y"], df["g"], df["w"], 1, 3)
    close(res.effect, r["glm_coef"]), close(res.detail["se"], r["glm_se"])
    close(res.statistic, r["glm_t"]), close(res.p, r["glm_p"]), close(res.detail["intercept_se"], r["glm_intercept_se"])


def test_r_regtermtest_wald_f(r_results):
    df, r = r_results["df"], r_results["r"]
    res = W.weighted_anova(df["y"], df["g"], df["w"])
    close(res.statistic, r["anova_F"]), close(res.df, np.r_[r["anova_df"], r["anova_ddf"]]), close(res.p, r["anova_p"])


def test_r_rake_gives_the_same_weights(r_results):
    close(r_results["raked"].weights.to_numpy(), r_results["r"]["rake_w"])


def test_r_jackknife_se_and_re_raked_replicates(r_results):
    df, reps, r = r_results["df"], r_results["reps"], r_results["r"]
    ok = df["y"].notna().to_numpy()
    y = df["y"].to_numpy()
    est, se = W.replicate_se(lambda w: np.average(y[ok], weights=w[ok]), reps)
    close(est, r["jk_mean"]), close(se, r["jk_mean_se"])
    # R re-rakes its own JK1 delete-a-group replicates (same groups) to the same margins
    r_reps = r["rrep_w"].reshape(JK_GROUPS, len(df)).T
    close(reps.replicates.to_numpy()[r_reps > 0], r_reps[r_reps > 0])
    assert ((reps.replicates.to_numpy() == 0) == (r_reps == 0)).all()


# ---------------------------------------------------------------------------
# Weighted subgroup tests are domain estimates on the full design (measures.run_test)
# ---------------------------------------------------------------------------

R_DOMAIN_SCRIPT = textwrap.dedent(r"""
    suppressPackageStartupMessages(library(survey))
    df <- read.csv(commandArgs(trailingOnly = TRUE)[1])
    out <- function(key, x) cat(sprintf("%s %.17g\n", key, as.numeric(x)), sep = "")
    d <- svydesign(ids = ~1, weights = ~weight, data = df)
    dom <- subset(d, sector_group == 1 & !is.na(seniority) & !is.na(size_group))
    chi <- svychisq(~seniority + size_group, dom)
    out("F", chi$statistic); out("ndf", chi$parameter[1]); out("ddf", chi$parameter[2]); out("p", chi$p.value)
    dt <- subset(d, sector_group == 1 & role_group %in% c(1, 2) & !is.na(seniority))
    cf <- summary(svyglm(seniority ~ I(as.numeric(role_group == 1)), design = dt))$coefficients
    out("coef", cf[2, 1]); out("se", cf[2, 2]); out("tp", cf[2, 4])
""")


def domain_data(seed: int = 16, n: int = 400) -> pd.DataFrame:
    """Much item non-response: 40 % skip seniority, 25 % size; the subgroup is sector 1 (about 60 %)."""
    rng = np.random.default_rng(seed)
    sector = rng.choice([1, 2], n, p=[0.6, 0.4])
    size = rng.choice([1, 2, 3], n, p=[0.4, 0.3, 0.3]).astype(float)
    role = rng.choice([1, 2], n, p=[0.7, 0.3])
    seniority = np.clip(np.round(1.5 + 0.6 * size + 0.5 * (role == 2) + rng.normal(0, 1, n)), 1, 4)
    seniority[rng.random(n) < 0.40] = np.nan
    size[rng.random(n) < 0.25] = np.nan
    weight = np.exp(rng.normal(0, 0.5, n)) * np.where(sector == 1, 1.4, 0.8)
    return pd.DataFrame(
        {
            "sector_group": pd.array(sector, dtype="Int64"),
            "size_group": pd.array(size, dtype="Int64"),
            "role_group": pd.array(role, dtype="Int64"),
            "seniority": pd.array(seniority, dtype="Int64"),
            "weight": weight,
        }
    )


def test_r_weighted_subgroup_tests_are_domain_estimates(tmp_path, codebook):
    """svychisq / svyglm on subset(design, …) — the domain — not a design rebuilt on the subgroup's rows."""
    from src.analysis import measures as ms

    rscript = require_r_survey()
    df = domain_data()
    df.to_csv(tmp_path / "d.csv", index=False, na_rep="NA")
    (tmp_path / "domain.R").write_text(R_DOMAIN_SCRIPT, encoding="utf-8")
    run = subprocess.run(
        [rscript, "--vanilla", str(tmp_path / "domain.R"), str(tmp_path / "d.csv")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, f"Rscript failed:\n{run.stderr}"
    r = {k: float(v) for k, v in (line.split() for line in run.stdout.splitlines())}

    where = "sector_group == 1"
    chi_spec = {"test": "chi2", "var": "seniority", "by": "size_group", "where": where}
    chi = ms.run_test(chi_spec, df, codebook, weighted=True)
    close(chi.statistic, r["F"]), close(chi.df[0], r["ndf"]), close(chi.df[1], r["ddf"]), close(chi.p, r["p"])
    t_spec = {"test": "ttest", "var": "seniority", "by": "role_group", "groups": [1, 2], "where": where}
    t = ms.run_test(t_spec, df, codebook, weighted=True)
    close(t.effect, r["coef"]), close(t.detail["se"], r["se"]), close(t.p, r["tp"])
    # the design rebuilt on the subgroup's answering rows (the old way) differs clearly here
    sub = df[(df["sector_group"] == 1) & df["seniority"].notna() & df["size_group"].notna()]
    rebuilt = W.rao_scott_chi2(sub, "seniority", "size_group", "weight")
    assert abs(rebuilt.statistic - r["F"]) / r["F"] > 1e-3
    # and evaluate() of a weighted verdict gives the same domain test
    assert ms.evaluate({"stat": "test", **chi_spec}, df, codebook, weighted=True) == chi.significant
