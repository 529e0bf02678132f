"""Shared fixtures: the codebook, the published numbers, a synthetic export."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from src import helpers as h
from src.synthetic import synthesize
from src.base.codebook import load as load_codebook


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
