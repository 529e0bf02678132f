"""A researcher's own analysis (issue 26): protected by construction on real data, written outside the build.

The data are real-shaped: the synthetic sample with a data_info.json that does not say «synthetic» (what a
SurveyXact export no generator record vouches for gives), so ``min_cell`` = 5 is in force.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from src import helpers as h
from src.base import disclosure, paths


def derived(folder, sample, synthetic: bool):
    folder.mkdir(parents=True, exist_ok=True)
    sample.to_parquet(folder / paths.RESPONDENTS_FILE)
    sample.iloc[:0].to_parquet(folder / paths.EXCLUDED_FILE)
    (folder / paths.DATA_INFO_FILE).write_text(
        json.dumps({"synthetic": synthetic, "file": "eksport.sav", "sha256": "0" * 64}), encoding="utf-8"
    )
    return folder


@pytest.fixture
def real_chapter(tmp_path, sample, monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr(h, "display_markdown", shown.append)
    ch = h.Chapter("05_course_format", str(derived(tmp_path / "derived", sample, False)), str(tmp_path / "reports"))
    assert ch.min_cell_in_force == 5
    return ch, shown, tmp_path / "reports"


def small(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not pd.isna(x) and 0 < x < 5


def test_a_pandas_crosstab_without_support_is_refused_on_real_data(real_chapter):
    ch, shown, reports = real_chapter
    ct = pd.crosstab(ch.data["industry"], ch.data["gender"]).reset_index()
    with pytest.raises(disclosure.UnknownSupport, match=r"h\.crosstab\(ch, row_var, col_var, name\).*support="):
        ch.table(ct, "mitt_krysstabell")
    assert not (reports / "tables" / "mitt_krysstabell.csv").exists() and not shown


def test_the_crosstab_helper_hides_every_count_1_to_4_and_what_gives_it_away(real_chapter):
    ch, shown, reports = real_chapter
    table, test = h.crosstab(ch, "industry", "gender", "bransje_kjonn")
    raw = pd.crosstab(ch.data["industry"], ch.data["gender"])
    assert ((raw > 0) & (raw < 5)).to_numpy().any(), "the data must have small cells for this test to mean anything"
    csv = pd.read_csv(reports / "tables" / "bransje_kjonn.csv")
    assert list(csv.columns) == ["Bransje/næringsområde", "Kvinne", "Mann", "Totalt"]
    assert "Bank/finans/forsikring" in set(csv.iloc[:, 0]) and csv.iloc[-1, 0] == "Totalt"
    numbers = csv.iloc[:, 1:]
    assert not numbers.map(small).to_numpy().any(), csv[numbers.map(small).any(axis=1)]
    hidden = numbers.isna()
    assert hidden.to_numpy().sum() >= 2
    # secondary suppression: no line (a row with its total, a column with its total) has exactly one hidden cell
    assert not (hidden.sum(axis=1) == 1).any(), csv[hidden.sum(axis=1) == 1]
    assert not (hidden.sum(axis=0) == 1).any(), hidden.sum(axis=0)
    # the book shows what the CSV holds: «<5» where it is empty, no small number in a cell
    text = "\n".join(shown)
    assert "<5" in text and "Skjult:" in text
    for line in text.splitlines():
        if line.startswith("| Bank/finans"):
            assert "| <5 | <5 |" in line, line
        if line.startswith("|") and not line.startswith("|:"):
            assert not any(cell.strip() in {"1", "2", "3", "4"} for cell in line.split("|")), line
    results = json.loads((reports / "results" / "05_course_format.json").read_text(encoding="utf-8"))
    mine = {k: v for k, v in results.items() if "bransje_kjonn" in k}
    assert not [v for v in mine.values() if small(v)], mine
    assert results["05_course_format.suppressed_cells.bransje_kjonn"] == int(hidden.to_numpy().sum())
    # a row or column group of 1-4: the test is not shown, and recorded as null
    assert isinstance(test, disclosure.HiddenTest) and mine["05_course_format.bransje_kjonn.test.p"] is None
    assert "ikke vist" in text


def test_the_same_crosstab_on_synthetic_data_is_shown_whole(tmp_path, sample, monkeypatch):
    monkeypatch.setattr(h, "display_markdown", lambda t: None)
    ch = h.Chapter("05_course_format", str(derived(tmp_path / "d", sample, True)), str(tmp_path / "r"))
    table, test = h.crosstab(ch, "industry", "gender", "bransje_kjonn")
    csv = pd.read_csv(tmp_path / "r" / "tables" / "bransje_kjonn.csv")
    assert csv.iloc[:, 1:].map(small).to_numpy().any() and not csv.iloc[:, 1:].isna().to_numpy().any()
    assert test.test == "chi2" and 0 <= test.p <= 1


def test_row_percentages_hide_the_cells_the_counts_would(real_chapter):
    ch, shown, reports = real_chapter
    h.crosstab(ch, "industry", "gender", "bransje_kjonn_pct", values="row_pct")
    pct = pd.read_csv(reports / "tables" / "bransje_kjonn_pct.csv").set_index("Bransje/næringsområde")
    counts = pd.crosstab(ch.data["industry"], ch.data["gender"])
    labels = ch.codebook.value_labels("industry")
    for code, label in labels.items():
        if code in counts.index:
            for g, glabel in ch.codebook.value_labels("gender").items():
                n = counts.loc[code, g] if g in counts.columns else 0
                if 0 < n < 5:
                    assert pd.isna(pct.loc[label, glabel]), (label, glabel)


def test_a_mean_by_group_with_its_test(real_chapter):
    ch, shown, reports = real_chapter
    table, test = h.group_means(ch, "usefulness_index", "sector", "nytte_sektor")
    csv = pd.read_csv(reports / "tables" / "nytte_sektor.csv")
    assert list(csv.columns) == ["Sektor", "Gjennomsnitt", "Standardavvik", "Antall svar (n)"]
    assert csv.iloc[-1, 0] == "Totalt" and csv["Antall svar (n)"].iloc[-1] > 100
    assert test.test == "anova" and "Enveis variansanalyse" in shown[-1]
    sizes = ch.data.loc[ch.data["usefulness_index"].notna(), "sector"].value_counts()
    assert (sizes >= 5).all()
    two, t = h.group_means(ch, "usefulness_index", "role_group", "nytte_rolle")
    assert t.test == "welch_t" and "Cohens d" in shown[-1]


def test_a_mean_of_a_group_of_1_to_4_is_hidden_with_its_test(tmp_path, sample, monkeypatch):
    monkeypatch.setattr(h, "display_markdown", lambda t: None)
    few = sample[sample["sector"] != 3]
    few = pd.concat([few, sample[(sample["sector"] == 3) & sample["usefulness_index"].notna()].head(3)])
    ch = h.Chapter("05_course_format", str(derived(tmp_path / "d", few, False)), str(tmp_path / "r"))
    table, test = h.group_means(ch, "usefulness_index", "sector", "nytte_sektor")
    csv = pd.read_csv(tmp_path / "r" / "tables" / "nytte_sektor.csv").set_index("Sektor")
    assert csv.loc["Annet"].isna().all()
    assert isinstance(test, disclosure.HiddenTest)


def test_a_plain_python_run_writes_to_interactive_never_to_the_build(tmp_path):
    """paths.outside_build() is true for anything the build did not start: here a plain `python -c`."""
    name = f"pytest_outside_{os.getpid()}"
    code = (
        "import pandas as pd; from src import helpers as h; from src.base import paths\n"
        "print(paths.outside_build())\n"
        f"ch = h.Chapter({name!r}, reports_dir='reports', min_cell=0)\n"
        f"ch.table(pd.DataFrame({{'Rad': ['a'], 'Antall': [7]}}), {name!r}, show=False)\n"
        "ch.result('x', 1)\nprint(ch.reports_dir)"
    )
    env = {k: v for k, v in os.environ.items() if k != paths.BUILD_ENV}
    written = [paths.INTERACTIVE / "tables" / f"{name}.csv", paths.INTERACTIVE / "results" / f"{name}.json"]
    build = [paths.REPORTS / "tables" / f"{name}.csv", paths.REPORTS / "results" / f"{name}.json"]
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[0] == "True"
        assert proc.stdout.splitlines()[-1] == str(paths.INTERACTIVE)
        assert all(p.exists() for p in written) and not any(p.exists() for p in build)
        for p in written:
            p.unlink()
        # the build (VO_BUILD set) writes where it is told
        proc = subprocess.run(
            [sys.executable, "-c", "from src.base import paths; print(paths.outside_build())"],
            env={**env, paths.BUILD_ENV: "1"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.stdout.strip() == "False"
    finally:
        for p in written + build:
            p.unlink(missing_ok=True)
