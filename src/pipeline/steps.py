"""What the graph's last steps do: the appendices (provenance, scorecard, weighting appendix, build facts) and the render."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from src.base import paths
from src.base.contents import notebook_order
from src.base.escape import code_span, md_text
from src.base.files import write_json
from src.base.inputs import sha256 as file_sha256
from src.pipeline import records
from src.pipeline.records import STATE_DIR, WEIGHTED_DIR, BuildError, log, machine_paths, read_record

if TYPE_CHECKING:  # pandas is imported where a step needs it (the build starts without it)
    import pandas as pd

APPENDIX_FILES = (
    "_data_provenance.md",
    "_scorecard.md",
    "_scorecard_front.md",
    "_build_info.md",
    "build_info.json",
    "scorecard.csv",
    "_codebook.md",
    "codebook.csv",
)


WEIGHTING_FILES = ("_weighting.md", "weighting_comparison.csv")
WEIGHTED_BOOK_FILES = ("_weighting.md",)  # a weighted book's appendix: no unweighted run to compare with


def weighting_files(params: dict) -> tuple[str, ...]:
    """What the weighting appendix writes into reports_dir (appendices/weighting.qmd includes _weighting.md)."""
    return WEIGHTED_BOOK_FILES if params["weighted"] else WEIGHTING_FILES


def write_provenance(params: dict, out_dir: Path | None = None) -> Path:
    """reports/_data_provenance.md: the data behind the book, for the front page."""
    from src.book.text import data_banner  # the book layer imports pandas: only when the step runs

    info_path = paths.resolve(params["derived_dir"]) / paths.DATA_INFO_FILE
    info = json.loads(info_path.read_text(encoding="utf-8"))
    text = data_banner(info, params["lang"]) + "\n"
    out = (out_dir or paths.resolve(params["reports_dir"])) / "_data_provenance.md"
    out.write_text(text, encoding="utf-8")
    return out


def render(
    params: dict,
    renderer: str = "auto",
    fp: str | None = None,
    inputs: dict | None = None,
    upstream: list[str] | None = None,
):
    """Render the book into reports/book: staged, then its files replaced (its record says which are its own).

    Refused when the outputs it reads are not all of this build (``upstream``:
    the steps whose records must name the build's fingerprint and match their
    files). Files in reports/book that an earlier render did not write are left alone.
    """
    from doit.exceptions import TaskFailed

    from src.book.render import (
        install_quarto,
        quarto_available,
        render_fallback,
        render_quarto_incremental,
        version_note,
    )

    reports = paths.resolve(params["reports_dir"])
    if fp is not None and upstream:
        problems = records.mixed_outputs(params, fp, upstream)
        if problems:
            return TaskFailed(
                "the book was not rendered: its inputs are not all from this build's inputs and "
                f"parameters ({len(problems)} problem(s)):\n"
                + "\n".join(f"  - {p}" for p in problems[:10])
                + "\nRun the build again (make book): it re-runs the steps named here."
            )
    stage = records.stage_dir(reports, "book")
    shutil.rmtree(stage, ignore_errors=True)
    book_stage = stage / paths.BOOK_DIR
    if renderer == "auto" and not quarto_available():
        install_quarto(log)  # once per .venv: the pinned release from PyPI (needs the internet)
    use_quarto = renderer == "quarto" or (renderer == "auto" and quarto_available())
    if renderer == "quarto" and not quarto_available():
        raise BuildError("--renderer quarto was asked for, but quarto is not on PATH")
    if use_quarto:
        note = version_note(quarto_available())
        if note:
            log(note)
        # the pages of the last book whose inputs are unchanged are reused, when its record vouches for it
        previous = reports / paths.BOOK_DIR
        if records.record_problems(reports, "book", None):
            previous = None
        log("Rendering the book with Quarto (HTML + PDF) …")
        what = render_quarto_incremental(book_stage, previous, reports)
        log(f"Quarto rendered {what}.")
    else:
        log(
            "Quarto not found: rendering the HTML book with the nbconvert fallback (no PDF)."
            if renderer == "auto"
            else "Rendering the HTML book with the nbconvert fallback (--renderer fallback)."
        )
        render_fallback(book_stage, reports)
    records.promote(stage, reports, "book", fp, inputs)
    return None


def write_scorecard(params: dict, out_dir: Path | None = None) -> str:
    """reports/_scorecard.md (the appendix) and reports/scorecard.csv; returns the headline."""
    from src.book import scorecard
    from src.book.captions import CaptionError, data_info, shown_tables

    reports = paths.resolve(params["reports_dir"])
    out = out_dir or reports
    scores = scorecard.score_book(reports, shown=shown_tables(reports))  # each row: the table that shows it
    try:  # the notes say whether a miss is the synthetic export's (calibrated or not)
        synthetic = bool(data_info(params).get("synthetic"))
    except CaptionError:
        synthetic = None
    scores["note"] = scorecard.notes(scores, params["lang"], params["weighted"], synthetic)
    scores.to_csv(out / "scorecard.csv", index=False, encoding="utf-8", lineterminator="\n")
    (out / "_scorecard.md").write_text(
        scorecard.markdown(scores, params["lang"], params["weighted"], synthetic), encoding="utf-8"
    )
    (out / "_scorecard_front.md").write_text(
        scorecard.front(scores, params["lang"], params["weighted"]), encoding="utf-8"
    )
    return scorecard.headline(scores)


def write_codebook(params: dict, out_dir: Path | None = None) -> Path:
    """reports/_codebook.md (Vedlegg D «Kodebok») and reports/codebook.csv, from the codebook and the derived data.

    Over every respondent of the export (analysis sample and excluded), protected as every output on real
    data (``min_cell``; nothing hidden in the synthetic export, which describes nobody).
    """
    import pandas as pd

    from src.base.codebook import load
    from src.base.disclosure import threshold
    from src.book import codebook_doc

    derived = paths.resolve(params["derived_dir"])
    info = json.loads((derived / paths.DATA_INFO_FILE).read_text(encoding="utf-8"))
    data = pd.concat(
        [pd.read_parquet(derived / paths.RESPONDENTS_FILE), pd.read_parquet(derived / paths.EXCLUDED_FILE)],
        ignore_index=True,
    )
    k = threshold(params["min_cell"], bool(info["synthetic"]))
    codebook = load()
    out = out_dir or paths.resolve(params["reports_dir"])
    codebook_doc.long_form(data, codebook, k).to_csv(
        out / "codebook.csv", index=False, encoding="utf-8", lineterminator="\n"
    )
    (out / "_codebook.md").write_text(codebook_doc.markdown(data, codebook, k, info.get("n_sample")), encoding="utf-8")
    return out / "_codebook.md"


def git_state() -> dict:
    """The commit the book is built from and whether the tree has uncommitted changes."""

    def git(*args):
        try:
            return subprocess.run(
                ["git", *args], cwd=paths.ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD")
    return {
        "commit": commit or None,
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")) if commit else None,
    }


def notebook_timings(params: dict) -> dict:
    """Seconds per executed notebook (papermill's, kernel start-up included), from the steps' records."""

    reports = paths.resolve(params["reports_dir"])
    timings = {}
    for label, prefix, folder in (("", "nb", reports), (" (vektet)", "vektet", reports / WEIGHTED_DIR)):
        for name in notebook_order():
            rec = read_record(folder, f"{prefix}:{name}") or {}
            if rec.get("seconds") is not None:
                timings[name + label] = round(rec["seconds"], 2)
    return timings


def parameter_text(value) -> str:
    """A parameter's value as a Norwegian reader reads it: «nei» (not False), «0,05» (not 0.05)."""
    from src.base.numbers import fmt_number

    if isinstance(value, bool):
        return "ja" if value else "nei"
    if isinstance(value, float):
        return fmt_number(value, max(0, len(repr(value).split(".")[1].rstrip("0"))) if "." in repr(value) else 0)
    if isinstance(value, int):
        return str(value)
    return code_span(str(value)) if "/" in str(value) or "." in str(value) else md_text(value)


def fmt_count(n) -> str:
    """A count as the book prints counts (thin space for thousands): «2 950»."""
    from src.base.numbers import fmt_number

    return fmt_number(n) if isinstance(n, (int, float)) else str(n)


def renderer_versions() -> dict:
    """Quarto, and the pandoc and typst it uses (its tools folder), or why not: the book's own makers."""
    from src.book.render import quarto_available, quarto_version

    exe = quarto_available()
    if not exe:
        return {"Quarto": "ikke funnet: HTML-boka er laget med reserve-gjengivelsen (nbconvert), ingen PDF"}
    out = {"Quarto": quarto_version(exe) or "ukjent"}
    tools = sorted(Path(exe).resolve().parent.glob("tools/*/"))
    for name in ("pandoc", "typst"):
        found = [d / name for d in tools if (d / name).exists()]
        version = ""
        if found:
            try:
                version = (
                    subprocess.run([str(found[0]), "--version"], capture_output=True, text=True, timeout=60)
                    .stdout.strip()
                    .splitlines()[0]
                )
            except (OSError, subprocess.SubprocessError, IndexError):
                version = ""
        out[name.capitalize()] = version.removeprefix(name).strip() or "ukjent"
    return out


def in_columns(versions: dict, n: int = 3) -> pd.DataFrame:
    """The package list as ``n`` pairs of columns (Pakke, Versjon), read down each pair: a page, not five."""
    import pandas as pd

    items = list(versions.items())
    rows = -(-len(items) // n)
    frame = {}
    for j in range(n):
        chunk = items[j * rows : (j + 1) * rows] + [("", "")] * (rows - len(items[j * rows : (j + 1) * rows]))
        frame["Pakke" + " " * j] = [k for k, _ in chunk]
        frame["Versjon" + " " * j] = [v for _, v in chunk]
    return pd.DataFrame(frame)


def write_build_info(params: dict, out_dir: Path | None = None) -> dict:
    """reports/build_info.json and reports/_build_info.md: what built the book (the reproducibility appendix).

    Nothing in them changes from one build of the same inputs to the next: no
    build time and no run times (those vary; they are in
    reports/.build/timings.json, written at the end of each build), paths
    relative to the project.
    """
    import platform
    from importlib import metadata

    pins = [line.split("==")[0] for line in (paths.ROOT / "requirements.txt").read_text().splitlines() if "==" in line]
    key = [
        "pandas",
        "numpy",
        "scipy",
        "statsmodels",
        "seaborn",
        "matplotlib",
        "papermill",
        "nbconvert",
        "pyreadstat",
        "pyarrow",
        "PyYAML",
        "jupyterlab",
        "ipykernel",
        "doit",
    ]
    versions = {}
    for name in key + [p for p in pins if p not in key]:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "ikke installert"
    info_path = paths.resolve(params["derived_dir"]) / paths.DATA_INFO_FILE
    data = json.loads(info_path.read_text(encoding="utf-8"))
    notebooks = [f"{n}.ipynb" for n in notebook_order()]
    digests = [file_sha256(paths.NOTEBOOKS / n) for n in notebooks]
    state = git_state()
    commit, dirty = state["commit"] or "ukjent (ikke et git-arkiv)", state["dirty"]

    def shown(value):  # no absolute path of this machine (an export outside the project: its file name)
        if not isinstance(value, str):
            return value
        for old, new in machine_paths(params):
            value = value.replace(old, new)
        return value

    params = {k: shown(v) for k, v in params.items()}
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": commit,
        "git_dirty": dirty,
        "params": params,
        "data": {k: data[k] for k in ("file", "sha256", "synthetic", "n_rows", "n_sample")},
        "notebooks": dict(zip(notebooks, digests)),
        "packages": versions,
        "renderer": renderer_versions(),
    }
    reports = out_dir or paths.resolve(params["reports_dir"])
    write_json(reports / "build_info.json", info)
    import pandas as pd

    from src.book.tables import markdown_table

    lines = [
        f"**Python** {info['python']} på {info['platform']}",
        "",
        f"**Git:** `{commit}`"
        + ({True: " — med endringer som ikke er committet", False: " — rent arbeidstre", None: ""}[dirty]),
        "",
        "**Data:**",  # a list, not a paragraph: the unbreakable sha256 stretched a justified line in the PDF
        "",
        f"- {code_span(data['file'])} ({'syntetiske' if data['synthetic'] else 'reelle'} data)",
        f"- sha256 `{data['sha256']}`",
        f"- {fmt_count(data['n_rows'])} respondenter, {fmt_count(data['n_sample'])} i analyseutvalget",
        "",
        "**Parametere:**",
        "",
        markdown_table(
            pd.DataFrame(
                {"Parameter": [f"`{k}`" for k in params], "Verdi": [parameter_text(v) for v in params.values()]}
            )
        ),
        "",
        "**Notatbøkene (sha256 av kilden i `notebooks/`):**",
        "",
        markdown_table(pd.DataFrame({"Notatbok": notebooks, "sha256": [f"`{d}`" for d in digests]})),
        "",
        "Kjøretid per notatbok og byggetidspunkt står ikke her (de varierer fra bygging til bygging, og boka "
        "skal være lik for like inndata); byggingen skriver dem i `reports/.build/timings.json`.",
        "",
        "**Verktøyene som lager boka:**",
        "",
        markdown_table(pd.DataFrame({"Verktøy": list(info["renderer"]), "Versjon": list(info["renderer"].values())})),
        "",
        "**Python-pakkene (versjoner i miljøet):**",
        "",
        markdown_table(in_columns(versions)),
    ]
    (reports / "_build_info.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return info


def write_weighting_appendix(params: dict, out_dir: Path | None = None) -> None:
    """reports/_weighting.md and weighting_comparison.csv: the weighted run beside the unweighted one.

    A book built with ``weighted: true`` is itself the weighted run: its _weighting.md says so, with the
    raking facts, and points to the default book for the comparison (no comparison table to write)."""
    from src.book import sensitivity

    reports = paths.resolve(params["reports_dir"])
    out = out_dir or reports
    info = json.loads((paths.resolve(params["derived_dir"]) / paths.DATA_INFO_FILE).read_text(encoding="utf-8"))
    if params["weighted"]:
        (out / "_weighting.md").write_text(sensitivity.weighted_book(info, params["lang"]), encoding="utf-8")
        return
    table = sensitivity.compare(reports)
    table.to_csv(out / "weighting_comparison.csv", index=False, encoding="utf-8", lineterminator="\n")
    results = json.loads((reports / paths.RESULTS_FILE).read_text(encoding="utf-8"))
    (out / "_weighting.md").write_text(
        sensitivity.introduction(results, params["lang"]) + sensitivity.markdown(table, info, params["lang"]),
        encoding="utf-8",
    )


def write_appendices(params: dict, fp: str | None = None, inputs: dict | None = None) -> None:
    """Everything the front page and the appendices include, from what the notebooks wrote (staged, then promoted)."""

    reports = paths.resolve(params["reports_dir"])
    stage = records.stage_dir(reports, "appendices")
    shutil.rmtree(stage, ignore_errors=True)
    (stage / STATE_DIR).mkdir(parents=True)
    write_provenance(params, stage)
    write_weighting_appendix(params, stage)
    headline = write_scorecard(params, stage)
    (stage / STATE_DIR / "headline.txt").write_text(headline + "\n", encoding="utf-8")
    write_build_info(params, stage)
    write_codebook(params, stage)
    records.promote(stage, reports, "appendices", fp, inputs)
