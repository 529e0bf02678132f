"""Measures for multi-select unions and figure n ranges; refine's kicks."""

import numpy as np
import pandas as pd

from src.synthetic import calibrate as cal
from src.analysis import measures as ms


def test_pct_of_any_of_several_options(codebook):
    grid = [v for v in codebook.groups["providers"].members]
    a, b = grid[0], grid[1]
    frame = pd.DataFrame({a: [1, 0, 1, 0, np.nan], b: [0, 1, 1, 0, np.nan]})
    spec = {"stat": "pct", "vars": [a, b], "codes": [1]}
    assert ms.evaluate(spec, frame, codebook) == 75.0   # 3 of the 4 answering ticked either
    assert ms.evaluate({**spec, "stat": "count"}, frame, codebook) == 3


def test_n_min_and_n_max_of_a_grid(codebook):
    items = list(codebook.groups["joint_training"].members)
    frame = pd.DataFrame({m: [5, 4, np.nan, 3][: 4 - k % 2] + [np.nan] * (k % 2) for k, m in enumerate(items)})
    assert ms.evaluate({"stat": "n_min", "grid": "joint_training"}, frame, codebook) == 2
    assert ms.evaluate({"stat": "n_max", "grid": "joint_training"}, frame, codebook) == 3


def test_refine_kicks_keep_marginals_and_reach_a_group_size_only_some_bases_print():
    # A group of 101, 9 of them not answering: 9 / 29 / 63 % print together
    # only with 91 valid answers, so exactly one 'Vet ikke' (code 6) may stay.
    rng = np.random.default_rng(1)
    n = 2000
    group = np.zeros(n, dtype=bool)
    group[:101] = True
    answered = np.ones(n, dtype=bool)
    answered[:9] = False
    values = rng.choice([1, 2, 3, 6], size=n, p=[.2, .3, .47, .03]).astype(float)
    values[9:15] = 6   # six 'Vet ikke' in the group to start with
    targets = [cal.share_target(f"g{c}", group, [c], v, [1, 2, 3]) for c, v in ((1, 9), (2, 29), (3, 63))]
    before = np.unique(values[answered], return_counts=True)
    out, rep = cal.refine(values, answered, targets, np.random.default_rng(2), kicks=60)
    assert [list(x) for x in np.unique(out[answered], return_counts=True)] == [list(x) for x in before]
    assert all(abs(a - v) <= 0.5 for a, v in rep.values()), rep
