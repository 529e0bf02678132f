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
  ``src/analysis/multivariable.py`` (``fit_ordinal``), not here.

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


The package, one module per concern, each readable alone:

* ``raking``        weights: raking to margins, trimming, diagnostics, the compendium's weights (``add_weights``)
* ``estimation``    weighted means and shares with linearized standard errors
* ``design_tests``  Rao-Scott chi-square, weighted t-test and ANOVA (design-based regression)
* ``replicates``    jackknife replicate weights and replicate standard errors
"""

from src.analysis.weighting.design_tests import rao_scott_chi2, weighted_anova, weighted_mean_difference
from src.analysis.weighting.estimation import Estimate, scores_variance, weighted_mean, weighted_share
from src.analysis.weighting.raking import (
    RAKING_VARIABLES,
    TOTAL_EMPLOYED_2023,
    WEIGHT_CAP,
    RakeResult,
    WeightingError,
    WeightingWarning,
    add_weights,
    kish_design_effect,
    population_margins,
    rake,
)
from src.analysis.weighting.replicates import ReplicateWeights, jackknife_replicates, replicate_se

__all__ = [
    "WeightingError",
    "WeightingWarning",
    "RakeResult",
    "rake",
    "kish_design_effect",
    "add_weights",
    "RAKING_VARIABLES",
    "WEIGHT_CAP",
    "Estimate",
    "weighted_mean",
    "weighted_share",
    "rao_scott_chi2",
    "weighted_mean_difference",
    "weighted_anova",
    "ReplicateWeights",
    "jackknife_replicates",
    "replicate_se",
    "scores_variance",
    "population_margins",
    "TOTAL_EMPLOYED_2023",
]
