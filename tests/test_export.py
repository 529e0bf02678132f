"""Bad exports give one clear error naming file, column, values and rows."""

from __future__ import annotations

import pandas as pd
import pytest

from src import helpers as h
from src import synthesize
from src.export import ExportError


def write(frame, path, codebook):
    synthesize.write_sav(frame, path, codebook)
    return path


def problems(path, codebook):
    with pytest.raises(ExportError) as info:
        h.read_export(path, codebook)
    return info.value


def test_missing_column(tmp_path, synthetic_frame, codebook):
    err = problems(write(synthetic_frame.drop(columns="s_4"), tmp_path / "x.sav", codebook), codebook)
    assert "column 's_4' (industry: Bransje/næringsområde) is missing from the export" in str(err)
    assert "x.sav" in str(err)


def test_unknown_column(tmp_path, synthetic_frame, codebook):
    err = problems(write(synthetic_frame.assign(s_99=1.0), tmp_path / "x.sav", codebook), codebook)
    assert "'s_99'" in str(err) and "not in the codebook" in str(err)


def test_unknown_code_names_value_and_rows(tmp_path, synthetic_frame, codebook):
    frame = synthetic_frame.copy()
    frame.loc[frame.index[:2], "s_4"] = 31.0
    err = problems(write(frame, tmp_path / "x.sav", codebook), codebook)
    msg = str(err)
    assert "column 's_4' (industry): value(s) 31 (2 rows)" in msg
    assert "codes 1–30" in msg
    assert str(int(frame.loc[frame.index[0], "respondent_id"])) in msg


def test_duplicate_ids(tmp_path, synthetic_frame, codebook):
    frame = synthetic_frame.copy()
    frame.loc[1, "respondent_id"] = frame.loc[0, "respondent_id"]
    err = problems(write(frame, tmp_path / "x.sav", codebook), codebook)
    assert "duplicate respondent ids" in str(err)
    assert str(int(frame.loc[0, "respondent_id"])) in str(err)


def test_every_problem_listed_at_once(tmp_path, synthetic_frame, codebook):
    frame = synthetic_frame.drop(columns="s_6").copy()
    frame.loc[0, "s_7"] = 42.0
    frame.loc[2, "respondent_id"] = frame.loc[3, "respondent_id"]
    err = problems(write(frame, tmp_path / "x.sav", codebook), codebook)
    assert len(err.problems) == 3, err.problems


def test_truncated_file(tmp_path, synthetic_sav, codebook):
    bad = tmp_path / "truncated.sav"
    bad.write_bytes(synthetic_sav.read_bytes()[:5000])
    err = problems(bad, codebook)
    assert "cannot be read as SPSS .sav" in str(err) and "truncated" in str(err)


def test_empty_file_and_wrong_type_and_missing_path(tmp_path, codebook):
    (tmp_path / "empty.sav").write_bytes(b"")
    assert "empty (0 bytes)" in str(problems(tmp_path / "empty.sav", codebook))
    (tmp_path / "data.xlsx").write_bytes(b"PK\x03\x04")
    assert "file type '.xlsx' is not supported" in str(problems(tmp_path / "data.xlsx", codebook))
    assert "does not exist" in str(problems(tmp_path / "nope.sav", codebook))


def test_value_label_differing_from_codebook(tmp_path, synthetic_frame, codebook):
    import pyreadstat

    path = tmp_path / "x.sav"
    labels = {v.source: {float(k): lab for k, lab in v.values.items()} for v in codebook.variables.values() if v.values}
    labels["s_3"] = {1.0: "Kvinne", 2.0: "Gutt"}
    pyreadstat.write_sav(synthetic_frame, str(path), variable_value_labels=labels)
    assert "value labels differ from the codebook: 2: export 'Gutt' vs codebook 'Mann'" in str(problems(path, codebook))


def test_routed_question_answered_by_someone_not_routed(tmp_path, synthetic_frame, codebook):
    frame = synthetic_frame.copy()
    big = frame.index[frame["s_7"] == 8][0]
    frame.loc[big, "s_8"] = 1.0
    err = problems(write(frame, tmp_path / "x.sav", codebook), codebook)
    assert "column 's_8' (new_rules_2024): 1 respondent(s) answered although the routing" in str(err)


def test_csv_export_in_utf8_reads_and_latin1_is_refused(tmp_path, synthetic_frame, codebook):
    frame = synthetic_frame.copy()
    frame.loc[frame.index[frame["s_4"] == 30][0], "s_4_other"] = "Sjømat og næringsmiddel"  # æøå
    good = tmp_path / "export.csv"
    frame.to_csv(good, index=False, encoding="utf-8")
    assert h.read_export(good, codebook).n_rows == len(synthetic_frame)
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(good.read_text(encoding="utf-8").encode("latin-1", errors="replace"))
    assert "not UTF-8" in str(problems(bad, codebook))


def test_likert_value_out_of_range_is_named(tmp_path, synthetic_frame, codebook):
    src = next(v.source for v in codebook.variables.values() if v.scale == "agree5")
    frame = synthetic_frame.copy()
    row = frame.index[frame[src].notna()][0]
    frame.loc[row, src] = 7.0
    err = problems(write(frame, tmp_path / "x.sav", codebook), codebook)
    assert f"column '{src}'" in str(err) and "value(s) 7 (1 rows)" in str(err) and "codes 1–5" in str(err)


def test_all_rows_excluded_is_a_clear_error(synthetic_sav, codebook):
    export = h.read_export(synthetic_sav, codebook)
    amu_only = export.data.assign(role=pd.array([5] * len(export.data), dtype="Int64"))
    with pytest.raises(ValueError, match=r"all 2950 respondents were excluded .*amu_only: 2950"):
        h.apply_exclusions(amu_only, codebook)
