"""The weighting appendix: the book's numbers unweighted (as the report) and weighted, side by side.

The build runs the chapters a second time with ``weighted: true`` into
``reports/weighted/``; this module sets the two ``results.json`` side by
side for every number the report states (shares and means with their 95 %
confidence intervals, and the significance verdicts), and says which
verdicts change. The appendix's text is written here whole (``introduction``
before the comparison): a book built with ``weighted: true`` has no unweighted
run beside it, and its appendix (``weighted_book``) says that the book is
itself the sensitivity analysis, how the weights were made, and where the
comparison is.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from src.base import paths
from src.base.numbers import fmt_number
from src.base.reference import load_published
from src.book import scorecard
from src.book.tables import markdown_table

WEIGHTED_DIR = "weighted"

# the raking variables (data_info.json's weighting.variables) as the appendix names them
RAKING_NAMES = {"sector_group": "sektor", "size_group": "virksomhetsstørrelse", "industry_group": "bransje"}

# why the appendix exists and what it can say: the same in both books
ASSUMPTION = """Å vekte etter sysselsatte forutsetter at antall verneombud står i forhold
til antall ansatte i hver sektor, størrelse og bransje. Det vet vi ikke: det
finnes ikke noe register over verneombud, og små virksomheter har færre
verneombud per ansatt. Vektede tall er derfor et mål på hvor følsomme
resultatene er for utvalgets skjevhet, ikke mer «riktige» tall."""


def compare(reports_dir: str | Path = paths.REPORTS, entries: list[dict] | None = None) -> pd.DataFrame:
    """One row per published number computed in both runs."""
    reports = paths.resolve(reports_dir)
    plain = json.loads((reports / paths.RESULTS_FILE).read_text(encoding="utf-8"))
    wpath = reports / WEIGHTED_DIR / paths.RESULTS_FILE
    weighted = json.loads(wpath.read_text(encoding="utf-8")) if wpath.exists() else {}
    rows = []
    for e in entries if entries is not None else load_published():
        key = (e.get("lookup") or {}).get("result")
        if not key or key not in plain or key not in weighted or e["unit"] not in ("percent", "mean", "verdict"):
            continue
        rows.append(
            {
                "id": e["id"],
                "chapter": e["chapter"],
                "label": e["label"],
                "group": e.get("group"),
                "unit": e["unit"],
                "published": e["value"],
                "unweighted": plain[key],
                "weighted": weighted[key],
                "unweighted_ci": plain.get(f"{key}.ci95"),
                "weighted_ci": weighted.get(f"{key}.ci95"),
            }
        )
    out = pd.DataFrame(
        rows,
        columns=[
            "id",
            "chapter",
            "label",
            "group",
            "unit",
            "published",
            "unweighted",
            "weighted",
            "unweighted_ci",
            "weighted_ci",
        ],
    )
    numeric = out["unit"] != "verdict"
    out["shift"] = np.where(
        numeric,
        pd.to_numeric(out["weighted"].where(numeric), errors="coerce")
        - pd.to_numeric(out["unweighted"].where(numeric), errors="coerce"),
        np.nan,
    )
    out["verdict_changes"] = np.where(~numeric, out["weighted"].astype(str) != out["unweighted"].astype(str), False)
    return out


def _ci(ci, decimals: int, lang: str) -> str:
    if not ci:
        return ""
    return f"({fmt_number(ci[0], decimals, lang)}–{fmt_number(ci[1], decimals, lang)})"


def _names(variables: list[str]) -> str:
    names = [RAKING_NAMES.get(v, v) for v in variables]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " og " + names[-1]


def raking_summary(info: dict, lang: str = "nb", assumption: bool = True) -> str:
    """One sentence on the weights, from data_info.json's ``weighting`` block: the margins, the cap,
    Kish's design effect and the effective sample size (and, unless ``assumption`` is false, what
    weighting by employees assumes, in one sentence)."""
    wi = info["weighting"]
    return (
        f"Vektene er raket til SSBs fordeling av sysselsatte på {_names(wi['variables'])} "
        f"(kappet ved {fmt_number(wi['cap'], 0, lang)} × snittet); designeffekt (Kish) "
        f"{fmt_number(wi['design_effect'], 2, lang)}, effektivt utvalg {fmt_number(wi['effective_n'], 0, lang)}"
        f" av {info['n_sample']}."
        + (" Det forutsetter at verneombudene burde fordele seg som de sysselsatte." if assumption else "")
    )


def introduction(results: dict, lang: str = "nb") -> str:
    """The unweighted book's opening of the appendix: why it weights, what its tables show.

    The sample's share from the public sector and SSB's share of employees come from results.json
    (02_sample); without them (a build of fewer chapters) the sentence names no numbers."""
    sample, ssb = results.get("02_sample.sector_public_pct"), results.get("02_sample.population_sector_public_pct.ssb")
    shares = (
        (f" ({fmt_number(sample, 0, lang)} prosent mot om lag {fmt_number(ssb, 0, lang)} prosent av de\nsysselsatte)")
        if sample is not None and ssb is not None
        else ""
    )
    first = f"""Rapporten vekter ikke resultatene, selv om utvalget har langt flere
verneombud fra offentlig sektor{shares} og fra store virksomheter enn arbeidslivet. Her kjøres de samme
kapitlene en gang til med `weighted: true`: prosenter og gjennomsnitt vektes
med raking til SSBs fordeling av sysselsatte, og testene er designbaserte
(Rao-Scott-korrigert kjikvadrattest, vektet regresjon med robuste
standardfeil). Tabellene viser bokens uvektede tall (som rapportens) ved
siden av de vektede, med 95 prosent konfidensintervall."""
    return first + "\n\n" + ASSUMPTION + "\n\n"


def weighted_book(info: dict, lang: str = "nb") -> str:
    """The appendix of a book built with ``weighted: true``: this book is itself the sensitivity analysis.

    There is no unweighted run beside it to compare with; the appendix says how the weights were made
    (data_info.json's ``weighting`` block) and where the side-by-side comparison is."""
    if not info.get("weighting"):
        raise ValueError(
            "data_info.json has no 'weighting' block: 01_cleaning did not rake the weights "
            "the weighted book rests on (run the build again from 01_cleaning)"
        )
    return (
        "Rapporten vekter ikke resultatene, selv om utvalget har langt flere verneombud fra offentlig\n"
        "sektor og fra store virksomheter enn arbeidslivet. **Denne boken er selv følsomhetsanalysen:** den\n"
        "er bygd med `weighted: true`, så alle prosenter og gjennomsnitt i kapitlene er vektet med raking, og\n"
        "testene er designbaserte (Rao-Scott-korrigert kjikvadrattest, vektet regresjon med robuste\n"
        "standardfeil); antall svar er uvektede. "
        + raking_summary(info, lang, assumption=False)
        + "\n\n"  # ASSUMPTION says what it assumes
        + ASSUMPTION
        + "\n\n"
        "Sammenligningen side om side med bokens uvektede tall (som rapportens), med 95 prosent\n"
        "konfidensintervall og de signifikansutsagnene som endres når resultatene vektes, står i\n"
        "dette vedlegget i standardboken (uvektet), som `make book` bygger.\n"
    )


def markdown(table: pd.DataFrame, info: dict | None = None, lang: str = "nb", top: int = 30) -> str:
    """The appendix text: raking summary, every verdict that changes, the largest shifts."""
    parts = []
    if info and info.get("weighting"):
        parts.append(raking_summary(info, lang) + "\n")
    verdicts = table[table["unit"] == "verdict"]
    changed = verdicts[verdicts["verdict_changes"]]
    parts.append(f"**Signifikansutsagn:** {len(changed)} av {len(verdicts)} endres når resultatene vektes.\n")
    if len(changed):
        view = changed.assign(
            Sammenligning=changed["label"],
            Rapporten=["signifikant" if v else "ikke signifikant" for v in changed["published"]],
            Uvektet=["signifikant" if v else "ikke signifikant" for v in changed["unweighted"]],
            Vektet=["signifikant" if v else "ikke signifikant" for v in changed["weighted"]],
        )[["Sammenligning", "Rapporten", "Uvektet", "Vektet"]]
        parts.append(markdown_table(view, lang=lang) + "\n")
    numbers = table[table["unit"] != "verdict"].copy()
    numbers["abs_shift"] = numbers["shift"].abs()
    numbers = numbers.sort_values("abs_shift", ascending=False).head(top)
    if len(numbers):
        dec = [1 if u == "mean" else 0 for u in numbers["unit"]]
        entries = {e["id"]: e for e in load_published()}  # the report's number as printed, its label once
        shown = [
            entries.get(i)
            or {
                "id": i,
                "label": lab,
                "group": g if isinstance(g, str) else None,
                "value": v,
                "tolerance": 0.05 if u == "mean" else 0.5,
                "unit": u,
            }
            for i, lab, g, v, u in zip(
                numbers["id"], numbers["label"], numbers["group"], numbers["published"], numbers["unit"]
            )
        ]
        view = pd.DataFrame(
            {
                "Tall": [scorecard.entry_label(e) for e in shown],
                "Rapporten": [scorecard.published_text(e, lang) for e in shown],
                "Uvektet (95 % KI)": [
                    f"{fmt_number(v, d + 1, lang)} {_ci(c, d + 1, lang)}"
                    for v, c, d in zip(numbers["unweighted"], numbers["unweighted_ci"], dec)
                ],
                "Vektet (95 % KI)": [
                    f"{fmt_number(v, d + 1, lang)} {_ci(c, d + 1, lang)}"
                    for v, c, d in zip(numbers["weighted"], numbers["weighted_ci"], dec)
                ],
                "Endring": [fmt_number(v, d + 1, lang) for v, d in zip(numbers["shift"], dec)],
            }
        )
        # a heading of its own, not a bold line ending in a path: justified in the PDF, that line opened wide
        # gaps between its words. The table right under it (the PDF keeps a heading with the next block: a
        # sentence between them left the heading at a page's foot, the table on the next page)
        parts.append(
            f"### De {len(numbers)} tallene som flytter seg mest\n\n"
            + markdown_table(view, lang=lang)
            # one short line (a path at a justified line's end stretched it)
            + "\n\nAlle andelene og gjennomsnittene står i `reports/weighting_comparison.csv`.\n"
        )
    return "\n".join(parts)
