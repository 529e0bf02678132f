"""Fidelity of an export to the report: every published number, recomputed.

    python -m src.synthetic.fidelity                 # the default synthetic export
    python -m src.synthetic.fidelity --raw PATH      # any export the codebook reads
    python -m src.synthetic.fidelity --misses        # list every miss

Reads the export through the codebook (exclusions and recodes as in
01_cleaning), computes each entry of ``published.yml`` with its spec in
``measures.yml`` and compares it with the printed value within the printed
tolerance. The summary separates entries the synthesizer was calibrated on
from those it was not (merged tables, alpha, verdicts): the latter are the
honest test. Entries the report contradicts (flag ``inconsistent``) and
external benchmarks are shown as such, not as misses.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from src.analysis import measures as ms
from src.base import paths, reference
from src.base.codebook import load as load_codebook
from src.base.inputs import default_export_kept, is_current
from src.base.numbers import status_of
from src.base.reference import load_published
from src.data.cleaning import apply_exclusions, apply_recodes, code_open_answers
from src.data.export import read_export
from src.synthetic.synthesize import generate

STATUS_ORDER = ["ok", "avvik", "inconsistent", "ekstern", "ikke spesifisert"]


def prepare(raw_path, cb=None):
    """(sample, excluded) as 01_cleaning makes them."""
    cb = cb or load_codebook()
    export = read_export(raw_path, cb)
    data, _ = code_open_answers(export, cb)
    sample, excluded, _ = apply_exclusions(data, cb)
    return apply_recodes(sample, cb), apply_recodes(excluded, cb)


def score(
    sample: pd.DataFrame,
    excluded: pd.DataFrame,
    entries: list[dict] | None = None,
    specs: dict | None = None,
    cb=None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """One row per published entry: published, reproduced, status."""
    cb = cb or load_codebook()
    entries = entries if entries is not None else load_published()
    specs = specs or reference.load_measures()
    rows = []
    for e in entries:
        lk = e.get("lookup") or {}
        value, status, error = None, None, None
        try:
            if "table" in lk:
                if lk["table"] not in specs["tables"]:
                    status = "ikke spesifisert"
                else:
                    value = ms.table_cell(lk["table"], lk["row"], lk["column"], sample, cb, specs, excluded)
            else:
                spec = specs["results"].get(lk["result"])
                if spec is None:
                    status = "ikke spesifisert"
                elif spec.get("stat") == "external":
                    status = "ekstern"
                else:
                    value = ms.evaluate(spec, sample, cb, excluded=excluded, alpha=alpha, key=lk["result"])
        except ms.MeasureError as exc:
            status, error = "ikke spesifisert", str(exc)
        if status is None:
            status = status_of(e, value)
            if status == "mangler":
                status = "avvik"
        rows.append(
            {
                "id": e["id"],
                "chapter": e["chapter"],
                "source": e["source"],
                "label": e["label"],
                "group": e.get("group"),
                "unit": e["unit"],
                "published": e["value"],
                "reproduced": value,
                "tolerance": e["tolerance"],
                "calibrated": bool(e["calibrated"]),
                "flag": e.get("flag"),
                "status": status,
                "error": error,
            }
        )
    return pd.DataFrame(rows)


def summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Share within tolerance among the scored entries, for calibrated / not calibrated / all."""
    scored = scores[scores["status"].isin(["ok", "avvik", "inconsistent"])]
    out = []
    for name, part in (
        ("kalibrert", scored[scored["calibrated"]]),
        ("ikke kalibrert", scored[~scored["calibrated"]]),
        ("alle", scored),
    ):
        ok = int((part["status"] == "ok").sum())
        out.append(
            {
                "entries": name,
                "scored": len(part),
                "ok": ok,
                "inconsistent_in_report": int((part["status"] == "inconsistent").sum()),
                "share_ok_pct": 100 * ok / len(part) if len(part) else np.nan,
            }
        )
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Score an export against the report's published numbers.")
    ap.add_argument("--raw", default=str(paths.SYNTHETIC_EXPORT))
    ap.add_argument("--misses", action="store_true", help="list every entry outside its tolerance")
    ap.add_argument("--out", help="write the per-entry scores to this CSV")
    args = ap.parse_args(argv)
    raw = paths.resolve(args.raw)
    if raw == paths.SYNTHETIC_EXPORT:
        if not is_current(raw) and not default_export_kept(raw):  # never over a file the build did not make
            generate(raw)
    sample, excluded = prepare(raw)
    scores = score(sample, excluded)
    if args.out:
        scores.to_csv(args.out, index=False)
    counts = scores["status"].value_counts().reindex(STATUS_ORDER, fill_value=0)
    print(f"Fidelity of {paths.relative(raw)} to the {len(scores)} published numbers:")
    print("  " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    for _, r in summary(scores).iterrows():
        print(f"  {r['entries']:>15}: {r['ok']}/{r['scored']} within tolerance ({r['share_ok_pct']:.1f} %)")
    by_chapter = scores[scores["status"].isin(["ok", "avvik", "inconsistent"])].groupby("chapter")["status"]
    print("  per chapter: " + ", ".join(f"{c} {int((s == 'ok').sum())}/{len(s)}" for c, s in by_chapter))
    if args.misses:
        misses = scores[scores["status"].isin(["avvik", "inconsistent"])]
        for _, r in misses.iterrows():
            print(
                f"  {r['status']:>12} {r['id']}: published {r['published']}, reproduced {r['reproduced']}"
                f" (tolerance {r['tolerance']}){' [calibrated]' if r['calibrated'] else ''}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
