"""The report's statistics: chi-square, t-test, one-way ANOVA with Tukey HSD, Cronbach's alpha.

Each test returns a ``TestResult`` with the statistic, degrees of freedom, p,
an effect size and the verdict at the chosen alpha, so a notebook can show
them and compare the verdict with the report's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

from src.base.numbers import fmt_number, fmt_p

# (Norwegian, English) name of each test's variant, shown beside its statistic
VARIANTS = {
    "chi2": ("Pearsons kjikvadrat (uten kontinuitetskorreksjon)", "Pearson chi-square (no continuity correction)"),
    "welch_t": ("Welchs t-test (ulike varianser)", "Welch's t-test (unequal variances)"),
    "anova": ("enveis ANOVA", "one-way ANOVA"),
    "tukey": ("Tukeys HSD (Tukey-Kramer)", "Tukey's HSD (Tukey-Kramer)"),
    "rao_scott_f": ("Rao-Scott-korrigert kjikvadrat (vektet)", "Rao-Scott corrected chi-square (weighted)"),
    "svyglm_t": ("vektet regresjon (designbasert t)", "weighted regression (design-based t)"),
    "wald_f": ("Wald F (vektet)", "Wald F (weighted)"),
}


@dataclass
class TestResult:
    test: str  # 'chi2', 'welch_t', 'anova', 'tukey'
    statistic: float
    df: float | tuple
    p: float
    effect: float  # Cramér's V, Cohen's d, eta squared, mean difference
    effect_name: str
    n: int
    alpha: float = 0.05
    detail: dict = field(default_factory=dict)

    @property
    def significant(self) -> bool:
        return bool(self.p < self.alpha)

    def variant(self, lang: str = "nb") -> str:
        """Which form of the test this is, as a reviewer with SPSS habits needs it said.

        E.g. «Pearsons kjikvadrat (uten kontinuitetskorreksjon)» — SPSS's «Pearson
        Chi-Square» row, not Yates' —, «Welchs t-test (ulike varianser)», and
        for a crosstab that keeps «Vet ikke» as a category, that it does.
        """
        names = VARIANTS.get(self.test, (self.test, self.test))
        text = names[0] if lang == "nb" else names[1]
        kept = self.detail.get("dont_know_category") or []
        if kept:
            labels = ", ".join(f"«{k}»" for k in kept)
            text += f", {labels} med som kategori" if lang == "nb" else f", {labels} kept as a category"
        return text

    def as_dict(self) -> dict:
        d = asdict(self)
        d["significant"] = self.significant
        return d

    def describe(self, lang: str = "nb", variant: bool = False) -> str:
        """E.g. 'χ²(3) = 85,2, p < ,001, Cramérs V = 0,19'.

        ``variant``: led by the test's variant (``variant()``), e.g. «Pearsons
        kjikvadrat (uten kontinuitetskorreksjon): χ²(3) = …», as the verdict tables show it.
        """

        def f(x, d=2):
            return fmt_number(x, d, lang)

        p = fmt_p(self.p, lang)
        p = p if p.startswith("<") else "= " + p
        lead = f"{self.variant(lang)}: " if variant else ""
        if self.test == "chi2":
            head = f"χ²({int(self.df)}) = {f(self.statistic)}"
        elif self.test == "welch_t":
            head = f"t({f(self.df, 1)}) = {f(self.statistic)}"
        elif self.test in ("anova", "rao_scott_f", "wald_f"):
            d1, d2 = self.df
            head = (
                f"F({f(d1, 2 if d1 != int(d1) else 0)}, {f(d2, 1 if d2 != int(d2) else 0)}) = "
                f"{f(self.statistic)}" + (" (Rao-Scott)" if self.test == "rao_scott_f" and not variant else "")
            )
        elif self.test == "tukey":
            name = "" if variant else "Tukey HSD, "
            head = name + ("forskjell i gjennomsnitt " if lang == "nb" else "mean difference ")
            if variant:
                head += "(I − J) "
            head += f(self.statistic)
            ci = self.detail.get("ci")
            if ci:
                level = fmt_number(100 * (1 - self.alpha), 0, lang)
                head += (
                    f" [{level} % KI {f(ci[0])}; {f(ci[1])}]"
                    if lang == "nb"
                    else f" [{level} % CI {f(ci[0])}; {f(ci[1])}]"
                )
            return f"{lead}{head}, {'justert p' if lang == 'nb' else 'adjusted p'} {p}"
        elif self.test == "svyglm_t":
            head = f"t({f(self.df, 0)}) = {f(self.statistic)}" + ("" if variant else " (vektet regresjon)")
        else:
            head = f"{self.test} = {f(self.statistic)}"
        return f"{lead}{head}, p {p}, {self.effect_name} = {f(self.effect)}"


def chi_square(data: pd.DataFrame, row: str, col: str, alpha: float = 0.05) -> TestResult:
    """Pearson chi-square test of independence on the crosstab of two coded variables."""
    table = pd.crosstab(data[row], data[col])
    table = table.loc[table.sum(axis=1) > 0, table.sum(axis=0) > 0]
    chi2, p, dof, expected = sps.chi2_contingency(table.to_numpy(), correction=False)
    n = int(table.to_numpy().sum())
    k = min(table.shape) - 1
    v = float(np.sqrt(chi2 / (n * k))) if n and k else float("nan")
    return TestResult(
        "chi2",
        float(chi2),
        int(dof),
        float(p),
        v,
        "Cramérs V",
        n,
        alpha,
        {"min_expected": float(expected.min()), "table": table.to_dict()},
    )


def t_test(values: pd.Series, groups: pd.Series, a, b, alpha: float = 0.05) -> TestResult:
    """Independent t-test of the mean of ``values`` between group codes ``a`` and ``b``.

    Reports Welch's t (unequal variances) with Cohen's d (pooled SD); the
    Student t p-value is kept in ``detail`` since SPSS prints both.
    """
    x = pd.to_numeric(values[groups == a], errors="coerce").dropna().to_numpy(float)
    y = pd.to_numeric(values[groups == b], errors="coerce").dropna().to_numpy(float)
    welch = sps.ttest_ind(x, y, equal_var=False)
    student = sps.ttest_ind(x, y, equal_var=True)
    nx, ny = len(x), len(y)
    sp = np.sqrt(((nx - 1) * x.var(ddof=1) + (ny - 1) * y.var(ddof=1)) / (nx + ny - 2))
    d = float((x.mean() - y.mean()) / sp) if sp > 0 else float("nan")
    vx, vy = x.var(ddof=1) / nx, y.var(ddof=1) / ny
    df = float((vx + vy) ** 2 / (vx**2 / (nx - 1) + vy**2 / (ny - 1)))
    return TestResult(
        "welch_t",
        float(welch.statistic),
        df,
        float(welch.pvalue),
        d,
        "Cohens d",
        nx + ny,
        alpha,
        {
            "mean_a": float(x.mean()),
            "mean_b": float(y.mean()),
            "n_a": nx,
            "n_b": ny,
            "student_t": float(student.statistic),
            "student_p": float(student.pvalue),
        },
    )


def anova(
    values: pd.Series, groups: pd.Series, alpha: float = 0.05, tukey: bool = True
) -> tuple[TestResult, pd.DataFrame | None]:
    """One-way ANOVA with eta squared, and Tukey HSD pairwise comparisons (``tukey=False``: the ANOVA
    alone, and None for the table; the post hoc test is the costly part).

    The Tukey table has one row per pair of groups (I, J), I before J in
    sorted order: ``diff`` = mean(I) − mean(J) as SPSS prints it for the row
    «I vs J», its simultaneous (1 − alpha) confidence interval ``lower`` /
    ``upper`` and the adjusted p unrounded (``scipy.stats.tukey_hsd``, the
    Tukey-Kramer form for unequal group sizes, as SPSS and R's ``TukeyHSD``).
    ``significant`` is p < alpha on that unrounded p. ``tukey_pair`` orients
    a row to the pair as it is labelled.
    """
    frame = pd.DataFrame({"y": pd.to_numeric(values, errors="coerce"), "g": groups}).dropna()
    grouped = list(frame.groupby("g"))
    samples = [grp["y"].to_numpy(float) for _, grp in grouped]
    f, p = sps.f_oneway(*samples)
    grand = frame["y"].mean()
    ss_between = sum(len(s) * (s.mean() - grand) ** 2 for s in samples)
    ss_total = ((frame["y"] - grand) ** 2).sum()
    k, n = len(samples), len(frame)
    result = TestResult(
        "anova",
        float(f),
        (k - 1, n - k),
        float(p),
        float(ss_between / ss_total),
        "eta²",
        n,
        alpha,
        {"means": {_group_name(g): float(grp["y"].mean()) for g, grp in grouped}},
    )
    if not tukey:
        return result, None
    tk = sps.tukey_hsd(*samples)
    ci = tk.confidence_interval(confidence_level=1 - alpha)
    names = [_group_name(g) for g, _ in grouped]
    mse = sum(((s - s.mean()) ** 2).sum() for s in samples) / (n - k)
    rows = []
    for i in range(k):
        for j in range(i + 1, k):
            pij = float(tk.pvalue[i, j])
            if pij < TAIL_P:  # scipy's integration loses its relative precision out here (and reaches 0)
                q = abs(samples[i].mean() - samples[j].mean()) / np.sqrt(
                    mse / 2 * (1 / len(samples[i]) + 1 / len(samples[j]))
                )
                pij = studentized_range_sf(float(q), k, n - k)
            rows.append(
                {
                    "a": names[i],
                    "b": names[j],
                    "diff": float(tk.statistic[i, j]),
                    "p": pij,
                    "lower": float(ci.low[i, j]),
                    "upper": float(ci.high[i, j]),
                    "mean_a": float(samples[i].mean()),
                    "mean_b": float(samples[j].mean()),
                    "n_a": len(samples[i]),
                    "n_b": len(samples[j]),
                    "significant": bool(pij < alpha),
                }
            )
    columns = ["a", "b", "diff", "p", "lower", "upper", "mean_a", "mean_b", "n_a", "n_b", "significant"]
    return result, pd.DataFrame(rows, columns=columns)


TAIL_P = 1e-6  # below this the Tukey p comes from studentized_range_sf, not scipy's studentized_range.sf


def studentized_range_sf(q: float, k: int, df: float, nz: int = 801, ns: int = 401) -> float:
    """P(Q > q) for the studentized range of ``k`` means on ``df`` degrees of freedom, accurate far in the tail.

    scipy's ``studentized_range.sf`` (and R's ``ptukey``) compute 1 − cdf and
    lose relative precision below about 1e-9 (scipy returns 0 or a floor near
    1e-13 for a p of 1e-25). Here the tail is integrated directly: for the
    range of k standard normals, P(R > x) = k ∫ φ(z) Φ(z − x) Σ_j Φ(z)^(k−2−j) (Φ(z) − Φ(z − x))^j dz
    (no cancellation), then averaged over the distribution of the pooled SD
    ratio s = sqrt(χ²_df / df), P(Q > q) = ∫ f(s) P(R > q s) ds; both by
    Simpson's rule on grids around the integrands' peaks.
    """
    from scipy.integrate import simpson
    from scipy.special import gammaln

    if not np.isfinite(df):
        s = np.array([1.0])
    else:
        peak = np.sqrt((df - 1) / (df + q * q / 2))
        width = 1 / np.sqrt(2 * (df + q * q / 2))
        s = np.linspace(max(peak - 16 * width, 1e-9), peak + 16 * width, ns)
    x = q * s[:, None]
    u = np.linspace(-14, 14, nz)
    z = x / 2 + u[None, :]  # the integrand peaks at z = x / 2
    cdf, low = sps.norm.cdf(z), sps.norm.cdf(z - x)
    inside = cdf - low
    inner = sps.norm.pdf(z) * low * sum(cdf ** (k - 2 - j) * inside**j for j in range(k - 1))
    tail = k * simpson(inner, x=u, axis=1)
    if not np.isfinite(df):
        return float(tail[0])
    log_c = df / 2 * np.log(df) - gammaln(df / 2) - (df / 2 - 1) * np.log(2)
    density = np.exp(log_c + (df - 1) * np.log(s) - df * s * s / 2)
    return float(simpson(density * tail, x=s))


def _group_name(g) -> str:
    """A group code as text: 1, not 1.0 (codes arrive as floats when a column has gaps)."""
    if isinstance(g, (float, np.floating)) and float(g).is_integer():
        return str(int(g))
    return str(g)


def tukey_pair(table: pd.DataFrame, a, b) -> dict | None:
    """The Tukey row of the pair «a vs b» oriented as labelled: diff = mean(a) − mean(b), its CI and p.

    None when the table has no such pair.
    """
    a, b = _group_name(a), _group_name(b)
    for _, r in table.iterrows():
        if (r["a"], r["b"]) == (a, b):
            return r.to_dict()
        if (r["a"], r["b"]) == (b, a):  # the same comparison seen from the other side
            d = r.to_dict()
            return dict(
                d,
                a=a,
                b=b,
                diff=-d["diff"],
                lower=-d["upper"],
                upper=-d["lower"],
                mean_a=d["mean_b"],
                mean_b=d["mean_a"],
                n_a=d["n_b"],
                n_b=d["n_a"],
            )
    return None


def cronbach_alpha(items: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """Cronbach's alpha over complete cases, with item-total statistics.

    Returns (alpha, table) where the table has, per item: its mean, the
    corrected item-total correlation and alpha if the item is deleted.
    """
    x = items.apply(pd.to_numeric, errors="coerce").dropna()

    def alpha_of(frame: pd.DataFrame) -> float:
        k = frame.shape[1]
        if k < 2:
            return float("nan")
        return float(k / (k - 1) * (1 - frame.var(ddof=1).sum() / frame.sum(axis=1).var(ddof=1)))

    rows = []
    for col in x.columns:
        rest = x.drop(columns=col)
        rows.append(
            {
                "item": col,
                "mean": float(x[col].mean()),
                "item_total_r": float(np.corrcoef(x[col], rest.sum(axis=1))[0, 1]),
                "alpha_if_deleted": alpha_of(rest),
            }
        )
    return alpha_of(x), pd.DataFrame(rows).assign(n=len(x))
