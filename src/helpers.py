"""Shared helpers the notebooks call: exclusions, recodes, tables, results.

A chapter notebook stays thin::

    from src import helpers as h
    ch = h.Chapter("02_sample", derived_dir, reports_dir, weighted, lang, alpha)
    t = h.frequency_table(ch.data, "role", subtotals="role_group")
    ch.table(t, "tabell_02")

Everything a notebook shows is computed here from the data and labelled from
the codebook; nothing is typed in by hand.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from functools import lru_cache
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from src import paths
from src.codebook import Codebook, load as load_codebook
from src.export import Export, ExportError, read_export, routed  # noqa: F401  (re-exported for notebooks)

from src.escape import code_span, html_text, md_text  # noqa: F401  (re-exported: what comes from inputs)
from src.inputs import PARAM_TYPES, ParameterError, check_params  # noqa: F401  (re-exported)


# ---------------------------------------------------------------------------
# Cleaning: exclusions, recodes, derived data
# ---------------------------------------------------------------------------

class NoSampleError(ValueError):
    """Every respondent of the export is excluded: no analysis sample is left."""


def validate_export(path: str | Path, codebook: Codebook | None = None) -> Export:
    """Every check 01_cleaning makes on an export, without running it (the build calls this first).

    ``read_export`` (file type, encoding, columns, codes, value labels, ids,
    routing) and the exclusions: an export in which every respondent is
    excluded is an ``ExportError`` naming the file and the counts per rule.
    Returns the export.
    """
    cb = codebook or load_codebook()
    export = read_export(path, cb)
    try:
        apply_exclusions(export.data, cb)
    except NoSampleError as exc:
        raise ExportError(export.path, [str(exc)]) from None
    from src.coding import CodingError

    try:   # the researcher's review sheets of the open answers (a decision that is no theme)
        code_open_answers(export, cb)
    except CodingError as exc:
        raise ExportError(export.path, str(exc).splitlines()[1:]) from None
    return export


def code_open_answers(export: Export, codebook: Codebook | None = None):
    """The open answers' themes (src/coding.py): ``(data with the theme columns, review figures)``.

    The researcher's reviewed theme where the review sheets (next to the
    export, ``coding/<export name>/``) or the export's own coded columns have
    one, the rules' proposal otherwise. The free text itself stays in
    ``data`` until ``drop_free_text``.
    """
    from src import coding

    return coding.apply(export.data, export.path, codebook or load_codebook())


def coding_agreement_table(summary: pd.DataFrame, codebook: Codebook | None = None, lang: str = "nb") -> pd.DataFrame:
    """The review figures of the open answers, one row per question (counts and agreement, never text)."""
    from src import coding

    return coding.agreement_table(summary, codebook or load_codebook(), lang)


def coding_summary(ch: "Chapter", summary: pd.DataFrame, synthetic: bool = False) -> str:
    """Record the review figures per open question in the results and say them in a paragraph."""
    parts = []
    for r in summary.itertuples(index=False):
        key = f"coding.{r.variable}"
        for field in ("n_answers", "n_reviewed", "n_changed", "n_stale", "agreement_pct", "kappa", "kappa_low",
                      "kappa_high"):
            value = getattr(r, field)
            ch.result(f"{key}.{field}", None if pd.isna(value) else value)
        label = ch.codebook.label(r.variable, "nb")
        if r.n_reviewed == 0:
            text = (f"{label}: {r.n_answers} svar, ingen gjennomgått ennå; temaene er regelforslagene "
                    f"({r.n_not_coded} uten treff står som «{ch.codebook.value_labels(r.variable)[_not_coded(r.variable, ch)]}»)")
        else:
            text = (f"{label}: {r.n_answers} svar, {r.n_reviewed} gjennomgått av forsker, som endret "
                    f"{r.n_changed} av forslagene (samsvar {ch.fmt(r.agreement_pct)} prosent, kappa "
                    f"{ch.fmt(r.kappa, 2)}, 95 % KI {ch.fmt(r.kappa_low, 2)}–{ch.fmt(r.kappa_high, 2)})")
            if r.n_reviewed < r.n_answers:
                text += f"; for de {r.n_answers - r.n_reviewed} som ikke er gjennomgått, brukes forslaget"
        if r.n_stale:
            text += (f"; {r.n_stale} svar er endret i eksporten siden de ble vurdert, så der brukes forslaget til "
                     "de er vurdert på nytt (`make coding` markerer dem)")
        if "eksport" in r.review_source:
            text += " (forskerens temaer fra eksportens egne kodekolonner)"
        parts.append(f"- {text}.")
    text = "Per spørsmål:\n\n" + "\n".join(parts)
    if synthetic:
        text += ("\n\nI de syntetiske dataene er «forskerens» tema det temaet svaret ble skrevet for (generatoren fyller "
                 "ut gjennomgangsarkene), så samsvaret måler reglene mot en kjent fasit, ikke en virkelig gjennomgang.")
    return text


def _not_coded(variable: str, ch: "Chapter") -> int:
    from src import coding

    return coding.load_frames(ch.codebook)[variable].not_coded


def apply_exclusions(data: pd.DataFrame, codebook: Codebook | None = None):
    """Split respondents into the analysis sample and the excluded.

    Returns ``(sample, excluded, flow)``: ``excluded`` has a column
    ``exclusion`` (the rule's key); ``flow`` is the sample-flow table (counts
    per rule, in the codebook's order).
    """
    cb = codebook or load_codebook()
    reason = pd.Series(pd.NA, index=data.index, dtype="string")
    for rule in cb.exclusions:
        hit = pd.Series(data.eval(cb.expand(rule.when), engine="python"), index=data.index)
        hit = hit.fillna(False).astype(bool) & reason.isna()
        reason[hit] = rule.key
    sample = data[reason.isna()].copy()
    excluded = data[reason.notna()].copy()
    if sample.empty:
        counts = ", ".join(f"{rule.key}: {int((reason == rule.key).sum())}" for rule in cb.exclusions)
        raise NoSampleError(f"all {len(data)} respondents were excluded by the codebook's exclusion rules ({counts}); "
                         "no analysis sample is left — is this the right export, and are 'role' and "
                         "'basic_training' coded as in data/codebook.yml?")
    excluded["exclusion"] = reason[reason.notna()]
    rows = [("Svarte på hele eller deler av undersøkelsen", "all", len(data))]
    for rule in cb.exclusions:
        rows.append((f"Tatt ut: {rule.label}", rule.key, int((reason == rule.key).sum())))
    rows.append(("Tatt ut i alt", "excluded", len(excluded)))
    rows.append(("Utvalget i analysene", "sample", len(sample)))
    flow = pd.DataFrame(rows, columns=["Trinn", "key", "Antall"])
    return sample.reset_index(drop=True), excluded.reset_index(drop=True), flow


def apply_recodes(data: pd.DataFrame, codebook: Codebook | None = None) -> pd.DataFrame:
    """Add every recode of the codebook as a column (codes not mapped -> missing).

    Recodes whose source column is absent from ``data`` are skipped.
    """
    cb = codebook or load_codebook()
    out = data.copy()
    for name, rec in cb.recodes.items():
        if rec.source not in out:
            continue
        src = out[rec.source]
        out[name] = src.map(rec.map).astype("Int64")
    for name, idx in cb.indices.items():
        if not all(m in out for m in idx.members):
            continue
        items = out[list(idx.members)].apply(pd.to_numeric).astype(float)
        for m in idx.members:   # only answers on the scale count
            items[m] = items[m].where(items[m].isin(list(cb.value_labels(m))))
        enough = items.notna().sum(axis=1) >= idx.min_items
        out[name] = items.mean(axis=1).where(enough)
    return out


RAKING_VARIABLES = ("sector_group", "size_group", "industry_group")
WEIGHT_CAP = 5.0   # no weight above 5 x the mean weight (trimmed, then raked again)


def add_weights(sample: pd.DataFrame, codebook: Codebook | None = None):
    """Raking weights for the analysis sample (column ``weight``), and the raking result.

    Margins: sector (SSB 13472), firm size (SSB 14150) and the industry groups
    (Tabell 4's SSB column) from data/reference/population_margins.yml. The
    report does not weight: the weights serve the sensitivity analysis
    (``weighted: true``), never the default numbers. Respondents missing a
    raking variable keep it missing and are raked on the others
    (``weighting.rake(missing='available')``).
    """
    from src import weighting as wt

    cb = codebook or load_codebook()
    margins = wt.population_margins(industry="industry_group", codebook=cb)
    margins = {v: margins[v] for v in RAKING_VARIABLES}
    result = wt.rake(sample, margins, weight_cap=WEIGHT_CAP, missing="available")
    return sample.assign(weight=result.weights.to_numpy()), result


def raking_table(result, codebook: Codebook | None = None, lang: str = "nb") -> pd.DataFrame:
    """The raking margins for readers: variable and category labels, sample, target and weighted percent."""
    cb = codebook or load_codebook()
    m = result.margins
    table = pd.DataFrame({
        "Variabel": [cb.label(v, lang) for v in m["variable"]],
        "Kategori": [cb.value_labels(v, lang).get(int(c), str(c)) for v, c in zip(m["variable"], m["code"])],
        "Antall": m["n"], "Utvalget": m["sample_pct"], "SSB": m["target_pct"], "Vektet": m["achieved_pct"],
    })
    n = pd.to_numeric(table["Antall"], errors="coerce")   # a category's shares rest on its respondents
    table.attrs["support"] = (pd.DataFrame({"Antall": n, "Utvalget": n, "Vektet": n}), pd.DataFrame(index=table.index))
    return table


def drop_free_text(data: pd.DataFrame, codebook: Codebook | None = None) -> pd.DataFrame:
    """Remove open answers: only coded themes and counts may leave 01_cleaning."""
    cb = codebook or load_codebook()
    return data.drop(columns=[n for n, v in cb.variables.items() if v.free_text and n in data])


def _atomic_write(path: Path, write) -> None:
    """Write via a temporary file in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj) -> None:
    text = json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True, default=_json_default) + "\n"
    _atomic_write(Path(path), lambda p: p.write_text(text, encoding="utf-8"))


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if o is pd.NA:
        return None
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_derived(sample: pd.DataFrame, excluded: pd.DataFrame, export: Export,
                  flow: pd.DataFrame, derived_dir: str | Path, rake_result=None, min_cell: int = 5) -> dict:
    """Write the derived data atomically (each file replaced whole, info last).

    Run by the build, into 01_cleaning's staging folder (``VO_DERIVED_STAGE``;
    the build moves the files to ``derived_dir`` once the notebook succeeded);
    run outside the build (JupyterLab), into ``reports/_interactive/derived``:
    the build's derived data are only written by the build.
    """
    if paths.outside_build():
        out = paths.INTERACTIVE / "derived"
    elif os.environ.get("VO_DERIVED_STAGE"):
        out = Path(os.environ["VO_DERIVED_STAGE"])
    else:
        out = paths.resolve(derived_dir)
    for frame, name in ((sample, paths.RESPONDENTS_FILE), (excluded, paths.EXCLUDED_FILE)):
        _atomic_write(out / name, lambda p, f=frame: f.to_parquet(p, index=False))
    info = data_info(export, flow, rake_result, min_cell)
    write_json(out / paths.DATA_INFO_FILE, info)
    return info


def data_info(export: Export, flow: pd.DataFrame, rake_result=None, min_cell: int = 5) -> dict:
    """What built the derived data: the file, its checksum, kind, the flow and the weighting.

    For real data the flow's counts of 1 to ``min_cell - 1`` (and the one
    that would give them away by subtraction) are stored as ``null``.
    """
    from src import suppression

    k = suppression.threshold(min_cell, export.synthetic)
    counts = flow["Antall"]
    if k:
        hidden = suppression.complementary(flow[["Trinn", "Antall"]], suppression.mask(
            flow[["Trinn", "Antall"]], flow[["Antall"]], pd.DataFrame(index=flow.index), k))
        counts = counts.astype(object).where(~hidden["Antall"].to_numpy(), None)
    info = {
        "file": export.path.name,
        "path": paths.relative(export.path),
        "sha256": export.sha256,
        "synthetic": export.synthetic,
        "kind": "syntetiske data" if export.synthetic else "reelle data",
        "n_rows": export.n_rows,
        "n_sample": int(flow.set_index("key").loc["sample", "Antall"]),
        "flow": {key: (None if n is None else int(n)) for key, n in zip(flow["key"], counts)},
    }
    if rake_result is not None:
        info["weighting"] = {"variables": list(RAKING_VARIABLES), "cap": WEIGHT_CAP,
                             "converged": bool(rake_result.converged), "iterations": int(rake_result.iterations),
                             "design_effect": float(rake_result.design_effect),
                             "effective_n": float(rake_result.effective_n)}
    return info


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------

def share(values: pd.Series, codes, base_codes=None) -> float:
    """Percent of valid answers in ``codes`` (base: answers with a code in ``base_codes``, default all)."""
    codes = [codes] if np.isscalar(codes) else list(codes)
    v = values.dropna()
    if base_codes is not None:
        v = v[v.isin(list(base_codes))]
    return float(100 * v.isin(codes).sum() / len(v)) if len(v) else float("nan")


def frequency_table(data: pd.DataFrame, var: str, codebook: Codebook | None = None, *,
                    lang: str = "nb", subtotals: str | None = None, row_header: str | None = None,
                    count_col: str = "Antall", pct_col: str = "Prosent", total_label: str = "Totalt",
                    include_missing: bool = False, group_header: str | None = None,
                    weights: pd.Series | None = None) -> pd.DataFrame:
    """Counts and percent of valid answers, one row per value label, in codebook order.

    ``subtotals`` names a recode of ``var`` (e.g. ``role_group``): its detail
    rows are listed group by group, followed by the group's subtotal row where
    the codebook gives one (e.g. 'Verneombud totalt'); ``group_header`` adds
    a second column with each row's group label. Missing codes of the
    variable are left out of the base unless ``include_missing``.
    Percentages are unrounded; the book rounds for display.
    """
    cb = codebook or load_codebook()
    labels = cb.value_labels(var, lang, with_missing=include_missing)
    values = data[var]
    valid = values[values.isin(list(labels))]
    counts = valid.value_counts().reindex(list(labels), fill_value=0)
    total = int(counts.sum())
    rows = []  # (label, group label, count)
    if subtotals:
        rec = cb.recodes[subtotals]
        for group, group_label in cb.value_labels(subtotals, lang).items():
            members = [c for c in labels if rec.map.get(c) == group]
            rows += [(labels[c], group_label, int(counts[c])) for c in members]
            if group in rec.subtotals and len(members) > 1:
                sub_label = rec.subtotals[group] if lang == "nb" else f"{group_label}, total"
                rows.append((sub_label, group_label, int(counts[members].sum())))
        # codes outside the grouping (e.g. roles outside the sample) are not shown
        total = int(counts[[c for c in labels if c in rec.map]].sum())
    else:
        rows = [(labels[c], "", int(counts[c])) for c in labels]
    rows.append((total_label, "", total))
    header = row_header or cb.label(var, lang)
    table = pd.DataFrame(rows, columns=[header, group_header or "_group", count_col])
    if not group_header:
        table = table.drop(columns="_group")
    table[pct_col] = 100 * table[count_col] / total if total else np.nan
    if weights is not None:   # weighted percentages; the counts stay the respondents counted
        wsum = pd.Series(weights, index=data.index)[valid.index].groupby(valid).sum().reindex(list(labels), fill_value=0)
        label_codes = {labels[c]: [c] for c in labels}
        if subtotals:
            rec = cb.recodes[subtotals]
            for group, sub in rec.subtotals.items():
                label_codes[sub] = [c for c in labels if rec.map.get(c) == group]
            wtotal = float(wsum[[c for c in labels if c in rec.map]].sum())
        else:
            wtotal = float(wsum.sum())
        label_codes[total_label] = [c for c in labels if not subtotals or c in cb.recodes[subtotals].map]
        table[pct_col] = [100 * float(wsum[label_codes[r]].sum()) / wtotal if wtotal else np.nan
                          for r in table[header]]
    return table


def recode_table(codebook: Codebook, var: str, chain: list[str], lang: str = "nb") -> pd.DataFrame:
    """How each code of ``var`` is recoded through ``chain`` (a list of recodes), from the codebook."""
    rows = []
    for code, label in codebook.value_labels(var, lang, with_missing=True).items():
        row, current = {codebook.label(var, lang): label}, code
        for name in chain:
            rec = codebook.recodes[name]
            current = rec.map.get(current) if current is not None else None
            row[codebook.label(name, lang)] = codebook.value_labels(name, lang).get(current, "(utelatt)")
        rows.append(row)
    return pd.DataFrame(rows)


def load_margins(path: str | Path | None = None) -> dict:
    """Population figures the report cites (data/reference/population_margins.yml)."""
    p = paths.resolve(path) if path else paths.POPULATION_MARGINS
    with open(p, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def multi_table(data: pd.DataFrame, group: str, codebook: Codebook | None = None, lang: str = "nb",
                row_header: str | None = None, weights: pd.Series | None = None) -> pd.DataFrame:
    """A multi-select question: per option, how many ticked it and the percent of those who answered.

    The percentages sum to more than 100 when several options could be ticked.
    """
    cb = codebook or load_codebook()
    g = cb.groups[group]
    answered = data[list(g.members)].notna().any(axis=1)
    n = int(answered.sum())
    rows = [((cb.variables[m].label_en if lang == "en" and cb.variables[m].label_en else cb.variables[m].label),
             int((data.loc[answered, m] == 1).sum())) for m in g.members]
    table = pd.DataFrame(rows, columns=[row_header or (g.label_en if lang == "en" and g.label_en else g.label),
                                        "Antall"])
    table["Prosent"] = 100 * table["Antall"] / n if n else np.nan
    if weights is not None:   # weighted percentages; the counts stay the respondents counted
        w = pd.Series(weights, index=data.index)[answered]
        table["Prosent"] = [100 * float(w[(data.loc[answered, m] == 1)].sum()) / float(w.sum()) for m in g.members]
    return table


def check_min_answers(data: pd.DataFrame, recode: str, codebook: Codebook | None = None) -> pd.DataFrame:
    """Check a 'groups with more than N answers' recode rule against the data.

    Returns one row per source category: its answers, the group it goes to,
    and whether that agrees with the rule (kept as its own group iff > N).
    """
    cb = codebook or load_codebook()
    rec = cb.recodes[recode]
    src_labels = cb.value_labels(rec.source)
    counts = data[rec.source].value_counts().reindex(list(src_labels), fill_value=0)
    pooled = max(rec.map.values(), key=lambda g: list(rec.map.values()).count(g))
    rows = []
    for code, label in src_labels.items():
        n = int(counts[code])
        # the pool itself ('Andre bransjer') stands as its own group too
        own_group = rec.map.get(code) != pooled or label == rec.values[pooled]
        rows.append({
            "Kategori": label, "Antall svar": n, "Gruppe": rec.values.get(rec.map.get(code), "–"),
            "Egen gruppe": own_group, "I tråd med regelen": own_group == (n > rec.min_answers),
        })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# Display
# ---------------------------------------------------------------------------

def round_half_up(x: float, ndigits: int = 0) -> float:
    """Round as the report (SPSS/Excel) does: halves away from zero."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return x
    q = Decimal(1).scaleb(-ndigits)
    return float(Decimal(str(x)).quantize(q, rounding=ROUND_HALF_UP))


def round_as_report(x: float, ndigits: int = 0) -> float:
    """The report's rounding of percentages: to one more decimal first, then half up.

    Every percentage in the report's count tables is the count/base rounded to
    one decimal and then to a whole number (e.g. 78/2233 = 3.49 % -> 3.5 -> 4),
    which is why Tabell 8's column sums to 102. The book prints whole numbers
    the same way; the CSV files keep the unrounded values.
    """
    return round_half_up(round_half_up(x, ndigits + 1), ndigits)


def fmt_number(x, decimals: int = 0, lang: str = "nb") -> str:
    """A number as the report prints it (decimal comma in Norwegian, thin space thousands).

    Whole numbers are rounded as the report rounds them (``round_as_report``).
    """
    from src.suppression import Hidden

    if isinstance(x, Hidden):   # a number resting on fewer than min_cell respondents: not published
        return str(x)
    if x is None or (isinstance(x, float) and np.isnan(x)) or x is pd.NA:
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return ("ja" if x else "nei") if lang == "nb" else ("yes" if x else "no")
    if isinstance(x, str):
        return x
    r = round_as_report(float(x), 0) if decimals == 0 else round_half_up(float(x), decimals)
    text = f"{r:,.{decimals}f}"
    if lang == "nb":
        text = text.replace(",", "\u202f").replace(".", ",")
    if text.startswith("-"):   # a minus sign, not a hyphen (and no «−0» for a negative that rounds to zero)
        text = "\u2212" + text[1:] if text.strip("-0,.\u202f") else text[1:]
    return text


def fmt_p(p: float, lang: str = "nb") -> str:
    """A p-value as the report (and SPSS) prints it: «,012», and «< ,001» for what SPSS shows as ,000."""
    if p < 0.001:
        return "< ,001" if lang == "nb" else "< .001"
    text = f"{round_half_up(float(p), 3):.3f}"
    text = text[1:] if text.startswith("0") else text
    return text.replace(".", ",") if lang == "nb" else text


def _is_p_column(name) -> bool:
    """A column of p-values: headed «p» or «p (…)» (e.g. «p (Holm)»)."""
    return str(name) == "p" or str(name).startswith("p (")


def english_labels(codebook: Codebook | None = None) -> dict[str, str]:
    """Norwegian label -> English label, for showing a table or figure when ``lang`` is 'en'.

    From the codebook (``label_en`` of variables, recodes, indices and grids, and
    the English value labels, scales included), then the common table words
    (``terms:`` in data/reference/captions_en.yml: 'Antall', 'Prosent', 'Totalt', …).
    A label the codebook has no English for stays Norwegian.
    """
    cb = codebook or load_codebook()
    out: dict[str, str] = {}

    def add(nb, en):
        if nb and en and nb != en:
            out.setdefault(str(nb), str(en))

    for item in (*cb.variables.values(), *cb.recodes.values(), *cb.indices.values(), *cb.groups.values()):
        add(item.label, item.label_en)
    for name in (*cb.variables, *cb.recodes):
        nb, en = cb.value_labels(name, "nb", True), cb.value_labels(name, "en", True)
        for code, label in nb.items():
            add(label, en.get(code))
        rec = cb.recodes.get(name)
        if rec is not None:
            for group, sub in rec.subtotals.items():
                add(sub, f"{en.get(group, rec.values.get(group))}, total")
    for ex in cb.exclusions:
        add(ex.label, ex.label_en)
    from src.captions import load_terms

    for nb, en in load_terms().items():
        out.setdefault(nb, en)
    return out


def translate_table(table: pd.DataFrame, labels: dict[str, str],
                    decimals: dict[str, int] | None = None) -> tuple[pd.DataFrame, dict[str, int] | None]:
    """A copy of ``table`` for display with headers and text cells translated (numbers untouched)."""
    shown = table.rename(columns=lambda c: labels.get(str(c), c))
    for col in shown.columns:
        if shown[col].dtype == object or str(shown[col].dtype).startswith(("string", "str")):
            shown[col] = shown[col].map(lambda v: labels.get(v, v) if isinstance(v, str) else v)
    if decimals:
        decimals = {labels.get(k, k): v for k, v in decimals.items()}
    return shown, decimals


def markdown_table(table: pd.DataFrame, decimals: dict[str, int] | None = None, lang: str = "nb",
                   hidden: pd.DataFrame | None = None, hidden_text: str = "") -> str:
    """A pipe table (renders in Quarto HTML and PDF, and in the fallback book).

    ``hidden``: a boolean frame like ``table``; its True cells are printed as ``hidden_text`` (e.g. «<5»).
    The separator dashes follow each column's width (its longest word for the header, its longest
    cell, at most ``MAX_DASHES``): Pandoc sizes the columns of a pipe table wider than 72 characters
    by them, so a label column gets room and a number column stays narrow.
    """
    decimals = decimals or {}
    cols = list(table.columns)
    rows = []
    for i, (_, row) in enumerate(table.iterrows()):
        cells = []
        for c in cols:
            v = row[c]
            if hidden is not None and c in hidden.columns and bool(hidden[c].iloc[i]):
                cells.append(hidden_text)
            elif isinstance(v, (bool, np.bool_)):   # a verdict as the reader says it (the CSV keeps True/False)
                cells.append(("Yes" if v else "No") if lang == "en" else ("Ja" if v else "Nei"))
            elif _is_p_column(c) and isinstance(v, (float, np.floating)) and not np.isnan(v):
                cells.append(fmt_p(v, lang))
            elif isinstance(v, (int, float, np.integer, np.floating)):
                cells.append(fmt_number(v, decimals.get(c, 0), lang))
            else:   # no raw HTML from a value (src/escape.py); the book's own Markdown (links, emphasis) stays
                cells.append(html_text(v).replace("|", "\\|"))
        rows.append(cells)
    header = [html_text(c).replace("|", "\\|") for c in cols]
    widths = column_widths(header, rows)
    numeric = [pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c]) for c in cols]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(("-" * (w - 1) + ":") if num else (":" + "-" * (w - 1))
                            for w, num in zip(widths, numeric)) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def _take_hidden(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table with ``suppression.Hidden`` cells made NaN and their columns numeric again, where they were)."""
    from src.suppression import Hidden

    marked = pd.DataFrame(False, index=table.index, columns=table.columns)
    cols = [c for c in table.columns if table[c].dtype == object]
    if not cols:
        return table, marked
    out = table
    for c in cols:
        is_hidden = table[c].map(lambda v: isinstance(v, Hidden))
        if is_hidden.any():
            if out is table:
                out = table.copy()
            marked[c] = is_hidden.to_numpy()
            col = table[c].where(~is_hidden, np.nan)
            try:
                col = pd.to_numeric(col)
            except (TypeError, ValueError):
                pass
            out[c] = col
    return out, marked


MAX_DASHES = 40   # a long label column gets at most this share (in characters) against the others
MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
WORD_PAD = 3      # a column's longest word plus the cell's inset in the PDF (about two characters) and a space
LINE_BUDGET = 96  # characters of 9 pt table text across the A4 text column (16 cm) of the PDF


def column_widths(header: list[str], rows: list[list[str]]) -> list[int]:
    """Separator dashes per column: what each column needs, squeezed to fit one A4 line.

    A column needs at least its longest word (header or cell) plus ``WORD_PAD`` characters,
    which never wraps; it wants its longest cell (at most ``MAX_DASHES``). When the wants add up
    to more than ``LINE_BUDGET``, the columns that can wrap share what is left after every
    column has its minimum, in proportion to how much more they want.
    """
    mins, wants = [], []
    for j, head in enumerate(header):
        cells = [MD_LINK.sub(r"\1", r[j]) for r in rows]   # a link's target is not shown
        longest_word = max((len(w) for text in [head, *cells] for w in text.split()), default=1)
        mins.append(max(3, longest_word + WORD_PAD))
        wants.append(max(mins[-1], min(MAX_DASHES, max((len(c) for c in cells), default=1))))
    if sum(wants) <= LINE_BUDGET:
        return wants
    spare = max(0, LINE_BUDGET - sum(mins))
    extra = [w - m for w, m in zip(wants, mins)]
    total = sum(extra) or 1
    return [m + round(spare * e / total) for m, e in zip(mins, extra)]


def printed_form(shown: pd.DataFrame, full: str, name: str, pdf: dict, decimals, lang: str,
                 hidden: pd.DataFrame | None = None, hidden_text: str = "") -> str:
    """The whole table for HTML, a shorter one for the PDF (Quarto's content-visible), with a note."""
    what = []
    if pdf.get("table") is not None:   # a printed frame the notebook made (no hidden cells: synthetic or none)
        short, short_hidden = pdf["table"], None
        what.append(f"{pdf.get('rows_text', 'et utvalg av radene')} ({len(short)} av {len(shown)} rader)")
        if pdf.get("note"):
            what.append(pdf["note"])
    else:
        rows = pdf.get("rows")
        keep = (pd.Series(True, index=shown.index) if rows is None
                else pd.Series(rows, index=shown.index).fillna(False)).to_numpy()
        columns = [c for c in (pdf.get("columns") or list(shown.columns)) if c in shown.columns]
        short = shown.loc[keep, columns]
        short_hidden = None if hidden is None else hidden.loc[keep, columns]
        if rows is not None:
            what.append(f"{pdf.get('rows_text', 'et utvalg av radene')} ({len(short)} av {len(shown)} rader)")
        if len(columns) < len(shown.columns):
            what.append(f"kolonnene {', '.join(columns)}")
    note = (f"*Trykt her: {'; '.join(what)}. Hele tabellen står i HTML-utgaven av boka og i "
            f"`reports/tables/{name}.csv`.*")
    return (f'::: {{.content-visible when-format="html"}}\n{full}\n:::\n\n'
            f'::: {{.content-hidden when-format="html"}}\n'
            f"{markdown_table(short, decimals, lang, hidden=short_hidden, hidden_text=hidden_text)}\n\n{note}\n:::")


def _display_markdown(text: str) -> None:
    from IPython.display import Markdown, display

    display(Markdown(text))


# ---------------------------------------------------------------------------
# Published numbers
# ---------------------------------------------------------------------------

def load_published(path: str | Path | None = None) -> list[dict]:
    """The report's numbers (data/reference/published.yml), one dict per entry (fresh copies)."""
    import copy

    p = paths.resolve(path) if path else paths.PUBLISHED
    return copy.deepcopy(_published(str(p), p.stat().st_mtime_ns))


@lru_cache(maxsize=2)
def _published(path: str, mtime: int) -> list[dict]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml: 10x faster on this 600 kB file
    with open(path, encoding="utf-8") as fh:
        return list((yaml.load(fh, Loader=loader) or {}).get("entries") or [])


def published_value(table: str, row: str, column: str, entries: list[dict] | None = None):
    """The printed value of one table cell (KeyError naming the cell if absent)."""
    for e in entries if entries is not None else load_published():
        lk = e.get("lookup") or {}
        if lk.get("table") == table and lk.get("row") == row and lk.get("column") == column:
            return e["value"]
    raise KeyError(f"published.yml has no entry for {table} / row '{row}' / column '{column}'")


def status_of(entry: dict, reproduced) -> str:
    """'ok', 'avvik' (outside tolerance), 'inconsistent' (outside it where the report contradicts itself) or 'mangler'."""
    if reproduced is None or (isinstance(reproduced, float) and np.isnan(reproduced)):
        return "mangler"
    if entry.get("unit") == "verdict":
        ok = bool(reproduced) == bool(entry["value"])
    elif entry.get("bound") in ("lower", "upper"):   # 'over 70 prosent', 'i underkant av 10 prosent'
        value, printed = float(reproduced), float(entry["value"])
        ok = value >= printed if entry["bound"] == "lower" else value <= printed
    else:
        value, printed = float(reproduced), float(entry["value"])
        ok = abs(value - printed) <= float(entry["tolerance"]) + 1e-9
        if not ok and entry.get("unit") == "percent" and float(entry["tolerance"]) == 0.5:
            ok = round_as_report(value) == printed   # the report's own rounding (see round_as_report)
    if ok:
        return "ok"
    return "inconsistent" if entry.get("flag") == "inconsistent" else "avvik"


# ---------------------------------------------------------------------------
# The chapter context used by every notebook
# ---------------------------------------------------------------------------

INTERACTIVE_NOTE = {
    "nb": ("::: {{.callout-note}}\n**Kjørt utenfor byggingen** (ikke av `make book`): tabeller, figurer og "
           "resultater skrives til `{where}/`, ikke til byggingens mapper; byggingen leser aldri derfra. "
           "Boka endres bare av `make book`.\n:::"),
    "en": ("::: {{.callout-note}}\n**Run outside the build** (not by `make book`): tables, figures and results go "
           "to `{where}/`, not to the build's folders; the build never reads from there. Only `make book` "
           "changes the book.\n:::"),
}

FIGURES_ENV = "VO_FIGURES"   # "off": a run whose figures no reader sees (the build's weighted twins) draws none


_PENDING_RESULTS: dict[int, "Chapter"] = {}   # chapters whose results changed in the running cell
_HOOKED_SHELLS: set[int] = set()


def _flush_pending_results(result=None) -> None:
    """IPython ``post_run_cell``: write the results of every chapter that recorded numbers in the cell.

    A write that fails (a full disk) fails the cell, as a failing write inside it would: the kernel then
    reports an error and papermill stops the notebook, so a build never takes an incomplete file for done.
    """
    for ch in list(_PENDING_RESULTS.values()):
        try:
            ch.flush_results()
        except Exception as exc:
            from IPython import get_ipython

            shell = get_ipython()
            if result is None or shell is None:
                raise
            shell.showtraceback()
            result.error_in_exec = exc
            return


def _hook_results_flush() -> bool:
    """Register ``_flush_pending_results`` on the running IPython shell once; False outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    if id(shell) not in _HOOKED_SHELLS:
        shell.events.register("post_run_cell", _flush_pending_results)
        _HOOKED_SHELLS.add(id(shell))
    return True


class Chapter:
    """One notebook's view of the data and its outputs.

    Loads the derived data lazily, writes tables to ``reports/tables``, records
    every stated number in ``reports/results/<notebook>.json`` (merged into
    ``reports/results.json`` by the build) and shows published-vs-reproduced
    views.
    """

    def __init__(self, notebook: str, derived_dir: str = "data/derived", reports_dir: str = "reports",
                 weighted: bool = False, lang: str = "nb", alpha: float = 0.05, raw_path: str | None = None,
                 min_cell: int = 5):
        params = {"derived_dir": derived_dir, "reports_dir": reports_dir, "weighted": weighted,
                  "lang": lang, "alpha": alpha, "min_cell": min_cell}
        if raw_path is not None:
            params["raw_path"] = raw_path
        check_params(params, where=f"parameters of {notebook}")
        self.notebook = notebook
        self.derived_dir = paths.resolve(derived_dir)
        self.reports_dir = paths.resolve(reports_dir)
        self.weighted = weighted
        self.lang = lang
        self.alpha = float(alpha)
        self.min_cell = min_cell
        self.codebook = load_codebook()
        self.results: dict[str, object] = {}
        self._data = None
        self._excluded = None
        self._info = None
        self._published = None
        if paths.outside_build():   # JupyterLab: a scratch folder of its own, never the build's reports
            self.reports_dir = paths.INTERACTIVE
            _display_markdown(INTERACTIVE_NOTE[lang if lang in INTERACTIVE_NOTE else "nb"].format(
                where=paths.relative(paths.INTERACTIVE)))
        self._results_path = self.reports_dir / paths.RESULTS_DIR / f"{notebook}.json"

    @property
    def draws_figures(self) -> bool:
        """False in a run whose figures are never shown (``VO_FIGURES=off``: the build's weighted twins);
        the plotted numbers are written all the same."""
        return os.environ.get(FIGURES_ENV, "").lower() != "off"

    # -- inputs ------------------------------------------------------------
    def _require(self, name: str) -> Path:
        p = self.derived_dir / name
        if not p.exists():
            raise FileNotFoundError(
                f"{paths.relative(p)} does not exist: run 01_cleaning first (make book does this)"
            )
        return p

    @property
    def data(self) -> pd.DataFrame:
        """The analysis sample (respondents.parquet, recodes applied)."""
        if self._data is None:
            self._data = pd.read_parquet(self._require(paths.RESPONDENTS_FILE))
        return self._data

    @property
    def excluded(self) -> pd.DataFrame:
        """Respondents outside the analysis sample, with their exclusion rule."""
        if self._excluded is None:
            self._excluded = pd.read_parquet(self._require(paths.EXCLUDED_FILE))
        return self._excluded

    @property
    def weights(self) -> pd.Series | None:
        """The raking weights when the chapter runs weighted, else None (pass to frequency_table etc.)."""
        return self.data["weight"] if self.weighted else None

    @property
    def info(self) -> dict:
        if self._info is None:
            self._info = json.loads(self._require(paths.DATA_INFO_FILE).read_text(encoding="utf-8"))
        return self._info

    @property
    def published(self) -> list[dict]:
        if self._published is None:
            self._published = load_published()
        return self._published

    # -- outputs -----------------------------------------------------------
    def banner(self, info: dict | None = None) -> None:
        """Show which data built this chapter (synthetic or real, file, sha256, n; weighted or not)."""
        if info is not None:   # 01_cleaning: the export it just read (data_info.json is not written yet)
            self._info = info
        info = info or self.info
        text = data_banner(info, self.lang)
        if self.weighted:
            text += ("\n\n::: {.callout-important}\n**Vektede resultater** (følsomhetsanalyse): prosenter og "
                     "gjennomsnitt er vektet til SSBs fordeling på sektor, virksomhetsstørrelse og bransje, og testene "
                     "er designbaserte. Rapporten selv er uvektet.\n:::")
        _display_markdown(text)

    def result(self, key: str, value, count=None, base=None, spec: dict | None = None, hidden: bool = False):
        """Record one stated number under ``<notebook>.<key>``; returns the value.

        Disclosure control: ``count`` (the respondents the number counts) and
        ``base`` (the size of the group it is about), or ``spec`` (a result spec
        of measures.yml, whose count and group are computed), say what it
        rests on; on real data a number resting on 1 to ``min_cell - 1``
        respondents (or ``hidden=True``, e.g. a cell secondary suppression hid)
        is recorded as null, listed under ``<notebook>.suppressed_results``, and
        returned as ``suppression.Hidden`` («færre enn 5» in prose). ``value`` may be a function of no
        arguments: it is then called only when the number is published (a tiny group may not be computable).
        """
        from src import suppression

        if spec is not None and self.min_cell_in_force:
            count, base = suppression.cell_support(spec, self.data, self.codebook, self._excluded_or_none())
        if callable(value):
            value = (suppression.Hidden(self.min_cell_in_force, "stat" if base is not None else "count", self.lang)
                     if suppression.small(count, base, self.min_cell_in_force) else value())
        value = self.protect(value, count, base)
        if hidden and self.min_cell_in_force and value is not None:
            value = suppression.Hidden(self.min_cell_in_force, "count" if base is None else "stat", self.lang)
        if isinstance(value, (suppression.Hidden, suppression.HiddenTest)):
            listed = self.results.setdefault(f"{self.notebook}.suppressed_results", [])
            if key not in listed:
                listed.append(key)
            self.results[f"{self.notebook}.{key}"] = None
            self.results.pop(f"{self.notebook}.{key}.ci95", None)
            self._results_changed()
            return value
        if isinstance(value, (np.floating, np.integer, np.bool_)):
            value = value.item()
        self.results[f"{self.notebook}.{key}"] = value
        self._results_changed()
        return value

    def _results_changed(self) -> None:
        """Note that ``results`` changed: written now, or (in a kernel) when the running cell ends.

        In IPython (papermill's kernel, JupyterLab) the file is written once
        after each cell that recorded numbers (``flush_results``, hooked on
        ``post_run_cell``), not once per number: a notebook's results file is
        complete whenever no cell is running. A notebook stopped mid-way
        leaves the numbers of its finished cells, in its staging folder, which
        the build removes. Outside IPython (scripts, tests) every number is
        written at once, as before. (IPython skips ``post_run_cell`` for a silent
        execution, which papermill never sends: its numbers go with the next cell's.)
        """
        if _hook_results_flush():
            _PENDING_RESULTS[id(self)] = self
        else:
            self.flush_results()

    def flush_results(self) -> None:
        """Write ``reports/results/<notebook>.json`` from ``results`` (atomically)."""
        _PENDING_RESULTS.pop(id(self), None)
        write_json(self._results_path, self.results)

    def protect(self, value, count=None, base=None, kind: str | None = None):
        """``value``, or ``suppression.Hidden`` when on real data it rests on 1 to ``min_cell - 1`` respondents.

        ``count``: the respondents it counts (a count's own value, a percentage's
        numerator); ``base``: the size of the group it describes (a percentage's
        or a mean's base, the smallest group of a test). ``kind`` ('count' or
        'stat') says how prose names it; by default a number with a ``base`` is a 'stat'.
        """
        from src import suppression

        k = self.min_cell_in_force
        if not k or value is None or isinstance(value, (str, suppression.Hidden)):
            return value
        if suppression.small(count, base, k):
            kind = kind or ("stat" if base is not None and not (isinstance(base, float) and np.isnan(base))
                            else "count")
            return suppression.Hidden(k, kind, self.lang)
        return value

    def count(self, n):
        """A count for prose (e.g. ``len(untrained)``): ``n``, or «færre enn 5» when it is 1 to ``min_cell - 1``."""
        return self.protect(int(n), count=int(n), kind="count")

    @property
    def min_cell_in_force(self) -> int:
        """The small-cell threshold for this chapter's tables: ``min_cell`` on real data, 0 on synthetic data.

        Real unless the data say they are synthetic: when data_info.json cannot
        be read, the tables are protected.
        """
        from src import suppression

        if not self.min_cell:
            return 0
        try:
            synthetic = bool(self.info.get("synthetic"))
        except FileNotFoundError:
            synthetic = False
        return suppression.threshold(self.min_cell, synthetic)

    def table(self, table: pd.DataFrame, name: str, decimals: dict[str, int] | None = None,
              show: bool = True, support: tuple[pd.DataFrame, pd.DataFrame] | None = None,
              pdf: dict | None = None) -> pd.DataFrame:
        """Write ``reports/tables/<name>.csv`` (unrounded) and show it rounded; return the table as written.

        On real data, cells resting on fewer than ``min_cell`` respondents are
        hidden (``src/suppression.py``): shown as «<k», stored empty, with a
        footnote. ``support`` gives each cell's (counts, bases); by default
        'Antall…' columns are counts and 'Prosent…' columns count their row's
        respondents.

        ``pdf``: a shorter printed form of a table too long or too wide for an A4 page, as
        ``{"rows": <boolean Series or None>, "rows_text": "<which rows, in words>", "columns": [...]}``,
        or ``{"table": <the printed frame>, "rows_text": ..., "note": "<what changed, in words>"}``;
        the PDF shows it with a note saying where the whole table is (the HTML book shows it whole,
        and the CSV has it whole).
        """
        from src import suppression

        k = self.min_cell_in_force
        hidden = None
        support = support if support is not None else table.attrs.get("support")
        table, marked = _take_hidden(table)   # numbers the chapter already hid (suppression.Hidden)
        if k:
            counts, bases = support if support is not None else suppression.inferred_support(table)
            hidden = suppression.mask(table, counts.set_axis(table.index[: len(counts)]),
                                      bases.set_axis(table.index[: len(bases)]), k) | marked
            hidden = suppression.complementary(table, hidden) | marked   # no hidden cell recoverable by subtraction
            table = suppression.apply(table, hidden)
            if not hidden.to_numpy().any():
                hidden = None
        path = self.reports_dir / paths.TABLES_DIR / f"{name}.csv"
        _atomic_write(path, lambda p, t=table: t.to_csv(p, index=False, encoding="utf-8", lineterminator="\n"))
        if hidden is not None:
            self.result(f"suppressed_cells.{name}", int(hidden.to_numpy().sum()))
        if show:
            shown, shown_hidden = table, hidden
            if self.lang == "en":   # the CSV keeps the report's labels; the book shows English ones
                shown, decimals = translate_table(table, self._english(), decimals)
                if hidden is not None:
                    shown_hidden = hidden.set_axis(shown.columns, axis=1)
            text = markdown_table(shown, decimals, self.lang, hidden=shown_hidden, hidden_text=f"<{k}")
            if hidden is not None:
                text += "\n\n" + suppression.footnote(int(hidden.to_numpy().sum()), k, self.lang)
            if pdf:
                if pdf.get("table") is not None and self.lang == "en":
                    pdf = dict(pdf, table=translate_table(pdf["table"], self._english())[0])
                text = printed_form(shown, text, name, pdf, decimals, self.lang, shown_hidden, f"<{k}")
            _display_markdown(text)
        return table

    def _english(self) -> dict[str, str]:
        if getattr(self, "_english_labels", None) is None:
            self._english_labels = english_labels(self.codebook)
        return self._english_labels

    # -- numbers computed by their spec in data/reference/measures.yml ------
    def layout_table(self, name: str, decimals: dict[str, int] | None = None, show: bool = True) -> pd.DataFrame:
        """Build a printed table (or a figure's numbers) from its layout in measures.yml, write and show it."""
        from src import measures as ms

        table = ms.build_table(name, self.data, self.codebook, excluded=self._excluded_or_none(),
                               weighted=self.weighted)
        return self.table(table, name, decimals, show, support=self._layout_support(name))

    def _layout_support(self, name: str):
        """(counts, bases) of a layout table's cells when small cells are to be hidden, else None."""
        from src import suppression

        if not self.min_cell_in_force:
            return None
        return suppression.layout_support(name, self.data, self.codebook, excluded=self._excluded_or_none())

    def state(self, key: str):
        """Compute one stated number from its spec in measures.yml and record it under ``key``."""
        from src import measures as ms

        spec = ms.load()["results"].get(key)
        if spec is None:
            raise KeyError(f"measures.yml has no spec for '{key}'")
        from src import suppression

        short = key.split(".", 1)[1] if key.startswith(self.notebook + ".") else key
        count = base = None
        if self.min_cell_in_force:   # what the number rests on (unweighted respondents)
            count, base = suppression.cell_support(spec, self.data, self.codebook, self._excluded_or_none())
        hidden = suppression.small(count, base, self.min_cell_in_force)
        value = suppression.Hidden(self.min_cell_in_force, "count" if spec.get("stat") in suppression.COUNT_STATS
                                   else "stat", self.lang) if hidden else \
            ms.evaluate(spec, self.data, self.codebook, excluded=self._excluded_or_none(),
                        alpha=self.alpha, key=key, weighted=self.weighted)   # not computed when not published
        ci = (ms.interval(spec, self.data, self.codebook, self.weighted)
              if spec.get("stat") in ("pct", "mean") and not hidden else None)
        if ci is not None:   # 95 % confidence interval beside the number (for the weighting appendix)
            self.results[f"{self.notebook}.{short}.ci95"] = [ci[1], ci[2]]
        return self.result(short, value, count, base)

    def verdict(self, key: str):
        """Run the test behind a significance statement; record the verdict and its statistics."""
        from src import measures as ms

        spec = ms.load()["results"][key]
        frame = self.excluded if spec.get("universe") == "excluded" else self.data
        # weighted: the subgroup is a domain of the full design (measures.run_test)
        test = self.run_test(spec, frame, weighted=self.weighted and spec.get("universe", "sample") == "sample")
        short = key.split(".", 1)[1]
        base = short[: -len(".significant")] if short.endswith(".significant") else short
        self.result(short, test.significant)
        for k, v in (("statistic", test.statistic), ("p", test.p), ("effect", test.effect)):
            self.result(f"{base}.{k}", v)
        return test

    def run_test(self, spec: dict, frame: pd.DataFrame, weighted: bool = False):
        """``measures.run_test`` of ``spec`` on ``frame`` (its ``where`` subgroup; weighted, a domain of the
        full design), or ``suppression.HiddenTest`` (not run) when a group it compares is below ``min_cell``
        on real data."""
        from src import measures as ms
        from src import suppression

        hidden = self.protect_test(None, spec)
        if isinstance(hidden, suppression.HiddenTest):
            hidden.test = spec.get("test", "test")
            return hidden
        return ms.run_test(spec, frame, self.codebook, self.alpha, weighted=weighted)

    def protect_test(self, test, spec: dict):
        """``test``, or ``suppression.HiddenTest`` when on real data one of the groups it compares has 1 to
        ``min_cell - 1`` respondents (its statistic, df, p, effect size and verdict are then not published)."""
        from src import suppression

        k = self.min_cell_in_force
        if k and suppression.small(base=suppression.test_group_size(spec, self.data, self.codebook,
                                                                    self._excluded_or_none()), k=k):
            return suppression.HiddenTest(test, k, self.lang)
        return test

    def verdict_table(self, keys: list[str]) -> pd.DataFrame:
        """The report's verdicts beside ours, with the test statistics (one row per comparison)."""
        from src import scorecard

        published = {(e.get("lookup") or {}).get("result"): e for e in self.published}
        notes = scorecard.explanations(lang=self.lang)
        rows = []
        for key in keys:
            t = self.verdict(key)
            e = published.get(key)
            if e is None:   # a test the book adds: the report has no verdict to compare with
                label = _verdict_label(key, self.codebook)
                report, agree = "ikke testet i rapporten", "–"
            else:
                label = e["label"]
                report = "signifikant" if e["value"] else "ikke signifikant"
                agree = "–" if not isinstance(t.significant, bool) else "ja" if bool(e["value"]) == t.significant else (
                    "nei (rapporten motsier seg selv her)" if e.get("flag") == "inconsistent" else "nei")
            rows.append({"Sammenligning": label, "Test": t.describe(self.lang, variant=True),
                         "Rapporten": report, "Reprodusert": verdict_text(t, self.lang), "Samsvar": agree,
                         "Merknad": notes.get(e["id"], "") if e is not None and e.get("flag") == "inconsistent" else ""})
        return _without_empty_notes(pd.DataFrame(rows))

    def figure(self, name: str, kind: str = "auto", value_column: str | None = None) -> pd.DataFrame:
        """Draw a report figure in the house style from its layout in measures.yml.

        Its plotted numbers go to ``reports/tables/<name>.csv``, the figure to
        ``reports/figures/<name>.png``, which is shown (``save_figure``).
        ``kind``: 'diverging' (a grid on a 5-point scale), 'bars' (shares), or
        'auto' (diverging for a grid laid out by scale, bars otherwise).
        """
        from src import measures as ms
        from src import plots

        table = ms.build_table(name, self.data, self.codebook, excluded=self._excluded_or_none(),
                               weighted=self.weighted)
        table = self.table(table, name, show=False, support=self._layout_support(name))
        if not self.draws_figures:
            return table
        layout = ms.load()["tables"][name]
        frame = table.set_index(table.columns[0])
        if self.min_cell_in_force:
            frame = frame.fillna(0)   # hidden small cells are drawn as 0 (the table says they are hidden)
        if kind == "auto":
            kind = "diverging" if layout.get("columns") == "scale" else "bars"
        axis = "Prosent"
        if self.lang == "en":   # the CSV keeps the report's labels; the figure shows English ones
            labels = self._english()
            value_column = labels.get(value_column, value_column) if value_column else None
            frame = frame.rename(index=lambda r: labels.get(str(r), r), columns=lambda c: labels.get(str(c), c))
            axis = labels.get(axis, axis)
        if kind == "diverging":
            fig = plots.diverging_bars(frame, xlabel=axis)
        else:
            fig = plots.share_bars(frame[value_column or frame.columns[0]], xlabel=axis)
        self.save_figure(fig, name)
        return table

    def save_figure(self, fig, name: str) -> None:
        """Save ``fig`` as ``reports/figures/<name>.png`` and show it; close it (callers draw nothing where
        ``draws_figures`` is False: the build's weighted twins)."""
        import matplotlib.pyplot as plt
        from IPython.display import Image, display

        from src import plots

        out = plots.save(fig, name, self.reports_dir / paths.FIGURES_DIR)
        display(Image(filename=str(out["png"])))
        plt.close(fig)

    def _excluded_or_none(self):
        try:
            return self.excluded
        except FileNotFoundError:
            return None

    def md(self, text: str) -> None:
        """Show prose (Markdown) whose numbers were computed by the caller."""
        _display_markdown(text)

    def fmt(self, x, decimals: int = 0, n=None) -> str:
        """A number for prose; «færre enn 5» / «(skjult: …)» when it is hidden, or when ``n`` (the group it
        rests on) is 1 to ``min_cell - 1`` on real data."""
        if n is not None:
            x = self.protect(x, base=n, kind="count" if decimals == 0 and x == n else "stat")
        return fmt_number(x, decimals, self.lang)

    def compare(self, table_name: str) -> pd.DataFrame:
        """Published vs reproduced for every cell of one table that the report prints.

        As shown: the report's value as printed («3,9», «minst 200»), ours with
        one decimal more (counts whole, verdicts in words), the tolerance, the
        status and, where the report contradicts itself, the explanation
        (``scorecard.comparison_row``).
        """
        from src import scorecard
        path = self.reports_dir / paths.TABLES_DIR / f"{table_name}.csv"
        ours = pd.read_csv(path, encoding="utf-8")
        ours = ours.set_index(ours.columns[0])
        rows = []
        for e in self.published:
            lk = e.get("lookup") or {}
            if lk.get("table") != table_name:
                continue
            try:
                value = ours.loc[lk["row"], lk["column"]]
            except KeyError:
                value = None
            rows.append({"Rad": lk["row"], "Kolonne": lk["column"],
                         **scorecard.comparison_row(e, value, status_of(e, value), self.lang)})
        return _without_empty_notes(pd.DataFrame(rows, columns=COMPARISON_COLUMNS))

    def show_comparison(self, table_name: str) -> pd.DataFrame:
        """One line: how many printed cells we reproduce within tolerance; the cells that differ listed.

        Every cell's comparison is written to ``reports/tables/avstemming_<table>.csv``.
        """
        from src import scorecard

        view = self.compare(table_name)
        self.table(view, f"avstemming_{table_name}", show=False)
        ok = int((view["Status"] == scorecard.status_text("ok", self.lang)).sum())
        text = (f"**Rapporten mot reprodusert, {table_name.replace('_', ' ')}:** {ok} av {len(view)} trykte celler "
                "innenfor avrundingstoleransen")
        off = _without_empty_notes(view[view["Status"] != scorecard.status_text("ok", self.lang)])
        if off.empty:
            _display_markdown(text + ".")
        else:
            _display_markdown(text + "; disse skiller seg fra rapporten:\n\n"
                              + markdown_table(off, lang=self.lang))
        return view

    def compare_results(self, keys: list[str] | None = None) -> pd.DataFrame:
        """Published vs reproduced for the stated numbers this notebook recorded ('ekstern': another study's)."""
        from src import measures as ms
        from src import scorecard

        rows = []
        for e in self.published:
            key = (e.get("lookup") or {}).get("result")
            if not key or not key.startswith(self.notebook + ".") or (keys and key not in keys):
                continue
            value = self.results.get(key)
            external = value is None and (ms.load()["results"].get(key) or {}).get("stat") == "external"
            hidden = key[len(self.notebook) + 1:] in self.results.get(f"{self.notebook}.suppressed_results", [])
            status = "skjult" if hidden else "ekstern" if external else status_of(e, value)
            rows.append({"Tall": scorecard.entry_label(e), "Kilde": e["source"],
                         **scorecard.comparison_row(e, str(value) if hidden else value, status, self.lang)})
        return _without_empty_notes(pd.DataFrame(rows, columns=["Tall", "Kilde", *COMPARISON_COLUMNS[2:]]))


COMPARISON_COLUMNS = ["Rad", "Kolonne", "Rapporten", "Reprodusert", "Toleranse", "Status", "Merknad"]


def _without_empty_notes(view: pd.DataFrame) -> pd.DataFrame:
    """A comparison view without its «Merknad» column when no row has an explanation."""
    if "Merknad" in view and not view["Merknad"].fillna("").astype(str).str.strip().any():
        return view.drop(columns="Merknad")
    return view


def verdict_text(test, lang: str = "nb") -> str:
    """'signifikant' / 'ikke signifikant' (at the chapter's alpha) for prose and tables; 'ikke vist' for a
    test one of whose groups is below ``min_cell`` (``suppression.HiddenTest``)."""
    from src.suppression import HiddenTest

    if isinstance(test, HiddenTest):
        return "not shown" if lang == "en" else "ikke vist"
    return verdict_word(test.significant, lang)


def verdict_word(significant: bool, lang: str = "nb") -> str:
    if lang == "en":
        return "significant" if significant else "not significant"
    return "signifikant" if significant else "ikke signifikant"


def significance(test, lang: str = "nb") -> str:
    """'statistisk signifikant' / 'ikke statistisk signifikant' for prose, 'ikke vist' for a hidden test."""
    from src.suppression import HiddenTest

    if isinstance(test, HiddenTest):
        return "not shown" if lang == "en" else "ikke vist"
    if lang == "en":
        return "statistically significant" if test.significant else "not statistically significant"
    return "statistisk signifikant" if test.significant else "ikke statistisk signifikant"


def _verdict_label(key: str, codebook: Codebook | None = None) -> str:
    """A readable name for a book-only test key, from its spec in measures.yml and the codebook.

    '07_usefulness.t27_presenter.bransjetilpasning.significant' (an ANOVA by
    ``tailoring``) -> 'Kursholderen(e) hadde gode formidlingsevner (Bransjerettet / Delvis bransje /
    Generelt)'; a pairwise test names its two groups ('Korte under 2 dager mot Middels 2-4 dager').
    Without a codebook: '<measure>: <groups>' as before.
    """
    from src import measures as ms

    parts = key.split(".")
    measure, groups = (parts[1], parts[2]) if len(parts) > 3 else (parts[-2], "")
    spec = ms.load()["results"].get(key) or {}
    var, by = spec.get("var") or spec.get("grid"), spec.get("by")
    if codebook is None or not var or not by:
        return f"{measure.replace('_', ' ')}: {groups.replace('_vs_', ' mot ').replace('_', ' ')}".strip(": ")
    labels = codebook.value_labels(by)
    if spec.get("groups") and len(spec["groups"]) == 2:
        between = " mot ".join(labels.get(g, str(g)) for g in spec["groups"])
    elif len(labels) <= 4:
        between = " / ".join(labels.values())
    else:
        between = f"alle {len(labels)} grupper av «{codebook.label(by)}»"
    return f"{codebook.label(var)} ({between})"


def data_banner(info: dict, lang: str = "nb") -> str:
    """One Markdown callout naming the data behind a page."""
    if lang == "en":
        kind = "SYNTHETIC data (calibrated to the report's published numbers)" if info["synthetic"] else "REAL survey data"
        return (f"::: {{.callout-{'warning' if info['synthetic'] else 'note'}}}\n"
                f"**Data:** {kind} — file {code_span(info['file'])}, sha256 {code_span(info['sha256'])}, "
                f"{info['n_rows']} respondents, {info['n_sample']} in the analysis sample.\n:::")
    kind = ("SYNTETISKE data (kalibrert mot rapportens publiserte tall, ikke de reelle svarene)"
            if info["synthetic"] else "REELLE data fra undersøkelsen")
    return (f"::: {{.callout-{'warning' if info['synthetic'] else 'note'}}}\n"
            f"**Datagrunnlag:** {kind} — fil {code_span(info['file'])}, sha256 {code_span(info['sha256'])}, "
            f"{info['n_rows']} respondenter, {info['n_sample']} i analyseutvalget.\n:::")


# Group differences picked from the data, theme rankings and the summary of differences
# (defined in src/comparisons.py, which uses the Chapter above).
from src.comparisons import (  # noqa: E402,F401
    comparison_overview, comparison_summary, group_key, mean_gaps, option_differences, theme_ranking,
)


def external_value(ch: "Chapter", key: str):
    """A number the report quotes from another study (e.g. SINTEF's 2007 survey), read from published.yml.

    Only for keys whose measure is ``stat: external`` in measures.yml: the value
    is the report's (the published.yml entry whose ``lookup.result`` is
    ``key``), never computed and never typed into a notebook. It is *not*
    recorded as a result: the book does not reproduce it, so the scorecard and
    ``compare_results`` list it as 'ekstern' rather than as reproduced. Where the
    book shows it (``study_comparison``), it goes into that figure's CSV.
    """
    from src import measures as ms

    spec = ms.load()["results"].get(key)
    if not spec or spec.get("stat") != "external":
        raise KeyError(f"measures.yml: '{key}' is not an external number (stat: external); compute it with ch.state")
    entries = [e for e in ch.published if (e.get("lookup") or {}).get("result") == key]
    if len(entries) != 1:
        raise KeyError(f"published.yml: {len(entries)} entries with lookup.result '{key}', expected 1")
    return entries[0]["value"]


def stated_value(ch: "Chapter", key: str):
    """``ch.state(key)`` (computed and recorded), or ``external_value(ch, key)`` (read, not recorded) when
    measures.yml marks the number external."""
    from src import measures as ms

    spec = ms.load()["results"].get(key) or {}
    return external_value(ch, key) if spec.get("stat") == "external" else ch.state(key)


def study_comparison(ch: "Chapter", name: str, items: dict[str, str], categories: dict[str, str],
                     studies: dict[str, str]) -> pd.DataFrame:
    """This survey beside an earlier one: stacked shares per item, one bar per study (a figure).

    ``items`` maps a result-key prefix to the item's variable (its label names
    the panel), e.g. ``{"07_usefulness.f10_adapted_today": "training_general_adapted_today"}``;
    ``categories`` maps a column label to the key suffix of its share, e.g.
    ``{"Helt enig": "_fully_agree_pct"}``; ``studies`` maps a study label to the
    suffix of its keys, e.g. ``{"2007": ".2007", "2024": ""}``. Every number is
    ``stated_value`` of ``prefix + category suffix + study suffix``: computed by
    its measure, or read from published.yml when it is another study's.
    Writes ``reports/tables/<name>.csv`` (a row per item and study, a column per
    category and their sum, 'Sum'), the figure to ``reports/figures/<name>.png``
    (``Chapter.save_figure``), shows it and returns the table.
    """
    from src import plots

    item_col, study_col = "Påstand", "Undersøkelse"
    rows = []
    for prefix, var in items.items():
        for study, suffix in studies.items():
            row = {item_col: ch.codebook.label(var, ch.lang), study_col: study}
            for label, cat in categories.items():
                row[label] = stated_value(ch, f"{prefix}{cat}{suffix}")
            row["Sum"] = sum(row[label] for label in categories)
            rows.append(row)
    table = ch.table(pd.DataFrame(rows), name, show=False)   # hidden numbers are drawn as nothing
    if not ch.draws_figures:
        return table
    fig = plots.comparison_bars(table.fillna(0), item_col, study_col, list(categories))
    ch.save_figure(fig, name)
    return table


def reliability_table(ch: "Chapter", key: str) -> pd.DataFrame:
    """Item-total statistics of the index behind an alpha result (``stat: alpha`` in measures.yml).

    One row per item (its codebook label): mean, corrected item-total
    correlation, Cronbach's alpha if the item is left out, and the complete
    answers the statistics rest on (``stats.cronbach_alpha``, unweighted as
    alpha always is here). The alpha itself is stated with ``ch.state(key)``.
    """
    from src import measures as ms
    from src import stats as st

    spec = ms.load()["results"][key]
    if spec.get("stat") != "alpha":
        raise KeyError(f"measures.yml: '{key}' is not an alpha (stat: alpha)")
    frame = ch.data
    if spec.get("where"):
        frame = frame[frame.eval(ch.codebook.expand(spec["where"]), engine="python").fillna(False).astype(bool)]
    items = list(ch.codebook.groups[spec["grid"]].members) if "grid" in spec else list(spec["vars"])
    _, stats = st.cronbach_alpha(frame[items])
    return pd.DataFrame({
        "Påstand": [ch.codebook.label(v, ch.lang) for v in stats["item"]],
        "Gjennomsnitt": stats["mean"],
        "Korrigert item-total-korrelasjon": stats["item_total_r"],
        "Alpha uten påstanden": stats["alpha_if_deleted"],
        "Antall (komplette svar)": stats["n"],
    })
