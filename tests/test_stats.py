"""The report's tests on small data with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.analysis import stats


def test_chi_square_and_cramers_v_by_hand():
    df = pd.DataFrame({"a": [1] * 10 + [1] * 20 + [2] * 20 + [2] * 10, "b": [1] * 10 + [2] * 20 + [1] * 20 + [2] * 10})
    r = stats.chi_square(df, "a", "b")
    assert r.statistic == pytest.approx(4 * 25 / 15)  # expected 15 in every cell
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


# ---------------------------------------------------------------------------
# Tukey HSD: each pair oriented as labelled, the p unrounded
# ---------------------------------------------------------------------------


def _three_groups(seed: int = 7):
    """Unequal groups with known order of means: group 2 (about 4.3) > 3 (3.9) > 1 (3.5)."""
    rng = np.random.default_rng(seed)
    sizes, centres = {1: 60, 2: 45, 3: 80}, {1: 3.5, 2: 4.3, 3: 3.9}
    groups = np.concatenate([[g] * n for g, n in sizes.items()])
    values = np.concatenate([rng.normal(centres[g], 0.8, n) for g, n in sizes.items()])
    return pd.Series(values), pd.Series(groups)


class _Cb:
    """The two things measures.test asks of a codebook for a numeric index (none of its value labels)."""

    variables: dict = {}
    indices = {"y": None}

    def value_labels(self, name):
        return {}


def test_tukey_difference_is_mean_i_minus_mean_j_with_its_ci_and_unrounded_p():
    from scipy.stats import tukey_hsd

    values, groups = _three_groups()
    _, tukey = stats.anova(values, groups)
    samples = [values[groups == g].to_numpy() for g in (1, 2, 3)]
    ref = tukey_hsd(*samples)
    ci = ref.confidence_interval(0.95)
    for _, r in tukey.iterrows():
        i, j = int(r["a"]) - 1, int(r["b"]) - 1
        assert r["diff"] == pytest.approx(samples[i].mean() - samples[j].mean(), abs=1e-12)
        assert r["diff"] == pytest.approx(r["mean_a"] - r["mean_b"], abs=1e-12)
        assert (r["lower"], r["upper"]) == (pytest.approx(ci.low[i, j]), pytest.approx(ci.high[i, j]))
        assert r["p"] == pytest.approx(ref.pvalue[i, j], rel=1e-12)
        assert r["significant"] == (r["p"] < 0.05)
    p12 = tukey.set_index(["a", "b"]).loc[("1", "2"), "p"]
    assert 0 < p12 < 1e-4  # summary() printed this as 0.0: the stored p is the unrounded one
    assert p12 != round(p12, 4)


@pytest.mark.parametrize("pair", [(2, 1), (1, 2), (3, 2), (1, 3)])
def test_tukey_verdict_is_oriented_to_the_pair_as_labelled(pair):
    from src.analysis import measures as ms

    values, groups = _three_groups()
    frame = pd.DataFrame({"y": values, "g": groups})
    a, b = pair
    r = ms.test({"test": "tukey", "var": "y", "by": "g", "groups": [a, b]}, frame, _Cb())
    mean = frame.groupby("g")["y"].mean()
    assert r.statistic == pytest.approx(mean[a] - mean[b], abs=1e-12)
    assert np.sign(r.statistic) == np.sign(mean[a] - mean[b])
    lo, hi = r.detail["ci"]
    assert lo < r.statistic < hi
    assert r.detail["mean_a"] == pytest.approx(mean[a]) and r.detail["mean_b"] == pytest.approx(mean[b])
    assert r.p > 0
    text = r.describe()
    assert text.startswith("Tukey HSD, forskjell i gjennomsnitt ") and "95 % KI" in text
    if r.statistic < 0:
        assert "\u2212" in text and "-" not in text
    shown = r.describe(variant=True)  # as the verdict tables show it: the variant once, then the pair's numbers
    assert (
        shown.startswith("Tukeys HSD (Tukey-Kramer): forskjell i gjennomsnitt (I − J) ") and shown.count("Tukey") == 2
    )


def test_tukey_pair_missing_is_none():
    values, groups = _three_groups()
    _, tukey = stats.anova(values, groups)
    assert stats.tukey_pair(tukey, 1, 4) is None


def test_tukey_against_r_tukeyhsd(tmp_path):
    """R's TukeyHSD(aov(y ~ g)): 'J-I' rows are mean(J) − mean(I); ours is the same pair from the other side."""
    import shutil
    import subprocess

    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript is not on PATH")
    values, groups = _three_groups()
    pd.DataFrame({"y": values, "g": groups}).to_csv(tmp_path / "d.csv", index=False)
    script = (
        "d <- read.csv(commandArgs(TRUE)[1]); d$g <- factor(d$g); "
        "t <- TukeyHSD(aov(y ~ g, d))$g; "
        'for (r in rownames(t)) cat(r, sprintf("%.17g", t[r, ]), "\\n")'
    )
    run = subprocess.run(
        [rscript, "--vanilla", "-e", script, str(tmp_path / "d.csv")], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    _, tukey = stats.anova(values, groups)
    for line in run.stdout.splitlines():
        name, diff, lwr, upr, padj = line.split()
        j, i = name.split("-")
        r = stats.tukey_pair(tukey, j, i)  # R's «j-i» is mean(j) − mean(i)
        assert r["diff"] == pytest.approx(float(diff), rel=1e-10)
        assert (r["lower"], r["upper"]) == (pytest.approx(float(lwr), rel=1e-6), pytest.approx(float(upr), rel=1e-6))
        assert r["p"] == pytest.approx(float(padj), rel=1e-6, abs=1e-12)


def test_variant_named_once_before_the_statistic():
    r = stats.TestResult(
        "chi2", 85.234, 3, 0.0000001, 0.191, "Cramérs V", 2000, detail={"dont_know_category": ["Vet ikke"]}
    )
    assert r.describe(variant=True) == (
        "Pearsons kjikvadrat (uten kontinuitetskorreksjon), «Vet ikke» med som "
        "kategori: χ²(3) = 85,23, p < ,001, Cramérs V = 0,19"
    )
    w = stats.TestResult("welch_t", -2.5, 40.3, 0.0166, -0.4, "Cohens d", 50)
    assert (
        w.describe(variant=True)
        == "Welchs t-test (ulike varianser): t(40,3) = \u22122,50, p = ,017, Cohens d = \u22120,40"
    )
    rs = stats.TestResult("rao_scott_f", 3.2, (1.0, 2246.0), 0.07, 0.05, "Cramérs V (vektet)", 2247)
    assert rs.describe(variant=True).count("Rao-Scott") == 1


@pytest.mark.parametrize("k, df", [(3, 1900), (3, 50), (5, 200), (8, 1200)])
def test_studentized_range_tail_agrees_with_scipy_where_scipy_is_accurate(k, df):
    from scipy.stats import studentized_range

    for q in (2.0, 4.0, 6.0):
        assert stats.studentized_range_sf(q, k, df) == pytest.approx(studentized_range.sf(q, k, df), rel=1e-8)


@pytest.mark.parametrize("df", [30, 400, 1900])
def test_studentized_range_of_two_means_is_the_t_test_far_in_the_tail(df):
    """k = 2: Q = |t| √2 exactly, so P(Q > q) = 2 P(T > q / √2), which scipy's t gives to full precision."""
    from scipy.stats import t

    for q in (8.0, 12.0, 16.0, 20.0):
        exact = 2 * t.sf(q / np.sqrt(2), df)
        assert stats.studentized_range_sf(q, 2, df) == pytest.approx(exact, rel=1e-6)


def test_tukey_p_far_in_the_tail_is_not_zero():
    rng = np.random.default_rng(3)
    values = pd.Series(np.concatenate([rng.normal(m, 1, 600) for m in (0.0, 0.1, 0.9)]))
    groups = pd.Series(np.repeat([1, 2, 3], 600))
    _, tukey = stats.anova(values, groups)
    p = tukey.set_index(["a", "b"]).loc[("1", "3"), "p"]
    assert 0 < p < 1e-30


def test_tukey_table_computed_once_per_variable_grouping_and_filter(monkeypatch):
    from src.analysis import measures as ms

    values, groups = _three_groups(seed=11)
    frame = pd.DataFrame({"y": values, "g": groups})
    calls = []
    real = stats.anova
    monkeypatch.setattr(ms.st, "anova", lambda *a, **k: calls.append(1) or real(*a, **k))
    ms._ANOVAS.clear()
    pairs = [(1, 2), (1, 3), (2, 3)]
    first = [ms.test({"test": "tukey", "var": "y", "by": "g", "groups": list(p)}, frame, _Cb()) for p in pairs]
    ms.test({"test": "anova", "var": "y", "by": "g"}, frame, _Cb())
    assert len(calls) == 1
    ms.test({"test": "tukey", "var": "y", "by": "g", "groups": [1, 2]}, frame[frame["g"] != 3], _Cb())  # a filter
    assert len(calls) == 2
    again = ms.test({"test": "tukey", "var": "y", "by": "g", "groups": [1, 3]}, frame, _Cb())
    assert again.p == first[1].p and again.statistic == first[1].statistic


def test_anova_verdict_alone_computes_no_tukey_and_the_same_numbers(monkeypatch):
    from scipy import stats as sps

    from src.analysis import measures as ms

    values, groups = _three_groups(seed=12)
    frame = pd.DataFrame({"y": values, "g": groups})
    full, table = stats.anova(values, groups)
    calls = []
    real = sps.tukey_hsd
    monkeypatch.setattr(stats.sps, "tukey_hsd", lambda *a, **k: calls.append(1) or real(*a, **k))
    ms._ANOVAS.clear()
    alone = ms.test({"test": "anova", "var": "y", "by": "g"}, frame, _Cb())
    assert calls == []  # no post hoc test where none is shown
    assert (alone.statistic, alone.df, alone.p, alone.effect) == (full.statistic, full.df, full.p, full.effect)
    pairs = [
        ms.test({"test": "tukey", "var": "y", "by": "g", "groups": list(p)}, frame, _Cb())
        for p in [(1, 2), (1, 3), (2, 3)]
    ]
    assert len(calls) == 1  # once for the three pairs
    assert [r.p for r in pairs] == list(table["p"])  # the unrounded p of stats.anova, unchanged
    assert ms.test({"test": "anova", "var": "y", "by": "g"}, frame, _Cb()).p == full.p
    assert len(calls) == 1
