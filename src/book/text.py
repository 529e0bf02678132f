"""Words for prose: test verdicts, the data banner, and a published number's status against the book's."""

from __future__ import annotations

from src.base import reference
from src.base.codebook import Codebook
from src.base.disclosure import HiddenTest
from src.base.escape import code_span


def verdict_text(test, lang: str = "nb") -> str:
    """'signifikant' / 'ikke signifikant' (at the chapter's alpha) for prose and tables; 'ikke vist' for a
    test one of whose groups is below ``min_cell`` (``disclosure.HiddenTest``)."""
    if isinstance(test, HiddenTest):
        return "not shown" if lang == "en" else "ikke vist"
    return verdict_word(test.significant, lang)


def verdict_word(significant: bool, lang: str = "nb") -> str:
    if lang == "en":
        return "significant" if significant else "not significant"
    return "signifikant" if significant else "ikke signifikant"


def significance(test, lang: str = "nb") -> str:
    """'statistisk signifikant' / 'ikke statistisk signifikant' for prose, 'ikke vist' for a hidden test."""
    if isinstance(test, HiddenTest):
        return "not shown" if lang == "en" else "ikke vist"
    if lang == "en":
        return "statistically significant" if test.significant else "not statistically significant"
    return "statistisk signifikant" if test.significant else "ikke statistisk signifikant"


def verdict_label(key: str, codebook: Codebook | None = None) -> str:
    """A readable name for a book-only test key, from its spec in measures.yml and the codebook.

    '07_usefulness.t27_presenter.bransjetilpasning.significant' (an ANOVA by
    ``tailoring``) -> 'Kursholderen(e) hadde gode formidlingsevner (Bransjerettet / Delvis bransje /
    Generelt)'; a pairwise test names its two groups ('Korte under 2 dager mot Middels 2-4 dager').
    Without a codebook: '<measure>: <groups>' as before.
    """
    parts = key.split(".")
    measure, groups = (parts[1], parts[2]) if len(parts) > 3 else (parts[-2], "")
    spec = reference.load_measures()["results"].get(key) or {}
    var, by = spec.get("var") or spec.get("grid"), spec.get("by")
    if codebook is None or not var or not by:
        return f"{measure.replace('_', ' ')}: {groups.replace('_vs_', ' mot ').replace('_', ' ')}".strip(": ")
    labels = codebook.value_labels(by)
    if spec.get("groups") and len(spec["groups"]) == 2:
        between = " mot ".join(labels.get(g, str(g)) for g in spec["groups"])
    elif len(labels) <= 4:
        between = " / ".join(labels.values())
    else:
        between = f"alle {len(labels)} grupper av «{codebook.label(by)}»"
    return f"{codebook.label(var)} ({between})"


def data_banner(info: dict, lang: str = "nb") -> str:
    """One Markdown callout naming the data behind a page."""
    if info.get("looks_synthetic") and not info["synthetic"]:  # a renamed or copied synthetic export (#25)
        if lang == "en":
            kind = (
                "data whose SPSS file label says they are a generated SYNTHETIC export, but no generator record "
                "vouches for this file (renamed or copied?): treated and protected as real data"
            )
        else:
            kind = (
                "data som etter SPSS-filens etikett er en generert SYNTETISK eksport, men uten generatorens "
                "kvittering for akkurat denne filen (omdøpt eller kopiert?): behandlet og skjermet som reelle data"
            )
        what = "Data" if lang == "en" else "Datagrunnlag"
        people = ("respondents", "in the analysis sample") if lang == "en" else ("respondenter", "i analyseutvalget")
        return (
            f"::: {{.callout-warning}}\n"
            f"**{what}:** {kind} — {'file' if lang == 'en' else 'fil'} {code_span(info['file'])}, sha256 "
            f"{code_span(info['sha256'])}, {info['n_rows']} {people[0]}, {info['n_sample']} {people[1]}.\n:::"
        )
    if lang == "en":
        kind = (
            "SYNTHETIC data (calibrated to the report's published numbers)" if info["synthetic"] else "REAL survey data"
        )
        return (
            f"::: {{.callout-{'warning' if info['synthetic'] else 'note'}}}\n"
            f"**Data:** {kind} — file {code_span(info['file'])}, sha256 {code_span(info['sha256'])}, "
            f"{info['n_rows']} respondents, {info['n_sample']} in the analysis sample.\n:::"
        )
    kind = (
        "SYNTETISKE data (kalibrert mot rapportens publiserte tall, ikke de reelle svarene)"
        if info["synthetic"]
        else "REELLE data fra undersøkelsen"
    )
    return (
        f"::: {{.callout-{'warning' if info['synthetic'] else 'note'}}}\n"
        f"**Datagrunnlag:** {kind} — fil {code_span(info['file'])}, sha256 {code_span(info['sha256'])}, "
        f"{info['n_rows']} respondenter, {info['n_sample']} i analyseutvalget.\n:::"
    )
