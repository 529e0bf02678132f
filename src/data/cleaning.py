"""From an export to the analysis sample: exclusions, recodes, the open answers' themes, and the derived data 01_cleaning writes."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from src.base import disclosure, paths
from src.base.codebook import Codebook
from src.base.codebook import load as load_codebook
from src.base.files import atomic_write, write_json
from src.data import coding
from src.data.coding import CodingError
from src.data.derived import as_written
from src.data.export import Export, ExportError, read_export


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
    ids = export.data[cb.id]
    if not pd.api.types.is_integer_dtype(ids):  # text ids («R1001», an e-mail address): read, but not usable (#28)
        text = [i for i, v in enumerate(ids) if not pd.isna(v) and not str(v).lstrip("-").isdigit()]
        source = cb.variables[cb.id].source
        raise ExportError(
            export.path,
            [
                f"column '{source}' ({cb.id}): {len(text)} respondent id(s) are text, not whole numbers (row(s) "
                + ", ".join(str(i + 1) for i in text[:10])
                + (" …" if len(text) > 10 else "")
                + "; the ids are not shown, as a text id may name a person); the coding of the open answers and "
                "its review sheets need whole-number ids: export the survey's respondent number"
            ],
        )
    try:
        apply_exclusions(export.data, cb)
    except NoSampleError as exc:
        raise ExportError(export.path, [str(exc)]) from None

    try:  # the researcher's review sheets of the open answers (a decision that is no theme)
        code_open_answers(export, cb)
    except CodingError as exc:
        raise ExportError(export.path, str(exc).splitlines()[1:]) from None
    return export


def code_open_answers(export: Export, codebook: Codebook | None = None):
    """The open answers' themes (src/data/coding.py): ``(data with the theme columns, review figures)``.

    The researcher's reviewed theme where the review sheets (next to the
    export, ``coding/<export name>/``) or the export's own coded columns have
    one, the rules' proposal otherwise. The free text itself stays in
    ``data`` until ``drop_free_text``.
    """
    return coding.apply(export.data, export.path, codebook or load_codebook())


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
        raise NoSampleError(
            f"all {len(data)} respondents were excluded by the codebook's exclusion rules ({counts}); "
            "no analysis sample is left — is this the right export, and are 'role' and "
            "'basic_training' coded as in data/codebook.yml?"
        )
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
        for m in idx.members:  # only answers on the scale count
            items[m] = items[m].where(items[m].isin(list(cb.value_labels(m))))
        enough = items.notna().sum(axis=1) >= idx.min_items
        out[name] = items.mean(axis=1).where(enough)
    return out


def drop_free_text(data: pd.DataFrame, codebook: Codebook | None = None) -> pd.DataFrame:
    """Remove open answers: only coded themes and counts may leave 01_cleaning."""
    cb = codebook or load_codebook()
    return data.drop(columns=[n for n, v in cb.variables.items() if v.free_text and n in data])


def write_derived(
    sample: pd.DataFrame,
    excluded: pd.DataFrame,
    export: Export,
    flow: pd.DataFrame,
    derived_dir: str | Path,
    rake_result=None,
    min_cell: int = 5,
    coding_summary: pd.DataFrame | None = None,
) -> dict:
    """Write the derived data atomically (each file replaced whole, info last).

    Run by the build, into 01_cleaning's staging folder (``VO_DERIVED_STAGE``;
    the build moves the files to ``derived_dir`` once the notebook succeeded);
    run outside the build (JupyterLab, a console, a script), into ``reports/_interactive/derived``:
    the build's derived data are only written by the build.
    """
    if paths.outside_build():  # the build's derived data are the build's alone (paths.interactive_dir)
        out = paths.interactive_dir(derived_dir, "derived")
    elif os.environ.get("VO_DERIVED_STAGE"):
        out = Path(os.environ["VO_DERIVED_STAGE"])
    else:
        out = paths.resolve(derived_dir)
    for frame, name in ((sample, paths.RESPONDENTS_FILE), (excluded, paths.EXCLUDED_FILE)):
        atomic_write(out / name, lambda p, f=frame: as_written(f).to_parquet(p, index=False))  # Int64, as always
    info = data_info(export, flow, rake_result, min_cell)
    if coding_summary is not None:  # the theme tables say how many of their counts are reviewed (#29)
        info["coding"] = coding_counts(sample, coding_summary, export, min_cell)
    write_json(out / paths.DATA_INFO_FILE, info)
    return info


def coding_counts(sample: pd.DataFrame, summary: pd.DataFrame, export: Export, min_cell: int = 5) -> dict:
    """Per coded question, the analysis sample's themes: how many, how many reviewed by the researcher.

    On real data a count of 1 to ``min_cell - 1`` (the reviewed, the proposed
    or all) is stored as ``null``, and so is the reviewed count when the
    proposed one would give it away.
    """
    cb = load_codebook()
    k = disclosure.threshold(min_cell, export.synthetic)
    ids = sample[cb.id]
    out = {}

    def small(n):
        return bool(k) and 0 < n < k

    for r in summary.itertuples(index=False):
        if r.variable not in sample:
            continue
        has = sample[r.variable].notna()
        n, rev = int(has.sum()), int((has & ids.isin(set(r.reviewed_ids))).sum())
        hide = small(n) or small(rev) or small(n - rev)
        out[r.variable] = {"n_themes": None if small(n) else n, "n_reviewed": None if hide else rev}
    return out


def data_info(export: Export, flow: pd.DataFrame, rake_result=None, min_cell: int = 5) -> dict:
    """What built the derived data: the file, its checksum, kind, the flow and the weighting.

    For real data the flow's counts of 1 to ``min_cell - 1`` (and the one
    that would give them away by subtraction) are stored as ``null``.
    """
    k = disclosure.threshold(min_cell, export.synthetic)
    counts = flow["Antall"]
    if k:
        hidden = disclosure.complementary(
            flow[["Trinn", "Antall"]],
            disclosure.mask(flow[["Trinn", "Antall"]], flow[["Antall"]], pd.DataFrame(index=flow.index), k),
        )
        counts = counts.astype(object).where(~hidden["Antall"].to_numpy(), None)
    info = {
        "file": export.path.name,
        "path": paths.relative(export.path),
        "sha256": export.sha256,
        "synthetic": export.synthetic,
        "looks_synthetic": export.looks_synthetic,  # labelled synthetic, but not vouched for: protected (#25)
        "mapping": paths.relative(export.mapping) if export.mapping else None,
        "absent": list(export.absent),  # questions the export lacks (the mapping says so)
        "kind": "syntetiske data" if export.synthetic else "reelle data",
        "n_rows": export.n_rows,
        "n_sample": int(flow.set_index("key").loc["sample", "Antall"]),
        "flow": {key: (None if n is None else int(n)) for key, n in zip(flow["key"], counts)},
    }
    if rake_result is not None:
        info["weighting"] = {
            "variables": list(dict.fromkeys(rake_result.margins["variable"])),
            "cap": rake_result.weight_cap,
            "converged": bool(rake_result.converged),
            "iterations": int(rake_result.iterations),
            "design_effect": float(rake_result.design_effect),
            "effective_n": float(rake_result.effective_n),
        }
    return info


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
        rows.append(
            {
                "Kategori": label,
                "Antall svar": n,
                "Gruppe": rec.values.get(rec.map.get(code), "–"),
                "Egen gruppe": own_group,
                "I tråd med regelen": own_group == (n > rec.min_answers),
            }
        )
    return pd.DataFrame(rows)
