"""How each published number is computed from the respondent data.

``data/reference/measures.yml`` says, declaratively, how to compute every
entry of ``published.yml`` from the analysis sample (after the codebook's
recodes): table layouts (``tables:``, keyed by ``tabell_NN`` / ``figur_NN``)
and single numbers (``results:``, keyed by the result key). The fidelity
score of the synthetic export (``src/synthetic/fidelity.py``) evaluates them; chapter
notebooks can state the same numbers with ``measure()``.

A result spec has ``stat`` and its arguments:

=========  ================================================================
count      respondents answering one of ``codes`` (``var``)
pct        percent of the valid answers to ``var`` that are in ``codes``
           (``base``: the codes forming the denominator, default all valid;
           ``vars`` instead of ``var``: percent of those answering all of
           them who gave one of ``codes`` to any, e.g. ticked either of two
           options of a multi-select question)
mean       mean code of the valid answers to ``var`` (scale values)
n          number of valid answers to ``var``
n_min      fewest valid answers to an item of grid ``grid`` (figures that
n_max      print 'n=971-999'); most valid answers to an item
n_min      fewest / most valid answers over the items of grid ``grid`` (or
n_max      ``vars``): a figure's printed n range
alpha      Cronbach's alpha of the items of grid ``grid`` (or ``vars``)
test       ``test``: chi2 | ttest | anova | tukey of ``var`` by ``by``
           (``groups``: the two codes compared for ttest/tukey); the value
           is the verdict p < alpha. With ``grid`` (or ``vars``) instead of
           ``var``: a verdict about every item, true when any item differs
reference  a figure from ``data/reference/population_margins.yml``
           (``path``: dotted path inside it; in a table column, the row
           label is appended to the path)
rows       number of respondents (``universe``: sample, excluded or all)
external   not computable from this survey (e.g. the 2007 study); never scored
=========  ================================================================

Every spec may add ``where`` (a pandas query over analysis names) to
restrict the respondents, and ``universe: excluded`` to use the respondents
01_cleaning excluded instead of the analysis sample.
"""

from __future__ import annotations

import hashlib
import re
import weakref

import numpy as np
import pandas as pd

from src.analysis import stats as st
from src.analysis import weighting as wt
from src.base.codebook import Codebook
from src.base.reference import load_margins, load_measures

TOTAL_LABELS = {"Totalt", "Total", "Totalt "}


class MeasureError(ValueError):
    """A measure spec cannot be evaluated (names the key and what is wrong)."""


_NAME = re.compile(r"[A-Za-z_]\w*")
_MASKS: dict = {}  # id(frame) -> (weakref to the frame, {(expression, content of its columns): mask}); see where_mask


def where_mask(data: pd.DataFrame, where: str | None, cb: Codebook) -> pd.Series:
    """The respondents a ``where`` expression keeps, as a boolean mask over ``data`` (all when there is none).

    The expression (with the codebook's named conditions expanded) is
    evaluated on the columns it names only: ``DataFrame.eval`` on the whole
    192-column frame costs ten times as much. A mask is remembered for the
    frame it was computed on (its identity, while it lives) and the content
    of the columns the expression names and of the index: the same filter on
    the same data is evaluated once, a frame changed in place or another
    frame (e.g. the sample with the excluded) is evaluated again. Masks
    depend on the data alone, never on weights.
    """
    if not where:
        return pd.Series(True, index=data.index)
    expr = cb.expand(where)
    if "`" in expr:  # a quoted column name: the names are not plain identifiers, use every column
        used = list(data.columns)
    else:
        used = [c for c in dict.fromkeys(_NAME.findall(expr)) if c in data.columns]
    key = (expr, _content(data, used))
    entry = _MASKS.get(id(data))
    if entry is None or entry[0]() is not data:
        ident = id(data)
        ref = weakref.ref(
            data, lambda r, ident=ident: _MASKS.pop(ident) if _MASKS.get(ident, (None,))[0] is r else None
        )
        entry = _MASKS[ident] = (ref, {})
    masks = entry[1]
    if key not in masks:
        mask = pd.Series(data[used].eval(expr, engine="python"), index=data.index)
        masks[key] = mask.fillna(False).astype(bool).to_numpy()
    return pd.Series(masks[key].copy(), index=data.index)


def _content(data: pd.DataFrame, columns: list) -> bytes:
    """A digest of the index and of ``columns``' values and dtypes (what a mask over them depends on)."""
    h = hashlib.blake2b(digest_size=16)
    index = data.index
    if isinstance(index, pd.RangeIndex):
        h.update(repr((index.start, index.stop, index.step)).encode())
    else:
        h.update(pd.util.hash_pandas_object(index).to_numpy().tobytes())
    for c in columns:
        col = data[c]
        h.update(repr((c, str(col.dtype), len(col))).encode())
        values = col.to_numpy() if isinstance(col.dtype, np.dtype) else None
        if values is not None and values.dtype != object:
            h.update(np.ascontiguousarray(values).tobytes())
        else:  # extension dtypes (Int64, string) and objects: their values' hashes, not pointers
            h.update(pd.util.hash_pandas_object(col, index=False).to_numpy().tobytes())
    return h.digest()


def _spec_columns(spec: dict, cb: Codebook, frame: pd.DataFrame) -> list:
    """The columns of ``frame`` a spec reads (its variable(s), grid items and grouping)."""
    names = [spec[k] for k in ("var", "by") if isinstance(spec.get(k), str)]
    names += list(spec.get("vars") or [])
    if "grid" in spec:
        names += list(cb.groups[spec["grid"]].members)
    return [c for c in dict.fromkeys(names) if c in frame.columns]


def subset_rows(data: pd.DataFrame, where: str | None, cb: Codebook, columns: list | None = None) -> pd.DataFrame:
    """The rows of ``data`` that ``where`` keeps (``data`` itself when there is no ``where``); with
    ``columns``, only those columns are copied."""
    if not where:
        return data
    mask = where_mask(data, where, cb).to_numpy()
    return data[mask] if columns is None else data[columns][mask]


def _valid(values: pd.Series, var: str, cb: Codebook, base=None) -> pd.Series:
    if var in cb.indices:
        return values.dropna()
    codes = list(base) if base is not None else list(cb.value_labels(var))
    return values[values.isin(codes)]


def spec_codes(spec: dict) -> list:
    c = spec.get("codes", spec.get("code"))
    return [c] if np.isscalar(c) else list(c)


def grid_vars(spec: dict, cb: Codebook) -> list[str]:
    if "grid" in spec:
        return list(cb.groups[spec["grid"]].members)
    return list(spec["vars"])


WEIGHT = "weight"  # the raking weight column 01_cleaning adds to the analysis sample


def evaluate(
    spec: dict,
    data: pd.DataFrame,
    cb: Codebook,
    *,
    excluded: pd.DataFrame | None = None,
    alpha: float = 0.05,
    key: str = "?",
    weighted: bool = False,
):
    """The value of one result spec on the data (None for ``external``).

    ``weighted``: percentages and means use the raking weights (column
    ``weight``) and the tests their design-based versions (Rao-Scott
    chi-square, weighted regression); counts and n stay unweighted.
    """
    if weighted and spec.get("universe", "sample") == "sample":
        return _evaluate_weighted(spec, data, cb, alpha=alpha, key=key)
    stat = spec.get("stat")
    universe = spec.get("universe", "sample")
    if universe == "all" and excluded is not None:
        frame = pd.concat([data, excluded], ignore_index=True)
    else:
        frame = excluded if universe == "excluded" else data
    if frame is None:
        raise MeasureError(f"{key}: universe 'excluded' needs the excluded respondents")
    try:
        # only the columns the spec reads: no copy of the whole frame per measure
        frame = subset_rows(frame, spec.get("where"), cb, _spec_columns(spec, cb, frame))
        if stat in ("count", "pct") and "vars" in spec and "var" not in spec:
            cols = list(spec["vars"])
            valid = pd.concat([frame[v].isin(list(cb.value_labels(v))) for v in cols], axis=1).all(axis=1)
            hits = int(frame.loc[valid, cols].isin(spec_codes(spec)).any(axis=1).sum())
            if stat == "count":
                return hits
            return float(100 * hits / int(valid.sum())) if valid.any() else float("nan")
        if stat in ("n_min", "n_max"):
            counts = [len(_valid(frame[v], v, cb)) for v in grid_vars(spec, cb)]
            return int(min(counts) if stat == "n_min" else max(counts))
        if stat in ("count", "pct", "mean", "n"):
            var = spec["var"]
            valid = _valid(frame[var], var, cb, spec.get("base"))
            if stat == "n":
                return int(len(valid))
            if stat == "mean":
                scores = spec.get("scores")
                v = valid.map(lambda c: scores[int(c)]) if scores else valid.astype(float)
                return float(v.mean()) if len(v) else float("nan")
            hits = int(valid.isin(spec_codes(spec)).sum())
            if stat == "count":
                return hits
            return float(100 * hits / len(valid)) if len(valid) else float("nan")
        if stat in ("n_min", "n_max"):
            ns = [len(_valid(frame[v], v, cb)) for v in grid_vars(spec, cb)]
            return int(min(ns) if stat == "n_min" else max(ns))
        if stat == "alpha":
            return st.cronbach_alpha(frame[grid_vars(spec, cb)])[0]
        if stat == "test":
            return test(spec, frame, cb, alpha).significant
        if stat == "rows":
            return int(len(frame))
        if stat == "reference":
            return reference(spec["path"])
        if stat == "external":
            return None
    except KeyError as exc:
        raise MeasureError(f"{key}: unknown variable or group {exc} in {spec}") from None
    raise MeasureError(f"{key}: unknown stat {stat!r}")


def _evaluate_weighted(spec: dict, data: pd.DataFrame, cb: Codebook, *, alpha: float, key: str):
    """Weighted shares and means over the whole sample (the subgroup as a domain, as R's survey does)."""
    stat = spec.get("stat")
    if WEIGHT not in data:
        raise MeasureError(f"{key}: weighted results need the '{WEIGHT}' column (run 01_cleaning)")
    if stat not in ("pct", "mean", "test"):
        return evaluate(spec, data, cb, alpha=alpha, key=key)
    domain = where_mask(data, spec.get("where"), cb)
    w = data[WEIGHT].to_numpy(float)
    if stat == "test":
        return test(spec, data, cb, alpha, weights=data[WEIGHT], domain=domain).significant
    if "vars" in spec:  # any-of share: ticked any of the options, among those valid on all of them
        cols = list(spec["vars"])
        valid = pd.concat([data[v].isin(list(cb.value_labels(v))) for v in cols], axis=1).all(axis=1) & domain
        hit = data[cols].isin(spec_codes(spec)).any(axis=1).astype(float).where(valid)
        return float(wt.weighted_share(hit, w, [1.0]).estimate)
    var = spec["var"]
    base = list(spec.get("base") or cb.value_labels(var)) if var not in cb.indices else None
    values = data[var].where(domain)
    with _too_few_answers(var, values, base, cb, spec):
        if stat == "mean":
            v = values if base is None else values.where(values.isin(base))
            return float(wt.weighted_mean(pd.to_numeric(v).astype(float), w).estimate)
        return float(wt.weighted_share(values.astype(float), w, spec_codes(spec), base_codes=base).estimate)


class _too_few_answers:
    """A share or mean on fewer than 2 valid answers, as a MeasureError naming the question and the cause (#28)."""

    def __init__(self, var, values, base, cb: Codebook, spec: dict):
        self.var, self.values, self.base, self.cb, self.spec = var, values, base, cb, spec

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if kind is None or not issubclass(kind, wt.WeightingError):
            return False
        v = self.values.dropna()
        n = int(v.isin(self.base).sum() if self.base is not None else len(v))
        meta = self.cb.variables.get(self.var)
        where = f" among those where {self.spec['where']}" if self.spec.get("where") else ""
        raise MeasureError(
            f"question '{self.var}'"
            + (f" (column '{meta.source}')" if meta is not None and meta.source else "")
            + f" has {'no' if n == 0 else 'only ' + str(n)} valid answer(s){where}: a share or mean with its "
            "confidence interval needs at least 2 — is the question empty in the export?"
        ) from None


def interval(spec: dict, data: pd.DataFrame, cb: Codebook, weighted: bool = False, level: float = 0.95):
    """(estimate, low, high) of a share or mean spec: design-based with the raking weights, or with
    equal weights (the simple-random-sample interval) when unweighted; None for other specs."""
    if spec.get("stat") not in ("pct", "mean") or spec.get("universe", "sample") != "sample" or "vars" in spec:
        return None
    domain = where_mask(data, spec.get("where"), cb)
    w = data[WEIGHT].to_numpy(float) if weighted else np.ones(len(data))
    var = spec["var"]
    base = list(spec.get("base") or cb.value_labels(var)) if var not in cb.indices else None
    values = data[var].where(domain)
    with _too_few_answers(var, values, base, cb, spec):
        if spec["stat"] == "mean":
            v = values if base is None else values.where(values.isin(base))
            est = wt.weighted_mean(pd.to_numeric(v).astype(float), w, level=level)
        else:
            est = wt.weighted_share(values.astype(float), w, spec_codes(spec), base_codes=base, level=level)
    return float(est.estimate), float(est.ci_low), float(est.ci_high)


def domain(spec: dict, data: pd.DataFrame, cb: Codebook) -> pd.Series:
    """The respondents a spec's ``where`` keeps, as a boolean mask over ``data`` (all when it has none)."""
    return where_mask(data, spec.get("where"), cb)


def run_test(
    spec: dict, data: pd.DataFrame, cb: Codebook, alpha: float = 0.05, weighted: bool = False
) -> st.TestResult:
    """The test behind a verdict spec on the sample: the ``where`` subgroup of ``data``.

    Unweighted, the subgroup's rows are tested. Weighted, the subgroup is a
    domain of the full design (``data`` with its ``weight`` column), as R's
    ``svychisq(~a + b, subset(design, …))`` and ``svyglm(…, subset(design, …))``:
    the variance uses every row of the sample, not a design rebuilt on the subgroup.
    """
    mask = domain(spec, data, cb)
    if weighted:
        if WEIGHT not in data:
            raise MeasureError(f"weighted tests need the '{WEIGHT}' column (run 01_cleaning)")
        return test(spec, data, cb, alpha, weights=data[WEIGHT], domain=mask)
    try:
        columns = _spec_columns(spec, cb, data)
    except KeyError:  # an unknown grid: test() says so
        columns = list(data.columns)
    return test(spec, data[columns][mask.to_numpy()], cb, alpha)


def test(
    spec: dict, frame: pd.DataFrame, cb: Codebook, alpha: float = 0.05, weights=None, domain: pd.Series | None = None
) -> st.TestResult:
    """Run the test a spec names (chi2, ttest, anova, tukey).

    With ``weights`` the design-based test is run on ``frame`` as the whole
    design; ``domain`` (a boolean mask over ``frame``) restricts the estimate
    to a subgroup without rebuilding the design on it (see ``run_test``).

    With ``grid`` (or ``vars``) instead of ``var`` the verdict is about every
    item: the test of each item is run and the one with the smallest p is
    returned (significant when any item differs); ``detail['items']`` has all.
    """
    if "var" not in spec:
        results = {v: test({**spec, "var": v}, frame, cb, alpha, weights, domain) for v in grid_vars(spec, cb)}
        best = min(results.values(), key=lambda r: r.p)
        best.detail = dict(best.detail, items={v: r.p for v, r in results.items()})
        return best
    kind, var, by = spec["test"], spec["var"], spec["by"]
    if weights is not None:
        return weighted_test(spec, frame, cb, alpha, weights, domain)
    frame = frame[frame[by].notna()]
    if kind == "chi2":
        frame = frame[frame[var].isin(list(cb.value_labels(var)))]
        if spec.get("groups"):
            frame = frame[frame[by].isin(spec["groups"])]
        result = st.chi_square(frame, var, by, alpha)
        result.detail["dont_know_category"] = _dont_know_kept(frame, var, cb)
        return result
    values = frame[var].where(frame[var].isin(list(cb.value_labels(var)))) if var in cb.variables else frame[var]
    # (indices and recodes are used as they are)
    if kind == "ttest":
        a, b = spec["groups"]
        return st.t_test(values, frame[by], a, b, alpha)
    if kind in ("anova", "tukey"):
        result, tukey = _anova_once(values, frame[by], alpha, tukey=kind == "tukey")
        if kind == "anova":
            return result
        a, b = spec["groups"]
        r = st.tukey_pair(tukey, a, b)
        if r is None:
            raise MeasureError(f"Tukey comparison {a} vs {b} of {var} by {by}: no such groups")
        # oriented as labelled (a vs b): mean(a) − mean(b), its CI, the unrounded adjusted p
        return st.TestResult(
            "tukey",
            float(r["diff"]),
            0,
            float(r["p"]),
            float(r["diff"]),
            "mean diff",
            int(result.n),
            alpha,
            {
                "mean_a": float(r["mean_a"]),
                "mean_b": float(r["mean_b"]),
                "n_a": int(r["n_a"]),
                "n_b": int(r["n_b"]),
                "ci": [float(r["lower"]), float(r["upper"])],
                "n_anova": int(result.n),
            },
        )
    raise MeasureError(f"unknown test {kind!r}")


_ANOVAS: dict = {}  # content hash of (values, groups, alpha) -> [ANOVA, Tukey table or None]; a few dozen entries


def _anova_once(values: pd.Series, groups: pd.Series, alpha: float, tukey: bool = True):
    """``stats.anova`` computed once per variable, grouping and filter: the pairs of one Tukey table
    (three verdicts of a three-group comparison) and its ANOVA share it. Keyed by the data's content.
    The Tukey table only where a post hoc verdict asks for it (``tukey``); an ANOVA verdict alone
    computes the ANOVA (the same function, so the same numbers) and returns None for the table."""
    frame = pd.DataFrame({"y": pd.to_numeric(values, errors="coerce").astype(float), "g": groups})
    key = (int(pd.util.hash_pandas_object(frame, index=True).sum()), len(frame), float(alpha))
    entry = _ANOVAS.get(key)
    if entry is None or (tukey and entry[1] is None):
        if len(_ANOVAS) > 64:
            _ANOVAS.clear()
        entry = _ANOVAS[key] = list(st.anova(values, groups, alpha, tukey=tukey))
    result, table = entry
    return (
        st.TestResult(**{**result.__dict__, "detail": dict(result.detail)}),
        None if table is None else table.copy(),
    )


def _dont_know_kept(frame: pd.DataFrame, var: str, cb: Codebook) -> list[str]:
    """The «Vet ikke» labels that are categories of the crosstab (valid codes the answers use)."""
    used = set(frame[var].dropna().tolist())
    return [
        lab
        for code, lab in cb.value_labels(var).items()
        if code in used and str(lab).strip().lower().startswith("vet ikke")
    ]


def weighted_test(
    spec: dict, frame: pd.DataFrame, cb: Codebook, alpha: float, weights, domain: pd.Series | None = None
) -> st.TestResult:
    """The design-based version of a test: Rao-Scott chi-square, weighted regression t and Wald F.

    ``frame`` is the whole design; the respondents outside ``domain``, outside
    the compared groups or without a valid answer are a domain left out (their
    values are blanked, their rows kept), as R's ``subset(design, …)``.
    Tukey's HSD has no design-based counterpart here: a pairwise comparison of
    three or more groups is the weighted t-test of the pair, unadjusted.
    """
    kind, var, by = spec["test"], spec["var"], spec["by"]
    w = pd.Series(np.asarray(weights, dtype=float), index=frame.index)
    inside = pd.Series(True, index=frame.index) if domain is None else domain.reindex(frame.index).fillna(False)
    inside = inside.astype(bool) & frame[by].notna()
    if kind == "chi2":
        inside &= frame[var].isin(list(cb.value_labels(var)))
        if spec.get("groups"):
            inside &= frame[by].isin(spec["groups"])
        design = pd.DataFrame({var: frame[var].where(inside), by: frame[by].where(inside)}, index=frame.index)
        result = wt.rao_scott_chi2(design, var, by, w.to_numpy(), alpha)
        result.detail["dont_know_category"] = _dont_know_kept(design, var, cb)
        return result
    values = frame[var].where(frame[var].isin(list(cb.value_labels(var)))) if var in cb.variables else frame[var]
    values = pd.to_numeric(values.where(inside)).astype(float)
    groups = frame[by].where(inside)
    if kind in ("ttest", "tukey"):
        a, b = spec["groups"]
        return wt.weighted_mean_difference(values, groups, w, a, b, alpha)
    if kind == "anova":
        return wt.weighted_anova(values, groups, w, alpha)
    raise MeasureError(f"unknown test {kind!r}")


def reference(path: str):
    """A value of population_margins.yml by dotted path, e.g. 'sector_share.values.Offentlig'."""
    node = load_margins()
    for part in path.split("."):
        node = node[part]
    return node


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


def _column_spec(col_spec) -> dict:
    return {"stat": col_spec} if isinstance(col_spec, str) else dict(col_spec)


def table_cell(
    table: str,
    row: str,
    column: str,
    data: pd.DataFrame,
    cb: Codebook,
    specs: dict | None = None,
    excluded: pd.DataFrame | None = None,
    weighted: bool = False,
):
    """The value of one printed cell, from the table's layout spec."""
    spec = cell_spec(table, row, column, cb, specs)
    if spec["stat"] == "reference":
        return reference(spec["path"])
    return evaluate(spec, data, cb, excluded=excluded, key=f"{table}/{row}/{column}", weighted=weighted)


def resolve(lookup: dict, cb: Codebook, specs: dict | None = None) -> dict | None:
    """The result spec behind a published entry's lookup (None when measures.yml has none)."""
    specs = specs or load_measures()
    if "table" in lookup:
        if lookup["table"] not in specs["tables"]:
            return None
        return cell_spec(lookup["table"], lookup["row"], lookup["column"], cb, specs)
    return specs["results"].get(lookup.get("result"))


def cell_spec(table: str, row: str, column: str, cb: Codebook, specs: dict | None = None) -> dict:
    """The result spec of one printed cell: stat, var, codes and where."""
    specs = specs or load_measures()
    try:
        layout = specs["tables"][table]
    except KeyError:
        raise MeasureError(f"measures.yml has no layout for {table}") from None
    col = layout.get("columns", {})
    if col == "scale":
        scale = cb.scales[cb.groups[layout["grid"]].scale]
        code = next((c for c, lab in scale.items() if lab == column), None)
        if code is None:
            raise MeasureError(f"{table}: column '{column}' is not a label of the grid's scale")
        cspec = {"stat": "pct", "code": code}
    else:
        if column not in col:
            raise MeasureError(f"{table}: no spec for column '{column}'")
        cspec = _column_spec(col[column])
    spec = dict(cspec)
    where = [w for w in (layout.get("where"), cspec.get("where")) if w]
    if spec["stat"] == "reference":
        return {"stat": "reference", "path": f"{spec['path']}.{row}"}

    if "grid" in layout or "multi" in layout:
        group = cb.groups[layout.get("grid") or layout.get("multi")]
        # row_vars: printed row label -> item, where the table shortens an item's label
        var = (layout.get("row_vars") or {}).get(row) or next(
            (m for m in group.members if cb.variables[m].label == row), None
        )
        if var is None:
            raise MeasureError(f"{table}: row '{row}' is not an item of {group.name}")
        spec["var"] = var
        if "multi" in layout:
            spec.setdefault("code", 1)
    elif "vars" in layout:  # rows are variables or indices of different questions, by their labels
        var = next((v for v in layout["vars"] if cb.label(v) == row), None)
        if var is None:
            raise MeasureError(f"{table}: row '{row}' is not the label of any of {layout['vars']}")
        spec["var"] = var
    elif "rows" in layout:
        spec["var"] = layout["var"]
        if row not in TOTAL_LABELS:  # 'Totalt' is everyone answering
            where.append(f"{layout['rows']} == {_code_of(layout['rows'], row, cb, table)}")
    else:
        var = layout["var"]
        spec["var"] = var
        if row in TOTAL_LABELS:
            spec["stat"] = {"count": "n", "pct": "pct"}.get(spec["stat"], spec["stat"])
            spec["code"] = list(cb.value_labels(var))
        else:
            spec["code"] = _codes_of_row(layout, row, cb, table)
    if "code" not in spec and "codes" not in spec and spec["stat"] in ("count", "pct"):
        spec["code"] = _code_of(spec["var"], column, cb, table)
    spec["where"] = " and ".join(f"({w})" for w in where) if where else None
    if "code" in spec:
        spec["codes"] = spec_codes(spec)
        del spec["code"]
    return spec


def _code_of(var: str, label: str, cb: Codebook, table: str) -> int:
    for code, lab in cb.value_labels(var, with_missing=True).items():
        if lab == label:
            return code
    raise MeasureError(f"{table}: '{label}' is not a value label of {var}")


def _codes_of_row(layout: dict, row: str, cb: Codebook, table: str) -> list[int]:
    var = layout["var"]
    if layout.get("subtotals"):
        rec = cb.recodes[layout["subtotals"]]
        for group, sub in rec.subtotals.items():
            if sub == row:
                return [c for c, g in rec.map.items() if g == group]
    return [_code_of(var, row, cb, table)]


def row_labels(layout: dict, cb: Codebook, lang: str = "nb") -> list[str]:
    """The rows a layout prints, in order (value labels, subtotal rows, items; 'Totalt' last where it has one)."""
    if "grid" in layout or "multi" in layout:
        group = cb.groups[layout.get("grid") or layout.get("multi")]
        printed = {v: r for r, v in (layout.get("row_vars") or {}).items()}  # the table's shortened labels
        return [printed.get(m, cb.variables[m].label) for m in group.members]
    if "rows" in layout:
        return list(cb.value_labels(layout["rows"]).values()) + ["Totalt"]
    if "vars" in layout:  # one row per variable or index, by its label (no 'Totalt')
        return [cb.label(v) for v in layout["vars"]]
    var = layout["var"]
    labels = list(cb.value_labels(var).values())
    if layout.get("subtotals"):
        rec = cb.recodes[layout["subtotals"]]
        labels = []
        for group in rec.values:
            members = [c for c, g in rec.map.items() if g == group]
            labels += [cb.value_labels(var)[c] for c in members]
            if group in rec.subtotals and len(members) > 1:
                labels.append(rec.subtotals[group])
    return labels + [layout.get("total_label", "Totalt")]


def build_table(
    name: str,
    data: pd.DataFrame,
    cb: Codebook,
    specs: dict | None = None,
    excluded: pd.DataFrame | None = None,
    weighted: bool = False,
) -> pd.DataFrame:
    """A printed table (or a figure's numbers) computed cell by cell from its layout in measures.yml.

    First column: the row labels under the layout's ``header`` (default: the
    variable's label); then one column per printed column header. The same
    cell specs are what the fidelity score evaluates.
    """
    specs = specs or load_measures()
    layout = specs["tables"][name]
    if layout.get("columns") == "scale":
        columns = list(cb.scales[cb.groups[layout["grid"]].scale].values())
    else:
        columns = list(layout["columns"])
    rows = row_labels(layout, cb)
    header = layout.get("header") or cb.label(
        layout.get("rows") or layout.get("var") or layout.get("grid") or layout.get("multi")
    )
    out = {header: rows}
    if layout.get("group_column") and layout.get("subtotals"):
        rec = cb.recodes[layout["subtotals"]]
        var_labels = {lab: c for c, lab in cb.value_labels(layout["var"]).items()}
        sub_labels = {lab: g for g, lab in rec.subtotals.items()}
        out[layout["group_column"]] = [
            rec.values.get(rec.map.get(var_labels[r]) if r in var_labels else sub_labels.get(r), "") for r in rows
        ]
    for col in columns:
        values = []
        for row in rows:
            try:
                values.append(table_cell(name, row, col, data, cb, specs, excluded, weighted))
            except (KeyError, MeasureError):
                values.append(np.nan)
            except wt.WeightingError:  # a weighted cell of a group of one (real data hide it anyway)
                values.append(np.nan)
        out[col] = values
    return pd.DataFrame(out)
