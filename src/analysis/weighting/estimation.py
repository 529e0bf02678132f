"""Design-based estimates under raking weights: weighted means and shares with linearized standard errors."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as sps

from src.analysis.weighting.raking import WeightingError


class Estimate(NamedTuple):
    estimate: float
    se: float
    ci_low: float
    ci_high: float


def as_numeric(x, name: str) -> np.ndarray:
    s = x if isinstance(x, pd.Series) else pd.Series(np.asarray(x))
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    try:
        out = pd.to_numeric(s, errors="raise")
    except (TypeError, ValueError) as e:
        raise WeightingError(f"{name}: expected numeric codes or values ({e})") from None
    return out.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def as_weights(weights, n: int, name: str = "weights") -> np.ndarray:
    w = as_numeric(weights, name)
    if len(w) != n:
        raise WeightingError(f"{name}: length {len(w)} does not match the {n} values")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise WeightingError(
            f"{name}: {int(bad.sum())} missing, negative or infinite weight(s) "
            f"(first at position {int(np.flatnonzero(bad)[0])}); weights must be finite and >= 0"
        )
    return w


def _pairs(values, weights, name: str = "values") -> tuple[np.ndarray, np.ndarray, int]:
    """(values, weights) of the rows with a value, and the number of rows of the design (all rows given)."""
    y = as_numeric(values, name)
    w = as_weights(weights, len(y))
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
    v = as_numeric(values, "values")
    w = as_weights(weights, len(v))
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
