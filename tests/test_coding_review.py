"""The review workflow of the open answers (#29): spreadsheet round trip, audit sample, carry-over, commands."""

from __future__ import annotations

import csv
import hashlib
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from src.data import coding, review

QUESTION = "insufficient_time_theme"


def _data(codebook, answers: dict[int, str]) -> pd.DataFrame:
    return pd.DataFrame({codebook.id: list(answers), "insufficient_time_reason_text": list(answers.values())})


def _numeric_looking_hex() -> str:
    """An answer whose plain 16-hex checksum a spreadsheet reads as a number (digits, one «e», digits)."""
    import re

    for i in range(200_000):
        text = f"For lite tid nr {i}"
        h = hashlib.sha256(text.encode()).hexdigest()[:16]
        if re.fullmatch(r"\d+e\d+", h):
            return text
    raise AssertionError("no such text found")


def _decide(path: Path, decisions: dict[str, str]) -> None:
    rows = coding.read_sheet(path)
    for r in rows:
        if r["id"] in decisions:
            r["forsker"] = decisions[r["id"]]
    coding.write_sheet(path, rows)


def _soffice():
    return shutil.which("soffice") or shutil.which("libreoffice")


def _through_libreoffice(sheet: Path, work: Path) -> Path:
    """Open the sheet in LibreOffice Calc (as a researcher imports it: ; separated, UTF-8), save as .xlsx,
    open that and save it as CSV again, the sheet's place."""
    exe = _soffice()
    profile = f"-env:UserInstallation=file://{work / 'profile'}"
    subprocess.run(
        [
            exe,
            "--headless",
            profile,
            "--infilter=CSV:59,34,76,1",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(work / "xlsx"),
            str(sheet),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    xlsx = work / "xlsx" / (sheet.stem + ".xlsx")
    subprocess.run(
        [
            exe,
            "--headless",
            profile,
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):59,34,76,1",
            "--outdir",
            str(work / "csv"),
            str(xlsx),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return work / "csv" / (sheet.stem + ".csv")


def test_the_sheet_survives_libreoffice_and_loses_no_decision(tmp_path, codebook):
    if not _soffice():
        pytest.skip("LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui")
    risky = _numeric_looking_hex()
    answers = {
        1: risky,
        2: "=ingen tid",
        3: "+47 ringer hele tiden",
        4: "-",
        5: "@sjefen bryr seg ikke",
        6: "12.3",
        7: "0012 timer i året",
        8: "For få folk på vakt",
    }
    raw = tmp_path / "export.sav"
    data = _data(codebook, answers)
    coding.write_review_sheets(raw, data, codebook)
    frame = coding.load_frames(codebook)[QUESTION]
    sheet = coding.sheet_path(raw, frame)
    decisions = {"R1": "1", "R2": "1", "R3": "2", "R4": "ikke svar", "R5": "4", "R6": "7", "R7": "1", "R8": "3"}
    _decide(sheet, decisions)
    # the old sheets' plain hex checksum: what a spreadsheet turns into a number
    with sheet.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    saved = _through_libreoffice(sheet, tmp_path / "lo")
    back = coding.read_sheet(saved)
    assert {r["id"] for r in back} == set(decisions)
    assert all(coding.parse_hash(r["kontroll"]) for r in back)  # every checksum still a checksum
    assert {r["id"]: r["svar"] for r in back}["R2"] == "=ingen tid"  # a formula-like answer stays text
    shutil.copy(saved, sheet)
    decided, stale, problems, unmatched, kinds = coding.reviews(sheet, frame, coding.answers(data, frame, codebook))
    assert (stale, problems, unmatched) == (0, [], [])
    assert {f"R{k}": v for k, v in decided.items()} == {
        k: (coding.parse_decision(frame, v)) for k, v in decisions.items()
    }
    assert kinds == {4: "ikke svar"}
    # the same trip for a plain hex value (the sheets before #29) loses it: the test can fail
    plain = tmp_path / "plain.csv"
    plain.write_text(
        "\ufeffid;kontroll\r\n"
        + "".join(f"R{i};{hashlib.sha256(answers[i].encode()).hexdigest()[:16]}\r\n" for i in answers),
        encoding="utf-8",
    )
    lost = _through_libreoffice(plain, tmp_path / "lo2")
    with lost.open(encoding="utf-8-sig") as fh:
        got = {r["id"]: r["kontroll"] for r in csv.DictReader(fh, delimiter=";")}
    assert got["R1"] != hashlib.sha256(risky.encode()).hexdigest()[:16]
    assert rows


def test_a_decision_whose_row_matches_no_answer_is_reported_by_id(tmp_path, codebook):
    raw = tmp_path / "export.sav"
    data = _data(codebook, {1: "For få folk", 2: "Sjefen bryr seg ikke"})
    coding.write_review_sheets(raw, data, codebook)
    frame = coding.load_frames(codebook)[QUESTION]
    sheet = coding.sheet_path(raw, frame)
    rows = coding.read_sheet(sheet)
    rows.append({"id": "R99", "forsker": "3", "kontroll": "h0000000000000000"})
    rows.append({"id": "1.79769313486232E+308x", "forsker": "2", "kontroll": ""})
    coding.write_sheet(sheet, rows)
    _, stale, _, unmatched, _ = coding.reviews(sheet, frame, coding.answers(data, frame, codebook))
    assert sorted(unmatched) == ["1.79769313486232E+308x", "R99"] and stale == 0
    _, summary = coding.apply(data, raw, codebook)
    assert summary.set_index("variable").loc[QUESTION, "n_unmatched"] == 2
    stats = coding.write_review_sheets(raw, data, codebook)[QUESTION]
    assert "R99" in stats["unmatched"]


def test_the_audit_sample_is_seeded_stated_and_first_and_kappa_uses_it_only(tmp_path, codebook):
    texts = [
        "For få folk på vakt",
        "Sjefen bryr seg ikke",
        "Ingen tid satt av",
        "Dårlig økonomi",
        "Jobber turnus",
        "Altfor travle dager",
    ]
    answers = {i: f"{texts[i % len(texts)]} ({i})" for i in range(1, 81)}
    raw = tmp_path / "export.sav"
    data = _data(codebook, answers)
    stats = coding.write_review_sheets(raw, data, codebook)[QUESTION]
    frame = coding.load_frames(codebook)[QUESTION]
    sheet = coding.sheet_path(raw, frame)
    rows = coding.read_sheet(sheet)
    audit = [r["id"] for r in rows if r["utvalg"] == coding.AUDIT]
    assert stats["audit"] == len(audit) == coding.AUDIT_SIZE and rows[0]["utvalg"] == coding.AUDIT
    assert [r["id"] for r in rows[: len(audit)]] == audit  # the audit rows come first
    assert {f"R{i}" for i in coding.audit_ids(frame, answers)} == set(audit)  # seeded: the same again
    conf = [float(r["sikkerhet"].split()[0].replace(",", ".")) for r in rows[len(audit) :]]
    assert conf == sorted(conf)  # then the least sure first
    # the researcher reviews 10 non-audit rows and 12 audit rows: kappa rests on the 12
    other = [r["id"] for r in rows if r["utvalg"] != coding.AUDIT][:10]
    _decide(sheet, {i: "7" for i in other} | {i: "1" for i in audit[:12]})
    _, summary = coding.apply(data, raw, codebook)
    s = summary.set_index("variable").loc[QUESTION]
    assert (s.n_reviewed, s.n_audit, s.n_audit_reviewed) == (22, coding.AUDIT_SIZE, 12)


def test_decisions_carry_over_to_a_renamed_export(tmp_path, codebook):
    first = {1: "For få folk på vakt", 2: "Sjefen bryr seg ikke", 3: "Ingen tid satt av", 4: "Jobber turnus"}
    old = tmp_path / "export_v1.sav"
    coding.write_review_sheets(old, _data(codebook, first), codebook)
    frame = coding.load_frames(codebook)[QUESTION]
    _decide(coding.sheet_path(old, frame), {"R1": "3", "R2": "4", "R3": "1"})
    second = {**first, 2: "Sjefen bryr seg ikke om vervet", 5: "Kutt i budsjettet"}
    new = tmp_path / "export_v2.sav"
    stats = coding.write_review_sheets(new, _data(codebook, second), codebook)[QUESTION]
    assert (stats["carried"], stats["carried_flagged"], stats["carried_from"]) == (2, 1, "export_v1")
    rows = {r["id"]: r for r in coding.read_sheet(coding.sheet_path(new, frame))}
    assert rows["R1"]["forsker"] == "3" and rows["R3"]["forsker"] == "1"
    assert rows["R2"]["forsker"] == "" and rows["R2"]["tidligere_forsker"] == "4"
    assert rows["R2"]["status"] == coding.STATUS_CHANGED
    _, summary = coding.apply(_data(codebook, second), new, codebook)
    assert summary.set_index("variable").loc[QUESTION, "n_reviewed"] == 2


def test_several_themes_and_the_kinds_of_not_coded(tmp_path, codebook):
    frame = coding.load_frames(codebook)["future_input_theme"]
    assert coding.parse_decision(frame, "3+5") == (3, 5) and coding.parse_decision(frame, "ingen tema") == (7,)
    single = coding.load_frames(codebook)[QUESTION]
    with pytest.raises(ValueError):
        coding.parse_decision(single, "3+5")  # a question with one theme per answer
    p = coding.propose(
        frame, "Leder og verneombud på samme kurs, og oppfriskning hvert år med repetisjon av regelverket"
    )
    assert set(p.themes[:2]) == {1, 2}


def test_make_coding_ends_with_the_exact_make_book_command(tmp_path):
    assert review.book_command(tmp_path / "my export.sav").startswith('make book ARGS="-p raw_path=')
    assert "'" in review.book_command(tmp_path / "my export.sav")
    import yaml

    from src.base import paths

    default = (yaml.safe_load(paths.PARAMS.read_text(encoding="utf-8")) or {}).get("raw_path")
    assert review.book_command(paths.resolve(default)) == "make book"


def test_suggested_new_themes_group_unrecognised_answers_by_id(codebook):
    frame = coding.load_frames(codebook)[QUESTION]
    rows = [
        {"id": f"R{i}", "svar": t, "forslag_tema": "Annet (ikke gjenkjent)", "forsker": ""}
        for i, t in enumerate(
            [
                "Parkeringen er langt unna møtelokalet",
                "Parkering ved møtelokalet mangler",
                "Langt å gå til møtelokalet fra parkeringen",
                "Noe helt annet her",
            ],
            start=1,
        )
    ]
    out = coding.suggest_themes(frame, rows)
    assert len(out) == 1 and out[0]["antall_svar"] == 3 and out[0]["eksempel_id"] == "R1 R2 R3"
    assert not any(r["svar"] in str(out) for r in rows)  # ids and stems, never an answer


def test_agreement_on_fewer_than_min_cell_audit_reviews_is_withheld(codebook):
    summary = pd.DataFrame(
        [
            {
                "variable": QUESTION,
                "n_answers": 40,
                "n_reviewed": 12,
                "n_audit": 30,
                "n_audit_reviewed": 3,
                "n_changed": 1,
                "agreement_pct": 66.7,
                "kappa": 0.5,
                "kappa_low": 0.1,
                "kappa_high": 0.9,
            }
        ]
    )
    shown = coding.agreement_table(summary, codebook, min_cell=5)
    assert shown[["Samsvar (prosent)", "Kappa", "KI nedre", "KI øvre"]].isna().all(axis=None)
    assert shown["Endret av forsker (kontrollutvalget)"].isna().all()
    assert coding.agreement_table(summary, codebook, min_cell=0)["Kappa"].iloc[0] == 0.5  # synthetic data
