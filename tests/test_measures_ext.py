"""Measures for multi-select unions and figure n ranges; refine's kicks."""

import numpy as np
import pandas as pd

from src.analysis import measures as ms
from src.synthetic import calibrate as cal


def test_pct_of_any_of_several_options(codebook):
    grid = [v for v in codebook.groups["providers"].members]
    a, b = grid[0], grid[1]
    frame = pd.DataFrame({a: [1, 0, 1, 0, np.nan], b: [0, 1, 1, 0, np.nan]})
    spec = {"stat": "pct", "vars": [a, b], "codes": [1]}
    assert ms.evaluate(spec, frame, codebook) == 75.0  # 3 of the 4 answering ticked either
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
    values = rng.choice([1, 2, 3, 6], size=n, p=[0.2, 0.3, 0.47, 0.03]).astype(float)
    values[9:15] = 6  # six 'Vet ikke' in the group to start with
    targets = [cal.share_target(f"g{c}", group, [c], v, [1, 2, 3]) for c, v in ((1, 9), (2, 29), (3, 63))]
    before = np.unique(values[answered], return_counts=True)
    out, rep = cal.refine(values, answered, targets, np.random.default_rng(2), kicks=60)
    assert [list(x) for x in np.unique(out[answered], return_counts=True)] == [list(x) for x in before]
    assert all(abs(a - v) <= 0.5 for a, v in rep.values()), rep


# -- filters: evaluated on the columns they name, once per frame and content (issue 19) ----------------


def _frame_with_many_columns(n: int = 40):
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({f"other_{k}": rng.normal(size=n) for k in range(30)})
    frame["role"] = rng.choice([1, 2, 3, 4, 5], size=n).astype(float)
    frame["basic_training"] = rng.choice([1, 2, 3, np.nan], size=n)
    frame["sector_group"] = pd.array(rng.choice([1, 2], size=n), dtype="Int64")
    frame.loc[3, "sector_group"] = pd.NA
    return frame


def _count_evals(monkeypatch):
    calls = []
    real = pd.DataFrame.eval

    def counting(self, expr, *a, **k):
        calls.append(list(self.columns))
        return real(self, expr, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "eval", counting)
    return calls


def test_where_mask_is_the_full_frame_eval_on_the_named_columns_only(codebook, monkeypatch):
    frame = _frame_with_many_columns()
    where = "eligible and sector_group == 1"  # a named condition of the codebook, expanded
    expected = frame.eval(codebook.expand(where), engine="python").fillna(False).astype(bool)
    calls = _count_evals(monkeypatch)
    mask = ms.where_mask(frame, where, codebook)
    pd.testing.assert_series_equal(mask, expected, check_names=False)
    assert calls == [["role", "basic_training", "sector_group"]]  # not the 33 columns
    assert ms.where_mask(frame, None, codebook).all() and len(ms.where_mask(frame, None, codebook)) == len(frame)


def test_where_mask_is_computed_once_per_frame_and_again_when_its_columns_change(codebook, monkeypatch):
    frame = _frame_with_many_columns()
    calls = _count_evals(monkeypatch)
    first = ms.where_mask(frame, "role == 1", codebook)
    first[:] = True  # a caller changing its copy changes nothing cached
    again = ms.where_mask(frame, "role == 1", codebook)
    assert len(calls) == 1
    assert (again == (frame["role"] == 1)).all()
    frame["other_0"] = 0.0  # a column the filter does not name: still cached
    ms.where_mask(frame, "role == 1", codebook)
    assert len(calls) == 1
    frame.loc[frame["role"] == 1, "role"] = 2.0  # changed in place: evaluated again, on the new values
    assert not ms.where_mask(frame, "role == 1", codebook).any()
    assert len(calls) == 2
    other = frame.copy()  # another frame with the same name is another entry
    other["role"] = 1.0
    assert ms.where_mask(other, "role == 1", codebook).all()
    assert not ms.where_mask(frame, "role == 1", codebook).any()


def test_where_mask_entries_go_with_their_frame(codebook):
    import gc

    frame = _frame_with_many_columns()
    ms.where_mask(frame, "role == 1", codebook)
    key = id(frame)
    assert key in ms._MASKS
    del frame
    gc.collect()
    assert key not in ms._MASKS


def test_evaluate_copies_only_the_columns_a_spec_reads(codebook, monkeypatch):
    frame = _frame_with_many_columns()
    frame["q"] = np.where(np.arange(len(frame)) % 3 == 0, 1.0, 2.0)
    seen = []
    real = ms.subset_rows
    monkeypatch.setattr(ms, "subset_rows", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    spec = {"stat": "pct", "var": "q", "codes": [1], "where": "sector_group == 2"}
    codebook_like = type("Cb", (), {"indices": {"q": None}, "expand": codebook.expand, "groups": {}})()
    value = ms.evaluate(spec, frame, codebook_like)
    sub = frame[(frame["sector_group"] == 2).fillna(False).to_numpy()]
    assert value == 100 * (sub["q"] == 1).sum() / sub["q"].notna().sum()
    assert list(seen[-1].columns) == ["q"]
