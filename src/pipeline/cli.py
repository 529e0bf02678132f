"""The build command (``python -m src.pipeline``): parameters -> raw export -> notebooks (papermill) -> book.

    python -m src.pipeline                    # what `make book` runs
    python -m src.pipeline --params my.yml    # override some parameters from a file
    python -m src.pipeline -p raw_path=data/raw/export.sav -p alpha=0.01
    python -m src.pipeline --renderer fallback   # skip Quarto even if installed

    python -m src.pipeline -j 1 --force          # sequential, everything re-run

Steps:

1. ``load_params``    params.yml + overrides, type-checked (unknown keys refused)
2. ``ensure_input``   the raw export; the default synthetic one is generated if absent,
                      and any file named in data/raw/MANIFEST.sha256 must match it
3. ``graph.run``   the dependency graph of src/pipeline/graph.py, run by doit: each
                      notebook (papermill) re-executed only when something it reads
                      changed, chapters in parallel; then the results, the appendices
                      (``write_appendices``) and the book (``render``: Quarto if
                      installed, else the nbconvert fallback, staged and swapped in)

A failing notebook stops the build with its cell and error, is kept in
reports/failed/; the build is all or nothing (src/pipeline/graph.py's journal): what
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
from datetime import UTC
from pathlib import Path

from src.base import paths
from src.base.contents import notebook_order
from src.base.files import write_json
from src.base.imports import module_dependencies
from src.base.inputs import (
    ParameterError,
    check_output_dirs,
    check_params,
    default_export_kept,
    fingerprint,
    fingerprint_file,
    inside_project,
    is_current,
    parse_override,
    read_manifest,
    read_params_file,
    sha256,
)
from src.data.coding import sheet_files
from src.pipeline import graph, records
from src.pipeline.records import STATE_DIR, BuildError, log
from src.pipeline.steps import notebook_timings

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
    check_params(
        params,
        where=f"parameters (params.yml{', ' + params_file if params_file else ''}"
        f"{', -p ' + ' -p '.join(overrides) if overrides else ''})",
    )
    inside_project(params)
    check_output_dirs(params)  # real outputs never where git would pick them up
    return params


# -- 2. input ----------------------------------------------------------------


def ensure_input(params: dict) -> Path:
    """The raw export the build will read; generates the default synthetic one if absent."""
    raw = paths.resolve(params["raw_path"])
    if raw == paths.SYNTHETIC_EXPORT and not is_current(raw):
        kept = default_export_kept(raw)  # a file the build did not generate is never overwritten (#28)
        if kept:
            log(
                f"{paths.relative(raw)} is not regenerated: {kept}. The build reads it as it is; "
                "to have the build generate the default export there, delete it (or run `make synth`)."
            )
        else:
            from src.synthetic.synthesize import generate

            fp = fingerprint_file(raw)
            if not raw.exists():
                why = f"No export in {paths.relative(raw.parent)}"
            elif not fp.exists():
                why = f"The generator's record of what {paths.relative(raw)} was made from ({fp.name}) is missing"
            elif fp.read_text().strip() == fingerprint():
                why = f"The review sheets of {paths.relative(raw)} are missing"
            else:  # the build's own export (its seed and size), made from other generator inputs
                why = (
                    f"The generator or its targets changed since it wrote {paths.relative(raw)} "
                    "(its code in src/ or data/codebook.yml, data/reference/)"
                )
            log(f"{why}: generating the calibrated synthetic export …")
            t0 = time.perf_counter()
            try:
                generate(raw)
            except Exception as exc:  # a read-only or full folder: OSError, or the .sav writer's own error
                import errno

                if not (isinstance(exc, OSError) or type(exc).__module__.startswith("pyreadstat")):
                    raise
                reason = (
                    os.strerror(exc.errno)
                    if isinstance(exc, OSError) and exc.errno in errno.errorcode
                    else "the file could not be written"
                )
                writable = os.access(raw.parent, os.W_OK) and not _read_only_fs(raw.parent)
                raise BuildError(
                    f"Cannot write the synthetic export {paths.relative(raw)} ({reason}"
                    + ("" if writable else f": {paths.relative(raw.parent)} is not writable")
                    + "). "
                    "Make the folder writable (or free space there), or point raw_path at an existing export "
                    "(-p raw_path=...)."
                ) from None
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


def _read_only_fs(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


VALIDATION_INPUTS = ("data/codebook.yml",)  # and the code of validate_export (src/data/cleaning.py and what it imports)


def validate_input(params: dict, raw: Path) -> None:
    """01_cleaning's checks of the export (columns, codes, labels, routing, exclusions) before any kernel starts.

    Skipped when this very export passed them with the present codebook and
    checking code (reading the export takes seconds; a no-op rebuild must not).
    """
    import hashlib

    if not raw.is_file():
        from src.data.cleaning import validate_export  # pandas and the export reader: only when a check runs

        validate_export(raw)  # says what is wrong with the path
    key = hashlib.sha256(sha256(raw).encode())
    for f in [*(paths.ROOT / rel for rel in VALIDATION_INPUTS), *module_dependencies("data.cleaning")]:
        key.update(f.read_bytes())
    for sheet in sheet_files(raw):  # the researcher's review sheets are checked with the export
        key.update(sheet.read_bytes())
    stamp = paths.resolve(params["reports_dir"]) / STATE_DIR / "validated-input"
    if stamp.exists() and stamp.read_text(encoding="utf-8").strip() == key.hexdigest():
        return
    if not _validates_in_child(raw):  # a problem: found again here, for its message (ExportError)
        from src.data.cleaning import validate_export  # (as above)

        validate_export(raw)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key.hexdigest() + "\n", encoding="utf-8")


def _validate_quietly(raw: str) -> None:
    """The child's work: exit status 0 when the export passes, 1 (silently: the parent says why) when not."""
    import warnings

    try:
        from src.data.cleaning import validate_export

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            validate_export(raw)
    except BaseException:
        os._exit(1)
    os._exit(0)


def _validates_in_child(raw: Path) -> bool:
    """Whether the export passes ``validate_export``, checked in a child process (fork).

    Reading an export of 295 000 respondents takes the reading process about 1 GB; done here, the build's
    process would keep much of it, and every doit worker forked from it would start that large (issue 28,
    point 8). The child's memory goes when it ends. False also where a child cannot be made.
    """
    import multiprocessing

    try:
        child = multiprocessing.get_context("fork").Process(target=_validate_quietly, args=(str(raw),))
        child.start()
    except (OSError, ValueError):
        return False
    try:
        child.join()
    except BaseException:  # Ctrl-C, SIGTERM: the child goes with the build
        child.kill()
        child.join()
        raise
    return child.exitcode == 0


# -- 3. what the graph's last steps do (the graph itself: src/pipeline/graph.py) ----


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
        from datetime import datetime

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise BuildError(f"cannot take the build lock: {records.os_error_message(exc)}") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = json.loads(os.pread(self.fd, 4096, 0).decode("utf-8") or "{}")
            except ValueError:
                holder = {}
            os.close(self.fd)
            who = f"pid {holder.get('pid', '?')}, started {holder.get('started', '?')}: {holder.get('command', '?')}"
            raise BuildError(
                f"another build is running in this project ({who}). One build at a time: wait "
                f"for it to finish (or stop it: kill {holder.get('pid', '<pid>')}), then run the build "
                f"again. (The lock, {paths.relative(self.path)}, is released whenever that build "
                "ends, also when it is killed.)"
            ) from None
        started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        os.ftruncate(self.fd, 0)
        os.pwrite(
            self.fd,
            json.dumps(
                {"pid": os.getpid(), "started": started, "command": " ".join(["python -m src.pipeline", *sys.argv[1:]])}
            ).encode(),
            0,
        )
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def build(
    params_file: str | None = None,
    overrides: list[str] | None = None,
    renderer: str = "auto",
    notebooks: list[str] | None = None,
    render_book: bool = True,
    jobs: int | None = None,
    force: bool = False,
) -> dict:
    """Bring the book up to date: re-run what changed (everything with ``force``), in parallel."""

    t0 = time.perf_counter()
    params = load_params(params_file, overrides)
    os.environ["VO_BUILD"] = str(os.getpid())  # notebooks run by the build write where it says (not _interactive)
    reports = paths.resolve(params["reports_dir"])
    try:
        with BuildLock():
            try:
                graph.remove_leftovers(params)  # of a build that was killed (under the lock: nobody else's)
                # all or nothing: what the steps replace is journaled, and put back unless the whole build succeeds
                os.environ[records.JOURNAL_ENV] = str(records.begin_journal(reports, log))
                try:
                    done = _build(params, t0, renderer, notebooks, render_book, jobs, force)
                except BaseException:
                    try:
                        restored = records.rollback(reports)
                    except OSError as exc:  # e.g. a disk still full: the journal stays, the next build plays it back
                        raise BuildError(
                            f"{records.os_error_message(exc)}. The outputs of the last complete build could not all "
                            "be restored yet; they are kept in "
                            f"{paths.relative(records.journal_dir(reports))}, and the next build restores them "
                            "before it starts."
                        ) from None
                    if restored:
                        log(
                            f"Rolled back: {restored} output file(s) of the steps that had finished are again "
                            "those of the last complete build."
                        )
                    raise
                records.commit_journal(reports)
                return done
            finally:
                os.environ.pop(records.JOURNAL_ENV, None)
                graph.remove_leftovers(params)
    finally:
        graph.remove_kernel_files()


def _build(
    params: dict,
    t0: float,
    renderer: str,
    notebooks: list[str] | None,
    render_book: bool,
    jobs: int | None,
    force: bool,
) -> dict:

    raw = ensure_input(params)
    if renderer == "quarto" and not shutil.which("quarto"):
        raise BuildError("--renderer quarto was asked for, but quarto is not on PATH")
    order = notebook_order()
    unknown = [n for n in notebooks or [] if n not in order]
    if unknown:
        raise BuildError(f"--notebooks: {unknown} not in the book (_quarto.yml lists {order})")
    jobs = jobs or os.cpu_count() or 1
    raw_sha = sha256(raw)
    fp = records.fingerprint(params, raw_sha)
    inputs = {"raw_sha256": raw_sha, "params": params}
    progress = graph.run(
        params, renderer, jobs=jobs, force=force, forced=notebooks, render_book=render_book, fp=fp, inputs=inputs
    )
    if progress.failures or progress.errors or progress.exit_code:
        raise BuildError("\n".join(progress.failures + progress.errors) or f"doit exit code {progress.exit_code}")
    reports = paths.resolve(params["reports_dir"])
    if progress.limited:  # --notebooks in a project whose other chapters are not of these inputs
        log(
            f"Only {', '.join(progress.limited)} and what they need were run: the other chapters are not built "
            f"from these inputs and parameters, so {paths.relative(reports / paths.RESULTS_FILE)} holds these "
            "chapters' results only and the book and appendices were left as they were. "
            "A build without --notebooks (make book) brings everything up to date."
        )
        log(f"Build finished in {time.perf_counter() - t0:.1f} s ({len(progress.ran)} steps run).")
        return {"ran": progress.ran, "skipped": progress.skipped, "scorecard": None}
    for folder in (reports, reports / records.WEIGHTED_DIR):  # every chapter is now of this build: the copy
        for name in order:  # a failed run kept for diagnosis is stale
            (folder / "failed" / f"{name}.ipynb").unlink(missing_ok=True)
    headline = (reports / STATE_DIR / "headline.txt").read_text(encoding="utf-8").strip()
    if render_book:
        log(
            f"Book: {paths.relative(reports / paths.BOOK_DIR / 'index.html')}"
            + ("" if "book" in progress.ran else " (up to date)")
        )
    log(headline)
    elapsed = time.perf_counter() - t0
    try:
        from datetime import datetime

        write_json(
            reports / STATE_DIR / records.TIMINGS_FILE,
            {
                "finished_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
                "build_s": round(elapsed, 1),
                "ran": progress.ran,
                "notebooks_s": notebook_timings(params),
            },
        )
    except OSError:
        pass
    log(
        f"Build finished in {elapsed:.1f} s ({len(progress.ran)} steps run, "
        f"{len(progress.skipped)} up to date, {jobs} parallel)."
    )
    return {"ran": progress.ran, "skipped": progress.skipped, "scorecard": headline}


def _on_signal(signum, frame):
    """Ctrl-C, SIGTERM, SIGHUP: this process's kernels are killed first (a kernel asked to shut down while
    a cell runs prints a ZMQ traceback), then the build unwinds like Ctrl-C."""
    worker = os.environ.get("VO_BUILD", str(os.getpid())) != str(os.getpid())
    if worker:  # a worker of a parallel build (forked by doit, with this handler): the build's own process
        # says it in one line (#28); the worker's unwinding — and doit terminating it while it does — printed
        # «Process ForkProcess-n: Traceback …» per worker before BUILD INTERRUPTED
        sys.stderr = open(os.devnull, "w")
        if records.SIGNALLED:  # already unwinding: a second signal (doit's terminate) must not raise again
            return
    records.SIGNALLED.append(signum)
    graph.kill_kernels()
    records.raise_if_signalled()


def main(argv: list[str] | None = None) -> int:
    import signal

    ap = argparse.ArgumentParser(description="Build the compendium: notebooks and book, re-running what changed.")
    ap.add_argument("--params", help="YAML file with parameters overriding params.yml")
    ap.add_argument(
        "-p",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter (repeatable), e.g. -p alpha=0.01",
    )
    ap.add_argument("--renderer", choices=["auto", "quarto", "fallback"], default="auto")
    ap.add_argument(
        "--notebooks",
        help="re-run these notebooks even if up to date, e.g. 01_cleaning,03_role, and "
        "what depends on them; where the other chapters are not built from these inputs and parameters, "
        "only these notebooks and what they need (no book)",
    )
    ap.add_argument("--force", action="store_true", help="re-run everything (a full rebuild)")
    ap.add_argument("-j", "--jobs", type=int, default=None, help="notebooks run at once (default: the number of cores)")
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
        if signal.getsignal(sig) is not signal.SIG_IGN:  # a build started in the background ignores Ctrl-C
            signal.signal(sig, _on_signal)
    try:
        build(
            args.params,
            args.overrides,
            args.renderer,
            args.notebooks.split(",") if args.notebooks else None,
            not args.no_render,
            args.jobs,
            args.force,
        )
    except KeyboardInterrupt as exc:
        name = str(exc) if isinstance(exc, records.Interrupted) else "Ctrl-C"
        print(
            f"\nBUILD INTERRUPTED ({name}): nothing of this build is published, every output is the last "
            "complete build's; run the build again to finish.",
            file=sys.stderr,
        )
        return 128 + (signal.Signals[name].value if name != "Ctrl-C" else signal.SIGINT.value)
    except Exception as exc:
        from src.data.export import ExportError

        if isinstance(exc, OSError):
            print(f"\nBUILD FAILED: {records.os_error_message(exc)}", file=sys.stderr)
            return 1
        if not isinstance(exc, (BuildError, ParameterError, ExportError)):
            raise
        print(f"\nBUILD FAILED: {exc}", file=sys.stderr)
        if "\n" in str(exc).strip():  # the last line says it too (make's own «Error 1» line may follow)
            print("The build failed (exit status 1); no output was changed.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
