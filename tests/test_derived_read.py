"""The derived data in little memory (issue 28, point 8: a 100x export built within 2 GB).

A chapter's frame and 01_cleaning's frames hold survey codes as ``Int16`` (not ``Int64``), the files keep
their ``Int64`` types and bytes, every value is the same, and the build's own process does not read the
export (a child process validates it), so the doit workers forked from it start small.
"""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from src import helpers as h
from src.base import paths
from src.data import derived
from src.data.derived import BATCH, HEADROOM, as_written, compact, compact_dtype, read_derived


def frame(n: int = 500, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols = {
        f"q{i}": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(1, 12, n)), dtype="Int64")
        for i in range(2 * BATCH + 3)
    }  # more than two batches
    cols["resp_id"] = pd.array(np.arange(100001, 100001 + n), dtype="Int64")
    cols["big"] = pd.array(rng.integers(-400, 400, n), dtype="Int64")  # 400 x 100 > Int16
    cols["empty"] = pd.array([None] * n, dtype="Int64")
    cols["index"] = rng.random(n)
    cols["label"] = pd.array(rng.choice(["a", None], n), dtype="string")
    return pd.DataFrame(cols)


def test_compact_types_keep_every_value_with_headroom():
    df = frame()
    small = compact(df)
    assert small["q0"].dtype == pd.Int16Dtype() and small["empty"].dtype == pd.Int16Dtype()
    assert small["big"].dtype == pd.Int32Dtype()  # |values| x HEADROOM must fit: -400 x 100 does not in Int16
    assert small["resp_id"].dtype == pd.Int32Dtype()
    assert small["index"].dtype == np.float64 and small["label"].dtype == df["label"].dtype
    assert compact_dtype(pd.Series([2**40], dtype="Int64")) == pd.Int64Dtype()
    assert int(np.iinfo(np.int16).max) >= 11 * HEADROOM
    assert as_written(small).equals(df)
    assert small.memory_usage(deep=True).sum() < 0.45 * df.memory_usage(deep=True).sum()


@pytest.mark.parametrize("whole_cells", [0, 10**9], ids=["in batches", "at once"])
def test_read_derived_is_the_file_in_compact_types(tmp_path, monkeypatch, whole_cells):
    """A large file is read a batch of columns at a time, a small one at once: the same frame either way."""
    monkeypatch.setattr(derived, "WHOLE_CELLS", whole_cells)
    df = frame()
    df.to_parquet(tmp_path / "respondents.parquet", index=False)
    got = read_derived(tmp_path / "respondents.parquet")
    assert list(got.columns) == list(df.columns) and isinstance(got.index, pd.RangeIndex)
    assert as_written(got).equals(df)
    only = read_derived(tmp_path / "respondents.parquet", columns=["label", "q3"])
    assert list(only.columns) == ["q3", "label"] and only["q3"].dtype == pd.Int16Dtype()


def test_the_derived_files_keep_their_bytes(tmp_path):
    """write_derived writes the compact frames with their Int64 types: the same bytes as before."""
    df = frame()
    buf_a, buf_b = io.BytesIO(), io.BytesIO()
    df.to_parquet(buf_a, index=False)
    as_written(compact(df)).to_parquet(buf_b, index=False)
    assert buf_a.getvalue() == buf_b.getvalue()


def test_a_chapter_holds_the_sample_in_compact_types(tmp_path):
    """Chapter.data: a third of the memory of the Int64 frame, the same values (tests against today's main:
    Int64, every column)."""
    df = frame(2000)
    df.to_parquet(tmp_path / paths.RESPONDENTS_FILE, index=False)
    df.to_parquet(tmp_path / paths.EXCLUDED_FILE, index=False)
    ch = h.Chapter("02_sample", str(tmp_path), str(tmp_path / "reports"), False, "nb", 0.05)
    assert ch.data["q1"].dtype == pd.Int16Dtype() and ch.excluded["q1"].dtype == pd.Int16Dtype()
    assert ch.data.memory_usage(deep=True).sum() < 0.45 * df.memory_usage(deep=True).sum()
    assert as_written(ch.data).equals(df)


def test_read_export_holds_codes_in_compact_types(synthetic_sav, codebook):
    export = h.read_export(synthetic_sav, codebook)
    codes = [v.name for v in codebook.variables.values() if v.type not in ("id", "text") and v.name in export.data]
    assert codes and all(export.data[c].dtype == pd.Int16Dtype() for c in codes)
    assert export.data[codebook.id].dtype == pd.Int64Dtype()


@pytest.mark.slow
def test_the_build_process_does_not_read_the_export(synthetic_sav, tmp_path):
    """The export is validated in a child process: the build's process never imports pandas to read it (its
    doit workers are forked from it), and a bad export still stops the build with the export's own message."""
    code = (
        "import sys; from src.pipeline import cli; p = cli.load_params(None, ['reports_dir=reports_t28']);"
        f"cli.validate_input(p, __import__('pathlib').Path({str(synthetic_sav)!r}));"
        "print('pandas' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=paths.ROOT, capture_output=True, text=True, timeout=300)
    import shutil

    shutil.rmtree(paths.ROOT / "reports_t28", ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False", proc.stdout + proc.stderr

    bad = tmp_path / "bad.sav"
    bad.write_bytes(b"not an SPSS file at all" * 10)
    code = (
        "from src.pipeline import cli; p = cli.load_params(None, ['reports_dir=reports_t28b']);"
        f"cli.validate_input(p, __import__('pathlib').Path({str(bad)!r}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=paths.ROOT, capture_output=True, text=True, timeout=300)
    shutil.rmtree(paths.ROOT / "reports_t28b", ignore_errors=True)
    assert proc.returncode == 1 and "ExportError" in proc.stderr, proc.stderr
    assert "Process ForkProcess" not in proc.stderr  # the child says nothing; the message is the parent's
