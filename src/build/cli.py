"""The build command (``python -m src.build``): parameters -> raw export -> notebooks (papermill) -> book.

    python -m src.build                    # what `make book` runs
    python -m src.build --params my.yml    # override some parameters from a file
    python -m src.build -p raw_path=data/raw/export.sav -p alpha=0.01
    python -m src.build --renderer fallback   # skip Quarto even if installed

    python -m src.build -j 1 --force          # sequential, everything re-run

Steps:

1. ``load_params``    params.yml + overrides, type-checked (unknown keys refused)
2. ``ensure_input``   the raw export; the default synthetic one is generated if absent,
                      and any file named in data/raw/MANIFEST.sha256 must match it
3. ``pipeline.run``   the dependency graph of src/build/graph.py, run by doit: each
                      notebook (papermill) re-executed only when something it reads
                      changed, chapters in parallel; then the results, the appendices
                      (``write_appendices``) and the book (``render``: Quarto if
                      installed, else the nbconvert fallback, staged and swapped in)

A failing notebook stops the build with its cell and error, is kept in
reports/failed/; the build is all or nothing (src/build/graph.py's journal): what
its finished steps replaced is put back, so a failed or stopped build changes
no output.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path


from src.base import paths
from src.base.contents import notebook_order
from src.base.imports import module_dependencies
from src.base.inputs import (ParameterError, check_output_dirs, check_params, inside_project, is_current,
                        parse_override, read_manifest, read_params_file, sha256)
from src.build.graph import STATE_DIR
from src.base.files import write_json
from src.book.tables import markdown_table
from src.book.text import data_banner
from src.data.cleaning import validate_export


class BuildError(RuntimeError):
    """The build stopped; the message says where and why."""


def log(msg: str) -> None:
    print(msg, flush=True)


# -- 1. parameters -----------------------------------------------------------

def load_params(params_file: str | None = None, overrides: list[str] | None = None) -> dict:
    """The defaults of params.yml, updated from a file and from KEY=VALUE pairs.

    Files are read with YAML 1.2 rules and without aliases, ``-p`` values are
    converted by the parameter's type (src/base/inputs.py); the output folders must
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
    check_output_dirs(params)   # real outputs never where git would pick them up
    return params


# -- 2. input ----------------------------------------------------------------

def ensure_input(params: dict) -> Path:
    """The raw export the build will read; generates the default synthetic one if absent."""
    raw = paths.resolve(params["raw_path"])
    if raw == paths.SYNTHETIC_EXPORT:
        if not is_current(raw):
            from src.synthetic.synthesize import generate

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


VALIDATION_INPUTS = ("data/codebook.yml",)   # and the code of validate_export (src/data/cleaning.py and what it imports)


def validate_input(params: dict, raw: Path) -> None:
    """01_cleaning's checks of the export (columns, codes, labels, routing, exclusions) before any kernel starts.

    Skipped when this very export passed them with the present codebook and
    checking code (reading the export takes seconds; a no-op rebuild must not).
    """
    import hashlib

    if not raw.is_file():
        validate_export(raw)   # says what is wrong with the path
    key = hashlib.sha256(sha256(raw).encode())
    for f in [*(paths.ROOT / rel for rel in VALIDATION_INPUTS), *module_dependencies("data.cleaning")]:
        key.update(f.read_bytes())
    from src.data.coding import sheet_files

    for sheet in sheet_files(raw):   # the researcher's review sheets are checked with the export
        key.update(sheet.read_bytes())
    stamp = paths.resolve(params["reports_dir"]) / STATE_DIR / "validated-input"
    if stamp.exists() and stamp.read_text(encoding="utf-8").strip() == key.hexdigest():
        return

    validate_export(raw)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key.hexdigest() + "\n", encoding="utf-8")


# -- 3. what the graph's last steps do (the graph itself: src/build/graph.py) ----

APPENDIX_FILES = ("_data_provenance.md", "_scorecard.md", "_scorecard_front.md", "_build_info.md", "build_info.json",
                  "scorecard.csv")
WEIGHTING_FILES = ("_weighting.md", "weighting_comparison.csv")


def write_provenance(params: dict, out_dir: Path | None = None) -> Path:
    """reports/_data_provenance.md: the data behind the book, for the front page."""
    info_path = paths.resolve(params["derived_dir"]) / paths.DATA_INFO_FILE
    info = json.loads(info_path.read_text(encoding="utf-8"))
    text = data_banner(info, params["lang"]) + "\n"
    out = (out_dir or paths.resolve(params["reports_dir"])) / "_data_provenance.md"
    out.write_text(text, encoding="utf-8")
    return out


def render(params: dict, renderer: str = "auto", fp: str | None = None, inputs: dict | None = None,
           upstream: list[str] | None = None):
    """Render the book into reports/book: staged, then its files replaced (its record says which are its own).

    Refused when the outputs it reads are not all of this build (``upstream``:
    the steps whose records must name the build's fingerprint and match their
    files). Files in reports/book that an earlier render did not write are left alone.
    """
    from doit.exceptions import TaskFailed

    from src.build import graph as pipeline
    from src.book.render import install_quarto, quarto_available, render_fallback, render_quarto, version_note

    reports = paths.resolve(params["reports_dir"])
    if fp is not None and upstream:
        problems = pipeline.mixed_outputs(params, fp, upstream)
        if problems:
            return TaskFailed("the book was not rendered: its inputs are not all from this build's inputs and "
                              f"parameters ({len(problems)} problem(s)):\n"
                              + "\n".join(f"  - {p}" for p in problems[:10])
                              + "\nRun the build again (make book): it re-runs the steps named here.")
    stage = pipeline.stage_dir(reports, "book")
    shutil.rmtree(stage, ignore_errors=True)
    book_stage = stage / paths.BOOK_DIR
    if renderer == "auto" and not quarto_available():
        install_quarto(log)   # once per .venv: the pinned release from PyPI (needs the internet)
    use_quarto = renderer == "quarto" or (renderer == "auto" and quarto_available())
    if renderer == "quarto" and not quarto_available():
        raise BuildError("--renderer quarto was asked for, but quarto is not on PATH")
    if use_quarto:
        note = version_note(quarto_available())
        if note:
            log(note)
        log("Rendering the book with Quarto (HTML + PDF) …")
        render_quarto(book_stage, reports)
    else:
        log("Quarto not found: rendering the HTML book with the nbconvert fallback (no PDF)."
            if renderer == "auto" else "Rendering the HTML book with the nbconvert fallback (--renderer fallback).")
        render_fallback(book_stage, reports)
    pipeline.promote(stage, reports, "book", fp, inputs)
    return None


def write_scorecard(params: dict, out_dir: Path | None = None) -> str:
    """reports/_scorecard.md (the appendix) and reports/scorecard.csv; returns the headline."""
    from src.book import scorecard

    reports = paths.resolve(params["reports_dir"])
    out = out_dir or reports
    scores = scorecard.score_book(reports)
    scores.to_csv(out / "scorecard.csv", index=False, encoding="utf-8", lineterminator="\n")
    (out / "_scorecard.md").write_text(scorecard.markdown(scores, params["lang"]), encoding="utf-8")
    (out / "_scorecard_front.md").write_text(scorecard.front(scores, params["lang"]), encoding="utf-8")
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
    """Seconds per executed notebook (papermill's, kernel start-up included), from the steps' records."""
    from src.build.graph import WEIGHTED_DIR, read_record

    reports = paths.resolve(params["reports_dir"])
    timings = {}
    for label, prefix, folder in (("", "nb", reports), (" (vektet)", "vektet", reports / WEIGHTED_DIR)):
        for name in notebook_order():
            rec = read_record(folder, f"{prefix}:{name}") or {}
            if rec.get("seconds") is not None:
                timings[name + label] = round(rec["seconds"], 2)
    return timings


def write_build_info(params: dict, out_dir: Path | None = None) -> dict:
    """reports/build_info.json and reports/_build_info.md: what built the book (the reproducibility appendix).

    Nothing in them changes from one build of the same inputs to the next: no
    build time and no run times (those vary; they are in
    reports/.build/timings.json, written at the end of each build), paths
    relative to the project.
    """
    import platform
    from importlib import metadata

    from src.base.escape import code_span, md_text

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
    from src.base.inputs import sha256 as file_sha256

    notebooks = [f"{n}.ipynb" for n in notebook_order()]
    digests = [file_sha256(paths.NOTEBOOKS / n) for n in notebooks]
    state = git_state()
    commit, dirty = state["commit"] or "ukjent (ikke et git-arkiv)", state["dirty"]
    from src.build.graph import machine_paths

    def shown(value):   # no absolute path of this machine (an export outside the project: its file name)
        if not isinstance(value, str):
            return value
        for old, new in machine_paths(params):
            value = value.replace(old, new)
        return value

    params = {k: shown(v) for k, v in params.items()}
    info = {
        "python": platform.python_version(), "platform": platform.platform(),
        "git_commit": commit, "git_dirty": dirty, "params": params,
        "data": {k: data[k] for k in ("file", "sha256", "synthetic", "n_rows", "n_sample")},
        "notebooks": dict(zip(notebooks, digests)),
        "packages": versions,
    }
    reports = out_dir or paths.resolve(params["reports_dir"])
    write_json(reports / "build_info.json", info)
    import pandas as pd

    lines = [
        f"**Python** {info['python']} på {info['platform']}",
        "",
        f"**Git:** `{commit}`" + ({True: " — med endringer som ikke er committet", False: " — rent arbeidstre",
                                   None: ""}[dirty]),
        "",
        f"**Data:** {code_span(data['file'])} ({'syntetiske' if data['synthetic'] else 'reelle'} data), sha256 "
        f"`{data['sha256']}`, {data['n_rows']} respondenter, {data['n_sample']} i analyseutvalget.",
        "",
        "**Parametere:**",
        "",
        markdown_table(pd.DataFrame({"Parameter": list(params), "Verdi": [md_text(v) for v in params.values()]})),
        "",
        "**Notatbøkene (sha256 av kilden i `notebooks/`):**",
        "",
        markdown_table(pd.DataFrame({"Notatbok": notebooks, "sha256": [f"`{d}`" for d in digests]})),
        "",
        "Kjøretid per notatbok og byggetidspunkt står ikke her (de varierer fra bygging til bygging, og boka "
        "skal være lik for like inndata); byggingen skriver dem i `reports/.build/timings.json`.",
        "",
        "**Programvare (versjoner i miljøet):**",
        "",
        markdown_table(pd.DataFrame({"Pakke": list(versions), "Versjon": list(versions.values())})),
    ]
    (reports / "_build_info.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return info


def write_weighting_appendix(params: dict, out_dir: Path | None = None) -> None:
    """reports/_weighting.md and weighting_comparison.csv: the weighted run beside the unweighted one."""
    from src.book import sensitivity

    reports = paths.resolve(params["reports_dir"])
    out = out_dir or reports
    table = sensitivity.compare(reports)
    table.to_csv(out / "weighting_comparison.csv", index=False, encoding="utf-8", lineterminator="\n")
    info = json.loads((paths.resolve(params["derived_dir"]) / paths.DATA_INFO_FILE).read_text(encoding="utf-8"))
    (out / "_weighting.md").write_text(sensitivity.markdown(table, info, params["lang"]), encoding="utf-8")


def write_appendices(params: dict, fp: str | None = None, inputs: dict | None = None) -> None:
    """Everything the front page and the appendices include, from what the notebooks wrote (staged, then promoted)."""
    from src.build import graph as pipeline

    reports = paths.resolve(params["reports_dir"])
    stage = pipeline.stage_dir(reports, "appendices")
    shutil.rmtree(stage, ignore_errors=True)
    (stage / STATE_DIR).mkdir(parents=True)
    write_provenance(params, stage)
    if not params["weighted"]:
        write_weighting_appendix(params, stage)
    headline = write_scorecard(params, stage)
    (stage / STATE_DIR / "headline.txt").write_text(headline + "\n", encoding="utf-8")
    write_build_info(params, stage)
    pipeline.promote(stage, reports, "appendices", fp, inputs)


class BuildLock:
    """One build at a time per project: an exclusive lock (flock) on reports/.build/build.lock.

    The operating system releases it when the build ends, however it ends
    (a killed build holds no lock). The file names the holder (pid, start time,
    command) for the message a second build gives; that build stops at once.
    """

    def __init__(self, path: Path = paths.REPORTS / STATE_DIR / "build.lock"):
        self.path, self.fd = path, None

    def __enter__(self):
        import fcntl
        from datetime import datetime, timezone

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            from src.build.graph import os_error_message

            raise BuildError(f"cannot take the build lock: {os_error_message(exc)}") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = json.loads(os.pread(self.fd, 4096, 0).decode("utf-8") or "{}")
            except ValueError:
                holder = {}
            os.close(self.fd)
            who = (f"pid {holder.get('pid', '?')}, started {holder.get('started', '?')}: "
                   f"{holder.get('command', '?')}")
            raise BuildError(f"another build is running in this project ({who}). One build at a time: wait "
                             f"for it to finish (or stop it: kill {holder.get('pid', '<pid>')}), then run the build "
                             f"again. (The lock, {paths.relative(self.path)}, is released whenever that build "
                             "ends, also when it is killed.)") from None
        started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps({"pid": os.getpid(), "started": started,
                                       "command": " ".join(["python -m src.build", *sys.argv[1:]])}).encode(), 0)
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def build(params_file: str | None = None, overrides: list[str] | None = None, renderer: str = "auto",
          notebooks: list[str] | None = None, render_book: bool = True, jobs: int | None = None,
          force: bool = False) -> dict:
    """Bring the book up to date: re-run what changed (everything with ``force``), in parallel."""
    from src.build import graph as pipeline

    t0 = time.perf_counter()
    params = load_params(params_file, overrides)
    os.environ["VO_BUILD"] = str(os.getpid())   # notebooks run by the build write where it says (not _interactive)
    reports = paths.resolve(params["reports_dir"])
    try:
        with BuildLock():
            try:
                pipeline.remove_leftovers(params)   # of a build that was killed (under the lock: nobody else's)
                # all or nothing: what the steps replace is journaled, and put back unless the whole build succeeds
                os.environ[pipeline.JOURNAL_ENV] = str(pipeline.begin_journal(reports, log))
                try:
                    done = _build(params, t0, renderer, notebooks, render_book, jobs, force)
                except BaseException:
                    restored = pipeline.rollback(reports)
                    if restored:
                        log(f"Rolled back: {restored} output file(s) of the steps that had finished are again "
                            "those of the last complete build.")
                    raise
                pipeline.commit_journal(reports)
                return done
            finally:
                os.environ.pop(pipeline.JOURNAL_ENV, None)
                pipeline.remove_leftovers(params)
    finally:
        pipeline.remove_kernel_files()


def _build(params: dict, t0: float, renderer: str, notebooks: list[str] | None, render_book: bool,
           jobs: int | None, force: bool) -> dict:
    from src.build import graph as pipeline

    raw = ensure_input(params)
    if renderer == "quarto" and not shutil.which("quarto"):
        raise BuildError("--renderer quarto was asked for, but quarto is not on PATH")
    order = notebook_order()
    unknown = [n for n in notebooks or [] if n not in order]
    if unknown:
        raise BuildError(f"--notebooks: {unknown} not in the book (_quarto.yml lists {order})")
    jobs = jobs or os.cpu_count() or 1
    raw_sha = sha256(raw)
    fp = pipeline.fingerprint(params, raw_sha)
    inputs = {"raw_sha256": raw_sha, "params": params}
    progress = pipeline.run(params, renderer, jobs=jobs, force=force, forced=notebooks, render_book=render_book,
                            fp=fp, inputs=inputs)
    if progress.failures or progress.errors or progress.exit_code:
        raise BuildError("\n".join(progress.failures + progress.errors) or f"doit exit code {progress.exit_code}")
    reports = paths.resolve(params["reports_dir"])
    if progress.limited:   # --notebooks in a project whose other chapters are not of these inputs
        log(f"Only {', '.join(progress.limited)} and what they need were run: the other chapters are not built "
            f"from these inputs and parameters, so {paths.relative(reports / paths.RESULTS_FILE)} holds these "
            "chapters' results only and the book and appendices were left as they were. "
            "A build without --notebooks (make book) brings everything up to date.")
        log(f"Build finished in {time.perf_counter() - t0:.1f} s ({len(progress.ran)} steps run).")
        return {"ran": progress.ran, "skipped": progress.skipped, "scorecard": None}
    headline = (reports / STATE_DIR / "headline.txt").read_text(encoding="utf-8").strip()
    if render_book:
        log(f"Book: {paths.relative(reports / paths.BOOK_DIR / 'index.html')}"
            + ("" if "book" in progress.ran else " (up to date)"))
    log(headline)
    elapsed = time.perf_counter() - t0
    try:
        from datetime import datetime, timezone

        write_json(reports / STATE_DIR / pipeline.TIMINGS_FILE,
                   {"finished_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
                    "build_s": round(elapsed, 1), "ran": progress.ran,
                    "notebooks_s": notebook_timings(params)})
    except OSError:
        pass
    log(f"Build finished in {elapsed:.1f} s ({len(progress.ran)} steps run, "
        f"{len(progress.skipped)} up to date, {jobs} parallel).")
    return {"ran": progress.ran, "skipped": progress.skipped, "scorecard": headline}


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C (doit and papermill let it through), to end with one line."""


def _on_signal(signum, frame):
    """Ctrl-C, SIGTERM, SIGHUP: this process's kernels are killed first (a kernel asked to shut down while
    a cell runs prints a ZMQ traceback), then the build unwinds like Ctrl-C."""
    import signal

    from src.build.graph import kill_kernels

    kill_kernels()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    import signal

    ap = argparse.ArgumentParser(description="Build the compendium: notebooks and book, re-running what changed.")
    ap.add_argument("--params", help="YAML file with parameters overriding params.yml")
    ap.add_argument("-p", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override one parameter (repeatable), e.g. -p alpha=0.01")
    ap.add_argument("--renderer", choices=["auto", "quarto", "fallback"], default="auto")
    ap.add_argument("--notebooks", help="re-run these notebooks even if up to date, e.g. 01_cleaning,03_role, and "
                    "what depends on them; where the other chapters are not built from these inputs and parameters, "
                    "only these notebooks and what they need (no book)")
    ap.add_argument("--force", action="store_true", help="re-run everything (a full rebuild)")
    ap.add_argument("-j", "--jobs", type=int, default=None,
                    help="notebooks run at once (default: the number of cores)")
    ap.add_argument("--no-render", action="store_true", help="execute the notebooks only")
    args = ap.parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        print(f"\nBUILD FAILED: -j/--jobs must be at least 1, got {args.jobs}", file=sys.stderr)
        return 1
    import warnings

    # a notebook's cell coroutine cut off by an interrupt is collected unawaited, maybe while the stopped build
    # rolls back (before the handler below): not news to the user, and not a second line after BUILD INTERRUPTED
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is not signal.SIG_IGN:   # a build started in the background ignores Ctrl-C
            signal.signal(sig, _on_signal)
    try:
        build(args.params, args.overrides, args.renderer,
              args.notebooks.split(",") if args.notebooks else None, not args.no_render, args.jobs, args.force)
    except KeyboardInterrupt as exc:
        name = str(exc) if isinstance(exc, Interrupted) else "Ctrl-C"
        print(f"\nBUILD INTERRUPTED ({name}): nothing of this build is published, every output is the last "
              "complete build's; run the build again to finish.", file=sys.stderr)
        return 128 + (signal.Signals[name].value if name != "Ctrl-C" else signal.SIGINT.value)
    except Exception as exc:
        from src.data.export import ExportError
        from src.build.graph import os_error_message

        if isinstance(exc, OSError):
            print(f"\nBUILD FAILED: {os_error_message(exc)}", file=sys.stderr)
            return 1
        if not isinstance(exc, (BuildError, ParameterError, ExportError)):
            raise
        print(f"\nBUILD FAILED: {exc}", file=sys.stderr)
        if "\n" in str(exc).strip():   # the last line says it too (make's own «Error 1» line may follow)
            print("The build failed (exit status 1); no output was changed.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
