"""The build as a dependency graph: which step reads what, declared for doit.

One doit task per executed notebook (``nb:<name>``, and ``vektet:<name>`` for
the weighted sensitivity run), then ``results`` (merge the stated numbers),
``appendices`` (provenance, scorecard, weighting appendix, build facts) and
``book`` (render). A task is re-run only when something it reads changed:

* the notebook itself;
* every ``src`` module it imports, directly or through other ``src`` modules
  (found by reading the imports, so a change in ``src/helpers.py`` re-runs its
  users and a change in ``src/synthesize.py`` re-runs none);
* the codebook, the reference files and the pinned requirements;
* the data it reads: 01_cleaning the raw export, the chapters the derived data
  01_cleaning wrote, and a summarising chapter (09) the other chapters' results;
* its parameters.

Changes are judged by content (doit's md5 check; a file's modification time
only lets doit skip hashing it when untouched), so a fresh clone or a
``git checkout`` that leaves a file's content alone does not re-run anything.
If 01_cleaning re-runs and writes byte-identical derived data, the chapters
stay up to date.

Why doit: it is a small pure-Python library (one dependency), it gives the
graph, content-hash up-to-date checks, its own state file and process-parallel
execution, and costs about 0.05 s of import time (measured, ``make bench``).
Snakemake would add cluster execution but brings a much larger install for a
nine-notebook graph; the tasks here are plain functions, so moving them into a
Snakefile stays easy.

Each notebook runs into its own staging folder and its outputs replace its
previous outputs only when it succeeds; a failing notebook is kept in
``<reports>/failed/`` and leaves its previous outputs, the other chapters and
the rendered book in place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from functools import lru_cache
from pathlib import Path

import yaml

from src import paths

# jsonschema (under nbformat, under papermill and the renderer) imports rfc3987_syntax for its
# 'iri' format check, and that compiles a Lark grammar at import: 0.8 s in every process that
# runs a notebook, measured. Notebook validation never uses that format, so it is left out.
sys.modules.setdefault("rfc3987_syntax", None)

STATE_DIR = ".build"          # inside reports_dir: doit's state and each task's list of outputs
WEIGHTED_DIR = "weighted"     # inside reports_dir: the weighted sensitivity run (see src/sensitivity.py)
SUMMARISERS = {"09_barriers"}  # read the results of every earlier notebook (comparison_summary)
KERNEL_RETRIES = 2            # a kernel that fails to start (not a failing cell) is tried again
DERIVED_FILES = (paths.RESPONDENTS_FILE, paths.EXCLUDED_FILE, paths.DATA_INFO_FILE)
BOOK_SOURCES = ("index.qmd", "_quarto.yml", "appendices", "typst")


# -- what a notebook reads ----------------------------------------------------

def notebook_order() -> list[str]:
    """Notebook names in the book's order (from _quarto.yml, without importing the renderer)."""
    config = yaml.safe_load(paths.QUARTO_CONFIG.read_text(encoding="utf-8"))
    return [Path(f).stem for f in config["project"]["render"] if str(f).endswith(".ipynb")]


IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+src(?:\.(\w+))?[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]+)|import[ \t]+([^\n#;]+))",
                    re.MULTILINE)


def _imports(code: str) -> set[str]:
    """Names of the src modules a piece of code imports (``from src import x``, ``import src.x``, ...).

    Read with a regular expression rather than by parsing (a no-op rebuild reads
    every notebook and module; parsing them cost 0.4 s); tests/test_pipeline.py
    checks that it finds at least what Python's parser finds, in every file.
    """
    found = set()
    for module, names, plain in IMPORT.findall(code):
        if plain:
            found |= {n.split()[0].split(".")[1] for n in plain.split(",") if n.strip().startswith("src.")}
        elif module:
            found.add(module)
        else:
            found |= {n.split()[0] for n in names.strip("() \t\n").replace("\n", " ").split(",") if n.strip()}
    return {m for m in found if (paths.ROOT / "src" / f"{m}.py").exists()}


@lru_cache(maxsize=None)
def _module_imports(module: str) -> frozenset[str]:
    return frozenset(_imports((paths.ROOT / "src" / f"{module}.py").read_text(encoding="utf-8")))


def notebook_code(path: Path) -> str:
    """The code cells of a notebook (IPython magics dropped), as one Python source."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    lines = [line for cell in cells for line in cell.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


@lru_cache(maxsize=None)
def src_dependencies(notebook: Path) -> list[Path]:
    """Every src module the notebook imports, directly or through other src modules."""
    todo, seen = set(_imports(notebook_code(notebook))), set()
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo |= _module_imports(m) - seen
    return [paths.ROOT / "src" / f"{m}.py" for m in sorted(seen | {"__init__"})
            if (paths.ROOT / "src" / f"{m}.py").exists()]


def reference_files() -> list[Path]:
    """The codebook, the reference files the analyses read (not the generator's) and the pins."""
    refs = sorted(p for p in paths.REFERENCE.glob("*.yml") if p.name != "synthesis.yml")
    return [paths.CODEBOOK, *refs, paths.ROOT / "requirements.txt"]


def review_sheets(raw_path) -> list[Path]:
    """The review sheets of the export's open answers (src/coding.py), which 01_cleaning reads."""
    from src.coding import sheet_files

    return sheet_files(raw_path)


# -- running one notebook -------------------------------------------------------

def execute(name: str, params: dict, reports_dir: str, reads_results: bool = False, in_book: bool = True):
    """Run one notebook with papermill into its staging folder; on success replace its previous outputs.

    A notebook of the book (``in_book``) then gets its captions (a link to the
    cell that made each table and figure, the data's checksum, the book's
    language; src/captions.py) and its notebook view, as part of its outputs.
    Returns None on success, or doit's TaskFailed with the notebook, cell and error.
    Runs in a worker process when the build is parallel.
    """
    import papermill as pm
    from doit.exceptions import TaskFailed

    reports = paths.resolve(reports_dir)
    stage = reports / "_staging" / name
    shutil.rmtree(stage, ignore_errors=True)
    (stage / paths.EXECUTED_DIR).mkdir(parents=True)
    borrowed = set()
    if reads_results:   # the summary chapter reads the others' results from its reports_dir
        (stage / paths.RESULTS_DIR).mkdir()
        for f in sorted((reports / paths.RESULTS_DIR).glob("*.json")):
            if f.stem != name:
                shutil.copy2(f, stage / paths.RESULTS_DIR / f.name)
                borrowed.add(f"{paths.RESULTS_DIR}/{f.name}")
    out = stage / paths.EXECUTED_DIR / f"{name}.ipynb"
    run_params = dict(params, reports_dir=paths.relative(stage))
    for attempt in range(KERNEL_RETRIES + 1):
        try:
            pm.execute_notebook(str(paths.NOTEBOOKS / f"{name}.ipynb"), str(out), parameters=run_params,
                                cwd=str(paths.ROOT), progress_bar=False, log_output=False,
                                kernel_manager_class=kernel_manager_class())
            break
        except pm.PapermillExecutionError as exc:
            failed = reports / "failed"
            failed.mkdir(parents=True, exist_ok=True)
            kept = failed / f"{name}.ipynb"
            if out.exists():
                shutil.copy2(out, kept)
            shutil.rmtree(stage, ignore_errors=True)
            first = (exc.evalue or "").strip().splitlines()[0] if (exc.evalue or "").strip() else ""
            return TaskFailed(
                f"{name} failed in cell {exc.exec_count} with {exc.ename}: {first}\n{(exc.evalue or '').strip()}\n"
                f"The partly executed notebook is kept in {paths.relative(kept)}; "
                "the previous outputs of this notebook and the rendered book are unchanged.")
        except Exception as exc:  # the kernel did not start or died: not the notebook's fault, try again
            if attempt == KERNEL_RETRIES:
                shutil.rmtree(stage, ignore_errors=True)
                return TaskFailed(f"{name}: the Jupyter kernel failed {attempt + 1} times "
                                  f"({type(exc).__name__}: {exc}); nothing was changed.")
            print(f"      {name}: kernel problem ({type(exc).__name__}: {exc}); retrying", flush=True)
            time.sleep(1 + attempt)
    for f in borrowed:
        (stage / f).unlink()
    if in_book:
        from src import captions

        try:
            captions.annotate_executed(out, params)
        except captions.CaptionError as exc:
            shutil.rmtree(stage, ignore_errors=True)
            return TaskFailed(f"{name}: {exc}")
    promote(stage, reports, name)
    (reports / "failed" / f"{name}.ipynb").unlink(missing_ok=True)
    return None


def kernel_manager_class():
    """Kernels talk over IPC sockets (files), not TCP ports.

    No port can be taken by another kernel starting at the same moment (the
    papermill port race of parallel runs), and nothing is sent over the
    network unencrypted (ipykernel warns about that for TCP).
    """
    import tempfile
    import uuid

    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self):
            return "ipc"

        @default("ip")
        def _default_ip(self):
            # IPC "ports" are files <ip>-1, <ip>-2, ...; with jupyter_client's default ip
            # ("kernel-ipc" in the working folder) two kernels starting at once pick the
            # same files and read each other's messages. A unique prefix per kernel.
            return str(Path(tempfile.gettempdir()) / f"vo-kernel-{uuid.uuid4().hex[:12]}")

    return IPCKernelManager


def promote(stage: Path, reports: Path, name: str) -> None:
    """Move what one notebook wrote in ``stage`` into ``reports``, replacing what it wrote last time.

    A file the notebook wrote last time but not now (a removed table) is
    deleted; files of other notebooks are left alone.
    """
    record = reports / STATE_DIR / "outputs" / f"{name}.txt"
    new = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
    old = record.read_text(encoding="utf-8").split() if record.exists() else []
    for rel in sorted(set(old) - set(new)):
        (reports / rel).unlink(missing_ok=True)
    for rel in new:
        (reports / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / rel, reports / rel)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text("\n".join(new) + "\n", encoding="utf-8")
    shutil.rmtree(stage, ignore_errors=True)


def merge_results(reports_dir: str) -> None:
    """<reports>/results/*.json -> <reports>/results.json (one flat, sorted mapping)."""
    from src.helpers import write_json

    reports = paths.resolve(reports_dir)
    merged = {}
    for f in sorted((reports / paths.RESULTS_DIR).glob("*.json")):
        merged.update(json.loads(f.read_text(encoding="utf-8")))
    write_json(reports / paths.RESULTS_FILE, merged)


# -- the graph ---------------------------------------------------------------------

def tasks(params: dict, renderer: str = "auto") -> dict:
    """The doit task creators of a build with ``params`` (a mapping for doit's ModuleTaskLoader)."""
    from doit.tools import config_changed

    from src import build as steps

    reports = paths.resolve(params["reports_dir"])
    derived = paths.resolve(params["derived_dir"])
    order = notebook_order()
    refs = reference_files()
    runs = [("nb", reports, dict(params), order)]
    if not params["weighted"]:   # the weighting appendix: the chapters again, weighted
        runs.append(("vektet", reports / WEIGHTED_DIR, dict(params, weighted=True), order[1:]))

    def notebook_tasks():
        for prefix, out_dir, run_params, names in runs:
            for i, name in enumerate(names):
                source = paths.NOTEBOOKS / f"{name}.ipynb"
                if not source.exists():
                    raise FileNotFoundError(f"_quarto.yml lists {name}, but {paths.relative(source)} does not exist")
                deps = [source, *src_dependencies(source), *refs, paths.ROOT / "src" / "captions.py"]
                targets = [out_dir / paths.EXECUTED_DIR / f"{name}.ipynb", out_dir / paths.RESULTS_DIR / f"{name}.json"]
                if name == order[0]:
                    deps.append(paths.resolve(params["raw_path"]))
                    deps += review_sheets(params["raw_path"])   # the researcher's coding of the open answers
                    targets += [derived / f for f in DERIVED_FILES]
                else:
                    deps += [derived / f for f in DERIVED_FILES]
                if name in SUMMARISERS:
                    deps += [out_dir / paths.RESULTS_DIR / f"{n}.json" for n in names[:i]]
                run_params["reports_dir"] = paths.relative(out_dir)
                yield {
                    "basename": f"{prefix}:{name}",
                    "actions": [(execute, [name, dict(run_params), paths.relative(out_dir), name in SUMMARISERS,
                                         out_dir == reports])],
                    "file_dep": [str(p) for p in deps],
                    "targets": [str(p) for p in targets],
                    "uptodate": [config_changed(json.dumps(run_params, sort_keys=True))],
                    "verbosity": 2,
                }

    executed = [str(out / paths.EXECUTED_DIR / f"{n}.ipynb") for _, out, _, names in runs for n in names]
    results = [str(out / paths.RESULTS_DIR / f"{n}.json") for _, out, _, names in runs for n in names]

    def task_results():
        return {"actions": [(merge_results, [paths.relative(out)]) for _, out, _, _ in runs],
                "file_dep": results,
                "targets": [str(out / paths.RESULTS_FILE) for _, out, _, _ in runs], "verbosity": 2}

    appendix_files = [reports / f for f in ("_data_provenance.md", "_scorecard.md", "_scorecard_front.md",
                                            "_build_info.md", "build_info.json", "scorecard.csv")]
    if not params["weighted"]:
        appendix_files.append(reports / "_weighting.md")

    def task_appendices():
        return {"actions": [(steps.write_appendices, [params])],
                "file_dep": executed + [str(out / paths.RESULTS_FILE) for _, out, _, _ in runs]
                + [str(paths.ROOT / "src" / f"{m}.py") for m in ("build", "scorecard", "sensitivity")]
                + [str(p) for p in refs],
                "targets": [str(p) for p in appendix_files],
                "uptodate": [config_changed(json.dumps({"params": params, "git": steps.git_state()},
                                                       sort_keys=True))],
                "verbosity": 2}

    book_sources = [paths.ROOT / s for s in BOOK_SOURCES]
    book_files = [p for s in book_sources for p in ([s] if s.is_file() else sorted(s.rglob("*"))) if p.is_file()]

    def task_book():
        return {"actions": [(steps.render, [params, renderer])],
                "file_dep": [str(p) for p in appendix_files] + executed + [str(p) for p in book_files]
                + [str(paths.ROOT / "src" / "render.py")],
                "targets": [str(reports / paths.BOOK_DIR / "index.html")],
                "uptodate": [config_changed(renderer)],
                "verbosity": 2}

    return {"task_notebooks": notebook_tasks, "task_results": task_results,
            "task_appendices": task_appendices, "task_book": task_book}


# -- running the graph --------------------------------------------------------------

class Progress:
    """doit reporter: one display for the whole build (what runs, done/total, elapsed)."""

    desc = "one progress line per started / finished step"

    def __init__(self, outstream, options):
        self.out = sys.stdout
        self.t0 = time.perf_counter()
        self.started: dict[str, float] = {}
        self.total = 0
        self.done = 0
        self.ran: list[str] = []
        self.skipped: list[str] = []
        self.failures: list[str] = []
        self.errors: list[str] = []

    def _line(self, text: str) -> None:
        self.out.write(f"[{self.done:>2}/{self.total} {time.perf_counter() - self.t0:6.1f} s] {text}\n")
        self.out.flush()

    def initialize(self, tasks, selected_tasks):
        self.total = sum(1 for t in tasks.values() if t.actions and not t.subtask_of)

    def get_status(self, task):
        pass

    def execute_task(self, task):
        if task.actions:
            self.started[task.name] = time.perf_counter()
            running = ", ".join(n for n in self.started)
            self._line(f"start  {task.name:<28} running: {running}")

    def add_success(self, task):
        if task.actions:
            self.done += 1
            took = time.perf_counter() - self.started.pop(task.name, time.perf_counter())
            self.ran.append(task.name)
            self._line(f"done   {task.name:<28} {took:5.1f} s")

    def add_failure(self, task, fail):
        self.started.pop(task.name, None)
        # the exception's own text (e.g. Quarto's error lines and the failing format), not doit's
        # «PythonAction Error»: doit keeps it as the last entry of the formatted traceback
        last = (getattr(fail, "traceback", None) or [""])[-1]
        own = re.sub(r"^[\w.]*(Error|Exception): ", "", last.strip()) if last.strip() else ""
        msg = own or (fail.message if getattr(fail, "message", None) else fail.get_msg())
        self.failures.append(msg.strip())
        self._line(f"FAILED {task.name}")

    def skip_uptodate(self, task):
        if task.actions:
            self.done += 1
            self.skipped.append(task.name)

    def skip_ignore(self, task):
        pass

    def cleanup_error(self, exception):
        self.errors.append(exception.get_msg())

    def runtime_error(self, msg):
        self.errors.append(msg)

    def teardown_task(self, task):
        pass

    def complete_run(self):
        if self.skipped:
            self.out.write(f"Up to date, not re-run: {len(self.skipped)} of {self.total} steps"
                           + (f" ({', '.join(self.skipped)})" if len(self.skipped) < self.total else "") + "\n")
        self.out.flush()


def run(params: dict, renderer: str = "auto", jobs: int = 1, force: bool = False,
        forced: list[str] | None = None, render_book: bool = True) -> Progress:
    """Run every out-of-date task of the build; returns the reporter (what ran, what failed)."""
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain

    reports = paths.resolve(params["reports_dir"])
    (reports / STATE_DIR).mkdir(parents=True, exist_ok=True)
    reporter = {}

    class Reporter(Progress):
        def __init__(self, outstream, options):
            super().__init__(outstream, options)
            reporter["it"] = self

    creators = tasks(params, renderer)
    creators["DOIT_CONFIG"] = {
        "backend": "json", "dep_file": str(reports / STATE_DIR / "doit-state.json"),
        "check_file_uptodate": "md5", "reporter": Reporter, "verbosity": 2,
    }
    loader = ModuleTaskLoader(creators)
    main = DoitMain(loader, extra_config={"GLOBAL": {}})
    if forced:   # re-run these notebooks whatever their state: forget them first
        names = [t["basename"] for t in creators["task_notebooks"]() if t["basename"].split(":", 1)[1] in forced]
        DoitMain(ModuleTaskLoader(creators)).run(["forget", *names])
    args = ["run", "--process", str(max(1, jobs)), "--parallel-type", "process"] if jobs > 1 else ["run"]
    if force:
        args.append("--always-execute")
    code = main.run(args + ["book" if render_book else "appendices"])   # doit runs what they depend on
    rep = reporter.get("it")
    if rep is None:
        raise RuntimeError(f"doit did not run (exit code {code})")
    rep.exit_code = code
    return rep
