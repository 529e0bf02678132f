"""The reproduction scorecard: every published number against what the book computed.

Reads the book's own outputs (``reports/tables/*.csv`` and
``reports/results.json``), never recomputes: the scorecard shows what the
chapters actually state. Each entry of ``published.yml`` gets a status:

- ``ok``            within the printed tolerance (or the report's own rounding)
- ``avvik``         outside it
- ``inconsistent``  outside it where the report contradicts itself (see the note)
- ``ekstern``       not computable from this survey (measures.yml: ``external``, e.g. the 2007 study)
- ``mangler``       the book does not compute it (yet)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from src.base import paths, reference
from src.base.numbers import fmt_number, status_of
from src.base.reference import load_published, published_document
from src.book.tables import markdown_table
from src.book.text import verdict_word

STATUSES = ["ok", "avvik", "inconsistent", "ekstern", "mangler"]
# the statuses as the book shows them (the codes above stay the machine-readable values)
STATUS_TEXT = {
    "ok": "stemmer",
    "avvik": "avvik",
    "inconsistent": "avvik, rapporten motsier seg selv",
    "ekstern": "ekstern kilde",
    "mangler": "ikke beregnet",
}
BOUND_WORDS = {"lower": "minst", "upper": "høyst"}


def printed_decimals(entry: dict) -> int:
    """How many decimals the report prints a published number with.

    From the tolerance the printing implies (0,05 -> 1, 0,005 -> 2) and from
    the value itself (1.3 has one decimal even where the tolerance is wider).
    """
    import math

    value, tol = entry.get("value"), float(entry.get("tolerance") or 0)
    d_tol = int(round(-math.log10(2 * tol))) if 0 < tol < 0.5 else 0
    d_val = 0
    if isinstance(value, float) and not float(value).is_integer():
        d_val = len(repr(value).split(".")[1].rstrip("0"))
    return max(d_tol, d_val)


def published_text(entry: dict, lang: str = "nb") -> str:
    """A published number exactly as the report prints it: «3,9», «0,93», «minst 200», «signifikant»."""
    value = entry.get("value")
    if entry.get("unit") == "verdict" or isinstance(value, bool):
        return verdict_word(bool(value), lang)
    text = fmt_number(value, printed_decimals(entry), lang)
    if entry.get("bound") in BOUND_WORDS:
        word = (
            BOUND_WORDS[entry["bound"]] if lang == "nb" else {"lower": "at least", "upper": "at most"}[entry["bound"]]
        )
        text = f"{word} {text}"
    return text


def tolerance_text(entry: dict, lang: str = "nb") -> str:
    """The tolerance as printed beside the number: «±0,05», «±0,5», «0» (counts), «–» (verdicts, one-sided bounds)."""
    if entry.get("unit") == "verdict" or entry.get("bound") in BOUND_WORDS:
        return "–"
    tol = float(entry.get("tolerance") or 0)
    if tol == 0:
        return "0"
    decimals = printed_decimals({"value": tol, "tolerance": 0})
    return "±" + fmt_number(tol, decimals, lang)


def reproduced_text(entry: dict, value, lang: str = "nb") -> str:
    """The book's value beside the printed one: a count as a whole number, a verdict in words, a share or
    mean with one decimal more than the report prints; «–» when not computed."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if entry.get("unit") == "verdict" or isinstance(value, (bool, np.bool_)):
        return verdict_word(bool(value), lang)
    if isinstance(value, str):
        return value
    if entry.get("unit") == "count":
        return fmt_number(float(value), 0, lang)
    return fmt_number(float(value), printed_decimals(entry) + 1, lang)


def status_text(status: str, lang: str = "nb") -> str:
    return STATUS_TEXT.get(status, status) if lang == "nb" else status


def explanations(path: str | Path | None = None, lang: str = "nb") -> dict[str, str]:
    """Entry id -> the explanation of the report's inconsistency there (published.yml ``inconsistencies``:
    ``merknad`` in Norwegian, ``summary`` for an English book)."""
    doc = published_document(path)
    field = "summary" if lang == "en" else "merknad"  # the book is Norwegian; the English book gets the summary
    return {i: str(item[field]).strip() for item in doc.get("inconsistencies") or [] for i in item["ids"]}


def comparison_row(entry: dict, value, status: str, lang: str = "nb") -> dict:
    """The printed, reproduced, tolerance, status and explanation cells of one comparison row, as shown."""
    note = (
        explanations(lang=lang).get(entry["id"], "")
        if status == "inconsistent" or entry.get("flag") == "inconsistent"
        else ""
    )
    return {
        "Rapporten": published_text(entry, lang),
        "Reprodusert": reproduced_text(entry, value, lang),
        "Toleranse": tolerance_text(entry, lang),
        "Status": status_text(status, lang),
        "Merknad": note,
    }


def entry_label(entry: dict) -> str:
    """The entry's label with its group in brackets, unless the label already names it («… (SSB)», «Industri»)."""
    label, group = entry["label"], entry.get("group")
    if not group or str(group).lower() in label.lower():
        return label
    return f"{label} ({group})"


def anchor(lookup: dict) -> str | None:
    """The anchor of a report table or figure in the book (tabell-13 / figur-8; src/book/captions.py writes them)."""
    t = lookup.get("table", "")
    if t.startswith("tabell_") and t[7:].isdigit():
        return f"tabell-{int(t[7:])}"
    if t.startswith("figur_") and t[6:].isdigit():
        return f"figur-{int(t[6:])}"
    return None


def score_book(reports_dir: str | Path = paths.REPORTS, entries: list[dict] | None = None) -> pd.DataFrame:
    """One row per published entry with the value the book computed and its status."""
    reports = paths.resolve(reports_dir)
    entries = entries if entries is not None else load_published()
    results_path = reports / paths.RESULTS_FILE
    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.exists() else {}

    external = {k for k, spec in reference.load_measures()["results"].items() if spec.get("stat") == "external"}
    tables: dict[str, pd.DataFrame | None] = {}
    rows = []
    for e in entries:
        lk = e.get("lookup") or {}
        value = None
        if "table" in lk:
            name = lk["table"]
            if name not in tables:
                p = reports / paths.TABLES_DIR / f"{name}.csv"
                tables[name] = pd.read_csv(p, encoding="utf-8") if p.exists() else None
            t = tables[name]
            if t is not None:
                t = t.set_index(t.columns[0])
                if lk["row"] in t.index and lk["column"] in t.columns:
                    value = t.loc[lk["row"], lk["column"]]
                    value = None if isinstance(value, float) and np.isnan(value) else value
        else:
            value = results.get(lk.get("result"))
        status = "ekstern" if value is None and lk.get("result") in external else status_of(e, value)
        # links point at the source notebook (Quarto resolves them; the fallback renderer maps them)
        link = f"../reports/executed/{e['chapter']}.ipynb" + (f"#{anchor(lk)}" if anchor(lk) else "")
        rows.append(
            {
                "id": e["id"],
                "chapter": e["chapter"],
                "source": e["source"],
                "label": e["label"],
                "group": e.get("group"),
                "published": e["value"],
                "reproduced": value,
                "tolerance": e["tolerance"],
                "calibrated": bool(e["calibrated"]),
                "flag": e.get("flag"),
                "status": status,
                "link": link,
            }
        )
    return pd.DataFrame(rows)


def summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Counts per chapter and overall, calibrated and not calibrated apart."""
    rows = []
    for chapter, part in list(scores.groupby("chapter")) + [("alle", scores)]:
        for cal_name, sub in (("kalibrert", part[part["calibrated"]]), ("ikke kalibrert", part[~part["calibrated"]])):
            counts = sub["status"].value_counts().reindex(STATUSES, fill_value=0)
            computed = len(sub) - counts["mangler"] - counts["ekstern"]
            rows.append(
                {
                    "Kapittel": chapter,
                    "Kalibrert": cal_name,
                    "Tall": len(sub),
                    "Beregnet": computed,
                    "Stemmer": counts["ok"],
                    "Avvik": counts["avvik"],
                    "Selvmotsigende": counts["inconsistent"],
                    "Ekstern": counts["ekstern"],
                    "Mangler": counts["mangler"],
                    "% stemmer": 100 * counts["ok"] / computed if computed else np.nan,
                }
            )
    return pd.DataFrame(rows)


def headline(scores: pd.DataFrame) -> str:
    """The one-line overall figure the build prints at the end."""
    computed = scores[~scores["status"].isin(["mangler", "ekstern"])]
    ok = int((computed["status"] == "ok").sum())
    pct = 100 * ok / len(computed) if len(computed) else float("nan")
    return (
        f"Scorecard: {ok} of {len(computed)} computed published numbers reproduced within tolerance "
        f"({pct:.1f} %); {int((scores['status'] == 'mangler').sum())} of {len(scores)} not computed yet."
    )


def markdown(scores: pd.DataFrame, lang: str = "nb", weighted: bool = False) -> str:
    """The scorecard appendix: the summary table, then every miss and every inconsistency with its link."""
    shown = summary(scores)  # as printed: chapter by its number, calibrated ja/nei (fits the text column)
    shown["Kapittel"] = shown["Kapittel"].map(lambda c: str(int(c[:2])) if c[:2].isdigit() else c)
    shown["Kalibrert"] = shown["Kalibrert"].map({"kalibrert": "ja", "ikke kalibrert": "nei"})
    parts = ([WEIGHTED_TEXT] if weighted else []) + [markdown_table(shown, {"% stemmer": 1}, lang), ""]
    off = scores[scores["status"].isin(["avvik", "inconsistent"])]
    if off.empty:
        parts.append("Ingen beregnede tall ligger utenfor toleransen.")
    else:
        entries = {e["id"]: e for e in load_published()}
        rows = []
        for r in off.itertuples():
            e = entries.get(r.id) or {
                "id": r.id,
                "label": r.label,
                "group": r.group,
                "value": r.published,
                "tolerance": r.tolerance,
                "flag": r.flag,
            }
            label = entry_label(e)
            rows.append(
                {"Tall": f"[{label}]({r.link})", "Kilde": r.source, **comparison_row(e, r.reproduced, r.status, lang)}
            )
        view = without_empty_notes(pd.DataFrame(rows))
        parts.append("Tall utenfor toleransen:\n\n" + markdown_table(view, lang=lang))
    return "\n".join(parts) + "\n"


WEIGHTED_TEXT = (
    "**Vektet bok** (`weighted: true`): prosentene og gjennomsnittene i denne boken er vektet mot "
    "SSBs fordeling av sysselsatte (følsomhetsanalysen, se vedlegget om vekting), mens rapporten er "
    "uvektet. Avvik fra rapportens tall er derfor ventet: de viser hva vektingen endrer, ikke at "
    "gjenskapingen har feilet. Antallene er uvektede og skal stemme.\n\n"
)


def front(scores: pd.DataFrame, lang: str = "nb", weighted: bool = False) -> str:
    """The front page's one-screen status: how much of the report the book reproduces, per chapter.

    A weighted book (``weighted: true``) says first that its differences from the (unweighted) report are
    the weighting's effect."""
    computed = scores[~scores["status"].isin(["mangler", "ekstern"])]
    ok = int((computed["status"] == "ok").sum())
    rows = []
    for chapter, part in scores.groupby("chapter"):
        comp = part[~part["status"].isin(["mangler", "ekstern"])]
        number = str(int(chapter[:2])) if chapter[:2].isdigit() else chapter  # as the book numbers it, not the notebook
        rows.append(
            {
                "Kapittel": f"[Kapittel {number}](reports/executed/{chapter}.ipynb)",
                "Publiserte tall": len(part),
                "Beregnet": len(comp),
                "Innenfor toleranse": int((comp["status"] == "ok").sum()),
                "Selvmotsigelse i rapporten": int((comp["status"] == "inconsistent").sum()),
                "Avvik": int((comp["status"] == "avvik").sum()),
            }
        )
    pct = fmt_number(100 * ok / len(computed), 1, lang) if len(computed) else "–"
    return (
        (WEIGHTED_TEXT if weighted else "") + f"**Status:** boken regner ut {fmt_number(len(computed))} av rapportens "
        f"{fmt_number(len(scores))} publiserte tall; {fmt_number(ok)} "
        f"({pct} prosent) ligger innenfor rapportens avrunding. Se [avstemmingen](appendices/scorecard.qmd) for hvert tall.\n\n"
        + markdown_table(pd.DataFrame(rows), lang=lang)
        + "\n"
    )


COMPARISON_COLUMNS = ["Rad", "Kolonne", "Rapporten", "Reprodusert", "Toleranse", "Status", "Merknad"]


def without_empty_notes(view: pd.DataFrame) -> pd.DataFrame:
    """A comparison view without its «Merknad» column when no row has an explanation."""
    if "Merknad" in view and not view["Merknad"].fillna("").astype(str).str.strip().any():
        return view.drop(columns="Merknad")
    return view
