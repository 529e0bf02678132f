"""The journal and the promotion across file systems, without mounting anything (issue 28, point 2).

``data/derived`` is made "another file system" by making every hard link and rename between it and the
rest fail as the kernel does (EXDEV). tests/test_mounted_folders.py does the same with a real tmpfs where
the machine allows mounting.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from src.base import paths
from src.pipeline import records


def other_fs(monkeypatch, tmp_path: Path, mounted: Path) -> None:
    real_link, real_replace = os.link, os.replace

    def device(p) -> int:
        return 1 if Path(p).resolve().is_relative_to(mounted) else 0

    def guard(a, b):
        if device(a) != device(b):
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(a), None, str(b))

    def link(a, b, *args, **kw):
        guard(a, b)
        return real_link(a, b, *args, **kw)

    def replace(a, b, *args, **kw):
        guard(a, b)
        return real_replace(a, b, *args, **kw)

    monkeypatch.setattr(os, "link", link)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(records, "same_file_system", lambda a, b: device(a) == device(b))


def test_a_build_rolled_back_across_file_systems_leaves_everything_as_before(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    reports, derived = tmp_path / "reports", tmp_path / "data" / "derived"
    derived.mkdir(parents=True)
    other_fs(monkeypatch, tmp_path, derived)

    def stage(name, files):
        folder = reports / "_staging" / name
        for rel, text in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text)
        return folder

    records.promote(
        stage("a", {"tables/a.csv": "1", "derived/r.parquet": "A rows", "derived/info.json": "A"}),
        reports,
        "nb:01_x",
        "fp-old",
        placement={"derived": derived},
    )
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}

    folder = records.begin_journal(reports, log=lambda msg: None)
    monkeypatch.setenv(records.JOURNAL_ENV, str(folder))
    records.promote(
        stage(
            "b", {"tables/a.csv": "2", "derived/r.parquet": "B rows", "derived/info.json": "B", "derived/new.json": "n"}
        ),
        reports,
        "nb:01_x",
        "fp-new",
        placement={"derived": derived},
    )
    assert (derived / "info.json").read_text() == "B" and (derived / "r.parquet").read_text() == "B rows"
    assert not list(derived.glob(".*tmp"))

    assert records.rollback(reports) > 0
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def test_a_full_disk_while_promoting_across_file_systems_changes_no_output(tmp_path, monkeypatch):
    """Every file that crosses is copied before any is renamed: a copy that fails leaves all of them as they were."""
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    reports, derived = tmp_path / "reports", tmp_path / "data" / "derived"
    derived.mkdir(parents=True)
    other_fs(monkeypatch, tmp_path, derived)
    (derived / "info.json").write_text("A")
    (derived / "r.parquet").write_text("A rows")
    stage = reports / "_staging" / "s"
    (stage / "derived").mkdir(parents=True)
    (stage / "derived" / "info.json").write_text("B")
    (stage / "derived" / "r.parquet").write_text("B rows")
    real_copy = records.shutil.copy2

    def copy2(a, b, *args, **kw):
        if Path(a).name == "r.parquet":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(b))
        return real_copy(a, b, *args, **kw)

    monkeypatch.setattr(records.shutil, "copy2", copy2)
    try:
        records.promote(stage, reports, "nb:01_x", "fp", placement={"derived": derived})
        raise AssertionError("the full disk went unnoticed")
    except OSError as exc:
        assert exc.errno == errno.ENOSPC and exc.filename == str(derived / "r.parquet")
        assert "the disk is full (data/derived/r.parquet)" in records.os_error_message(exc)
        assert "data/derived/" in records.os_error_message(exc)
    assert (derived / "info.json").read_text() == "A" and (derived / "r.parquet").read_text() == "A rows"
    assert sorted(p.name for p in derived.iterdir()) == ["info.json", "r.parquet"]  # no copy left behind
