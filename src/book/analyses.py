"""The analyses a researcher adds most often, as tables that carry their own support.

``crosstab_table`` (two codebook variables: counts or row percentages, with totals) and
``means_table`` (the mean of a variable by group) are laid out as the report prints its tables,
labelled from the codebook, and each cell says what it rests on: ``table.attrs["support"]`` =
(counts, bases) in the shape of the table, which ``Chapter.table`` reads to hide small cells
on real data (``src/base/disclosure.py``). ``helpers.crosstab`` and ``helpers.group_means`` publish
them with their test (chi-square; t-test or ANOVA).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.base.codebook import Codebook

TOTAL = {"nb": "Totalt", "en": "Total"}
COUNT = {"nb": "Antall", "en": "Count"}
MEAN = {"nb": "Gjennomsnitt", "en": "Mean"}
SD = {"nb": "Standardavvik", "en": "Standard deviation"}
N_ANSWERS = {"nb": "Antall svar (n)", "en": "Answers (n)"}


def value_labels(cb: Codebook, var: str, lang: str = "nb") -> dict:
    """Code -> label of a variable or recode of the codebook (valid answers only); {} when it has none."""
    try:
        return cb.value_labels(var, lang)
    except KeyError:
        return {}


def valid_codes(data: pd.DataFrame, var: str, cb: Codebook) -> pd.Series:
    """``var`` with every code that is not a valid answer (missing codes, no answer) as NaN."""
    if var not in data.columns:
        raise KeyError(f"'{var}' is not a variable of the analysis sample (see data/codebook.yml)")
    labels = value_labels(cb, var)
    values = data[var]
    return values.where(values.isin(list(labels))) if labels else pd.to_numeric(values, errors="coerce")


def _label(cb: Codebook, var: str, lang: str) -> str:
    try:
        return cb.label(var, lang)
    except KeyError:
        return var


def crosstab_counts(data: pd.DataFrame, row: str, col: str, cb: Codebook, lang: str = "nb") -> pd.DataFrame:
    """Respondents with a valid answer to both, by ``row`` (rows) and ``col`` (columns), in codebook order,
    labelled; every category the codebook lists, empty ones as 0."""
    r, c = valid_codes(data, row, cb), valid_codes(data, col, cb)
    both = r.notna() & c.notna()
    counts = pd.crosstab(r[both], c[both])
    row_labels = value_labels(cb, row, lang) or {k: str(k) for k in sorted(counts.index)}
    col_labels = value_labels(cb, col, lang) or {k: str(k) for k in sorted(counts.columns)}
    counts = counts.reindex(index=list(row_labels), columns=list(col_labels), fill_value=0)
    counts.index = [row_labels[k] for k in counts.index]
    counts.columns = [col_labels[k] for k in counts.columns]
    return counts.astype(int)


def crosstab_table(
    data: pd.DataFrame, row: str, col: str, cb: Codebook, lang: str = "nb", values: str = "count"
) -> pd.DataFrame:
    """The crosstab of ``row`` by ``col`` as the report prints one, with its support.

    ``values="count"``: respondents per cell, a «Totalt» column (the row's total) and a «Totalt»
    row (the column's). ``values="row_pct"``: percent of the row (each row sums to 100) and the
    row's respondents in «Antall»; the «Totalt» row gives the distribution of everyone.
    First column: the row variable's label from the codebook; columns: ``col``'s value labels.
    ``attrs["support"]``: a count cell counts itself; a percentage counts its cell's respondents
    out of its row's.
    """
    if values not in ("count", "row_pct"):
        raise ValueError(f"values must be 'count' or 'row_pct', not {values!r}")
    counts = crosstab_counts(data, row, col, cb, lang)
    total = TOTAL.get(lang, TOTAL["nb"])
    full = counts.copy()
    full[total] = full.sum(axis=1)
    full.loc[total] = full.sum(axis=0)
    header = _label(cb, row, lang)
    if values == "count":
        table = full.reset_index(names=header)
        support = (full.reset_index(drop=True).astype(float), pd.DataFrame(index=range(len(full))))
    else:
        n = full[total]
        pct = full.drop(columns=total).div(n.where(n > 0), axis=0) * 100
        table = pct.copy()
        table[COUNT.get(lang, COUNT["nb"])] = n
        table = table.reset_index(names=header)
        cell_counts = full.drop(columns=total).copy()
        cell_counts[COUNT.get(lang, COUNT["nb"])] = n
        bases = pd.DataFrame({c: n for c in pct.columns})
        support = (cell_counts.reset_index(drop=True).astype(float), bases.reset_index(drop=True).astype(float))
    table.attrs["support"] = support
    table.attrs["crosstab"] = {"row": row, "col": col, "values": values}
    return table


def means_table(
    data: pd.DataFrame, var: str, by: str, cb: Codebook, lang: str = "nb", weights: pd.Series | None = None
) -> pd.DataFrame:
    """The mean of ``var`` per group of ``by`` (codebook order and labels) and for everyone, with the
    standard deviation and the answers each rests on; ``attrs["support"]``: every statistic of a row
    rests on that row's answers. ``weights``: weighted means (the answers stay the respondents)."""
    y = pd.to_numeric(valid_codes(data, var, cb), errors="coerce")
    g = valid_codes(data, by, cb)
    ok = y.notna() & g.notna()
    w = pd.Series(1.0, index=data.index) if weights is None else pd.Series(weights, index=data.index).astype(float)
    labels = value_labels(cb, by, lang) or {k: str(k) for k in sorted(g[ok].unique())}
    rows = []
    for code, label in [*labels.items(), (None, TOTAL.get(lang, TOTAL["nb"]))]:
        sel = ok & (g == code) if code is not None else ok
        n = int(sel.sum())
        mean = float(np.average(y[sel], weights=w[sel])) if n else np.nan
        sd = float(y[sel].std(ddof=1)) if n > 1 else np.nan
        rows.append(
            {
                _label(cb, by, lang): label,
                MEAN.get(lang, MEAN["nb"]): mean,
                SD.get(lang, SD["nb"]): sd,
                N_ANSWERS.get(lang, N_ANSWERS["nb"]): n,
            }
        )
    table = pd.DataFrame(rows)
    n = table[N_ANSWERS.get(lang, N_ANSWERS["nb"])].astype(float)
    table.attrs["support"] = (
        pd.DataFrame({N_ANSWERS.get(lang, N_ANSWERS["nb"]): n}),
        pd.DataFrame({MEAN.get(lang, MEAN["nb"]): n, SD.get(lang, SD["nb"]): n}),
    )
    return table
