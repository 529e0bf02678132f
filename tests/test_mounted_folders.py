"""The all-or-nothing build when an output folder is its own file system, and when that file system is full.

Issue 28, points 2 and 3. Researchers' servers mount volumes, containers bind-mount folders, and a
network share is another file system: a hard link (the journal's way to keep an old output) and a
rename (staging → place) cannot cross into it. Each test mounts a tmpfs over ``data/derived`` or
``reports/tables`` of a copy of the session's reference build (root and ``mount`` needed; skipped with a
message elsewhere), injects a kill or fills the disk, and then checks that the project is one build's:
byte for byte the reference, or, for the build that succeeds on the other export, derived data and book
of that export.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from test_interrupts import copy_of, differences, needs_mount, published, reference, run_build, steps_run  # noqa: F401

pytestmark = pytest.mark.slow


def mount_over(folder: Path, size: int) -> None:
    """A tmpfs of ``size`` bytes over ``folder``, holding what the folder held."""
    kept = folder.with_name(folder.name + ".kept")
    folder.rename(kept)
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    subprocess.run(["cp", "-a", f"{kept}/.", str(folder)], check=True)
    shutil.rmtree(kept)


def unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)])


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def one_failure(proc) -> list[str]:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.stderr.count("BUILD FAILED") == 1 and "Traceback" not in proc.stdout + proc.stderr, (
        proc.stdout + proc.stderr
    )
    return lines


def no_leftovers(root: Path) -> None:
    assert not (root / "reports/.build/journal").exists()
    assert not list(root.joinpath("data/derived").glob(".*tmp")), list(root.joinpath("data/derived").iterdir())
    assert not list(root.joinpath("reports").rglob(".*.vo-copy.tmp"))


# -- a separately mounted folder ------------------------------------------------------------

MOUNTED_CASES = [
    ("data/derived", "nb:01_cleaning@promote", "SIGKILL"),  # between two derived files
    ("data/derived", "nb:02_sample@start", "SIGKILL"),  # after 01_cleaning published B
    ("data/derived", "nb:02_sample@start", "SIGTERM"),  # the rollback itself, across the mount
    ("reports/tables", "nb:03_role@promote", "SIGKILL"),
]


@needs_mount
@pytest.mark.parametrize("mounted,where,sig", MOUNTED_CASES)
def test_a_build_killed_with_an_output_folder_on_another_file_system_is_repaired(
    reference, other_export, tmp_path, mounted, where, sig
):
    """A build on export B killed after 01_cleaning (or between two of its files), with ``mounted`` its own
    file system: SIGTERM rolls back across the mount; after SIGKILL the next build plays the journal back.
    Either way the project ends as the reference build, not B's derived data beside A's book."""
    root = copy_of(reference, tmp_path)
    folder = root / mounted
    mount_over(folder, 256 << 20)
    try:
        killed = run_build(root, "-p", f"raw_path={other_export}", env={"VO_TEST_KILL_AT": f"{where}:{sig}"})
        assert "done   nb:01_cleaning" in killed.stdout or where.startswith("nb:01"), killed.stdout
        if sig == "SIGKILL":
            assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
            assert differences(published(root), reference[1]), "the killed build should have changed something"
        else:
            assert killed.returncode == 128 + getattr(signal, sig), killed.stdout + killed.stderr
            lines = [line for line in killed.stderr.splitlines() if line.strip()]
            assert len(lines) == 1 and lines[0].startswith("BUILD INTERRUPTED"), killed.stderr
            assert "Rolled back: " in killed.stdout, killed.stdout
            assert differences(published(root), reference[1]) == []
        proc = run_build(root)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert steps_run(proc) == set(), proc.stdout
        assert differences(published(root), reference[1]) == []
        no_leftovers(root)
    finally:
        unmount(folder)


# -- a full disk -----------------------------------------------------------------------------


def fill(folder: Path, leave: int) -> Path:
    """Fill ``folder``'s file system but ``leave`` bytes."""
    filler = folder / "filler.bin"
    free = shutil.disk_usage(folder).free
    with open(filler, "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))
    return filler


@needs_mount
def test_a_full_disk_in_data_derived_names_it_and_never_mixes_two_exports(reference, other_export, tmp_path):
    """The disk of data/derived fills while 01_cleaning's derived data of export B are promoted: one
    message naming the full disk and the folder; data_info.json and respondents.parquet are still both the
    last complete build's (the derived data are promoted as a unit); once there is space again the next
    build on B succeeds, with derived data and book of B."""
    root = copy_of(reference, tmp_path)
    derived = root / "data/derived"
    mount_over(derived, 64 << 20)
    try:
        filler = fill(derived, 48 << 10)  # data_info.json fits, respondents.parquet does not
        failed = run_build(root, "-p", f"raw_path={other_export}")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        lines = one_failure(failed)
        message = " ".join(lines)
        assert "disk is full" in message and "data/derived" in message, failed.stderr
        filler.unlink()
        assert differences(published(root), reference[1]) == []
        no_leftovers(root)

        proc = run_build(root, "-p", f"raw_path={other_export}")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        info = json.loads((derived / "data_info.json").read_text(encoding="utf-8"))
        assert info["file"] == other_export.name
        import pandas as pd

        assert len(pd.read_parquet(derived / "respondents.parquet", columns=["resp_id"])) == info["n_sample"]
        assert other_export.name in (root / "reports/book/index.html").read_text(encoding="utf-8")
        no_leftovers(root)
    finally:
        unmount(derived)


@needs_mount
def test_a_full_disk_with_notebooks_ends_in_one_message(reference, tmp_path):
    """``--notebooks 05_course_format`` on a full reports disk: one BUILD FAILED naming the full disk (not
    tracebacks and «doit exit code 3»), nothing changed; with space again the build has nothing to repair."""
    root = copy_of(reference, tmp_path)
    reports = root / "reports"
    mount_over(reports, folder_size(reports) + (8 << 20))
    try:
        before = published(root)
        filler = fill(reports, 64 << 10)
        failed = run_build(root, "--notebooks", "05_course_format")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        lines = one_failure(failed)
        assert "disk is full" in " ".join(lines) and "doit exit code" not in failed.stderr, failed.stderr
        filler.unlink()
        assert published(root) == before
        proc = run_build(root)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert differences(published(root), reference[1]) == []
        no_leftovers(root)
    finally:
        unmount(reports)
