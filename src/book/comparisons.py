"""Group differences picked from the data, themes of a multi-select question, and the
book's summary of every group comparison (used by 08_future and 09_barriers).

Each function records what it computes with ``ch.result`` under the key
conventions of published.yml, so the scorecard, the weighting appendix and the
summary of differences read it like any other stated number. Re-exported by
``src.helpers`` (notebooks call ``h.mean_gaps`` etc.).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from src.analysis import measures as ms
from src.analysis import multivariable as mv
from src.base import paths, reference
from src.base.disclosure import declare_protected
from src.base.numbers import fmt_number
from src.book.tables import renamed_display
from src.book.text import verdict_text

OMNIBUS_GROUPS = {"bransjer": "alle bransjer", "storrelse": "alle størrelsesgrupper"}  # published.yml's key convention
TEST_NAMES = {
    "chi2": "Pearsons kjikvadrat",
    "welch_t": "t-test (Welch)",
    "ttest": "t-test (Welch)",
    "anova": "enveis ANOVA",
    "tukey": "Tukey HSD",
    "rao_scott_f": "Rao-Scott (vektet)",
    "svyglm_t": "vektet regresjon",
    "wald_f": "Wald F (vektet)",
}
EFFECT_NAMES = {
    "chi2": "Cramérs V",
    "rao_scott_f": "Cramérs V (vektet)",
    "welch_t": "Cohens d",
    "ttest": "Cohens d",
    "svyglm_t": "differanse (vektet)",
    "anova": "eta²",
    "wald_f": "eta² (vektet)",
    "tukey": "differanse",
}
# the design-based test a measures.yml test becomes in a weighted run (measures.weighted_test)
WEIGHTED_TESTS = {"chi2": "rao_scott_f", "ttest": "svyglm_t", "tukey": "svyglm_t", "anova": "wald_f"}


def group_key(label: str) -> str:
    """The result-key form of a group label, as published.yml spells it.

    'VO' -> 'vo', 'Små' -> 'sma', 'Helse og omsorg' -> 'helse_og_omsorg'.
    """
    text = str(label).strip().lower()
    for a, b in (("æ", "ae"), ("ø", "o"), ("å", "a"), ("-", "_"), ("/", "_"), (" ", "_")):
        text = text.replace(a, b)
    return text


def _record_test(ch, base: str, spec: dict):
    """Run a test spec (as in measures.yml) on the chapter's data; record it as ``Chapter.verdict`` does.

    Adds ``<base>.test`` (the test's name) so the summary of differences can
    say which test gave the p-value.
    """
    # not run (HiddenTest) when a group is below min_cell; weighted: a domain of the full design
    test = ch.run_test(spec, ch.data, weighted=ch.weighted)
    ch.result(f"{base}.significant", test.significant)
    for k, v in (("statistic", test.statistic), ("p", test.p), ("effect", test.effect), ("test", test.test)):
        ch.result(f"{base}.{k}", v)
    return test


def _evaluate(ch, spec: dict, key: str):
    return ms.evaluate(spec, ch.data, ch.codebook, alpha=ch.alpha, key=key, weighted=ch.weighted)


def mean_gaps(
    ch,
    grids: dict[str, str],
    by: str = "role_group",
    groups: tuple = (1, 2),
    top: int | None = None,
    sort: bool = True,
    report_table: str | None = None,
    header: str | None = None,
) -> pd.DataFrame:
    """Mean of every item of one or more grids in two groups, and the gap between them.

    ``grids`` maps a result-key prefix to a grid, e.g. ``{"f15": "topic_needs"}``.
    Every item's group means are recorded as ``<prefix>_<item>_mean.<group>``
    (e.g. ``f15_physical_mean.hvo``; weighted when the chapter is). Rows are
    sorted by the size of the gap (second group minus first), largest first,
    unless ``sort=False``; ``top`` keeps the first ``top`` rows: the items
    *the data* pick, not the report. ``report_table`` adds a column saying
    whether the report's table of that name prints the item (published.yml's
    rows, through the layout's ``row_vars`` where it shortens a label).
    """
    cb = ch.codebook
    a, b = groups
    shown = cb.value_labels(by, ch.lang)
    keys = {g: group_key(cb.value_labels(by)[g]) for g in groups}
    header = header or cb.label(next(iter(grids.values())), ch.lang)
    gap_col = f"Differanse ({shown[b]} − {shown[a]})"
    in_report = None
    if report_table:
        layout = reference.load_measures()["tables"].get(report_table, {})
        row_vars = layout.get("row_vars") or {}
        by_label = {v.label: n for n, v in cb.variables.items()}
        printed = {
            (e.get("lookup") or {}).get("row")
            for e in ch.published
            if (e.get("lookup") or {}).get("table") == report_table
        }
        in_report = {row_vars.get(r) or by_label.get(r) for r in printed}
    rows = []
    for prefix, grid in grids.items():
        for var in cb.groups[grid].members:
            item = var[len(grid) + 1 :]
            specs = {g: {"stat": "mean", "var": var, "where": f"{by} == {g}"} for g in groups}
            means = {
                g: ch.result(f"{prefix}_{item}_mean.{keys[g]}", lambda g=g: _evaluate(ch, specs[g], var), spec=specs[g])
                for g in groups
            }  # hidden (disclosure.Hidden) for a group below min_cell
            row = {header: cb.label(var, ch.lang), shown[a]: means[a], shown[b]: means[b], gap_col: means[b] - means[a]}
            if in_report is not None:
                row[f"I rapportens {report_table.replace('_', ' ')}"] = "ja" if var in in_report else "nei"
            rows.append(row)
    table = pd.DataFrame(rows)
    if sort:
        table = table.reindex(table[gap_col].map(float).abs().sort_values(ascending=False, kind="stable").index)
    if top:
        table = table.head(top)
    return declare_protected(
        table.reset_index(drop=True),
        [shown[a], shown[b], gap_col],
        "group means recorded through Chapter.result (Hidden for a small group)",
    )


def option_differences(ch, group: str, prefix: str, by: str = "role_group", groups: tuple = (1, 2)) -> pd.DataFrame:
    """Every option of a multi-select question in two groups: the shares ticking it and a chi-square test.

    Records, per option, ``<prefix>_<option>_pct.<group>`` and the test as
    ``<prefix>_<option>.<a>_vs_<b>.{significant,statistic,p,effect,test}``
    (the keys ``Chapter.verdict`` uses, so an option the report names gets the
    same key and value as its verdict in measures.yml). Rows are sorted by the
    size of the difference, largest first; 'Nevnt i rapporten' says whether the
    report states this difference (published.yml has its verdict).
    """
    cb = ch.codebook
    a, b = groups
    shown = cb.value_labels(by, ch.lang)
    keys = {g: group_key(cb.value_labels(by)[g]) for g in groups}
    named = {(e.get("lookup") or {}).get("result") for e in ch.published}
    rows = []
    for var in cb.groups[group].members:
        option = var[len(group) + 1 :]
        specs = {g: {"stat": "pct", "var": var, "codes": [1], "where": f"{by} == {g}"} for g in groups}
        shares = {
            g: ch.result(f"{prefix}_{option}_pct.{keys[g]}", lambda g=g: _evaluate(ch, specs[g], var), spec=specs[g])
            for g in groups
        }  # hidden for a small group or numerator
        base = f"{prefix}_{option}.{keys[a]}_vs_{keys[b]}"
        test = _record_test(ch, base, {"stat": "test", "test": "chi2", "var": var, "by": by, "groups": [a, b]})
        rows.append(
            {
                cb.label(group, ch.lang): cb.label(var, ch.lang),
                f"Prosent {shown[a]}": shares[a],
                f"Prosent {shown[b]}": shares[b],
                "Differanse (prosentpoeng)": shares[b] - shares[a],
                "Test": test.describe(ch.lang),
                "Reprodusert": verdict_text(test, ch.lang),
                "Nevnt i rapporten": "ja" if f"{ch.notebook}.{base}.significant" in named else "nei",
            }
        )
    table = pd.DataFrame(rows)
    order = table["Differanse (prosentpoeng)"].map(float).abs().sort_values(ascending=False, kind="stable").index
    table = declare_protected(
        table.reindex(order).reset_index(drop=True),
        [f"Prosent {shown[a]}", f"Prosent {shown[b]}", "Differanse (prosentpoeng)"],
        "shares recorded through Chapter.result (Hidden for a small group or numerator)",
    )
    table.attrs["display"] = option_display(shown[a], shown[b])  # printed narrower (the CSV keeps these headers)
    return table


DIFFERENCE = "Differanse (prosentpoeng)"

# Tabell K9.3 and K9.6 as printed: seven columns sized by their cells left the test a few words a line (five
# lines a cell in the PDF, «χ²(1) =» / «76,75,» / «p < ,001,» / …). Shorter headers for the shares, and fixed
# shares of the A4 line (percent) that give the test two lines; the label column wraps instead.
OPTION_WIDTHS = {"label": 25, "a": 8, "b": 8, "Differanse": 12, "Test": 24, "Reprodusert": 13, "Nevnt": 10}


def option_display(a: str, b: str):
    """The ``attrs["display"]`` of ``option_differences``: «VO (%)» for «Prosent VO», the PDF's column shares
    (``OPTION_WIDTHS``, read by ``tables.markdown_table`` from ``attrs["widths"]``)."""
    # a soft hyphen: «(prosentpoeng)» is wider than its column and ran into «HVO (%)» (a table cell's text is
    # not justified, so typst does not hyphenate it)
    names = {f"Prosent {a}": f"{a} (%)", f"Prosent {b}": f"{b} (%)", DIFFERENCE: "Differanse (prosent\u00adpoeng)"}

    def display(table: pd.DataFrame, hidden: pd.DataFrame | None, decimals: dict | None, lang: str = "nb"):
        shown, hidden, decimals = renamed_display(names)(table, hidden, decimals, lang)
        keys = ["label", "a", "b", "Differanse", "Test", "Reprodusert", "Nevnt"]
        if len(shown.columns) == len(keys):
            shown.attrs["widths"] = {c: OPTION_WIDTHS[k] for c, k in zip(shown.columns, keys)}
        return shown, hidden, decimals

    return display


def theme_ranking(ch, group: str) -> pd.DataFrame:
    """The report's themes of a multi-select question, ranked by the data.

    The themes are the codebook's ``themes:`` of the question (option ->
    theme label; options without a theme, such as 'Annet', are left out); the
    order in which a theme first appears there is the report's ranking. A
    theme's score is the mean share ticking its factors (percent of those who
    answered the question, weighted when the chapter is); the share ticking
    at least one of its factors is shown beside it. Rank 1 = highest mean share.
    """
    cb = ch.codebook
    g = cb.groups[group]
    themes = getattr(g, "themes", None)
    if not themes:
        raise KeyError(f"{paths.relative(cb.path)}: variables.{group} has no 'themes:' (option -> theme label)")
    data = ch.data
    answered = data[list(g.members)].notna().any(axis=1)
    w = (ch.weights if ch.weighted else pd.Series(1.0, index=data.index))[answered].astype(float)
    ticked = data.loc[answered, list(g.members)].eq(1)
    report_order = list(dict.fromkeys(themes.values()))
    rows = []
    for theme in report_order:
        members = [m for m in g.members if themes.get(m) == theme]
        shares = [100 * float(w[ticked[m]].sum() / w.sum()) for m in members]
        n, fewest = int(answered.sum()), int(min(ticked[m].sum() for m in members))
        any_of = int(ticked[members].any(axis=1).sum())
        rows.append(
            {
                "Tema": theme,
                "Faktorer": "; ".join(cb.label(m, ch.lang) for m in members),
                "Antall faktorer": len(members),
                "Gjennomsnittlig andel (prosent)": ch.protect(float(np.mean(shares)), count=fewest, base=n),
                "Minst én av faktorene (prosent)": ch.protect(
                    100 * float(w[ticked[members].any(axis=1)].sum() / w.sum()), count=any_of, base=n
                ),
                "Rapportens rangering": report_order.index(theme) + 1,
            }
        )
    table = pd.DataFrame(rows)
    score = pd.to_numeric(table["Gjennomsnittlig andel (prosent)"].map(float), errors="coerce")
    table = table.loc[score.sort_values(ascending=False, kind="stable").index]
    table.insert(1, "Rangering etter dataene", range(1, len(table) + 1))
    return declare_protected(
        table.reset_index(drop=True),
        [
            "Rangering etter dataene",
            "Antall faktorer",
            "Rapportens rangering",
            "Gjennomsnittlig andel (prosent)",
            "Minst én av faktorene (prosent)",
        ],
        "ranks and numbers of factors (not about respondents); shares through Chapter.protect",
    )


def _split_verdict_label(label: str) -> tuple[str, str]:
    """A verdict's label in published.yml split into what is compared and between whom.

    'Kontinuitet i rollen (VO vs HVO)' -> ('Kontinuitet i rollen', 'VO vs HVO');
    'Fysisk vs. digitalt kurs: offentlig vs privat sektor' -> ('Fysisk vs. digitalt kurs', 'offentlig vs privat sektor').
    """
    if label.endswith(")") and " (" in label and " vs " in label.rsplit(" (", 1)[1]:
        head, tail = label.rsplit(" (", 1)
        return head, tail[:-1]
    if ": " in label:
        head, tail = label.rsplit(": ", 1)
        return head, tail
    return label, ""


def _all_groups(cb, spec: dict, lang: str) -> str:
    """An omnibus test's groups by their labels ('Bransjerettet / Delvis bransje / Generelt'), from its ``by``."""
    by = spec.get("by")
    if not by or spec.get("groups"):
        return ""
    try:
        return " / ".join(cb.value_labels(by, lang).values())
    except KeyError:
        return ""


def _model_term_row(ch, notebook: str, measure: str, code: str, results: dict, base: str) -> dict:
    """The summary row of one term of a multivariable model, under its labels: the category against the
    model's reference category (e.g. 'Digitalt kurs vs Fysisk kurs (justert)'), the outcome as the measure."""
    cb = ch.codebook
    _, outcome, kind, variable = measure.split(".", 3)
    labels = cb.value_labels(variable, ch.lang)
    ref = mv.PREDICTORS.get(variable)
    try:
        shown = labels.get(int(code), code)
    except ValueError:
        shown = code
    between = f"{shown} vs {labels.get(ref, ref)}" if ref is not None else f"{cb.label(variable, ch.lang)} = {shown}"
    return {
        "Kapittel": chapter_number(notebook),
        "Sammenligning": f"{between} (justert for de andre kjennetegnene)",
        "Mål": cb.label(outcome, ch.lang),
        "Verdier": "",
        "Test": mv.MODEL_NAMES.get(kind, {}).get(ch.lang, kind) + ", koeffisient",
        "p": float(results[f"{base}.p"]) if results.get(f"{base}.p") is not None else np.nan,
        "Effekt": results.get(f"{base}.estimate", np.nan),
        "Rapporten": "ikke testet i rapporten",
        "Reprodusert": "signifikant" if results[f"{base}.significant"] else "ikke signifikant",
        "Samsvar": "–",
    }


def comparison_summary(ch) -> pd.DataFrame:
    """Every group comparison the book has made so far, from the chapters' saved results.

    Reads ``<reports_dir>/results/*.json`` (each chapter's stated numbers; the
    chapters that have run, this one included), takes every verdict
    ``<notebook>.<measure>.<groups>.significant`` with its ``.statistic``,
    ``.p`` and ``.effect``, the group means or shares the chapter recorded
    (``<measure>_mean.<group>`` / ``<measure>_pct.<group>``), the report's
    verdict from published.yml and the test from measures.yml (or the
    ``.test`` the chapter recorded). Nothing is recomputed. Adds Holm-adjusted
    p-values over all comparisons with a p-value (statsmodels
    ``multipletests``) beside the unadjusted verdicts. A verdict about every
    item of a grid carries the smallest item p-value. Verdicts a chapter could
    not compute (``external`` in measures.yml, recorded as None) are left out.
    """
    from statsmodels.stats.multitest import multipletests

    cb = ch.codebook
    results: dict = {}
    for path in sorted((ch.reports_dir / paths.RESULTS_DIR).glob("*.json")):
        results.update(json.loads(path.read_text(encoding="utf-8")))
    results.update(ch.results)
    published = {(e.get("lookup") or {}).get("result"): e for e in ch.published}
    specs = reference.load_measures()
    group_labels = {}
    for rec in cb.recodes.values():
        for label in rec.values.values():
            group_labels.setdefault(group_key(label), label)

    def item_label(notebook: str, measure: str, spec: dict) -> str:
        var = spec.get("var") or spec.get("grid")
        if var:
            return cb.label(var, ch.lang)
        head, _, rest = measure.partition("_")
        table = {"f": "figur_", "t": "tabell_"}.get(head[:1], "?") + head[1:]
        layout = specs["tables"].get(table) or {}
        grp = layout.get("grid") or layout.get("multi")
        if grp and f"{grp}_{rest}" in cb.variables:
            return cb.label(f"{grp}_{rest}", ch.lang)
        return f"{notebook}.{measure}"

    rows = []
    for key in sorted(k for k in results if k.endswith(".significant") and results[k] is not None):
        base = key[: -len(".significant")]
        notebook, rest = base.split(".", 1)
        measure, _, groups = rest.rpartition(".")
        if not measure:
            continue
        if measure.startswith("mv."):  # a term of a multivariable model: <outcome>.<kind>.<variable>, code
            rows.append(_model_term_row(ch, notebook, measure, groups, results, base))
            continue
        spec = specs["results"].get(key) or {}
        e = published.get(key)
        test = results.get(f"{base}.test") or spec.get("test") or ""
        if ch.weighted and f"{base}.test" not in results:
            test = WEIGHTED_TESTS.get(test, test)
        pair = groups.split("_vs_") if "_vs_" in groups else []
        values = []
        for g in pair:
            for suffix, decimals, unit in (("_mean", 1, ""), ("_pct", 0, " %")):
                v = results.get(f"{notebook}.{measure}{suffix}.{g}")
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    values.append(
                        f"{group_labels.get(g, g.replace('_', ' '))} {fmt_number(v, decimals, ch.lang)}{unit}"
                    )
                    break
        report = (
            "ikke testet i rapporten"
            if e is None
            else (
                ("signifikant" if e["value"] else "ikke signifikant")
                + (" (antatt)" if e.get("flag") == "assumed" else "")
            )
        )
        p = results.get(f"{base}.p")
        what, between = _split_verdict_label(e["label"]) if e else (item_label(notebook, measure, spec), "")
        rows.append(
            {
                "Kapittel": chapter_number(notebook),
                "Sammenligning": (
                    " vs ".join(group_labels.get(g, g.replace("_", " ")) for g in pair)
                    if pair
                    else OMNIBUS_GROUPS.get(groups)
                    or between
                    or _all_groups(cb, spec, ch.lang)
                    or groups.replace("_", " ")
                ),
                "Mål": what,
                "Verdier": "; ".join(values),
                "Test": ", ".join(x for x in (TEST_NAMES.get(test, test), EFFECT_NAMES.get(test, "")) if x),
                "p": float(p) if p is not None else np.nan,
                "Effekt": results.get(f"{base}.effect", np.nan),
                "Rapporten": report,
                "Reprodusert": "signifikant" if results[key] else "ikke signifikant",
                "Samsvar": "–"
                if e is None
                else "ja"
                if bool(e["value"]) == bool(results[key])
                else ("nei (rapporten motsier seg selv her)" if e.get("flag") == "inconsistent" else "nei"),
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    has_p = table["p"].notna()
    table["p (Holm)"] = np.nan
    table["Holm-justert"] = "–"
    if has_p.any():
        reject, p_holm, _, _ = multipletests(table.loc[has_p, "p"].to_numpy(float), alpha=ch.alpha, method="holm")
        table.loc[has_p, "p (Holm)"] = p_holm
        table.loc[has_p, "Holm-justert"] = np.where(reject, "signifikant", "ikke signifikant")
    return declare_protected(
        table,
        ["p", "Effekt", "p (Holm)"],
        "read from the chapters' results, recorded through Chapter.result (null when hidden)",
    )


def chapter_number(notebook: str) -> str:
    """«2» for 02_sample: chapters are named by their number in the book, as in the PDF (not by notebook)."""
    return str(int(notebook[:2])) if notebook[:2].isdigit() else notebook


def comparison_overview(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary of differences by kind of comparison (as report 5.4 groups them).

    Per kind of comparison (e.g. VO vs HVO): comparisons made, significant ones
    before and after Holm's adjustment, how many the report tested, and in
    how many of those our verdict agrees with the report's; a last row 'Totalt'.
    """
    rows = []
    for groups, part in summary.groupby("Sammenligning", sort=False):
        spoken = part["Rapporten"] != "ikke testet i rapporten"
        rows.append(
            {
                "Sammenligning": groups,
                "Antall": len(part),
                "Signifikante": int((part["Reprodusert"] == "signifikant").sum()),
                "Signifikante etter Holm": int((part["Holm-justert"] == "signifikant").sum()),
                "Testet i rapporten": int(spoken.sum()),
                "Samme dom som rapporten": int((part.loc[spoken, "Samsvar"] == "ja").sum()),
            }
        )
    table = pd.DataFrame(rows).sort_values("Antall", ascending=False, kind="stable")
    total = table.drop(columns="Sammenligning").sum().to_dict()
    out = pd.concat([table, pd.DataFrame([{"Sammenligning": "Totalt", **total}])], ignore_index=True)
    return declare_protected(out, list(out.columns[1:]), "counts of comparisons, not of respondents")
