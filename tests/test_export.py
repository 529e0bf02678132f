"""Reading exports: what the bad-input corpus (tests/bad_inputs, run by test_bad_inputs.py) cannot reach.

Every kind of bad export is a case of the corpus, run through the real build
command; the tests here cover good CSV exports and read_export's own checks
that the build makes before it (a raw_path that does not exist)."""

from __future__ import annotations

import pytest

from src import helpers as h
from src.data.export import ExportError


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
    frame.to_csv(bom, index=False, encoding="utf-8-sig")  # Excel's 'CSV UTF-8' starts with a BOM
    for path in (plain, bom):
        export = h.read_export(path, codebook)
        assert export.n_rows == len(synthetic_frame)
        assert list(export.data["resp_id"][:3]) == list(frame["respondent_id"][:3])
        assert export.data.loc[row, "industry_other_text"] == "Sjømat og næringsmiddel"


# ---------------------------------------------------------------------------
# SPSS metadata a real SurveyXact export carries
# ---------------------------------------------------------------------------


def _sav(frame, path, codebook, **kwargs):
    """The old form of the export (value labels only) plus whatever metadata the test adds."""
    import pyreadstat

    labels = {
        s: {float(k): lab for k, lab in v.values.items()}
        for s, v in codebook.by_source().items()
        if v.values and s in frame
    }
    labels.update(kwargs.pop("variable_value_labels", {}))
    pyreadstat.write_sav(frame, str(path), variable_value_labels=labels, **kwargs)
    return path


def test_declared_user_missing_dont_know_is_still_an_answer(tmp_path, synthetic_frame, codebook):
    """«Vet ikke» (code 3 of s_8 and s_16) declared user-missing stays code 3: the report counts it."""
    plain = h.read_export(_sav(synthetic_frame, tmp_path / "plain.sav", codebook), codebook).data
    declared = h.read_export(
        _sav(
            synthetic_frame,
            tmp_path / "declared.sav",
            codebook,
            missing_ranges={"s_8": [3.0], "s_16": [{"lo": 3.0, "hi": 3.0}]},
        ),
        codebook,
    ).data
    assert (declared["new_rules_2024"] == 3).sum() == (plain["new_rules_2024"] == 3).sum() > 0
    assert declared["new_rules_2024"].value_counts().to_dict() == plain["new_rules_2024"].value_counts().to_dict()
    s16 = codebook.by_source()["s_16"].name
    assert declared[s16].equals(plain[s16])


def test_declared_missing_code_the_codebook_does_not_know_is_refused(tmp_path, synthetic_frame, codebook):
    frame = synthetic_frame.copy()
    frame.loc[frame.index[frame["s_16"].notna()][:2], "s_16"] = -1
    err = problems(_sav(frame, tmp_path / "m.sav", codebook, missing_ranges={"s_16": [-1.0]}), codebook)
    s16 = codebook.by_source()["s_16"].name
    assert any(p.startswith(f"column 's_16' ({s16}): the export declares -1 as user-missing") for p in err.problems)
    # a declared code no respondent uses is refused just the same (it names a code the codebook lacks)
    err = problems(_sav(synthetic_frame, tmp_path / "n.sav", codebook, missing_ranges={"s_8": [8.0]}), codebook)
    assert any("the export declares 8 as user-missing" in p for p in err.problems)


def test_labels_differing_only_in_unicode_normalisation_are_the_same(tmp_path, synthetic_frame, codebook):
    import unicodedata

    source, var = next(
        (s, v)
        for s, v in codebook.by_source().items()
        if v.values and any("ø" in lab or "å" in lab for lab in v.values.values())
    )
    nfd = {float(k): unicodedata.normalize("NFD", lab) for k, lab in var.values.items()}
    assert any(nfd[float(k)] != lab for k, lab in var.values.items())
    export = h.read_export(
        _sav(synthetic_frame, tmp_path / "nfd.sav", codebook, variable_value_labels={source: nfd}), codebook
    )
    assert export.n_rows == len(synthetic_frame)


def test_codes_stored_as_spss_strings_with_blanks_read_as_codes(tmp_path, synthetic_frame, codebook):
    frame = synthetic_frame.copy()
    frame["s_1"] = frame["s_1"].map(lambda v: "   " if v != v else str(int(v)))  # SPSS pads blank strings
    plain = h.read_export(_sav(synthetic_frame, tmp_path / "a.sav", codebook), codebook).data
    strings = h.read_export(_sav(frame, tmp_path / "b.sav", codebook, variable_value_labels={"s_1": {}}), codebook).data
    assert strings["role"].equals(plain["role"])


def test_alphanumeric_respondent_ids(tmp_path, synthetic_frame, codebook):
    frame = synthetic_frame.copy()
    frame["respondent_id"] = frame["respondent_id"].map(lambda v: f"R{int(v)}")
    export = h.read_export(_sav(frame, tmp_path / "ids.sav", codebook), codebook)
    assert export.data["resp_id"].iloc[0] == frame["respondent_id"].iloc[0]
    frame.loc[1, "respondent_id"] = frame.loc[0, "respondent_id"]
    err = problems(_sav(frame, tmp_path / "dup.sav", codebook), codebook)
    # a text id may name a person: the message shows its row, never the id (#28)
    assert any("duplicate respondent ids row 1, row 2 (2 rows)" in p for p in err.problems), err.problems
    assert not any(frame.loc[0, "respondent_id"] in p for p in err.problems)


def test_a_fifo_as_raw_path_is_named_as_such(tmp_path, codebook):
    import os

    fifo = tmp_path / "export.sav"
    os.mkfifo(fifo)
    err = problems(fifo, codebook)
    assert err.problems == ["raw_path is a named pipe (FIFO), not a file; it must name the export file (.sav or .csv)"]
