"""The multivariable models: known coefficients recovered, references and labels, listwise n, weights, prose."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.analysis import multivariable as mv

# A small model on real codebook recodes: course_mode (1 Fysisk, 2 Digitalt),
# dialog_based (1 Dialogbaserte, 2 uten), duration_group (1 Korte, 2 Middels, 3 40 timer).
PRED = {"course_mode": 1, "dialog_based": 1, "duration_group": 1}
TRUE = {"course_mode=2": -0.40, "dialog_based=2": 0.0, "duration_group=2": 0.0, "duration_group=3": 0.30}


def simulated(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(
        {
            "course_mode": rng.choice([1, 2], n, p=[0.7, 0.3]),
            "dialog_based": rng.choice([1, 2], n, p=[0.6, 0.4]),
            "duration_group": rng.choice([1, 2, 3], n, p=[0.3, 0.3, 0.4]),
        }
    )
    lin = sum(b * (d[c.split("=")[0]] == int(c.split("=")[1])) for c, b in TRUE.items())
    # heteroscedastic errors: HC3 is what keeps the inference honest here
    d["usefulness_index"] = 3.5 + lin + rng.normal(0, 0.5 + 0.3 * (d["course_mode"] == 2), n)
    # ordinal: a latent logistic variable cut at fixed thresholds (proportional odds)
    latent = lin * 3 + rng.logistic(size=n)  # log-odds coefficients 3 x TRUE
    d["satisfaction_overall"] = np.digitize(latent, [-2.0, -1.0, 0.0, 1.5]) + 1
    return d


@pytest.fixture(scope="module")
def data():
    return simulated(6000)


def test_ols_recovers_known_coefficients(data, codebook):
    frame = mv.model_frame(data, "usefulness_index", PRED, codebook)
    m = mv.fit_ols(frame)
    for col, b in TRUE.items():
        assert m.coef[col] == pytest.approx(b, abs=0.05), col
        assert m.ci_low[col] < b < m.ci_high[col], col
    assert m.p["course_mode=2"] < 1e-10 and m.p["duration_group=3"] < 1e-10
    assert "HC3" in m.method


def test_ols_uses_hc3_standard_errors(data, codebook):
    import statsmodels.api as sm

    frame = mv.model_frame(data, "usefulness_index", PRED, codebook)
    m = mv.fit_ols(frame)
    X = np.column_stack([np.ones(frame.n), frame.X.to_numpy(float)])
    ref = sm.OLS(frame.y.to_numpy(), X).fit()
    np.testing.assert_allclose(m.se.to_numpy(), ref.HC3_se[1:], rtol=1e-10)
    assert not np.allclose(m.se.to_numpy(), ref.bse[1:], rtol=1e-3)  # not the classical SEs


def test_ordinal_recovers_known_log_odds(data, codebook):
    frame = mv.model_frame(data, "satisfaction_overall", PRED, codebook)
    m = mv.fit_ordinal(frame)
    for col, b in TRUE.items():
        assert m.coef[col] == pytest.approx(3 * b, abs=0.15), col
    assert m.estimate["course_mode=2"] == pytest.approx(np.exp(m.coef["course_mode=2"]))
    lo, hi = m.estimate_ci
    assert lo["course_mode=2"] < np.exp(-1.2) < hi["course_mode=2"]


def test_reference_categories_and_labels_from_codebook(data, codebook):
    frame = mv.model_frame(data, "usefulness_index", {"course_mode": 2, "duration_group": 3}, codebook)
    assert list(frame.X.columns) == ["course_mode=1", "duration_group=1", "duration_group=2"]
    terms = frame.terms.set_index("column")
    assert terms.loc["course_mode=1", "label"] == codebook.value_labels("course_mode")[1] == "Fysisk kurs"
    assert terms.loc["course_mode=1", "reference"] == "Digitalt kurs"
    assert terms.loc["duration_group=2", "variable_label"] == codebook.label("duration_group")
    table = mv.coefficient_table([mv.fit_ols(frame)], codebook)
    assert table["Ledd"].iloc[0] == "Fysisk kurs (mot Digitalt kurs)"
    assert set(table["Skala"]) == {"skalapoeng"}


def test_default_references_are_the_documented_ones(codebook):
    assert mv.PREDICTORS == {
        "course_mode": 1,
        "dialog_based": 1,
        "tailoring": 3,
        "duration_group": 1,
        "role_group": 1,
        "sector_group": 1,
        "size_group": 1,
        "industry_group": 1,
    }
    assert codebook.value_labels("tailoring")[3] == "Generelt"


def test_listwise_deletion_counts_complete_cases(codebook):
    d = simulated(500, seed=3)
    d = d.astype({"course_mode": "Int64", "duration_group": "Int64"}).astype({"usefulness_index": float})
    d.loc[:9, "course_mode"] = pd.NA  # 10 without course mode
    d.loc[5:19, "usefulness_index"] = np.nan  # 15 without the outcome, 5 of them overlap
    d.loc[30:33, "duration_group"] = 9  # a code outside the codebook counts as missing
    frame = mv.model_frame(d, "usefulness_index", PRED, codebook)
    assert frame.n == 500 - 10 - 10 - 4
    assert frame.missing == {"usefulness_index": 15, "course_mode": 10, "dialog_based": 0, "duration_group": 4}
    assert mv.fit_ols(frame).frame.n == frame.n
    assert mv.result_values([mv.fit_ols(frame)])["mv.usefulness_index.ols.n"] == frame.n


def test_satisfaction_answers_off_the_scale_are_missing(codebook):
    d = simulated(300, seed=4)
    d.loc[:4, "satisfaction_overall"] = 99
    assert mv.model_frame(d, "satisfaction_overall", PRED, codebook).n == 295


def test_bad_input_names_every_problem(data, codebook):
    with pytest.raises(mv.ModelError) as e:
        mv.model_frame(
            data.drop(columns="dialog_based"),
            "usefulness_index",
            {"course_mode": 7, "dialog_based": 1, "no_such_var": 1},
            codebook,
        )
    msg = str(e.value)
    assert "'dialog_based' is not in the data" in msg and "reference code 7 of 'course_mode'" in msg
    assert "no_such_var" in msg
    only_digital = data[data["course_mode"] == 2]
    with pytest.raises(mv.ModelError, match="reference category 1"):
        mv.model_frame(only_digital, "usefulness_index", PRED, codebook)


def test_weighted_equal_weights_reproduce_unweighted_estimates(data, codebook):
    plain = mv.model_frame(data, "satisfaction_overall", PRED, codebook)
    w = mv.model_frame(data, "satisfaction_overall", PRED, codebook, weights=np.full(len(data), 2.5))
    for fit in (mv.fit_ols, mv.fit_ordinal):
        a, b = fit(plain), fit(w)
        np.testing.assert_allclose(b.coef.to_numpy(), a.coef.to_numpy(), atol=1e-4)
        assert b.weighted and not a.weighted
        # design-based sandwich: close to, but not the same as, the unweighted SEs
        np.testing.assert_allclose(b.se.to_numpy(), a.se.to_numpy(), rtol=0.15)


def test_weights_change_the_estimates_like_duplicated_respondents(codebook):
    """Integer weights give the estimates of a sample with each respondent repeated that often."""
    d = simulated(1500, seed=5)
    k = np.random.default_rng(6).integers(1, 4, len(d))
    repeated = d.loc[d.index.repeat(k)].reset_index(drop=True)
    for outcome, fit in (("usefulness_index", mv.fit_ols), ("satisfaction_overall", mv.fit_ordinal)):
        wfit = fit(mv.model_frame(d, outcome, PRED, codebook, weights=k))
        rfit = fit(mv.model_frame(repeated, outcome, PRED, codebook))
        np.testing.assert_allclose(wfit.coef.to_numpy(), rfit.coef.to_numpy(), atol=2e-4)
        plain = fit(mv.model_frame(d, outcome, PRED, codebook))
        assert np.abs(wfit.coef.to_numpy() - plain.coef.to_numpy()).max() > 1e-3  # the weights do act


def test_weighted_ols_is_the_design_based_regression(data, codebook):
    from src.analysis.weighting import weighted_mean_difference

    w = np.random.default_rng(7).uniform(0.5, 2.0, len(data))
    one = mv.fit_ols(mv.model_frame(data, "usefulness_index", {"course_mode": 1}, codebook, weights=w))
    ref = weighted_mean_difference(data["usefulness_index"], data["course_mode"], w, 2, 1)
    assert one.coef["course_mode=2"] == pytest.approx(ref.effect, rel=1e-10)
    assert one.se["course_mode=2"] == pytest.approx(ref.detail["se"], rel=1e-10)


def test_fit_models_runs_weighted_on_the_sample(sample, codebook):
    w = np.random.default_rng(8).uniform(0.5, 2.0, len(sample))
    models = mv.fit_models(sample, codebook, weights=w)
    assert [(m.frame.outcome, m.kind) for m in models] == [
        ("usefulness_index", "ols"),
        ("satisfaction_overall", "ols"),
        ("satisfaction_overall", "ordinal"),
    ]
    assert all(m.weighted and np.isfinite(m.se).all() for m in models)
    table = mv.coefficient_table(models, codebook)
    assert len(table) == sum(len(m.coef) for m in models)
    assert (table["n"] > 1000).all() and set(table["Skala"]) == {"skalapoeng", "oddsforhold"}


def test_paragraph_names_the_significant_terms_and_not_the_others(data, codebook):
    models = [
        mv.fit_ols(mv.model_frame(data, "usefulness_index", PRED, codebook)),
        mv.fit_ordinal(mv.model_frame(data, "satisfaction_overall", PRED, codebook)),
    ]
    text = mv.describe(models, codebook, alpha=0.05)
    for m in models:
        sig = {c for c in m.coef.index if m.p[c] < 0.05}
        assert {"course_mode=2", "duration_group=3"} <= sig and "dialog_based=2" not in sig
    assert "digitalt kurs (" in text and "40 timer eller mer (" in text
    assert "kurs uten/med begrenset dialog (" not in text  # not significant: no estimate given
    assert "«Dialogbasert vs. uten rom for dialog»" in text  # ... but named as not mattering
    b = models[0].coef["course_mode=2"]
    assert f"{abs(b):.2f}".replace(".", ",") + " skalapoeng lavere enn fysisk kurs" in text
    orr = np.exp(models[1].coef["course_mode=2"])
    assert f"oddsforhold {orr:.2f}".replace(".", ",") + " mot fysisk kurs" in text
    assert "n = 6\u202f000" in text


def test_paragraph_when_nothing_matters(codebook):
    rng = np.random.default_rng(9)
    d = simulated(400, seed=9)
    d["usefulness_index"] = rng.normal(3.5, 0.5, len(d))  # no relation at all
    m = mv.fit_ols(mv.model_frame(d, "usefulness_index", PRED, codebook))
    text = mv.describe([m], codebook, alpha=1e-9)
    assert "ingen av kurskjennetegnene en signifikant sammenheng" in text
    assert "skalapoeng" not in text


def test_fit_time_grows_linearly(codebook):
    """Ten times the respondents takes far less than a hundred times as long (no n x n step)."""
    import time

    def run(n):
        d = simulated(n, seed=10)
        t = time.perf_counter()
        for outcome, fit in (("usefulness_index", mv.fit_ols), ("satisfaction_overall", mv.fit_ordinal)):
            fit(mv.model_frame(d, outcome, PRED, codebook, weights=np.ones(n)))
        return time.perf_counter() - t

    run(500)
    small, large = run(2000), run(20000)
    assert large < 30 * max(small, 0.05)


def test_coefficient_plot_is_deterministic(data, codebook, tmp_path):
    import matplotlib.pyplot as plt

    from src.book import plots

    models = [
        mv.fit_ols(mv.model_frame(data, "usefulness_index", PRED, codebook)),
        mv.fit_ordinal(mv.model_frame(data, "satisfaction_overall", PRED, codebook)),
    ]
    table = mv.coefficient_table(models, codebook)
    out = []
    for k in range(2):
        fig = plots.coefficient_plot(table)
        out.append(plots.save(fig, "koeff", tmp_path / str(k)))
        plt.close(fig)
    assert set(out[0]) == {"png"}  # no SVG: nothing in the book links to one (issue 19)
    assert out[0]["png"].read_bytes() == out[1]["png"].read_bytes()
    assert len(fig.axes) == 2
