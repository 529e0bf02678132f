"""Helpers on small hand-made data where the right answer is known."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from src import helpers as h
from src.base import numbers, paths
from src.base.inputs import ParameterError
from src.book import tables


def test_share_is_percent_of_valid_answers():
    s = pd.Series([1, 1, 2, None, 3], dtype="Int64")
    assert tables.share(s, 1) == 50.0
    assert tables.share(s, [1, 2]) == 75.0
    assert tables.share(s, 1, base_codes=[1, 2]) == pytest.approx(200 / 3)
    assert np.isnan(tables.share(pd.Series([None], dtype="Int64"), 1))


def test_frequency_table_counts_percents_and_missing_codes(codebook):
    df = pd.DataFrame({"firm_size": pd.array([1, 1, 3, 9, None], dtype="Int64")})
    t = h.frequency_table(df, "firm_size", codebook).set_index("Virksomhetsstørrelse")
    assert t.loc["1-4 ansatte", "Antall"] == 2
    assert t.loc["Totalt", "Antall"] == 3  # 'Vet ikke' (code 9) is a missing code
    assert t.loc["1-4 ansatte", "Prosent"] == pytest.approx(200 / 3)
    assert "Vet ikke" not in t.index
    t2 = h.frequency_table(df, "firm_size", codebook, include_missing=True).set_index("Virksomhetsstørrelse")
    assert t2.loc["Vet ikke", "Antall"] == 1 and t2.loc["Totalt", "Antall"] == 4


def test_frequency_table_english_labels(codebook):
    df = pd.DataFrame({"gender": pd.array([1, 2, 2], dtype="Int64")})
    t = h.frequency_table(df, "gender", codebook, lang="en", total_label="Total")
    assert t.iloc[:, 0].tolist() == ["Woman", "Man", "Total"]


def test_round_half_up_and_norwegian_number_format():
    assert numbers.round_half_up(0.5) == 1 and numbers.round_half_up(2.5) == 3 and numbers.round_half_up(-0.5) == -1
    assert numbers.round_half_up(3.45, 1) == 3.5
    assert h.fmt_number(4.05, 1) == "4,1"
    assert h.fmt_number(2247) == "2\u202f247"
    assert h.fmt_number(4.05, 1, lang="en") == "4.1"
    assert h.fmt_number(float("nan")) == "–"


def test_whole_percentages_are_rounded_as_the_report_rounds_them():
    # Tabell 3 'Annet': 78/2233 = 3.493 % is printed 4 (3.493 -> 3.5 -> 4)
    assert numbers.round_as_report(100 * 78 / 2233) == 4
    assert h.fmt_number(100 * 78 / 2233) == "4"
    assert numbers.round_as_report(3.449) == 3
    entry = {"value": 4, "tolerance": 0.5, "unit": "percent", "flag": "inconsistent"}
    assert h.status_of(entry, 100 * 78 / 2233) == "ok"
    assert h.status_of(entry, 3.44) == "inconsistent"


def test_markdown_table_rounds_and_aligns():
    t = pd.DataFrame({"Rolle": ["VO", "Totalt"], "Antall": [3, 4], "Prosent": [75.0, 100.0]})
    md = h.markdown_table(t).splitlines()
    assert md[0] == "| Rolle | Antall | Prosent |"
    pad = tables.WORD_PAD  # dashes follow the widths (Pandoc sizes wide tables by them): longest word + padding
    assert (
        md[1] == "|:" + "-" * (len("Totalt") + pad - 1) + "|" + "-" * (6 + pad - 1) + ":|" + "-" * (7 + pad - 1) + ":|"
    )
    assert md[2] == "| VO | 3 | 75 |"


def test_markdown_table_gives_the_label_column_room_by_its_dashes():
    label = "Dialogbasert, åpent for refleksjon og diskusjon blant deltakere og kursholder"
    t = pd.DataFrame({"Læringsform": [label, "Annet"], "Antall": [1431, 22], "Prosent": [66.0, 1.0]})
    dashes = [len(c) for c in h.markdown_table(t).splitlines()[1].strip("|").split("|")]
    assert dashes == [tables.MAX_DASHES, len("Antall") + tables.WORD_PAD, len("Prosent") + tables.WORD_PAD]
    # a table too wide for an A4 line: every column keeps its longest word, the text columns share the rest
    wide = pd.DataFrame({"Kapittel": ["05_course_format"], "Mål": [label * 2], "Forklaring": [label], "p": [0.119]})
    dashes = [len(c) for c in h.markdown_table(wide, {"p": 3}).splitlines()[1].strip("|").split("|")]
    assert sum(dashes) <= tables.LINE_BUDGET + 2 and dashes[0] == len("05_course_format") + tables.WORD_PAD
    assert dashes[3] == len(",119") + tables.WORD_PAD  # p as printed
    assert min(dashes[1], dashes[2]) > 30


def test_check_params_lists_every_problem():
    with pytest.raises(ParameterError) as info:
        h.check_params({"alpha": "0.05", "weighted": "no", "lang": "de", "colour": 1})
    msg = str(info.value)
    for part in (
        "unknown parameter(s) ['colour']",
        "'alpha' must be float (a number, e.g. 0.05 or 1e-3), got str",
        "'weighted' must be bool",
        "'lang' must be 'nb' or 'en'",
    ):
        assert part in msg
    assert h.check_params({"alpha": 0.01, "weighted": False, "lang": "en"})
    with pytest.raises(ParameterError, match="between 0 and 1"):
        h.check_params({"alpha": 5})


def test_status_of_uses_the_tolerance():
    e = {"value": 70, "tolerance": 0.5, "unit": "percent", "flag": None}
    assert h.status_of(e, 69.8) == "ok"
    assert h.status_of(e, 69.4) == "avvik"
    assert h.status_of(dict(e, flag="inconsistent"), 69.4) == "inconsistent"
    assert h.status_of(e, None) == "mangler"
    assert h.status_of({"value": True, "tolerance": 0, "unit": "verdict"}, False) == "avvik"


def test_results_are_recorded_and_written(tmp_path, codebook):
    ch = h.Chapter("02_sample", derived_dir=str(tmp_path / "d"), reports_dir=str(tmp_path / "r"))
    assert ch.result("x_pct", np.float64(12.5)) == 12.5
    data = json.loads((tmp_path / "r" / "results" / "02_sample.json").read_text())
    assert data == {"02_sample.x_pct": 12.5}


IPYTHON_RESULTS = r"""
import json, sys
from pathlib import Path
from IPython.core.interactiveshell import InteractiveShell
from src import helpers as h

tmp = Path(sys.argv[1])
writes = []
real = h.write_json
h.write_json = lambda path, obj: (writes.append(Path(path).name), real(path, obj))[1]
shell = InteractiveShell.instance()
out = {}
r = shell.run_cell(f"from src import helpers as h\nch = h.Chapter('02_sample', derived_dir={str(tmp / 'd')!r}, "
                   f"reports_dir={str(tmp / 'r')!r})\nfor i in range(50):\n    ch.result(f'x{{i}}', i)\n"
                   "written_inside = (ch._results_path.exists())")
out["first"] = [r.success, writes[:], shell.user_ns["written_inside"]]
out["file"] = json.loads((tmp / "r" / "results" / "02_sample.json").read_text())
r = shell.run_cell("ch.result('y', 1.5)")
out["second"] = [r.success, writes[:]]
r = shell.run_cell("1 + 1")   # nothing recorded: nothing written
out["third"] = [r.success, writes[:]]
r = shell.run_cell("import shutil\nch._results_path.unlink()\nch._results_path.mkdir()\nch.result('z', 2)")
out["failed_write"] = [r.success, type(r.error_in_exec).__name__]
print(json.dumps(out))
"""


def test_in_a_kernel_results_are_written_once_per_cell_and_a_failed_write_fails_the_cell(tmp_path):
    """IPython (papermill's kernel, JupyterLab): the results file is written when the cell ends, once, not
    once per number; complete whenever no cell runs. A write that fails fails the cell (papermill stops)."""
    import subprocess
    import sys

    from src.base import paths

    proc = subprocess.run(
        [sys.executable, "-c", IPYTHON_RESULTS, str(tmp_path)],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["first"] == [True, ["02_sample.json"], False]
    assert out["file"] == {f"02_sample.x{i}": i for i in range(50)}
    assert out["second"] == [True, ["02_sample.json"] * 2]
    assert out["third"] == [True, ["02_sample.json"] * 2]
    assert out["failed_write"][0] is False and out["failed_write"][1] in (
        "IsADirectoryError",
        "OSError",
        "PermissionError",
    )


def test_a_figure_is_saved_as_png_only_in_a_weighted_book_too(tmp_path):
    """A chapter of the book, weighted or not, saves the PNG only (nothing links to an SVG) and closes the
    figure; the build's weighted twins draw none (VO_FIGURES=off, the test below)."""
    import matplotlib.pyplot as plt

    for weighted in (False, True):
        ch = h.Chapter("02_sample", derived_dir=str(tmp_path / "d"), reports_dir=str(tmp_path / "r"), weighted=weighted)
        fig = plt.figure()
        ch.save_figure(fig, "figur_x")
        assert not plt.fignum_exists(fig.number)
        drawn = sorted(p.name for p in (tmp_path / "r" / "figures").glob("*"))
        assert drawn == ["figur_x.png"]
        shutil.rmtree(tmp_path / "r", ignore_errors=True)


def test_chapter_without_derived_data_says_run_cleaning_first(tmp_path):
    ch = h.Chapter("02_sample", derived_dir=str(tmp_path / "none"), reports_dir=str(tmp_path / "r"))
    with pytest.raises(FileNotFoundError, match="run 01_cleaning first"):
        _ = ch.data


def test_write_derived_is_atomic_on_failure(tmp_path):
    target = tmp_path / "respondents.parquet"
    target.write_bytes(b"previous")

    def boom(p):
        p.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        h.atomic_write(target, boom)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["respondents.parquet"]


def test_recode_table_follows_the_chain(codebook):
    t = h.recode_table(codebook, "industry", ["industry_11", "industry_group"]).set_index("Bransje/næringsområde")
    assert t.loc["Sykehustjenester"].tolist() == ["Helse og omsorg", "Helse og omsorg"]
    assert t.loc["Informasjon/kommunikasjon"].tolist() == ["IT og medier", "Andre bransjer"]


@pytest.mark.parametrize("switch", [None, "off"])
def test_a_run_whose_figures_are_not_shown_writes_the_plotted_numbers_but_draws_nothing(
    tmp_path, sample, switch, monkeypatch
):
    """VO_FIGURES=off (the build's weighted twins): the CSV as always, no PNG or SVG."""
    if switch:
        monkeypatch.setenv(paths.FIGURES_ENV, switch)
    else:
        monkeypatch.delenv(paths.FIGURES_ENV, raising=False)
    ch = h.Chapter("06_topics", derived_dir=str(tmp_path / "d"), reports_dir=str(tmp_path / "r"), min_cell=0)
    ch._data = sample
    table = ch.figure("figur_06")
    assert ch.draws_figures is (switch is None)
    assert (tmp_path / "r" / "tables" / "figur_06.csv").exists() and len(table)
    drawn = sorted(p.name for p in (tmp_path / "r").rglob("figur_06.*") if p.suffix != ".csv")
    assert drawn == [] if switch else "figur_06.png" in drawn  # (an SVG beside it or not)


def test_a_test_statistic_keeps_its_operator_with_both_sides_in_a_table_cell():
    """K9.6's narrow «Test» column split «p» from «< ,001» (five lines a cell in the PDF): in a table cell a
    p-value is joined to its operator and value by no-break spaces."""
    import pandas as pd

    from src.book.tables import markdown_table

    text = markdown_table(pd.DataFrame({"Test": ["χ²(1) = 76,75, p < ,001, Cramérs V = 0,19"]}))
    cell = text.splitlines()[-1]
    assert "χ²(1) = 76,75, p\u00a0<\u00a0,001, Cramérs V = 0,19" in cell  # only the p-value: wider units lengthen K7.3
