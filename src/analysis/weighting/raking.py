"""Survey weighting as a sensitivity analysis: raking to SSB margins, design-based estimates and tests.

The report does not weight; the compendium reproduces it unweighted and adds
weighted results *beside* the unweighted ones (DESIGN.md, 'Statistics
conventions'). This module provides

* ``rake``: iterative proportional fitting (raking) of the analysis sample to
  population margins, with loud input validation, explicit handling of
  respondents who miss a raking variable, convergence control, trimming and
  diagnostics (``RakeResult``);
* ``weighted_mean`` / ``weighted_share``: estimates with design-based
  (Taylor linearization) standard errors, exactly as R's
  ``survey::svymean`` on ``svydesign(ids = ~1, weights = ~w)``;
* ``rao_scott_chi2``, ``weighted_mean_difference``, ``weighted_anova``: the
  design-based versions of the report's chi-square, t-test and ANOVA, as R's
  ``svychisq`` (second-order Rao-Scott F), ``svyglm`` and ``regTermTest``;
* ``jackknife_replicates`` / ``replicate_se``: JK1 delete-a-group replicate
  weights, each replicate re-raked, so the standard errors reflect the raking;
* ``population_margins``: the raking margins from
  ``data/reference/population_margins.yml`` keyed by codebook variable and code.

The design assumed by the linearization (``weighted_*``, the tests) is one
stratum, no clusters, the weights taken as fixed sampling weights, which is
``svydesign(ids = ~1, weights = ~w)`` in R. It ignores that the weights were
estimated by raking (calibration usually *reduces* the variance of estimates
correlated with the raking variables); the re-raked jackknife replicates
capture that effect, and the two can be set side by side. The rows given to
these functions are the sample; a respondent without an answer (or outside
the groups compared) is a *domain* left out of the estimate but not of the
design, exactly as R's ``na.rm = TRUE`` and ``subset()``: the variance keeps
the n of all rows given, the degrees of freedom count the respondents used.
Pass the whole analysis sample to get R's numbers.

Library decision
----------------
Own code on numpy/scipy (already pinned in ``requirements.txt``), no new
dependency; agreement with R's ``survey`` package is checked in
``tests/test_weighting.py``. Candidates considered:

* ``svy`` (PyPI, 0.35.0 read when this was written; successor of the archived
  ``samplics``, says it matches R's ``survey`` to six digits): not used.
  It would add polars (>= 2), a private Rust extension pinned to a narrow
  range (``svy-rs >= 0.19, < 0.20``), ``svy-io`` and msgspec, i.e. a second
  dataframe library beside pandas, for a beta package with about fifty
  releases so far. More importantly, its ``rake`` does not do the two things
  this module exists to control: with ``shares=`` it rescales each margin to
  sum to one (so a margin summing to 0.99 or 99 passes silently), and it
  refuses any missing value in a raking variable ("Raking requires complete
  data"), leaving the treatment of those respondents to the caller. The
  "matches R" promise is what we need, and we get it more directly by testing
  against R itself.
* ``weightipy`` accepts a misspelled or empty margin silently; ``samplics``
  is archived (DESIGN.md, 'Known pitfalls').
* statsmodels: ``DescrStatsW`` standard errors treat the weights as frequency
  weights (they change when the weights are rescaled), so it is not used for
  standard errors; ``OrderedModel`` silently ignores weights, so the weighted
  ordinal logit (pseudo-likelihood with the design-based sandwich, the approach
  of R's ``svyolr``) is built on its per-respondent likelihood in
  ``src/multivariable.py`` (``fit_ordinal``), not here.

Raking algorithm (``rake``)
---------------------------
Start from weight 1 for every respondent. One *sweep* adjusts the variables
in the order given: for variable v, among the respondents counted for v, each
weight in category k is multiplied by ``target_k * T_v / S_vk``, where
``S_vk`` is the current weight total of category k and ``T_v`` the current
weight total of the respondents counted for v (so a step never changes
``T_v``). After every sweep the largest margin deviation
``max |achieved share - target share|`` (proportions, over all variables and
categories) is compared with ``tol``. At most ``max_iter`` sweeps.

Respondents missing a raking variable (``missing=``) are never dropped; every
row of ``data`` gets a weight:

* ``"available"`` (default): available-case raking. A respondent missing v is
  not counted for v: the step for v leaves their weight unchanged, and the
  target for v is the distribution of v *among the respondents who have v*
  (the weight total of that group is kept, its distribution set to the
  margin). Their weight is set by the other variables they have. This treats
  the answer as missing at random given the other raking variables, and the
  convergence criterion is checked on the same bases.
* ``"impute_mode"``: the missing value is replaced by the variable's most
  frequent category in the sample (unweighted; ties go to the category that
  comes first in the margin), and the respondent is raked as if they had
  it. ``RakeResult.missing_counts`` says how many were imputed.
* ``"separate"``: a category ``"missing"`` is added to the variable with
  the unweighted sample share of the missing as its target, and the other
  targets are scaled down by (1 - that share) so the margin still sums to 1.
  The missing keep their weight share; the rest are raked to the margin
  within the remainder.
* ``"error"``: any missing value in a raking variable is an error.

Trimming: with ``weight_cap`` set (default 5), if the raked weights exceed
``weight_cap`` times the mean weight, rounds of *trim, then one raking
sweep* follow (weights normalised to mean 1, capped at ``weight_cap``,
re-raked, normalised again), until both the margins are within ``tol`` and
the largest weight is at most ``weight_cap * (1 + 1e-6)`` times the mean, or
``max_iter`` rounds. A cap can be infeasible (a category that needs an
average weight above the cap): ``rake`` then reports non-convergence and
names the category; the weights returned are those after the last raking
sweep, so the margins hold as far as they can and the cap is exceeded
(``weight_summary['max_to_mean']`` says by how much). ``weight_cap=None``
switches trimming off.

Non-convergence is reported, not raised: ``RakeResult.converged`` is False
and a ``WeightingWarning`` says which margin deviates most (and which
categories the cap makes infeasible). The returned weights are positive,
finite and sum to n (the number of rows of ``data``).
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as sps

from src import paths
from src.stats import TestResult

__all__ = [
    "WeightingError", "WeightingWarning", "RakeResult", "rake", "kish_design_effect",
    "Estimate", "weighted_mean", "weighted_share",
    "rao_scott_chi2", "weighted_mean_difference", "weighted_anova",
    "ReplicateWeights", "jackknife_replicates", "replicate_se", "scores_variance",
    "population_margins", "TOTAL_EMPLOYED_2023",
]

MISSING_MODES = ("available", "impute_mode", "separate", "error")
MISSING_CATEGORY = "missing"       # the code of the extra category with missing="separate"
SUM_TOL_PROPORTION = 1e-6          # margins given as proportions must sum to 1 within this
SUM_TOL_PERCENT = 1e-4             # ... or, given as percent, to 100 within this (same relative tolerance)
CAP_TOL = 1e-6                     # the cap holds to this relative tolerance when trimming converges
DEFAULT_JK_GROUPS = 50
DEFAULT_JK_SEED = 2024_01349

# SSB: employed persons in Norway, 2023, rounded (about 2.9 million). Used
# only to derive the 'Andre bransjer' share of the industry margin, which the
# report (and so population_margins.yml) leaves out; see population_margins.
TOTAL_EMPLOYED_2023 = 2_900_000


class WeightingError(ValueError):
    """Bad input to the weighting: every problem found is listed in the message."""


class WeightingWarning(UserWarning):
    """The weighting ran but did not reach what was asked (e.g. raking did not converge)."""


def _fail(problems: list[str], head: str) -> None:
    if problems:
        raise WeightingError(head + ":\n  - " + "\n  - ".join(problems))


def _norm_key(k):
    """A category code as a plain Python value (1, 1.0, np.int64(1) -> 1)."""
    if isinstance(k, (bool, np.bool_)):
        return bool(k)
    if isinstance(k, (int, np.integer)):
        return int(k)
    if isinstance(k, (float, np.floating)) and math.isfinite(float(k)) and float(k).is_integer():
        return int(k)
    return k


# ---------------------------------------------------------------------------
# Raking
# ---------------------------------------------------------------------------

@dataclass
class RakeResult:
    """Raking weights and their diagnostics.

    ``margins`` has one row per variable and category: ``n`` (respondents),
    ``sample_pct`` (unweighted), ``target_pct``, ``achieved_pct`` (weighted)
    and ``difference_pct`` (achieved - target), all in percent of the
    respondents counted for that variable (see ``missing``).
    """

    weights: pd.Series                 # aligned with data.index, positive, finite, sum = n
    converged: bool
    iterations: int                    # raking sweeps, trimming rounds included
    max_deviation: float               # largest |achieved - target| share (proportion, 0-1)
    margins: pd.DataFrame
    weight_summary: dict               # min, p5, median, p95, max, mean, max_to_mean
    design_effect: float               # Kish: n * sum(w^2) / sum(w)^2
    effective_n: float                 # n / design_effect
    n: int
    missing: str
    missing_counts: dict               # variable -> respondents missing it
    weight_cap: float | None
    trim_rounds: int = 0
    n_trimmed: int = 0                 # weights cut to the cap in the last trimming round
    untrimmed_max_to_mean: float = float("nan")
    tol: float = 1e-8
    notes: list = field(default_factory=list)

    def describe(self, lang: str = "nb") -> str:
        """One line for a notebook: convergence, weight range, trimming, Kish deff and effective n."""
        from src.helpers import fmt_number

        def f(x, d=2):
            return fmt_number(x, d, lang)

        s = self.weight_summary
        if lang == "nb":
            conv = (f"konvergerte etter {self.iterations} runder" if self.converged
                    else f"konvergerte IKKE ({self.iterations} runder)")
            cap = (f"; {self.n_trimmed} vekter avkortet til {f(self.weight_cap, 1)} × snittet"
                   if self.weight_cap is not None and self.trim_rounds else "")
            return (f"Raking {conv}, største avvik {self.max_deviation:.1e}; vekter {f(s['min'])}–{f(s['max'])}"
                    f"{cap}; designeffekt (Kish) {f(self.design_effect)}, "
                    f"effektivt n {f(self.effective_n, 0)} av {self.n}")
        conv = (f"converged after {self.iterations} sweeps" if self.converged
                else f"did NOT converge ({self.iterations} sweeps)")
        cap = (f"; {self.n_trimmed} weights trimmed to {f(self.weight_cap, 1)} × the mean"
               if self.weight_cap is not None and self.trim_rounds else "")
        return (f"Raking {conv}, largest deviation {self.max_deviation:.1e}; weights {f(s['min'])}–{f(s['max'])}"
                f"{cap}; Kish design effect {f(self.design_effect)}, effective n {f(self.effective_n, 0)} of {self.n}")


@dataclass
class _Margin:
    variable: str
    codes: list                 # category codes in margin order (MISSING_CATEGORY last with 'separate')
    target: np.ndarray          # proportions, sum 1
    index: np.ndarray           # per respondent: position in codes, -1 = not counted
    counts: np.ndarray          # respondents per category


def kish_design_effect(weights) -> tuple[float, float]:
    """Kish's design effect due to weighting, n * sum(w^2) / sum(w)^2, and the effective n = n / deff."""
    w = np.asarray(weights, dtype=float)
    n = len(w)
    deff = float(n * np.sum(w ** 2) / np.sum(w) ** 2)
    return deff, float(n / deff)


def _weight_summary(w: np.ndarray) -> dict:
    mean = float(w.mean())
    return {"min": float(w.min()), "p5": float(np.percentile(w, 5)), "median": float(np.median(w)),
            "p95": float(np.percentile(w, 95)), "max": float(w.max()), "mean": mean,
            "max_to_mean": float(w.max() / mean)}


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def _check_options(weight_cap, max_iter, tol, missing) -> None:
    problems = []
    if missing not in MISSING_MODES:
        problems.append(f"missing={missing!r}: expected one of {', '.join(map(repr, MISSING_MODES))}")
    if weight_cap is not None:
        cap = float(weight_cap) if _is_number(weight_cap) else float("nan")
        if not (math.isfinite(cap) and cap > 1):
            problems.append(f"weight_cap={weight_cap!r}: expected a number > 1 (a multiple of the mean weight) or None")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        problems.append(f"max_iter={max_iter!r}: expected an integer >= 1")
    t = float(tol) if _is_number(tol) else float("nan")
    if not (math.isfinite(t) and t > 0):
        problems.append(f"tol={tol!r}: expected a positive number")
    _fail(problems, "rake: invalid options")


def _validate_shares(var: str, margin, problems: list[str]) -> dict | None:
    """The margin as {code: proportion}, or None (problems appended)."""
    where = f"margin '{var}'"
    if not isinstance(margin, Mapping):
        problems.append(f"{where}: expected a dict {{code: share}}, got {type(margin).__name__}")
        return None
    if not margin:
        problems.append(f"{where}: empty (no categories)")
        return None
    shares, ok = {}, True
    for code, s in margin.items():
        key = _norm_key(code)
        if key in shares:
            problems.append(f"{where}: category {code!r} given twice")
            ok = False
            continue
        try:
            x = float(s)
        except (TypeError, ValueError):
            problems.append(f"{where}: share of category {code!r} is {s!r}, not a number")
            ok = False
            continue
        if not math.isfinite(x):
            problems.append(f"{where}: share of category {code!r} is {s!r}, not a finite number")
            ok = False
        elif x < 0:
            problems.append(f"{where}: share of category {code!r} is negative ({s!r})")
            ok = False
        shares[key] = x
    if not ok:
        return None
    total = sum(shares.values())
    if abs(total - 1) <= SUM_TOL_PROPORTION or abs(total - 100) <= SUM_TOL_PERCENT:
        scale = total       # removes the last bit of rounding so the targets sum to exactly 1
    else:
        problems.append(f"{where}: shares sum to {total:.10g}; expected 1 (±{SUM_TOL_PROPORTION:g}) "
                        f"or 100 (±{SUM_TOL_PERCENT:g}); fix the margin (rounded published percentages "
                        "must be adjusted deliberately, see population_margins)")
        return None
    return {k: v / scale for k, v in shares.items()}


def _prepare_margins(data: pd.DataFrame, margins, missing: str) -> tuple[list[_Margin], dict, list[str]]:
    """Validate margins against the data; every problem is collected before raising."""
    problems: list[str] = []
    if not isinstance(data, pd.DataFrame):
        raise WeightingError(f"rake: data must be a pandas DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise WeightingError("rake: data has no rows")
    if not isinstance(margins, Mapping) or not margins:
        raise WeightingError("rake: margins must be a non-empty dict {variable: {code: share}}")
    n = len(data)
    prepared: list[_Margin] = []
    missing_counts: dict[str, int] = {}
    notes: list[str] = []
    for var, margin in margins.items():
        if not isinstance(var, str) or var not in data.columns:
            close = difflib.get_close_matches(str(var), [str(c) for c in data.columns], n=3)
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            problems.append(f"unknown variable {var!r}: not a column of the data{hint}")
            continue
        shares = _validate_shares(var, margin, problems)
        if shares is None:
            continue
        col = data[var]
        isna = col.isna().to_numpy()
        n_missing = int(isna.sum())
        missing_counts[var] = n_missing
        keys = np.array([_norm_key(v) if not m else None for v, m in zip(col.tolist(), isna)], dtype=object)
        observed = pd.Series(keys[~isna]).value_counts(sort=False)
        counts = {k: int(c) for k, c in observed.items()}
        where = f"variable '{var}'"
        if n_missing == n:
            problems.append(f"{where}: every respondent is missing it; nothing to rake")
            continue
        if missing == "error" and n_missing:
            problems.append(f"{where}: {n_missing} respondent(s) missing it (missing='error'); "
                            "choose missing='available', 'impute_mode' or 'separate', or fix the data")
        bad = False
        unknown = {k: c for k, c in counts.items() if k not in shares}
        for k, c in unknown.items():
            problems.append(f"{where}: category {k!r} ({c} respondent(s)) is not in the margin "
                            f"(margin categories: {', '.join(map(repr, shares))})")
            bad = True
        if unknown and all(isinstance(k, str) for k in shares) and not any(isinstance(k, str) for k in counts):
            problems.append(f"{where}: the margin is keyed by strings ({', '.join(map(repr, shares))}) but the data "
                            "hold numeric codes; key margins by the codebook's codes (see population_margins)")
        for k, s in shares.items():
            c = counts.get(k, 0)
            if c == 0 and s > 0:
                problems.append(f"{where}: margin category {k!r} (share {s:.6g}) has no respondents in the data; "
                                "collapse it with another category")
                bad = True
            elif c > 0 and s == 0:
                problems.append(f"{where}: margin category {k!r} has share 0 but {c} respondent(s); "
                                "their weights would have to be 0")
                bad = True
        if bad:
            continue
        # share-0 categories without respondents drop out
        codes = [k for k, s in shares.items() if counts.get(k, 0) > 0]
        target = np.array([shares[k] for k in codes], dtype=float)
        target = target / target.sum()
        pos = {k: i for i, k in enumerate(codes)}
        index = np.array([pos[k] if k is not None else -1 for k in keys], dtype=np.int64)
        if n_missing and missing == "impute_mode":
            cnt = np.array([counts[k] for k in codes])
            mode = int(np.argmax(cnt))                    # ties: first in margin order
            index[isna] = mode
            notes.append(f"{var}: {n_missing} missing imputed as the modal category {codes[mode]!r}")
        elif n_missing and missing == "separate":
            miss_share = n_missing / n
            codes = codes + [MISSING_CATEGORY]
            target = np.append(target * (1 - miss_share), miss_share)
            index[isna] = len(codes) - 1
        elif n_missing and missing == "available":
            notes.append(f"{var}: {n_missing} missing, raked on their other variables (available-case)")
        cnt = np.bincount(index[index >= 0], minlength=len(codes))
        prepared.append(_Margin(var, codes, target, index, cnt))
    _fail(problems, f"rake: the margins do not fit the data ({n} rows)")
    return prepared, missing_counts, notes


def _sweep(w: np.ndarray, margins: list[_Margin]) -> None:
    for m in margins:
        obs = m.index >= 0
        idx = m.index[obs]
        sums = np.bincount(idx, weights=w[obs], minlength=len(m.codes))
        factor = m.target * sums.sum() / sums
        w[obs] *= factor[idx]


def _achieved(w: np.ndarray, m: _Margin) -> np.ndarray:
    obs = m.index >= 0
    sums = np.bincount(m.index[obs], weights=w[obs], minlength=len(m.codes))
    return sums / sums.sum()


def _max_deviation(w: np.ndarray, margins: list[_Margin]) -> float:
    return float(max(np.max(np.abs(_achieved(w, m) - m.target)) for m in margins))


def _infeasible_cap(margins: list[_Margin], cap: float) -> list[str]:
    """Categories whose target needs an average weight above the cap (so the cap cannot hold)."""
    out = []
    for m in margins:
        base = int((m.index >= 0).sum())
        need = m.target * base / m.counts
        for code, nd, c in zip(m.codes, need, m.counts):
            if nd > cap:
                out.append(f"'{m.variable}' category {code!r}: {c} respondent(s) must carry an average weight of "
                           f"{nd:.2f} × the mean, above the cap {cap:g}")
    return out


def rake(data: pd.DataFrame, margins: Mapping, *, weight_cap: float | None = 5.0, max_iter: int = 100,
         tol: float = 1e-8, missing: str = "available") -> RakeResult:
    """Rake (iterative proportional fitting) ``data`` to population ``margins``.

    ``margins``: {variable: {code: population share}}, shares summing to 1
    (±1e-6) or to 100 (±1e-4), keyed by the codes in ``data`` (e.g.
    ``population_margins()``). ``missing`` says what happens to respondents
    missing a raking variable: ``"available"`` (default), ``"impute_mode"``,
    ``"separate"`` or ``"error"`` (the module docstring gives the exact
    algorithms). ``weight_cap``: weights are trimmed to at most this multiple of
    the mean weight and re-raked (None: no trimming). Convergence: largest
    |achieved - target| share <= ``tol`` within ``max_iter`` sweeps (and as many
    trimming rounds).

    Raises ``WeightingError`` listing every problem with the inputs (unknown
    variable, shares that do not sum to 1 or 100, negative or non-numeric
    shares, a category in the data that the margin lacks, a margin category
    without respondents, missing values with ``missing="error"``). Reports,
    and warns about, non-convergence instead of raising.
    """
    _check_options(weight_cap, max_iter, tol, missing)
    prepared, missing_counts, notes = _prepare_margins(data, margins, missing)
    n = len(data)
    cap = None if weight_cap is None else float(weight_cap)
    tol = float(tol)

    w = np.ones(n)
    iterations, converged = 0, False
    dev = _max_deviation(w, prepared)
    if dev <= tol:
        converged = True
    while not converged and iterations < max_iter:
        _sweep(w, prepared)
        iterations += 1
        dev = _max_deviation(w, prepared)
        converged = dev <= tol
    w *= n / w.sum()
    untrimmed_ratio = float(w.max() / w.mean())

    trim_rounds, n_trimmed = 0, 0
    if cap is not None and untrimmed_ratio > cap * (1 + CAP_TOL):
        converged = False
        while trim_rounds < max_iter:
            w *= n / w.sum()
            over = w > cap
            n_trimmed = int(over.sum())
            w[over] = cap
            _sweep(w, prepared)
            w *= n / w.sum()
            trim_rounds += 1
            iterations += 1
            dev = _max_deviation(w, prepared)
            if dev <= tol and w.max() <= cap * (1 + CAP_TOL):
                converged = True
                break

    w *= n / w.sum()
    if not (np.all(np.isfinite(w)) and np.all(w > 0)):
        raise WeightingError("rake: the raking produced non-positive or non-finite weights "
                             f"(min {np.nanmin(w)!r}); the margins are probably incompatible with the data")
    dev = _max_deviation(w, prepared)

    rows = []
    for m in prepared:
        obs = m.index >= 0
        achieved = _achieved(w, m)
        for code, c, t, a in zip(m.codes, m.counts, m.target, achieved):
            rows.append({"variable": m.variable, "code": code, "n": int(c),
                         "sample_pct": 100 * c / obs.sum(), "target_pct": 100 * t,
                         "achieved_pct": 100 * a, "difference_pct": 100 * (a - t)})
    table = pd.DataFrame(rows, columns=["variable", "code", "n", "sample_pct", "target_pct",
                                        "achieved_pct", "difference_pct"])
    deff, n_eff = kish_design_effect(w)

    if not converged:
        worst = table.loc[table["difference_pct"].abs().idxmax()]
        msg = (f"rake did not converge: after {iterations} sweeps ({trim_rounds} trimming rounds) the largest margin "
               f"deviation is {dev:.3g} (tol {tol:g}), at '{worst['variable']}' category {_norm_key(worst['code'])!r} "
               f"(target {worst['target_pct']:.3f} %, achieved {worst['achieved_pct']:.3f} %)")
        if cap is not None:
            infeasible = _infeasible_cap(prepared, cap)
            if infeasible:
                msg += "; the weight cap cannot hold: " + "; ".join(infeasible)
            elif trim_rounds:
                msg += f"; largest weight {w.max() / w.mean():.4g} × the mean (cap {cap:g})"
        notes.append(msg)
        warnings.warn(msg, WeightingWarning, stacklevel=2)

    return RakeResult(
        weights=pd.Series(w, index=data.index, name="weight"), converged=bool(converged),
        iterations=iterations, max_deviation=dev, margins=table, weight_summary=_weight_summary(w),
        design_effect=deff, effective_n=n_eff, n=n, missing=missing, missing_counts=missing_counts,
        weight_cap=cap, trim_rounds=trim_rounds, n_trimmed=n_trimmed,
        untrimmed_max_to_mean=untrimmed_ratio, tol=tol, notes=notes)


# ---------------------------------------------------------------------------
# Design-based estimates (Taylor linearization, as survey::svydesign(ids=~1, weights=~w))
# ---------------------------------------------------------------------------

class Estimate(NamedTuple):
    estimate: float
    se: float
    ci_low: float
    ci_high: float


def _numeric(x, name: str) -> np.ndarray:
    s = x if isinstance(x, pd.Series) else pd.Series(np.asarray(x))
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    try:
        out = pd.to_numeric(s, errors="raise")
    except (TypeError, ValueError) as e:
        raise WeightingError(f"{name}: expected numeric codes or values ({e})") from None
    return out.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _weights(weights, n: int, name: str = "weights") -> np.ndarray:
    w = _numeric(weights, name)
    if len(w) != n:
        raise WeightingError(f"{name}: length {len(w)} does not match the {n} values")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise WeightingError(f"{name}: {int(bad.sum())} missing, negative or infinite weight(s) "
                             f"(first at position {int(np.flatnonzero(bad)[0])}); weights must be finite and >= 0")
    return w


def _pairs(values, weights, name: str = "values") -> tuple[np.ndarray, np.ndarray, int]:
    """(values, weights) of the rows with a value, and the number of rows of the design (all rows given)."""
    y = _numeric(values, name)
    w = _weights(weights, len(y))
    ok = ~np.isnan(y)
    if ok.sum() < 2 or w[ok].sum() <= 0:
        raise WeightingError(f"{name}: need at least 2 non-missing values with positive total weight, got {ok.sum()}")
    return y[ok], w[ok], len(y)


def scores_variance(U: np.ndarray, n_design: int) -> np.ndarray:
    """survey's one-stage variance of summed scores: N/(N-1) * sum over all N rows of (u - mean u)(u - mean u)'.

    ``U`` holds the scores of the respondents in the domain; the other
    N - len(U) rows of the design have score 0 (R pads them, as subset() and
    na.rm=TRUE keep the full design's number of PSUs).
    """
    N = n_design
    u_bar = U.sum(axis=0) / N
    S = U.T @ U - N * np.outer(u_bar, u_bar)
    return N / (N - 1) * S


def _linearized_mean(y: np.ndarray, w: np.ndarray, n_design: int) -> tuple[float, float]:
    """Ratio mean and its SE as survey::svymean: scores z = w (y - ybar) / sum(w), variance as scores_variance."""
    total = w.sum()
    est = float(np.sum(w * y) / total)
    z = (w * (y - est) / total)[:, None]
    return est, float(np.sqrt(scores_variance(z, n_design)[0, 0]))


def _ci(est: float, se: float, level: float) -> Estimate:
    q = sps.norm.ppf(0.5 + level / 2)
    return Estimate(est, se, est - q * se, est + q * se)


def weighted_mean(values, weights, *, level: float = 0.95) -> Estimate:
    """Weighted mean with its linearization SE and a normal-theory CI.

    Equals ``svymean(~y, svydesign(ids=~1, weights=~w), na.rm=TRUE)`` and
    ``confint()`` in R. The rows given are the sample (the design); rows with
    a missing value are a domain left out of the estimate but not of the
    design: as in R, the variance uses the n of all rows given (pass the whole
    sample, not a pre-filtered subset, to match R's ``na.rm``/``subset``).
    Weights must be finite and >= 0. Invariant to rescaling the weights
    (unlike statsmodels' DescrStatsW, which treats them as frequencies).
    """
    y, w, n_design = _pairs(values, weights)
    return _ci(*_linearized_mean(y, w, n_design), level)


def weighted_share(values, weights, codes, *, base_codes=None, level: float = 0.95) -> Estimate:
    """Weighted percent of valid answers in ``codes``, with linearization SE and CI (all in percent).

    Base: the non-missing answers (those in ``base_codes`` if given), as
    ``helpers.share``; the rest are a domain outside the base (see
    ``weighted_mean``). Equals ``svymean(~I(y %in% codes), subset(design, !is.na(y)))``
    times 100 in R; the CI is the Wald interval ``confint()`` gives (it is not
    clipped to 0-100; ``svyciprop`` would give other intervals).
    """
    codes = [codes] if np.isscalar(codes) else list(codes)
    v = _numeric(values, "values")
    w = _weights(weights, len(v))
    ok = ~np.isnan(v)
    if base_codes is not None:
        ok &= np.isin(v, np.asarray(list(base_codes), dtype=float))
    y = np.isin(v[ok], np.asarray(codes, dtype=float)).astype(float)
    w = w[ok]
    if len(y) < 2 or w.sum() <= 0:
        raise WeightingError(f"weighted_share: need at least 2 valid answers with positive total weight, got {len(y)}")
    est, se = _linearized_mean(y, w, len(v))
    e = _ci(est, se, level)
    return Estimate(*(100 * x for x in e))


# ---------------------------------------------------------------------------
# Design-based tests
# ---------------------------------------------------------------------------

def _frame(data: pd.DataFrame, cols: list[str], weights) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows with every column present, and their weights."""
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise WeightingError(f"unknown column(s) {missing}; the data have {list(data.columns)}")
    w = _weights(data[weights] if isinstance(weights, str) else weights, len(data))
    keep = data[cols].notna().all(axis=1).to_numpy()
    return data.loc[keep, cols].reset_index(drop=True), w[keep]


def rao_scott_chi2(data: pd.DataFrame, row: str, col: str, weights, alpha: float = 0.05) -> TestResult:
    """Rao-Scott second-order corrected chi-square test of independence, as R's ``svychisq`` (statistic="F").

    Pearson's X² on the weighted table scaled to n, divided by the trace of the
    generalized design effect matrix Delta, referred to F(d, d (n - 1)) with
    d = tr(Delta)² / tr(Delta²) (one stratum, no clusters: n - 1 design df).
    ``data`` is the sample; respondents missing ``row`` or ``col`` are a
    domain left out, exactly as ``svychisq(~row + col, subset(design,
    !is.na(row) & !is.na(col)))``: the cell variances use the n of all rows
    of ``data``, the design df the n of the respondents with both answers.
    ``weights``: a column name or an array aligned with ``data``. ``effect`` is Cramér's V of the weighted
    table (descriptive). ``detail`` also holds the first-order corrected
    chi-square (``svychisq(statistic="Chisq")``).
    """
    n_design = len(data)
    frame, w = _frame(data, [row, col], weights)
    rlev = sorted(frame[row].map(_norm_key).unique(), key=_sort_key)
    clev = sorted(frame[col].map(_norm_key).unique(), key=_sort_key)
    nr, nc = len(rlev), len(clev)
    if nr < 2 or nc < 2:
        raise WeightingError(f"rao_scott_chi2: need at least 2 categories in '{row}' and in '{col}', got {nr} and {nc}")
    n = len(frame)
    ri = frame[row].map(_norm_key).map({k: i for i, k in enumerate(rlev)}).to_numpy(int)
    ci = frame[col].map(_norm_key).map({k: i for i, k in enumerate(clev)}).to_numpy(int)
    cell = ri + nr * ci                                   # row index fastest, as R's interaction()
    k = nr * nc
    E = np.zeros((n, k))
    E[np.arange(n), cell] = 1.0
    total = w.sum()
    p = E.T @ w / total                                   # cell proportions (svymean of the cell indicators)
    Z = (w / total)[:, None] * (E - p)                    # linearization scores
    V = scores_variance(Z, n_design)

    # Contrasts of the interaction, orthogonal to the main effects (R: qr.resid(qr(X1), X12[, interaction]))
    rf = np.tile(np.arange(nr), nc)
    cf = np.repeat(np.arange(nc), nr)
    X1 = np.column_stack([np.ones(k)] + [(rf == i).astype(float) for i in range(1, nr)]
                         + [(cf == j).astype(float) for j in range(1, nc)])
    X12 = np.column_stack([((rf == i) & (cf == j)).astype(float) for j in range(1, nc) for i in range(1, nr)])
    C = X12 - X1 @ np.linalg.lstsq(X1, X12, rcond=None)[0]
    inv_p = np.where(p == 0, 0.0, 1 / np.where(p == 0, 1, p))
    D_inv = np.diag(inv_p)
    denom = C.T @ (D_inv / n) @ C
    numer = C.T @ D_inv @ V @ D_inv @ C
    delta = np.linalg.solve(denom, numer)
    tr, tr2 = float(np.trace(delta)), float(np.trace(delta @ delta))
    d0 = tr ** 2 / tr2

    table = (p * n).reshape(nc, nr).T                      # weighted counts scaled to n, rows x cols
    chi2, _, dof, expected = sps.chi2_contingency(table, correction=False)
    F = float(chi2 / tr)
    df1, df2 = d0, d0 * (n - 1)
    pval = float(sps.f.sf(F, df1, df2))
    v = float(np.sqrt(chi2 / (n * (min(nr, nc) - 1))))
    first_order = float(chi2 / (tr / dof))
    wtab = pd.DataFrame(table, index=rlev, columns=clev)
    return TestResult("rao_scott_f", F, (df1, df2), pval, v, "Cramérs V (vektet)", n, alpha,
                      {"pearson_chi2": float(chi2), "pearson_df": int(dof), "n_design": n_design,
                       "mean_design_effect": float(tr / dof), "chisq_first_order": first_order,
                       "chisq_first_order_p": float(sps.chi2.sf(first_order, dof)),
                       "weighted_table": wtab.to_dict()})


def _sort_key(k):
    return (0, k, "") if isinstance(k, (int, float)) else (1, 0, str(k))


def _wls_sandwich(y: np.ndarray, X: np.ndarray, w: np.ndarray, n_design: int) -> tuple[np.ndarray, np.ndarray]:
    """WLS coefficients and svyglm's variance: N/(N-1) * A^-1 (sum w² r² x x') A^-1, A = X'WX.

    With N = the rows in the fit this is HC0 times n/(n-1); with a domain
    (subset) N is the whole sample's n, as in R.
    """
    A = X.T @ (w[:, None] * X)
    beta = np.linalg.solve(A, X.T @ (w * y))
    r = y - X @ beta
    U = (w * r)[:, None] * X @ np.linalg.inv(A)            # influence of each respondent on beta
    return beta, scores_variance(U, n_design)


def _group_frame(values, groups, weights) -> tuple[np.ndarray, pd.Series, np.ndarray]:
    """Values, group codes and weights of the rows with both a value and a group."""
    y = _numeric(values, "values")
    g = groups if isinstance(groups, pd.Series) else pd.Series(np.asarray(groups, dtype=object))
    g = g.reset_index(drop=True)
    if len(g) != len(y):
        raise WeightingError(f"groups: length {len(g)} does not match the {len(y)} values")
    w = _weights(weights, len(y))
    ok = ~np.isnan(y) & g.notna().to_numpy()
    return y[ok], g[ok].map(_norm_key).reset_index(drop=True), w[ok]


def weighted_mean_difference(values, groups, weights, a, b, alpha: float = 0.05) -> TestResult:
    """Design-based test of the difference in means between group codes ``a`` and ``b``.

    Weighted regression of y on a dummy for group ``a`` (reference ``b``) among
    respondents in either group, with svyglm's sandwich standard error; t on
    n_ab - 2 df. Pass the whole sample: the respondents of other groups or
    without a value are a domain left out, and the variance uses the n of all
    rows given, exactly as ``svyglm(y ~ I(g == a), subset(design, g %in% c(a, b)
    & !is.na(y)))`` in R (with only the two groups given this is HC0 times
    n/(n-1)).
    ``effect`` is mean(a) - mean(b) (the coefficient).
    """
    n_design = len(values)
    y, g, w = _group_frame(values, groups, weights)
    a, b = _norm_key(a), _norm_key(b)
    keep = g.isin([a, b]).to_numpy()
    y, g, w = y[keep], g[keep], w[keep]
    ga = (g == a).to_numpy()
    na, nb = int(ga.sum()), int((~ga).sum())
    if na < 1 or nb < 1 or na + nb < 3:
        raise WeightingError(f"weighted_mean_difference: groups {a!r} and {b!r} have {na} and {nb} valid values")
    X = np.column_stack([np.ones(len(y)), ga.astype(float)])
    beta, V = _wls_sandwich(y, X, w, n_design)
    se = float(np.sqrt(V[1, 1]))
    t = float(beta[1] / se)
    n = len(y)
    df = n - 2
    p = float(2 * sps.t.sf(abs(t), df))
    mean_b = float(beta[0])
    return TestResult("svyglm_t", t, df, p, float(beta[1]), "Differanse (vektet)", n, alpha,
                      {"mean_a": mean_b + float(beta[1]), "mean_b": mean_b, "se": se, "n_a": na, "n_b": nb,
                       "intercept_se": float(np.sqrt(V[0, 0])), "n_design": n_design})


def weighted_anova(values, groups, weights, alpha: float = 0.05) -> TestResult:
    """Design-based one-way test: Wald F of all group dummies, as R's ``regTermTest(svyglm(y ~ g), ~g)``.

    F = b' V^-1 b / (k - 1) for the k - 1 group dummies with svyglm's
    variance, on (k - 1, n - k) df. Respondents without a value or group are
    a domain left out (as ``weighted_mean_difference``). ``effect`` is the
    weighted eta² (descriptive); ``detail`` has the weighted group means.
    """
    n_design = len(values)
    y, g, w = _group_frame(values, groups, weights)
    levels = sorted(g.unique(), key=_sort_key)
    k, n = len(levels), len(y)
    if k < 2 or n <= k:
        raise WeightingError(f"weighted_anova: need at least 2 groups and more values than groups, got {k} and {n}")
    X = np.column_stack([np.ones(n)] + [(g == lev).to_numpy(float) for lev in levels[1:]])
    beta, V = _wls_sandwich(y, X, w, n_design)
    b, Vb = beta[1:], V[1:, 1:]
    F = float(b @ np.linalg.solve(Vb, b) / (k - 1))
    df = (k - 1, n - k)
    p = float(sps.f.sf(F, *df))
    grand = np.sum(w * y) / w.sum()
    means = {str(lev): float(np.average(y[(g == lev).to_numpy()], weights=w[(g == lev).to_numpy()])) for lev in levels}
    ss_between = sum(w[(g == lev).to_numpy()].sum() * (means[str(lev)] - grand) ** 2 for lev in levels)
    ss_total = np.sum(w * (y - grand) ** 2)
    return TestResult("wald_f", F, df, p, float(ss_between / ss_total), "eta² (vektet)", n, alpha,
                      {"means": means, "reference": str(levels[0]), "n_design": n_design})


# ---------------------------------------------------------------------------
# Replicate weights (JK1, delete-a-group, each replicate re-raked)
# ---------------------------------------------------------------------------

@dataclass
class ReplicateWeights:
    """JK1 replicate weights: column r has the weights of replicate r (0 for the deleted group), re-raked."""

    full: RakeResult
    replicates: pd.DataFrame          # n x groups, aligned with data.index; each column sums to n
    group: pd.Series                  # the deleted-group number (0..groups-1) of each respondent
    scale: float                      # (G - 1) / G
    converged: list                   # per replicate
    seed: int

    @property
    def weights(self) -> pd.Series:
        return self.full.weights


def jackknife_replicates(data: pd.DataFrame, margins: Mapping, *, groups: int = DEFAULT_JK_GROUPS,
                         seed: int = DEFAULT_JK_SEED, **rake_kwargs) -> ReplicateWeights:
    """JK1 delete-a-group replicate weights, every replicate re-raked to the margins.

    Respondents are put into ``groups`` random groups of (nearly) equal size
    (a seeded permutation). Replicate r leaves out group r (weight 0) and rakes
    the remaining respondents to ``margins`` with the same ``rake_kwargs``
    (trimming, missing handling) as the full sample, normalised to sum to n.
    Use with ``replicate_se``; the variance is (G-1)/G * sum (theta_r - mean theta)².
    A replicate that cannot be raked (e.g. it loses every respondent of a
    small margin category) raises ``WeightingError`` naming the replicate.
    """
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or not 2 <= groups <= len(data):
        raise WeightingError(f"jackknife_replicates: groups={groups!r}; expected an integer from 2 to n = {len(data)}")
    full = rake(data, margins, **rake_kwargs)
    n = len(data)
    rng = np.random.default_rng(seed)
    group = np.empty(n, dtype=int)
    group[rng.permutation(n)] = np.arange(n) % groups
    reps = np.zeros((n, groups))
    conv = []
    for r in range(groups):
        keep = group != r
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", WeightingWarning)
            try:
                res = rake(data.loc[keep], margins, **rake_kwargs)
            except WeightingError as e:
                raise WeightingError(f"jackknife replicate {r} (group of {int((~keep).sum())} respondents left out) "
                                     f"cannot be raked; use fewer groups or collapse small categories:\n{e}") from None
        if not res.converged:
            warnings.warn(f"jackknife replicate {r}: " + "; ".join(str(c.message) for c in caught),
                          WeightingWarning, stacklevel=2)
        w = res.weights.to_numpy()
        reps[keep, r] = w * n / w.sum()
        conv.append(bool(res.converged))
    width = len(str(groups))
    cols = [f"rep_{r + 1:0{width}d}" for r in range(groups)]
    return ReplicateWeights(full, pd.DataFrame(reps, index=data.index, columns=cols),
                            pd.Series(group, index=data.index, name="jk_group"), (groups - 1) / groups, conv, seed)


def replicate_se(statistic: Callable[[np.ndarray], float], replicates: ReplicateWeights, *,
                 mse: bool = False) -> tuple[float, float]:
    """(estimate, SE) of ``statistic(weights)`` from JK1 replicate weights.

    ``statistic`` gets a weight vector aligned with the data (zeros for the
    deleted group) and returns a number, e.g.
    ``lambda w: np.average(y[ok], weights=w[ok])``. Variance:
    (G-1)/G * sum_r (theta_r - c)², c = the mean of the replicates (R's
    ``svrepdesign(type="JK1")`` default) or the full-sample estimate (``mse=True``).
    """
    est = float(statistic(replicates.full.weights.to_numpy()))
    thetas = np.array([float(statistic(replicates.replicates[c].to_numpy())) for c in replicates.replicates.columns])
    centre = est if mse else thetas.mean()
    return est, float(np.sqrt(replicates.scale * np.sum((thetas - centre) ** 2)))


# ---------------------------------------------------------------------------
# Population margins (data/reference/population_margins.yml)
# ---------------------------------------------------------------------------

def population_margins(path: str | Path | None = None, *, total_employed: float | None = None,
                       industry: str = "industry_11", codebook=None) -> dict:
    """The raking margins {variable: {code: share}} from population_margins.yml, keyed by codebook codes.

    Every block of the yml with a ``variable:`` becomes a margin (today
    ``industry_11``, ``sector_group``, ``size_group``; ``office_work_share``
    has no codebook variable and is left out). Labels are mapped to codes
    with the codebook's value labels of that variable; an unknown label, a
    codebook category the block lacks, or a null value (other than the one
    below) is an error. Shares are proportions summing to 1.

    Assumptions, stated here because the yml cannot hold them yet:

    * 'Andre bransjer' (industry_11 code 11) is null in the yml (the report
      prints '-'). Its employment is derived as ``total_employed`` minus the
      ten listed industries, and every industry share is divided by
      ``total_employed`` (the argument, else the yml's ``total_employed``,
      else ``TOTAL_EMPLOYED_2023``). Default: 2 900 000, SSB's
      number of employed persons in Norway in 2023, rounded ("about 2.9
      million"); with the listed 2 304 200 this gives 595 800 (20.5 %).
      The figure should be added to the yml with its exact SSB table; once
      the yml gives 'Andre bransjer' a number, ``total_employed`` is not used
      and the shares are divided by the sum of the eleven values.
    * Percent blocks printed as rounded whole percentages need not sum to 100
      (size: 48 + 19 + 32 = 99). A sum within 0.5 points per category of 100
      (the most rounding can explain) is divided by its sum; a larger gap is
      an error.

    ``industry="industry_group"`` returns the industry margin aggregated to
    the codebook's ``industry_group`` recode (8 groups) instead of
    ``industry_11``. Raking the analysis sample on ``industry_11`` with the
    default weight cap is infeasible on the report's counts (33 respondents
    in Varehandel against 12.6 % of employment), so the grouped margin is
    the practical choice.
    """
    if codebook is None:
        from src.codebook import load
        codebook = load()
    from src.helpers import load_margins

    p = paths.resolve(path) if path else paths.POPULATION_MARGINS
    raw = load_margins(p)
    where = paths.relative(p)
    problems: list[str] = []
    out: dict[str, dict] = {}
    for block, spec in raw.items():
        if not isinstance(spec, Mapping) or "variable" not in spec:
            continue
        var, unit, values = spec["variable"], spec.get("unit"), spec.get("values") or {}
        try:
            labels = codebook.value_labels(var)
        except KeyError:
            problems.append(f"{block}: variable '{var}' is not in the codebook")
            continue
        code_of = {lab: code for code, lab in labels.items()}
        unknown = [lab for lab in values if lab not in code_of]
        if unknown:
            problems.append(f"{block}: label(s) {unknown} are not value labels of '{var}' "
                            f"(expected {list(code_of)})")
        lacking = [lab for lab in code_of if lab not in values]
        if lacking:
            problems.append(f"{block}: categories {lacking} of '{var}' have no value")
        if unknown or lacking:
            continue
        nulls = [lab for lab, v in values.items() if v is None]
        if unit == "persons":
            if nulls and (len(nulls) > 1 or code_of[nulls[0]] != max(code_of.values())):
                problems.append(f"{block}: null value(s) for {nulls}; only the residual last category "
                                "('Andre bransjer') can be derived from the total")
                continue
            known = sum(float(v) for v in values.values() if v is not None)
            if nulls:
                # an explicit argument, else the yml's own total (with its source), else the default
                total_employed = float(total_employed or spec.get("total_employed") or TOTAL_EMPLOYED_2023)
                residual = float(total_employed) - known
                if residual <= 0:
                    problems.append(f"{block}: total_employed={total_employed} is not above the listed {known:.0f}")
                    continue
                counts = {lab: (residual if v is None else float(v)) for lab, v in values.items()}
            else:
                counts = {lab: float(v) for lab, v in values.items()}
            total = sum(counts.values())
            out[var] = {code_of[lab]: c / total for lab, c in counts.items()}
        elif unit == "percent":
            if nulls:
                problems.append(f"{block}: null value(s) for {nulls}")
                continue
            total = sum(float(v) for v in values.values())
            slack = 0.5 * len(values)
            if abs(total - 100) > slack:
                problems.append(f"{block}: percentages sum to {total:g}, more than rounding "
                                f"(±{slack:g}) away from 100")
                continue
            out[var] = {code_of[lab]: float(v) / total for lab, v in values.items()}
        else:
            problems.append(f"{block}: unit {unit!r}; expected 'persons' or 'percent'")
    _fail(problems, f"population_margins: {where}")

    if industry != "industry_11":
        rec = codebook.recodes.get(industry)
        if rec is None or rec.source != "industry_11" or "industry_11" not in out:
            raise WeightingError(f"population_margins: industry={industry!r}; expected 'industry_11' or a recode of "
                                 "industry_11 such as 'industry_group'")
        grouped: dict[int, float] = {code: 0.0 for code in codebook.value_labels(industry)}
        for code, share in out.pop("industry_11").items():
            grouped[rec.map[code]] += share
        out[industry] = grouped
    return out
