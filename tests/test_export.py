"""Reading exports: what the bad-input corpus (tests/bad_inputs, run by test_bad_inputs.py) cannot reach.

Every kind of bad export is a case of the corpus, run through the real build
command; the tests here cover good CSV exports and read_export's own checks
that the build makes before it (a raw_path that does not exist)."""

from __future__ import annotations

import pytest

from src import helpers as h
from src.export import ExportError


def problems(path, codebook):
    with pytest.raises(ExportError) as info:
        h.read_export(path, codebook)
    return info.value


def test_missing_path_is_named(tmp_path, codebook):
    err = problems(tmp_path / "nope.sav", codebook)
    assert f"the file does not exist (raw_path = {tmp_path / 'nope.sav'})" in err.problems


def test_csv_export_in_utf8_reads_with_or_without_a_byte_order_mark(tmp_path, synthetic_frame, codebook):
    frame = synthetic_frame.copy()
    row = frame.index[frame["s_4"] == 30][0]
    frame.loc[row, "s_4_other"] = "Sjømat og næringsmiddel"  # æøå
    plain, bom = tmp_path / "export.csv", tmp_path / "export_excel.csv"
    frame.to_csv(plain, index=False, encoding="utf-8")
    frame.to_csv(bom, index=False, encoding="utf-8-sig")   # Excel's 'CSV UTF-8' starts with a BOM
    for path in (plain, bom):
        export = h.read_export(path, codebook)
        assert export.n_rows == len(synthetic_frame)
        assert list(export.data["resp_id"][:3]) == list(frame["respondent_id"][:3])
        assert export.data.loc[row, "industry_other_text"] == "Sjømat og næringsmiddel"
