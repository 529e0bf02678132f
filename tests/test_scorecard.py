"""The scorecard reads what the book computed and judges it against the report."""

from __future__ import annotations

import json

import pandas as pd

from src import scorecard


def entry(id_, lookup, value, unit="percent", tol=0.5, flag=None, calibrated=True):
    return {"id": id_, "chapter": "02_sample", "source": "Tabell 2", "label": id_, "group": None, "value": value,
            "unit": unit, "tolerance": tol, "calibrated": calibrated, "flag": flag, "lookup": lookup}


def test_statuses_from_tables_and_results(tmp_path):
    (tmp_path / "tables").mkdir()
    pd.DataFrame({"Rolle": ["VO", "Totalt"], "Prosent": [69.8, 100.0]}).to_csv(tmp_path / "tables/tabell_02.csv", index=False)
    (tmp_path / "results.json").write_text(json.dumps({"02_sample.x_pct": 55.0, "02_sample.v": True}))
    entries = [
        entry("cell_ok", {"table": "tabell_02", "row": "VO", "column": "Prosent"}, 70),
        entry("cell_off", {"table": "tabell_02", "row": "Totalt", "column": "Prosent"}, 98),
        entry("res_off_flagged", {"result": "02_sample.x_pct"}, 60, flag="inconsistent"),
        entry("verdict_ok", {"result": "02_sample.v"}, True, unit="verdict", tol=0, calibrated=False),
        entry("missing_table", {"table": "tabell_09", "row": "a", "column": "b"}, 1),
        entry("missing_result", {"result": "02_sample.nothing"}, 1),
    ]
    s = scorecard.score_book(tmp_path, entries).set_index("id")
    assert s.loc["cell_ok", "status"] == "ok"
    assert s.loc["cell_ok", "link"] == "../reports/executed/02_sample.ipynb#tabell-2"
    assert s.loc["cell_off", "status"] == "avvik"
    assert s.loc["res_off_flagged", "status"] == "inconsistent"
    assert s.loc["verdict_ok", "status"] == "ok"
    assert s.loc["missing_table", "status"] == "mangler" and s.loc["missing_result", "status"] == "mangler"
    summ = scorecard.summary(s.reset_index()).set_index(["Kapittel", "Kalibrert"])
    assert summ.loc[("alle", "kalibrert"), "Beregnet"] == 3
    assert summ.loc[("alle", "kalibrert"), "Ok"] == 1
    assert "2 of 4 computed" in scorecard.headline(s.reset_index())
    md = scorecard.markdown(s.reset_index())
    assert "[cell_off](../reports/executed/02_sample.ipynb#tabell-2)" in md and "cell_ok](" not in md
