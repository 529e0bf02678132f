"""The coder's learning curve for readers: the tables of ``data/reference/coding_eval.yml``.

The result is computed by ``python -m src.synthetic.coding_eval --write`` from
the committed evaluation sets (the independent holdout
tests/data/coding_eval_holdout.yml, the examples data/coding_examples.yml); the method
chapter (01_cleaning) and docs/coding.md show it through these functions.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from src.base import paths

RESULT = paths.REFERENCE / "coding_eval.yml"


KIND_LABELS = {
    "plain": "vanlig bokmål",
    "nynorsk": "nynorsk",
    "dialect": "dialekt",
    "typo": "skrivefeil",
    "synonym": "andre ord enn rammens",
    "negation": "nektelse",
    "long": "lange svar",
    "english": "engelske ord",
    "multi": "flere temaer",
    "nonanswer": "ikke-svar",
    "compound": "sammensatte ord",
    "generator": "generatorens svar",
}


def load_result(path: Path = RESULT) -> dict:
    """The stored evaluation (computed by ``--write`` from the committed evaluation sets)."""
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def curve_table(result: dict):
    """The learning curve for readers: one row per number of reviewed answers per question.

    Percent right on the answers not reviewed, and beside it the unreviewed coder on the same answers (the
    review sheet puts the least sure answers first, so the rest is easier than the whole: the difference
    between the two is what the reviews taught)."""
    rows = []
    for k, v in sorted(result["curve"].items(), key=lambda kv: int(kv[0])):
        a = v["all"]
        rows.append(
            {
                "Gjennomgåtte svar per spørsmål": int(k),
                "Riktig (prosent)": 100 * a["accuracy"],
                "Riktig uten gjennomgang, samme svar (prosent)": 100 * a["baseline_accuracy"]
                if a.get("baseline_accuracy") is not None
                else None,
                "Kappa": a["kappa"],
                "Ikke kodet, foreslått (prosent)": 100 * a["not_coded_proposed"],
                "Ikke kodet, fasit (prosent)": 100 * a["not_coded_gold"],
                "Høyeste sikkerhet: andel av svarene (prosent)": 100 * a["top_band_share"],
                "Høyeste sikkerhet: riktig (prosent)": None
                if a["top_band_accuracy"] is None
                else 100 * a["top_band_accuracy"],
            }
        )
    return pd.DataFrame(rows)


def kind_table(result: dict):
    """Percent right by kind of answer (rows) and number of reviewed answers per question (columns)."""
    curve = sorted(result["curve"].items(), key=lambda kv: int(kv[0]))
    kinds = sorted({k for _, v in curve for k in v["all"]["by_kind"]})
    rows = []
    for kind in kinds:
        row = {
            "Slags svar": KIND_LABELS.get(kind, kind),
            "Antall": int(round(curve[0][1]["all"]["by_kind"].get(kind, {}).get("n", 0))),
        }
        for k, v in curve:
            got = v["all"]["by_kind"].get(kind)
            row[f"{int(k)} gjennomgått"] = None if got is None else 100 * got["accuracy"]
        rows.append(row)
    return pd.DataFrame(rows)
