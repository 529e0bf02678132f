"""Tables for the book: frequency, recode and multi-select tables, English labels, and the Markdown the book prints."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from src.base.codebook import Codebook
from src.base.codebook import load as load_codebook
from src.base.disclosure import Hidden, declare_protected, footnote
from src.base.escape import html_text
from src.base.numbers import fmt_number, fmt_p
from src.base.reference import load_terms
from src.book.markup import markdown_to_html
from src.data import coding


def coding_agreement_table(
    summary: pd.DataFrame, codebook: Codebook | None = None, lang: str = "nb", min_cell: int = 0
) -> pd.DataFrame:
    """The review figures of the open answers, one row per question (counts and agreement, never text).

    Its ``support`` (what ``Chapter.table`` hides small cells by, #28): each
    count rests on itself; the agreement figures (percent, kappa and its
    interval), which rest on the random audit sample, on the reviewed answers
    of that sample (base) and on the smaller of its changed and unchanged
    reviews (count), so on real data they are withheld when fewer than
    ``min_cell`` audit answers were reviewed, or when they would give away
    that 1 to ``min_cell − 1`` proposals were changed (or kept).
    """
    table = coding.agreement_table(summary, codebook or load_codebook(), lang, min_cell)
    table.attrs["support"] = agreement_support(summary, table.columns)
    table.attrs["display"] = agreement_display  # printed narrower than the CSV (Chapter.table)
    return table


AGREEMENT_COUNTS = {
    "Antall svar": "n_answers",
    "Antall gjennomgått": "n_reviewed",
    "Kontrollutvalg (tilfeldig)": "n_audit",
    "Gjennomgått i kontrollutvalget": "n_audit_reviewed",
    "Endret av forsker (kontrollutvalget)": "n_changed",
}
AGREEMENT_FIGURES = ("Samsvar (prosent)", "Kappa", "KI nedre", "KI øvre")


# The agreement table as printed (the CSV keeps the long names, which tests and readers of the CSV use): short
# headers, the question without its repeated «(kodet tema)», kappa and its interval in one column. Ten columns
# with long headers ran over the HTML column and crowded the PDF page (headers run together).
AGREEMENT_SHOWN = {
    "Spørsmål": "Spørsmål (kodet tema)",
    "Antall svar": "Svar",
    "Antall gjennomgått": "Gjennom\u00adgått",  # soft hyphens: a long header word may break (HTML and PDF)
    "Kontrollutvalg (tilfeldig)": "Kontroll\u00adutvalg",
    "Gjennomgått i kontrollutvalget": "Gjennom\u00adgått i kontroll",
    "Endret av forsker (kontrollutvalget)": "Endret i kontroll",
    "Samsvar (prosent)": "Samsvar (%)",
}
KAPPA_SHOWN = "Kappa (95 % KI)"
KAPPA_PARTS = ("Kappa", "KI nedre", "KI øvre")


def agreement_display(
    table: pd.DataFrame, hidden: pd.DataFrame | None, decimals: dict | None, lang: str = "nb"
) -> tuple[pd.DataFrame, pd.DataFrame | None, dict]:
    """(table, hidden cells, decimals) of the agreement table as printed: ``AGREEMENT_SHOWN`` headers, and
    «0,96 (0,88–1,00)» for kappa with its interval, hidden (on real data) where any of the three is."""
    decimals = dict(decimals or {})
    shown = table.copy()
    if "Spørsmål" in shown:
        shown["Spørsmål"] = shown["Spørsmål"].astype(str).str.replace(r"\s*\(kodet tema\)$", "", regex=True)
    mask = hidden.copy() if hidden is not None else None
    if all(c in shown for c in KAPPA_PARTS):
        d = decimals.get("Kappa", 2)
        k, lo, hi = (pd.to_numeric(shown[c], errors="coerce") for c in KAPPA_PARTS)
        text = [
            "–"
            if np.isnan(a)
            else f"{fmt_number(a, d, lang)}\u00a0({fmt_number(b, d, lang)}–{fmt_number(c, d, lang)})"  # one line
            for a, b, c in zip(k, lo, hi)
        ]
        at = list(shown.columns).index("Kappa")
        shown = shown.drop(columns=list(KAPPA_PARTS))
        shown.insert(at, KAPPA_SHOWN, text)
        if mask is not None:
            any_hidden = mask[list(KAPPA_PARTS)].any(axis=1)
            mask = mask.drop(columns=list(KAPPA_PARTS))
            mask.insert(at, KAPPA_SHOWN, any_hidden)
    decimals = {c: v for c, v in decimals.items() if c not in KAPPA_PARTS}
    return renamed_display(AGREEMENT_SHOWN)(shown, mask, decimals, lang)


# The coder's learning curve as printed (the CSV keeps the long names): eight columns with long headers ran over
# the HTML column; the caption says the figures are percent (kappa apart).
CURVE_SHOWN = {
    "Gjennomgåtte svar per spørsmål": "Gjennom\u00adgått per spørsmål",
    "Riktig (prosent)": "Riktig",
    "Riktig uten gjennomgang, samme svar (prosent)": "Riktig uten gjennom\u00adgang, samme svar",
    "Ikke kodet, foreslått (prosent)": "Ikke kodet: forslag",
    "Ikke kodet, fasit (prosent)": "Ikke kodet: fasit",
    "Høyeste sikkerhet: andel av svarene (prosent)": "Høyeste sikker\u00adhet: andel",
    "Høyeste sikkerhet: riktig (prosent)": "Høyeste sikker\u00adhet: riktig",
}


def renamed_display(names: dict[str, str]):
    """A ``attrs["display"]`` form (see ``Chapter.table``) that prints the same cells under shorter headers."""

    def display(table: pd.DataFrame, hidden: pd.DataFrame | None, decimals: dict | None, lang: str = "nb"):
        rename = {c: names.get(c, c) for c in table.columns}
        decimals = {rename.get(c, c): v for c, v in (decimals or {}).items()}
        return table.rename(columns=rename), (hidden.rename(columns=rename) if hidden is not None else None), decimals

    return display


def agreement_support(summary: pd.DataFrame, columns) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(counts, bases) of the agreement table's cells (see ``coding_agreement_table``)."""
    num = {
        f: pd.to_numeric(summary[f], errors="coerce").reset_index(drop=True)
        for f in ("n_answers", "n_reviewed", "n_audit", "n_audit_reviewed", "n_changed")
    }
    changed, kept = num["n_changed"], num["n_audit_reviewed"] - num["n_changed"]
    smaller = changed.where((changed > 0) & ((kept <= 0) | (changed <= kept)), kept)  # the smaller positive one
    counts, bases = pd.DataFrame(index=range(len(summary))), pd.DataFrame(index=range(len(summary)))
    for col, field in AGREEMENT_COUNTS.items():
        if col in columns:
            counts[col] = num[field]
    for col in AGREEMENT_FIGURES:
        if col in columns:
            counts[col], bases[col] = smaller, num["n_audit_reviewed"]
    return counts, bases


def raking_table(result, codebook: Codebook | None = None, lang: str = "nb") -> pd.DataFrame:
    """The raking margins for readers: variable and category labels, sample, target and weighted percent."""
    cb = codebook or load_codebook()
    m = result.margins
    table = pd.DataFrame(
        {
            "Variabel": [cb.label(v, lang) for v in m["variable"]],
            "Kategori": [cb.value_labels(v, lang).get(int(c), str(c)) for v, c in zip(m["variable"], m["code"])],
            "Antall": m["n"],
            "Utvalget": m["sample_pct"],
            "SSB": m["target_pct"],
            "Vektet": m["achieved_pct"],
        }
    )
    n = pd.to_numeric(table["Antall"], errors="coerce")  # a category's shares rest on its respondents
    table.attrs["support"] = (pd.DataFrame({"Antall": n, "Utvalget": n, "Vektet": n}), pd.DataFrame(index=table.index))
    return declare_protected(table, ["SSB"], "SSB's population shares (the raking target), not about respondents")


def share(values: pd.Series, codes, base_codes=None) -> float:
    """Percent of valid answers in ``codes`` (base: answers with a code in ``base_codes``, default all)."""
    codes = [codes] if np.isscalar(codes) else list(codes)
    v = values.dropna()
    if base_codes is not None:
        v = v[v.isin(list(base_codes))]
    return float(100 * v.isin(codes).sum() / len(v)) if len(v) else float("nan")


def frequency_table(
    data: pd.DataFrame,
    var: str,
    codebook: Codebook | None = None,
    *,
    lang: str = "nb",
    subtotals: str | None = None,
    row_header: str | None = None,
    count_col: str = "Antall",
    pct_col: str = "Prosent",
    total_label: str = "Totalt",
    include_missing: bool = False,
    group_header: str | None = None,
    weights: pd.Series | None = None,
) -> pd.DataFrame:
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
    if weights is not None:  # weighted percentages; the counts stay the respondents counted
        wsum = (
            pd.Series(weights, index=data.index)[valid.index].groupby(valid).sum().reindex(list(labels), fill_value=0)
        )
        label_codes = {labels[c]: [c] for c in labels}
        if subtotals:
            rec = cb.recodes[subtotals]
            for group, sub in rec.subtotals.items():
                label_codes[sub] = [c for c in labels if rec.map.get(c) == group]
            wtotal = float(wsum[[c for c in labels if c in rec.map]].sum())
        else:
            wtotal = float(wsum.sum())
        label_codes[total_label] = [c for c in labels if not subtotals or c in cb.recodes[subtotals].map]
        table[pct_col] = [100 * float(wsum[label_codes[r]].sum()) / wtotal if wtotal else np.nan for r in table[header]]
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


def multi_table(
    data: pd.DataFrame,
    group: str,
    codebook: Codebook | None = None,
    lang: str = "nb",
    row_header: str | None = None,
    weights: pd.Series | None = None,
) -> pd.DataFrame:
    """A multi-select question: per option, how many ticked it and the percent of those who answered.

    The percentages sum to more than 100 when several options could be ticked.
    """
    cb = codebook or load_codebook()
    g = cb.groups[group]
    answered = data[list(g.members)].notna().any(axis=1)
    n = int(answered.sum())
    rows = [
        (
            (cb.variables[m].label_en if lang == "en" and cb.variables[m].label_en else cb.variables[m].label),
            int((data.loc[answered, m] == 1).sum()),
        )
        for m in g.members
    ]
    table = pd.DataFrame(
        rows, columns=[row_header or (g.label_en if lang == "en" and g.label_en else g.label), "Antall"]
    )
    table["Prosent"] = 100 * table["Antall"] / n if n else np.nan
    if weights is not None:  # weighted percentages; the counts stay the respondents counted
        w = pd.Series(weights, index=data.index)[answered]
        table["Prosent"] = [100 * float(w[(data.loc[answered, m] == 1)].sum()) / float(w.sum()) for m in g.members]
    return table


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

    for nb, en in load_terms().items():
        out.setdefault(nb, en)
    return out


def translate_table(
    table: pd.DataFrame, labels: dict[str, str], decimals: dict[str, int] | None = None
) -> tuple[pd.DataFrame, dict[str, int] | None]:
    """A copy of ``table`` for display with headers and text cells translated (numbers untouched)."""
    shown = table.rename(columns=lambda c: labels.get(str(c), c))
    for col in shown.columns:
        if shown[col].dtype == object or str(shown[col].dtype).startswith(("string", "str")):
            shown[col] = shown[col].map(lambda v: labels.get(v, v) if isinstance(v, str) else v)
    if decimals:
        decimals = {labels.get(k, k): v for k, v in decimals.items()}
    return shown, decimals


# «…, p < ,001, …» in a narrow test column: a p-value keeps «p», its operator and its value on one line (K9.6's PDF
# split «p» from «< ,001»); only the p-value, so a long test column (K7.3) gets no wider
STAT_OPERATOR = re.compile(r"(?<![^\s(])(p) ([=<>≤≥]) (?=[\d,.])")


def markdown_table(
    table: pd.DataFrame,
    decimals: dict[str, int] | None = None,
    lang: str = "nb",
    hidden: pd.DataFrame | None = None,
    hidden_text: str = "",
    widths: dict[str, int] | None = None,
) -> str:
    """A pipe table (renders in Quarto HTML and PDF, and in the fallback book).

    ``widths``: the columns' shares (relative, e.g. percent) where the caller knows them better than the
    cells' lengths do (a table of long labels and long notes: the scorecard's list).

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
            elif isinstance(v, (bool, np.bool_)):  # a verdict as the reader says it (the CSV keeps True/False)
                cells.append(("Yes" if v else "No") if lang == "en" else ("Ja" if v else "Nei"))
            elif _is_p_column(c) and isinstance(v, (float, np.floating)) and not np.isnan(v):
                cells.append(fmt_p(v, lang))
            elif isinstance(v, (int, float, np.integer, np.floating)):
                cells.append(fmt_number(v, decimals.get(c, 0), lang))
            else:  # no raw HTML from a value (src/base/escape.py); the book's own Markdown (links, emphasis) stays
                text = STAT_OPERATOR.sub("\\1\u00a0\\2\u00a0", v) if isinstance(v, str) else v
                cells.append(html_text(text).replace("|", "\\|"))
        rows.append(cells)
    header = [html_text(c).replace("|", "\\|") for c in cols]
    # a display form's shares (comparisons.option_display), else those of a verdict table (VERDICT_WIDTHS)
    widths = widths or table.attrs.get("widths") or VERDICT_WIDTHS.get(tuple(str(c) for c in table.columns))
    widths = [widths.get(c, 5) for c in cols] if widths else column_widths(header, rows)
    numeric = [pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c]) for c in cols]
    lines = [
        "| " + " | ".join(header) + " |",
        "|"
        + "|".join(("-" * (w - 1) + ":") if num else (":" + "-" * (w - 1)) for w, num in zip(widths, numeric))
        + "|",
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def take_hidden(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(table with ``disclosure.Hidden`` cells made NaN and their columns numeric again, where they were)."""
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


# The tables of tests with the report's verdict beside the book's (K3.2, K5.x, K7.2-K7.8, K8.x: «Sammenligning»,
# «Test», «Rapporten», «Reprodusert», «Samsvar», in the PDF a note's number): sized by their cells the test got
# a quarter of the line, five lines a Tukey pair, and K7.3 ran onto a third page for one row (a third of the
# line left the label six lines). The label and the test are about as long: these shares give each the same.
VERDICT_WIDTHS = {
    ("Sammenligning", "Test", "Rapporten", "Reprodusert", "Samsvar"): {
        "Sammenligning": 31,
        "Test": 31,
        "Rapporten": 14,
        "Reprodusert": 14,
        "Samsvar": 10,
    },
    ("Sammenligning", "Test", "Rapporten", "Reprodusert", "Samsvar", "Merknad"): {
        "Sammenligning": 29,
        "Test": 29,
        "Rapporten": 13,
        "Reprodusert": 13,
        "Samsvar": 9,
        "Merknad": 7,
    },
}

MAX_DASHES = 60  # a long label column gets at most this share (in characters) against the others
# (40 left a long test column at 5 lines a cell beside short verdict columns: Tabell K7.3, K9.3)


MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


WORD_PAD = 3  # a column's longest word plus the cell's inset in the PDF (about two characters) and a space


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
        cells = [MD_LINK.sub(r"\1", r[j]) for r in rows]  # a link's target is not shown
        longest_word = max(
            (len(w) for text in [head, *cells] for w in re.split(r"[ \t\n\u00ad]+", text)), default=1
        )  # a no-break space joins; a soft hyphen is where a long word may break
        mins.append(max(3, longest_word + WORD_PAD))
        wants.append(max(mins[-1], min(MAX_DASHES, max((len(c) for c in cells), default=1))))
    if sum(wants) <= LINE_BUDGET:
        return wants
    spare = max(0, LINE_BUDGET - sum(mins))
    extra = [w - m for w, m in zip(wants, mins)]
    total = sum(extra) or 1
    return [m + round(spare * e / total) for m, e in zip(mins, extra)]


NOTE_COLUMN = "Merknad"


def notes_below(table: pd.DataFrame, column: str = NOTE_COLUMN, lang: str = "nb") -> tuple[pd.DataFrame, str]:
    """(table, notes) for the PDF: a long explanation column squeezed to a few words a line beside six others
    (the scorecard, «Rapporten mot reprodusert»), so the cell gets the note's number and the notes follow the
    table, as a printed book does. The same text is one note. Without notes: (table, "")."""
    if column not in table.columns:
        return table, ""
    texts = table[column].fillna("").astype(str).str.strip()
    numbers: dict[str, int] = {}
    for t in texts:
        if t and t not in numbers:
            numbers[t] = len(numbers) + 1
    if not numbers:
        return table, ""
    word = "Merknad" if lang == "nb" else "Note"
    out = table.copy()
    out[column] = [f"({numbers[t]})" if t else "" for t in texts]
    notes = "\n".join(f"{n}. {t}" for t, n in numbers.items())
    return out, f"{word}er til tabellen:\n\n{notes}" if lang == "nb" else f"{word}s to the table:\n\n{notes}"


def notes_form(
    full: str,
    shown: pd.DataFrame,
    decimals,
    lang: str,
    hidden: pd.DataFrame | None = None,
    hidden_text: str = "",
    after: str = "",
) -> str:
    """A table with a «Merknad» column: whole in HTML (``full``); in the PDF with its notes numbered below
    (``notes_below``), then ``after`` (the footnote on hidden cells, which ``full`` ends with)."""
    short, notes = notes_below(shown, lang=lang)
    if not notes:
        return full
    return (
        f'::: {{.content-visible when-format="html"}}\n{full}\n:::\n\n'
        f'::: {{.content-hidden when-format="html"}}\n'
        f"{markdown_table(short, decimals, lang, hidden=hidden, hidden_text=hidden_text)}{after}\n\n{notes}\n:::"
    )


def printed_form(
    shown: pd.DataFrame,
    full: str,
    name: str,
    pdf: dict,
    decimals,
    lang: str,
    hidden: pd.DataFrame | None = None,
    hidden_text: str = "",
    min_cell: int = 0,
) -> str:
    """The whole table for HTML, a shorter one for the PDF (Quarto's content-visible), with a note.

    The printed cells carry what a reader needs to read them: where they hide small cells («<5»), the
    footnote on hidden cells (``disclosure.footnote``, counting the printed ones; ``min_cell``) follows them,
    as it follows the whole table."""
    what = []
    if pdf.get("table") is not None:  # a printed frame the notebook made (no hidden cells: synthetic or none)
        short, short_hidden = pdf["table"], None
        what.append(f"{pdf.get('rows_text', 'et utvalg av radene')} ({len(short)} av {len(shown)} rader)")
        if pdf.get("note"):
            what.append(pdf["note"])
    else:
        rows = pdf.get("rows")
        keep = (
            pd.Series(True, index=shown.index) if rows is None else pd.Series(rows, index=shown.index).fillna(False)
        ).to_numpy()
        columns = [c for c in (pdf.get("columns") or list(shown.columns)) if c in shown.columns]
        short = shown.loc[keep, columns]
        short_hidden = None if hidden is None else hidden.loc[keep, columns]
        if rows is not None:
            what.append(f"{pdf.get('rows_text', 'et utvalg av radene')} ({len(short)} av {len(shown)} rader)")
        if len(columns) < len(shown.columns):
            what.append(f"kolonnene {', '.join(columns)}")
    whole = f"Hele tabellen står i HTML-utgaven av boka og i `reports/tables/{name}.csv`."
    note = f"*Trykt her: {'; '.join(what)}. {whole}*"
    if short.empty and pdf.get("none_text"):  # nothing to print: say what that means, not «0 av 20 rader»
        note = f"*{pdf['none_text'].format(n=fmt_number(len(shown), 0, lang))}. {whole}*"
    short, notes = notes_below(short, lang=lang)
    n_hidden = 0 if short_hidden is None or short.empty else int(short_hidden.to_numpy().sum())
    foot = footnote(n_hidden, min_cell, lang) + "\n\n" if n_hidden else ""
    printed = (
        ""
        if short.empty  # no row to print (e.g. every number agrees): the note says so
        else markdown_table(short, decimals, lang, hidden=short_hidden, hidden_text=hidden_text)
        + "\n\n"
        + foot
        + (notes + "\n\n" if notes else "")
    )
    return (
        f'::: {{.content-visible when-format="html"}}\n{full}\n:::\n\n'
        f'::: {{.content-hidden when-format="html"}}\n'
        f"{printed}{note}\n:::"
    )


OUTPUT_META = {"compendium": {"html": "from-markdown"}}  # marks the text/html made of an output's text/markdown


def markdown_bundle(text: str) -> dict[str, str]:
    """One output in a form every front end renders: ``text/markdown`` (Quarto-flavoured, what the Quarto
    book reads: callouts, captions as divs, cross-references), ``text/html`` (the same converted,
    ``render.markdown_to_html``: what JupyterLab prefers and shows, without raw ``:::`` or ``{#…}``) and
    ``text/plain`` (a console). Quarto prefers ``text/html`` in an HTML book when both are there, so the
    build's executed copies keep only the Markdown (``captions.annotate_notebook``)."""
    return {"text/markdown": text, "text/html": markdown_to_html(text), "text/plain": text}


def display_markdown(text: str) -> None:
    """Show Markdown the notebook computed, as ``markdown_bundle`` (rendered in Lab, the views and both books)."""
    from IPython.display import display

    display(markdown_bundle(text), raw=True, metadata=OUTPUT_META)
