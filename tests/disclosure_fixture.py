"""A real-shaped export with small groups, for the disclosure tests (tests/test_disclosure.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

SMALL_GROUPS = {  # export column -> (codes, respondents kept)
    "s_1": ([4], 3),  # 3 hovedverneombud
    "s_7": ([1, 2], 3),  # 3 in firms under 10 employees
    "s_4": ([28], 2),  # 2 in oil and gas extraction
}


def small_groups_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The synthetic export with only a few respondents left in each of SMALL_GROUPS."""
    keep = pd.Series(True, index=frame.index)
    trained = frame["s_2"].isin([1, 2])  # in the analysis sample (the kept ones must not be excluded)
    for col, (codes, n) in SMALL_GROUPS.items():
        members = frame.index[frame[col].isin(codes) & trained]
        keep[members[n:]] = False
        keep[frame.index[frame[col].isin(codes) & ~trained]] = False
    return frame[keep].reset_index(drop=True)


def write_real_shaped(frame: pd.DataFrame, path: Path, codebook, label: str = "SurveyXact export") -> Path:
    """Write ``frame`` as a SurveyXact-like .sav (value labels, no generator record): real data to the build."""
    import pyreadstat

    value_labels = {
        s: {float(k): lab for k, lab in v.values.items()} for s, v in codebook.by_source().items() if v.values
    }
    pyreadstat.write_sav(frame, str(path), file_label=label, variable_value_labels=value_labels)
    return path
