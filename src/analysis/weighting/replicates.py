"""Jackknife replicate weights (raking repeated without each group) and replicate standard errors."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from src.analysis.weighting.raking import RakeResult, WeightingError, WeightingWarning, rake

DEFAULT_JK_GROUPS = 50


DEFAULT_JK_SEED = 2024_01349


@dataclass
class ReplicateWeights:
    """JK1 replicate weights: column r has the weights of replicate r (0 for the deleted group), re-raked."""

    full: RakeResult
    replicates: pd.DataFrame  # n x groups, aligned with data.index; each column sums to n
    group: pd.Series  # the deleted-group number (0..groups-1) of each respondent
    scale: float  # (G - 1) / G
    converged: list  # per replicate
    seed: int

    @property
    def weights(self) -> pd.Series:
        return self.full.weights


def jackknife_replicates(
    data: pd.DataFrame, margins: Mapping, *, groups: int = DEFAULT_JK_GROUPS, seed: int = DEFAULT_JK_SEED, **rake_kwargs
) -> ReplicateWeights:
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
                raise WeightingError(
                    f"jackknife replicate {r} (group of {int((~keep).sum())} respondents left out) "
                    f"cannot be raked; use fewer groups or collapse small categories:\n{e}"
                ) from None
        if not res.converged:
            warnings.warn(
                f"jackknife replicate {r}: " + "; ".join(str(c.message) for c in caught), WeightingWarning, stacklevel=2
            )
        w = res.weights.to_numpy()
        reps[keep, r] = w * n / w.sum()
        conv.append(bool(res.converged))
    width = len(str(groups))
    cols = [f"rep_{r + 1:0{width}d}" for r in range(groups)]
    return ReplicateWeights(
        full,
        pd.DataFrame(reps, index=data.index, columns=cols),
        pd.Series(group, index=data.index, name="jk_group"),
        (groups - 1) / groups,
        conv,
        seed,
    )


def replicate_se(
    statistic: Callable[[np.ndarray], float], replicates: ReplicateWeights, *, mse: bool = False
) -> tuple[float, float]:
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
