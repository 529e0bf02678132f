"""Shared fixtures: the codebook, the published numbers, a synthetic export, a built project.

A full build costs minutes: each one that several test files read is made once per
session here. Tests that change a built project work in a copy (``built_copy``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

from src import helpers as h
from src.base import paths
from src.base.codebook import load as load_codebook
from src.book import render
from src.synthetic import synthesize


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, by relative path: two builds (or a build before and
    after a failure) are the same when their snapshots are equal. Tests import it from here."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session")
def codebook():
    return load_codebook()


@pytest.fixture(scope="session")
def published():
    return h.load_published()


@pytest.fixture(scope="session")
def synthetic_frame(codebook, published):
    """The default synthetic export as a frame (export column names)."""
    return synthesize.synthesize(codebook=codebook, entries=published)


@pytest.fixture(scope="session")
def synthetic_sav(tmp_path_factory, synthetic_frame, codebook):
    """The default synthetic export written as .sav in a temporary folder."""
    path = tmp_path_factory.mktemp("raw") / "verneombud_2024_synthetic.sav"
    synthesize.write_sav(synthetic_frame, path, codebook)
    synthesize.write_synthetic_record(path, synthesize.FILE_LABEL)  # as generate() does
    return path


@pytest.fixture(scope="session")
def sample(synthetic_sav, codebook):
    """The analysis sample with recodes, as 01_cleaning makes it."""
    export = h.read_export(synthetic_sav, codebook)
    s, _, _ = h.apply_exclusions(export.data, codebook)
    return h.apply_recodes(h.drop_free_text(s, codebook), codebook)


def shared_dir(tmp_path_factory) -> Path:
    """A folder every test process of this run sees: under pytest-xdist (``make test`` runs the files on one
    worker per core) the workers' base temp folders share a parent; in a single process, the base temp."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_build(
    tmp_path_factory, name: str, *args: str, chapters: tuple[str, ...] | None = None, env: dict | None = None
) -> tuple[Path, subprocess.CompletedProcess]:
    """A fresh copy of the project built from scratch with ``args``, once per test run however many worker
    processes ask for it: the first one builds (under a file lock), the others wait for it and read its
    outcome. ``chapters``: only these notebooks in the copy's book (``with_chapters``). (root, the build's
    CompletedProcess); shared: never change it, copy it. ``env``: variables set for the build."""
    folder = shared_dir(tmp_path_factory)
    root, outcome = folder / name / "p", folder / f"{name}.json"
    with FileLock(str(folder / f"{name}.lock")):
        if not outcome.exists():
            shutil.rmtree(root.parent, ignore_errors=True)
            paths.copy_project(root)
            if chapters:
                with_chapters(root, chapters)
            cmd = [sys.executable, "-m", "src.pipeline", "--renderer", "fallback", *args]
            proc = subprocess.run(
                cmd, cwd=root, capture_output=True, text=True, timeout=1800, env={**os.environ, **(env or {})}
            )
            outcome.write_text(
                json.dumps({"args": cmd, "returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}),
                encoding="utf-8",
            )
        done = json.loads(outcome.read_text(encoding="utf-8"))
    return root, subprocess.CompletedProcess(done["args"], done["returncode"], done["stdout"], done["stderr"])


def with_chapters(root: Path, keep: tuple[str, ...]) -> None:
    """The project at ``root`` with only the notebooks ``keep`` in its book: the build runs the notebooks
    ``_quarto.yml`` lists (``contents.notebook_order``), so the others are neither run nor rendered."""
    from src.base import contents

    config = root / "_quarto.yml"
    lines = config.read_text(encoding="utf-8").splitlines(keepends=True)
    config.write_text(
        "".join(
            line
            for line in lines
            if not (line.strip().startswith("- reports/executed/") and Path(line.strip()[2:]).stem not in keep)
        ),
        encoding="utf-8",
    )
    listed = contents.notebook_order(contents.load_config(config))
    assert listed == list(keep), listed


# The chapters of the small project the fault-injection tests break (tests/test_interrupts.py,
# tests/test_mounted_folders.py): the first, whose derived data every chapter reads, and the ones their faults
# are injected into (a chapter's start and promotion, a weighted twin); the build machinery is the same for
# every chapter, and the full book's builds are tested whole elsewhere (tests/test_build.py).
SMALL_CHAPTERS = ("01_cleaning", "02_sample", "03_role", "05_course_format")


@pytest.fixture(scope="session")
def small_project(tmp_path_factory):
    """A fresh project whose book has only ``SMALL_CHAPTERS``, built once from scratch as ``built_project`` is
    (about a third of a full build's time): (root, the build's CompletedProcess). Shared: never change it."""
    root, proc = shared_build(tmp_path_factory, "small_project", chapters=SMALL_CHAPTERS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, proc


@pytest.fixture(scope="session")
def other_export(tmp_path_factory) -> Path:
    """Export B of the fault-injection tests (tests/test_interrupts.py, tests/test_mounted_folders.py): a smaller
    synthetic export with another seed (different numbers everywhere), written once per run for every worker."""
    folder = shared_dir(tmp_path_factory)
    out = folder / "export_b" / "B_synthetic.sav"
    with FileLock(str(folder / "export_b.lock")):
        done = folder / "export_b.done"  # a run that failed half-way is made again
        if not done.exists():
            shutil.rmtree(out.parent, ignore_errors=True)
            out.parent.mkdir(parents=True)
            proc = subprocess.run(
                [sys.executable, "-m", "src.synthetic.synthesize", "--seed", "7", "--size", "0.5", "--out", str(out)],
                cwd=paths.ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert proc.returncode == 0, proc.stderr
            done.write_text("")
    return out


@pytest.fixture(scope="session")
def built_project(tmp_path_factory):
    """A fresh copy of the project built once from scratch, as `make book` does (fallback renderer, the
    notebooks in parallel): (root, the build's CompletedProcess). Shared: never change it, copy it."""
    root, proc = shared_build(tmp_path_factory, "built_project")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, proc


@pytest.fixture(scope="session")
def built_project_again(tmp_path_factory):
    """A second fresh copy built from scratch, one notebook at a time (``-j 1``; ``built_project`` ran them
    in parallel) and each kernel started as its own process (``built_project`` forked them from the zygote,
    src/pipeline/zygote.py): two cold builds of the same inputs must agree. (root, CompletedProcess); never
    change it."""
    from src.pipeline import zygote

    return shared_build(tmp_path_factory, "built_project_again", "-j", "1", env={zygote.ENV: "off"})


def copy_built(built_project, dest: Path) -> Path:
    """A copy of the session's built project (outputs and build state included: it is up to date)."""
    shutil.copytree(built_project[0], dest, symlinks=True)
    return dest


@pytest.fixture(scope="session")
def quarto_built(tmp_path_factory, built_project):
    """A copy of the session's built project with its book rendered by Quarto (HTML + PDF; the build's book step
    alone re-runs), and the fallback of the same chapters: (root, the Quarto build's CompletedProcess, .gitignore
    as it was before, the fallback book). Made once per run for every worker (tests/test_quarto_book.py,
    tests/test_book_layout.py, tests/test_book_links.py); shared: never change it, copy it. The tests that use it
    skip where quarto is not on PATH."""
    folder = shared_dir(tmp_path_factory)
    root, outcome = folder / "quarto_built" / "p", folder / "quarto_built.json"
    with FileLock(str(folder / "quarto_built.lock")):
        if not outcome.exists():
            shutil.rmtree(root.parent, ignore_errors=True)
            copy_built(built_project, root)
            shutil.copy2(
                paths.ROOT / ".gitignore", root / ".gitignore"
            )  # Quarto appends to it unless its line is there
            gitignore = (root / ".gitignore").read_text(encoding="utf-8")
            proc = subprocess.run(
                [sys.executable, "-m", "src.pipeline", "--renderer", "quarto", "-j", "1"],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=1800,
            )
            if proc.returncode == 0:
                render.render_fallback(root / "fallback_book", root / "reports", root / "_quarto.yml")
            outcome.write_text(
                json.dumps(
                    {
                        "args": proc.args,
                        "returncode": proc.returncode,
                        "stdout": proc.stdout,
                        "stderr": proc.stderr,
                        "gitignore": gitignore,
                    }
                ),
                encoding="utf-8",
            )
        done = json.loads(outcome.read_text(encoding="utf-8"))
    proc = subprocess.CompletedProcess(done["args"], done["returncode"], done["stdout"], done["stderr"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return root, proc, done["gitignore"].encode("utf-8"), root / "fallback_book"


# The files that make builds of their own, longest first: `make test` hands whole files to its workers in
# collection order (--dist loadfile --no-loadscope-reorder), two to each worker at the start (the 1st and 3rd
# to one, the 2nd and 4th to the other), then one to whichever is free. test_interrupts.py, by far the
# longest (it also makes the session's two reference builds), is paired with a short one; the second worker
# starts with test_disclosure.py, whose build is its own (nobody waits for the reference build), and
# test_mounted_folders.py; the rest fill in. Measured per file (make test ARGS="-p tools.filetimes"):
# docs/development.md. Single-process runs are unaffected but for the order.
LONG_FIRST = (
    "test_interrupts.py",
    "test_disclosure.py",
    "test_bad_inputs.py",
    "test_mounted_folders.py",
    "test_build.py",
    "test_mapping.py",
    "test_coding.py",
    "test_quarto_book.py",  # with quarto on PATH: the Quarto render every Quarto test reads (quarto_built)
    "test_user_export_kept.py",
    "test_suppression.py",
    "test_weighting.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests keep their order
