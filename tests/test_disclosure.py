"""A real-shaped export with groups of 1-4 (issues 17 and 28): none of their numbers leaves the build, git stays
clean, and a hostile file name is escaped on every page of the book.

One build (module fixture) of the synthetic export rewritten as a SurveyXact export (file label «SurveyXact
export», no generator record: real data to the build) with groups of 1–4 wherever a count can come from:

- categories of closed questions: 3 hovedverneombud, 3 in firms under 10 employees, 2 in oil and gas;
- a theme coded for 3 respondents: the open answers of the 3 hovedverneombud (hvo_further_training_theme);
- coding reviews: no hand-made codes in the export (the review sheets decide), 3 answers of the
  insufficient-time question reviewed, in its review sheet as ``make coding`` writes it (src/data/review.py),
  2 of the 3 proposals changed;

saved under the hostile name ``synthetic_<img src=x onerror=alert(1)>`<i>BT`.sav`` (the word «synthetic» must
not switch protection off), built into custom folders inside the project. Then every output file (tables,
results.json, executed notebooks, book HTML, notebook views, derived data's info) is searched for those
numbers in the contexts they would appear in (the groups-of-1–4 search of #28, which had a build of its own
in tests/test_small_numbers.py: one build serves both, #30). A second build, of a one-respondent export,
fails in 01_cleaning: its kept failed notebook must not show «1 respondenter».
"""

from __future__ import annotations

import json
import re
import shutil
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

HOSTILE = "synthetic_<img src=x onerror=alert(1)>`<i>BT`.sav"
DERIVED, REPORTS = "data/derived_pytest_disclosure", "reports_pytest_disclosure"
TEXT = (".json", ".csv", ".md", ".html", ".ipynb", ".txt", ".qmd", ".yml", ".svg")
SMALL_KEYS = re.compile(r"(\.hvo$|_vs_hvo\.|\.hvo\.|under10|olje_og_gass)")
NUMBERS_TEXT = (".json", ".csv", ".md", ".html", ".ipynb", ".txt", ".qmd")  # the search of #28
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


def git(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=paths.ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def build(tmp_path_factory, synthetic_frame, codebook):
    if git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("not a git checkout")
    from src.data.export import read_export
    from src.synthetic.synthesize import without_coded_columns

    frame = without_coded_columns(small_groups_frame(synthetic_frame))  # no hand-made codes: the sheets decide
    raw = write_real_shaped(frame, tmp_path_factory.mktemp("raw") / HOSTILE, codebook)
    # the researcher reviews 3 answers (make coding's sheet, then a decision in 'forsker'), changing 2 proposals
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
    before = git("status", "--porcelain").stdout
    for d in (DERIVED, REPORTS):
        shutil.rmtree(paths.ROOT / d, ignore_errors=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "src.pipeline",
            "-j",
            "1",
            "--renderer",
            "fallback",
            "-p",
            f"raw_path={raw}",
            "-p",
            f"derived_dir={DERIVED}",
            "-p",
            f"reports_dir={REPORTS}",
        ],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    after = git("status", "--porcelain").stdout
    yield {
        "proc": proc,
        "raw": raw,
        "before": before,
        "after": after,
        "derived": paths.ROOT / DERIVED,
        "reports": paths.ROOT / REPORTS,
        "root": paths.ROOT,
        "n_hvo_answers": len(hvo_answers),
    }
    for d in (DERIVED, REPORTS):
        shutil.rmtree(paths.ROOT / d, ignore_errors=True)


@pytest.fixture(scope="module")
def real_build(build):
    """The groups-of-1–4 search's name for the module's build."""
    return build


def text_files(*folders: Path, suffixes=TEXT):
    for folder in folders:
        for f in sorted(folder.rglob("*")):
            if f.is_file() and f.suffix in suffixes:
                yield f, f.read_text(encoding="utf-8", errors="replace")


def test_the_build_runs_and_treats_the_export_as_real(build):
    assert build["proc"].returncode == 0, build["proc"].stdout[-3000:] + build["proc"].stderr[-3000:]
    info = json.loads((build["derived"] / paths.DATA_INFO_FILE).read_text(encoding="utf-8"))
    assert info["synthetic"] is False and info["file"] == HOSTILE
    sample = pd.read_parquet(build["derived"] / paths.RESPONDENTS_FILE)
    assert (sample["role"] == 4).sum() == 3 and sample["firm_size"].isin([1, 2]).sum() == 3
    assert (sample["industry"] == 28).sum() == 2


def test_git_status_is_clean_after_a_real_build_with_custom_folders(build):
    assert build["proc"].returncode == 0
    assert build["after"] == build["before"], f"git status changed:\n{build['after']}"


def test_no_number_about_a_small_group_in_results_or_appendices(build):
    reports = build["reports"]
    for results_file in (reports / paths.RESULTS_FILE, reports / "weighted" / paths.RESULTS_FILE):
        results = json.loads(results_file.read_text(encoding="utf-8"))
        shown = {
            k: v
            for k, v in results.items()
            if SMALL_KEYS.search(k) and v is not None and not k.endswith((".test", "suppressed_results"))
        }
        assert not shown, f"{results_file.name}: {list(shown.items())[:5]}"
        hidden = [k for k in results if k.endswith("suppressed_results")]
        assert len(hidden) >= 6, hidden
    scorecard = pd.read_csv(reports / "scorecard.csv")
    small = scorecard[
        scorecard["group"].astype(str).isin(["HVO", "Olje og gass", "Under 10 ansatte"])
        | scorecard["label"].astype(str).str.contains("under 10 ansatte", case=False)
    ]
    assert len(small) and small["reproduced"].isna().all(), small[small["reproduced"].notna()].head()
    weighting = pd.read_csv(reports / "weighting_comparison.csv")
    small = weighting[weighting["group"].astype(str).isin(["HVO", "Olje og gass"])]
    assert len(small) and small[["unweighted", "weighted"]].isna().all().all()
    appendix = (reports / "_weighting.md").read_text(encoding="utf-8")
    assert not re.search(r"\(HVO\) \| [^|]* \| \d", appendix)


def test_no_table_or_figure_csv_shows_a_small_group(build):
    reports = build["reports"]
    published = {"Rapporten", "Toleranse", "SSB", "Antall sysselsatte i Norge", "Egen gruppe", "I tråd med regelen"}
    small_rows = {"Olje og gass", "Hovedverneombud", "1-4 ansatte", "5-9 ansatte"}
    for f in sorted(reports.rglob("tables/*.csv")):
        table = pd.read_csv(f)
        for col in table.columns:
            if re.search(r"\bHVO\b", str(col)) and "Differanse" not in str(col):
                assert pd.to_numeric(table[col], errors="coerce").isna().all(), f"{f.name}: {col}"
        first = table.columns[0]
        for _, row in table.iterrows():
            if str(row[first]) in small_rows and str(row.get("Kolonne")) not in published:  # not reference data
                values = pd.to_numeric(row.drop(labels=[first, *published], errors="ignore"), errors="coerce")
                assert not (values.dropna() != 0).any(), f"{f.name}: {row[first]} {dict(values.dropna())}"


def test_no_test_statistic_or_prose_number_of_a_small_group_on_any_page(build):
    patterns = [
        r"t\([1-4],\d\) =",
        r"Av de [1-4] som",
        r"\d+ prosent av hovedverneombudene",
        r"Blant hovedverneombudene hadde \d",
        r"\d+,\d+ for HVO",
    ]
    for f, text in text_files(build["reports"], build["derived"]):
        for p in patterns:
            m = re.search(p, text)
            assert not m, f"{f.relative_to(paths.ROOT)}: «{text[max(0, m.start() - 60) : m.end() + 30]}»"
    page = (build["reports"] / "book" / "02_sample.html").read_text(encoding="utf-8")
    assert "Av de færre enn 5 som svarte" in page and "(skjult: færre enn 5 svar) prosent" in page
    tests = pd.read_csv(build["reports"] / "tables" / "tester_03.csv")
    assert tests["Test"].str.startswith("ikke vist").all() and (tests["Reprodusert"] == "ikke vist").all()
    info = json.loads((build["derived"] / paths.DATA_INFO_FILE).read_text(encoding="utf-8"))
    assert all(v is None or v == 0 or v >= 5 for v in info["flow"].values()), info["flow"]


def test_the_hostile_file_name_is_escaped_on_every_page(build):
    pages = list(text_files(build["reports"] / "book"))
    assert pages
    for f, text in pages:
        if f.suffix != ".html":
            continue
        assert "<img src=x" not in text and "<i>BT" not in text, f.name
    index = (build["reports"] / "book" / "index.html").read_text(encoding="utf-8")
    assert "synthetic_&lt;img src=x onerror=alert(1)&gt;`&lt;i&gt;BT`.sav" in index


def test_no_absolute_machine_path_in_the_book(build):
    machine = [str(paths.ROOT), str(build["raw"].parent), str(Path.home())]
    for f, text in text_files(build["reports"] / "book"):
        for p in machine:
            assert p not in text, f"{f.name} shows {p}"


# -- the groups-of-1–4 search (#28) ---------------------------------------------------------------


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
    for f, text in text_files(real_build["reports"], real_build["derived"], suffixes=NUMBERS_TEXT):
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
