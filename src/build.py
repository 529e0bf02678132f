"""The pipeline: parameters -> raw export -> notebooks (papermill) -> book.

    python -m src.build                    # what `make book` runs
    python -m src.build --params my.yml    # override some parameters from a file
    python -m src.build -p raw_path=data/raw/export.sav -p alpha=0.01
    python -m src.build --renderer fallback   # skip Quarto even if installed

Steps, each a function below:

1. ``load_params``    params.yml + overrides, type-checked (unknown keys refused)
2. ``ensure_input``   the raw export; the default synthetic one is generated if absent,
                      and any file named in data/raw/MANIFEST.sha256 must match it
3. ``run_notebooks``  01_cleaning, 02_sample, … in _quarto.yml order, executed by
                      papermill into a staging folder; outputs swapped into reports/
                      only when every notebook succeeded
4. ``render``         Quarto if installed, else the nbconvert fallback, into a staging
                      folder swapped into reports/book at the end

A failure anywhere leaves the previous reports/ and book in place, and a
notebook that fails mid-way is kept for inspection in reports/failed/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import yaml

from src import paths
from src.export import ExportError, read_manifest, sha256
from src.helpers import ParameterError, check_params, write_json
from src.render import notebook_order, quarto_available, render_fallback, render_quarto


class BuildError(RuntimeError):
    """The build stopped; the message says where and why."""


def log(msg: str) -> None:
    print(msg, flush=True)


# -- 1. parameters -----------------------------------------------------------

def load_params(params_file: str | None = None, overrides: list[str] | None = None) -> dict:
    """The defaults of params.yml, updated from a file and from KEY=VALUE pairs."""
    params = _read_yaml_mapping(paths.PARAMS)
    if params_file:
        p = paths.resolve(params_file)
        if not p.exists():
            raise ParameterError(f"parameter file {params_file} does not exist")
        params.update(_read_yaml_mapping(p))
    for item in overrides or []:
        if "=" not in item:
            raise ParameterError(f"-p expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        params[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return check_params(params, where=f"parameters (params.yml{', ' + params_file if params_file else ''}"
                                      f"{', -p ' + ' '.join(overrides) if overrides else ''})")


def _read_yaml_mapping(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ParameterError(f"{paths.relative(path)} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"{paths.relative(path)} must be a mapping of parameter: value")
    return data


# -- 2. input ----------------------------------------------------------------

def ensure_input(params: dict) -> Path:
    """The raw export the build will read; generates the default synthetic one if absent."""
    raw = paths.resolve(params["raw_path"])
    if raw == paths.SYNTHETIC_EXPORT:
        from src.synthesize import generate, is_current

        if not is_current(raw):
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
    return raw


# -- 3. notebooks ------------------------------------------------------------

def run_notebooks(params: dict, names: list[str] | None = None) -> dict:
    """Execute the notebooks in book order into a staging folder, then swap outputs in."""
    import papermill as pm

    names = names or notebook_order()
    reports = paths.resolve(params["reports_dir"])
    stage = reports / "_staging"
    shutil.rmtree(stage, ignore_errors=True)
    (stage / paths.EXECUTED_DIR).mkdir(parents=True)
    nb_params = dict(params, reports_dir=str(stage))
    timings = {}
    for i, name in enumerate(names, 1):
        src = paths.NOTEBOOKS / f"{name}.ipynb"
        if not src.exists():
            raise BuildError(f"_quarto.yml lists {name}, but {paths.relative(src)} does not exist")
        out = stage / paths.EXECUTED_DIR / f"{name}.ipynb"
        log(f"[{i}/{len(names)}] {name} …")
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(src), str(out), parameters=nb_params, cwd=str(paths.ROOT),
                                progress_bar=False, log_output=False, kernel_manager_class=kernel_manager_class())
        except pm.PapermillExecutionError as exc:
            failed = reports / "failed"
            failed.mkdir(parents=True, exist_ok=True)
            kept = failed / f"{name}.ipynb"
            if out.exists():
                shutil.copy2(out, kept)
            shutil.rmtree(stage, ignore_errors=True)
            raise BuildError(
                f"{name} failed in cell {exc.exec_count} with {exc.ename}: {_first_line(exc.evalue)}\n"
                f"{exc.evalue.strip()}\n"
                f"The partly executed notebook is kept in {paths.relative(kept)}; "
                "the previous reports and book are unchanged."
            ) from None
        timings[name] = round(time.perf_counter() - t0, 2)
        log(f"      done in {timings[name]:.1f} s")
    subset = set(names) != set(notebook_order())
    _promote(stage, reports, replace=not subset)
    merge_results(reports)
    return timings


def kernel_manager_class():
    """Kernels talk over IPC sockets (files), not TCP ports.

    No port can be taken by another kernel starting at the same moment (the
    papermill port race of parallel runs), and nothing is sent over the
    network unencrypted (ipykernel warns about that for TCP).
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self):
            return "ipc"

    return IPCKernelManager


def _first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def _promote(stage: Path, reports: Path, replace: bool = True) -> None:
    """Move the staged outputs into reports/.

    A full build replaces reports/{executed,tables,figures,results} whole (no
    stale file of a removed table survives); a build of some notebooks
    (``--notebooks``) only replaces the files those notebooks wrote, so the
    other chapters' outputs stay and the book still renders.
    """
    if not replace:
        for sub in (paths.EXECUTED_DIR, paths.TABLES_DIR, paths.FIGURES_DIR, paths.RESULTS_DIR):
            (reports / sub).mkdir(parents=True, exist_ok=True)
            if (stage / sub).exists():
                for f in (stage / sub).iterdir():
                    f.replace(reports / sub / f.name)
        shutil.rmtree(stage, ignore_errors=True)
        shutil.rmtree(reports / "failed", ignore_errors=True)
        return
    for sub in (paths.EXECUTED_DIR, paths.TABLES_DIR, paths.FIGURES_DIR, paths.RESULTS_DIR):
        new, old = stage / sub, reports / sub
        if not new.exists():
            new.mkdir(parents=True)
        trash = reports / f".old-{sub}"
        shutil.rmtree(trash, ignore_errors=True)
        if old.exists():
            old.rename(trash)
        new.rename(old)
        shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(stage, ignore_errors=True)
    shutil.rmtree(reports / "failed", ignore_errors=True)


def merge_results(reports: Path) -> dict:
    """reports/results/*.json -> reports/results.json (one flat, sorted mapping)."""
    merged = {}
    for f in sorted((reports / paths.RESULTS_DIR).glob("*.json")):
        merged.update(json.loads(f.read_text(encoding="utf-8")))
    write_json(reports / paths.RESULTS_FILE, merged)
    return merged


# -- 4. book -----------------------------------------------------------------

def write_provenance(params: dict) -> Path:
    """reports/_data_provenance.md: the data behind the book, for the front page."""
    from src.helpers import data_banner

    info_path = paths.resolve(params["derived_dir"]) / paths.DATA_INFO_FILE
    info = json.loads(info_path.read_text(encoding="utf-8"))
    text = data_banner(info, params["lang"]) + "\n"
    out = paths.resolve(params["reports_dir"]) / "_data_provenance.md"
    out.write_text(text, encoding="utf-8")
    return out


def render(params: dict, renderer: str = "auto") -> Path:
    """Render the book into reports/book (staged, swapped in at the end)."""
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
    return book / index.name


def run_weighted(params: dict) -> dict:
    """The chapters again with weighted: true into reports/weighted/, and the weighting appendix."""
    from src import sensitivity

    reports = paths.resolve(params["reports_dir"])
    chapters = [n for n in notebook_order() if n != "01_cleaning"]
    log("Weighted sensitivity run (the same chapters with weighted: true) …")
    timings = run_notebooks(dict(params, weighted=True, reports_dir=str(reports / sensitivity.WEIGHTED_DIR)), chapters)
    table = sensitivity.compare(reports)
    table.to_csv(reports / "weighting_comparison.csv", index=False, encoding="utf-8", lineterminator="\n")
    info = json.loads((paths.resolve(params["derived_dir"]) / paths.DATA_INFO_FILE).read_text(encoding="utf-8"))
    (reports / "_weighting.md").write_text(sensitivity.markdown(table, info, params["lang"]), encoding="utf-8")
    return {f"{k} (vektet)": v for k, v in timings.items()}


def write_scorecard(params: dict) -> str:
    """reports/_scorecard.md (the appendix) and reports/scorecard.csv; returns the headline."""
    from src import scorecard

    reports = paths.resolve(params["reports_dir"])
    scores = scorecard.score_book(reports)
    scores.to_csv(reports / "scorecard.csv", index=False, encoding="utf-8", lineterminator="\n")
    (reports / "_scorecard.md").write_text(scorecard.markdown(scores, params["lang"]), encoding="utf-8")
    (reports / "_scorecard_front.md").write_text(scorecard.front(scores, params["lang"]), encoding="utf-8")
    return scorecard.headline(scores)


def write_build_info(params: dict, timings: dict) -> dict:
    """reports/build_info.json and reports/_build_info.md: what built the book (the reproducibility appendix)."""
    import platform
    import subprocess
    from datetime import datetime, timezone
    from importlib import metadata

    from src.helpers import markdown_table

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=paths.ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    pins = [line.split("==")[0] for line in (paths.ROOT / "requirements.txt").read_text().splitlines()
            if "==" in line]
    key = ["pandas", "numpy", "scipy", "statsmodels", "seaborn", "matplotlib", "papermill", "nbconvert",
           "pyreadstat", "pyarrow", "PyYAML", "jupyterlab", "ipykernel"]
    versions = {}
    for name in key + [p for p in pins if p not in key]:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "ikke installert"
    info_path = paths.resolve(params["derived_dir"]) / paths.DATA_INFO_FILE
    data = json.loads(info_path.read_text(encoding="utf-8"))
    commit = git("rev-parse", "HEAD") or "ukjent (ikke et git-arkiv)"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no")) if commit[:1] != "u" else None
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
        "**Kjøretid per notatbok (sekunder, med oppstart av kjernen):**",
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


def build(params_file: str | None = None, overrides: list[str] | None = None, renderer: str = "auto",
          notebooks: list[str] | None = None, render_book: bool = True) -> dict:
    t0 = time.perf_counter()
    params = load_params(params_file, overrides)
    ensure_input(params)
    timings = run_notebooks(params, notebooks)
    if not params["weighted"] and not notebooks:
        timings.update(run_weighted(params))
    from src import captions  # captions: English for lang=en, link to their cell, name the data (src/captions.py)
    captions.annotate_book(params, log)
    write_provenance(params)
    headline = write_scorecard(params)
    write_build_info(params, timings)
    summary = {"timings": timings, "scorecard": headline}
    if render_book:
        index = render(params, renderer)
        summary["book"] = paths.relative(index)
        log(f"Book: {paths.relative(index)}")
    log(headline)
    log(f"Build finished in {time.perf_counter() - t0:.1f} s.")
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build the compendium: notebooks and book.")
    ap.add_argument("--params", help="YAML file with parameters overriding params.yml")
    ap.add_argument("-p", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override one parameter (repeatable), e.g. -p alpha=0.01")
    ap.add_argument("--renderer", choices=["auto", "quarto", "fallback"], default="auto")
    ap.add_argument("--notebooks", help="comma-separated subset, e.g. 01_cleaning,02_sample")
    ap.add_argument("--no-render", action="store_true", help="execute the notebooks only")
    args = ap.parse_args(argv)
    try:
        build(args.params, args.overrides, args.renderer,
              args.notebooks.split(",") if args.notebooks else None, not args.no_render)
    except (BuildError, ParameterError, ExportError) as exc:
        print(f"\nBUILD FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
