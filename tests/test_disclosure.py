"""A real-shaped export with groups of 1-4 (issue 17): none of their numbers leaves the build, git stays clean,
and a hostile file name is escaped on every page of the book.

One build (module fixture): the synthetic export rewritten as a SurveyXact export (file label «SurveyXact
export», no generator record) with only 3 hovedverneombud, 3 respondents in firms under 10 employees and 2 in
oil and gas extraction, saved under the hostile name ``synthetic_<img src=x onerror=alert(1)>`<i>BT`.sav``
(the word «synthetic» must not switch protection off), built into custom folders inside the project.
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

sys.path.insert(0, str(Path(__file__).parent))
from disclosure_fixture import small_groups_frame, write_real_shaped  # noqa: E402

pytestmark = pytest.mark.slow

HOSTILE = "synthetic_<img src=x onerror=alert(1)>`<i>BT`.sav"
DERIVED, REPORTS = "data/derived_pytest_disclosure", "reports_pytest_disclosure"
TEXT = (".json", ".csv", ".md", ".html", ".ipynb", ".txt", ".qmd", ".yml", ".svg")
SMALL_KEYS = re.compile(r"(\.hvo$|_vs_hvo\.|\.hvo\.|under10|olje_og_gass)")


def git(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=paths.ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def build(tmp_path_factory, synthetic_frame, codebook):
    if git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("not a git checkout")
    raw = write_real_shaped(small_groups_frame(synthetic_frame), tmp_path_factory.mktemp("raw") / HOSTILE, codebook)
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
    }
    for d in (DERIVED, REPORTS):
        shutil.rmtree(paths.ROOT / d, ignore_errors=True)


def text_files(*folders: Path):
    for folder in folders:
        for f in sorted(folder.rglob("*")):
            if f.is_file() and f.suffix in TEXT:
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
