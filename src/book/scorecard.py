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
from src.base.numbers import fmt_number, fmt_p, status_of
from src.base.reference import load_published, published_document
from src.book.tables import markdown_table, notes_below
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


def where_shown(entry: dict, shown: dict, read_table) -> tuple[str | None, pd.Series | None]:
    """The table (a key of ``shown``) whose row shows ``entry``'s number, and that row.

    A report table's cell: that table. A number stated in the text, or a verdict: the first table of the
    entry's chapter with a row of the entry's label (the test that made a verdict comes before the
    chapter's «Rapporten mot reprodusert: tallene i teksten», which lists every stated number)."""
    lk = entry.get("lookup") or {}
    if "table" in lk:
        return (lk["table"], None) if lk["table"] in shown else (None, None)
    # a stated number is listed under its label with its group («… (offentlig)»); a verdict under its label
    labels = {entry_label(entry)} | ({str(entry["label"])} if entry.get("unit") == "verdict" else set())
    for name, (notebook, _, _) in shown.items():
        if notebook != entry["chapter"]:
            continue
        t = read_table(name)
        if t is None or t.empty:
            continue
        hit = t[t.iloc[:, 0].astype(str).isin(labels)]
        if len(hit):
            return name, hit.iloc[0]
    return None, None


EXTERNAL_SOURCES = {  # the group segment of an external result key (published.yml: «2007, ssb, stami»)
    "nb": {
        "2007": "SINTEFs undersøkelse blant verneombud fra 2007",
        "ssb": "SSB",
        "stami": "STAMI",
    },
    "en": {
        "2007": "SINTEF's 2007 survey of safety representatives",
        "ssb": "Statistics Norway (SSB)",
        "stami": "the National Institute of Occupational Health (STAMI)",
    },
}

# The notes' sentences in the book's language (status_note fills them in from the data; no row is typed)
NOTE_TEXT = {
    "nb": {
        "other_source": "en annen kilde enn denne undersøkelsen",
        "external": "Tallet er hentet fra {where}, ikke fra denne undersøkelsen; dataene her kan ikke gi det.",
        "missing": "Boka regner ikke ut dette tallet: {looked} finnes ikke.",
        "weighted": "Vektet tall; rapportens er uvektet.",
        "test": "Bokas test: {test}.",
        "p": "Bokas test gir p {p} (grensen er p < ,05).",
        "difference": "Forskjellen er {diff}, mer enn rapportens avrunding ({tol}).",
        "calibrated": "Kalibrert: de syntetiske dataene er laget for å treffe tallet, men bommer her.",
        "not_calibrated": "Ikke kalibrert: de syntetiske dataene er ikke laget for å treffe tallet, så det viser "
        "hva analysen gir på dem, ikke rapportens data.",
    },
    "en": {
        "other_source": "a source other than this survey",
        "external": "The number is taken from {where}, not from this survey; the data here cannot give it.",
        "missing": "The book does not compute this number: {looked} does not exist.",
        "weighted": "A weighted number; the report's is unweighted.",
        "test": "The book's test: {test}.",
        "p": "The book's test gives p {p} (the limit is p < .05).",
        "difference": "The difference is {diff}, more than the report's rounding ({tol}).",
        "calibrated": "Calibrated: the synthetic data were made to hit this number, but miss it here.",
        "not_calibrated": "Not calibrated: the synthetic data were not made to hit this number, so it shows what "
        "the analysis gives on them, not the report's data.",
    },
}


def status_note(
    entry: dict,
    value,
    status: str,
    lang: str = "nb",
    *,
    test: str | None = None,
    p: float | None = None,
    synthetic: bool | None = None,
    weighted: bool = False,
    looked: str | None = None,
) -> str:
    """Why a number is not «stemmer», in words, from what is known about it (never typed per row), in the
    book's language (``NOTE_TEXT``; the English book gets the same notes as the Norwegian one):

    - the report contradicts itself: the explanation in ``published.yml`` (``inconsistencies``);
    - «ekstern»: where the number comes from (the group of its result key: the 2007 study, SSB, STAMI);
    - «mangler»: that the book has no value for it, and where it looked (the entry's lookup, else ``looked``);
    - «avvik»: the book's test (``test``, as the chapter shows it, or its ``p``) for a verdict, the difference
      against the printed rounding for a number; in a weighted book that it is weighted; on synthetic data
      whether the synthetic export was made to hit the number (``calibrated``)."""
    words = NOTE_TEXT["en" if lang == "en" else "nb"]
    if status == "inconsistent" or entry.get("flag") == "inconsistent":
        note = explanations(lang=lang).get(entry["id"], "")
        if note:
            return note
    lk = entry.get("lookup") or {}
    if status == "ekstern":
        group = str(lk.get("result", "")).rsplit(".", 1)[-1]
        sources = EXTERNAL_SOURCES["en" if lang == "en" else "nb"]
        return words["external"].format(where=sources.get(group, words["other_source"]))
    if status == "mangler":
        return words["missing"].format(looked=lookup_text(lk, lang) if lk else (looked or lookup_text(lk, lang)))
    if status not in ("avvik", "inconsistent"):  # an inconsistency without its explanation: as a miss
        return ""
    parts = []
    if weighted:
        parts.append(words["weighted"])
    if entry.get("unit") == "verdict" or isinstance(value, (bool, np.bool_)):
        if test:
            parts.append(words["test"].format(test=test))
        elif p is not None and not pd.isna(p):
            shown = fmt_p(float(p), lang)
            parts.append(words["p"].format(p=shown if shown.startswith("<") else "= " + shown))
    elif value is not None and not pd.isna(value) and entry.get("bound") not in BOUND_WORDS:
        diff = abs(float(value) - float(entry["value"]))
        parts.append(
            words["difference"].format(
                diff=fmt_number(diff, printed_decimals(entry) + 1, lang), tol=tolerance_text(entry, lang)
            )
        )
    if synthetic and not weighted:
        parts.append(words["calibrated"] if entry.get("calibrated") else words["not_calibrated"])
    return " ".join(parts)


def lookup_text(lk: dict, lang: str = "nb") -> str:
    """Where the book's value of an entry is looked up, in words: «cellen «VO» / «Prosent» i tabell_02.csv»,
    «resultatet 02_sample.x_pct i results.json» (English: «the cell … in …», «the result … in …»)."""
    en = lang == "en"
    if "table" in lk:
        return f"{'the cell' if en else 'cellen'} «{lk.get('row')}» / «{lk.get('column')}» {'in' if en else 'i'} {lk['table']}.csv"
    return f"{'the result' if en else 'resultatet'} {lk.get('result')} {'in' if en else 'i'} results.json"


def score_book(
    reports_dir: str | Path = paths.REPORTS, entries: list[dict] | None = None, shown: dict | None = None
) -> pd.DataFrame:
    """One row per published entry with the value the book computed, its status, where the book shows it
    (``shown_in``, ``link``: the table's or figure's anchor in its chapter) and the chapter's test of a verdict."""
    reports = paths.resolve(reports_dir)
    entries = entries if entries is not None else load_published()
    results_path = reports / paths.RESULTS_FILE
    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.exists() else {}
    shown = shown or {}  # captions.shown_tables(reports): the build passes it (this module reads no notebook)

    external = {k for k, spec in reference.load_measures()["results"].items() if spec.get("stat") == "external"}
    tables: dict[str, pd.DataFrame | None] = {}

    def read_table(name: str) -> pd.DataFrame | None:
        if name not in tables:
            p = reports / paths.TABLES_DIR / f"{name}.csv"
            tables[name] = pd.read_csv(p, encoding="utf-8") if p.exists() else None
        return tables[name]

    rows = []
    for e in entries:
        lk = e.get("lookup") or {}
        value = None
        if "table" in lk:
            t = read_table(lk["table"])
            if t is not None:
                t = t.set_index(t.columns[0])
                if lk["row"] in t.index and lk["column"] in t.columns:
                    value = t.loc[lk["row"], lk["column"]]
                    value = None if isinstance(value, float) and np.isnan(value) else value
        else:
            value = results.get(lk.get("result"))
        status = "ekstern" if value is None and lk.get("result") in external else status_of(e, value)
        # links point at the source notebook (Quarto resolves them, and in the single-file PDF keeps the
        # anchor as a link within the book; the fallback renderer maps them): the table or figure that shows
        # the number, else the chapter
        name, row = where_shown(e, shown, read_table)
        notebook, target, number = shown[name] if name else (e["chapter"], anchor(lk), None)
        link = f"../reports/executed/{notebook}.ipynb" + (f"#{target}" if target else "")
        test = str(row["Test"]) if row is not None and "Test" in row.index and pd.notna(row["Test"]) else None
        p_key = str(lk.get("result", ""))
        p = results.get(p_key[: -len(".significant")] + ".p") if p_key.endswith(".significant") else None
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
                "lookup": lookup_text(lk),
                "shown_in": number,
                "link": link,
                "test": test,
                "p": p,
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


NOT_OK = ["avvik", "inconsistent", "ekstern", "mangler"]


def markdown(scores: pd.DataFrame, lang: str = "nb", weighted: bool = False, synthetic: bool | None = None) -> str:
    """The scorecard appendix: the summary table, then every number that is not «stemmer» (outside the
    tolerance, the report contradicting itself, from another source, not computed), each with where the book
    shows it (a link to that table or figure) and why (``status_note``)."""
    shown = summary(scores)  # as printed: chapter by its number, calibrated ja/nei (fits the text column)
    shown["Kapittel"] = shown["Kapittel"].map(lambda c: str(int(c[:2])) if c[:2].isdigit() else c)
    shown["Kalibrert"] = shown["Kalibrert"].map({"kalibrert": "ja", "ikke kalibrert": "nei"})
    parts = ([WEIGHTED_TEXT] if weighted else []) + [markdown_table(shown, {"% stemmer": 1}, lang), ""]
    off = scores[scores["status"].isin(NOT_OK)]
    off = off.iloc[np.argsort([NOT_OK.index(s) for s in off["status"]], kind="stable")]
    if off.empty:
        parts.append("Alle rapportens tall er beregnet, og alle ligger innenfor toleransen.")
    else:
        entries = {e["id"]: e for e in load_published()}
        rows = [miss_row(r, entries.get(r["id"]), lang, weighted, synthetic) for r in off.to_dict("records")]
        view = without_empty_notes(pd.DataFrame(rows))
        printed, notes = notes_below(view, lang=lang)  # the PDF: the explanations below the table, numbered
        # Quarto's HTML drops a pipe table's column widths (tbl-colwidths: auto): _quarto.yml gives the list
        # these shares (.scorecard-list, a fixed layout); in the automatic layout the browser shrank «Tall» to
        # its header and broke its words in the middle
        html = f"::: {{.scorecard-list}}\n{markdown_table(view, lang=lang, widths=MISS_WIDTHS)}\n:::"
        table = (
            f'::: {{.content-visible when-format="html"}}\n{html}\n:::\n\n'
            f'::: {{.content-hidden when-format="html"}}\n'
            f"{markdown_table(printed, lang=lang, widths=MISS_WIDTHS_PDF)}\n\n{notes}\n:::"
            if notes
            else html
        )
        parts.append(
            "Tall som ikke stemmer eller ikke er beregnet (utenfor toleransen, ekstern kilde, ikke beregnet). "
            "«Kilde» sier hvor rapporten trykker tallet og lenker til tabellen eller figuren i boka som viser det; "
            "«Merknad» sier hvorfor det ikke stemmer (i PDF-en nummerert under tabellen).\n\n" + table
        )
    return "\n".join(parts) + "\n"


# The list's columns' shares (percent): from the cells' lengths, the long labels and notes left the short
# columns a few letters each, words broken in the middle (HTML at 1400 px). In the PDF the note is a number.
# «Kilde» holds «Tabell K5.4» and «Tekst 4.10;» whole (at 12 % the link broke «K5.» / «4»); the headers
# «Reprodusert» and «Toleranse» break at their soft hyphens (filters/table-hyphens.lua), not into each other.
MISS_WIDTHS = {
    "Tall": 16,
    "Kilde": 14,
    "Rapporten": 11,
    "Reprodusert": 12,
    "Toleranse": 9,
    "Status": 11,
    "Merknad": 27,
}
MISS_WIDTHS_PDF = {
    "Tall": 28,
    "Kilde": 14,
    "Rapporten": 12,
    "Reprodusert": 13,
    "Toleranse": 11,
    "Status": 13,
    "Merknad": 9,
}


def miss_row(r: dict, e: dict | None, lang: str = "nb", weighted: bool = False, synthetic: bool | None = None) -> dict:
    """One row of the appendix's list of numbers that are not «stemmer» (``r``: a row of ``score_book``,
    ``e``: its entry of published.yml)."""
    e = e or {
        "id": r["id"],
        "label": r["label"],
        "group": r["group"],
        "value": r["published"],
        "tolerance": r["tolerance"],
        "flag": r["flag"],
        "calibrated": r["calibrated"],
        "chapter": r["chapter"],
    }
    value = r["reproduced"]
    value = None if value is None or (isinstance(value, float) and np.isnan(value)) else value
    where = (
        r["shown_in"]
        if isinstance(r.get("shown_in"), str)
        else f"Kapittel {int(r['chapter'][:2]) if str(r['chapter'])[:2].isdigit() else r['chapter']}"
    )
    test, p = r.get("test"), r.get("p")
    cells = comparison_row(e, value, r["status"], lang)
    cells["Merknad"] = status_note(
        e,
        value,
        r["status"],
        lang,
        test=test if isinstance(test, str) else None,
        p=p if isinstance(p, (int, float)) else None,
        synthetic=synthetic,
        weighted=weighted,
        looked=r.get("lookup") if isinstance(r.get("lookup"), str) else None,
    )
    # «Kilde»: where the report prints the number, and where the book shows it (a link to that table or figure)
    nb = "\u00a0"  # «Tabell K5.4», «Tekst 4.8» each on one line in the narrow column
    kilde = f"{str(r['source']).replace(' ', nb)}; i boka [{where.replace(' ', nb)}]({r['link']})"
    return {"Tall": entry_label(e), "Kilde": kilde, **cells}


def notes(scores: pd.DataFrame, lang: str = "nb", weighted: bool = False, synthetic: bool | None = None) -> list[str]:
    """The «Merknad» of every row (empty for «stemmer»): the ``note`` column of scorecard.csv."""
    entries = {e["id"]: e for e in load_published()}
    return [
        miss_row(r, entries.get(r["id"]), lang, weighted, synthetic)["Merknad"] if r["status"] in NOT_OK else ""
        for r in scores.to_dict("records")
    ]


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
                # a no-break space: «Kapittel» and its number on one line in the narrow first column
                "Kapittel": f"[Kapittel\u00a0{number}](reports/executed/{chapter}.ipynb)",
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
