"""Raking (iterative proportional fitting) to SSB margins, with trimming: the weights of the sensitivity analysis."""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from src.base import paths
from src.base.codebook import Codebook
from src.base.codebook import load as load_codebook
from src.base.numbers import fmt_number
from src.base.reference import load_margins

MISSING_MODES = ("available", "impute_mode", "separate", "error")
MISSING_CATEGORY = "missing"  # the code of the extra category with missing="separate"
SUM_TOL_PROPORTION = 1e-6  # margins given as proportions must sum to 1 within this
SUM_TOL_PERCENT = 1e-4  # ... or, given as percent, to 100 within this (same relative tolerance)
CAP_TOL = 1e-6  # the cap holds to this relative tolerance when trimming converges
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


def norm_key(k):
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

    weights: pd.Series  # aligned with data.index, positive, finite, sum = n
    converged: bool
    iterations: int  # raking sweeps, trimming rounds included
    max_deviation: float  # largest |achieved - target| share (proportion, 0-1)
    margins: pd.DataFrame
    weight_summary: dict  # min, p5, median, p95, max, mean, max_to_mean
    design_effect: float  # Kish: n * sum(w^2) / sum(w)^2
    effective_n: float  # n / design_effect
    n: int
    missing: str
    missing_counts: dict  # variable -> respondents missing it
    weight_cap: float | None
    trim_rounds: int = 0
    n_trimmed: int = 0  # weights cut to the cap in the last trimming round
    untrimmed_max_to_mean: float = float("nan")
    tol: float = 1e-8
    notes: list = field(default_factory=list)

    def describe(self, lang: str = "nb") -> str:
        """One line for a notebook: convergence, weight range, trimming, Kish deff and effective n."""

        def f(x, d=2):
            return fmt_number(x, d, lang)

        s = self.weight_summary
        if lang == "nb":
            conv = (
                f"konvergerte etter {self.iterations} runder"
                if self.converged
                else f"konvergerte IKKE ({self.iterations} runder)"
            )
            cap = (
                f"; {self.n_trimmed} vekter avkortet til {f(self.weight_cap, 1)} × snittet"
                if self.weight_cap is not None and self.trim_rounds
                else ""
            )
            return (
                f"Raking {conv}, største avvik {self.max_deviation:.1e}; vekter {f(s['min'])}–{f(s['max'])}"
                f"{cap}; designeffekt (Kish) {f(self.design_effect)}, "
                f"effektivt n {f(self.effective_n, 0)} av {self.n}"
            )
        conv = (
            f"converged after {self.iterations} sweeps"
            if self.converged
            else f"did NOT converge ({self.iterations} sweeps)"
        )
        cap = (
            f"; {self.n_trimmed} weights trimmed to {f(self.weight_cap, 1)} × the mean"
            if self.weight_cap is not None and self.trim_rounds
            else ""
        )
        return (
            f"Raking {conv}, largest deviation {self.max_deviation:.1e}; weights {f(s['min'])}–{f(s['max'])}"
            f"{cap}; Kish design effect {f(self.design_effect)}, effective n {f(self.effective_n, 0)} of {self.n}"
        )


@dataclass
class _Margin:
    variable: str
    codes: list  # category codes in margin order (MISSING_CATEGORY last with 'separate')
    target: np.ndarray  # proportions, sum 1
    index: np.ndarray  # per respondent: position in codes, -1 = not counted
    counts: np.ndarray  # respondents per category


def kish_design_effect(weights) -> tuple[float, float]:
    """Kish's design effect due to weighting, n * sum(w^2) / sum(w)^2, and the effective n = n / deff."""
    w = np.asarray(weights, dtype=float)
    n = len(w)
    deff = float(n * np.sum(w**2) / np.sum(w) ** 2)
    return deff, float(n / deff)


def _weight_summary(w: np.ndarray) -> dict:
    mean = float(w.mean())
    return {
        "min": float(w.min()),
        "p5": float(np.percentile(w, 5)),
        "median": float(np.median(w)),
        "p95": float(np.percentile(w, 95)),
        "max": float(w.max()),
        "mean": mean,
        "max_to_mean": float(w.max() / mean),
    }


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
        key = norm_key(code)
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
        scale = total  # removes the last bit of rounding so the targets sum to exactly 1
    else:
        problems.append(
            f"{where}: shares sum to {total:.10g}; expected 1 (±{SUM_TOL_PROPORTION:g}) "
            f"or 100 (±{SUM_TOL_PERCENT:g}); fix the margin (rounded published percentages "
            "must be adjusted deliberately, see population_margins)"
        )
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
        keys = np.array([norm_key(v) if not m else None for v, m in zip(col.tolist(), isna)], dtype=object)
        observed = pd.Series(keys[~isna]).value_counts(sort=False)
        counts = {k: int(c) for k, c in observed.items()}
        where = f"variable '{var}'"
        if n_missing == n:
            problems.append(f"{where}: every respondent is missing it; nothing to rake")
            continue
        if missing == "error" and n_missing:
            problems.append(
                f"{where}: {n_missing} respondent(s) missing it (missing='error'); "
                "choose missing='available', 'impute_mode' or 'separate', or fix the data"
            )
        bad = False
        unknown = {k: c for k, c in counts.items() if k not in shares}
        for k, c in unknown.items():
            problems.append(
                f"{where}: category {k!r} ({c} respondent(s)) is not in the margin "
                f"(margin categories: {', '.join(map(repr, shares))})"
            )
            bad = True
        if unknown and all(isinstance(k, str) for k in shares) and not any(isinstance(k, str) for k in counts):
            problems.append(
                f"{where}: the margin is keyed by strings ({', '.join(map(repr, shares))}) but the data "
                "hold numeric codes; key margins by the codebook's codes (see population_margins)"
            )
        for k, s in shares.items():
            c = counts.get(k, 0)
            if c == 0 and s > 0:
                problems.append(
                    f"{where}: margin category {k!r} (share {s:.6g}) has no respondents in the data; "
                    "collapse it with another category"
                )
                bad = True
            elif c > 0 and s == 0:
                problems.append(
                    f"{where}: margin category {k!r} has share 0 but {c} respondent(s); "
                    "their weights would have to be 0"
                )
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
            mode = int(np.argmax(cnt))  # ties: first in margin order
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
                out.append(
                    f"'{m.variable}' category {code!r}: {c} respondent(s) must carry an average weight of "
                    f"{nd:.2f} × the mean, above the cap {cap:g}"
                )
    return out


def rake(
    data: pd.DataFrame,
    margins: Mapping,
    *,
    weight_cap: float | None = 5.0,
    max_iter: int = 100,
    tol: float = 1e-8,
    missing: str = "available",
) -> RakeResult:
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
        raise WeightingError(
            "rake: the raking produced non-positive or non-finite weights "
            f"(min {np.nanmin(w)!r}); the margins are probably incompatible with the data"
        )
    dev = _max_deviation(w, prepared)

    rows = []
    for m in prepared:
        obs = m.index >= 0
        achieved = _achieved(w, m)
        for code, c, t, a in zip(m.codes, m.counts, m.target, achieved):
            rows.append(
                {
                    "variable": m.variable,
                    "code": code,
                    "n": int(c),
                    "sample_pct": 100 * c / obs.sum(),
                    "target_pct": 100 * t,
                    "achieved_pct": 100 * a,
                    "difference_pct": 100 * (a - t),
                }
            )
    table = pd.DataFrame(
        rows, columns=["variable", "code", "n", "sample_pct", "target_pct", "achieved_pct", "difference_pct"]
    )
    deff, n_eff = kish_design_effect(w)

    if not converged:
        worst = table.loc[table["difference_pct"].abs().idxmax()]
        msg = (
            f"rake did not converge: after {iterations} sweeps ({trim_rounds} trimming rounds) the largest margin "
            f"deviation is {dev:.3g} (tol {tol:g}), at '{worst['variable']}' category {norm_key(worst['code'])!r} "
            f"(target {worst['target_pct']:.3f} %, achieved {worst['achieved_pct']:.3f} %)"
        )
        if cap is not None:
            infeasible = _infeasible_cap(prepared, cap)
            if infeasible:
                msg += "; the weight cap cannot hold: " + "; ".join(infeasible)
            elif trim_rounds:
                msg += f"; largest weight {w.max() / w.mean():.4g} × the mean (cap {cap:g})"
        notes.append(msg)
        warnings.warn(msg, WeightingWarning, stacklevel=2)

    return RakeResult(
        weights=pd.Series(w, index=data.index, name="weight"),
        converged=bool(converged),
        iterations=iterations,
        max_deviation=dev,
        margins=table,
        weight_summary=_weight_summary(w),
        design_effect=deff,
        effective_n=n_eff,
        n=n,
        missing=missing,
        missing_counts=missing_counts,
        weight_cap=cap,
        trim_rounds=trim_rounds,
        n_trimmed=n_trimmed,
        untrimmed_max_to_mean=untrimmed_ratio,
        tol=tol,
        notes=notes,
    )


# ---------------------------------------------------------------------------
# Design-based estimates (Taylor linearization, as survey::svydesign(ids=~1, weights=~w))
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# Design-based tests
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# Replicate weights (JK1, delete-a-group, each replicate re-raked)
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# Population margins (data/reference/population_margins.yml)
# ---------------------------------------------------------------------------


def population_margins(
    path: str | Path | None = None, *, total_employed: float | None = None, industry: str = "industry_11", codebook=None
) -> dict:
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
        codebook = load_codebook()

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
            problems.append(f"{block}: label(s) {unknown} are not value labels of '{var}' (expected {list(code_of)})")
        lacking = [lab for lab in code_of if lab not in values]
        if lacking:
            problems.append(f"{block}: categories {lacking} of '{var}' have no value")
        if unknown or lacking:
            continue
        nulls = [lab for lab, v in values.items() if v is None]
        if unit == "persons":
            if nulls and (len(nulls) > 1 or code_of[nulls[0]] != max(code_of.values())):
                problems.append(
                    f"{block}: null value(s) for {nulls}; only the residual last category "
                    "('Andre bransjer') can be derived from the total"
                )
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
                problems.append(f"{block}: percentages sum to {total:g}, more than rounding (±{slack:g}) away from 100")
                continue
            out[var] = {code_of[lab]: float(v) / total for lab, v in values.items()}
        else:
            problems.append(f"{block}: unit {unit!r}; expected 'persons' or 'percent'")
    _fail(problems, f"population_margins: {where}")

    if industry != "industry_11":
        rec = codebook.recodes.get(industry)
        if rec is None or rec.source != "industry_11" or "industry_11" not in out:
            raise WeightingError(
                f"population_margins: industry={industry!r}; expected 'industry_11' or a recode of "
                "industry_11 such as 'industry_group'"
            )
        grouped: dict[int, float] = {code: 0.0 for code in codebook.value_labels(industry)}
        for code, share in out.pop("industry_11").items():
            grouped[rec.map[code]] += share
        out[industry] = grouped
    return out


RAKING_VARIABLES = ("sector_group", "size_group", "industry_group")


WEIGHT_CAP = 5.0  # no weight above 5 x the mean weight (trimmed, then raked again)


def add_weights(sample: pd.DataFrame, codebook: Codebook | None = None):
    """Raking weights for the analysis sample (column ``weight``), and the raking result.

    Margins: sector (SSB 13472), firm size (SSB 14150) and the industry groups
    (Tabell 4's SSB column) from data/reference/population_margins.yml. The
    report does not weight: the weights serve the sensitivity analysis
    (``weighted: true``), never the default numbers. Respondents missing a
    raking variable keep it missing and are raked on the others
    (``weighting.rake(missing='available')``).
    """
    cb = codebook or load_codebook()
    margins = population_margins(industry="industry_group", codebook=cb)
    margins = {v: margins[v] for v in RAKING_VARIABLES}
    result = rake(sample, margins, weight_cap=WEIGHT_CAP, missing="available")
    return sample.assign(weight=result.weights.to_numpy()), result
