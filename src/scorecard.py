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

from src import helpers as h
from src import paths

STATUSES = ["ok", "avvik", "inconsistent", "ekstern", "mangler"]


def anchor(lookup: dict) -> str | None:
    """The anchor of a report table or figure in the book (tabell-13 / figur-8; src/captions.py writes them)."""
    t = lookup.get("table", "")
    if t.startswith("tabell_") and t[7:].isdigit():
        return f"tabell-{int(t[7:])}"
    if t.startswith("figur_") and t[6:].isdigit():
        return f"figur-{int(t[6:])}"
    return None


STATUS_WORDS = {"ok": "ok", "avvik": "avvik", "inconsistent": "selvmotsigende", "ekstern": "ekstern",
                "mangler": "mangler"}   # the status as the appendix prints it (Norwegian)


def _shown(value):
    """A published or reproduced value for the appendix: significance verdicts as Ja/Nei."""
    if isinstance(value, (bool, np.bool_)):
        return "Ja" if value else "Nei"
    return value


def score_book(reports_dir: str | Path = paths.REPORTS, entries: list[dict] | None = None) -> pd.DataFrame:
    """One row per published entry with the value the book computed and its status."""
    reports = paths.resolve(reports_dir)
    entries = entries if entries is not None else h.load_published()
    results_path = reports / paths.RESULTS_FILE
    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.exists() else {}
    from src import measures as ms

    external = {k for k, spec in ms.load()["results"].items() if spec.get("stat") == "external"}
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
        status = "ekstern" if value is None and lk.get("result") in external else h.status_of(e, value)
        # links point at the source notebook (Quarto resolves them; the fallback renderer maps them)
        link = f"../reports/executed/{e['chapter']}.ipynb" + (f"#{anchor(lk)}" if anchor(lk) else "")
        rows.append({"id": e["id"], "chapter": e["chapter"], "source": e["source"], "label": e["label"],
                     "group": e.get("group"), "published": e["value"], "reproduced": value,
                     "tolerance": e["tolerance"], "calibrated": bool(e["calibrated"]), "flag": e.get("flag"),
                     "status": status, "link": link})
    return pd.DataFrame(rows)


def summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Counts per chapter and overall, calibrated and not calibrated apart."""
    rows = []
    for chapter, part in list(scores.groupby("chapter")) + [("alle", scores)]:
        for cal_name, sub in (("kalibrert", part[part["calibrated"]]), ("ikke kalibrert", part[~part["calibrated"]])):
            counts = sub["status"].value_counts().reindex(STATUSES, fill_value=0)
            computed = len(sub) - counts["mangler"] - counts["ekstern"]
            rows.append({"Kapittel": chapter, "Kalibrert": cal_name, "Tall": len(sub), "Beregnet": computed,
                         "Ok": counts["ok"], "Avvik": counts["avvik"], "Selvmotsigende": counts["inconsistent"],
                         "Ekstern": counts["ekstern"], "Mangler": counts["mangler"],
                         "% ok": 100 * counts["ok"] / computed if computed else np.nan})
    return pd.DataFrame(rows)


def headline(scores: pd.DataFrame) -> str:
    """The one-line overall figure the build prints at the end."""
    computed = scores[~scores["status"].isin(["mangler", "ekstern"])]
    ok = int((computed["status"] == "ok").sum())
    pct = 100 * ok / len(computed) if len(computed) else float("nan")
    return (f"Scorecard: {ok} of {len(computed)} computed published numbers reproduced within tolerance "
            f"({pct:.1f} %); {int((scores['status'] == 'mangler').sum())} of {len(scores)} not computed yet.")


def markdown(scores: pd.DataFrame, lang: str = "nb") -> str:
    """The scorecard appendix: the summary table, then every miss and every inconsistency with its link."""
    parts = [h.markdown_table(summary(scores), {"% ok": 1}, lang), ""]
    off = scores[scores["status"].isin(["avvik", "inconsistent"])]
    if off.empty:
        parts.append("Ingen beregnede tall ligger utenfor toleransen.")
    else:
        view = off.assign(Tall=[f"[{r.label}]({r.link})" for r in off.itertuples()])[
            ["Tall", "source", "group", "published", "reproduced", "tolerance", "status"]]
        view.columns = ["Tall", "Kilde", "Gruppe", "Rapporten", "Reprodusert", "Toleranse", "Status"]
        view = view.assign(Rapporten=view["Rapporten"].map(_shown), Reprodusert=view["Reprodusert"].map(_shown),
                           Status=view["Status"].map(lambda v: STATUS_WORDS.get(v, v)))
        parts.append("Tall utenfor toleransen:\n\n" + h.markdown_table(view.fillna(""), {"Reprodusert": 2}, lang))
    return "\n".join(parts) + "\n"


def front(scores: pd.DataFrame, lang: str = "nb") -> str:
    """The front page's one-screen status: how much of the report the book reproduces, per chapter."""
    computed = scores[~scores["status"].isin(["mangler", "ekstern"])]
    ok = int((computed["status"] == "ok").sum())
    rows = []
    for chapter, part in scores.groupby("chapter"):
        comp = part[~part["status"].isin(["mangler", "ekstern"])]
        rows.append({"Kapittel": f"[{chapter}](reports/executed/{chapter}.ipynb)", "Publiserte tall": len(part),
                     "Beregnet": len(comp),
                     "Innenfor toleranse": int((comp["status"] == "ok").sum()),
                     "Selvmotsigelse i rapporten": int((comp["status"] == "inconsistent").sum()),
                     "Avvik": int((comp["status"] == "avvik").sum())})
    pct = h.fmt_number(100 * ok / len(computed), 1, lang) if len(computed) else "–"
    return (f"**Status:** boken regner ut {len(computed)} av rapportens {len(scores)} publiserte tall; {ok} "
            f"({pct} prosent) ligger innenfor rapportens avrunding. Se [avstemmingen](appendices/scorecard.qmd) for hvert tall.\n\n"
            + h.markdown_table(pd.DataFrame(rows), lang=lang) + "\n")
