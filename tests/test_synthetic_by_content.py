"""Synthetic or real is decided by the export's content (the generator's record), never by its name."""

from __future__ import annotations

import shutil

import pyreadstat

from src import helpers as h
from src.base import inputs
from src.synthetic import synthesize


def test_the_generators_export_is_synthetic(synthetic_sav, codebook):
    assert h.read_export(synthetic_sav, codebook).synthetic is True


def test_a_real_export_named_synthetic_is_real(tmp_path, synthetic_frame, codebook):
    """'synthetic' in the file name and even the generator's file label do not make it synthetic."""
    for name, label in (
        ("verneombud_2024_ikke_synthetic_reelle_svar.sav", "SurveyXact export"),
        ("synthetic.sav", synthesize.FILE_LABEL),
    ):
        raw = tmp_path / name
        pyreadstat.write_sav(synthetic_frame, str(raw), file_label=label)
        assert h.read_export(raw, codebook).synthetic is False, name


def test_a_copy_without_its_record_or_an_edited_copy_is_real(tmp_path, synthetic_sav, codebook):
    copy = tmp_path / "verneombud_2024_synthetic.sav"
    shutil.copy(synthetic_sav, copy)
    assert h.read_export(copy, codebook).synthetic is False  # no record beside it
    shutil.copy(inputs.synthetic_record_file(synthetic_sav), inputs.synthetic_record_file(copy))
    assert h.read_export(copy, codebook).synthetic is True  # the record travels with it
    data = bytearray(copy.read_bytes())
    data[-1] ^= 1  # one byte changed
    copy.write_bytes(bytes(data))
    assert inputs.is_synthetic(copy, synthesize.FILE_LABEL) is False


def test_the_record_follows_what_the_writer_wrote(tmp_path, synthetic_frame, codebook):
    """The record is the sha256 of the file as written, whatever the writer puts in it."""
    raw = tmp_path / "x.sav"
    synthesize.write_sav(synthetic_frame, raw, codebook)
    inputs.write_synthetic_record(raw, synthesize.FILE_LABEL)
    assert inputs.is_synthetic(raw, synthesize.FILE_LABEL)
    assert not inputs.is_synthetic(raw, "SurveyXact export")  # the label must match too
