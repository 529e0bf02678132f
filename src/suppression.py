"""Small-cell suppression of tables built from real data (the ``min_cell`` parameter).

A cell is hidden when it could single out a few respondents:

* a **count** from 1 to ``min_cell - 1`` (0 is shown: nobody is described by it);
* a **percentage** whose numerator (the respondents counted) is from 1 to
  ``min_cell - 1``, or whose group (the base: everyone answering in that row or
  column group) is below ``min_cell``;
* a **mean** whose group is below ``min_cell``.

Hidden cells are shown as ``<5`` (for ``min_cell: 5``) in the book and stored
empty in ``reports/tables/*.csv``, with a footnote under the table saying how
many cells were hidden and why. This is primary suppression only: a hidden
count can sometimes be recovered from a row total and the other cells.

The threshold applies to real exports only. The synthetic default export
describes nobody and must reproduce the report's published counts, several of
which are below 5 (``threshold`` returns 0 for it). ``min_cell: 0`` switches
suppression off for a real export too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.codebook import Codebook

COUNT_STATS = ("count", "n", "n_min", "n_max", "rows")


def threshold(min_cell: int, synthetic: bool) -> int:
    """The threshold in force: ``min_cell`` for real data, 0 (nothing hidden) for synthetic data."""
    return 0 if synthetic else int(min_cell)


def mask(values: pd.DataFrame, counts: pd.DataFrame, bases: pd.DataFrame, k: int) -> pd.DataFrame:
    """True where a cell of ``values`` must be hidden.

    ``counts`` holds, per cell, the respondents the cell counts (a count's own
    value, a percentage's numerator; NaN where none), ``bases`` the size of
    the group a percentage or mean is taken over (NaN where none). Columns of
    ``values`` absent from them are never hidden, nor cells without a number.
    """
    out = pd.DataFrame(False, index=values.index, columns=values.columns)
    if k <= 0:
        return out
    for col in values.columns:
        has_value = pd.to_numeric(values[col], errors="coerce").notna()
        c = pd.to_numeric(counts[col], errors="coerce") if col in counts else pd.Series(np.nan, index=values.index)
        b = pd.to_numeric(bases[col], errors="coerce") if col in bases else pd.Series(np.nan, index=values.index)
        small = ((c > 0) & (c < k)) | (b < k)
        out[col] = (small & has_value).to_numpy()
    return out


def apply(table: pd.DataFrame, hidden: pd.DataFrame) -> pd.DataFrame:
    """The table as stored: hidden cells empty (NaN)."""
    out = table.copy()
    for col in hidden.columns:
        if hidden[col].any():
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(float).where(~hidden[col].to_numpy())
    return out


def inferred_support(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(counts, bases) of a one-way frequency table: columns headed 'Antall…' are counts, and the
    'Prosent…' columns of a row count the respondents of that row's first 'Antall…' column."""
    count_cols = [c for c in table.columns if str(c).startswith("Antall")
                  and pd.api.types.is_numeric_dtype(table[c])]
    counts = pd.DataFrame(index=table.index)
    for c in count_cols:
        counts[c] = table[c]
    if count_cols:
        for c in table.columns:
            if str(c).startswith("Prosent"):
                counts[c] = table[count_cols[0]]
    return counts, pd.DataFrame(index=table.index)


def layout_support(name: str, data: pd.DataFrame, cb: Codebook, specs: dict | None = None,
                   excluded: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(counts, bases) of every cell of a table built from its layout in measures.yml (unweighted)."""
    from src import measures as ms

    specs = specs or ms.load()
    layout = specs["tables"][name]
    if layout.get("columns") == "scale":
        columns = list(cb.scales[cb.groups[layout["grid"]].scale].values())
    else:
        columns = list(layout["columns"])
    rows = ms.row_labels(layout, cb)
    counts, bases = {}, {}
    for col in columns:
        counts[col], bases[col] = [], []
        for row in rows:
            try:
                spec = ms.cell_spec(name, row, col, cb, specs)
                c, b = cell_support(spec, data, cb, excluded)
            except (KeyError, ms.MeasureError):
                c, b = np.nan, np.nan
            counts[col].append(c)
            bases[col].append(b)
    return pd.DataFrame(counts), pd.DataFrame(bases)


def cell_support(spec: dict, data: pd.DataFrame, cb: Codebook, excluded: pd.DataFrame | None = None):
    """(respondents counted, group size) behind one result spec; NaN where it has none."""
    from src import measures as ms

    stat = spec.get("stat")
    ev = lambda s: ms.evaluate(s, data, cb, excluded=excluded)   # noqa: E731  (always unweighted)
    if stat in COUNT_STATS:
        return float(ev(spec)), np.nan
    if stat == "pct":
        numerator = float(ev(dict(spec, stat="count")))
        base = float(ev(dict(spec, stat="n"))) if "var" in spec else np.nan
        return numerator, base
    if stat == "mean" and "var" in spec:
        return np.nan, float(ev(dict(spec, stat="n")))
    return np.nan, np.nan


def footnote(n_hidden: int, k: int, lang: str = "nb") -> str:
    """The line under a table with hidden cells."""
    if lang == "en":
        return (f"*Suppressed: {n_hidden} cell{'s rest' if n_hidden != 1 else ' rests'} on fewer than {k} respondents "
                f"and {'are' if n_hidden != 1 else 'is'} shown as «<{k}» (data protection of real survey data, "
                f"parameter `min_cell` = {k}); the table file leaves {'them' if n_hidden != 1 else 'it'} empty.*")
    return (f"*Skjult: {n_hidden} {'celler' if n_hidden != 1 else 'celle'} bygger på færre enn {k} respondenter "
            f"og vises som «<{k}» (personvern for reelle data, parameteren `min_cell` = {k}); i tabellfilen "
            f"står {'de' if n_hidden != 1 else 'den'} tom{'me' if n_hidden != 1 else ''}.*")
