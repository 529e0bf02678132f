"""Which course characteristic matters when the others are held constant? (beyond the report)

The report (4.10–4.11, 5.1, 5.4) compares one characteristic at a time:
physical vs digital courses, dialogue-based vs not, industry-specific vs
general, short vs long; it says itself that it cannot tell which of them
matters, since they occur together. This module regresses the usefulness
index (``usefulness_index``) and the overall satisfaction item
(``satisfaction_overall``) on all of them at once, adjusted for role, sector,
firm size and industry group. The report does none of this: nothing here is
in ``published.yml`` and the scorecard does not score it.

Models (``fit_models``)
-----------------------
* **OLS** of each outcome on dummies of every predictor, robust standard
  errors HC3 (statsmodels), t on the residual degrees of freedom; estimates
  are differences in scale points (1–5) from the reference category.
* **Ordinal logit** (cumulative logit, proportional odds; statsmodels
  ``OrderedModel``, ``distr='logit'``) of the single 5-point satisfaction
  item, model-based standard errors (inverse Hessian), Wald z; estimates are
  odds ratios: the odds of answering in a higher category relative to the
  reference category.

The overall satisfaction item is ``satisfaction_overall`` (s_76_1, «Alt i alt
er jeg godt fornøyd med kvaliteten og relevansen av HMS-opplæringen jeg fått
som verneombud»): the report calls it «det overordnede spørsmålet» (4.11,
figur 12) and sets it beside the index in Tabell 28. The other candidates,
e.g. «HMS-opplæringen/40-timerskurset gir tilstrekkelig god grunnopplæring»
(figur 10), are about the training in general, not the respondent's own.

Predictors and their reference categories (``PREDICTORS``): the codebook's
recodes, so 'Vet ikke'/'Annet' are missing as in the report's tables.

=================  =====================================  ============================
variable           groups (codebook)                      reference
=================  =====================================  ============================
course_mode        Fysisk kurs / Digitalt kurs            Fysisk kurs
dialog_based       Dialogbaserte / uten (begrenset) dialog Dialogbaserte kurs
tailoring          Bransjerettet / Delvis / Generelt      Generelt
duration_group     Korte / Middels / 40 timer eller mer   Korte under 2 dager
role_group         VO / HVO                               VO
sector_group       Offentlig / Privat                     Offentlig
size_group         Små / Mellomstore / Store              Små
industry_group     the eight groups of Tabell 4           Helse og omsorg
=================  =====================================  ============================

Missing answers: listwise deletion. A respondent enters a model only with an
outcome and every predictor; ``ModelFrame.n`` is the number used and
``ModelFrame.missing`` how many lack each variable.

Weighted (``weights=``, the chapter's ``weighted: true``): the raking
weights, design-based as the rest of the sensitivity analysis.

* OLS becomes the design-based weighted regression of ``src/analysis/weighting.py``
  (``wls_sandwich``: R's ``svyglm`` on ``svydesign(ids=~1, weights=~w)``;
  the respondents left out by listwise deletion are a domain, so the variance
  keeps the n of every row given), t on n - k df. Not HC3: the sandwich is
  svyglm's (HC0 times N/(N-1)).
* The ordinal logit becomes a pseudo-maximum-likelihood fit (the weighted sum
  of the per-respondent log-likelihoods of ``OrderedModel``, maximised here,
  since ``OrderedModel`` itself ignores weights) with the same sandwich
  variance, as R's ``survey::svyolr``.

Everything is linear in the number of respondents: design matrices n × k,
HC3 leverages by statsmodels' row-wise einsum, numerical scores k + 1
evaluations of the O(n) log-likelihood.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

from src.analysis.weighting.design_tests import wls_sandwich
from src.analysis.weighting.estimation import scores_variance
from src.base.codebook import Codebook
from src.base.codebook import load as load_codebook
from src.base.numbers import fmt_number

__all__ = [
    "OUTCOMES",
    "COURSE_CHARACTERISTICS",
    "BACKGROUND",
    "PREDICTORS",
    "ModelFrame",
    "FittedModel",
    "model_frame",
    "fit_ols",
    "fit_ordinal",
    "fit_models",
    "coefficient_table",
    "describe",
    "result_values",
]

# outcome -> the models fitted to it
OUTCOMES = {"usefulness_index": ("ols",), "satisfaction_overall": ("ols", "ordinal")}
# variable -> reference code (see the table in the module docstring)
COURSE_CHARACTERISTICS = {"course_mode": 1, "dialog_based": 1, "tailoring": 3, "duration_group": 1}
BACKGROUND = {"role_group": 1, "sector_group": 1, "size_group": 1, "industry_group": 1}
PREDICTORS = {**COURSE_CHARACTERISTICS, **BACKGROUND}

MODEL_NAMES = {
    "ols": {"nb": "lineær regresjon (OLS)", "en": "linear regression (OLS)"},
    "ordinal": {"nb": "ordinal logistisk regresjon", "en": "ordinal logistic regression"},
}


class ModelError(ValueError):
    """The data cannot carry the model asked for (the message says which variable or category)."""


@dataclass
class ModelFrame:
    """The complete cases of one model: outcome, dummy-coded predictors, weights, and what was dropped."""

    outcome: str
    y: pd.Series  # outcome of the complete cases
    X: pd.DataFrame  # one 0/1 column per non-reference category ('<variable>=<code>'), no constant
    terms: pd.DataFrame  # per column of X: variable, code, labels, reference label
    references: dict[str, int]  # variable -> reference code
    weights: pd.Series | None  # of the complete cases (None: unweighted)
    n_design: int  # rows given (the design for the weighted variance)
    missing: dict[str, int]  # variable -> respondents without a valid value
    empty: list[str] = field(default_factory=list)  # categories without respondents after deletion (left out)

    @property
    def n(self) -> int:
        return len(self.y)


@dataclass
class FittedModel:
    """One fitted model; coefficients of the predictors only (no intercept or thresholds)."""

    kind: str  # 'ols' or 'ordinal'
    frame: ModelFrame
    coef: pd.Series  # per column of frame.X: points (ols) or log-odds (ordinal)
    se: pd.Series
    p: pd.Series
    ci_low: pd.Series  # of coef (95 % or 1 - alpha, see ``level``)
    ci_high: pd.Series
    method: str  # how the standard errors were computed (Norwegian, for readers)
    level: float = 0.95
    df_resid: float | None = None  # t degrees of freedom (ols); None: normal (ordinal)

    @property
    def weighted(self) -> bool:
        return self.frame.weights is not None

    @property
    def estimate(self) -> pd.Series:
        """Points (ols) or odds ratios (ordinal)."""
        return np.exp(self.coef) if self.kind == "ordinal" else self.coef

    @property
    def estimate_ci(self) -> tuple[pd.Series, pd.Series]:
        if self.kind == "ordinal":
            return np.exp(self.ci_low), np.exp(self.ci_high)
        return self.ci_low, self.ci_high


# ---------------------------------------------------------------------------
# The model frame
# ---------------------------------------------------------------------------


def _valid_outcome(data: pd.DataFrame, outcome: str, cb: Codebook) -> pd.Series:
    y = pd.to_numeric(data[outcome], errors="coerce").astype("Float64").astype(float)
    labels = cb.value_labels(outcome)
    if labels:  # a coded item: only answers on its scale count
        y = y.where(y.isin(list(labels)))
    return y


def model_frame(
    data: pd.DataFrame,
    outcome: str,
    predictors: dict[str, int] | None = None,
    codebook: Codebook | None = None,
    lang: str = "nb",
    weights=None,
) -> ModelFrame:
    """The complete cases for ``outcome`` on ``predictors`` (variable -> reference code), dummy-coded.

    Columns of ``X`` are ``'<variable>=<code>'`` for every category in the
    codebook's order except the reference; ``terms`` gives their Norwegian
    (``lang``) labels from the codebook. Codes outside the codebook's value
    labels count as missing. Listwise deletion: rows without the outcome, a
    predictor or (weighted) a positive weight are left out. Raises
    ``ModelError`` naming every absent column or unknown reference at once,
    and when a reference category has no respondent left.
    """
    cb = codebook or load_codebook()
    predictors = dict(PREDICTORS if predictors is None else predictors)
    problems = [f"column '{c}' is not in the data" for c in [outcome, *predictors] if c not in data]
    for var, ref in predictors.items():
        try:
            labels = cb.value_labels(var, lang)
        except KeyError:
            problems.append(f"'{var}' is not in the codebook")
            continue
        if ref not in labels:
            problems.append(f"reference code {ref!r} of '{var}' is not one of its codes {sorted(labels)}")
    if problems:
        raise ModelError(f"cannot build the model frame for '{outcome}':\n" + "\n".join(f"  - {p}" for p in problems))

    valid = pd.DataFrame({outcome: _valid_outcome(data, outcome, cb)}, index=data.index)
    for var in predictors:
        codes = pd.to_numeric(data[var], errors="coerce").astype("Float64").astype(float)
        valid[var] = codes.where(codes.isin(list(cb.value_labels(var))))
    missing = {c: int(valid[c].isna().sum()) for c in valid.columns}
    keep = valid.notna().all(axis=1)
    w = None
    if weights is not None:
        w = pd.to_numeric(pd.Series(np.asarray(weights, dtype=float), index=data.index), errors="coerce")
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            raise ModelError(
                f"weights: {int(bad.sum())} missing, negative or infinite weight(s); weights must be finite and >= 0"
            )
        keep &= w > 0
    complete = valid[keep]

    columns, rows, empty = {}, [], []
    for var, ref in predictors.items():
        labels = cb.value_labels(var, lang)
        values = complete[var].astype(int)
        if not (values == ref).any():
            raise ModelError(
                f"'{var}': no respondent with complete answers is in the reference category "
                f"{ref} ({labels[ref]!r}); choose another reference"
            )
        for code, label in labels.items():
            if code == ref:
                continue
            name = f"{var}={code}"
            if not (values == code).any():
                empty.append(name)  # no respondent: the coefficient is not estimable
                continue
            columns[name] = (values == code).astype(float)
            rows.append(
                {
                    "column": name,
                    "variable": var,
                    "code": code,
                    "label": label,
                    "variable_label": cb.label(var, lang),
                    "reference": labels[ref],
                }
            )
    X = pd.DataFrame(columns, index=complete.index)
    terms = pd.DataFrame(rows, columns=["column", "variable", "code", "label", "variable_label", "reference"])
    return ModelFrame(
        outcome=outcome,
        y=complete[outcome].astype(float),
        X=X,
        terms=terms,
        references=predictors,
        weights=None if w is None else w[keep],
        n_design=len(data),
        missing=missing,
        empty=empty,
    )


# ---------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------


def _check_rank(frame: ModelFrame, X: np.ndarray) -> None:
    if frame.n <= X.shape[1] + 1:
        raise ModelError(f"'{frame.outcome}': {frame.n} complete cases for {X.shape[1]} parameters")
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ModelError(
            f"'{frame.outcome}': the predictors are collinear among the {frame.n} complete cases "
            f"(a category coincides with another); columns {list(frame.X.columns)}"
        )


def fit_ols(frame: ModelFrame, level: float = 0.95) -> FittedModel:
    """OLS with HC3 standard errors (unweighted), or svyglm's design-based weighted regression (weighted)."""
    import statsmodels.api as sm

    X = np.column_stack([np.ones(frame.n), frame.X.to_numpy(float)])
    _check_rank(frame, X)
    y = frame.y.to_numpy(float)
    k = X.shape[1]
    df = frame.n - k
    if frame.weights is None:
        res = sm.OLS(y, X).fit(cov_type="HC3", use_t=True)
        coef, se = res.params[1:], res.bse[1:]
        method = "OLS, robuste standardfeil (HC3)"
    else:
        coef, V = wls_sandwich(y, X, frame.weights.to_numpy(float), frame.n_design)
        coef, se = coef[1:], np.sqrt(np.diag(V))[1:]
        method = "vektet regresjon, designbaserte standardfeil (som R: svyglm)"
    q = sps.t.ppf(0.5 + level / 2, df)
    p = 2 * sps.t.sf(np.abs(coef / se), df)
    idx = frame.X.columns
    return FittedModel(
        "ols",
        frame,
        pd.Series(coef, idx),
        pd.Series(se, idx),
        pd.Series(p, idx),
        pd.Series(coef - q * se, idx),
        pd.Series(coef + q * se, idx),
        method,
        level,
        float(df),
    )


def _ordered_model_class():
    from statsmodels.miscmodels.ordinal_model import OrderedModel
    from statsmodels.tools.numdiff import approx_fprime

    class CaseWeightedOrderedModel(OrderedModel):
        """``OrderedModel`` with case weights (the weighted sum of log-likelihoods) and an analytic score.

        With all weights 1 this is ``OrderedModel`` itself. The analytic score
        (statsmodels' own ``score_obs_`` leaves out the thresholds) makes the
        fit and the Hessian cost k + 1 passes over the data instead of k²:
        the parameters are (coefficients, first threshold, log increments).
        """

        def __init__(self, endog, exog, case_weights=None, **kwds):
            super().__init__(endog, exog, **kwds)
            n = len(np.asarray(self.endog))
            self.case_weights = np.ones(n) if case_weights is None else np.asarray(case_weights, dtype=float)

        def loglike(self, params):
            return float(np.sum(self.case_weights * self.loglikeobs(params)))

        def _score_parts(self, params):
            """Per respondent: the factor of x in the coefficients' score, and the thresholds' score."""
            params = np.asarray(params, dtype=float)
            k, n_cut = self.k_vars, self.k_levels - 1
            y = np.asarray(self.endog, dtype=int)
            low, upp = self._bounds(params)
            prob = self.prob(low, upp) + 1e-20
            f_low, f_upp = self.pdf(low), self.pdf(upp)  # 0 at the infinite ends
            rows = np.arange(len(y))
            g_cut = np.zeros((len(y), n_cut))  # derivative by each threshold
            up = y < n_cut
            g_cut[rows[up], y[up]] += f_upp[up] / prob[up]
            lo = y > 0
            g_cut[rows[lo], y[lo] - 1] -= f_low[lo] / prob[lo]
            incr = np.exp(params[k + 1 :])  # threshold j = first + sum of increments up to j
            jac = np.zeros((n_cut, n_cut))
            jac[:, 0] = 1.0
            for j in range(1, n_cut):
                jac[j:, j] = incr[j - 1]
            return -(f_upp - f_low) / prob, g_cut, jac

        def score_obs(self, params):
            """Per-respondent (unweighted) derivative of the log-likelihood, n × (k + thresholds)."""
            a, g_cut, jac = self._score_parts(params)
            return np.column_stack([a[:, None] * self.exog, g_cut @ jac])

        def score(self, params):
            a, g_cut, jac = self._score_parts(params)
            w = self.case_weights
            return np.concatenate([(w * a) @ self.exog, (w @ g_cut) @ jac])

        def hessian(self, params):
            H = approx_fprime(np.asarray(params, dtype=float), self.score, centered=True)
            return (H + H.T) / 2

    return CaseWeightedOrderedModel


def fit_ordinal(frame: ModelFrame, level: float = 0.95) -> FittedModel:
    """Cumulative (proportional-odds) logit of a 1–5 item; weighted: pseudo-ML with the design-based sandwich."""
    Model = _ordered_model_class()
    X = frame.X.to_numpy(float)
    _check_rank(frame, np.column_stack([np.ones(frame.n), X]))
    levels = np.sort(frame.y.unique())
    if len(levels) < 3:
        raise ModelError(
            f"'{frame.outcome}': an ordinal model needs at least 3 answer categories, got {levels.tolist()}"
        )
    y = pd.Series(pd.Categorical(frame.y.to_numpy(), categories=levels, ordered=True))
    k = X.shape[1]
    w = None if frame.weights is None else frame.weights.to_numpy(float)
    if w is not None:
        w = w / w.mean()  # neither the estimate nor the sandwich depends on the scale; the optimiser does
    model = Model(y, X, case_weights=w, distr="logit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is checked below
        res = model.fit(method="bfgs", disp=False, maxiter=1000, gtol=1e-6)
    if not res.mle_retvals.get("converged", True):
        raise ModelError(f"'{frame.outcome}': the ordinal logit did not converge on {frame.n} respondents")
    params = np.asarray(res.params)
    A = np.linalg.inv(-model.hessian(params))
    if w is None:
        cov = A[:k, :k]
        method = "ordinal logistisk regresjon (kumulativ logit), modellbaserte standardfeil"
    else:
        S = model.score_obs(params) * w[:, None]  # each respondent's weighted score
        cov = (A @ scores_variance(S, frame.n_design) @ A)[:k, :k]
        method = "vektet ordinal logistisk regresjon (pseudo-ML), designbaserte standardfeil (som R: svyolr)"
    coef, se = params[:k], np.sqrt(np.diag(cov))
    q = sps.norm.ppf(0.5 + level / 2)
    p = 2 * sps.norm.sf(np.abs(coef / se))
    idx = frame.X.columns
    return FittedModel(
        "ordinal",
        frame,
        pd.Series(coef, idx),
        pd.Series(se, idx),
        pd.Series(p, idx),
        pd.Series(coef - q * se, idx),
        pd.Series(coef + q * se, idx),
        method,
        level,
        None,
    )


def fit_models(
    data: pd.DataFrame,
    codebook: Codebook | None = None,
    weights=None,
    lang: str = "nb",
    outcomes: dict[str, tuple[str, ...]] | None = None,
    predictors: dict[str, int] | None = None,
    level: float = 0.95,
) -> list[FittedModel]:
    """Every model of ``OUTCOMES`` (OLS of the index and the item, ordinal logit of the item), in that order."""
    cb = codebook or load_codebook()
    fitters = {"ols": fit_ols, "ordinal": fit_ordinal}
    models = []
    for outcome, kinds in (OUTCOMES if outcomes is None else outcomes).items():
        frame = model_frame(data, outcome, predictors, cb, lang, weights)
        for kind in kinds:
            models.append(fitters[kind](frame, level))
    return models


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


def model_label(model: FittedModel, codebook: Codebook, lang: str = "nb") -> str:
    """E.g. 'Opplevd nytteverdi i praksis, lineær regresjon (OLS)'."""
    name = _outcome_label(model.frame.outcome, codebook, lang)
    return f"{name}, {MODEL_NAMES[model.kind][lang]}"


def _outcome_label(outcome: str, codebook: Codebook, lang: str) -> str:
    if outcome == "satisfaction_overall":  # the grid's label names the question better than the long statement
        return codebook.label("satisfaction", lang)
    return codebook.label(outcome, lang)


def term_sizes(model: FittedModel) -> dict[str, int]:
    """Per column of the design: the smaller of its category's respondents and its reference category's
    (what a coefficient rests on, for disclosure control: ``suppression``)."""
    X = model.frame.X
    out = {}
    for _, t in model.frame.terms.iterrows():
        same = [c for c in model.frame.terms.loc[model.frame.terms["variable"] == t["variable"], "column"]]
        in_ref = int((X[same].sum(axis=1) == 0).sum())
        out[t["column"]] = int(min(int(X[t["column"]].sum()), in_ref))
    return out


def coefficient_table(models: list[FittedModel], codebook: Codebook | None = None, lang: str = "nb") -> pd.DataFrame:
    """One row per model and term: label, estimate with its CI, p, the model and its n (unrounded).

    ``Estimat`` is in scale points for OLS and an odds ratio for the ordinal
    logit (``Skala`` says which); ``Koeffisient`` and ``Standardfeil`` are on
    the model's own scale (points, log-odds).
    """
    cb = codebook or load_codebook()
    rows = []
    for m in models:
        est = m.estimate
        lo, hi = m.estimate_ci
        for _, t in m.frame.terms.iterrows():
            c = t["column"]
            rows.append(
                {
                    "Ledd": f"{t['label']} (mot {t['reference']})",
                    "Variabel": t["variable_label"],
                    "Kategori": t["label"],
                    "Referanse": t["reference"],
                    "Modell": model_label(m, cb, lang),
                    "Skala": "oddsforhold" if m.kind == "ordinal" else "skalapoeng",
                    "Estimat": float(est[c]),
                    "KI nedre": float(lo[c]),
                    "KI øvre": float(hi[c]),
                    "p": float(m.p[c]),
                    "Koeffisient": float(m.coef[c]),
                    "Standardfeil": float(m.se[c]),
                    "n": m.frame.n,
                    "Metode": m.method,
                }
            )
    table = pd.DataFrame(rows)
    # what each row rests on: its category or the reference, whichever is smaller (Chapter.table hides small ones)
    sizes = []
    for m in models:  # term_sizes once per model (it computes every term of the model)
        per_term = term_sizes(m)
        sizes += [per_term[t["column"]] for _, t in m.frame.terms.iterrows()]
    base = pd.Series(sizes, index=table.index, dtype=float)
    table.attrs["support"] = (
        pd.DataFrame({"n": pd.to_numeric(table["n"], errors="coerce")}, index=table.index),
        pd.DataFrame({c: base for c in ("Estimat", "KI nedre", "KI øvre", "p", "Koeffisient", "Standardfeil")}),
    )  # n: the model's respondents
    return table


def _slug(text: str) -> str:
    import re
    import unicodedata

    t = text.lower().replace("æ", "ae").replace("ø", "o").replace("å", "a")
    t = unicodedata.normalize("NFKD", t).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", t).strip("_")


def result_sizes(models: list[FittedModel]) -> dict[str, int]:
    """Per key of ``result_values``: the group size the number rests on (the model's n for ``.n``)."""
    out: dict[str, int] = {}
    for m in models:
        base = f"mv.{m.frame.outcome}.{m.kind}"
        sizes = term_sizes(m)
        for _, t in m.frame.terms.iterrows():
            key = f"{base}.{t['variable']}.{t['code']}"
            for suffix in ("estimate", "ci95", "p", "significant"):
                out[f"{key}.{suffix}"] = sizes[t["column"]]
    return out


def result_values(models: list[FittedModel], alpha: float = 0.05) -> dict[str, object]:
    """The key numbers for results.json: per model its n, per term estimate, CI, p and the verdict.

    Keys (without the notebook prefix): ``mv.<outcome>.<kind>.n`` and
    ``mv.<outcome>.<kind>.<variable>.<code>.{estimate,ci95,p,significant}``.
    """
    out: dict[str, object] = {}
    for m in models:
        base = f"mv.{m.frame.outcome}.{m.kind}"
        out[f"{base}.n"] = m.frame.n
        est = m.estimate
        lo, hi = m.estimate_ci
        for _, t in m.frame.terms.iterrows():
            c, key = t["column"], f"{base}.{t['variable']}.{t['code']}"
            out[f"{key}.estimate"] = float(est[c])
            out[f"{key}.ci95"] = [float(lo[c]), float(hi[c])]
            out[f"{key}.p"] = float(m.p[c])
            out[f"{key}.significant"] = bool(m.p[c] < alpha)
    return out


def _num(x: float, decimals: int, lang: str) -> str:
    text = fmt_number(abs(x), decimals, lang)
    return text if x >= 0 else "−" + text


def _lower_first(text: str) -> str:
    """'Digitalt kurs' -> 'digitalt kurs'; 'HVO' and 'HMS-...' stay as they are."""
    return text[0].lower() + text[1:] if len(text) > 1 and text[1].islower() else text


def _term_phrase(m: FittedModel, t, lang: str) -> str:
    c = t["column"]
    label, ref = _lower_first(t["label"]), _lower_first(t["reference"])
    if m.kind == "ols":
        b = float(m.coef[c])
        word = "høyere" if b > 0 else "lavere"
        return (
            f"{label} ({_num(abs(b), 2, lang)} skalapoeng {word} enn {ref}, "
            f"95 % KI {_num(float(m.ci_low[c]), 2, lang)} til {_num(float(m.ci_high[c]), 2, lang)})"
        )
    lo, hi = np.exp(m.ci_low[c]), np.exp(m.ci_high[c])
    return (
        f"{label} (oddsforhold {_num(float(np.exp(m.coef[c])), 2, lang)} mot {ref}, "
        f"95 % KI {_num(float(lo), 2, lang)}–{_num(float(hi), 2, lang)})"
    )


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " og " + items[-1]


def describe(
    models: list[FittedModel],
    codebook: Codebook | None = None,
    alpha: float = 0.05,
    lang: str = "nb",
    min_cell: int = 0,
) -> str:
    """A plain-language paragraph (Norwegian) per model from the fitted results; nothing typed by hand.

    Says which course characteristics still differ significantly (p < alpha)
    when everything else in the model is held constant, with direction and
    size (scale points, or odds ratios for the ordinal model), which do not,
    and which background variables are significant. Every number and label
    comes from the models and the codebook.
    """
    cb = codebook or load_codebook()
    course = set(COURSE_CHARACTERISTICS)
    parts = []
    for m in models:
        terms = m.frame.terms
        if min_cell:  # real data: a category (or its reference) with 1 to min_cell - 1 respondents is not described
            sizes = term_sizes(m)
            terms = terms[[not 0 < sizes[c] < min_cell for c in terms["column"]]]
        sig = terms[[bool(m.p[c] < alpha) for c in terms["column"]]]
        outcome = _outcome_label(m.frame.outcome, cb, lang)
        text = (
            f"**{outcome}, {MODEL_NAMES[m.kind][lang]}** (n = {_num(m.frame.n, 0, lang)} med svar på alt; {m.method}). "
        )
        if m.kind == "ordinal":
            text += (
                "Oddsforholdet sier hvor mye større (over 1) eller mindre (under 1) oddsen er for å svare et "
                "trinn høyere på skalaen, sammenlignet med referansegruppen. "
            )
        sig_course = sig[sig["variable"].isin(course)]
        if len(sig_course):
            text += (
                "Når de andre kurskjennetegnene, rollen, sektoren, virksomhetsstørrelsen og bransjen holdes "
                f"konstant, henger disse kjennetegnene fortsatt signifikant sammen med {_lower_first(outcome)}: "
                + _join([_term_phrase(m, t, lang) for _, t in sig_course.iterrows()])
                + ". "
            )
        else:
            text += (
                f"Når de andre forholdene holdes konstant, har ingen av kurskjennetegnene en signifikant "
                f"sammenheng med {_lower_first(outcome)}. "
            )
        quiet = [
            cb.label(v, lang)
            for v in COURSE_CHARACTERISTICS
            if v in set(terms["variable"]) and v not in set(sig_course["variable"])
        ]
        if len(sig_course) and quiet:
            text += (
                "Ingen signifikant forskjell når de andre holdes konstant: " + _join([f"«{q}»" for q in quiet]) + ". "
            )
        sig_bg = sig[~sig["variable"].isin(course)]
        if len(sig_bg):
            text += (
                "Av bakgrunnsforholdene skiller "
                + _join([_term_phrase(m, t, lang) for _, t in sig_bg.iterrows()])
                + " seg signifikant ut."
            )
        else:
            text += "Ingen av bakgrunnsforholdene (rolle, sektor, størrelse, bransje) er signifikante."
        parts.append(text.strip())
    parts.append(
        f"Signifikant betyr her p < {_num(alpha, 2, lang)}. Sammenhengene er ikke nødvendigvis årsaker: de "
        "som fikk en bestemt type kurs, kan skille seg fra de andre på måter modellen ikke fanger opp."
    )
    return "\n\n".join(parts)
