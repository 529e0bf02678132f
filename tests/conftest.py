"""Shared fixtures: the codebook, the published numbers, a synthetic export, a built project.

A full build costs minutes: each one that several test files read is made once per
session here. Tests that change a built project work in a copy (``built_copy``).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from src import helpers as h
from src.base import paths
from src.base.codebook import load as load_codebook
from src.synthetic import synthesize


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, by relative path: two builds (or a build before and
    after a failure) are the same when their snapshots are equal. Tests import it from here."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


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
    synthesize.write_synthetic_record(path, synthesize.FILE_LABEL)   # as generate() does
    return path


@pytest.fixture(scope="session")
def sample(synthetic_sav, codebook):
    """The analysis sample with recodes, as 01_cleaning makes it."""
    export = h.read_export(synthetic_sav, codebook)
    s, _, _ = h.apply_exclusions(export.data, codebook)
    return h.apply_recodes(h.drop_free_text(s, codebook), codebook)


@pytest.fixture(scope="session")
def built_project(tmp_path_factory):
    """A fresh copy of the project built once from scratch, as `make book` does (fallback renderer, the
    notebooks in parallel): (root, the build's CompletedProcess). Shared: never change it, copy it."""
    root = paths.copy_project(tmp_path_factory.mktemp("built_project") / "p")
    proc = subprocess.run([sys.executable, "-m", "src.pipeline", "--renderer", "fallback"],
                          cwd=root, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root, proc


@pytest.fixture(scope="session")
def built_project_again(tmp_path_factory):
    """A second fresh copy built from scratch, one notebook at a time (``-j 1``; ``built_project`` ran them
    in parallel): two cold builds of the same inputs must agree. (root, CompletedProcess); never change it."""
    root = paths.copy_project(tmp_path_factory.mktemp("built_project_again") / "p")
    proc = subprocess.run([sys.executable, "-m", "src.pipeline", "--renderer", "fallback", "-j", "1"],
                          cwd=root, capture_output=True, text=True, timeout=1800)
    return root, proc


def copy_built(built_project, dest: Path) -> Path:
    """A copy of the session's built project (outputs and build state included: it is up to date)."""
    shutil.copytree(built_project[0], dest, symlinks=True)
    return dest
