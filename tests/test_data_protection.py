"""Nothing confidential is committed, and open answers never reach what is published."""

from __future__ import annotations

import subprocess

import pytest

from src import paths

ALLOWED = ("README.md", "MANIFEST.sha256", ".gitkeep")


def tracked(*patterns: str) -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", *patterns], cwd=paths.ROOT, capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [line for line in out.splitlines() if line]


def test_no_data_file_is_tracked_unless_marked_synthetic():
    files = tracked("data/raw", "data/derived")
    bad = [f for f in files if not f.endswith(ALLOWED) and "synthetic" not in f.lower()]
    assert not bad, f"data files tracked that are not marked synthetic: {bad}"


def test_real_exports_and_derived_data_are_ignored():
    for probe in ("data/raw/export_from_surveyxact.sav", "data/derived/respondents.parquet", "reports/results.json"):
        proc = subprocess.run(["git", "check-ignore", "-q", probe], cwd=paths.ROOT)
        assert proc.returncode == 0, f"{probe} would not be ignored by git"


def test_derived_data_hold_no_free_text(sample, codebook):
    """01_cleaning drops every open answer: only coded themes leave it."""
    from src import helpers as h

    cleaned = h.drop_free_text(sample, codebook)
    free = [n for n, v in codebook.variables.items() if v.free_text]
    assert free and not set(free) & set(cleaned.columns)
