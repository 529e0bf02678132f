"""The build as a dependency graph: which step reads what, declared for doit.

One doit task per executed notebook (``nb:<name>``, and ``vektet:<name>`` for
the weighted sensitivity run, which runs in the build's process without a
kernel and draws no figures: ``execute_in_process``), then ``results`` (merge the stated numbers),
``appendices`` (provenance, scorecard, weighting appendix, build facts) and
``book`` (render). A task is re-run only when something it reads changed:

* the notebook itself;
* every ``src`` module it imports, directly or through other ``src`` modules
  (found by reading the imports, so a change in ``src/helpers.py`` re-runs its
  users and a change in ``src/synthetic/synthesize.py`` re-runs none);
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
``<reports>/failed/``. The whole build is all or nothing: what its finished
steps replaced is kept in a journal and put back when a later step fails or
the build is stopped (``begin_journal``, ``rollback``), so a failed build
changes no output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from functools import cache
from pathlib import Path

import yaml

from src.base import paths
from src.base.contents import notebook_order
from src.base.files import write_json, write_text_durably
from src.base.imports import dependencies, module_dependencies, module_file
from src.data.coding import sheet_files
from src.pipeline import steps, zygote
from src.pipeline.records import (
    DERIVED_STAGE_ENV,
    FILE_SYSTEM_ERRORS,
    RECORDS_DIR,
    STAGING_DIR,
    STATE_DIR,
    TMP_SUFFIX,
    WEIGHTED_DIR,
    guarded,
    key,
    machine_paths,
    promote,
    raise_if_signalled,
    record_ok,
    record_path,
    scrub_paths,
    stage_dir,
    step_folder,
)
from src.pipeline.zygote import process_exists

# jsonschema (under nbformat, under papermill and the renderer) imports rfc3987_syntax for its
# 'iri' format check, and that compiles a Lark grammar at import: 0.8 s in every process that
# runs a notebook, measured. Notebook validation never uses that format, so it is left out.
sys.modules.setdefault("rfc3987_syntax", None)

SUMMARISERS = {"09_barriers"}  # read the results of every earlier notebook (comparison_summary)
KERNEL_RETRIES = 2  # a kernel that fails to start (not a failing cell) is tried again
DERIVED_FILES = (paths.RESPONDENTS_FILE, paths.EXCLUDED_FILE, paths.DATA_INFO_FILE)
BOOK_SOURCES = ("index.qmd", "_quarto.yml", "appendices", "typst", "filters")


# -- what a notebook reads ----------------------------------------------------


def notebook_code(path: Path) -> str:
    """The code cells of a notebook (IPython magics dropped), as one Python source."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    lines = [line for cell in cells for line in cell.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


@cache
def src_dependencies(notebook: Path) -> list[Path]:
    """Every src module the notebook imports, directly or through other src modules (``base.imports``)."""
    return dependencies(notebook_code(notebook))


def reference_files() -> list[Path]:
    """The codebook (with the coder's labelled examples beside it), the reference files the analyses read (not
    the generator's) and the pins."""
    refs = sorted(p for p in paths.REFERENCE.glob("*.yml") if p.name != "synthesis.yml")
    examples = paths.CODEBOOK.parent / "coding_examples.yml"  # src.data.coding.EXAMPLES (#29)
    return [paths.CODEBOOK, *([examples] if examples.is_file() else []), *refs, paths.ROOT / "requirements.txt"]


def export_mapping(raw_path) -> list[Path]:
    """The export's confirmed mapping onto the codebook (data/mappings/<stem>.yml, src/data/mapping.py), if any."""
    p = paths.mapping_file(raw_path)
    return [p] if p.is_file() else []


def review_sheets(raw_path) -> list[Path]:
    """The review sheets of the export's open answers (src/data/coding.py), which 01_cleaning reads."""
    return sheet_files(raw_path)


# -- running one notebook -------------------------------------------------------


def parameter_cell_values(path: Path) -> dict:
    """The values of a notebook's ``parameters`` cell (literals only)."""
    import ast

    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            values = {}
            for node in ast.parse("".join(cell["source"])).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    try:
                        values[node.targets[0].id] = ast.literal_eval(node.value)
                    except ValueError:
                        pass
            return values
    return {}


def parameter_cell_notes(name: str, used: dict) -> list[str]:
    """One line per value a notebook's parameters cell sets otherwise than params.yml, with the value the build used.

    The cell holds the defaults of interactive runs and must equal params.yml
    (tests/test_notebooks.py); a build's parameters come from params.yml,
    --params and -p, and papermill injects them after the cell.
    """
    cell = parameter_cell_values(paths.NOTEBOOKS / f"{name}.ipynb")
    defaults = yaml.safe_load(paths.PARAMS.read_text(encoding="utf-8")) or {}
    notes = []
    for k, v in sorted(cell.items()):
        if k in defaults and defaults[k] != v:
            notes.append(
                f"      {name}: its parameters cell says {k} = {v!r}, params.yml {defaults[k]!r}; the build "
                f"used {k} = {used.get(k, defaults[k])!r} (a build takes its parameters from params.yml, "
                "--params and -p; the cell only gives the defaults of a run outside the build)"
            )
    return notes


def publishable(out: Path, final_rel: str, source_rel: str, params: dict | None = None) -> float | None:
    """Drop what differs between two runs of the same notebook; returns papermill's duration (seconds).

    Timestamps and durations (papermill's and nbclient's, per cell and for the
    notebook) and the machine's absolute paths go; the injected-parameters cell
    gets a fixed id (papermill gives it a random one). The duration is kept in
    the step's record instead (the reproducibility appendix is the same on
    every build).
    """
    nb = json.loads(scrub_paths(out.read_text(encoding="utf-8"), machine_paths(params)))
    meta = nb.get("metadata", {}).get("papermill", {})
    duration = meta.get("duration")
    for k in ("start_time", "end_time", "duration", "environment_variables"):
        meta.pop(k, None)
    if meta:
        meta["input_path"], meta["output_path"] = source_rel, final_rel
    for cell in nb.get("cells", []):
        md = cell.get("metadata", {})
        md.pop("execution", None)
        md.pop("papermill", None)
        if "injected-parameters" in md.get("tags", []):
            cell["id"] = "injected-parameters"
    out.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return duration


def prepare_stage(name: str, task: str, reports_dir: str, reads_results: bool) -> tuple[Path, Path, Path, set]:
    """A notebook step's empty staging folder: ``(reports, stage, executed notebook path, borrowed files)``.

    A summary chapter (``reads_results``) gets copies of the other chapters' results there
    (``borrowed``: not its own outputs, left out of its record)."""
    reports = paths.resolve(reports_dir)
    stage = stage_dir(reports, task)
    shutil.rmtree(stage, ignore_errors=True)
    (stage / paths.EXECUTED_DIR).mkdir(parents=True)
    borrowed = set()
    if reads_results:  # the summary chapter reads the others' results from its reports_dir
        (stage / paths.RESULTS_DIR).mkdir()
        for f in sorted((reports / paths.RESULTS_DIR).glob("*.json")):
            if f.stem != name:
                shutil.copy2(f, stage / paths.RESULTS_DIR / f.name)
                borrowed.add(f"{paths.RESULTS_DIR}/{f.name}")
    return reports, stage, stage / paths.EXECUTED_DIR / f"{name}.ipynb", borrowed


def protect_failed_notebook(kept: Path, params: dict) -> None:
    """On real data, the kept failed notebook without its outputs (#28).

    A notebook stopped part-way has not reached its protected tables and prose:
    its outputs may show numbers about 1 to ``min_cell − 1`` respondents (an
    export of one respondent: «1 respondenter»). On real data (``min_cell`` in
    force and the export not the generator's) every output is cleared and a
    first cell says why; the build's own message names the cell and the error.
    """
    from src.base.inputs import is_synthetic
    from src.synthetic.synthesize import FILE_LABEL

    if not params.get("min_cell") or is_synthetic(paths.resolve(params["raw_path"]), FILE_LABEL):
        return
    nb = json.loads(kept.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
    note = {
        "cell_type": "markdown",
        "id": "failed-outputs-removed",
        "metadata": {},
        "source": [
            "**Utdataene er fjernet.** Notatboka stoppet før tabellene og teksten var beskyttet, og "
            "byggingen leste reelle data: et delvis kjørt notatbok kunne vise tall om færre enn "
            f"{params['min_cell']} personer. Byggingens melding sier hvilken celle som feilet og hvorfor; "
            "koden står som den ble kjørt."
        ],
    }
    nb["cells"] = [note, *[c for c in nb.get("cells", []) if c.get("id") != note["id"]]]
    kept.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def execute(
    name: str,
    params: dict,
    reports_dir: str,
    reads_results: bool = False,
    in_book: bool = True,
    fp: str | None = None,
    task: str | None = None,
    inputs: dict | None = None,
    derived_dir: str | None = None,
):
    """Run one notebook with papermill into its staging folder; on success replace its previous outputs.

    A notebook of the book (``in_book``) then gets its captions (a link to the
    cell that made each table and figure, the data's checksum, the book's
    language; src/book/captions.py) and its notebook view, as part of its outputs.
    ``derived_dir`` (01_cleaning): the notebook writes the derived data into
    its staging folder too, promoted with the rest.
    Returns None on success, or doit's TaskFailed with the notebook, cell and error.
    Runs in a worker process when the build is parallel.
    """
    import papermill as pm
    from doit.exceptions import TaskFailed

    task = task or name
    reports, stage, out, borrowed = prepare_stage(name, task, reports_dir, reads_results)
    run_params = dict(params, reports_dir=paths.relative(stage))
    placement, staged_derived = {}, None
    if derived_dir is not None:  # 01_cleaning: write_derived writes here (VO_DERIVED_STAGE), promoted with the rest
        staged_derived = stage / "derived"
        placement["derived"] = paths.resolve(derived_dir)
        os.environ[DERIVED_STAGE_ENV] = str(staged_derived)
    for note in parameter_cell_notes(name, params):
        print(note, flush=True)
    for attempt in range(KERNEL_RETRIES + 1):
        try:
            pm.execute_notebook(
                str(paths.NOTEBOOKS / f"{name}.ipynb"),
                str(out),
                parameters=run_params,
                cwd=str(paths.ROOT),
                progress_bar=False,
                log_output=False,
                kernel_manager_class=kernel_manager_class(),
            )
            break
        except pm.PapermillExecutionError as exc:
            os.environ.pop(DERIVED_STAGE_ENV, None)
            failed = reports / "failed"
            failed.mkdir(parents=True, exist_ok=True)
            kept = failed / f"{name}.ipynb"
            if out.exists():
                shutil.copy2(out, kept)
                protect_failed_notebook(kept, params)
            shutil.rmtree(stage, ignore_errors=True)
            first = (exc.evalue or "").strip().splitlines()[0] if (exc.evalue or "").strip() else ""
            return TaskFailed(
                f"{name} failed in cell {exc.exec_count} with {exc.ename}: {first}\n{(exc.evalue or '').strip()}\n"
                f"The partly executed notebook is kept in {paths.relative(kept)}; "
                "no output of this build is published: the previous outputs of this notebook, of every other "
                "step and the rendered book are unchanged."
            )
        except KeyboardInterrupt:
            kill_kernels()
            os.environ.pop(DERIVED_STAGE_ENV, None)
            shutil.rmtree(stage, ignore_errors=True)
            raise
        except Exception as exc:  # the kernel did not start or died: not the notebook's fault, try again
            raise_if_signalled()  # killed by the build's own interrupt: no retry
            if isinstance(exc, OSError) and exc.errno in FILE_SYSTEM_ERRORS:  # a full disk: no retry
                os.environ.pop(DERIVED_STAGE_ENV, None)
                raise
            if attempt == KERNEL_RETRIES:
                os.environ.pop(DERIVED_STAGE_ENV, None)
                shutil.rmtree(stage, ignore_errors=True)
                tail = kernel_stderr_tail()
                return TaskFailed(
                    f"{name}: the Jupyter kernel failed {attempt + 1} times "
                    f"({type(exc).__name__}: {exc}); nothing was changed."
                    + (f"\nThe kernel's last words:\n{tail}" if tail else "")
                )
            print(f"      {name}: kernel problem ({type(exc).__name__}: {exc}); retrying", flush=True)
            time.sleep(1 + attempt)
    os.environ.pop(DERIVED_STAGE_ENV, None)
    for f in borrowed:
        (stage / f).unlink()
    seconds = None
    if out.exists():
        seconds = publishable(
            out, key(reports / paths.EXECUTED_DIR / out.name), key(paths.NOTEBOOKS / out.name), params
        )
        if fp is not None:
            nb = json.loads(out.read_text(encoding="utf-8"))
            nb.setdefault("metadata", {}).setdefault("compendium", {})["fingerprint"] = fp
            out.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if in_book:
        from src.book import captions

        try:
            captions.annotate_executed(out, dict(params, derived_dir=str(staged_derived or params.get("derived_dir"))))
        except captions.CaptionError as exc:
            shutil.rmtree(stage, ignore_errors=True)
            return TaskFailed(f"{name}: {exc}")
    promote(stage, reports, task, fp, inputs, placement, seconds)
    (reports / "failed" / f"{name}.ipynb").unlink(missing_ok=True)
    return None


def execute_in_process(
    name: str,
    params: dict,
    reports_dir: str,
    reads_results: bool = False,
    in_book: bool = False,
    fp: str | None = None,
    task: str | None = None,
    inputs: dict | None = None,
    derived_dir: str | None = None,
):
    """A weighted twin (``vektet:<name>``): the notebook's code cells run in this process, without a kernel.

    Only the twin's results (and tables) are read, by the weighting appendix
    (src/book/sensitivity.py), so it needs no kernel of its own: the cells run with
    papermill's parameters cell injected, in a fresh namespace of the build's
    process (or of its worker, at ``-j`` > 1), whose imports and parsed
    reference files stay warm from one twin to the next; its figures are not
    drawn (``paths.FIGURES_ENV``), as the book shows none of them. The
    executed notebook keeps each cell's printed text and Markdown. Staging,
    promotion, record and fingerprint are those of ``execute``; a failing cell
    gives the same message and keeps the partly executed notebook in
    ``<reports>/failed/``. Same signature and return value as ``execute``.

    Measured against kernels (cold builds on 2 shared cores, medians of 2, CPU of
    the whole process tree): 93.5 -> 64.8 s at ``-j 1``, 87.2 -> 64.4 s at ``-j 2``;
    the rebuild after editing one chapter 10.5 -> 7.8 s.
    """
    import builtins
    import contextlib
    import io
    import traceback
    import warnings

    import IPython.display
    import nbformat
    from doit.exceptions import TaskFailed
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    task = task or name
    reports, stage, out, borrowed = prepare_stage(name, task, reports_dir, reads_results)
    source = paths.NOTEBOOKS / f"{name}.ipynb"
    for note in parameter_cell_notes(name, params):
        print(note, flush=True)
    nb = parameterize_notebook(load_notebook_node(str(source)), dict(params, reports_dir=paths.relative(stage)))

    def save(where: Path) -> None:
        meta = nb.setdefault("metadata", {})
        meta.pop("papermill", None)
        meta.setdefault("compendium", {})["executed"] = (
            "in the build's process, without a kernel; figures not drawn (src/pipeline/graph.py execute_in_process)"
        )
        if fp is not None:
            meta["compendium"]["fingerprint"] = fp
        for cell in nb.cells:
            if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
                cell["id"] = "injected-parameters"
        text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(scrub_paths(text, machine_paths(params)), encoding="utf-8")

    def drop_stage() -> None:
        shutil.rmtree(stage, ignore_errors=True)
        try:
            stage.parent.rmdir()  # the staging folder, when no other step is staging
        except OSError:
            pass

    outputs: list = []

    def display(*objs, **_):  # IPython's display outside a kernel prints the objects' repr: keep Markdown
        for obj in objs:
            data = {"text/plain": repr(obj)}
            md = getattr(obj, "_repr_markdown_", None)
            if md is not None:
                data["text/markdown"] = md()
            outputs.append(nbformat.v4.new_output("display_data", data=data))

    namespace = {"__name__": "__main__", "__builtins__": builtins}
    started = time.perf_counter()
    saved_env, saved_display = os.environ.get(paths.FIGURES_ENV), IPython.display.display
    os.environ[paths.FIGURES_ENV] = "off"
    IPython.display.display = display
    count = 0
    try:
        with warnings.catch_warnings():
            for cell in nb.cells:
                if cell.cell_type != "code":
                    continue
                count += 1
                outputs = []
                cell["outputs"], cell["execution_count"] = outputs, count
                text, err = io.StringIO(), io.StringIO()
                try:
                    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(err):
                        code = compile(cell.source, f"<{name} cell {count}>", "exec")
                        exec(code, namespace)
                except Exception as exc:
                    outputs[:0] = [
                        nbformat.v4.new_output("stream", name=s, text=t.getvalue())
                        for s, t in (("stdout", text), ("stderr", err))
                        if t.getvalue()
                    ]
                    evalue = str(exc)
                    outputs.append(
                        nbformat.v4.new_output(
                            "error",
                            ename=type(exc).__name__,
                            evalue=evalue,
                            traceback=traceback.format_exception(type(exc), exc, exc.__traceback__),
                        )
                    )
                    failed = reports / "failed"
                    kept = failed / f"{name}.ipynb"
                    save(kept)
                    protect_failed_notebook(kept, params)
                    drop_stage()
                    first = evalue.strip().splitlines()[0] if evalue.strip() else ""
                    return TaskFailed(
                        f"{name} failed in cell {count} with {type(exc).__name__}: {first}\n{evalue.strip()}\n"
                        f"The partly executed notebook is kept in {paths.relative(kept)}; "
                        "the previous outputs of this notebook and the rendered book are unchanged."
                    )
                outputs[:0] = [
                    nbformat.v4.new_output("stream", name=s, text=t.getvalue())
                    for s, t in (("stdout", text), ("stderr", err))
                    if t.getvalue()
                ]
    except BaseException:  # Ctrl-C, SIGTERM (build.Interrupted): nothing of this step is kept
        drop_stage()
        raise
    finally:
        IPython.display.display = saved_display
        if saved_env is None:
            os.environ.pop(paths.FIGURES_ENV, None)
        else:
            os.environ[paths.FIGURES_ENV] = saved_env
        namespace.clear()
        release_memory()
    seconds = time.perf_counter() - started
    for f in borrowed:
        (stage / f).unlink()
    save(out)
    promote(stage, reports, task, fp, inputs, {}, seconds)
    (reports / "failed" / f"{name}.ipynb").unlink(missing_ok=True)
    return None


def release_memory() -> None:
    """Give the memory a finished weighted twin freed back to the system (glibc's ``malloc_trim``).

    The twins run in the doit workers, which live for the whole build: without this a worker keeps the
    largest frame any twin held (measured at 100x: 530-630 MB per worker while two kernels run beside it).
    Does nothing where the C library has no ``malloc_trim``.
    """
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def kernel_manager_class():
    """Kernels talk over IPC sockets (files), not TCP ports.

    No port can be taken by another kernel starting at the same moment (the
    papermill port race of parallel runs), and nothing is sent over the
    network unencrypted (ipykernel warns about that for TCP). The socket files
    are named after the build (``vo-kernel-<build pid>-…``), so the build
    removes any a stopped kernel left (``remove_kernel_files``). A kernel is
    not sent SIGINT when it is shut down after its notebook ran (jupyter_client
    does that by default, and the kernel then logs «KeyboardInterrupt caught in
    kernel» on a good build).
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
            return str(Path(tempfile.gettempdir()) / f"{kernel_prefix()}{uuid.uuid4().hex[:12]}")

        async def _async_interrupt_kernel(self):
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

        async def _async_start_kernel(self, **kw):
            # the kernel process's own stderr goes to a file beside its sockets, not to the build's: what a
            # cell prints reaches the notebook over the kernel's sockets anyway, and what the process itself
            # prints is noise to a reader of the build, e.g. libzmq's «Assertion failed: pfd.revents & POLLIN»
            # from a kernel stopped mid-shutdown by Ctrl-C (a stopped build says one line, #28). A kernel that
            # does not start has the file's last lines in the build's message (kernel_stderr_tail).
            self.stderr_path = Path(f"{self.ip}.stderr")
            KERNEL_STDERR[:] = [self.stderr_path]
            if "stderr" not in kw:
                with open(self.stderr_path, "ab") as log:
                    await super()._async_start_kernel(stderr=log, **kw)
            else:
                await super()._async_start_kernel(**kw)
            LIVE_KERNELS.append(self)

        start_kernel = _async_start_kernel  # AsyncKernelManager binds start_kernel to the base class's function

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            # forked by this process's zygote when it can (src/pipeline/zygote.py), else started as before
            forked = None
            if zygote.enabled():
                forked = zygote.zygote(paths.ROOT, str(Path(tempfile.gettempdir()) / kernel_prefix())).fork(
                    kernel_cmd, kw.get("cwd"), kw.get("env") or os.environ, str(self.stderr_path)
                )
            if forked is None:
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            provisioner = self.provisioner
            provisioner.process, provisioner.pid, provisioner.pgid = forked, forked.pid, forked.pid
            provisioner.cwd = kw.get("cwd")
            self._reconcile_connection_info(provisioner.connection_info)

    return IPCKernelManager


LIVE_KERNELS: list = []  # kernel managers of this process, for kill_kernels()
KERNEL_STDERR: list = []  # the stderr file of the kernel started last (kernel_stderr_tail)


def kill_kernels() -> None:
    """Stop this process's kernels at once (the build was interrupted): no kernel outlives it or prints."""
    while LIVE_KERNELS:
        km = LIVE_KERNELS.pop()
        try:
            process = getattr(km.provisioner, "process", None)
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=5)
            km.cleanup_connection_file()
            km.cleanup_ipc_files()
        except Exception:  # best effort: the build is ending anyway
            pass


def kernel_stderr_tail(lines: int = 5) -> str:
    """The last lines the most recently started kernel process wrote to its stderr file ("" if none)."""
    try:
        text = KERNEL_STDERR[0].read_text(encoding="utf-8", errors="replace").strip() if KERNEL_STDERR else ""
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def kernel_prefix() -> str:
    return f"vo-kernel-{os.environ.get('VO_BUILD') or os.getpid()}-"


KERNEL_FILE = re.compile(r"vo-kernel-(\d+)-")


def remove_kernel_files() -> None:
    """The files of this build's kernels (IPC sockets, stderr files, its zygotes' sockets), which a kernel
    stopped by Ctrl-C leaves; and those of builds whose process is gone (a build killed by SIGKILL can
    remove nothing, #30: they piled up in the temporary folder)."""
    import tempfile

    zygote.stop()
    own = kernel_prefix()
    for f in Path(tempfile.gettempdir()).glob("vo-kernel-*"):
        m = KERNEL_FILE.match(f.name)
        if f.name.startswith(own) or (m and not process_exists(int(m.group(1)))):
            try:
                f.unlink()
            except OSError:  # another user's, or already gone
                pass


def remove_leftovers(params: dict) -> None:
    """Staging folders and half-written state files of this project's builds (the caller holds the lock).

    A step stopped mid-way (Ctrl-C, SIGKILL) leaves its staging folder; the
    build that follows would clear it when it re-runs the step, but nothing of
    it is published or kept.
    """
    reports = paths.resolve(params["reports_dir"])
    for folder in (reports, reports / WEIGHTED_DIR):
        shutil.rmtree(folder / STAGING_DIR, ignore_errors=True)
        state = folder / STATE_DIR
        if state.is_dir():
            for tmp in [*state.glob(".*.tmp"), *(state / RECORDS_DIR).glob(".*.tmp")]:
                tmp.unlink(missing_ok=True)
    # copies on their way to an output on another file system (records.copy_beside), of a killed build
    for folder in (reports, paths.resolve(params["derived_dir"])):
        if folder.is_dir():
            for tmp in folder.rglob(f".*{TMP_SUFFIX}"):
                tmp.unlink(missing_ok=True)


def merge_results(reports_dir: str) -> None:
    """<reports>/results/*.json -> <reports>/results.json (one flat, sorted mapping)."""
    reports = paths.resolve(reports_dir)
    merged = {}
    for f in sorted((reports / paths.RESULTS_DIR).glob("*.json")):
        merged.update(json.loads(f.read_text(encoding="utf-8")))
    write_json(reports / paths.RESULTS_FILE, merged)


def merge_all_results(reports_dirs: list[str], fp: str | None = None, inputs: dict | None = None) -> None:
    """The ``results`` step: every run's results.json, staged, then promoted with its record."""
    reports = paths.resolve(reports_dirs[0])
    stage = stage_dir(reports, "results")
    shutil.rmtree(stage, ignore_errors=True)
    for d in reports_dirs:
        merged = {}
        for f in sorted((paths.resolve(d) / paths.RESULTS_DIR).glob("*.json")):
            merged.update(json.loads(f.read_text(encoding="utf-8")))
        rel = paths.resolve(d).relative_to(reports)
        write_json(stage / rel / paths.RESULTS_FILE, merged)
    promote(stage, reports, "results", fp, inputs)


# -- the graph ---------------------------------------------------------------------


def tasks(params: dict, renderer: str = "auto", fp: str | None = None, inputs: dict | None = None) -> dict:
    """The doit task creators of a build with ``params`` (a mapping for doit's ModuleTaskLoader).

    Paths are given to doit relative to the project (its state then holds no
    absolute path: a moved or copied project is up to date); doit runs with the
    project as its working folder. ``fp``: the build's fingerprint (each step's
    record must name it to be up to date).
    """
    from doit.tools import config_changed

    reports = paths.resolve(params["reports_dir"])
    derived = paths.resolve(params["derived_dir"])
    order = notebook_order()
    refs = reference_files()
    runs = [("nb", reports, dict(params), order)]
    if not params["weighted"]:  # the weighting appendix: the chapters again, weighted
        runs.append(("vektet", reports / WEIGHTED_DIR, dict(params, weighted=True), order[1:]))
    rep = key(reports)

    def vouched(name):
        return (record_ok, [rep if not name.startswith("vektet:") else key(reports / WEIGHTED_DIR), name, fp], {})

    def notebook_tasks():
        for prefix, out_dir, run_params, names in runs:
            for i, name in enumerate(names):
                source = paths.NOTEBOOKS / f"{name}.ipynb"
                if not source.exists():
                    raise FileNotFoundError(f"_quarto.yml lists {name}, but {paths.relative(source)} does not exist")
                deps = [source, *src_dependencies(source), *refs, *module_dependencies("book.captions")]
                targets = [out_dir / paths.EXECUTED_DIR / f"{name}.ipynb", out_dir / paths.RESULTS_DIR / f"{name}.json"]
                if name == order[0]:
                    deps.append(paths.resolve(params["raw_path"]))
                    deps += review_sheets(params["raw_path"])  # the researcher's coding of the open answers
                    deps += export_mapping(params["raw_path"])  # how an export shaped otherwise is read (#25)
                    targets += [derived / f for f in DERIVED_FILES]
                else:
                    deps += [derived / f for f in DERIVED_FILES]
                if name in SUMMARISERS:
                    deps += [out_dir / paths.RESULTS_DIR / f"{n}.json" for n in names[:i]]
                run_params["reports_dir"] = key(out_dir)
                task = f"{prefix}:{name}"
                yield {
                    "basename": task,
                    # a weighted twin runs in the build's process, not in a kernel (execute_in_process)
                    "actions": [
                        (
                            guarded,
                            [
                                task,
                                stage_dir(out_dir, task),
                                execute if prefix == "nb" else execute_in_process,
                                name,
                                dict(run_params),
                                key(out_dir),
                                name in SUMMARISERS,
                                out_dir == reports,
                                fp,
                                task,
                                inputs,
                                key(derived) if name == order[0] else None,
                            ],
                        )
                    ],
                    "file_dep": [key(p) for p in deps],
                    "targets": [key(p) for p in targets],
                    "uptodate": [
                        config_changed(
                            json.dumps(run_params, sort_keys=True) + ("" if prefix == "nb" else " in-process")
                        ),
                        vouched(task),
                    ],
                    "verbosity": 2,
                }

    executed = [key(out / paths.EXECUTED_DIR / f"{n}.ipynb") for _, out, _, names in runs for n in names]
    results = [key(out / paths.RESULTS_DIR / f"{n}.json") for _, out, _, names in runs for n in names]
    # the book's order, each chapter followed by its weighted run: the order the steps start in (task_book)
    notebook_steps = sorted(
        (f"{prefix}:{n}" for prefix, _, _, names in runs for n in names),
        key=lambda step: (order.index(step.split(":", 1)[1]), step.startswith("vektet:")),
    )

    def task_results():
        return {
            "actions": [
                (
                    guarded,
                    [
                        "results",
                        stage_dir(reports, "results"),
                        merge_all_results,
                        [key(out) for _, out, _, _ in runs],
                        fp,
                        inputs,
                    ],
                )
            ],
            "task_dep": notebook_steps,  # in the book's order (task_book)
            "file_dep": results,
            "targets": [key(out / paths.RESULTS_FILE) for _, out, _, _ in runs],
            "uptodate": [vouched("results")],
            "verbosity": 2,
        }

    appendix_files = [reports / f for f in (*steps.APPENDIX_FILES, *steps.weighting_files(params))]

    def task_appendices():
        return {
            "actions": [
                (guarded, ["appendices", stage_dir(reports, "appendices"), steps.write_appendices, params, fp, inputs])
            ],
            "file_dep": executed
            + [key(out / paths.RESULTS_FILE) for _, out, _, _ in runs]
            + [
                key(p)
                for p in [
                    module_file("pipeline.cli"),
                    *module_dependencies("book.scorecard", "book.sensitivity", "book.codebook_doc"),
                ]
            ]
            + [key(p) for p in refs]
            + [key(derived / f) for f in DERIVED_FILES],
            "targets": [key(p) for p in appendix_files],
            "uptodate": [
                config_changed(json.dumps({"params": params, "git": steps.git_state()}, sort_keys=True)),
                vouched("appendices"),
            ],
            "verbosity": 2,
        }

    book_sources = [paths.ROOT / s for s in BOOK_SOURCES]
    book_files = [p for s in book_sources for p in ([s] if s.is_file() else sorted(s.rglob("*"))) if p.is_file()]
    upstream = [*notebook_steps, "results", "appendices"]

    def task_book():
        return {
            "actions": [
                (guarded, ["book", stage_dir(reports, "book"), steps.render, params, renderer, fp, inputs, upstream])
            ],
            # the steps start in the book's order (each chapter, then its weighted run), not in the order of doit's
            # set of file dependencies, which changed from run to run with Python's string hashing: one notebook
            # at a time (-j 1), a build runs its steps in the same order every time
            "task_dep": notebook_steps,
            "file_dep": [key(p) for p in appendix_files]
            + executed
            + [key(p) for p in book_files]
            + [key(p) for p in module_dependencies("book.render")],
            "targets": [key(reports / paths.BOOK_DIR / "index.html")],
            "uptodate": [config_changed(renderer), vouched("book")],
            "verbosity": 2,
        }

    return {
        "task_notebooks": notebook_tasks,
        "task_results": task_results,
        "task_appendices": task_appendices,
        "task_book": task_book,
    }


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
            self.out.write(
                f"Up to date, not re-run: {len(self.skipped)} of {self.total} steps"
                + (f" ({', '.join(self.skipped)})" if len(self.skipped) < self.total else "")
                + "\n"
            )
        self.out.flush()


STATE_ERRORS: list[OSError] = []  # doit's state could not be saved (raised by run() once doit has ended)


def _atomic_doit_state() -> None:
    """doit's json state: written atomically, and after every step (doit writes it once, at the end).

    A build killed mid-way then keeps what its finished steps recorded, and a
    kill while the state is written leaves the previous state, not half a file.
    """
    from doit import dependency

    if getattr(dependency.JsonDB, "_compendium_atomic", False):
        return

    def dump(self):
        try:
            write_text_durably(Path(self.name), self.codec.encode(self._db))
        except OSError as exc:  # a full disk: doit would print its traceback and end with exit code 3
            STATE_ERRORS.append(OSError(exc.errno, exc.strerror, str(self.name)))

    original = dependency.Dependency.save_success

    def save_success(self, task, result_hash=None):
        original(self, task, result_hash)
        if isinstance(self.backend, dependency.JsonDB):
            self.backend.dump()

    dependency.JsonDB.dump = dump
    dependency.Dependency.save_success = save_success
    dependency.JsonDB._compendium_atomic = True


def check_state(state_file: Path, log=print) -> None:
    """A damaged doit state (a truncated file, not JSON) is discarded, saying so; the steps' records stay."""
    if not state_file.exists():
        return
    try:
        data = json.loads(state_file.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a mapping")
    except (ValueError, UnicodeDecodeError) as exc:
        state_file.unlink()
        log(
            f"The build's state {key(state_file)} was damaged ({type(exc).__name__}: {str(exc)[:80]}); "
            "discarded it: every step runs again this time."
        )


def run(
    params: dict,
    renderer: str = "auto",
    jobs: int = 1,
    force: bool = False,
    forced: list[str] | None = None,
    render_book: bool = True,
    fp: str | None = None,
    inputs: dict | None = None,
) -> Progress:
    """Run every out-of-date task of the build; returns the reporter (what ran, what failed)."""
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain

    os.chdir(paths.ROOT)  # doit's paths are relative to the project
    reports = paths.resolve(params["reports_dir"])
    (reports / STATE_DIR).mkdir(parents=True, exist_ok=True)
    state = reports / STATE_DIR / "doit-state.json"
    check_state(state)
    _atomic_doit_state()
    STATE_ERRORS.clear()
    reporter = {}

    class Reporter(Progress):
        def __init__(self, outstream, options):
            super().__init__(outstream, options)
            reporter["it"] = self

    creators = tasks(params, renderer, fp, inputs)
    creators["DOIT_CONFIG"] = {
        "backend": "json",
        "dep_file": key(state),
        "check_file_uptodate": "md5",
        "reporter": Reporter,
        "verbosity": 2,
    }
    loader = ModuleTaskLoader(creators)
    main = DoitMain(loader, extra_config={"GLOBAL": {}})
    targets, limited = ["book" if render_book else "appendices"], []
    if forced:  # re-run these notebooks whatever their state: forget them first
        steps = [t["basename"] for t in creators["task_notebooks"]()]
        names = [s for s in steps if s.split(":", 1)[1] in forced]
        DoitMain(ModuleTaskLoader(creators)).run(["forget", *names])
        # the other chapters of this build's inputs and parameters all there: the book is brought up to date
        # (what depends on the named notebooks runs again). Else only the named notebooks and what they
        # need run; the book, which would mix builds, is neither rendered nor touched
        if not all(record_ok(step_folder(reports, s), s, fp) for s in steps if s not in names):
            targets, limited = names, names
    args = ["run", "--process", str(max(1, jobs)), "--parallel-type", "process"] if jobs > 1 else ["run"]
    if force:
        args.append("--always-execute")
    code = main.run(args + targets)  # doit runs what they depend on
    if STATE_ERRORS:  # the build fails (and is rolled back) with the cause, not doit's traceback
        exc = STATE_ERRORS[0]
        STATE_ERRORS.clear()
        raise exc
    rep = reporter.get("it")
    if rep is None:
        raise RuntimeError(f"doit did not run (exit code {code})")
    rep.exit_code = code
    rep.limited = limited
    if limited and not (code or rep.failures or rep.errors):
        merge_vouched_results(reports, fp, steps)
    return rep


def merge_vouched_results(reports: Path, fp: str | None, steps: list[str]) -> None:
    """results.json of a limited build: the results of the notebook steps vouched for this build only.

    The ``results`` step's record is removed (nothing vouches for a partial merge), so that
    the next full build merges again and the book is never rendered from this file.
    """
    record_path(reports, "results").unlink(missing_ok=True)
    for folder in sorted({step_folder(reports, s) for s in steps}):
        merged = {}
        for step in (s for s in steps if step_folder(reports, s) == folder):
            f = folder / paths.RESULTS_DIR / f"{step.split(':', 1)[1]}.json"
            if f.exists() and record_ok(folder, step, fp):
                merged.update(json.loads(f.read_text(encoding="utf-8")))
        write_json(folder / paths.RESULTS_FILE, merged)
