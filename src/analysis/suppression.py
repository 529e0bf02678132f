"""The size of the group behind each number measures.yml computes, for the disclosure rules of ``src/base/disclosure.py``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from src.analysis import measures as ms
from src.base import reference
from src.base.codebook import Codebook

COUNT_STATS = ("count", "n", "n_min", "n_max", "rows")


def layout_support(
    name: str, data: pd.DataFrame, cb: Codebook, specs: dict | None = None, excluded: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(counts, bases) of every cell of a table built from its layout in measures.yml (unweighted)."""
    specs = specs or reference.load_measures()
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
    stat = spec.get("stat")
    ev = lambda s: ms.evaluate(s, data, cb, excluded=excluded)  # noqa: E731  (always unweighted)
    if stat in ("count", "pct") and "vars" in spec and "var" not in spec:  # ticked any of several options
        frame = _universe(spec, data, excluded, cb)
        cols = list(spec["vars"])
        valid = pd.concat([frame[v].isin(list(cb.value_labels(v))) for v in cols], axis=1).all(axis=1)
        hits = float(frame.loc[valid, cols].isin(ms.spec_codes(spec)).any(axis=1).sum())
        return hits, (float(valid.sum()) if stat == "pct" else np.nan)
    if stat == "alpha":
        frame = _universe(spec, data, excluded, cb)
        return np.nan, float(frame[ms.grid_vars(spec, cb)].dropna().shape[0])
    if stat == "test":
        return np.nan, float(test_group_size(spec, data, cb, excluded))
    if stat in COUNT_STATS:
        return float(ev(spec)), np.nan
    if stat == "pct":
        numerator = float(ev(dict(spec, stat="count")))
        base = float(ev(dict(spec, stat="n"))) if "var" in spec else np.nan
        return numerator, base
    if stat == "mean" and "var" in spec:
        return np.nan, float(ev(dict(spec, stat="n")))
    return np.nan, np.nan


def _universe(spec: dict, data: pd.DataFrame, excluded: pd.DataFrame | None, cb: Codebook) -> pd.DataFrame:
    """The respondents a spec is about (its universe, then its ``where``)."""
    universe = spec.get("universe", "sample")
    if universe == "all" and excluded is not None:
        frame = pd.concat([data, excluded], ignore_index=True)
    else:
        frame = excluded if universe == "excluded" and excluded is not None else data
    return ms.subset_rows(frame, spec.get("where"), cb)


def test_group_size(spec: dict, data: pd.DataFrame, cb: Codebook, excluded: pd.DataFrame | None = None) -> int:
    """The smallest group (1 or more respondents with a valid answer) a test spec compares; 0 if none.

    For a test over every item of a grid (``grid``/``vars``), the smallest over the items.
    """
    if "var" not in spec:
        sizes = [test_group_size({**spec, "var": v}, data, cb, excluded) for v in ms.grid_vars(spec, cb)]
        sizes = [n for n in sizes if n > 0]
        return min(sizes) if sizes else 0
    frame = _universe(spec, data, excluded, cb)
    var, by = spec["var"], spec.get("by")
    if by is None or var not in frame or by not in frame:
        return 0
    values = frame[var]
    valid = (
        values.isin(list(cb.value_labels(var)))
        if var in cb.variables and cb.value_labels(var)
        else pd.to_numeric(values, errors="coerce").notna()
    )
    groups = frame.loc[valid & frame[by].notna(), by]
    if spec.get("groups"):
        groups = groups[groups.isin(spec["groups"])]
    counts = groups.value_counts()
    counts = counts[counts > 0]
    return int(counts.min()) if len(counts) else 0


# -- secondary (complementary) suppression -------------------------------------
