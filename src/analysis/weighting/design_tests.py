"""Design-based tests under raking weights: Rao-Scott chi-square, weighted t-test and ANOVA by weighted regression."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from src.analysis.stats import TestResult
from src.analysis.weighting.estimation import as_numeric, as_weights, scores_variance
from src.analysis.weighting.raking import WeightingError, norm_key


def _frame(data: pd.DataFrame, cols: list[str], weights) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows with every column present, and their weights."""
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise WeightingError(f"unknown column(s) {missing}; the data have {list(data.columns)}")
    w = as_weights(data[weights] if isinstance(weights, str) else weights, len(data))
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
    rlev = sorted(frame[row].map(norm_key).unique(), key=_sort_key)
    clev = sorted(frame[col].map(norm_key).unique(), key=_sort_key)
    nr, nc = len(rlev), len(clev)
    if nr < 2 or nc < 2:
        raise WeightingError(f"rao_scott_chi2: need at least 2 categories in '{row}' and in '{col}', got {nr} and {nc}")
    n = len(frame)
    ri = frame[row].map(norm_key).map({k: i for i, k in enumerate(rlev)}).to_numpy(int)
    ci = frame[col].map(norm_key).map({k: i for i, k in enumerate(clev)}).to_numpy(int)
    cell = ri + nr * ci  # row index fastest, as R's interaction()
    k = nr * nc
    E = np.zeros((n, k))
    E[np.arange(n), cell] = 1.0
    total = w.sum()
    p = E.T @ w / total  # cell proportions (svymean of the cell indicators)
    Z = (w / total)[:, None] * (E - p)  # linearization scores
    V = scores_variance(Z, n_design)

    # Contrasts of the interaction, orthogonal to the main effects (R: qr.resid(qr(X1), X12[, interaction]))
    rf = np.tile(np.arange(nr), nc)
    cf = np.repeat(np.arange(nc), nr)
    X1 = np.column_stack(
        [np.ones(k)] + [(rf == i).astype(float) for i in range(1, nr)] + [(cf == j).astype(float) for j in range(1, nc)]
    )
    X12 = np.column_stack([((rf == i) & (cf == j)).astype(float) for j in range(1, nc) for i in range(1, nr)])
    C = X12 - X1 @ np.linalg.lstsq(X1, X12, rcond=None)[0]
    inv_p = np.where(p == 0, 0.0, 1 / np.where(p == 0, 1, p))
    D_inv = np.diag(inv_p)
    denom = C.T @ (D_inv / n) @ C
    numer = C.T @ D_inv @ V @ D_inv @ C
    delta = np.linalg.solve(denom, numer)
    tr, tr2 = float(np.trace(delta)), float(np.trace(delta @ delta))
    d0 = tr**2 / tr2

    table = (p * n).reshape(nc, nr).T  # weighted counts scaled to n, rows x cols
    chi2, _, dof, expected = sps.chi2_contingency(table, correction=False)
    F = float(chi2 / tr)
    df1, df2 = d0, d0 * (n - 1)
    pval = float(sps.f.sf(F, df1, df2))
    v = float(np.sqrt(chi2 / (n * (min(nr, nc) - 1))))
    first_order = float(chi2 / (tr / dof))
    wtab = pd.DataFrame(table, index=rlev, columns=clev)
    return TestResult(
        "rao_scott_f",
        F,
        (df1, df2),
        pval,
        v,
        "Cramérs V (vektet)",
        n,
        alpha,
        {
            "pearson_chi2": float(chi2),
            "pearson_df": int(dof),
            "n_design": n_design,
            "mean_design_effect": float(tr / dof),
            "chisq_first_order": first_order,
            "chisq_first_order_p": float(sps.chi2.sf(first_order, dof)),
            "weighted_table": wtab.to_dict(),
        },
    )


def _sort_key(k):
    return (0, k, "") if isinstance(k, (int, float)) else (1, 0, str(k))


def wls_sandwich(y: np.ndarray, X: np.ndarray, w: np.ndarray, n_design: int) -> tuple[np.ndarray, np.ndarray]:
    """WLS coefficients and svyglm's variance: N/(N-1) * A^-1 (sum w² r² x x') A^-1, A = X'WX.

    With N = the rows in the fit this is HC0 times n/(n-1); with a domain
    (subset) N is the whole sample's n, as in R.
    """
    A = X.T @ (w[:, None] * X)
    beta = np.linalg.solve(A, X.T @ (w * y))
    r = y - X @ beta
    U = (w * r)[:, None] * X @ np.linalg.inv(A)  # influence of each respondent on beta
    return beta, scores_variance(U, n_design)


def _group_frame(values, groups, weights) -> tuple[np.ndarray, pd.Series, np.ndarray]:
    """Values, group codes and weights of the rows with both a value and a group."""
    y = as_numeric(values, "values")
    g = groups if isinstance(groups, pd.Series) else pd.Series(np.asarray(groups, dtype=object))
    g = g.reset_index(drop=True)
    if len(g) != len(y):
        raise WeightingError(f"groups: length {len(g)} does not match the {len(y)} values")
    w = as_weights(weights, len(y))
    ok = ~np.isnan(y) & g.notna().to_numpy()
    return y[ok], g[ok].map(norm_key).reset_index(drop=True), w[ok]


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
    a, b = norm_key(a), norm_key(b)
    keep = g.isin([a, b]).to_numpy()
    y, g, w = y[keep], g[keep], w[keep]
    ga = (g == a).to_numpy()
    na, nb = int(ga.sum()), int((~ga).sum())
    if na < 1 or nb < 1 or na + nb < 3:
        raise WeightingError(f"weighted_mean_difference: groups {a!r} and {b!r} have {na} and {nb} valid values")
    X = np.column_stack([np.ones(len(y)), ga.astype(float)])
    beta, V = wls_sandwich(y, X, w, n_design)
    se = float(np.sqrt(V[1, 1]))
    t = float(beta[1] / se)
    n = len(y)
    df = n - 2
    p = float(2 * sps.t.sf(abs(t), df))
    mean_b = float(beta[0])
    return TestResult(
        "svyglm_t",
        t,
        df,
        p,
        float(beta[1]),
        "Differanse (vektet)",
        n,
        alpha,
        {
            "mean_a": mean_b + float(beta[1]),
            "mean_b": mean_b,
            "se": se,
            "n_a": na,
            "n_b": nb,
            "intercept_se": float(np.sqrt(V[0, 0])),
            "n_design": n_design,
        },
    )


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
    beta, V = wls_sandwich(y, X, w, n_design)
    b, Vb = beta[1:], V[1:, 1:]
    F = float(b @ np.linalg.solve(Vb, b) / (k - 1))
    df = (k - 1, n - k)
    p = float(sps.f.sf(F, *df))
    grand = np.sum(w * y) / w.sum()
    means = {str(lev): float(np.average(y[(g == lev).to_numpy()], weights=w[(g == lev).to_numpy()])) for lev in levels}
    ss_between = sum(w[(g == lev).to_numpy()].sum() * (means[str(lev)] - grand) ** 2 for lev in levels)
    ss_total = np.sum(w * (y - grand) ** 2)
    return TestResult(
        "wald_f",
        F,
        df,
        p,
        float(ss_between / ss_total),
        "eta² (vektet)",
        n,
        alpha,
        {"means": means, "reference": str(levels[0]), "n_design": n_design},
    )
