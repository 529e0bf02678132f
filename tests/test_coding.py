"""The coding of the open answers (src/data/coding.py): frame, rules, review sheets, kappa, real-export path."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
import yaml

from src import helpers as h
from src.base import paths
from src.data import coding
from src.data.export import ExportError
from src.synthetic import synthesize

CASES = yaml.safe_load((Path(__file__).parent / "data" / "coding_cases.yml").read_text(encoding="utf-8"))
MIN_ACCURACY = 0.9  # share of the hand-written answers the rules must put in their theme


@pytest.fixture(scope="module")
def frames(codebook):
    return coding.load_frames(codebook)


# -- the frame ----------------------------------------------------------------------


def test_every_coded_theme_of_the_report_has_a_frame(frames, codebook):
    assert set(frames) == {
        "insufficient_time_theme",
        "hvo_further_training_theme",
        "future_input_theme",
        "role_factors_open_theme",
    }
    for name, f in frames.items():
        assert set(f.themes) | {f.not_coded} == set(codebook.variables[name].values), name
        assert all(codebook.variables[t].free_text for t in f.texts), name
        assert all(t.definition and t.indicators for t in f.themes.values()), name


def test_a_bad_frame_is_refused_with_every_problem(tmp_path, codebook):
    raw = yaml.safe_load(paths.CODEBOOK.read_text(encoding="utf-8"))
    raw["coding"]["insufficient_time_theme"]["not_coded"] = 42
    raw["coding"]["future_input_theme"]["text"] = ["role"]
    del raw["coding"]["role_factors_open_theme"]["themes"][3]
    p = tmp_path / "codebook.yml"
    p.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    from src.base.codebook import CodebookError, load

    with pytest.raises(CodebookError) as err:
        coding.load_frames(load(p))
    msg = str(err.value)
    assert "coding.insufficient_time_theme.not_coded is 42" in msg
    assert "'role' is not a free-text variable" in msg
    assert "codes [3] of role_factors_open_theme have no definition" in msg


@pytest.mark.parametrize("question", sorted(CASES))
def test_the_frame_codes_hand_written_answers(question, frames):
    cases = CASES[question]
    assert len(cases) >= 20, f"{question}: at least 20 hand-written answers"
    misses = []
    for code, text in cases:
        p = coding.propose(frames[question], text)
        if p.code != code:
            misses.append(f"{text!r}: expected {code}, proposed {p.code} ({p.why})")
    accuracy = 1 - len(misses) / len(cases)
    assert accuracy >= MIN_ACCURACY, f"{question}: {accuracy:.0%} right; misses:\n" + "\n".join(misses)
    assert {c for c, _ in cases} == set(frames[question].labels), "every theme (and «annet») has cases"


def test_the_hand_written_answers_are_not_the_generators_phrases():
    spec = yaml.safe_load((paths.REFERENCE / "synthesis.yml").read_text(encoding="utf-8"))
    phrases = set()
    for q in spec["questions"].values():
        ph = (q or {}).get("phrases") if isinstance(q, dict) else None
        if isinstance(ph, dict):
            phrases |= {coding.normalise(p) for opts in ph.values() for p in opts}
    assert phrases
    same = [t for cs in CASES.values() for _, t in cs if coding.normalise(t) in phrases]
    assert not same, same


# -- normalising and matching -----------------------------------------------------------


def test_normalise_folds_case_nfc_and_norwegian_letters():
    decomposed = unicodedata.normalize("NFD", "Økonomi på Ålesund-kontoret, ÆRLIG")
    assert coding.normalise(decomposed) == "okonomi pa alesund kontoret aerlig"
    assert coding.normalise("okonomi paa") == coding.normalise("økonomi på")


def test_indicator_forms_match_inflections_and_compounds():
    hit = coding.indicator_matches

    assert hit("bemanning", "Underbemanningen er stor")  # inside a compound, inflected
    assert hit("^leder", "Lederen bryr seg ikke") and not hit("^leder", "Avdelingslederen")
    assert hit("=vikar", "Ingen vikarer") and not hit("=vikar", "vikariat")
    assert hit("lav bemanning", "lav og dårlig bemanning")  # in order, at most two words apart
    assert not hit("lav bemanning", "lav og svært dårlig bemanning") and not hit("lav bemanning", "bemanning lav")
    assert hit("^leder + =sammen", "sammen med lederne") and not hit("^leder + =sammen", "lederne alene")
    assert hit("okonomi", "Dårlig ØKONOMI")  # æøå folded on both sides
    # #29: other forms through the stemmer, nynorsk spellings and typos, not longer lists
    assert hit("=ressurser", "Manglar ressursar") and hit("arbeidsgiver", "Arbeidsgjevaren bryr seg ikkje")
    assert hit("^ledelse", "Leiinga gir ikkje rom") and hit("=leder", "leiaren min")
    assert hit("bemanning", "bemaning er for dårleg")  # one letter missing
    assert hit("arbeidsmiljosenter", "kurs hos arbeidsmiljøsentret")  # a typo inside a compound
    assert not hit("=vikar", "vikariat") and not hit("=tid", "tidligere")


def test_a_proposal_says_which_words_decided_and_how_sure(frames):
    f = frames["insufficient_time_theme"]
    p = coding.propose(f, "Underbemanningen gjør at jeg ikke får vikar")
    assert p.code == 3 and "«Underbemanningen, vikar»" in p.why and p.score == 2 and p.band == "høy"
    assert coding.propose(f, "Underbemanningen gjør at jeg ikke får vikar") == p  # deterministic
    none = coding.propose(f, "Tja")
    assert none.code == f.not_coded and none.kind == "ikke gjenkjent" and none.band != "høy"
    assert none.why.startswith("ingen indikatorord")
    blank = coding.propose(f, "Vet ikke")
    assert blank.code == f.not_coded and blank.kind == "ikke svar"
    two = coding.propose(f, "Lite støtte fra ledelsen og dårlig økonomi")
    assert (two.code, two.runner_up) == (4, 5) and "5: «økonomi»" in two.why and two.band != "høy"
    # the point after «men» outweighs what comes before it
    assert coding.propose(f, "Ledelsen er grei nok, men det er ingen vikarer og for lite folk").code == 3


def test_negation_of_a_wish_is_not_the_wish(frames):
    f = frames["future_input_theme"]
    assert coding.propose(f, "Oppfriskningskurs hvert andre år").code == 2
    assert coding.propose(f, "Ikke behov for mer oppfriskningskurs, men mer om konflikter og psykisk helse").code == 4
    assert coding.propose(f, "Trenger ikke flere digitale kurs, vil møtes fysisk").code == 3  # keeps_negation


def test_coding_time_is_linear_with_a_cap(frames):
    import time

    f = frames["role_factors_open_theme"]
    coding.propose(f, "oppvarming")
    t = time.process_time()
    p = coding.propose(f, "a" * 1_000_000)  # 1 MB without a space
    q = coding.propose(f, "ledelsen støtter ikke " * 50_000)  # 1 MB of words
    assert time.process_time() - t < 10
    assert p.code == f.not_coded and q.code == 1 and "bare de første" in q.why


# -- Cohen's kappa ----------------------------------------------------------------------------


def _codings(table):
    a, b = [], []
    for i, row in enumerate(table):
        for j, n in enumerate(row):
            a += [i] * n
            b += [j] * n
    return a, b


def test_kappa_and_its_standard_error_against_a_hand_computed_2x2():
    # n = 50, cells 20 5 / 10 15: po = .70, rows .5 .5, columns .6 .4, pe = .50, kappa = .20 / .50 = .40.
    # Fleiss-Cohen-Everitt: A = .4(1 - 1.1·.6)² + .3(1 - .9·.6)² = .04624 + .06348 = .10972,
    # B = .6²(.1·(.6 + .5)² + .2·(.4 + .5)²) = .36 · .283 = .10188, C = (.4 - .5·.6)² = .01,
    # var = (.10972 + .10188 - .01) / (50 · .5²) = .016128, se = .126996.
    k = coding.cohen_kappa(*_codings([[20, 5], [10, 15]]))
    assert k.n == 50 and k.agreement == pytest.approx(0.70)
    assert k.kappa == pytest.approx(0.40)
    assert k.se == pytest.approx(math.sqrt(0.016128), abs=1e-9)
    assert (k.low, k.high) == (
        pytest.approx(0.40 - 1.959964 * 0.126996, abs=1e-5),
        pytest.approx(0.40 + 1.959964 * 0.126996, abs=1e-5),
    )


def test_kappa_of_the_textbook_3x3_example():
    # Fleiss (1981, table 13.1; Fleiss, Levin & Paik 2003, table 18.1): two psychiatrists, 100 patients,
    # po = .89, pe = .80·.80 + .10·.05 + .10·.15 = .66, kappa = .23 / .34 = .676.
    k = coding.cohen_kappa(*_codings([[75, 1, 4], [5, 4, 1], [0, 0, 10]]))
    assert k.kappa == pytest.approx(0.23 / 0.34) and round(k.kappa, 3) == 0.676
    from statsmodels.stats.inter_rater import cohens_kappa

    ref = cohens_kappa([[75, 1, 4], [5, 4, 1], [0, 0, 10]])
    assert k.kappa == pytest.approx(ref.kappa) and k.se == pytest.approx(ref.std_kappa)


def test_kappa_edge_cases():
    assert math.isnan(coding.cohen_kappa([], []).kappa)
    one = coding.cohen_kappa([1, 1, 1], [1, 1, 1])
    assert one.agreement == 1 and math.isnan(one.kappa)
    perfect = coding.cohen_kappa([1, 2, 1, 2], [1, 2, 1, 2])
    assert perfect.kappa == 1 and perfect.high == 1


# -- the review sheets --------------------------------------------------------------------------


def _data(codebook, answers: dict[int, str]) -> pd.DataFrame:
    return pd.DataFrame({codebook.id: list(answers), "insufficient_time_reason_text": list(answers.values())})


def _edit(path: Path, decisions: dict[str, str], delimiter=",", extra: dict[str, str] | None = None):
    """A researcher's edit, saved back the way LibreOffice's default CSV does (comma, no BOM)."""
    rows = coding.read_sheet(path)
    for r in rows:
        if r["id"] in decisions:
            r["forsker"] = decisions[r["id"]]
        for col, value in (extra or {}).items():
            r.setdefault(col, value)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)


def test_review_round_trip(tmp_path, codebook):
    raw = tmp_path / "export.sav"
    first = {101: "For få folk på vakt", 102: "Sjefen gir blaffen", 103: "Ingen tid satt av"}
    coding.write_review_sheets(raw, _data(codebook, first), codebook)
    sheet = coding.sheet_path(raw, coding.load_frames(codebook)["insufficient_time_theme"])
    assert sheet.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    rows = {r["id"]: r for r in coding.read_sheet(sheet)}
    assert set(rows) == {"R101", "R102", "R103"} and all(r["forsker"] == "" for r in rows.values())
    assert rows["R101"]["forslag"] == "3" and rows["R101"]["begrunnelse"] and rows["R102"]["forslag"] == "4"

    # the researcher decides two rows (one agrees, one changes the proposal; a label is fine too)
    _edit(sheet, {"R101": "3", "R103": "Økonomiske begrensninger"}, extra={"andre_koder": "sjekk"})
    # the export changes: 102's answer is rewritten, 104 is new
    second = {101: first[101], 102: "Lederen prioriterer ikke vervet", 103: first[103], 104: "Jobber turnus"}
    stats = coding.write_review_sheets(raw, _data(codebook, second), codebook)["insufficient_time_theme"]
    assert (stats["added"], stats["kept"], stats["changed"]) == (1, 2, 1)
    rows = {r["id"]: r for r in coding.read_sheet(sheet)}
    assert rows["R101"]["forsker"] == "3" and rows["R103"]["forsker"] == "Økonomiske begrensninger"  # kept
    assert rows["R101"]["andre_koder"] == "sjekk"  # a column the researcher added stays
    assert rows["R104"]["forsker"] == "" and rows["R104"]["forslag"] == "6"
    assert rows["R102"]["status"] == coding.STATUS_CHANGED_UNREVIEWED and rows["R102"]["tidligere_forsker"] == ""

    # a decided answer that changes: flagged, its decision moved aside, not used until confirmed
    _edit(sheet, {"R102": "4"})
    third = {**second, 102: "Leder gir ikke rom for det"}
    data = _data(codebook, third)
    out, summary = coding.apply(data, raw, codebook)
    row = summary.set_index("variable").loc["insufficient_time_theme"]
    assert row.n_stale == 1 and row.n_reviewed == 2 and row.n_changed == 1  # 103: proposed 1, researcher 5
    assert dict(zip(out[codebook.id], out["insufficient_time_theme"])) == {101: 3, 102: 4, 103: 5, 104: 6}
    coding.write_review_sheets(raw, data, codebook)
    rows = {r["id"]: r for r in coding.read_sheet(sheet)}
    assert rows["R102"]["forsker"] == "" and rows["R102"]["tidligere_forsker"] == "4"
    assert rows["R102"]["svar"] == third[102] and rows["R102"]["status"] == coding.STATUS_CHANGED

    # a respondent gone from the export keeps the row (its decision is not lost)
    coding.write_review_sheets(raw, _data(codebook, {k: v for k, v in third.items() if k != 101}), codebook)
    rows = {r["id"]: r for r in coding.read_sheet(sheet)}
    assert rows["R101"]["forsker"] == "3" and rows["R101"]["status"] == coding.STATUS_GONE

    # a flagged row decided again: the flag goes on the next run
    _edit(sheet, {"R102": "4"})
    coding.write_review_sheets(raw, data, codebook)
    rows = {r["id"]: r for r in coding.read_sheet(sheet)}
    assert rows["R102"]["status"] == "" and rows["R102"]["forsker"] == "4" and rows["R101"]["status"] == ""


def test_a_decision_that_is_not_a_theme_is_named(tmp_path, codebook):
    raw = tmp_path / "export.sav"
    data = _data(codebook, {7: "Turnus", 8: "Økonomi"})
    coding.write_review_sheets(raw, data, codebook)
    sheet = coding.sheet_path(raw, coding.load_frames(codebook)["insufficient_time_theme"])
    _edit(sheet, {"R7": "99", "R8": "tidsklemma"}, delimiter=";")
    with pytest.raises(coding.CodingError) as err:
        coding.apply(data, raw, codebook)
    msg = str(err.value)
    assert "2 problem(s)" in msg and "id R7" in msg and "'99'" in msg and "'tidsklemma'" in msg
    assert "insufficient_time_theme.csv, line 2" in msg


# -- the synthetic export and old exports --------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw") / "verneombud_2024_synthetic.sav"
    synthesize.generate(out)
    return out


def test_the_synthetic_export_has_free_text_and_no_coded_columns(generated, codebook, synthetic_frame):
    import pyreadstat

    _, meta = pyreadstat.read_sav(str(generated), metadataonly=True)
    assert not [c for c in meta.column_names if c.endswith("_kode")]
    assert {"s_17", "s_28", "s_91_other", "s_92_other", "s_95_other", "s_96_other"} <= set(meta.column_names)
    export = h.read_export(generated, codebook)
    data, summary = h.code_open_answers(export, codebook)
    # the generator's review sheets: every theme is the one the answer was written for
    for name in coding.load_frames(codebook):
        truth = synthetic_frame[codebook.variables[name].source].value_counts().sort_index()
        got = data[name].value_counts().sort_index()
        assert got.to_dict() == truth.to_dict(), name
    s = summary.set_index("variable")
    assert (s.n_reviewed == s.n_answers).all() and (s.n_stale == 0).all()
    assert s.loc["insufficient_time_theme", "n_answers"] == 711
    # the agreement figures measure the rules against the theme each answer was written for
    for name, f in coding.load_frames(codebook).items():
        answers = coding.answers(data, f, codebook).set_index("resp_id")["svar"]
        intended = synthetic_frame.set_index(codebook.variables[codebook.id].source)[codebook.variables[name].source]
        audit = coding.audit_ids(f, answers.index)
        blind = coding.Coder(f, [(t, [intended[r]]) for r, t in answers.items() if r not in audit])
        changed = sum(blind.propose(text).code != intended[rid] for rid, text in answers.items() if rid in audit)
        assert s.loc[name, "n_audit_reviewed"] == s.loc[name, "n_audit"] == min(coding.AUDIT_SIZE, len(answers))
        assert s.loc[name, "n_changed"] == changed, name
    # the generator repeats its phrases, so a coder trained on the other answers may get every audit answer right
    assert (s.kappa > 0.6).all()


def test_an_old_export_with_coded_columns_is_a_completed_review(synthetic_sav, codebook, synthetic_frame):
    export = h.read_export(synthetic_sav, codebook)  # written from the frame with the _kode columns
    assert "insufficient_time_theme" in export.data
    data, summary = h.code_open_answers(export, codebook)
    # the same values (the export holds its codes as Int16, src/data/derived.py; the themes are Int64)
    assert (
        data["insufficient_time_theme"].astype("Int64").equals(export.data["insufficient_time_theme"].astype("Int64"))
    )
    assert set(summary["review_source"]) == {"eksport"}


def test_make_coding_writes_sheets_for_an_export(tmp_path, synthetic_frame, codebook):
    raw = tmp_path / "surveyxact.sav"
    synthesize.write_sav(synthesize.without_coded_columns(synthetic_frame, codebook), raw, codebook)
    proc = subprocess.run(
        [sys.executable, "-m", "src.data.review", "--raw", str(raw)],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "insufficient_time_theme.csv: 711 answers, 711 new" in proc.stdout
    files = {p.name for p in paths.review_dir(raw).glob("*.csv")}
    assert files == {
        "insufficient_time_theme.csv",
        "hvo_further_training_theme.csv",
        "future_input_theme.csv",
        "role_factors_open_theme.csv",
        "kodeliste.csv",
        "forslag_nye_temaer.csv",
    }
    again = subprocess.run(
        [sys.executable, "-m", "src.data.review", "--raw", str(raw)],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "711 answers, 0 new, 0 changed since reviewed, 0 reviewed" in again.stdout


# -- a real-shaped export builds, and no free text reaches any output -------------------------------


def _texts(frame, codebook):
    labels = " ".join(v.label for v in codebook.variables.values()) + " ".join(
        lab for v in codebook.variables.values() for lab in v.values.values()
    )
    out = set()
    for v in codebook.variables.values():
        if v.free_text and v.source in frame:
            out |= {t for t in frame[v.source].dropna().astype(str) if len(t) >= 10 and t not in labels}
    return sorted(out)


@pytest.mark.slow
def test_a_real_shaped_export_builds_and_no_answer_reaches_an_output(tmp_path, synthetic_frame, codebook):
    """Free text, no coded columns, no review sheets, no 'synthetic' in its name: the rules' proposals build."""
    import pyreadstat

    raw = tmp_path / "surveyxact_export_2024.sav"
    frame = synthesize.without_coded_columns(synthetic_frame, codebook)
    value_labels = {
        s: {float(k): lab for k, lab in v.values.items()}
        for s, v in codebook.by_source().items()
        if v.values and s in frame
    }
    pyreadstat.write_sav(frame, str(raw), file_label="SurveyXact export", variable_value_labels=value_labels)
    # output folders must lie inside the project (and be ones git ignores): build in a copy of it
    root = paths.copy_project(tmp_path / "project")
    derived, reports = root / "data" / "derived_real", root / "reports_real"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "src.pipeline",
            "--no-render",
            "-j",
            "1",
            "-p",
            f"raw_path={raw}",
            "-p",
            "derived_dir=data/derived_real",
            "-p",
            "reports_dir=reports_real",
            "-p",
            "weighted=true",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    sample = pd.read_parquet(derived / paths.RESPONDENTS_FILE)
    for name in coding.load_frames(codebook):
        assert sample[name].notna().sum() > 0, name
    assert sample["insufficient_time_theme"].notna().sum() == 711
    results = json.loads((reports / paths.RESULTS_FILE).read_text(encoding="utf-8"))
    assert results["01_cleaning.coding.insufficient_time_theme.n_reviewed"] == 0
    assert results["03_role.n_insufficient_time_reasons_text"] == 711

    texts = _texts(frame, codebook)
    assert len(texts) > 50
    leaks = []
    for f in list(derived.rglob("*")) + list(reports.rglob("*")):
        if not f.is_file():
            continue
        if f.suffix == ".parquet":
            d = pd.read_parquet(f)
            strings = " ".join(
                d[c].dropna().astype(str).str.cat(sep=" ")
                for c in d.columns
                if d[c].dtype == object or str(d[c].dtype).startswith("string")
            )
            leaks += [(f.name, t) for t in texts if t in strings]
        else:
            body = f.read_bytes()
            leaks += [(f.name, t) for t in texts if t.encode("utf-8") in body or json.dumps(t)[1:-1].encode() in body]
    assert not leaks, leaks[:10]


def test_the_review_sheets_are_an_input_of_01_cleaning(tmp_path, codebook):
    """A researcher's saved decision re-runs 01_cleaning: its sheets are file dependencies of the step."""
    from src.pipeline import graph as pipeline

    raw = tmp_path / "export.sav"
    raw.write_bytes(b"not read here")
    coding.write_review_sheets(raw, _data(codebook, {1: "Turnus"}), codebook)
    params = {
        "raw_path": str(raw),
        "derived_dir": str(tmp_path / "d"),
        "reports_dir": str(tmp_path / "r"),
        "weighted": True,
        "lang": "nb",
        "alpha": 0.05,
        "min_cell": 5,
    }
    tasks = {t["basename"]: t for t in pipeline.tasks(params)["task_notebooks"]()}
    deps = set(tasks["nb:01_cleaning"]["file_dep"])
    sheets = {str(p) for p in coding.sheet_files(raw)}
    assert sheets and sheets <= deps
    assert str(paths.review_dir(raw) / coding.CODE_LIST) not in deps  # the code list is for the researcher
    assert not sheets & set(tasks["nb:03_role"]["file_dep"])


def test_a_bad_decision_stops_the_build_before_any_notebook(tmp_path, synthetic_frame, codebook):
    """The build's input check (validate_export) reads the review sheets too, and names the bad entry."""
    raw = tmp_path / "surveyxact.sav"
    synthesize.write_sav(synthesize.without_coded_columns(synthetic_frame, codebook), raw, codebook)
    export = h.read_export(raw, codebook)
    coding.write_review_sheets(raw, export.data, codebook)
    sheet = coding.sheet_path(raw, coding.load_frames(codebook)["future_input_theme"])
    first = coding.read_sheet(sheet)[0]["id"]
    _edit(sheet, {first: "Kurs"}, delimiter=";")
    with pytest.raises(ExportError) as err:
        h.validate_export(raw, codebook)
    assert f"future_input_theme.csv, line 2 (id {first}): forsker = 'Kurs' is not a code" in str(err.value)


def test_a_completed_review_trains_only_the_audit_samples_blind_model(tmp_path, codebook, monkeypatch):
    """Every answer decided: the audit sample's proposals come from a model that has not seen them (one fit),
    and no model is trained for the decided answers outside it, whose proposal nothing reads but whether the
    answer is a non-answer (which no model decides): it is counted as before."""
    from src.data import learner

    raw = tmp_path / "export.sav"
    frame = coding.load_frames(codebook)["insufficient_time_theme"]
    texts = {
        i: f"For få folk på vakt i uke {i}" if i % 2 else f"Ingen tid satt av til vervet, uke {i}" for i in range(1, 41)
    }
    texts.update({41: "vet ikke", 42: "-", 43: "Vet ikke."})
    data = _data(codebook, texts)
    coding.write_review_sheets(raw, data, codebook)
    sheet = coding.sheet_path(raw, frame)
    _edit(sheet, {r["id"]: r["forslag"] for r in coding.read_sheet(sheet)})  # the researcher accepts every proposal
    fits = []
    real_fit = learner.fit
    monkeypatch.setattr(learner, "fit", lambda *a, **k: fits.append(1) or real_fit(*a, **k))
    monkeypatch.setattr(coding, "_CODERS", {})  # no proposer trained by an earlier test
    out, summary = coding.apply(data, raw, codebook)
    row = summary.set_index("variable").loc["insufficient_time_theme"]
    assert row.n_reviewed == row.n_answers == 43 and row.n_audit == coding.AUDIT_SIZE
    assert len(fits) == 1  # the blind model of the audit sample; none for the rest
    audit = coding.audit_ids(frame, texts)
    outside = [i for i in (41, 42, 43) if i not in audit]
    assert outside, "the test needs a non-answer outside the audit sample"
    assert row.n_non_answer == 3  # each non-answer counted, in the audit sample or not
    assert all(out.set_index(codebook.id).loc[i, "insufficient_time_theme"] == frame.not_coded for i in (41, 42, 43))
