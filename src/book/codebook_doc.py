"""The codebook appendix (Vedlegg D «Kodebok»): every variable documented from data/codebook.yml and the data.

Per question: the questionnaire's wording, the export column, who was asked
(the routing, said in words), the answer options with their codes, counts and
shares of the valid answers, the missing codes, and how many were asked but did
not answer and how many were not asked. Grids of statements and multi-select
questions are one table each (one row per item). Derived variables (recodes,
with the source codes each new code comes from, and indices) follow. The counts
are over every respondent of the export (the analysis sample and those the
exclusions took out), so that routing, missing codes and exclusions add up;
the chapters' tables use the analysis sample.

Protected like every other output on real data: counts of 1 to ``k - 1`` and
shares resting on them are hidden (``src/base/disclosure.py``: primary and
secondary suppression, «<k» in the book, empty in ``codebook.csv``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from src.base import disclosure
from src.base.codebook import Codebook, Group, Variable
from src.base.escape import code_span, md_text
from src.base.numbers import fmt_number
from src.book.tables import markdown_table
from src.data.export import routed

ANCHOR = "kodebok-"  # #kodebok-<name>: a variable's place in the appendix
NOT_ASKED = "Ikke spurt (filter)"
NOT_ANSWERED = "Spurt, ikke besvart"
TOTAL_VALID = "Totalt svar"
TOTAL_ALL = "Totalt i eksporten"
TYPE_WORDS = {"single": "ett svar", "binary": "avkrysning (valgt / ikke valgt)", "text": "fritekst"}
CONDITION_WORDS = {
    "vo_or_hvo": "verneombud, tidligere verneombud og hovedverneombud (rolle 1–4)",
    "eligible": "verneombud og hovedverneombud som har tatt hele eller deler av grunnopplæringen (analyseutvalget)",
}
TERM = re.compile(r"^\(?\s*(\w+)\s*(==|in)\s*(\[[^\]]*\]|\d+)\s*\)?$")


def _quote(text: str) -> str:
    return f"«{md_text(text)}»"


def routing_words(codebook: Codebook, routing: str | None) -> str:
    """Who was asked, in words: «alle», the named conditions, «de som svarte «Ja» på «…»», ...

    A term the sentence builder does not know is shown as the expression itself (never dropped).
    """
    if not routing:
        return "alle respondentene"
    parts = []
    for term in re.split(r"\s+and\s+", routing.strip()):
        term = term.strip()
        if term in CONDITION_WORDS:
            parts.append(CONDITION_WORDS[term])
            continue
        if term.startswith("(") and term.endswith(")") and " or " in term:
            alts = [routing_words(codebook, t.strip()) for t in re.split(r"\s+or\s+", term[1:-1])]
            parts.append(" eller ".join(alts))
            continue
        m = TERM.match(term)
        if not m or m.group(1) not in (codebook.variables | codebook.recodes):
            parts.append(code_span(term))
            continue
        name, op, value = m.groups()
        codes = [int(c) for c in re.findall(r"\d+", value)]
        item = codebook.item(name)
        labels = codebook.value_labels(name, with_missing=True)
        if isinstance(item, Variable) and item.type == "binary":
            what = _quote(item.label)
            if item.group in codebook.groups:  # «Annet» alone is ambiguous: which question's «Annet»
                what += f" i {_quote(codebook.groups[item.group].label)}"
            parts.append(f"de som krysset av for {what}" if codes == [1] else f"de som ikke krysset av for {what}")
            continue
        answers = " eller ".join(_quote(labels.get(c, str(c))) for c in codes)
        parts.append(
            f"de som svarte {answers} på {_quote(item.label)} ({code_span(item.source if isinstance(item, Variable) else name)})"
        )
    return ", og ".join(parts) if len(parts) > 1 and any(" og " in p for p in parts) else " og ".join(parts)


_ASKED: dict = {}


def asked(data: pd.DataFrame, codebook: Codebook, name: str) -> pd.Series:
    """Who was asked ``name`` (``src.data.export.routed``), once per routing and frame: many questions share one."""
    key = (id(data), len(data), codebook.variables[name].routing)
    if key not in _ASKED:
        if len(_ASKED) > 256:
            _ASKED.clear()
        _ASKED[key] = routed(data, codebook, name)
    return _ASKED[key]


def _counts(col: pd.Series, codes) -> dict[int, int]:
    vc = col.dropna().astype("int64").value_counts()
    return {c: int(vc.get(c, 0)) for c in codes}


def _protect(table: pd.DataFrame, counts: pd.DataFrame, bases: pd.DataFrame, k: int) -> pd.DataFrame:
    hidden = disclosure.mask(table, counts, bases, k)
    return disclosure.complementary(table, hidden) if hidden.to_numpy().any() else hidden


def _once(fn):
    """The appendix and codebook.csv show the same tables: each is made once per frame, codebook and threshold."""
    cache: dict = {}

    def wrapper(data, codebook, name, k):
        key = (id(data), len(data), id(codebook), name, k)
        if key not in cache:
            if len(cache) > 1024:
                cache.clear()
            cache[key] = fn(data, codebook, name, k)
        table, hidden = cache[key]
        return table.copy(), hidden.copy()

    wrapper.__doc__, wrapper.__name__ = fn.__doc__, fn.__name__
    return wrapper


@_once
def frequency(data: pd.DataFrame, codebook: Codebook, name: str, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, hidden) of one question: codes, labels, counts, shares of valid answers, missing, not asked."""
    var = codebook.variables[name]
    labels = codebook.value_labels(name, with_missing=True)
    was_asked = asked(data, codebook, name)
    col = data[name]
    valid = [c for c in labels if c not in var.missing]
    n = _counts(col, labels)
    n_valid = sum(n[c] for c in valid)
    rows = [(c, labels[c], n[c], 100 * n[c] / n_valid if n_valid else np.nan) for c in valid]
    rows.append((None, TOTAL_VALID, n_valid, 100.0 if n_valid else np.nan))
    rows += [(c, f"{labels[c]} (mangler-kode)", n[c], np.nan) for c in var.missing]
    rows.append((None, NOT_ANSWERED, int((was_asked & col.isna()).sum()), np.nan))
    rows.append((None, NOT_ASKED, int((~was_asked).sum()), np.nan))
    rows.append((None, TOTAL_ALL, len(data), np.nan))
    table = pd.DataFrame(rows, columns=["Kode", "Svar", "Antall", "Prosent"])
    table["Kode"] = table["Kode"].astype("Int64")
    shown = table[["Svar", "Antall", "Prosent"]]
    counts = pd.DataFrame({"Antall": table["Antall"], "Prosent": table["Antall"]})
    bases = pd.DataFrame({"Prosent": pd.Series(n_valid, index=table.index)})
    hidden = _protect(shown, counts, bases, k)
    hidden.insert(0, "Kode", False)
    return table, hidden


def group_table(data: pd.DataFrame, codebook: Codebook, group: Group, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, hidden) of a grid or multi-select question: one row per item.

    Grid: the share of each answer code (of the item's valid answers), the
    number of valid answers, asked-not-answered, not asked. Multi-select: the
    number and share who ticked each item, of those who answered the question.
    """
    first = codebook.variables[group.members[0]]
    labels = codebook.value_labels(first.name, with_missing=True)
    valid = [c for c in labels if c not in first.missing]
    rows, count_rows, base_rows = [], [], []
    for item in group.members:
        var = codebook.variables[item]
        col, asked_item = data[item], asked(data, codebook, item)
        n = _counts(col, labels)
        n_valid = sum(n[c] for c in valid)
        extra = [n[c] for c in first.missing]
        not_answered, not_asked = int((asked_item & col.isna()).sum()), int((~asked_item).sum())
        label = md_text(group.themes.get(item) or var.label)
        if group.type == "multi":
            rows.append(
                [
                    label,
                    n.get(1, 0),
                    100 * n.get(1, 0) / n_valid if n_valid else np.nan,
                    n_valid,
                    not_answered,
                    not_asked,
                ]
            )
            count_rows.append([np.nan, n.get(1, 0), n.get(1, 0), n_valid, not_answered, not_asked])
            base_rows.append([np.nan, np.nan, n_valid, np.nan, np.nan, np.nan])
        else:
            shares = [100 * n[c] / n_valid if n_valid else np.nan for c in valid]
            rows.append([label, *shares, *extra, n_valid, not_answered, not_asked])
            count_rows.append([np.nan, *[n[c] for c in valid], *extra, n_valid, not_answered, not_asked])
            base_rows.append([np.nan, *[n_valid] * len(valid), *[np.nan] * len(extra), np.nan, np.nan, np.nan])
    if group.type == "multi":
        columns = ["Svaralternativ", "Antall valgt", "Prosent valgt", "Svar", "Ikke besvart", "Ikke spurt"]
    else:
        columns = [
            "Påstand",
            *[f"{c} (%)" for c in valid],
            *[f"{c} (mangler)" for c in first.missing],
            "Svar",
            "Ikke besvart",
            "Ikke spurt",
        ]
    table = pd.DataFrame(rows, columns=columns)
    counts = pd.DataFrame(count_rows, columns=columns).iloc[:, 1:]
    bases = pd.DataFrame(base_rows, columns=columns).iloc[:, 1:]
    hidden = disclosure.mask(table.iloc[:, 1:], counts, bases, k)
    hidden.insert(0, columns[0], False)
    return table, hidden


@_once
def recode_table(data: pd.DataFrame, codebook: Codebook, name: str, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, hidden) of a derived variable: each new code, its label, the source codes it is made of, counts."""
    rec = codebook.recodes[name]
    src_labels = codebook.value_labels(rec.source, with_missing=True)
    n = _counts(data[name], rec.values)
    n_valid = sum(n.values())
    rows = []
    for code, label in rec.values.items():
        sources = [s for s, t in rec.map.items() if t == code]
        made_of = "; ".join(f"{s} {src_labels.get(s, '')}".strip() for s in sources)
        rows.append((code, label, made_of, n[code], 100 * n[code] / n_valid if n_valid else np.nan))
    unmapped = [s for s in src_labels if s not in rec.map]
    rows.append((None, TOTAL_VALID, "", n_valid, 100.0 if n_valid else np.nan))
    rows.append(
        (
            None,
            "Uten kode (manglende)",
            "; ".join(f"{s} {src_labels[s]}" for s in unmapped)
            + ("; " if unmapped else "")
            + "ikke besvart eller ikke spurt",
            int(data[name].isna().sum()),
            np.nan,
        )
    )
    rows.append((None, TOTAL_ALL, "", len(data), np.nan))
    table = pd.DataFrame(rows, columns=["Kode", "Verdi", "Fra koden(e) i " + rec.source, "Antall", "Prosent"])
    table["Kode"] = table["Kode"].astype("Int64")
    shown = table[["Verdi", "Antall", "Prosent"]]
    counts = pd.DataFrame({"Antall": table["Antall"], "Prosent": table["Antall"]})
    bases = pd.DataFrame({"Prosent": pd.Series(n_valid, index=table.index)})
    hidden = _protect(shown, counts, bases, k)
    full = pd.DataFrame(False, index=table.index, columns=table.columns)
    full[["Verdi", "Antall", "Prosent"]] = hidden.to_numpy()
    return table, full


def index_table(data: pd.DataFrame, codebook: Codebook, k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table, hidden) of the indices: what each averages, the rule for incomplete answers, n, mean, sd."""
    rows = []
    for name, ix in codebook.indices.items():
        col = pd.to_numeric(data[name], errors="coerce")
        group = next((g for g in codebook.groups.values() if tuple(g.members) == tuple(ix.members)), None)
        of = f"{_quote(group.label)} ({len(ix.members)} påstander)" if group else f"{len(ix.members)} variabler"
        rule = "alle besvart" if ix.min_items >= len(ix.members) else f"minst {ix.min_items} besvart"
        rows.append(
            (
                f"{md_text(ix.label)} ({code_span(name)})",
                f"snitt av {of}; {rule}",
                int(col.notna().sum()),
                col.mean(),
                col.std(),
            )
        )
    table = pd.DataFrame(rows, columns=["Indeks", "Laget av", "Antall", "Gjennomsnitt", "Standardavvik"])
    counts = pd.DataFrame({"Antall": table["Antall"]})
    bases = pd.DataFrame({c: table["Antall"] for c in ("Gjennomsnitt", "Standardavvik")})
    hidden = disclosure.mask(table, counts, bases, k)
    return table, hidden


def _md(table, hidden, k, decimals=None) -> tuple[str, int]:
    if "Kode" in table:  # a row without a code (a total, not asked) shows an empty cell, not «<NA>»
        table = table.assign(Kode=table["Kode"].map(lambda c: "" if pd.isna(c) else str(int(c))))
    text = markdown_table(table, decimals or {}, hidden=hidden, hidden_text=f"<{k}")
    return text, int(hidden.to_numpy().sum())


def long_form(data: pd.DataFrame, codebook: Codebook, k: int) -> pd.DataFrame:
    """codebook.csv: one row per variable and code (questions and recodes), counts and shares, hidden cells empty."""
    out = []
    for name, var in codebook.variables.items():
        if var.type in ("id", "text") or name not in data:
            continue
        table, hidden = frequency(data, codebook, name, k)
        stored = disclosure.apply(table[["Antall", "Prosent"]], hidden[["Antall", "Prosent"]])
        for i, row in table.iterrows():
            out.append(
                {
                    "variabel": name,
                    "kolonne": var.source,
                    "kode": row["Kode"],
                    "svar": row["Svar"],
                    "antall": stored.at[i, "Antall"],
                    "prosent": stored.at[i, "Prosent"],
                }
            )
    for name in codebook.recodes:
        if name not in data:
            continue
        table, hidden = recode_table(data, codebook, name, k)
        stored = disclosure.apply(table[["Antall", "Prosent"]], hidden[["Antall", "Prosent"]])
        for i, row in table.iterrows():
            out.append(
                {
                    "variabel": name,
                    "kolonne": "",
                    "kode": row["Kode"],
                    "svar": row["Verdi"],
                    "antall": stored.at[i, "Antall"],
                    "prosent": stored.at[i, "Prosent"],
                }
            )
    frame = pd.DataFrame(out)
    frame["kode"] = frame["kode"].astype("Int64")
    return frame


def markdown(data: pd.DataFrame, codebook: Codebook, k: int, n_sample: int | None = None) -> str:
    """The appendix's text: an introduction, the questions in questionnaire order, the derived variables."""
    lines = [
        f"Alle variablene i dataene, slik `data/codebook.yml` beskriver dem, med svarfordelingene i eksporten "
        f"({fmt_number(len(data))} respondenter"
        + (f", hvorav {fmt_number(n_sample)} i analyseutvalget" if n_sample is not None else "")
        + "). Tellingene gjelder hele eksporten, også dem eksklusjonene tok ut (kapittel 1), slik at filter, "
        "manglende svar og eksklusjoner går opp; kapitlenes tabeller bruker analyseutvalget. «Prosent» er andel "
        "av de gyldige svarene (uten mangler-koder), som i rapporten. «Ikke spurt» er respondenter filteret "
        "(hvem som fikk spørsmålet) ikke stilte spørsmålet til; «ikke besvart» er dem som fikk det, men ikke "
        "svarte.",
        "",
        '::: {.content-visible when-format="html"}',
        "Hele kodeboken i maskinlesbar form, én rad per variabel og kode: [codebook.csv](../reports/codebook.csv).",
        ":::",
        "",
    ]
    n_hidden = 0
    if k > 0:
        lines += [
            f"Reelle data: tall som bygger på færre enn {k} respondenter vises som «<{k}» (parameteren "
            f"`min_cell`), og i `codebook.csv` står de tomme.",
            "",
        ]
    lines += ["## Spørsmålene {.unnumbered}", ""]
    done_groups: set[str] = set()
    for name, var in codebook.variables.items():
        if var.type == "id":
            continue
        if var.group:
            if var.group in done_groups:
                continue
            done_groups.add(var.group)
            group = codebook.groups[var.group]
            first = codebook.variables[group.members[0]]
            table, hidden = group_table(data, codebook, group, k)
            kind = "flere svar mulig" if group.type == "multi" else "påstander med felles svarskala"
            cols = ", ".join(code_span(codebook.variables[m].source) for m in (group.members[0], group.members[-1]))
            lines += [
                f"### {md_text(group.label)} {{#{ANCHOR}{group.name.replace('_', '-')}}}",
                "",
                f"*{md_text(group.question or '')}*",
                "",
                f"Variabelgruppe {code_span(group.name)}, {len(group.members)} variabler ({kind}; "
                f"eksportkolonnene {cols.replace(', ', ' … ')}). Spurt: {routing_words(codebook, first.routing)}.",
            ]
            if group.type != "multi":
                scale = codebook.value_labels(first.name, with_missing=True)
                lines += [
                    "",
                    "Svarskala: "
                    + ", ".join(
                        f"{c} = {md_text(v)}" + (" (mangler-kode)" if c in first.missing else "")
                        for c, v in scale.items()
                    )
                    + ".",
                ]
            else:
                lines += ["", "Kodet 1 = valgt, 0 = ikke valgt; prosent av dem som besvarte spørsmålet."]
            decimals = {c: 1 for c in table.columns if str(c).endswith("(%)") or c == "Prosent valgt"}
            text, h = _md(table, hidden, k, decimals)
            n_hidden += h
            lines += ["", text, ""]
            continue
        lines += [f"### {md_text(var.label)} {{#{ANCHOR}{name.replace('_', '-')}}}", ""]
        if var.question:
            lines += [f"*{md_text(var.question)}*", ""]
        desc = (
            f"Variabel {code_span(name)}, eksportkolonne {code_span(var.source)}, "
            f"{TYPE_WORDS.get(var.type, var.type)}. Spurt: {routing_words(codebook, var.routing)}."
        )
        if var.missing:
            desc += (
                " Mangler-koder: "
                + ", ".join(f"{c} {_quote(var.values[c])}" for c in var.missing)
                + " (regnes ikke med i prosentene)."
            )
        if var.type == "text":
            desc += (
                " Fritekst: svarene forlater ikke 01_cleaning (personvern); bare temaene de er kodet i, står i dataene."
            )
            lines += [desc, ""]
            continue
        lines += [desc, ""]
        table, hidden = frequency(data, codebook, name, k)
        text, h = _md(table, hidden, k, {"Prosent": 1})
        n_hidden += h
        lines += [text, ""]
    lines += [
        "## Avledede variabler {.unnumbered}",
        "",
        "Omkodingene (`recodes` i kodeboken) som analysene bruker, i den rekkefølgen byggingen lager dem: "
        "hver ny kode med kodene den er laget av. Koder som ikke er nevnt, blir manglende.",
        "",
    ]
    for name, rec in codebook.recodes.items():
        if name not in data:
            continue
        src = codebook.item(rec.source)
        extra = (
            f" Bare grupper med minst {rec.min_answers} svar står alene; resten er slått sammen."
            if rec.min_answers
            else ""
        )
        subtotal = (
            (" Deltotaler i tabellene: " + ", ".join(f"{_quote(v)} (kode {c})" for c, v in rec.subtotals.items()) + ".")
            if rec.subtotals
            else ""
        )
        lines += [
            f"### {md_text(rec.label)} {{#{ANCHOR}{name.replace('_', '-')}}}",
            "",
            f"Variabel {code_span(name)}, laget av {code_span(rec.source)} "
            f"([{md_text(src.label)}](#{ANCHOR}{rec.source.replace('_', '-')})).{extra}{subtotal}",
            "",
        ]
        table, hidden = recode_table(data, codebook, name, k)
        text, h = _md(table, hidden, k, {"Prosent": 1})
        n_hidden += h
        lines += [text, ""]
    if codebook.indices:
        lines += [
            "## Indekser {.unnumbered}",
            "",
            "Gjennomsnitt av flere påstander på skalaen 1–5 (`indices` i kodeboken), for respondenter med "
            "nok besvarte påstander.",
            "",
        ]
        table, hidden = index_table(data, codebook, k)
        text, h = _md(table, hidden, k, {"Gjennomsnitt": 2, "Standardavvik": 2})
        n_hidden += h
        lines += [text, ""]
    if "weight" in data:
        lines += [
            "## Vekt {.unnumbered}",
            "",
            "`weight`: vekten fra rakingen mot SSBs fordeling av sysselsatte (sektor, virksomhetsstørrelse, "
            "bransjegruppe), brukt bare i følsomhetsanalysen (vedlegget om vekting); "
            "rapportens tall er uvektede.",
            "",
        ]
    if n_hidden:
        lines += [disclosure.footnote(n_hidden, k), ""]
    return "\n".join(lines)
