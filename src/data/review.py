"""``make coding``: write or update the review sheets of an export's open answers (``python -m src.data.review``)."""

from __future__ import annotations

import argparse
import shlex
import sys

import yaml

from src.base import paths
from src.base.codebook import load as load_codebook
from src.data.coding import write_review_sheets
from src.data.export import read_export


def book_command(raw) -> str:
    """The exact ``make book`` command that builds from ``raw`` (plain ``make book`` for params.yml's export)."""
    default = (yaml.safe_load(paths.PARAMS.read_text(encoding="utf-8")) or {}).get("raw_path")
    if default and paths.resolve(default) == paths.resolve(raw):
        return "make book"
    return f'make book ARGS="-p raw_path={shlex.quote(str(paths.relative(raw)))}"'


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write or update the review sheets of the open answers of an export.")
    ap.add_argument("--raw", help="the export (default: raw_path in params.yml)")
    args = ap.parse_args(argv)
    raw = args.raw
    if not raw:
        raw = (yaml.safe_load(paths.PARAMS.read_text(encoding="utf-8")) or {}).get("raw_path")
    raw = paths.resolve(raw)
    if not raw.exists():
        hint = " (the synthetic one: make synth)" if raw == paths.SYNTHETIC_EXPORT else ""
        print(f"The export {paths.relative(raw)} does not exist{hint}.", file=sys.stderr)
        return 1
    cb = load_codebook()
    export = read_export(raw, cb)
    stats = write_review_sheets(raw, export.data, cb)
    where = paths.relative(paths.review_dir(raw))
    print(f"Review sheets of {paths.relative(raw)} in {where}/ (free text: keep them with the raw data, never commit):")
    for name, s in stats.items():
        print(
            f"  {name}.csv: {s['answers']} answers, {s['added']} new, {s['changed']} changed since reviewed, "
            f"{s['reviewed']} reviewed, {s['audit_reviewed']} of the {s['audit']} in the random audit sample"
            + (f", {s['gone']} no longer in the export" if s["gone"] else "")
        )
        if s["carried"] or s["carried_flagged"]:
            print(
                f"    carried over from the sheets of {s['carried_from']}: {s['carried']} decisions (same respondent, "
                f"same text); {s['carried_flagged']} answers changed since, flagged to review again"
            )
        if s["unmatched"]:
            print(f"    decisions whose row matches no answer of this export (not used): {', '.join(s['unmatched'])}")
    print(
        "Enter the theme's code (see kodeliste.csv) in the column 'forsker' (several: 3+5; or «ikke svar», "
        "«ingen tema», «ikke gjenkjent»); review the rows marked «kontroll (tilfeldig)» first: the agreement is "
        "measured on them. Suggested new themes: forslag_nye_temaer.csv."
    )
    print(f"Then build the book from this export:\n  {book_command(raw)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
