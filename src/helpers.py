"""The notebooks' facade: the ``Chapter`` every notebook opens, and the functions a notebook calls.

A chapter notebook stays thin::

    from src import helpers as h
    ch = h.Chapter("02_sample", derived_dir, reports_dir, weighted, lang, alpha)
    t = h.frequency_table(ch.data, "role", subtotals="role_group")
    ch.table(t, "tabell_02")

Everything a notebook shows is computed in the layers below (``src/base``,
``src/data``, ``src/analysis``, ``src/book``) from the data and labelled from
the codebook; nothing is typed in by hand. This module holds the ``Chapter``
(what a notebook reads, writes and publishes, with disclosure control), the
few steps that need a ``Chapter``, and the names notebooks call through ``h.``
(imported from their homes below). Nothing in ``src`` imports it: only the
notebooks and the tests.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from src.analysis import measures as ms
from src.analysis import stats as st
from src.analysis import suppression
from src.analysis.weighting import add_weights
from src.base import disclosure, paths, reference
from src.base.codebook import load as load_codebook
from src.base.files import atomic_write, write_json
from src.base.inputs import check_params
from src.base.numbers import fmt_number, status_of
from src.base.reference import load_margins, load_published, published_value
from src.book import plots, scorecard
from src.book.analyses import crosstab_counts, crosstab_table, means_table, valid_codes
from src.book.comparisons import (
    comparison_overview,
    comparison_summary,
    group_key,
    mean_gaps,
    option_differences,
    theme_ranking,
)
from src.book.scorecard import COMPARISON_COLUMNS, without_empty_notes
from src.book.tables import (
    CURVE_SHOWN,
    coding_agreement_table,
    display_markdown,
    english_labels,
    frequency_table,
    markdown_table,
    multi_table,
    notes_form,
    printed_form,
    raking_table,
    recode_table,
    renamed_display,
    take_hidden,
    translate_table,
)
from src.book.text import data_banner, significance, verdict_label, verdict_text
from src.data import coding, coding_curve
from src.data.cleaning import (
    apply_exclusions,
    apply_recodes,
    check_min_answers,
    code_open_answers,
    data_info,
    drop_free_text,
    validate_export,
    write_derived,
)
from src.data.derived import read_derived
from src.data.export import read_export
from src.data.mapping import unavailable as unavailable_uses

__all__ = [  # what notebooks call as h.<name>, besides Chapter and the functions defined here
    "add_weights",
    "apply_exclusions",
    "apply_recodes",
    "check_min_answers",
    "code_open_answers",
    "coding_agreement_table",
    "comparison_overview",
    "comparison_summary",
    "data_info",
    "drop_free_text",
    "frequency_table",
    "group_key",
    "load_margins",
    "markdown_table",
    "mean_gaps",
    "multi_table",
    "option_differences",
    "pd",
    "published_value",
    "raking_table",
    "read_export",
    "recode_table",
    "significance",
    "theme_ranking",
    "validate_export",
    "verdict_text",
    "write_derived",
    "Chapter",
    "coding_summary",
    "coding_learning_curve",
    "coding_note",
    "external_value",
    "stated_value",
    "study_comparison",
    "reliability_table",
    "coefficient_figure",
    "crosstab",
    "group_means",
]


# ---------------------------------------------------------------------------
# The open answers: the review figures in prose
# ---------------------------------------------------------------------------


def coding_summary(ch: Chapter, summary: pd.DataFrame, synthetic: bool = False) -> str:
    """Record the review figures per open question in the results and say them in a paragraph.

    Agreement and kappa rest on the random audit sample only; on real data
    they are withheld while fewer than ``min_cell`` of its answers are
    reviewed (in the table too), and so is every count of 1 to ``min_cell - 1``.
    """
    parts = []
    k = ch.min_cell_in_force
    for r in summary.itertuples(index=False):
        key = f"coding.{r.variable}"
        # On real data no count of 1 to min_cell − 1 answers (nor one that subtraction gives away), and no
        # agreement figure on fewer than min_cell audit reviews or giving away 1 to min_cell − 1 changed (or
        # kept) proposals (#28); agreement and kappa rest on the random audit sample only (#29).
        n_answers, n_reviewed, n_audit_reviewed = int(r.n_answers), int(r.n_reviewed), int(r.n_audit_reviewed)
        n_changed = None if pd.isna(r.n_changed) else int(r.n_changed)
        n_unreviewed = n_answers - n_reviewed
        n_kept = None if n_changed is None else n_audit_reviewed - n_changed
        reviewed_hidden = disclosure.small(n_reviewed, None, k) or disclosure.small(n_unreviewed, None, k)
        smaller = min([n for n in (n_changed, n_kept) if n], default=None)  # the agreement gives it away
        few = bool(k) and n_audit_reviewed < k
        withheld = few or bool(disclosure.small(smaller, None, k))
        shown = {}
        for field in ("n_answers", "n_reviewed", "n_audit", "n_audit_reviewed", "n_stale", "n_unmatched"):
            v = int(getattr(r, field))
            shown[field] = ch.result(f"{key}.{field}", v, count=v, hidden=field == "n_reviewed" and reviewed_hidden)
        shown["n_changed"] = ch.result(f"{key}.n_changed", None if few else n_changed, count=n_changed, hidden=withheld)
        for field in ("agreement_pct", "kappa", "kappa_low", "kappa_high"):
            value = getattr(r, field)
            shown[field] = ch.result(
                f"{key}.{field}", None if pd.isna(value) or few else value, base=n_audit_reviewed, hidden=withheld
            )
        label = ch.codebook.label(r.variable, "nb")
        nc_label = ch.codebook.value_labels(r.variable)[_not_coded(r.variable, ch)]
        if n_reviewed == 0:
            text = f"{label}: {shown['n_answers']} svar, ingen gjennomgått ennå; temaene er forslagene ({ch.count(r.n_not_coded)} står som «{nc_label}»"
            split = (int(r.n_non_answer), int(r.n_not_recognised))
            if not any(disclosure.small(n, None, k) for n in split):  # one small part would give the other away
                text += f": {ch.count(split[0])} ikke svar, {ch.count(split[1])} ikke gjenkjent"
            text += ")"
        else:
            text = (
                f"{label}: {shown['n_answers']} svar, {shown['n_reviewed']} gjennomgått av forsker, "
                f"{shown['n_audit_reviewed']} av dem i det tilfeldige kontrollutvalget på {shown['n_audit']}"
            )
            if n_audit_reviewed == 0:
                text += "; samsvaret måles først når svar i kontrollutvalget er gjennomgått"
            elif few:
                text += f"; samsvaret vises ikke før minst {k} svar i kontrollutvalget er gjennomgått"
            elif withheld:
                text += f"; samsvar og kappa vises ikke: de ville gi bort et antall på færre enn {k}"
            else:
                text += (
                    f"; der endret forskeren {shown['n_changed']} av forslagene (samsvar "
                    f"{ch.fmt(shown['agreement_pct'])} prosent, kappa {ch.fmt(shown['kappa'], 2)}, 95 % KI "
                    f"{ch.fmt(shown['kappa_low'], 2)}–{ch.fmt(shown['kappa_high'], 2)})"
                )
            if n_reviewed < n_answers:
                # the unreviewed count is withheld with the reviewed one (it would give it away by subtraction)
                those = "de andre" if reviewed_hidden else f"de {ch.count(n_unreviewed)}"
                text += f"; for {those} som ikke er gjennomgått, brukes forslaget fra modellen som har lært av gjennomgangen"
        if r.n_stale:
            text += (
                f"; {shown['n_stale']} svar er endret i eksporten siden de ble vurdert, så der brukes forslaget "
                "til de er vurdert på nytt (`make coding` markerer dem)"
            )
        if r.n_unmatched:
            text += (
                f"; {shown['n_unmatched']} vurderinger i arket hører ikke til noe svar i eksporten og er ikke "
                "brukt (`make coding` viser hvilke)"
            )
        if "eksport" in r.review_source:
            text += " (forskerens temaer fra eksportens egne kodekolonner)"
        parts.append(f"- {text}.")
    text = "Per spørsmål:\n\n" + "\n".join(parts)
    if synthetic:
        text += (
            "\n\nI de syntetiske dataene er «forskerens» tema det temaet svaret ble skrevet for (generatoren fyller "
            "ut gjennomgangsarkene), så samsvaret måler forslagene mot en kjent fasit, ikke en virkelig gjennomgang."
        )
    return text


def coding_learning_curve(ch: Chapter) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The coder measured on answers it has never seen (data/reference/coding_eval.yml): two tables and a paragraph.

    Computed by ``python -m src.synthetic.coding_eval --write`` from the independent holdout set
    (tests/data/coding_eval_holdout.yml, written by someone who had seen neither the rules, the generator
    nor the coder's examples); the figures are recorded in the results.
    """
    result = coding_curve.load_result()
    curve, kinds = coding_curve.curve_table(result), coding_curve.kind_table(result)
    why = "the coder's accuracy on hand-written evaluation answers (tests/data), about no respondent"
    for t in (curve, kinds):
        disclosure.declare_protected(t, t.columns[1:], why)
    curve.attrs["display"] = renamed_display(CURVE_SHOWN)  # shorter headers in the book; the CSV keeps these
    k_col, acc, base = curve.columns[0], "Riktig (prosent)", "Riktig uten gjennomgang, samme svar (prosent)"
    for r in curve.to_dict("records"):
        ch.result(f"coding_eval.k{int(r[k_col])}.accuracy_pct", float(r[acc]))
    zero, last = curve.iloc[0], curve.iloc[-1]
    rnd = (result.get("curve_random") or {}).get(int(last[k_col]), {}).get("all")
    random_text = (
        f" Trekkes de {int(last[k_col])} gjennomgåtte svarene tilfeldig i stedet, er {ch.fmt(100 * rnd['accuracy'], 1)} "
        f"prosent av resten riktige (uten gjennomgang {ch.fmt(100 * rnd['baseline_accuracy'], 1)} prosent)."
        if rnd
        else ""
    )
    text = (
        f"Koderen er målt på {result['n_holdout']} svar den aldri har sett, skrevet for formålet av en som verken "
        f"hadde sett reglene, generatoren eller koderens eksempelsvar (`tests/data/coding_eval_holdout.yml`). "
        f"Uten noen gjennomgang er {ch.fmt(zero[acc], 1)} prosent av forslagene riktige (kappa "
        f"{ch.fmt(zero['Kappa'], 2)}). Gjennomgangen er simulert slik arket legger den opp: først det tilfeldige "
        f"kontrollutvalget ({result['audit_size']} svar per spørsmål), så de usikreste forslagene; koderen lærer "
        f"av de gjennomgåtte svarene og måles på resten av spørsmålets svar ({result['repeats']} trekninger av "
        f"kontrollutvalget per trinn). Etter {int(last[k_col])} gjennomgåtte svar per spørsmål er "
        f"{ch.fmt(last[acc], 1)} prosent av resten riktige, mot {ch.fmt(last[base], 1)} prosent for koderen uten "
        f"gjennomgang på de samme svarene (resten er lettere enn helheten, fordi de usikreste er gjennomgått)."
        + random_text
        + f" Andelen foreslått «ikke kodet» var {ch.fmt(zero['Ikke kodet, foreslått (prosent)'], 1)} prosent uten "
        f"gjennomgang, mot {ch.fmt(zero['Ikke kodet, fasit (prosent)'], 1)} prosent i fasiten; i den høyeste "
        f"sikkerhetsgruppen var {ch.fmt(zero['Høyeste sikkerhet: riktig (prosent)'], 1)} prosent riktige."
    )
    return curve, kinds, text


def coding_note(ch: Chapter, variable: str) -> str:
    """Under a theme table: how many of its counts rest on the researcher's review, how many are proposals."""
    got = (ch.info.get("coding") or {}).get(variable)
    if not got:
        return ""
    n, r = got["n_themes"], got["n_reviewed"]
    if n is None or r is None:
        return (
            "Temaene i tabellen er dels vurdert av forsker, dels forslag fra koderen; antallene vises ikke, "
            f"fordi et av dem er under {ch.min_cell_in_force}."
        )
    return (
        f"Temaene i tabellen: {ch.count(r)} av {ch.count(n)} er vurdert av forsker, {ch.count(n - r)} er "
        "forslag fra koderen (se «Åpne svar: koding i temaer» i datagrunnlaget)."
    )


def _not_coded(variable: str, ch: Chapter) -> int:
    return coding.load_frames(ch.codebook)[variable].not_coded


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# Display
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# Published numbers
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# The chapter context used by every notebook
# ---------------------------------------------------------------------------

INTERACTIVE_NOTE = {
    "nb": (
        "::: {{.callout-note}}\n**Kjørt utenfor byggingen** (ikke av `make book`): tabeller, figurer og "
        "resultater skrives til `{where}/`, ikke til byggingens mapper; byggingen leser aldri derfra. "
        "Boka endres bare av `make book`.\n:::"
    ),
    "en": (
        "::: {{.callout-note}}\n**Run outside the build** (not by `make book`): tables, figures and results go "
        "to `{where}/`, not to the build's folders; the build never reads from there. Only `make book` "
        "changes the book.\n:::"
    ),
}


_PENDING_RESULTS: dict[int, Chapter] = {}  # chapters whose results changed in the running cell
_HOOKED_SHELLS: set[int] = set()


def _flush_pending_results(result=None) -> None:
    """IPython ``post_run_cell``: write the results of every chapter that recorded numbers in the cell.

    A write that fails (a full disk) fails the cell, as a failing write inside it would: the kernel then
    reports an error and papermill stops the notebook, so a build never takes an incomplete file for done.
    """
    for ch in list(_PENDING_RESULTS.values()):
        try:
            ch.flush_results()
        except Exception as exc:
            from IPython import get_ipython

            shell = get_ipython()
            if result is None or shell is None:
                raise
            shell.showtraceback()
            result.error_in_exec = exc
            return


def _hook_results_flush() -> bool:
    """Register ``_flush_pending_results`` on the running IPython shell once; False outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    if id(shell) not in _HOOKED_SHELLS:
        shell.events.register("post_run_cell", _flush_pending_results)
        _HOOKED_SHELLS.add(id(shell))
    return True


LONG_COMPARISON = 15  # rows: a longer comparison table prints only its differing rows in the PDF (Chapter.table)


class Chapter:
    """One notebook's view of the data and its outputs.

    Loads the derived data lazily, writes tables to ``reports/tables``, records
    every stated number in ``reports/results/<notebook>.json`` (merged into
    ``reports/results.json`` by the build) and shows published-vs-reproduced
    views.
    """

    def __init__(
        self,
        notebook: str,
        derived_dir: str = "data/derived",
        reports_dir: str = "reports",
        weighted: bool = False,
        lang: str = "nb",
        alpha: float = 0.05,
        raw_path: str | None = None,
        min_cell: int = 5,
    ):
        params = {
            "derived_dir": derived_dir,
            "reports_dir": reports_dir,
            "weighted": weighted,
            "lang": lang,
            "alpha": alpha,
            "min_cell": min_cell,
        }
        if raw_path is not None:
            params["raw_path"] = raw_path
        check_params(params, where=f"parameters of {notebook}")
        self.notebook = notebook
        self.derived_dir = paths.resolve(derived_dir)
        self.reports_dir = paths.resolve(reports_dir)
        self.weighted = weighted
        self.lang = lang
        self.alpha = float(alpha)
        self.min_cell = min_cell
        self.codebook = load_codebook()
        self.results: dict[str, object] = {}
        self._data = None
        self._excluded = None
        self._info = None
        self._published = None
        if paths.outside_build() and paths.inside_project(reports_dir):
            # not started by the build (a kernel, a console, a script, a test): a scratch folder of its
            # own, never the build's reports (paths.interactive_dir)
            self.reports_dir = paths.interactive_dir(reports_dir)
            display_markdown(
                INTERACTIVE_NOTE[lang if lang in INTERACTIVE_NOTE else "nb"].format(
                    where=paths.relative(paths.INTERACTIVE)
                )
            )
        self._results_path = self.reports_dir / paths.RESULTS_DIR / f"{notebook}.json"

    @property
    def draws_figures(self) -> bool:
        """False in a run whose figures are never shown (``VO_FIGURES=off``: the build's weighted twins);
        the plotted numbers are written all the same."""
        return os.environ.get(paths.FIGURES_ENV, "").lower() != "off"

    # -- inputs ------------------------------------------------------------
    def _require(self, name: str) -> Path:
        p = self.derived_dir / name
        if not p.exists():
            raise FileNotFoundError(f"{paths.relative(p)} does not exist: run 01_cleaning first (make book does this)")
        return p

    @property
    def data(self) -> pd.DataFrame:
        """The analysis sample (respondents.parquet, recodes applied)."""
        if self._data is None:
            self._data = read_derived(self._require(paths.RESPONDENTS_FILE))  # compact dtypes, little memory
        return self._data

    @property
    def excluded(self) -> pd.DataFrame:
        """Respondents outside the analysis sample, with their exclusion rule."""
        if self._excluded is None:
            self._excluded = read_derived(self._require(paths.EXCLUDED_FILE))
        return self._excluded

    @property
    def weights(self) -> pd.Series | None:
        """The raking weights when the chapter runs weighted, else None (pass to frequency_table etc.)."""
        return self.data["weight"] if self.weighted else None

    @property
    def info(self) -> dict:
        if self._info is None:
            self._info = json.loads(self._require(paths.DATA_INFO_FILE).read_text(encoding="utf-8"))
        return self._info

    @property
    def published(self) -> list[dict]:
        if self._published is None:
            self._published = load_published()
        return self._published

    # -- outputs -----------------------------------------------------------
    def banner(self, info: dict | None = None) -> None:
        """Show which data built this chapter (synthetic or real, file, sha256, n; weighted or not)."""
        if info is not None:  # 01_cleaning: the export it just read (data_info.json is not written yet)
            self._info = info
        info = info or self.info
        text = data_banner(info, self.lang)
        note = self._unavailable_note(info)
        if note:
            text += "\n\n" + note
        if self.weighted:
            text += (
                "\n\n::: {.callout-important}\n**Vektede resultater** (følsomhetsanalyse): prosenter og "
                "gjennomsnitt er vektet til SSBs fordeling på sektor, virksomhetsstørrelse og bransje, og testene "
                "er designbaserte. Rapporten selv er uvektet.\n:::"
            )
        display_markdown(text)

    def result(self, key: str, value, count=None, base=None, spec: dict | None = None, hidden: bool = False):
        """Record one stated number under ``<notebook>.<key>``; returns the value.

        Disclosure control: ``count`` (the respondents the number counts) and
        ``base`` (the size of the group it is about), or ``spec`` (a result spec
        of measures.yml, whose count and group are computed), say what it
        rests on; on real data a number resting on 1 to ``min_cell - 1``
        respondents (or ``hidden=True``, e.g. a cell secondary suppression hid)
        is recorded as null, listed under ``<notebook>.suppressed_results``, and
        returned as ``disclosure.Hidden`` («færre enn 5» in prose). ``value`` may be a function of no
        arguments: it is then called only when the number is published (a tiny group may not be computable).
        """
        if key in self.unavailable().get("results", []):  # uses a question the export lacks: null, listed
            listed = self.results.setdefault(f"{self.notebook}.unavailable_results", [])
            if key not in listed:
                listed.append(key)
            self.results[f"{self.notebook}.{key}"] = None
            self._results_changed()
            return None
        if spec is not None and self.min_cell_in_force:
            count, base = suppression.cell_support(spec, self.data, self.codebook, self._excluded_or_none())
        if callable(value):
            value = (
                disclosure.Hidden(self.min_cell_in_force, "stat" if base is not None else "count", self.lang)
                if disclosure.small(count, base, self.min_cell_in_force)
                else value()
            )
        value = self.protect(value, count, base)
        if hidden and self.min_cell_in_force and value is not None:
            value = disclosure.Hidden(self.min_cell_in_force, "count" if base is None else "stat", self.lang)
        if isinstance(value, (disclosure.Hidden, disclosure.HiddenTest)):
            listed = self.results.setdefault(f"{self.notebook}.suppressed_results", [])
            if key not in listed:
                listed.append(key)
            self.results[f"{self.notebook}.{key}"] = None
            self.results.pop(f"{self.notebook}.{key}.ci95", None)
            self._results_changed()
            return value
        if isinstance(value, (np.floating, np.integer, np.bool_)):
            value = value.item()
        self.results[f"{self.notebook}.{key}"] = value
        self._results_changed()
        return value

    def _results_changed(self) -> None:
        """Note that ``results`` changed: written now, or (in a kernel) when the running cell ends.

        In IPython (papermill's kernel, JupyterLab) the file is written once
        after each cell that recorded numbers (``flush_results``, hooked on
        ``post_run_cell``), not once per number: a notebook's results file is
        complete whenever no cell is running. A notebook stopped mid-way
        leaves the numbers of its finished cells, in its staging folder, which
        the build removes. Outside IPython (scripts, tests) every number is
        written at once, as before. (IPython skips ``post_run_cell`` for a silent
        execution, which papermill never sends: its numbers go with the next cell's.)
        """
        if _hook_results_flush():
            _PENDING_RESULTS[id(self)] = self
        else:
            self.flush_results()

    def flush_results(self) -> None:
        """Write ``reports/results/<notebook>.json`` from ``results`` (atomically)."""
        _PENDING_RESULTS.pop(id(self), None)
        write_json(self._results_path, self.results)

    def protect(self, value, count=None, base=None, kind: str | None = None):
        """``value``, or ``disclosure.Hidden`` when on real data it rests on 1 to ``min_cell - 1`` respondents.

        ``count``: the respondents it counts (a count's own value, a percentage's
        numerator); ``base``: the size of the group it describes (a percentage's
        or a mean's base, the smallest group of a test). ``kind`` ('count' or
        'stat') says how prose names it; by default a number with a ``base`` is a 'stat'.
        """
        k = self.min_cell_in_force
        if not k or value is None or isinstance(value, (str, disclosure.Hidden)):
            return value
        if disclosure.small(count, base, k):
            kind = kind or (
                "stat" if base is not None and not (isinstance(base, float) and np.isnan(base)) else "count"
            )
            return disclosure.Hidden(k, kind, self.lang)
        return value

    # -- a question the export lacks (its mapping says column: null; src/data/mapping.py) --------------
    def unavailable(self, info: dict | None = None) -> dict[str, list[str]]:
        """This chapter's tables/figures and numbers that use a question the export lacks (none usually)."""
        if getattr(self, "_unavailable", None) is None:
            try:
                absent = list((info or self.info).get("absent") or [])
            except FileNotFoundError:
                absent = []
            self._unavailable = unavailable_uses(absent, self.codebook).get(self.notebook, {}) if absent else {}
        return self._unavailable

    def _unavailable_note(self, info: dict) -> str:
        absent = list(info.get("absent") or [])
        if not absent:
            return ""
        gone = self.unavailable(info)
        questions = "; ".join(
            f"{self.codebook.variables[n].source} «{self.codebook.label(n, self.lang)}»"
            for n in absent
            if n in self.codebook.variables
        )
        if self.lang == "en":
            head = f"**Not in this export:** {questions} (the mapping {info.get('mapping') or ''} says so)."
            what = (
                ""
                if not gone
                else " In this chapter the following cannot be made and are left out: "
                + ", ".join(
                    [f"table/figure «{t}»" for t in gone.get("tables", [])]
                    + [f"number {r}" for r in gone.get("results", [])]
                )
                + "."
            )
        else:
            head = f"**Mangler i denne eksporten:** {questions} (etter kartleggingen {info.get('mapping') or ''})."
            what = (
                ""
                if not gone
                else " I dette kapitlet kan følgende derfor ikke lages og er utelatt: "
                + ", ".join(
                    [f"tabell/figur «{t}»" for t in gone.get("tables", [])]
                    + [f"tallet {r}" for r in gone.get("results", [])]
                )
                + "."
            )
        return f"::: {{.callout-important}}\n{head}{what}\n:::"

    def _not_made(self, name: str) -> bool:
        """True (and says so in the chapter) when table/figure ``name`` uses a question the export lacks."""
        if name not in self.unavailable().get("tables", []):
            return False
        display_markdown(
            (
                "*Table/figure «{n}» cannot be made: the export lacks a question it uses (see the note "
                "at the top of the chapter).*"
                if self.lang == "en"
                else "*Tabell/figur «{n}» kan ikke lages: eksporten mangler et spørsmål den bygger på (se "
                "merknaden øverst i kapitlet).*"
            ).format(n=name)
        )
        listed = self.results.setdefault(f"{self.notebook}.unavailable_tables", [])
        if name not in listed:
            listed.append(name)
            self._results_changed()
        return True

    def count(self, n):
        """A count for prose (e.g. ``len(untrained)``): ``n``, or «færre enn 5» when it is 1 to ``min_cell - 1``."""
        return self.protect(int(n), count=int(n), kind="count")

    @property
    def min_cell_in_force(self) -> int:
        """The small-cell threshold for this chapter's tables: ``min_cell`` on real data, 0 on synthetic data.

        Real unless the data say they are synthetic: when data_info.json cannot
        be read, the tables are protected.
        """
        if not self.min_cell:
            return 0
        try:
            synthetic = bool(self.info.get("synthetic"))
        except FileNotFoundError:
            synthetic = False
        return disclosure.threshold(self.min_cell, synthetic)

    def table(
        self,
        table: pd.DataFrame,
        name: str,
        decimals: dict[str, int] | None = None,
        show: bool = True,
        support: tuple[pd.DataFrame, pd.DataFrame] | None = None,
        pdf: dict | None = None,
    ) -> pd.DataFrame:
        """Write ``reports/tables/<name>.csv`` (unrounded) and show it rounded; return the table as written.

        On real data, cells resting on fewer than ``min_cell`` respondents are
        hidden (``src/analysis/suppression.py``): shown as «<k», stored empty, with a
        footnote. ``support`` gives each cell's (counts, bases) (or ``table.attrs["support"]``,
        which the helpers ``crosstab``, ``group_means``, ``frequency_table``... set); without it,
        'Antall…' columns are counts and 'Prosent…' columns count their row's respondents. On
        real data a table with a column of numbers whose support is still unknown is refused
        (``disclosure.UnknownSupport``, saying how to give it), never published unprotected.

        ``pdf``: a shorter printed form of a table too long or too wide for an A4 page, as
        ``{"rows": <boolean Series or None>, "rows_text": "<which rows, in words>", "columns": [...]}``,
        or ``{"table": <the printed frame>, "rows_text": ..., "note": "<what changed, in words>"}``;
        the PDF shows it with a note saying where the whole table is (the HTML book shows it whole,
        and the CSV has it whole).
        """
        if self._not_made(name):
            return table
        k = self.min_cell_in_force
        hidden = None
        support = support if support is not None else table.attrs.get("support")
        display = table.attrs.get("display")  # a narrower printed form of the same cells (the CSV has them whole)
        table, marked = take_hidden(table)  # numbers the chapter already hid (disclosure.Hidden)
        if k:
            counts, bases = support if support is not None else disclosure.inferred_support(table)
            unknown = disclosure.unsupported_columns(table, counts, bases)
            if unknown:  # refused, not published unprotected: nothing is written or shown
                raise disclosure.UnknownSupport(disclosure.unknown_support_message(name, unknown, k))
            hidden = (
                disclosure.mask(
                    table, counts.set_axis(table.index[: len(counts)]), bases.set_axis(table.index[: len(bases)]), k
                )
                | marked
            )
            hidden = disclosure.complementary(table, hidden) | marked  # no hidden cell recoverable by subtraction
            table = disclosure.apply(table, hidden)
            if not hidden.to_numpy().any():
                hidden = None
        path = self.reports_dir / paths.TABLES_DIR / f"{name}.csv"
        atomic_write(path, lambda p, t=table: t.to_csv(p, index=False, encoding="utf-8", lineterminator="\n"))
        if hidden is not None:
            self.result(f"suppressed_cells.{name}", int(hidden.to_numpy().sum()))
        if show:
            shown, shown_hidden = table, hidden
            if display is not None:
                shown, shown_hidden, decimals = display(shown, shown_hidden, decimals, self.lang)
            if self.lang == "en":  # the CSV keeps the report's labels; the book shows English ones
                shown, decimals = translate_table(table, self._english(), decimals)
                if hidden is not None:
                    shown_hidden = hidden.set_axis(shown.columns, axis=1)
            text = markdown_table(shown, decimals, self.lang, hidden=shown_hidden, hidden_text=f"<{k}")
            foot = "" if hidden is None else "\n\n" + disclosure.footnote(int(hidden.to_numpy().sum()), k, self.lang)
            text += foot
            if pdf is None and "Status" in shown.columns and len(shown) > LONG_COMPARISON:
                # a long comparison with the report prints, in the PDF, the rows that differ (12 pages
                # of «stemmer» helped no reader); the HTML book and the CSV have every row
                pdf = {
                    "rows": (shown["Status"] != scorecard.status_text("ok", self.lang)).to_numpy(),
                    "rows_text": "radene der tallet ikke stemmer med rapporten"
                    if self.lang == "nb"
                    else "the rows where the number differs from the report's",
                    "none_text": "Alle de {n} tallene stemmer med rapporten, så ingen rad trykkes her"
                    if self.lang == "nb"
                    else "All {n} numbers agree with the report, so no row is printed here",
                }
            if pdf:
                if pdf.get("table") is not None and self.lang == "en":
                    pdf = dict(pdf, table=translate_table(pdf["table"], self._english())[0])
                text = printed_form(shown, text, name, pdf, decimals, self.lang, shown_hidden, f"<{k}", k)
            else:  # a «Merknad» column: in the PDF its notes numbered below the table (squeezed beside the rest)
                text = notes_form(text, shown, decimals, self.lang, shown_hidden, f"<{k}", after=foot)
            display_markdown(text)
        return table

    def _english(self) -> dict[str, str]:
        if getattr(self, "_english_labels", None) is None:
            self._english_labels = english_labels(self.codebook)
        return self._english_labels

    # -- numbers computed by their spec in data/reference/measures.yml ------
    def layout_table(self, name: str, decimals: dict[str, int] | None = None, show: bool = True) -> pd.DataFrame:
        """Build a printed table (or a figure's numbers) from its layout in measures.yml, write and show it."""
        if self._not_made(name):
            return pd.DataFrame()
        table = ms.build_table(
            name, self.data, self.codebook, excluded=self._excluded_or_none(), weighted=self.weighted
        )
        return self.table(table, name, decimals, show, support=self._layout_support(name))

    def _layout_support(self, name: str):
        """(counts, bases) of a layout table's cells when small cells are to be hidden, else None."""
        if not self.min_cell_in_force:
            return None
        return suppression.layout_support(name, self.data, self.codebook, excluded=self._excluded_or_none())

    def state(self, key: str):
        """Compute one stated number from its spec in measures.yml and record it under ``key``."""
        spec = reference.load_measures()["results"].get(key)
        if spec is None:
            raise KeyError(f"measures.yml has no spec for '{key}'")

        short = key.split(".", 1)[1] if key.startswith(self.notebook + ".") else key
        if short in self.unavailable().get("results", []):  # uses a question the export lacks: not computed
            return self.result(short, None)
        count = base = None
        if self.min_cell_in_force:  # what the number rests on (unweighted respondents)
            count, base = suppression.cell_support(spec, self.data, self.codebook, self._excluded_or_none())
        hidden = disclosure.small(count, base, self.min_cell_in_force)
        value = (
            disclosure.Hidden(
                self.min_cell_in_force, "count" if spec.get("stat") in suppression.COUNT_STATS else "stat", self.lang
            )
            if hidden
            else ms.evaluate(
                spec,
                self.data,
                self.codebook,
                excluded=self._excluded_or_none(),
                alpha=self.alpha,
                key=key,
                weighted=self.weighted,
            )
        )  # not computed when not published
        ci = (
            ms.interval(spec, self.data, self.codebook, self.weighted)
            if spec.get("stat") in ("pct", "mean") and not hidden
            else None
        )
        if ci is not None:  # 95 % confidence interval beside the number (for the weighting appendix)
            self.results[f"{self.notebook}.{short}.ci95"] = [ci[1], ci[2]]
        return self.result(short, value, count, base)

    def verdict(self, key: str):
        """Run the test behind a significance statement; record the verdict and its statistics."""
        spec = reference.load_measures()["results"][key]
        if key.split(".", 1)[1] in self.unavailable().get("results", []):  # a question the export lacks
            return self.result(key.split(".", 1)[1], None)
        frame = self.excluded if spec.get("universe") == "excluded" else self.data
        # weighted: the subgroup is a domain of the full design (measures.run_test)
        test = self.run_test(spec, frame, weighted=self.weighted and spec.get("universe", "sample") == "sample")
        short = key.split(".", 1)[1]
        base = short[: -len(".significant")] if short.endswith(".significant") else short
        self.result(short, test.significant)
        for k, v in (("statistic", test.statistic), ("p", test.p), ("effect", test.effect)):
            self.result(f"{base}.{k}", v)
        return test

    def run_test(self, spec: dict, frame: pd.DataFrame, weighted: bool = False):
        """``measures.run_test`` of ``spec`` on ``frame`` (its ``where`` subgroup; weighted, a domain of the
        full design), or ``disclosure.HiddenTest`` (not run) when a group it compares is below ``min_cell``
        on real data."""
        hidden = self.protect_test(None, spec)
        if isinstance(hidden, disclosure.HiddenTest):
            hidden.test = spec.get("test", "test")
            return hidden
        return ms.run_test(spec, frame, self.codebook, self.alpha, weighted=weighted)

    def protect_test(self, test, spec: dict):
        """``test``, or ``disclosure.HiddenTest`` when on real data one of the groups it compares has 1 to
        ``min_cell - 1`` respondents (its statistic, df, p, effect size and verdict are then not published)."""
        k = self.min_cell_in_force
        if k and disclosure.small(
            base=suppression.test_group_size(spec, self.data, self.codebook, self._excluded_or_none()), k=k
        ):
            return disclosure.HiddenTest(test, k, self.lang)
        return test

    def verdict_table(self, keys: list[str]) -> pd.DataFrame:
        """The report's verdicts beside ours, with the test statistics (one row per comparison)."""
        published = {(e.get("lookup") or {}).get("result"): e for e in self.published}
        notes = scorecard.explanations(lang=self.lang)
        rows = []
        for key in keys:
            t = self.verdict(key)
            if t is None:  # not made: the export lacks its question (the chapter's note says so)
                continue
            e = published.get(key)
            if e is None:  # a test the book adds: the report has no verdict to compare with
                label = verdict_label(key, self.codebook)
                report, agree = "ikke testet i rapporten", "–"
            else:
                label = e["label"]
                report = "signifikant" if e["value"] else "ikke signifikant"
                agree = (
                    "–"
                    if not isinstance(t.significant, bool)
                    else "ja"
                    if bool(e["value"]) == t.significant
                    else ("nei (rapporten motsier seg selv her)" if e.get("flag") == "inconsistent" else "nei")
                )
            rows.append(
                {
                    "Sammenligning": label,
                    "Test": t.describe(self.lang, variant=True),
                    "Rapporten": report,
                    "Reprodusert": verdict_text(t, self.lang),
                    "Samsvar": agree,
                    "Merknad": notes.get(e["id"], "") if e is not None and e.get("flag") == "inconsistent" else "",
                }
            )
        return without_empty_notes(pd.DataFrame(rows))

    def figure(self, name: str, kind: str = "auto", value_column: str | None = None) -> pd.DataFrame:
        """Draw a report figure in the house style from its layout in measures.yml.

        Its plotted numbers go to ``reports/tables/<name>.csv``, the figure to
        ``reports/figures/<name>.png``, which is shown (``save_figure``).
        ``kind``: 'diverging' (a grid on a 5-point scale), 'bars' (shares), or
        'auto' (diverging for a grid laid out by scale, bars otherwise).
        """
        if self._not_made(name):
            return pd.DataFrame()
        table = ms.build_table(
            name, self.data, self.codebook, excluded=self._excluded_or_none(), weighted=self.weighted
        )
        table = self.table(table, name, show=False, support=self._layout_support(name))
        if not self.draws_figures:
            return table
        layout = reference.load_measures()["tables"][name]
        frame = table.set_index(table.columns[0])
        if self.min_cell_in_force:
            frame = frame.fillna(0)  # hidden small cells are drawn as 0 (the table says they are hidden)
        if kind == "auto":
            kind = "diverging" if layout.get("columns") == "scale" else "bars"
        axis = "Prosent"
        if self.lang == "en":  # the CSV keeps the report's labels; the figure shows English ones
            labels = self._english()
            value_column = labels.get(value_column, value_column) if value_column else None
            frame = frame.rename(index=lambda r: labels.get(str(r), r), columns=lambda c: labels.get(str(c), c))
            axis = labels.get(axis, axis)
        if kind == "diverging":
            fig = plots.diverging_bars(frame, xlabel=axis)
        else:
            fig = plots.share_bars(frame[value_column or frame.columns[0]], xlabel=axis)
        self.save_figure(fig, name)
        return table

    def save_figure(self, fig, name: str) -> None:
        """Save ``fig`` as ``reports/figures/<name>.png`` and show it; close it (callers draw nothing where
        ``draws_figures`` is False: the build's weighted twins)."""
        import matplotlib.pyplot as plt
        from IPython.display import Image, display

        out = plots.save(fig, name, self.reports_dir / paths.FIGURES_DIR)
        display(Image(filename=str(out["png"])))
        plt.close(fig)

    def _excluded_or_none(self):
        try:
            return self.excluded
        except FileNotFoundError:
            return None

    def md(self, text: str) -> None:
        """Show prose (Markdown) whose numbers were computed by the caller."""
        display_markdown(text)

    def fmt(self, x, decimals: int = 0, n=None) -> str:
        """A number for prose; «færre enn 5» / «(skjult: …)» when it is hidden, or when ``n`` (the group it
        rests on) is 1 to ``min_cell - 1`` on real data."""
        if n is not None:
            x = self.protect(x, base=n, kind="count" if decimals == 0 and x == n else "stat")
        return fmt_number(x, decimals, self.lang)

    def compare(self, table_name: str) -> pd.DataFrame:
        """Published vs reproduced for every cell of one table that the report prints.

        As shown: the report's value as printed («3,9», «minst 200»), ours with
        one decimal more (counts whole, verdicts in words), the tolerance, the
        status and, where the report contradicts itself, the explanation
        (``scorecard.comparison_row``).
        """
        path = self.reports_dir / paths.TABLES_DIR / f"{table_name}.csv"
        ours = pd.read_csv(path, encoding="utf-8")
        ours = ours.set_index(ours.columns[0])
        rows = []
        for e in self.published:
            lk = e.get("lookup") or {}
            if lk.get("table") != table_name:
                continue
            try:
                value = ours.loc[lk["row"], lk["column"]]
            except KeyError:
                value = None
            rows.append(
                {
                    "Rad": lk["row"],
                    "Kolonne": lk["column"],
                    **scorecard.comparison_row(e, value, status_of(e, value), self.lang),
                }
            )
        return disclosure.declare_protected(
            without_empty_notes(pd.DataFrame(rows, columns=COMPARISON_COLUMNS)),
            ("Rapporten", "Reprodusert", "Toleranse"),
            _COMPARED,
        )

    def show_comparison(self, table_name: str) -> pd.DataFrame:
        """One line: how many printed cells we reproduce within tolerance; the cells that differ listed.

        Every cell's comparison is written to ``reports/tables/avstemming_<table>.csv``.
        """
        view = self.compare(table_name)
        self.table(view, f"avstemming_{table_name}", show=False)
        ok = int((view["Status"] == scorecard.status_text("ok", self.lang)).sum())
        shown_name = re.sub(r"_0*(\d+)$", r" \1", table_name).replace("_", " ")  # «tabell 2», as the prose names it
        text = (
            f"**Rapporten mot reprodusert, {shown_name}:** {ok} av {len(view)} trykte celler "
            "innenfor avrundingstoleransen"
        )
        off = without_empty_notes(view[view["Status"] != scorecard.status_text("ok", self.lang)])
        if off.empty:
            display_markdown(text + ".")
        else:
            display_markdown(text + "; disse skiller seg fra rapporten:\n\n" + markdown_table(off, lang=self.lang))
        return view

    def compare_results(self, keys: list[str] | None = None) -> pd.DataFrame:
        """Published vs reproduced for the stated numbers this notebook recorded ('ekstern': another study's)."""
        rows = []
        for e in self.published:
            key = (e.get("lookup") or {}).get("result")
            if not key or not key.startswith(self.notebook + ".") or (keys and key not in keys):
                continue
            value = self.results.get(key)
            external = value is None and (reference.load_measures()["results"].get(key) or {}).get("stat") == "external"
            hidden = key[len(self.notebook) + 1 :] in self.results.get(f"{self.notebook}.suppressed_results", [])
            status = "skjult" if hidden else "ekstern" if external else status_of(e, value)
            rows.append(
                {
                    "Tall": scorecard.entry_label(e),
                    "Kilde": e["source"],
                    **scorecard.comparison_row(e, str(value) if hidden else value, status, self.lang),
                }
            )
        return disclosure.declare_protected(
            without_empty_notes(pd.DataFrame(rows, columns=["Tall", "Kilde", *COMPARISON_COLUMNS[2:]])),
            ("Rapporten", "Reprodusert", "Toleranse"),
            _COMPARED,
        )


_COMPARED = (
    "the report's printed values and tolerances, and ours as published: read from the suppressed "
    "tables or from results recorded through Chapter.result (null when hidden)"
)


# ---------------------------------------------------------------------------
# A researcher's own analyses: one call each, protected by construction
# ---------------------------------------------------------------------------


def _smallest_group(sizes) -> float:
    sizes = [float(x) for x in sizes if float(x) > 0]
    return min(sizes) if sizes else 0.0


def _say_test(ch: Chapter, name: str, test, smallest: float) -> object:
    """Record a test of the researcher's table under ``<name>.test.*`` (hidden when a compared group is
    1 to min_cell - 1 on real data) and say it under the table; returns the test (or HiddenTest)."""
    k = ch.min_cell_in_force
    if k and disclosure.small(base=smallest, k=k):
        test = disclosure.HiddenTest(test, k, ch.lang)
    base = smallest if k else None
    ch.result(f"{name}.test.statistic", test.statistic, base=base)
    ch.result(f"{name}.test.df", list(test.df) if isinstance(test.df, tuple) else test.df, base=base)
    ch.result(f"{name}.test.p", test.p, base=base)
    ch.result(f"{name}.test.effect", test.effect, base=base)
    ch.result(f"{name}.test.significant", test.significant, base=base)
    test_name = {"chi2": "Kjikvadrattest", "welch_t": "t-test", "anova": "Enveis variansanalyse"}.get(
        getattr(test, "test", ""), "Test"
    )
    if ch.lang == "en":
        test_name = {"Kjikvadrattest": "Chi-square test", "Enveis variansanalyse": "One-way ANOVA"}.get(
            test_name, test_name
        )
    if isinstance(test, disclosure.HiddenTest):
        ch.md(f"**{test_name}:** {test.describe(ch.lang)}.")
    else:
        ch.md(
            f"**{test_name}:** {test.describe(ch.lang, variant=True)} ({significance(test, ch.lang)} "
            f"{'ved' if ch.lang != 'en' else 'at'} p < {fmt_number(ch.alpha, 2, ch.lang)})."
        )
    return test


def crosstab(
    ch: Chapter,
    row: str,
    col: str,
    name: str,
    values: str = "count",
    decimals: dict[str, int] | None = None,
    show: bool = True,
):
    """A crosstab of two codebook variables with its chi-square test, published protected; one call.

    ``row``, ``col``: variable names of the codebook (e.g. ``"industry"``, ``"gender"``); their value
    labels label the table, in codebook order, valid answers only. ``values``: ``"count"`` (respondents,
    with «Totalt» row and column) or ``"row_pct"`` (percent of the row, with its «Antall»). Writes
    ``reports/tables/<name>.csv`` and shows the table with the Pearson chi-square (Cramér's V) under
    it; records the test as ``<notebook>.<name>.test.{statistic,df,p,effect,significant}`` and the
    respondents as ``<name>.n`` in results.json. Unweighted (counts are respondents).

    On real data every count of 1 to ``min_cell - 1`` is hidden, with what would reveal it by
    subtraction from a row's or a column's total (secondary suppression), and the test is not shown
    when a row or column group has 1 to ``min_cell - 1`` respondents. Returns (table as written, test).

    In a notebook cell::

        #| label: tbl-bransje-kjonn
        #| tbl-cap: "Bransje etter kjønn, antall"
        t, test = h.crosstab(ch, "industry", "gender", "bransje_kjonn")
    """
    table = crosstab_table(ch.data, row, col, ch.codebook, ch.lang, values)
    k = ch.min_cell_in_force
    if k and values == "row_pct":  # hide what the counts would hide (with their totals), in the percentages
        counts_table = crosstab_table(ch.data, row, col, ch.codebook, ch.lang, "count")
        c, b = counts_table.attrs["support"]
        hidden = disclosure.mask(counts_table, c.set_axis(counts_table.index), b.set_axis(counts_table.index), k)
        hidden = disclosure.complementary(counts_table, hidden)
        support = table.attrs["support"]
        pct_cols = list(table.columns[1:-1])
        mapping = {**{col_: col_ for col_ in pct_cols}, table.columns[-1]: counts_table.columns[-1]}
        for col_, source in mapping.items():
            if hidden[source].any():
                table[col_] = table[col_].astype(object)
            for i in range(len(table)):
                if hidden[source].iloc[i]:
                    table.at[table.index[i], col_] = disclosure.Hidden(k, "stat", ch.lang)
        table.attrs["support"] = support
    counts = crosstab_counts(ch.data, row, col, ch.codebook, ch.lang)
    ch.result(f"{name}.n", int(counts.to_numpy().sum()), count=int(counts.to_numpy().sum()))
    written = ch.table(
        table, name, decimals or ({c: 1 for c in table.columns[1:-1]} if values == "row_pct" else None), show=show
    )
    frame = pd.DataFrame(
        {"r": valid_codes(ch.data, row, ch.codebook), "c": valid_codes(ch.data, col, ch.codebook)}
    ).dropna()
    test = st.chi_square(frame, "r", "c", ch.alpha)
    test.detail.pop("table", None)  # the cells are in the (protected) table, not in the test
    smallest = _smallest_group([*counts.sum(axis=1), *counts.sum(axis=0)])
    return written, _say_test(ch, name, test, smallest)


def group_means(ch: Chapter, var: str, by: str, name: str, decimals: dict[str, int] | None = None, show: bool = True):
    """The mean of a codebook variable by group with its test, published protected; one call.

    ``var``: a scale or number (e.g. ``"course_usefulness"``; its missing codes such as «Vet ikke»
    are left out); ``by``: a coded variable (e.g. ``"sector"``). One row per group (value labels, codebook
    order) and «Totalt»: mean, standard deviation, answers (n). Under it the report's test: Welch's
    t-test (Cohen's d) for two groups, one-way ANOVA (eta²) for three or more. Writes
    ``reports/tables/<name>.csv``; records ``<name>.test.*`` in results.json. Weighted means when the
    chapter runs weighted (the test stays unweighted).

    On real data a group of 1 to ``min_cell - 1`` answers has its mean, SD and n hidden (and the
    complementary n that would give it away by subtraction), and the test is not shown.
    Returns (table as written, test).
    """
    table = means_table(ch.data, var, by, ch.codebook, ch.lang, weights=ch.weights)
    mean_col = table.columns[1]
    written = ch.table(table, name, decimals or {mean_col: 2, table.columns[2]: 2}, show=show)
    y = pd.to_numeric(valid_codes(ch.data, var, ch.codebook), errors="coerce")
    g = valid_codes(ch.data, by, ch.codebook)
    ok = y.notna() & g.notna()
    sizes = g[ok].value_counts()
    sizes = sizes[sizes > 0]
    if len(sizes) < 2:
        raise ValueError(f"group_means('{var}', by='{by}'): fewer than two groups with answers; nothing to test")
    if len(sizes) == 2:
        a, b = sorted(sizes.index)
        test = st.t_test(y[ok], g[ok], a, b, ch.alpha)
    else:
        test, _ = st.anova(y[ok], g[ok], ch.alpha, tukey=False)
        test.detail.pop("means", None)  # the means are in the (protected) table
    for key in ("mean_a", "mean_b", "n_a", "n_b"):
        test.detail.pop(key, None)
    return written, _say_test(ch, name, test, float(sizes.min()))


def external_value(ch: Chapter, key: str):
    """A number the report quotes from another study (e.g. SINTEF's 2007 survey), read from published.yml.

    Only for keys whose measure is ``stat: external`` in measures.yml: the value
    is the report's (the published.yml entry whose ``lookup.result`` is
    ``key``), never computed and never typed into a notebook. It is *not*
    recorded as a result: the book does not reproduce it, so the scorecard and
    ``compare_results`` list it as 'ekstern' rather than as reproduced. Where the
    book shows it (``study_comparison``), it goes into that figure's CSV.
    """
    spec = reference.load_measures()["results"].get(key)
    if not spec or spec.get("stat") != "external":
        raise KeyError(f"measures.yml: '{key}' is not an external number (stat: external); compute it with ch.state")
    entries = [e for e in ch.published if (e.get("lookup") or {}).get("result") == key]
    if len(entries) != 1:
        raise KeyError(f"published.yml: {len(entries)} entries with lookup.result '{key}', expected 1")
    return entries[0]["value"]


def stated_value(ch: Chapter, key: str):
    """``ch.state(key)`` (computed and recorded), or ``external_value(ch, key)`` (read, not recorded) when
    measures.yml marks the number external."""
    spec = reference.load_measures()["results"].get(key) or {}
    return external_value(ch, key) if spec.get("stat") == "external" else ch.state(key)


def study_comparison(
    ch: Chapter, name: str, items: dict[str, str], categories: dict[str, str], studies: dict[str, str]
) -> pd.DataFrame:
    """This survey beside an earlier one: stacked shares per item, one bar per study (a figure).

    ``items`` maps a result-key prefix to the item's variable (its label names
    the panel), e.g. ``{"07_usefulness.f10_adapted_today": "training_general_adapted_today"}``;
    ``categories`` maps a column label to the key suffix of its share, e.g.
    ``{"Helt enig": "_fully_agree_pct"}``; ``studies`` maps a study label to the
    suffix of its keys, e.g. ``{"2007": ".2007", "2024": ""}``. Every number is
    ``stated_value`` of ``prefix + category suffix + study suffix``: computed by
    its measure, or read from published.yml when it is another study's.
    Writes ``reports/tables/<name>.csv`` (a row per item and study, a column per
    category and their sum, 'Sum'), the figure to ``reports/figures/<name>.png``
    (``Chapter.save_figure``), shows it and returns the table.
    """
    item_col, study_col = "Påstand", "Undersøkelse"
    rows = []
    for prefix, var in items.items():
        for study, suffix in studies.items():
            row = {item_col: ch.codebook.label(var, ch.lang), study_col: study}
            for label, cat in categories.items():
                row[label] = stated_value(ch, f"{prefix}{cat}{suffix}")
            row["Sum"] = sum(row[label] for label in categories)
            rows.append(row)
    table = disclosure.declare_protected(
        pd.DataFrame(rows),
        [*categories, "Sum"],
        "each share is stated_value: ch.state (protected) or the other study's",
    )
    table = ch.table(table, name, show=False)  # hidden numbers are drawn as nothing
    if not ch.draws_figures:
        return table
    fig = plots.comparison_bars(table.fillna(0), item_col, study_col, list(categories))
    ch.save_figure(fig, name)
    return table


def reliability_table(ch: Chapter, key: str) -> pd.DataFrame:
    """Item-total statistics of the index behind an alpha result (``stat: alpha`` in measures.yml).

    One row per item (its codebook label): mean, corrected item-total
    correlation, Cronbach's alpha if the item is left out, and the complete
    answers the statistics rest on (``stats.cronbach_alpha``, unweighted as
    alpha always is here). The alpha itself is stated with ``ch.state(key)``.
    """
    spec = reference.load_measures()["results"][key]
    if spec.get("stat") != "alpha":
        raise KeyError(f"measures.yml: '{key}' is not an alpha (stat: alpha)")
    frame = ch.data
    if spec.get("where"):
        frame = frame[frame.eval(ch.codebook.expand(spec["where"]), engine="python").fillna(False).astype(bool)]
    items = list(ch.codebook.groups[spec["grid"]].members) if "grid" in spec else list(spec["vars"])
    _, stats = st.cronbach_alpha(frame[items])
    table = pd.DataFrame(
        {
            "Påstand": [ch.codebook.label(v, ch.lang) for v in stats["item"]],
            "Gjennomsnitt": stats["mean"],
            "Korrigert item-total-korrelasjon": stats["item_total_r"],
            "Alpha uten påstanden": stats["alpha_if_deleted"],
            "Antall (komplette svar)": stats["n"],
        }
    )
    n = pd.to_numeric(table["Antall (komplette svar)"], errors="coerce")  # every statistic rests on them
    table.attrs["support"] = (
        pd.DataFrame({"Antall (komplette svar)": n}),
        pd.DataFrame({c: n for c in table.columns[1:-1]}),
    )
    return table


def coefficient_figure(ch, table: pd.DataFrame, name: str) -> pd.DataFrame:
    """Write the plotted numbers (``reports/tables/<name>.csv``), draw and save the coefficient plot, show it.

    ``table`` is ``multivariable.coefficient_table``'s; the figure goes to
    ``reports/figures/<name>.png`` (house style, ``plots.coefficient_plot``; ``Chapter.save_figure``).
    """
    cols = ["Ledd", "Variabel", "Modell", "Skala", "Estimat", "KI nedre", "KI øvre", "p", "n"]
    plotted = table[cols]
    if "support" in table.attrs:
        counts, bases = table.attrs["support"]
        plotted.attrs["support"] = (counts, bases[[c for c in bases.columns if c in cols]])
    plotted = ch.table(plotted, name, show=False)  # hidden rows (small groups) are not drawn
    if not ch.draws_figures:
        return plotted
    fig = plots.coefficient_plot(plotted[plotted["Estimat"].notna()], alpha=ch.alpha)
    ch.save_figure(fig, name)
    return plotted
