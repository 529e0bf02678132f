"""The pipeline: parameters -> raw export -> notebooks (papermill) -> book.

    python -m src.build                    # what `make book` runs
    python -m src.build --params my.yml    # override some parameters from a file
    python -m src.build -p raw_path=data/raw/export.sav -p alpha=0.01
    python -m src.build --renderer fallback   # skip Quarto even if installed

    python -m src.build -j 1 --force          # sequential, everything re-run

Steps:

1. ``load_params``    params.yml + overrides, type-checked (unknown keys refused)
2. ``ensure_input``   the raw export; the default synthetic one is generated if absent,
                      and any file named in data/raw/MANIFEST.sha256 must match it
3. ``pipeline.run``   the dependency graph of src/pipeline.py, run by doit: each
                      notebook (papermill) re-executed only when something it reads
                      changed, chapters in parallel; then the results, the appendices
                      (``write_appendices``) and the book (``render``: Quarto if
                      installed, else the nbconvert fallback, staged and swapped in)

A failing notebook stops the build with its cell and error, is kept in
reports/failed/, and leaves its previous outputs and the rendered book in place.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path


from src import paths
from src.inputs import (ParameterError, check_params, inside_project, is_current, parse_override,
                        read_manifest, read_params_file, sha256)
from src.pipeline import STATE_DIR


class BuildError(RuntimeError):
    """The build stopped; the message says where and why."""


def log(msg: str) -> None:
    print(msg, flush=True)


# -- 1. parameters -----------------------------------------------------------

def load_params(params_file: str | None = None, overrides: list[str] | None = None) -> dict:
    """The defaults of params.yml, updated from a file and from KEY=VALUE pairs.

    Files are read with YAML 1.2 rules and without aliases, ``-p`` values are
    converted by the parameter's type (src/inputs.py); the output folders must
    lie inside the project.
    """
    params = read_params_file(paths.PARAMS)
    if params_file:
        p = paths.resolve(params_file)
        if not p.exists():
            raise ParameterError(f"parameter file {params_file} does not exist")
        params.update(read_params_file(p))
    for item in overrides or []:
        key, value = parse_override(item)
        params[key] = value
    check_params(params, where=f"parameters (params.yml{', ' + params_file if params_file else ''}"
                               f"{', -p ' + ' -p '.join(overrides) if overrides else ''})")
    inside_project(params)
    return params


# -- 2. input ----------------------------------------------------------------

def ensure_input(params: dict) -> Path:
    """The raw export the build will read; generates the default synthetic one if absent."""
    raw = paths.resolve(params["raw_path"])
    if raw == paths.SYNTHETIC_EXPORT:
        if not is_current(raw):
            from src.synthesize import generate

            why = "No export in" if not raw.exists() else "The generator or its targets changed since the export in"
            log(f"{why} {paths.relative(raw.parent)}: generating the calibrated synthetic export …")
            t0 = time.perf_counter()
            generate(raw)
            log(f"  wrote {paths.relative(raw)} ({time.perf_counter() - t0:.1f} s)")
    elif not raw.exists():
        raise BuildError(f"raw_path {params['raw_path']} does not exist ({raw})")
    if raw.parent == paths.RAW:
        expected = read_manifest().get(raw.name)
        if expected and expected != sha256(raw):
            raise BuildError(
                f"{paths.relative(raw)} has changed since it was recorded in "
                f"{paths.relative(paths.RAW_MANIFEST)} (sha256 differs). If the change is on purpose, "
                "update the manifest (for the synthetic export: delete it and the .sav and rebuild)."
            )
    validate_input(params, raw)
    return raw


VALIDATION_INPUTS = ("data/codebook.yml", "src/export.py", "src/helpers.py", "src/codebook.py", "src/inputs.py")


def validate_input(params: dict, raw: Path) -> None:
    """01_cleaning's checks of the export (columns, codes, labels, routing, exclusions) before any kernel starts.

    Skipped when this very export passed them with the present codebook and
    checking code (reading the export takes seconds; a no-op rebuild must not).
    """
    import hashlib

    if not raw.is_file():
        from src.helpers import validate_export

        validate_export(raw)   # says what is wrong with the path
    key = hashlib.sha256(sha256(raw).encode())
    for rel in VALIDATION_INPUTS:
        key.update((paths.ROOT / rel).read_bytes())
    stamp = paths.resolve(params["reports_dir"]) / STATE_DIR / "validated-input"
    if stamp.exists() and stamp.read_text(encoding="utf-8").strip() == key.hexdigest():
        return
    from src.helpers import validate_export

    validate_export(raw)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key.hexdigest() + "\n", encoding="utf-8")


# -- 3. what the graph's last steps do (the graph itself: src/pipeline.py) ----

def write_provenance(params: dict) -> Path:
    """reports/_data_provenance.md: the data behind the book, for the front page."""
    from src.helpers import data_banner

    info_path = paths.resolve(params["derived_dir"]) / paths.DATA_INFO_FILE
    info = json.loads(info_path.read_text(encoding="utf-8"))
    text = data_banner(info, params["lang"]) + "\n"
    out = paths.resolve(params["reports_dir"]) / "_data_provenance.md"
    out.write_text(text, encoding="utf-8")
    return out


def render(params: dict, renderer: str = "auto") -> str:
    """Render the book into reports/book (staged, swapped in at the end)."""
    from src.render import quarto_available, render_fallback, render_quarto

    reports = paths.resolve(params["reports_dir"])
    stage = reports / "_book_staging"
    shutil.rmtree(stage, ignore_errors=True)
    use_quarto = renderer == "quarto" or (renderer == "auto" and quarto_available())
    if renderer == "quarto" and not quarto_available():
        raise BuildError("--renderer quarto was asked for, but quarto is not on PATH")
    if use_quarto:
        log("Rendering the book with Quarto (HTML + PDF) …")
        index = render_quarto(stage, reports)
    else:
        log("Quarto not found: rendering the HTML book with the nbconvert fallback (no PDF)."
            if renderer == "auto" else "Rendering the HTML book with the nbconvert fallback (--renderer fallback).")
        index = render_fallback(stage, reports)
    book = reports / paths.BOOK_DIR
    trash = reports / ".old-book"
    shutil.rmtree(trash, ignore_errors=True)
    if book.exists():
        book.rename(trash)
    stage.rename(book)
    shutil.rmtree(trash, ignore_errors=True)
    return paths.relative(book / index.name)


def write_scorecard(params: dict) -> str:
    """reports/_scorecard.md (the appendix) and reports/scorecard.csv; returns the headline."""
    from src import scorecard

    reports = paths.resolve(params["reports_dir"])
    scores = scorecard.score_book(reports)
    scores.to_csv(reports / "scorecard.csv", index=False, encoding="utf-8", lineterminator="\n")
    (reports / "_scorecard.md").write_text(scorecard.markdown(scores, params["lang"]), encoding="utf-8")
    (reports / "_scorecard_front.md").write_text(scorecard.front(scores, params["lang"]), encoding="utf-8")
    return scorecard.headline(scores)


def git_state() -> dict:
    """The commit the book is built from and whether the tree has uncommitted changes."""
    import subprocess

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=paths.ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD")
    return {"commit": commit or None,
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")) if commit else None}


def notebook_timings(params: dict) -> dict:
    """Seconds per executed notebook (papermill's record: kernel start-up included), in book order."""
    from src.pipeline import WEIGHTED_DIR, notebook_order

    reports = paths.resolve(params["reports_dir"])
    timings = {}
    for label, folder in (("", reports), (" (vektet)", reports / WEIGHTED_DIR)):
        for name in notebook_order():
            f = folder / paths.EXECUTED_DIR / f"{name}.ipynb"
            if f.exists():
                meta = json.loads(f.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
                if meta.get("duration") is not None:
                    timings[name + label] = round(meta["duration"], 2)
    return timings


def write_build_info(params: dict, timings: dict) -> dict:
    """reports/build_info.json and reports/_build_info.md: what built the book (the reproducibility appendix)."""
    import platform
    from datetime import datetime, timezone
    from importlib import metadata

    from src.helpers import markdown_table, write_json

    pins = [line.split("==")[0] for line in (paths.ROOT / "requirements.txt").read_text().splitlines()
            if "==" in line]
    key = ["pandas", "numpy", "scipy", "statsmodels", "seaborn", "matplotlib", "papermill", "nbconvert",
           "pyreadstat", "pyarrow", "PyYAML", "jupyterlab", "ipykernel", "doit"]
    versions = {}
    for name in key + [p for p in pins if p not in key]:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "ikke installert"
    info_path = paths.resolve(params["derived_dir"]) / paths.DATA_INFO_FILE
    data = json.loads(info_path.read_text(encoding="utf-8"))
    state = git_state()
    commit, dirty = state["commit"] or "ukjent (ikke et git-arkiv)", state["dirty"]
    info = {
        "built_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "python": platform.python_version(), "platform": platform.platform(),
        "git_commit": commit, "git_dirty": dirty, "params": params, "timings_s": timings,
        "data": {k: data[k] for k in ("file", "sha256", "synthetic", "n_rows", "n_sample")},
        "packages": versions,
    }
    reports = paths.resolve(params["reports_dir"])
    write_json(reports / "build_info.json", info)
    import pandas as pd

    lines = [
        f"**Bygget:** {info['built_utc']} · **Python** {info['python']} på {info['platform']}",
        "",
        f"**Git:** `{commit}`" + ({True: " — med endringer som ikke er committet", False: " — rent arbeidstre",
                                   None: ""}[dirty]),
        "",
        f"**Data:** `{data['file']}` ({'syntetiske' if data['synthetic'] else 'reelle'} data), sha256 "
        f"`{data['sha256']}`, {data['n_rows']} respondenter, {data['n_sample']} i analyseutvalget.",
        "",
        "**Parametere:**",
        "",
        markdown_table(pd.DataFrame({"Parameter": list(params), "Verdi": [str(v) for v in params.values()]})),
        "",
        "**Kjøretid per notatbok (sekunder, med oppstart av kjernen; fra siste gang notatboka ble kjørt — "
        "byggingen kjører bare notatbøker som har endret seg):**",
        "",
        markdown_table(pd.DataFrame({"Notatbok": list(timings), "Sekunder": list(timings.values())}),
                       {"Sekunder": 1}),
        "",
        "**Programvare (versjoner i miljøet):**",
        "",
        markdown_table(pd.DataFrame({"Pakke": list(versions), "Versjon": list(versions.values())})),
    ]
    (reports / "_build_info.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return info


def write_weighting_appendix(params: dict) -> None:
    """reports/_weighting.md and weighting_comparison.csv: the weighted run beside the unweighted one."""
    from src import sensitivity

    reports = paths.resolve(params["reports_dir"])
    table = sensitivity.compare(reports)
    table.to_csv(reports / "weighting_comparison.csv", index=False, encoding="utf-8", lineterminator="\n")
    info = json.loads((paths.resolve(params["derived_dir"]) / paths.DATA_INFO_FILE).read_text(encoding="utf-8"))
    (reports / "_weighting.md").write_text(sensitivity.markdown(table, info, params["lang"]), encoding="utf-8")


def write_appendices(params: dict) -> None:
    """Everything the front page and the appendices include, from what the notebooks wrote."""
    write_provenance(params)
    if not params["weighted"]:
        write_weighting_appendix(params)
    headline = write_scorecard(params)
    (paths.resolve(params["reports_dir"]) / STATE_DIR / "headline.txt").write_text(headline + "\n", encoding="utf-8")
    write_build_info(params, notebook_timings(params))


def build(params_file: str | None = None, overrides: list[str] | None = None, renderer: str = "auto",
          notebooks: list[str] | None = None, render_book: bool = True, jobs: int | None = None,
          force: bool = False) -> dict:
    """Bring the book up to date: re-run what changed (everything with ``force``), in parallel."""
    from src import pipeline

    t0 = time.perf_counter()
    params = load_params(params_file, overrides)
    ensure_input(params)
    if renderer == "quarto" and not shutil.which("quarto"):
        raise BuildError("--renderer quarto was asked for, but quarto is not on PATH")
    order = pipeline.notebook_order()
    unknown = [n for n in notebooks or [] if n not in order]
    if unknown:
        raise BuildError(f"--notebooks: {unknown} not in the book (_quarto.yml lists {order})")
    jobs = jobs or os.cpu_count() or 1
    progress = pipeline.run(params, renderer, jobs=jobs, force=force, forced=notebooks, render_book=render_book)
    if progress.failures or progress.errors or progress.exit_code:
        raise BuildError("\n".join(progress.failures + progress.errors) or f"doit exit code {progress.exit_code}")
    reports = paths.resolve(params["reports_dir"])
    headline = (reports / STATE_DIR / "headline.txt").read_text(encoding="utf-8").strip()
    if render_book:
        log(f"Book: {paths.relative(reports / paths.BOOK_DIR / 'index.html')}"
            + ("" if "book" in progress.ran else " (up to date)"))
    log(headline)
    log(f"Build finished in {time.perf_counter() - t0:.1f} s ({len(progress.ran)} steps run, "
        f"{len(progress.skipped)} up to date, {jobs} parallel).")
    return {"ran": progress.ran, "skipped": progress.skipped, "scorecard": headline}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the compendium: notebooks and book, re-running what changed.")
    ap.add_argument("--params", help="YAML file with parameters overriding params.yml")
    ap.add_argument("-p", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override one parameter (repeatable), e.g. -p alpha=0.01")
    ap.add_argument("--renderer", choices=["auto", "quarto", "fallback"], default="auto")
    ap.add_argument("--notebooks", help="re-run these notebooks even if up to date, e.g. 01_cleaning,03_role")
    ap.add_argument("--force", action="store_true", help="re-run everything (a full rebuild)")
    ap.add_argument("-j", "--jobs", type=int, default=None,
                    help="notebooks run at once (default: the number of cores)")
    ap.add_argument("--no-render", action="store_true", help="execute the notebooks only")
    args = ap.parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        print(f"\nBUILD FAILED: -j/--jobs must be at least 1, got {args.jobs}", file=sys.stderr)
        return 1
    try:
        build(args.params, args.overrides, args.renderer,
              args.notebooks.split(",") if args.notebooks else None, not args.no_render, args.jobs, args.force)
    except Exception as exc:
        from src.export import ExportError

        if not isinstance(exc, (BuildError, ParameterError, ExportError)):
            raise
        print(f"\nBUILD FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
