"""Disclosure control of real data (the rules): nothing a chapter publishes rests on 1 to ``min_cell - 1`` respondents.

Every number a chapter publishes leaves it through ``helpers.Chapter``
(``state``, ``result``, ``verdict``, ``table``, ``figure``, ``fmt``), and
each carries the size of the group it rests on. A number is hidden when:

* it is a **count** from 1 to ``min_cell - 1`` (0 is shown: nobody is described by it);
* it is a **percentage** whose numerator (the respondents counted) is from 1 to
  ``min_cell - 1``, or whose group (the base: everyone answering in that row or
  column group) is below ``min_cell``;
* it is a **mean** (or an alpha, or any other statistic of a group) whose group is below ``min_cell``;
* it belongs to a **test** (statistic, degrees of freedom, p, effect size, verdict)
  one of whose compared groups has 1 to ``min_cell - 1`` respondents.

How a hidden number looks:

* in tables: ``<5`` (for ``min_cell: 5``) in the book, an empty cell in
  ``reports/tables/*.csv`` (figures' CSVs too), with a footnote under the table
  saying how many cells were hidden and why;
* in prose: «færre enn 5» for a count, «(skjult: færre enn 5 svar)» for a
  percentage, mean or test (``Hidden``);
* in ``results.json``: ``null``, and the key is listed under
  ``<chapter>.suppressed_results``; the scorecard and the weighting appendix
  read ``results.json`` and the tables, so they show nothing of it (status «skjult»).

**Secondary (complementary) suppression** in tables (``complementary``): a
hidden cell must not be recoverable by subtraction. A *line* of a table is a
column's detail rows together with a total row they add up to (a subtotal
such as «Totalt små», the grand «Totalt», «Tatt ut i alt»; or, without a
total row, detail percentages summing to 100), a row's cells together with a
total column they add up to (a crosstab's «Totalt»), or a row's percentage
cells when they sum to 100. When exactly one cell of a line is hidden, the smallest
non-zero shown detail cell of that line is hidden too (the total itself if
there is none), and this is repeated until every line has no hidden cell or at
least two. A row's count and the percentage of that count (``Antall`` and
``Prosent``/``Prosent totalt``) are hidden together. Prose numbers get primary
suppression; a prose number a notebook reads from a table it wrote comes from
the suppressed table (a hidden cell prints as «–»), and 01_cleaning's flow
prose follows the flow table's secondary suppression.

The threshold applies to real exports only. The synthetic default export
describes nobody and must reproduce the report's published counts, several of
which are below 5 (``threshold`` returns 0 for it); it is recognised by its
content, never by its name (``inputs.is_synthetic``). The group size behind each
published number, from measures.yml, is found by ``src/analysis/suppression.py``. ``min_cell: 0`` switches
suppression off for a real export too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def threshold(min_cell: int, synthetic: bool) -> int:
    """The threshold in force: ``min_cell`` for real data, 0 (nothing hidden) for synthetic data."""
    return 0 if synthetic else int(min_cell)


def mask(values: pd.DataFrame, counts: pd.DataFrame, bases: pd.DataFrame, k: int) -> pd.DataFrame:
    """True where a cell of ``values`` must be hidden.

    ``counts`` holds, per cell, the respondents the cell counts (a count's own
    value, a percentage's numerator; NaN where none), ``bases`` the size of
    the group a percentage or mean is taken over (NaN where none). Columns of
    ``values`` absent from them are never hidden, nor cells without a number.
    """
    out = pd.DataFrame(False, index=values.index, columns=values.columns)
    if k <= 0:
        return out
    for col in values.columns:
        has_value = pd.to_numeric(values[col], errors="coerce").notna()
        c = pd.to_numeric(counts[col], errors="coerce") if col in counts else pd.Series(np.nan, index=values.index)
        b = pd.to_numeric(bases[col], errors="coerce") if col in bases else pd.Series(np.nan, index=values.index)
        small = ((c > 0) & (c < k)) | (b < k)
        out[col] = (small & has_value).to_numpy()
    return out


def apply(table: pd.DataFrame, hidden: pd.DataFrame) -> pd.DataFrame:
    """The table as stored: hidden cells empty (NaN)."""
    out = table.copy()
    for col in hidden.columns:
        if hidden[col].any():
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(float).where(~hidden[col].to_numpy())
    return out


def inferred_support(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(counts, bases) of a one-way frequency table: columns headed 'Antall…' are counts, and the
    'Prosent…' columns of a row count the respondents of that row's first 'Antall…' column."""
    count_cols = [c for c in table.columns if str(c).startswith("Antall") and pd.api.types.is_numeric_dtype(table[c])]
    counts = pd.DataFrame(index=table.index)
    for c in count_cols:
        counts[c] = table[c]
    if count_cols:
        for c in table.columns:
            if str(c).startswith("Prosent"):
                counts[c] = table[count_cols[0]]
    return counts, pd.DataFrame(index=table.index)


PROTECTED_ATTR = "protected_columns"  # table.attrs: columns whose numbers need no support (declare_protected)


def declare_protected(table: pd.DataFrame, columns, why: str) -> pd.DataFrame:
    """Mark ``columns`` of ``table`` as needing no support from ``Chapter.table``; returns ``table``.

    Only for numbers that are not about respondents (the report's printed values, a tolerance, a
    count of comparisons, a rank) or that were protected one by one before they were put into the
    table (each went through ``Chapter.result``/``Chapter.protect``, so a small one is a ``Hidden``
    already). ``why`` says which, for a reader of the code.
    """
    declared = dict(table.attrs.get(PROTECTED_ATTR) or {})
    declared.update({str(c): why for c in columns if c in table.columns})
    table.attrs[PROTECTED_ATTR] = declared
    return table


def unsupported_columns(table: pd.DataFrame, counts: pd.DataFrame, bases: pd.DataFrame) -> list[str]:
    """The columns of ``table`` holding numbers whose support (``counts``/``bases``) is not known.

    A column is known when ``counts`` or ``bases`` has it, when it is declared (``declare_protected``),
    or when it holds no number (text, verdicts as booleans). The first column (the row labels) is
    never a number about respondents.
    """
    declared = table.attrs.get(PROTECTED_ATTR) or {}
    out = []
    for col in list(table.columns)[1:]:
        if col in counts.columns or col in bases.columns or str(col) in declared:
            continue
        values = table[col]
        if pd.api.types.is_bool_dtype(values):
            continue
        is_number = values.map(
            lambda v: (
                isinstance(v, (int, float, np.integer, np.floating))
                and not isinstance(v, (bool, np.bool_))
                and not pd.isna(v)
            )
        )
        if is_number.any() or values.map(lambda v: isinstance(v, Hidden)).any():  # text ('2007') is no number
            out.append(str(col))
    return out


class UnknownSupport(ValueError):
    """A table with numbers whose respondents are not known, refused on real data (``Chapter.table``)."""


def unknown_support_message(name: str, columns: list[str], k: int) -> str:
    """What ``Chapter.table`` says when it refuses a table on real data: which columns, and how to give support."""
    cols = ", ".join(f"'{c}'" for c in columns)
    return (
        f"table '{name}': on real data every published number must say how many respondents it rests on "
        f"(min_cell = {k}), and column{'s' if len(columns) != 1 else ''} {cols} "
        f"{'do' if len(columns) != 1 else 'does'} not. Nothing was written. Use a helper that carries its "
        "support: h.crosstab(ch, row_var, col_var, name) for a crosstab of two codebook variables with its "
        "chi-square, h.group_means(ch, var, by, name) for a mean by group with its t-test or ANOVA, "
        "h.frequency_table(...) for counts and percentages; or pass support=(counts, bases) to ch.table: two "
        "frames shaped like the table, counts = the respondents each cell counts (a count's own value, a "
        "percentage's numerator), bases = the size of the group a percentage or mean is taken over "
        "(see docs/lab.md)."
    )


def footnote(n_hidden: int, k: int, lang: str = "nb") -> str:
    """The line under a table with hidden cells."""
    if lang == "en":
        return (
            f"*Suppressed: {n_hidden} cell{'s rest' if n_hidden != 1 else ' rests'} on fewer than {k} respondents "
            f"and {'are' if n_hidden != 1 else 'is'} shown as «<{k}» (data protection of real survey data, "
            f"parameter `min_cell` = {k}); the table file leaves {'them' if n_hidden != 1 else 'it'} empty.*"
        )
    return (
        f"*Skjult: {n_hidden} {'celler' if n_hidden != 1 else 'celle'} bygger på færre enn {k} respondenter "
        f"og vises som «<{k}» (personvern for reelle data, parameteren `min_cell` = {k}); i tabellfilen "
        f"står {'de' if n_hidden != 1 else 'den'} tom{'me' if n_hidden != 1 else ''}.*"
    )


def small(count=np.nan, base=np.nan, k: int = 0) -> bool:
    """True when a number resting on ``count`` respondents of a group of ``base`` must be hidden at threshold ``k``."""
    if k <= 0:
        return False
    c = np.nan if count is None else float(count)
    b = np.nan if base is None else float(base)
    return bool((0 < c < k) or (0 < b < k) or (b == 0 and not np.isnan(c) and c > 0 and c < k))


def hidden_text(k: int, kind: str = "count", lang: str = "nb") -> str:
    """What prose says in place of a hidden number."""
    if lang == "en":
        return f"fewer than {k}" if kind == "count" else f"(suppressed: fewer than {k} answers)"
    return f"færre enn {k}" if kind == "count" else f"(skjult: færre enn {k} svar)"


class Hidden:
    """A number that is not published: it rests on 1 to ``k - 1`` respondents.

    Prints as «færre enn k» (a count) or «(skjult: færre enn k svar)»; any
    arithmetic with it gives a ``Hidden`` again, comparisons are False (as with
    NaN), ``float()`` is NaN, and ``Chapter.table`` shows it as «<k» and stores it
    empty. ``Chapter.result`` records it as ``null``.
    """

    __slots__ = ("k", "kind", "lang")

    def __init__(self, k: int, kind: str = "count", lang: str = "nb"):
        self.k, self.kind, self.lang = int(k), kind, lang

    def __str__(self) -> str:
        return hidden_text(self.k, self.kind, self.lang)

    def __format__(self, spec: str) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"Hidden(k={self.k}, kind={self.kind!r})"

    def __float__(self) -> float:
        return float("nan")

    def _same(self, *_):
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _same
    __floordiv__ = __rfloordiv__ = __mod__ = __pow__ = __neg__ = __pos__ = __abs__ = __round__ = _same

    def _false(self, other):
        return False

    __lt__ = __le__ = __gt__ = __ge__ = _false

    def __eq__(self, other):
        return isinstance(other, Hidden) and other.k == self.k

    def __hash__(self):
        return hash(("Hidden", self.k))


def is_hidden(x) -> bool:
    return isinstance(x, Hidden)


class HiddenTest:
    """A test not published because one of its groups has 1 to ``k - 1`` respondents (same face as a TestResult)."""

    def __init__(self, test, k: int, lang: str = "nb"):
        self.test = getattr(test, "test", "test")
        self.k, self.lang = int(k), lang
        self.statistic = self.df = self.p = self.effect = self.significant = Hidden(k, "stat", lang)
        self.effect_name = getattr(test, "effect_name", "")
        self.n = Hidden(k, "count", lang)
        self.alpha = getattr(test, "alpha", 0.05)
        self.detail = {}

    def describe(self, lang: str | None = None, variant: bool = False) -> str:
        """Said in place of the statistic (``variant`` as ``TestResult.describe``: nothing of the test is shown)."""
        if (lang or self.lang) == "en":
            return f"not shown: a group has fewer than {self.k} answers"
        return f"ikke vist: en av gruppene har færre enn {self.k} svar"


TOTAL_PREFIXES = ("Totalt", "Tatt ut i alt", "Sum", "Total")


_LINKED = ("Prosent", "Prosent totalt", "Percent")


def _is_total(label) -> bool:
    return isinstance(label, str) and label.strip().startswith(TOTAL_PREFIXES)


def complementary(table: pd.DataFrame, hidden: pd.DataFrame, max_rounds: int = 20) -> pd.DataFrame:
    """``hidden`` widened so that no hidden cell can be recovered from a total and the other cells of its line.

    ``table`` holds the values before suppression. The rule (see the module
    docstring): lines are a column's detail rows with a total row they add up
    to, or detail percentages adding up to 100, or a row's cells adding up to
    100; a line with exactly one hidden cell gets its smallest non-zero shown
    detail cell hidden as well (else its total), until no line has exactly one.
    A row's count and its percentage are hidden together.
    """
    out = hidden.copy().astype(bool)
    if table.empty or not out.to_numpy().any():
        return out
    labels = table.iloc[:, 0].tolist()
    totals = [i for i, lab in enumerate(labels) if _is_total(lab)]
    numeric = [
        c
        for c in table.columns[1:]
        if c in out.columns
        and pd.to_numeric(table[c], errors="coerce").notna().any()
        and not pd.api.types.is_bool_dtype(table[c])
    ]
    values = {c: pd.to_numeric(table[c], errors="coerce").to_numpy(float) for c in numeric}
    details = [i for i in range(len(table)) if i not in totals]

    def lines():
        for c in numeric:
            v = values[c]
            for t in totals:
                prev = [x for x in totals if x < t]
                start = prev[-1] + 1 if prev else 0
                candidates = [[i for i in range(j, t) if i in details] for j in range(start, t - 1)]
                candidates += [[i for i in details if i < t], prev]
                for seg in candidates:
                    seg = [i for i in seg if not np.isnan(v[i])]
                    if len(seg) >= 2 and not np.isnan(v[t]) and abs(v[seg].sum() - v[t]) < 1e-6 * max(1, abs(v[t])):
                        yield c, seg, t
                        break
            seg = [i for i in details if not np.isnan(v[i])]
            if not totals and len(seg) >= 2 and abs(v[seg].sum() - 100) < 1e-6:
                yield c, seg, None
        # a row's detail cells adding up to its total column («Totalt»: a crosstab's row total)
        total_cols = [c for c in numeric if _is_total(str(c))]
        for t in total_cols:
            detail_cols = [c for c in numeric if c not in total_cols]
            for i in range(len(table)):
                row = [c for c in detail_cols if not np.isnan(values[c][i])]
                v = values[t][i]
                if (
                    len(row) >= 2
                    and not np.isnan(v)
                    and abs(sum(values[c][i] for c in row) - v) < 1e-6 * max(1, abs(v))
                ):
                    yield i, row, ("row_total", t)
        pct_cols = [c for c in numeric if not str(c).startswith(("Antall", "Count", "N")) and c not in total_cols]
        for i in range(len(table)):
            row = [c for c in pct_cols if not np.isnan(values[c][i])]
            if len(row) >= 2 and abs(sum(values[c][i] for c in row) - 100) < 1e-6:
                yield i, row, "row"

    def link():
        count_cols = [c for c in numeric if str(c).startswith("Antall")]
        linked = count_cols[:1] + [c for c in numeric if c in _LINKED]
        for i in range(len(table)):
            if len(linked) > 1 and any(out.at[out.index[i], c] for c in linked):
                for c in linked:
                    if not np.isnan(values[c][i]):
                        out.at[out.index[i], c] = True

    link()
    for _ in range(max_rounds):
        changed = False
        for line in list(lines()):
            if line[2] == "row":
                i, cols, _ = line
                cells = [(i, c) for c in cols]
                total_cell = None
            elif isinstance(line[2], tuple):  # a row against its total column
                i, cols, (_, t) = line
                cells = [(i, c) for c in cols]
                total_cell = (i, t)
            else:
                c, seg, t = line
                cells = [(i, c) for i in seg]
                total_cell = (t, c) if t is not None else None
            members = cells + ([total_cell] if total_cell else [])
            n_hidden = sum(bool(out.at[out.index[i], c]) for i, c in members)
            if n_hidden != 1:
                continue
            shown = [(i, c) for i, c in cells if not out.at[out.index[i], c] and values[c][i] != 0]
            if shown:
                i, c = min(shown, key=lambda ic: abs(values[ic[1]][ic[0]]))
            elif total_cell and not out.at[out.index[total_cell[0]], total_cell[1]]:
                i, c = total_cell
            else:
                continue
            out.at[out.index[i], c] = True
            changed = True
        link()
        if not changed:
            break
    has_value = pd.DataFrame(
        {c: pd.to_numeric(table[c], errors="coerce").notna() if c in table else False for c in out.columns},
        index=out.index,
    )
    return out & has_value
