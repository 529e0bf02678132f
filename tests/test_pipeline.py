"""The build's dependency graph (src/pipeline/graph.py): what each notebook depends on, staging, retries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from src.base import contents, paths
from src.base.imports import imported_modules, module_file
from src.pipeline import graph as pipeline
from src.pipeline import records


def dep_names(name: str) -> set[str]:
    return {p.name for p in pipeline.src_dependencies(paths.NOTEBOOKS / f"{name}.ipynb")}


def test_notebooks_depend_on_the_src_modules_they_import_transitively():
    deps = dep_names("02_sample")
    assert {"helpers.py", "codebook.py", "export.py", "paths.py"} <= deps  # helpers imports codebook, export
    assert "measures.py" in deps  # imported by helpers: still a dependency
    assert "__init__.py" in deps  # the packages' __init__ run on import
    assert "synthesize.py" not in deps and "cli.py" not in deps and "bench.py" not in deps


def ast_imports(code: str) -> set[str]:
    """What Python's parser says a piece of code imports from src (the reference for the fast reader)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and (node.module == "src" or (node.module or "").startswith("src.")):
            package = node.module[4:]
            if package:
                found.add(package)
            found |= {f"{package}.{a.name}".lstrip(".") for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name[4:] for a in node.names if a.name.startswith("src.")}
    return {m for m in found if module_file(m)}


def test_imports_are_read_in_all_their_forms():
    code = (
        "from src import helpers as h\nimport src.book.plots\nfrom src.analysis.stats import chi2\nimport os\n"
        "from srcx import y\ndef f():\n    from src.analysis import (measures,\n        suppression as sp)\n"
        "import os, src.base.paths as p\n"
    )
    assert imported_modules(code) == {
        "helpers",
        "book.plots",
        "analysis.stats",
        "analysis",
        "analysis.measures",
        "analysis.suppression",
        "base.paths",
    }
    assert imported_modules(code) == ast_imports(code)


def test_the_fast_import_reader_never_misses_an_import_the_parser_finds():
    """Missing one would leave a notebook stale; an extra one (an example in a docstring) only re-runs it."""
    for f in (paths.ROOT / "src").rglob("*.py"):
        code = f.read_text(encoding="utf-8")
        assert imported_modules(code) >= ast_imports(code), f.name
    for nb in paths.NOTEBOOKS.glob("*.ipynb"):
        code = pipeline.notebook_code(nb)
        assert imported_modules(code) == ast_imports(code), nb.name


def test_reference_files_are_the_analysis_inputs_not_the_generators():
    names = {p.name for p in pipeline.reference_files()}
    assert {"codebook.yml", "published.yml", "measures.yml", "requirements.txt"} <= names
    assert "synthesis.yml" not in names


def test_notebook_order_is_the_books():
    order = contents.notebook_order()
    assert order[0] == "01_cleaning" and order[-1] == "09_barriers" and len(order) == 9
    assert pipeline.SUMMARISERS <= set(order)


def graph(params: dict) -> dict:
    creators = pipeline.tasks(params, "fallback")
    notebook_tasks = {t["basename"]: t for t in creators["task_notebooks"]()}
    return notebook_tasks | {k[5:]: creators[k]() for k in creators if k != "task_notebooks"}


def test_the_graph_reads_what_each_step_needs():
    from src.pipeline.cli import load_params

    tasks = graph(load_params())
    assert len([t for t in tasks if t.startswith("nb:")]) == 9
    assert len([t for t in tasks if t.startswith("vektet:")]) == 8  # 01_cleaning is not re-run weighted
    first = tasks["nb:01_cleaning"]
    assert any(d.endswith(".sav") for d in first["file_dep"])
    assert any(t.endswith("respondents.parquet") for t in first["targets"])
    chapter = tasks["nb:03_role"]
    assert any(d.endswith("respondents.parquet") for d in chapter["file_dep"])
    assert not any(d.endswith("results/02_sample.json") for d in chapter["file_dep"])
    summary = tasks["nb:09_barriers"]  # the summary of differences reads every earlier chapter
    assert {f"reports/results/{n}.json" for n in contents.notebook_order()[:-1]} <= {
        paths.relative(d) for d in summary["file_dep"]
    }
    weighted = tasks["vektet:03_role"]
    assert "weighted" in paths.relative(weighted["targets"][0])
    assert "src/book/render.py" in tasks["book"]["file_dep"]  # relative to the project: a moved clone is up to date
    # what _quarto.yml makes the render read: an edited filter or typst include renders the book again
    assert {"filters/table-hyphens.lua", "typst/a4-book.typ", "_quarto.yml"} <= set(tasks["book"]["file_dep"])


def test_the_steps_start_in_the_books_order_each_chapter_before_its_weighted_run():
    """doit starts a task's explicit task_dep before the ones it infers from file_dep (a set: its order changed
    with Python's string hashing from run to run). One notebook at a time, a build runs the same order every
    time; the fault-injection tests (tests/test_interrupts.py) stop builds at named steps of it."""
    from src.pipeline.cli import load_params

    tasks = graph(load_params())
    order = contents.notebook_order()
    expected = ["nb:" + order[0]] + [f"{kind}:{n}" for n in order[1:] for kind in ("nb", "vektet")]
    assert tasks["book"]["task_dep"] == expected and tasks["results"]["task_dep"] == expected
    assert set(expected) == {t for t in tasks if t.startswith(("nb:", "vektet:"))}


def test_a_weighted_main_run_has_no_separate_weighted_pass():
    from src.pipeline.cli import load_params

    tasks = graph(load_params(overrides=["weighted=true"]))
    assert not [t for t in tasks if t.startswith("vektet:")]


def test_both_books_declare_the_weighting_appendix_they_include():
    """appendices/weighting.qmd includes reports/_weighting.md in both books; only the unweighted one
    compares with a weighted run (weighting_comparison.csv)."""
    from src.pipeline.cli import load_params

    for overrides, expected in (
        ([], {"_weighting.md", "weighting_comparison.csv"}),
        (["weighted=true"], {"_weighting.md"}),
    ):
        tasks = graph(load_params(overrides=overrides))
        targets = {Path(t).name for t in tasks["appendices"]["targets"]}
        assert targets & {"_weighting.md", "weighting_comparison.csv"} == expected, overrides
        assert {Path(t).name for t in tasks["book"]["file_dep"]} >= expected


def test_promote_replaces_only_the_notebooks_own_outputs(tmp_path):
    reports = tmp_path / "reports"
    (reports / "tables").mkdir(parents=True)
    (reports / "tables" / "other_chapter.csv").write_text("theirs")
    for run, files in enumerate([{"tables/a.csv": "1", "tables/old.csv": "x"}, {"tables/a.csv": "2"}]):
        stage = tmp_path / f"stage{run}"
        for rel, text in files.items():
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            (stage / rel).write_text(text)
        records.promote(stage, reports, "05_x")
        assert not stage.exists()
    assert (reports / "tables" / "a.csv").read_text() == "2"
    assert not (reports / "tables" / "old.csv").exists()  # the table the notebook no longer writes
    assert (reports / "tables" / "other_chapter.csv").read_text() == "theirs"


def test_a_rolled_back_build_leaves_every_file_and_record_as_before(tmp_path, monkeypatch):
    """The journal: what the finished steps replaced, deleted or added is put back exactly (bytes and mtime)."""
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    reports, derived = tmp_path / "reports", tmp_path / "data" / "derived"

    def stage(name, files):
        folder = tmp_path / f"stage-{name}"
        for rel, text in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text)
        return folder

    records.promote(
        stage("a", {"tables/a.csv": "1", "tables/gone.csv": "x", "derived/r.parquet": "old"}),
        reports,
        "nb:01_x",
        "fp-old",
        placement={"derived": derived},
    )
    records.promote(stage("b", {"tables/b.csv": "b1"}), reports, "nb:02_x", "fp-old")
    (reports / ".build" / "doit-state.json").write_text('{"state": "last good build"}')
    (reports / "tables" / "mine.txt").write_text("a user's file")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}

    folder = records.begin_journal(reports, log=lambda msg: None)
    monkeypatch.setenv(records.JOURNAL_ENV, str(folder))
    records.promote(
        stage("a2", {"tables/a.csv": "2", "tables/new.csv": "n", "derived/r.parquet": "new"}),
        reports,
        "nb:01_x",
        "fp-new",
        placement={"derived": derived},
    )
    records.promote(stage("c", {"tables/c.csv": "c"}), reports, "nb:03_x", "fp-new")  # a step never built before
    (reports / ".build" / "doit-state.json").write_text('{"state": "half of a failed build"}')
    assert (reports / "tables" / "a.csv").read_text() == "2" and not (reports / "tables" / "gone.csv").exists()

    assert records.rollback(reports) > 0
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # incl. records, doit's state, the derived data; nothing new left
    assert records.rollback(reports) is None  # the journal is gone


def test_a_journal_left_by_a_killed_build_is_played_back_by_the_next(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    reports = tmp_path / "reports"
    (reports / "tables").mkdir(parents=True)
    (reports / "tables" / "a.csv").write_text("good")
    folder = records.begin_journal(reports, log=lambda msg: None)
    monkeypatch.setenv(records.JOURNAL_ENV, str(folder))
    src = tmp_path / "s" / "tables" / "a.csv"
    src.parent.mkdir(parents=True)
    src.write_text("half")
    records.promote(tmp_path / "s", reports, "nb:01_x")  # the build is killed here: no commit, no rollback
    with open(folder / "journal.jsonl", "a") as fh:
        fh.write('{"key": "reports/tab')  # ... while it wrote a journal line
    said = []
    records.begin_journal(reports, log=said.append)  # the next build
    assert (reports / "tables" / "a.csv").read_text() == "good"
    assert said and "restored the outputs of the last complete build" in said[0]
    records.commit_journal(reports)
    assert not (reports / ".build" / "journal").exists()


class FakePapermill:
    """Stands in for papermill: fails to start a kernel ``fail`` times, then writes the notebook."""

    class PapermillExecutionError(Exception):
        pass

    def __init__(self, fail: int):
        self.fail, self.calls = fail, 0

    def execute_notebook(self, src, out, parameters, **kw):
        self.calls += 1
        if self.calls <= self.fail:
            raise RuntimeError("Kernel didn't respond in 60 seconds")
        from pathlib import Path

        Path(out).write_text(json.dumps({"cells": [], "metadata": {}}))
        res = Path(parameters["reports_dir"])
        res = res if res.is_absolute() else paths.ROOT / res
        (res / "results").mkdir(parents=True, exist_ok=True)
        (res / "results" / "02_sample.json").write_text("{}")


@pytest.mark.parametrize("fail, ok", [(1, True), (pipeline.KERNEL_RETRIES + 1, False)])
def test_a_kernel_that_fails_to_start_is_tried_again(tmp_path, monkeypatch, fail, ok):
    import sys

    fake = FakePapermill(fail)
    monkeypatch.setitem(sys.modules, "papermill", fake)
    monkeypatch.setattr(pipeline.time, "sleep", lambda s: None)
    reports = tmp_path / "reports"
    result = pipeline.execute("02_sample", {"lang": "nb"}, str(reports), in_book=False)
    if ok:
        assert result is None and fake.calls == 2
        assert (reports / "executed" / "02_sample.ipynb").exists()
    else:
        assert "kernel failed" in result.get_msg() and fake.calls == pipeline.KERNEL_RETRIES + 1
        assert not (reports / "executed").exists()
    assert not (reports / "_staging" / "02_sample").exists()


def test_progress_counts_what_ran_and_what_was_up_to_date():
    import io

    class T:
        def __init__(self, name):
            self.name, self.actions, self.subtask_of = name, [1], None

    rep = pipeline.Progress(io.StringIO(), {})
    rep.out = io.StringIO()
    tasks = {n: T(n) for n in ("nb:01", "nb:02", "book")}
    rep.initialize(tasks, list(tasks))
    rep.skip_uptodate(tasks["nb:01"])
    rep.execute_task(tasks["nb:02"])
    rep.add_success(tasks["nb:02"])
    rep.complete_run()
    text = rep.out.getvalue()
    assert "[ 2/3" in text and "done   nb:02" in text and "Up to date, not re-run: 1 of 3 steps (nb:01)" in text
    assert rep.ran == ["nb:02"] and rep.skipped == ["nb:01"]


def test_a_failed_step_reports_the_exceptions_own_text_not_doits_summary():
    """A failed render shows Quarto's lines (carried by the exception), not «PythonAction Error»."""
    from doit.exceptions import TaskFailed

    from src.pipeline import graph as pipeline

    progress = pipeline.Progress(None, {})
    task = type("T", (), {"name": "book", "actions": [1]})()
    progress.add_failure(
        task, TaskFailed("PythonAction Error", RuntimeError("quarto render failed in the PDF (typst) book: error: x"))
    )
    assert progress.failures == ["quarto render failed in the PDF (typst) book: error: x"]


def test_a_record_vouches_only_for_its_own_fingerprint_and_files(tmp_path):
    reports = tmp_path / "reports"
    stage = tmp_path / "stage"
    (stage / "tables").mkdir(parents=True)
    (stage / "tables" / "t.csv").write_text("a,b\n1,2\n")
    (stage / "derived").mkdir()
    (stage / "derived" / "d.json").write_text("{}")
    derived = tmp_path / "derived"
    records.promote(stage, reports, "nb:01_x", "fp-A", placement={"derived": derived})
    assert (derived / "d.json").exists() and (reports / "tables" / "t.csv").exists()
    assert records.record_problems(reports, "nb:01_x", "fp-A") == []
    assert records.record_ok(str(reports), "nb:01_x", "fp-A")
    assert any("other inputs" in p for p in records.record_problems(reports, "nb:01_x", "fp-B"))
    assert records.record_problems(reports, "nb:02_never_ran", "fp-A") == [
        "nb:02_never_ran has no record of its outputs"
    ]
    (reports / "tables" / "t.csv").write_text("a,b\n1,3\n")  # same size, other content
    assert any("is not the file" in p for p in records.record_problems(reports, "nb:01_x", "fp-A"))
    (derived / "d.json").unlink()
    assert any("is missing" in p for p in records.record_problems(reports, "nb:01_x", "fp-A"))


def test_the_fingerprint_follows_the_export_and_every_parameter():
    params = {"raw_path": "a.sav", "alpha": 0.05, "lang": "nb"}
    fp = records.fingerprint(params, "0" * 64)
    assert fp == records.fingerprint(dict(params), "0" * 64)
    assert fp != records.fingerprint(params, "1" * 64)
    assert fp != records.fingerprint(dict(params, alpha=0.01), "0" * 64)


def test_a_parameters_cell_that_differs_from_params_yml_is_reported(tmp_path, monkeypatch):
    nb = json.loads((paths.NOTEBOOKS / "05_course_format.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    cell["source"] = ["".join(cell["source"]).replace("alpha = 0.05", "alpha = 0.01")]
    (tmp_path / "05_course_format.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    monkeypatch.setattr(pipeline.paths, "NOTEBOOKS", tmp_path)
    notes = pipeline.parameter_cell_notes("05_course_format", {"alpha": 0.05})
    assert (
        len(notes) == 1
        and "parameters cell says alpha = 0.01, params.yml 0.05; the build used alpha = 0.05" in notes[0]
    )


def test_a_damaged_state_file_is_discarded_with_a_message(tmp_path):
    state = tmp_path / "doit-state.json"
    state.write_text('{"nb:01_cleaning": {"a": ')
    said = []
    pipeline.check_state(state, said.append)
    assert not state.exists() and "was damaged" in said[0] and "every step runs again" in said[0]
    state.write_text('{"ok": {}}')
    pipeline.check_state(state, said.append)
    assert state.exists() and len(said) == 1


def test_executed_notebooks_lose_what_differs_between_runs(tmp_path):
    out = tmp_path / "x.ipynb"
    out.write_text(
        json.dumps(
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "id": "random1",
                        "metadata": {
                            "tags": ["injected-parameters"],
                            "papermill": {"duration": 0.1},
                            "execution": {"iopub.status.busy": "2026"},
                        },
                        "source": [],
                        "outputs": [],
                    }
                ],
                "metadata": {
                    "papermill": {
                        "duration": 5.0,
                        "start_time": "2026",
                        "end_time": "2026",
                        "input_path": "/abs/notebooks/x.ipynb",
                        "output_path": "/abs/reports/x.ipynb",
                        "parameters": {"lang": "nb"},
                    }
                },
            }
        )
    )
    assert pipeline.publishable(out, "reports/executed/x.ipynb", "notebooks/x.ipynb") == 5.0
    nb = json.loads(out.read_text())
    assert nb["metadata"]["papermill"] == {
        "input_path": "notebooks/x.ipynb",
        "output_path": "reports/executed/x.ipynb",
        "parameters": {"lang": "nb"},
    }
    assert nb["cells"][0]["id"] == "injected-parameters" and nb["cells"][0]["metadata"] == {
        "tags": ["injected-parameters"]
    }


def test_machine_paths_are_scrubbed_from_published_notebooks(tmp_path):
    """Warnings name their file, the parameters an export outside the project: the book shows neither path."""
    outside = tmp_path / "exports" / "real.sav"
    text = json.dumps(
        {
            "text": f"{paths.ROOT}/src/helpers.py:197: WeightingWarning",
            "raw": str(outside),
            "home": f"{Path.home()}/.pyenv/lib/x.py",
        }
    )
    pairs = records.machine_paths({"raw_path": str(outside)})
    clean = json.loads(records.scrub_paths(text, pairs))
    assert clean["text"] == "src/helpers.py:197: WeightingWarning" and clean["raw"] == "real.sav"
    assert str(Path.home()) not in clean["home"] or str(Path.home()) in ("/", "")


# -- weighted twins in the build's process ------------------------------------------------

TWIN_CELLS = [
    ('reports_dir = "reports"\nweighted = False\nfail = False', ["parameters"]),
    (
        "import json, os\nfrom pathlib import Path\nfrom IPython.display import Markdown, display\n"
        "print('hello from the twin')\ndisplay(Markdown('**Vektet**'))",
        [],
    ),
    (
        "seen = {'weighted': weighted, 'figures': os.environ.get('VO_FIGURES'), 'leftover': 'leftover' in globals()}\n"
        "(Path(reports_dir) / 'results').mkdir(parents=True, exist_ok=True)\n"
        "(Path(reports_dir) / 'results' / '05_twin.json').write_text(json.dumps(seen))\n"
        "leftover = 1",
        [],
    ),
    ("if fail:\n    raise ValueError('the weights are not positive')", []),
]


@pytest.fixture
def twin_notebook(tmp_path, monkeypatch):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src, metadata={"tags": tags}) for src, tags in TWIN_CELLS]
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("# Twin"))
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(nb, folder / "05_twin.ipynb")
    monkeypatch.setattr(paths, "NOTEBOOKS", folder)
    return tmp_path / "reports" / records.WEIGHTED_DIR


def test_the_weighted_twins_run_in_the_builds_process_and_the_chapters_in_kernels():
    from src.pipeline.cli import load_params

    tasks = graph(load_params())
    for name, t in tasks.items():
        if ":" in name:
            action = t["actions"][0][1][2]
            assert action is (pipeline.execute_in_process if name.startswith("vektet:") else pipeline.execute), name
    weighted_book = graph(load_params(overrides=["weighted=true"]))  # the book itself weighted: all in kernels
    assert all(t["actions"][0][1][2] is pipeline.execute for n, t in weighted_book.items() if n.startswith("nb:"))


def test_a_twin_runs_its_cells_with_its_parameters_and_is_recorded_with_the_fingerprint(twin_notebook, monkeypatch):
    monkeypatch.delenv("VO_FIGURES", raising=False)
    out = twin_notebook
    for _run in range(2):  # the second run sees a fresh namespace: nothing of the first is left
        assert (
            pipeline.execute_in_process("05_twin", {"weighted": True}, str(out), fp="f" * 64, task="vektet:05_twin")
            is None
        )
        seen = json.loads((out / "results" / "05_twin.json").read_text())
        assert seen == {"weighted": True, "figures": "off", "leftover": False}
    assert "VO_FIGURES" not in pipeline.os.environ  # switched off for the twin only
    assert not (out / records.STAGING_DIR).exists()
    assert records.record_problems(out, "vektet:05_twin", "f" * 64) == []
    rec = records.read_record(out, "vektet:05_twin")
    assert set(rec["files"]) == {
        records.key(out / "executed" / "05_twin.ipynb"),
        records.key(out / "results" / "05_twin.json"),
    }
    nb = json.loads((out / "executed" / "05_twin.ipynb").read_text())
    assert nb["metadata"]["compendium"]["fingerprint"] == "f" * 64
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == [1, 2, 3, 4, 5]
    injected = code[1]
    assert injected["id"] == "injected-parameters" and "weighted = True" in "".join(injected["source"])
    outputs = code[2]["outputs"]
    assert outputs[0]["output_type"] == "stream" and outputs[0]["text"] == "hello from the twin\n"
    assert outputs[1]["data"]["text/markdown"] == "**Vektet**"
    assert f'reports_dir = "{pipeline.paths.relative(records.stage_dir(out, "vektet:05_twin"))}"' in "".join(
        injected["source"]
    )  # as papermill injects it


def test_a_failing_twin_keeps_its_previous_outputs_and_the_partly_executed_notebook(twin_notebook, monkeypatch):
    out = twin_notebook
    assert (
        pipeline.execute_in_process("05_twin", {"weighted": True}, str(out), fp="a" * 64, task="vektet:05_twin") is None
    )
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    failed = pipeline.execute_in_process(
        "05_twin", {"weighted": True, "fail": True}, str(out), fp="b" * 64, task="vektet:05_twin"
    )
    msg = failed.get_msg()
    assert "05_twin failed in cell 5 with ValueError: the weights are not positive" in msg
    kept = out / "failed" / "05_twin.ipynb"
    assert pipeline.paths.relative(kept) in msg
    errors = [
        o for c in json.loads(kept.read_text())["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"
    ]
    assert [e["ename"] for e in errors] == ["ValueError"]
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and "failed" not in p.parts} == before
    assert not (out / records.STAGING_DIR).exists() and "VO_FIGURES" not in pipeline.os.environ


def test_an_interrupted_twin_leaves_nothing_staged_and_lets_the_interrupt_through(twin_notebook, monkeypatch):
    import builtins

    out = twin_notebook
    real_print = builtins.print

    def interrupted(*a, **k):
        if a and a[0] == "hello from the twin":
            raise KeyboardInterrupt
        return real_print(*a, **k)

    monkeypatch.setattr(builtins, "print", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pipeline.execute_in_process("05_twin", {"weighted": True}, str(out), task="vektet:05_twin")
    assert not (out / records.STAGING_DIR).exists() and not (out / "executed").exists()
    assert "VO_FIGURES" not in pipeline.os.environ


def test_a_kernels_own_stderr_goes_to_its_file_not_the_builds(monkeypatch):
    """A kernel process writes to a file beside its sockets, not to the build's stderr (a build stopped by
    Ctrl-C printed libzmq's «Assertion failed: pfd.revents & POLLIN» from a kernel it was shutting down); the
    file goes with the build's kernel files, and a kernel that fails to start has its last lines named."""
    import asyncio
    import os

    monkeypatch.setattr(pipeline, "LIVE_KERNELS", [])
    monkeypatch.setattr(pipeline, "KERNEL_STDERR", [])
    km = pipeline.kernel_manager_class()(kernel_name="python3")
    asyncio.run(km.start_kernel())
    try:
        pid = km.provisioner.process.pid
        assert os.readlink(f"/proc/{pid}/fd/2") == str(km.stderr_path)
        assert km.stderr_path.name.startswith(pipeline.kernel_prefix())
        km.stderr_path.write_text("first\nImportError: no module named ipykernel_launcher\n", encoding="utf-8")
        assert pipeline.kernel_stderr_tail(1) == "ImportError: no module named ipykernel_launcher"
    finally:
        pipeline.kill_kernels()
        pipeline.remove_kernel_files()
    assert not km.stderr_path.exists()
