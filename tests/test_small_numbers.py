"""No number about 1 to 4 people in any output of a real build (#28): the groups-of-1–4 search.

One build (module fixture) of a real-shaped export (tests/disclosure_fixture.py: no generator record
vouches for it, so it counts as real) with groups of 1–4 wherever a count can come from:

- categories of closed questions: 3 hovedverneombud, 3 in firms under 10 employees, 2 in oil and gas;
- a theme coded for 3 respondents: the open answers of the 3 hovedverneombud (hvo_further_training_theme);
- coding reviews: 3 answers of the insufficient-time question reviewed, in its review sheet as
  ``make coding`` writes it (src/data/review.py), 2 of the 3 proposals changed.

Then every output file (tables, results.json, executed notebooks, book HTML, notebook views, derived
data's info) is searched for those numbers in the contexts they would appear in. A second build, of a
one-respondent export, fails in 01_cleaning: its kept failed notebook must not show «1 respondenter».
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from src.base import paths
from src.data import coding

sys.path.insert(0, str(Path(__file__).parent))
from disclosure_fixture import small_groups_frame, write_real_shaped  # noqa: E402

pytestmark = pytest.mark.slow

TEXT = (".json", ".csv", ".md", ".html", ".ipynb", ".txt", ".qmd")
REVIEWED = "insufficient_time_theme"
SMALL = "[1-4]"
# the contexts a count of 1-4 would be published in (prose, views, executed notebooks)
PROSE = [
    rf"(?<![\d.,]){SMALL} svar\b",
    rf"(?<![\d.,]){SMALL} gjennomgått",
    rf"endret {SMALL} av forslagene",
    rf"(?<![\d.,]){SMALL} respondenter",
    rf"(?<![\d.,]){SMALL} i analyseutvalget",
    rf"for de {SMALL} som ikke er gjennomgått",
    rf"\"n_(answers|reviewed|changed|stale)\": {SMALL}\b",
]


def build(root: Path, raw: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "src.pipeline", "-j", "2", "--renderer", "fallback", "-p", f"raw_path={raw}"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=3600,
    )


@pytest.fixture(scope="module")
def real_build(tmp_path_factory, synthetic_frame, codebook):
    root = paths.copy_project(tmp_path_factory.mktemp("small_numbers") / "project")
    from src.synthetic.synthesize import without_coded_columns

    frame = without_coded_columns(small_groups_frame(synthetic_frame))  # no hand-made codes: the sheets decide
    raw = write_real_shaped(frame, tmp_path_factory.mktemp("raw") / "surveyxact_export.sav", codebook)
    # the researcher reviews 3 answers (make coding's sheet, then a decision in 'forsker'), changing 2 proposals
    from src.data.export import read_export

    data = read_export(raw, codebook).data
    frames = coding.load_frames(codebook)
    current = coding.answers(data, frames[REVIEWED], codebook)
    other = [c for c in frames[REVIEWED].themes if c != frames[REVIEWED].not_coded]
    decided = {}
    audit = coding.audit_ids(frames[REVIEWED], current["resp_id"])  # agreement rests on the audit sample (#29)
    in_audit = current[current["resp_id"].astype(int).isin(audit)]
    for i, (rid, text) in enumerate(in_audit[["resp_id", "svar"]].head(3).itertuples(index=False)):
        proposed = coding.propose(frames[REVIEWED], text).code
        decided[int(rid)] = proposed if i == 0 else next(c for c in other if c != proposed)
    coding.write_review_sheets(raw, data, codebook, decided={REVIEWED: decided})
    hvo_answers = coding.answers(data, frames["hvo_further_training_theme"], codebook)
    proc = build(root, raw)
    return {
        "proc": proc,
        "root": root,
        "reports": root / "reports",
        "derived": root / "data" / "derived",
        "n_hvo_answers": len(hvo_answers),
    }


def text_files(*folders: Path):
    for folder in folders:
        for f in sorted(folder.rglob("*")):
            if f.is_file() and f.suffix in TEXT:
                yield f, f.read_text(encoding="utf-8", errors="replace")


def test_the_real_build_runs_with_its_small_groups(real_build):
    proc = real_build["proc"]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    info = json.loads((real_build["derived"] / paths.DATA_INFO_FILE).read_text(encoding="utf-8"))
    assert info["synthetic"] is False
    assert real_build["n_hvo_answers"] == 3  # the theme coded for 3 respondents


def test_no_count_of_1_to_4_in_results_json(real_build):
    for f in (real_build["reports"] / paths.RESULTS_FILE, real_build["reports"] / "weighted" / paths.RESULTS_FILE):
        results = json.loads(f.read_text(encoding="utf-8"))
        small = {
            k: v
            for k, v in results.items()
            if re.search(r"\.(n|n_[a-z_]+|count|antall)$", k)
            and isinstance(v, (int, float))
            and not isinstance(v, bool)
            and 1 <= v <= 4
        }
        assert not small, f"{f.name}: {small}"
    results = json.loads((real_build["reports"] / paths.RESULTS_FILE).read_text(encoding="utf-8"))
    for field in ("agreement_pct", "kappa", "kappa_low", "kappa_high", "n_reviewed", "n_changed"):
        key = f"01_cleaning.coding.{REVIEWED}.{field}"  # on 3 reviews: withheld
        assert key in results and results[key] is None, (key, results.get(key))
    assert results["01_cleaning.coding.hvo_further_training_theme.n_answers"] is None


def test_no_count_cell_of_1_to_4_in_any_table(real_build):
    reference = {"Rapporten", "Toleranse", "SSB", "Antall sysselsatte i Norge", "Publisert"}
    found = []
    for f in sorted(real_build["reports"].rglob("tables/*.csv")):
        table = pd.read_csv(f)
        for col in table.columns:
            if str(col).startswith("Antall") and col not in reference:
                v = pd.to_numeric(table[col], errors="coerce")
                if ((v >= 1) & (v <= 4)).any():
                    found.append(f"{f.relative_to(real_build['reports'])}: {col} = {list(v[(v >= 1) & (v <= 4)])}")
    agreement = pd.read_csv(real_build["reports"] / "tables" / "koding_samsvar.csv")
    row = agreement.iloc[list(coding.load_frames()).index(REVIEWED)]
    assert row[["Samsvar (prosent)", "Kappa", "KI nedre", "KI øvre"]].isna().all(), row.to_dict()
    assert not found, "\n".join(found)


def test_no_small_number_in_prose_views_or_notebooks(real_build):
    found = []
    for f, text in text_files(real_build["reports"], real_build["derived"]):
        for p in PROSE:
            for m in re.finditer(p, text):
                found.append(f"{f.relative_to(real_build['root'])}: «{text[max(0, m.start() - 80) : m.end() + 20]}»")
    assert not found, "\n".join(found[:20])
    page = (real_build["reports"] / "book" / "01_cleaning.html").read_text(encoding="utf-8")
    assert re.search("samsvar(et| og kappa) vises ikke", page), "the agreement on 3 reviews is withheld, saying so"


def test_a_failed_notebook_of_a_real_export_keeps_no_small_number(tmp_path, synthetic_frame, codebook):
    """An export of one respondent fails in 01_cleaning; the kept failed notebook has no outputs."""
    root = paths.copy_project(tmp_path / "project")
    trained = synthetic_frame[synthetic_frame["s_2"].isin([1, 2])].head(1)
    raw = write_real_shaped(trained.reset_index(drop=True), tmp_path / "one.sav", codebook)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "src.pipeline",
            "--renderer",
            "fallback",
            "--notebooks",
            "01_cleaning",
            "-p",
            f"raw_path={raw}",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 1 and "BUILD FAILED" in proc.stderr, proc.stdout + proc.stderr
    kept = list((root / "reports").rglob("failed/*.ipynb"))
    assert kept, "no failed notebook kept"
    for f in kept:
        nb = json.loads(f.read_text(encoding="utf-8"))
        assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), f
        text = f.read_text(encoding="utf-8")
        for p in PROSE:
            assert not re.search(p, text), (f, p)
        assert "Utdataene er fjernet" in text
