"""A book from one build, always: faults injected into real builds, then `make book`, then byte for byte.

In the style of tests/bad_inputs: each test takes a copy of one reference
build (a cold build of a fresh project whose book has four chapters,
``conftest.SMALL_CHAPTERS``: the machinery under test is the same for every
chapter, and a build of four costs a third of one of nine), injects one fault — SIGKILL, SIGTERM or
SIGINT at a named step (the build's test hook ``VO_TEST_KILL_AT``), a second
build at the same time, a full disk, a read-only folder, a damaged state file —
then runs a plain build and compares every published output (the book, the
executed notebooks, tables, figures, results, appendices, derived data) with
the reference, byte for byte.

The kill matrix runs the interrupted build on another export (a smaller
synthetic one with another seed), as in issue 18's first case, so that what
the killed build left differs from the reference until the next build
repairs it. Each of its cases is two partial builds; `-m "slow"` selects them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import snapshot

pytestmark = pytest.mark.slow

STATE_PARTS = {".build", "_staging", "failed", "_interactive"}  # the build's own bookkeeping, not its outputs


def as_from_a_terminal() -> None:
    """The build as a terminal starts it: Ctrl-C (SIGINT) at its default. A test run itself started in the
    background (``make test &``, a CI step without a terminal) ignores SIGINT, its children inherit that, and
    the build rightly keeps ignoring it; the cases that press Ctrl-C must not depend on how pytest was started."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_build(root: Path, *args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "src.pipeline", "--renderer", "fallback", "-j", "1", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        preexec_fn=as_from_a_terminal,
    )


def published(root: Path) -> dict[str, str]:
    """sha256 of every output a build publishes (reports/ without the build's bookkeeping, data/derived)."""
    out = {}
    for folder in ("reports", "data/derived"):
        for rel, digest in snapshot(root / folder).items():
            if not STATE_PARTS & set(Path(rel).parts):
                out[f"{folder}/{rel}"] = digest
    return out


def steps_run(proc) -> set[str]:
    return {line.split("done", 1)[1].split()[0] for line in proc.stdout.splitlines() if "] done " in line}


def differences(a: dict, b: dict) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


@pytest.fixture(scope="module")
def reference(small_project):
    """A fresh project (four chapters) built once, cold, uninterrupted (the session's build, conftest.py; tests
    copy it): (root, its published outputs, the build's output)."""
    root, proc = small_project
    return root, published(root), proc


def all_steps(reference) -> int:
    """How many steps the reference build ran (all of them: it was cold)."""
    return int(reference[2].stdout.rsplit("Build finished in ", 1)[1].split("(", 1)[1].split()[0])


def copy_of(reference, tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(reference[0], root, symlinks=True)
    return root


# -- the reference build itself ---------------------------------------------------------


@pytest.mark.parametrize("which", ["built_project", "small_project"])
def test_a_good_build_prints_no_kernel_noise_and_leaves_no_kernel_files(request, which):
    _, proc = request.getfixturevalue(which)
    assert "KeyboardInterrupt caught in kernel" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "BUILD" not in proc.stderr


def test_two_cold_builds_give_byte_identical_books_and_outputs(built_project, built_project_again):
    """Cell ids fixed, no timestamps, durations or absolute paths in what is published (the whole book)."""
    root, proc = built_project_again
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert differences(published(root), published(built_project[0])) == []
    text = (root / "reports/book/02_sample.html").read_text(encoding="utf-8")
    assert str(root) not in text and str(built_project[0]) not in text
    for nb in (root / "reports/executed").glob("*.ipynb"):
        body = nb.read_text(encoding="utf-8")
        assert '"start_time"' not in body and '"duration"' not in body and str(root) not in body, nb.name


def test_a_copied_project_reruns_nothing(reference, tmp_path):
    """The state is keyed by paths relative to the project."""
    root = copy_of(reference, tmp_path)
    proc = run_build(root)
    assert proc.returncode == 0, proc.stderr
    assert steps_run(proc) == set(), proc.stdout
    n = all_steps(reference)
    assert f"Up to date, not re-run: {n} of {n} steps" in proc.stdout
    assert differences(published(root), reference[1]) == []


# -- failed builds --------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["nb:01_cleaning@promote", "book@promote"])
def test_a_failed_build_changes_no_output_of_any_other_step(reference, other_export, tmp_path, where):
    """Issue 18, case 2: a build on export B fails in a later step, after the steps before it succeeded (and,
    here, after the failing step moved its first output into place): every output, data/derived/ included,
    is byte for byte the last complete build's; the next plain build has nothing to do."""
    root = copy_of(reference, tmp_path)
    failed = run_build(root, "-p", f"raw_path={other_export}", env={"VO_TEST_KILL_AT": f"{where}:FAIL"})
    assert failed.returncode == 1, failed.stdout + failed.stderr
    step = where.split("@")[0]
    assert f"start  {step}" in failed.stdout and f"FAILED {step}" in failed.stdout
    if step == "book":  # every other step of the build on B had succeeded
        assert {"nb:01_cleaning", "vektet:05_course_format", "results", "appendices"} <= steps_run(failed)
    lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("BUILD FAILED: ") or lines[0].startswith("BUILD FAILED: "), failed.stderr
    assert failed.stderr.count("BUILD FAILED") == 1 and "Traceback" not in failed.stderr, failed.stderr
    assert "Rolled back: " in failed.stdout, failed.stdout
    assert differences(published(root), reference[1]) == []
    assert not (root / "reports/.build/journal").exists()

    proc = run_build(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert steps_run(proc) == set(), proc.stdout  # records and doit's state are the reference's again
    assert differences(published(root), reference[1]) == []


# -- killed builds ------------------------------------------------------------------------

STEP_KINDS = ["nb:01_cleaning", "nb:03_role", "vektet:05_course_format", "results", "appendices", "book"]
SIGNALS = ["SIGKILL", "SIGTERM", "SIGINT"]
# Each case is one partial build on export B (killed at its step) and one repairing build, which is a no-op
# since a stopped build is rolled back (the uninterrupted reference is built once per session). `make test`
# runs one case per signal, at three kinds of step (the derived data, a weighted chapter, the render);
# VO_KILL_MATRIX=all (make test-interrupts) runs every signal at every kind of step.
DEFAULT_CASES = {("nb:01_cleaning", "SIGKILL"), ("vektet:05_course_format", "SIGTERM"), ("book", "SIGINT")}
KILL_CASES = [
    pytest.param(
        step,
        sig,
        marks=()
        if (step, sig) in DEFAULT_CASES or os.environ.get("VO_KILL_MATRIX") == "all"
        else pytest.mark.skip(reason="one of the full kill matrix: VO_KILL_MATRIX=all make test-interrupts"),
    )
    for step in STEP_KINDS
    for sig in SIGNALS
]


@pytest.mark.parametrize("step,sig", KILL_CASES)
def test_a_build_killed_at_any_step_is_repaired_by_the_next(reference, other_export, tmp_path, step, sig):
    """Build on export B, killed while the step moves its outputs into place; then a plain build.

    SIGTERM and SIGINT: the stopped build puts back what its finished steps replaced before it ends, so
    it changes no output at all. SIGKILL (no code runs): the next build plays the journal back first, and
    then has nothing to do: the outputs, the records and doit's state are the reference build's again.
    """
    root = copy_of(reference, tmp_path)
    killed = run_build(root, "-p", f"raw_path={other_export}", env={"VO_TEST_KILL_AT": f"{step}@promote:{sig}"})
    assert f"start  {step}" in killed.stdout
    if sig == "SIGKILL":
        assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
        assert differences(published(root), reference[1]), "the killed build should have changed something"
    else:
        assert killed.returncode == 128 + getattr(signal, sig), killed.stdout + killed.stderr
        lines = [line for line in killed.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("BUILD INTERRUPTED"), killed.stderr
        assert "Rolled back: " in killed.stdout, killed.stdout
        assert differences(published(root), reference[1]) == []  # a stopped build changes nothing

    proc = run_build(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ("restored the outputs of the last complete build" in proc.stdout) == (sig == "SIGKILL"), proc.stdout
    assert steps_run(proc) == set(), proc.stdout
    assert differences(published(root), reference[1]) == []
    assert not (root / "reports/_staging").exists() or not any((root / "reports/_staging").iterdir())
    assert not (root / "reports/.build/journal").exists()


def test_a_build_killed_at_the_start_of_a_chapter_does_not_publish_the_other_export(reference, other_export, tmp_path):
    """Issue 18, case 1: SIGKILL at «start nb:03_role» of a build on B, then a plain build: no B number left."""
    root = copy_of(reference, tmp_path)
    killed = run_build(root, "-p", f"raw_path={other_export}", env={"VO_TEST_KILL_AT": "nb:03_role@start:SIGKILL"})
    assert killed.returncode == -signal.SIGKILL
    proc = run_build(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "restored the outputs of the last complete build" in proc.stdout  # B's derived data gone first
    assert steps_run(proc) == set(), proc.stdout
    results = json.loads((root / "reports/results.json").read_text(encoding="utf-8"))
    assert results == json.loads((reference[0] / "reports/results.json").read_text(encoding="utf-8"))
    assert differences(published(root), reference[1]) == []


# -- other faults ---------------------------------------------------------------------------


def test_a_second_build_stops_at_once_naming_the_first_and_nothing_is_lost(reference, tmp_path):
    root = copy_of(reference, tmp_path)
    first = subprocess.Popen(
        preexec_fn=as_from_a_terminal,
        args=[sys.executable, "-m", "src.pipeline", "--renderer", "fallback", "-j", "1", "--notebooks", "03_role"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = root / "reports/.build/build.lock"
    for _ in range(300):
        if lock.exists() and str(first.pid) in lock.read_text():
            break
        time.sleep(0.1)
    second = run_build(root, "--notebooks", "03_role", timeout=120)
    out, err = first.communicate(timeout=600)
    assert second.returncode == 1
    assert f"another build is running in this project (pid {first.pid}, started " in second.stderr
    assert "] start " not in second.stdout
    assert first.returncode == 0, out + err
    assert differences(published(root), reference[1]) == []


def test_a_damaged_state_file_is_discarded_saying_so_and_the_build_recovers(reference, tmp_path):
    root = copy_of(reference, tmp_path)
    state = root / "reports/.build/doit-state.json"
    state.write_bytes(state.read_bytes()[: len(state.read_bytes()) // 2])
    proc = run_build(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reports/.build/doit-state.json was damaged" in proc.stdout and "discarded it" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert differences(published(root), reference[1]) == []


def test_a_foreign_file_in_the_book_folder_is_never_deleted(reference, tmp_path):
    root = copy_of(reference, tmp_path)
    (root / "reports/book/thesis.txt").write_text("mine")
    index = root / "index.qmd"
    original = index.read_bytes()
    index.write_bytes(original + b"\n\nEn ekstra setning.\n")  # the book renders again
    proc = run_build(root)
    assert proc.returncode == 0 and "book" in steps_run(proc), proc.stdout + proc.stderr
    assert (root / "reports/book/thesis.txt").read_text() == "mine"
    index.write_bytes(original)
    assert run_build(root).returncode == 0
    assert (root / "reports/book/thesis.txt").read_text() == "mine"
    assert differences(published(root), reference[1]) == ["reports/book/thesis.txt"]


def can_mount() -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    probe = Path(tempfile.mkdtemp())
    ok = (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)], capture_output=True).returncode
        == 0
    )
    if ok:
        subprocess.run(["umount", str(probe)])
    probe.rmdir()
    return ok


needs_mount = pytest.mark.skipif(not can_mount(), reason="needs root and mount (a real full or read-only file system)")


@needs_mount
def test_a_full_disk_during_the_render_names_the_cause_and_changes_nothing(reference, tmp_path):
    root = copy_of(reference, tmp_path)
    reports = root / "reports"
    kept = root / "reports.kept"
    reports.rename(kept)
    reports.mkdir()
    size = sum(p.stat().st_size for p in kept.rglob("*") if p.is_file())
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size + (3 << 20)}", "tmpfs", str(reports)], check=True)
    try:
        subprocess.run(["cp", "-a", f"{kept}/.", str(reports)], check=True)
        free = shutil.disk_usage(reports).free
        (reports / "filler").write_bytes(b"\0" * max(0, free - (512 << 10)))  # 0.5 MB left: the book needs 8
        before = published(root)
        index = root / "index.qmd"
        original = index.read_bytes()
        index.write_bytes(original + b"\n\nEn ekstra setning.\n")
        proc = run_build(root)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert proc.stderr.count("BUILD FAILED") == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "book: the disk is full" in proc.stderr, proc.stderr
        assert published(root) == before
        assert not (reports / "_staging" / "book").exists()
        (reports / "filler").unlink()
        subprocess.run(["mount", "-o", f"remount,size={size + (64 << 20)}", str(reports)], check=True)  # space again
        index.write_bytes(original)
        proc = run_build(root)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert differences(published(root), reference[1]) == []
    finally:
        subprocess.run(["umount", "-l", str(reports)])


@needs_mount
def test_a_read_only_reports_folder_gives_one_message(reference, tmp_path):
    root = copy_of(reference, tmp_path)
    reports = root / "reports"
    subprocess.run(["mount", "--bind", str(reports), str(reports)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(reports)], check=True)
        proc = run_build(root)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "read-only" in lines[0] and "reports/.build/build.lock" in lines[0], proc.stderr
    finally:
        subprocess.run(["umount", "-l", str(reports)])
    assert differences(published(root), reference[1]) == []


def test_ctrl_c_ends_with_one_line_and_leaves_no_kernel_files(reference, tmp_path):
    """Ctrl-C in a terminal: SIGINT to the build's whole process group, while a notebook runs."""
    root = copy_of(reference, tmp_path)
    proc = subprocess.Popen(
        preexec_fn=as_from_a_terminal,
        args=[
            sys.executable,
            "-m",
            "src.pipeline",
            "--renderer",
            "fallback",
            "-j",
            "1",
            "--notebooks",
            "05_course_format",
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "start  nb:05_course_format" in line:
            time.sleep(2)  # the kernel is up and running cells
            os.killpg(proc.pid, signal.SIGINT)
            break
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(lines) + out + err
    assert [line for line in err.splitlines() if line.strip()] == [
        "BUILD INTERRUPTED (Ctrl-C): nothing of this build is published, every output is the last complete "
        "build's; run the build again to finish."
    ], err
    time.sleep(1)
    assert not list(Path(tempfile.gettempdir()).glob(f"vo-kernel-{proc.pid}-*"))
    again = run_build(root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert differences(published(root), reference[1]) == []


def test_the_render_refuses_outputs_of_another_fingerprint(reference, tmp_path):
    """The last line of defence: even called directly, the render names what is not of this build."""
    root = copy_of(reference, tmp_path)
    nb = root / "reports/executed/03_role.ipynb"
    data = json.loads(nb.read_text(encoding="utf-8"))
    data["metadata"]["compendium"]["fingerprint"] = "f" * 64
    nb.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    code = """
import json
from src.pipeline import cli as build
from src.pipeline import graph as pipeline
from src.base.inputs import sha256
from src.pipeline import records
from src.pipeline import steps as build_steps
params = build.load_params()
fp = records.fingerprint(params, sha256(build.ensure_input(params)))
steps = [t["basename"] for t in pipeline.tasks(params, "fallback", fp)["task_notebooks"]()] + ["results", "appendices"]
print(json.dumps(build_steps.render(params, "fallback", fp, {}, steps).get_msg()))
"""
    before = snapshot(root / "reports/book")
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    msg = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "the book was not rendered: its inputs are not all from this build's inputs and parameters" in msg
    assert "reports/executed/03_role.ipynb" in msg and "nb:03_role" in msg
    assert snapshot(root / "reports/book") == before
    proc = run_build(root)  # the build itself re-runs the step that is not vouched for
    assert proc.returncode == 0 and "nb:03_role" in steps_run(proc), proc.stdout + proc.stderr
    assert differences(published(root), reference[1]) == []


def test_a_notebook_run_outside_the_build_writes_to_its_scratch_folder_only(reference, tmp_path):
    """papermill by hand (as JupyterLab would run it): reports/_interactive/, a note; the build re-runs nothing."""
    root = copy_of(reference, tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("VO_BUILD", "VO_DERIVED_STAGE")}
    code = (
        "import papermill as pm; pm.execute_notebook('notebooks/05_course_format.ipynb', "
        "'reports/_interactive/05.ipynb', parameters={'alpha': 0.01}, cwd='.', progress_bar=False)"
    )
    (root / "reports/_interactive").mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Kjørt utenfor byggingen" in (root / "reports/_interactive/05.ipynb").read_text(encoding="utf-8")
    assert (root / "reports/_interactive/results/05_course_format.json").exists()
    assert differences(published(root), reference[1]) == []
    proc = run_build(root)
    assert proc.returncode == 0 and steps_run(proc) == set(), proc.stdout
    assert differences(published(root), reference[1]) == []


def test_an_edited_parameters_cell_is_reported_and_the_builds_value_used(reference, tmp_path):
    root = copy_of(reference, tmp_path)
    path = root / "notebooks/03_role.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    cell["source"] = ["".join(cell["source"]).replace("alpha = 0.05", "alpha = 0.01")]
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    proc = run_build(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "03_role: its parameters cell says alpha = 0.01, params.yml 0.05; the build used alpha = 0.05" in proc.stdout
    for rel in ("reports/results/03_role.json", "reports/results.json"):
        assert (root / rel).read_bytes() == (reference[0] / rel).read_bytes()
