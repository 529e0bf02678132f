"""Nothing confidential is committed, and open answers never reach what is published."""

from __future__ import annotations

import subprocess

import pytest

from src.base import paths

ALLOWED = ("README.md", "MANIFEST.sha256", ".gitkeep")


def tracked(*patterns: str) -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", *patterns], cwd=paths.ROOT, capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [line for line in out.splitlines() if line]


def test_no_data_file_is_tracked_unless_marked_synthetic():
    files = tracked("data/raw", "data/derived")
    bad = [f for f in files if not f.endswith(ALLOWED) and "synthetic" not in f.lower()]
    assert not bad, f"data files tracked that are not marked synthetic: {bad}"


def test_real_exports_and_derived_data_are_ignored():
    for probe in (
        "data/raw/export_from_surveyxact.sav",
        "data/derived/respondents.parquet",
        "reports/results.json",
        # an export or a table saved anywhere else, and the custom folders of a build
        "export.sav",
        "data/export.sav",
        "notebooks/export.sav",
        "notebooks/tabell.csv",
        "uttrekk.xlsx",
        "data/derived_2024/respondents.parquet",
        "data/derived_2024/data_info.json",
        "reports_2024/results.json",
        "reports_2024/tables/tabell_02.csv",
    ):
        proc = subprocess.run(["git", "check-ignore", "-q", probe], cwd=paths.ROOT)
        assert proc.returncode == 0, f"{probe} would not be ignored by git"


def test_derived_data_hold_no_free_text(sample, codebook):
    """01_cleaning drops every open answer: only coded themes leave it."""
    from src import helpers as h

    cleaned = h.drop_free_text(sample, codebook)
    free = [n for n, v in codebook.variables.items() if v.free_text]
    assert free and not set(free) & set(cleaned.columns)


def test_the_committed_data_files_are_the_bad_input_corpus_only():
    files = [
        f
        for f in tracked()
        if f.lower().endswith((".sav", ".zsav", ".por", ".parquet", ".xlsx", ".xls", ".csv", ".tsv"))
    ]
    assert files and all(f.startswith("tests/bad_inputs/files/") for f in files), files


def test_output_folders_git_would_not_ignore_are_refused():
    from src.base import inputs

    tracked()  # skips outside a git checkout
    ok = {"derived_dir": "data/derived_2024", "reports_dir": "reports_2024"}
    assert inputs.unignored_output_dirs(ok) == []
    assert inputs.unignored_output_dirs({"derived_dir": "data/derived", "reports_dir": "reports"}) == []
    bad = {"derived_dir": "notebooks/derived", "reports_dir": "src/out"}
    problems = inputs.unignored_output_dirs(bad)
    assert len(problems) == 2 and "'derived_dir' = 'notebooks/derived'" in problems[0]
    assert "git would not ignore" in problems[1]
    with pytest.raises(inputs.ParameterError, match="Invalid output folders"):
        inputs.check_output_dirs(bad)


def test_the_build_refuses_an_output_folder_git_would_not_ignore():
    import sys

    tracked()  # skips outside a git checkout
    proc = subprocess.run(
        [sys.executable, "-m", "src.pipeline", "--no-render", "-p", "reports_dir=ut_2024"],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "'reports_dir' = 'ut_2024': git would not ignore what the build writes there" in proc.stderr
    assert not (paths.ROOT / "ut_2024").exists()


def test_a_real_export_copied_into_the_bad_input_corpus_is_ignored(tmp_path):
    """tests/bad_inputs/files/ lets only its named hand-made files into git (#28): an export copied
    there (a researcher testing the corpus harness with a real file) is ignored, not offered for commit."""
    tracked()  # skips outside a git checkout
    folder = paths.ROOT / "tests" / "bad_inputs" / "files"
    copies = [folder / f"surveyxact_export_{n}" for n in ("test28.sav", "test28.csv", "test28.xlsx", "test28.zsav")]
    try:
        for c in copies:
            c.write_bytes(b"$FL2@(#) a real-shaped export")
        out = subprocess.run(
            ["git", "status", "--porcelain", "--ignored", "--untracked-files=all", str(folder)],
            cwd=paths.ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    finally:
        for c in copies:
            c.unlink(missing_ok=True)
    for c in copies:
        rel = c.relative_to(paths.ROOT).as_posix()
        assert f"!! {rel}" in out.splitlines(), f"{rel} is not ignored:\n{out}"
    assert not [line for line in out.splitlines() if line.startswith("??")], out
