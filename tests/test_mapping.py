"""Mapping an export the codebook has never seen (issue #25): src/data/mapping.py, its use by read_export,
and a build from a differently shaped export (tests/realistic_export.py writes it from the synthetic one)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from src import helpers as h
from src.data import mapping as M
from src.data.export import ExportError

sys.path.insert(0, str(Path(__file__).parent))
import realistic_export as R  # noqa: E402
from conftest import copy_built  # noqa: E402


@pytest.fixture(scope="module")
def own(tmp_path_factory, synthetic_sav, codebook):
    """The realistic export with this project's own rewording: (path, truth, proposal)."""
    out = tmp_path_factory.mktemp("own") / "verneombud_2024_export.sav"
    truth = R.write(synthetic_sav, out, None, codebook)
    return out, truth, M.propose(M.read_dictionary(out), codebook)


@pytest.fixture(scope="module")
def independent(tmp_path_factory, synthetic_sav, codebook):
    """The realistic export with the names and labels of an independent writer (tests/data/export_relabel.yml)."""
    out = tmp_path_factory.mktemp("indep") / "verneombud_2024_export.sav"
    truth = R.write(synthetic_sav, out, R.RELABEL_FILE, codebook)
    return out, truth, M.propose(M.read_dictionary(out), codebook)


def confirmed_mapping(export, truth, codebook, where: Path) -> Path:
    path = where / "mapping.yml"
    path.write_text(M.render(M.propose(M.read_dictionary(export), codebook), export, codebook), encoding="utf-8")
    R.confirm(path, truth, codebook)
    return path


@pytest.mark.parametrize("which", ["own", "independent"])
def test_most_variables_are_mapped_right_unaided_and_the_rest_flagged(which, request, codebook):
    export, truth, proposal = request.getfixturevalue(which)
    right, n, wrong = R.accuracy(proposal, truth, codebook)
    assert right / n >= 0.95, wrong
    flagged = {x.name for x in proposal.lines if x.unsure}
    silent = [w for w in wrong if w.split(":")[0] not in flagged]
    assert not silent, silent  # every wrong line asks for confirmation
    for x in proposal.lines:
        if x.unsure and x.column:
            assert len(x.candidates) >= 2
    assert proposal.line("evaluation").column is None  # the dropped question is proposed as missing


def test_the_mapping_file_reads_as_one_line_per_variable_and_flags_personal_data(own, codebook):
    export, truth, proposal = own
    text = M.render(proposal, export, codebook)
    data = yaml.safe_load(text)
    assert set(data["variables"]) == {t.name for t in M.targets(codebook)}
    lines = text.splitlines()
    for name in data["variables"]:
        assert sum(line.startswith(f"  {name}:") for line in lines) == 1
    assert data["ignored"]["epost"].get("personal") is True
    assert "statoverall_4" in data["ignored"] and not data["ignored"]["statoverall_4"].get("personal")
    assert data["variables"]["evaluation"]["column"] is None and data["variables"]["evaluation"]["confirmed"] is False
    assert data["variables"]["satisfaction_overall"]["recode"] == {1: 5, 2: 4, 3: 3, 4: 2, 5: 1}
    assert data["variables"]["firm_size"]["recode"][99] == 9  # «Vet ikke» = 99 in the export, 9 in the codebook


def test_a_confirmed_mapping_gives_the_same_data_as_the_source(own, independent, synthetic_sav, codebook, tmp_path):
    source = h.read_export(synthetic_sav, codebook).data
    for export, truth, _ in (own, independent):
        mapping = confirmed_mapping(export, truth, codebook, tmp_path)
        got = h.read_export(export, codebook, mapping=mapping)
        assert got.absent == ("evaluation",)
        assert got.data["evaluation"].isna().all()
        assert not got.synthetic and got.looks_synthetic
        from src.data.coding import coded_variables

        # the generator's own theme columns (s_17_kode …) are no SurveyXact column: a real export has none
        want = source.drop(columns=["evaluation", *coded_variables(codebook)], errors="ignore")
        pd.testing.assert_frame_equal(
            got.data[want.columns].reset_index(drop=True), want.reset_index(drop=True), check_dtype=False
        )
        # the columns the codebook does not know never come in
        assert set(got.data.columns) <= set(codebook.variables)
        assert not got.data.astype(str).apply(lambda c: c.str.contains("@example.no")).any().any()


def test_without_a_mapping_the_failure_says_what_to_run_with_candidates(own, codebook):
    export, truth, _ = own
    with pytest.raises(ExportError) as err:
        h.read_export(export, codebook)
    text = str(err.value)
    assert f'make map ARGS="--raw {export}"' in text or 'make map ARGS="--raw' in text
    assert "s_1 ← spm1 1.00" in text  # a single question beside its best candidate
    assert "s_92_1…s_92_20 (20) ← spm39_a…spm39_t" in text  # a grid on one line
    assert "s_67 ← ?" in text  # the dropped question: no candidate
    assert "epost" in text and "statoverall_4" in text  # the export's unknown columns
    assert len(text.splitlines()) <= 50, len(text.splitlines())


def test_an_unconfirmed_uncertain_line_stops_the_build_naming_the_line(own, codebook, tmp_path):
    export, truth, proposal = own
    path = tmp_path / "proposal.yml"
    path.write_text(M.render(proposal, export, codebook), encoding="utf-8")
    with pytest.raises(ExportError) as err:
        h.read_export(export, codebook, mapping=path)
    text = str(err.value)
    line_no = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if t.startswith("  evaluation:"))
    assert f"line {line_no} (evaluation): not confirmed" in text
    assert "Traceback" not in text


def test_a_mapping_line_that_names_a_column_the_export_lacks_is_named(own, codebook, tmp_path):
    export, truth, _ = own
    path = confirmed_mapping(export, truth, codebook, tmp_path)
    data = yaml.safe_load(path.read_text())
    data["variables"]["gender"]["column"] = "kjonn"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    with pytest.raises(ExportError, match=r"\(gender\): column 'kjonn' is not in the export"):
        h.read_export(export, codebook, mapping=path)


def test_the_sample_cannot_lack_the_role_question(own, codebook, tmp_path):
    export, truth, _ = own
    path = confirmed_mapping(export, truth, codebook, tmp_path)
    data = yaml.safe_load(path.read_text())
    data["variables"]["role"] = {"column": None, "confirmed": True}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    with pytest.raises(ExportError, match=r"the export cannot lack 'role': the exclusion rules"):
        h.read_export(export, codebook, mapping=path)


def test_what_a_missing_question_takes_away_is_named(codebook):
    gone = M.unavailable(["evaluation"], codebook)
    assert gone == {
        "05_course_format": {
            "tables": ["evaluering"],
            "results": [
                "evaluation_amu_pct",
                "evaluation_dont_know_pct",
                "evaluation_form_feedback_pct",
                "evaluation_not_systematic_pct",
            ],
        }
    }
    assert M.unavailable(["topics_tools"], codebook)["06_topics"]["tables"] == ["figur_06"]
    assert M.unavailable([], codebook) == {}


def test_a_renamed_synthetic_export_is_protected_and_the_banner_says_what_it_is(synthetic_sav, codebook, tmp_path):
    copy = tmp_path / "verneombud_2024_export.sav"
    shutil.copy(synthetic_sav, copy)  # no generator record beside it
    export = h.read_export(copy, codebook)
    assert export.synthetic is False and export.looks_synthetic is True
    info = {
        "synthetic": False,
        "looks_synthetic": True,
        "file": copy.name,
        "sha256": "ab" * 32,
        "n_rows": 3,
        "n_sample": 2,
    }
    banner = h.data_banner(info)
    assert "REELLE" not in banner and "SYNTETISK" in banner and "skjermet som reelle data" in banner
    assert "REELLE data" in h.data_banner(dict(info, looks_synthetic=False))
    assert h.read_export(synthetic_sav, codebook).looks_synthetic is False  # vouched for: plainly synthetic


def test_make_map_writes_the_proposal_and_keeps_an_edited_one(own, tmp_path, capsys):
    export, _, _ = own
    out = tmp_path / "m.yml"
    assert M.main(["--raw", str(export), "--out", str(out)]) == 0
    assert "to check" in capsys.readouterr().out
    assert yaml.safe_load(out.read_text())["variables"]["role"]["column"] == "spm1"
    out.write_text(out.read_text() + "# my edits\n")
    assert M.main(["--raw", str(export), "--out", str(out)]) == 1
    assert "exists" in capsys.readouterr().err and out.read_text().endswith("# my edits\n")


def test_norwegian_normalisation():
    assert (
        M.fold("Helse, miljø og sikkerhet for VO/HVO i AMU?")
        == "hms for verneombud hovedverneombud i arbeidsmiljoutvalg"
    )
    assert M.text_similarity("Verken enig eller uenig", "Verken enig eller uenig") == 1.0
    assert M.text_similarity("Hverken enig eller uenig", "Verken enig eller uenig") > 0.6


# -- the build from the differently shaped export -------------------------------------------------------


def _numbers(results: dict) -> dict:
    return {k: v for k, v in results.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


@pytest.mark.slow
def test_a_mapped_export_builds_the_same_tables_and_numbers(built_project, tmp_path, codebook):
    root = copy_built(built_project, tmp_path / "p")
    raw = root / "data/raw/verneombud_2024_export.sav"
    truth = R.write(root / "data/raw/verneombud_2024_synthetic.sav", raw, R.RELABEL_FILE, codebook)
    rel = "data/raw/verneombud_2024_export.sav"
    (root / "data/mappings/verneombud_2024_export.yml").unlink(missing_ok=True)  # a fresh researcher: no mapping
    # without a mapping: the command and the candidates
    cmd = [
        sys.executable,
        "-m",
        "src.pipeline",
        "--renderer",
        "fallback",
        "--no-render",
        "-p",
        f"raw_path={rel}",
        "-p",
        "min_cell=0",
    ]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 1 and f'make map ARGS="--raw {rel}"' in proc.stderr, proc.stderr[-3000:]
    # make map, the researcher's confirmation, the build (min_cell=0: the synthetic build hides nothing either)
    mp = subprocess.run(
        [sys.executable, "-m", "src.data.mapping", "--raw", rel, "--force"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert mp.returncode == 0, mp.stderr
    R.confirm(root / "data/mappings/verneombud_2024_export.yml", truth, codebook)
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    want_root = built_project[0]
    want = {p.name: p for p in (want_root / "reports/tables").glob("*.csv")}
    got = {p.name: p for p in (root / "reports/tables").glob("*.csv")}
    gone = M.unavailable(["evaluation"], codebook)
    assert set(want) - set(got) == {f"{t}.csv" for nb in gone.values() for t in nb["tables"]}
    different = {n for n in got if n in want and not pd.read_csv(got[n]).equals(pd.read_csv(want[n]))}
    # only the chapter's comparison with the report differs: the question's numbers are «not made» there
    assert different == {f"avstemming_{nb[:2]}_tekst.csv" for nb in gone}, different
    want_results = json.loads((want_root / "reports/results.json").read_text())
    got_results = json.loads((root / "reports/results.json").read_text())
    unavailable = {f"05_course_format.{k}" for k in gone["05_course_format"]["results"]}
    assert all(got_results[k] is None for k in unavailable)
    mismatched = [
        k
        for k, v in _numbers(want_results).items()
        if k not in unavailable and got_results.get(k) != pytest.approx(v, rel=1e-9, abs=1e-12)
    ]
    assert not mismatched, mismatched[:20]
    # the export's own columns never reach the derived data
    derived = pd.read_parquet(root / "data/derived/respondents.parquet")
    assert not {"epost", "statoverall_4", "kanal"} & set(derived.columns)
    assert not derived.astype(str).apply(lambda c: c.str.contains("@example.no")).any().any()
    info = json.loads((root / "data/derived/data_info.json").read_text())
    assert info["absent"] == ["evaluation"] and info["looks_synthetic"] is True and info["synthetic"] is False
    chapter = (root / "reports/executed/05_course_format.ipynb").read_text()
    assert "Mangler i denne eksporten" in chapter and "kan ikke lages" in chapter


def test_a_mapping_made_for_another_dictionary_is_not_used_silently(own, codebook, tmp_path):
    export, truth, _ = own
    path = confirmed_mapping(export, truth, codebook, tmp_path)
    data = yaml.safe_load(path.read_text())
    data["dictionary"] = "0123456789abcdef"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    with pytest.raises(ExportError, match=r"names or labels changed since this mapping was proposed"):
        h.read_export(export, codebook, mapping=path)


def test_a_chapter_leaves_out_what_uses_a_lacking_question_and_says_so(sample, tmp_path, monkeypatch):
    said: list[str] = []
    monkeypatch.setattr(h, "display_markdown", said.append)
    derived = tmp_path / "d"
    derived.mkdir()
    data = sample.copy()
    data["seniority"] = pd.array([pd.NA] * len(data), dtype="Int64")  # as read through a mapping with column: null
    data.to_parquet(derived / "respondents.parquet", index=False)
    info = {
        "file": "x.sav",
        "sha256": "ab" * 32,
        "synthetic": False,
        "looks_synthetic": False,
        "n_rows": len(data),
        "n_sample": len(data),
        "absent": ["seniority"],
        "mapping": "data/mappings/x.yml",
    }
    (derived / "data_info.json").write_text(json.dumps(info))
    ch = h.Chapter("03_role", derived_dir=str(derived), reports_dir=str(tmp_path / "r"), min_cell=0)
    ch.banner()
    shown = said[-1]
    assert "Mangler i denne eksporten" in shown and "s_10 «" in shown and "tabell/figur «tabell_06»" in shown
    key = "03_role.t06_seniority.vo_vs_hvo.significant"
    assert ch.verdict(key) is None and ch.results[key] is None
    assert len(ch.verdict_table([key, "03_role.sufficient_time.vo_vs_hvo.significant"])) == 1
    assert ch.layout_table("tabell_06").empty  # not computed, not written, said so
    assert not (tmp_path / "r" / "tables" / "tabell_06.csv").exists()
    assert "kan ikke lages" in said[-1]
    assert ch.results["03_role.unavailable_tables"] == ["tabell_06"]
    ch.layout_table("tabell_07")  # a table that does not use it is made
    assert (tmp_path / "r" / "tables" / "tabell_07.csv").exists()


def test_the_build_rebuilds_when_the_mapping_changes(tmp_path, monkeypatch):
    from src.base import paths
    from src.pipeline import graph

    monkeypatch.setattr(paths, "MAPPINGS", tmp_path)
    assert graph.export_mapping("data/raw/eksport.sav") == []
    (tmp_path / "eksport.yml").write_text("variables: {}\n")
    assert graph.export_mapping("data/raw/eksport.sav") == [tmp_path / "eksport.yml"]  # a dependency of 01_cleaning
