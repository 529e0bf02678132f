"""The synthetic export: deterministic, shaped like the export, calibrated on the report."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from src import helpers as h
from src.base import numbers
from src.book import tables
from src.synthetic import synthesize


def test_same_seed_gives_identical_data(codebook, published, synthetic_frame):
    again = synthesize.synthesize(codebook=codebook, entries=published)
    pd.testing.assert_frame_equal(synthetic_frame, again)


def test_other_seed_gives_other_data(codebook, published, synthetic_frame):
    other = synthesize.synthesize(seed=1, codebook=codebook, entries=published)
    assert not synthetic_frame.equals(other)


def test_same_seed_gives_identical_sav_bytes(tmp_path, synthetic_frame, codebook):
    a = synthesize.write_sav(synthetic_frame, tmp_path / "a.sav", codebook)
    b = synthesize.write_sav(synthetic_frame, tmp_path / "b.sav", codebook)
    assert a == b == hashlib.sha256((tmp_path / "a.sav").read_bytes()).hexdigest()


def test_export_has_the_codebook_columns_and_is_labelled_synthetic(synthetic_sav, codebook):
    export = h.read_export(synthetic_sav, codebook)
    assert export.synthetic
    assert "SYNTHETIC" in export.file_label
    assert export.n_rows == 2950


def test_exclusion_flow_gives_2247(synthetic_sav, codebook):
    export = h.read_export(synthetic_sav, codebook)
    sample, excluded, flow = h.apply_exclusions(export.data, codebook)
    counts = dict(zip(flow["key"], flow["Antall"]))
    assert counts["all"] == 2950
    assert counts["sample"] == len(sample) == 2247
    assert counts["excluded"] == len(excluded) == 703
    assert counts["amu_only"] == 384
    assert counts["no_training"] == 186
    assert counts["no_role"] + counts["training_unanswered"] == 703 - 384 - 186
    assert set(excluded["exclusion"]) <= {r.key for r in codebook.exclusions}


def test_published_marginals_hold_exactly(sample, codebook, published):
    for var, table, col in (("industry", "tabell_03", "Antall"), ("firm_size", "tabell_05", "Antall svar")):
        t = h.frequency_table(sample, var, codebook, count_col=col)
        for label, n in zip(t.iloc[:, 0], t[col]):
            assert n == h.published_value(table, label, col, published), (table, label)
    t2 = h.frequency_table(sample, "role", codebook, subtotals="role_group").set_index("Rolle")
    for row in t2.index:
        assert t2.loc[row, "Antall"] == h.published_value("tabell_02", row, "Antall", published)


def test_text_shares_hold_to_the_printed_rounding(sample):
    assert numbers.round_half_up(tables.share(sample["gender"], 1)) == 60
    assert numbers.round_half_up(tables.share(sample["sector_group"], 1)) == 74
    assert numbers.round_half_up(tables.share(sample["sector"], 3), 1) == 1.3
    assert numbers.round_half_up(tables.share(sample["office_work"], 1)) == 28
    under10 = sample[sample["firm_size"].isin([1, 2])]["new_rules_2024"]
    assert [numbers.round_half_up(tables.share(under10, c)) for c in (1, 2, 3)] == [25, 60, 15]
    assert numbers.round_half_up(tables.share(sample["basic_training"], 1)) == 92
    hvo = sample[sample["role_group"] == 2]["basic_training"]
    assert numbers.round_half_up(tables.share(hvo, 1)) == 98


def test_variables_depend_on_each_other(sample):
    """Joint structure, not independent columns: sector follows industry."""
    public = sample.groupby("industry_group")["sector_group"].apply(lambda s: tables.share(s, 1))
    assert public.loc[1] > 85  # Helse og omsorg
    assert public.loc[7] < 15  # Olje og gass


def test_routing_is_respected(synthetic_frame, codebook):
    """Only respondents in firms under 10 employees answer the 2024-rules question."""
    src = {v.name: v.source for v in codebook.variables.values()}
    answered = synthetic_frame[src["new_rules_2024"]].notna()
    assert synthetic_frame.loc[answered, src["firm_size"]].isin([1, 2]).all()
    assert synthetic_frame.loc[synthetic_frame[src["role"]] == 5, src["gender"]].isna().all()


def test_size_factor_scales_respondents(codebook, published):
    df = synthesize.synthesize(size=2, codebook=codebook, entries=published)
    assert len(df) == 2 * 2950
    with pytest.raises(ValueError, match="size must be positive"):
        synthesize.synthesize(size=0, codebook=codebook, entries=published)


def test_split_counts_and_assign_are_exact():
    counts = synthesize.split_counts(93, {1: 25, 2: 60, 3: 15})
    assert counts == {1: 23, 2: 56, 3: 14}
    rng = np.random.default_rng(0)
    idx = pd.RangeIndex(10)
    s = synthesize.assign(rng, idx, {1: 3, 2: 7}, score=np.arange(10.0), noise=0.0)
    assert s.value_counts().to_dict() == {2.0: 7, 1.0: 3}
    assert set(s[s == 1].index) == {7, 8, 9}  # highest scores get the first code
    with pytest.raises(ValueError, match="counts sum to"):
        synthesize.assign(rng, idx, {1: 3})


def test_missing_calibration_target_is_named(codebook):
    with pytest.raises(KeyError, match="tabell_02"):
        synthesize.synthesize(codebook=codebook, entries=[])


def test_at_least_one_moves_ticks_as_the_plain_scan_would():
    """The Fenwick-tree version gives the same data as scanning every respondent for donors each move."""
    import numpy as np

    from src.synthetic.synthesize import _at_least_one

    def plain(ticks, rows, rng):
        ticks = ticks.copy()
        sub = np.nan_to_num(ticks[rows]).astype(int)
        for u in rng.permutation(np.flatnonzero(sub.sum(axis=1) == 0)):
            donors = np.argwhere((sub == 1) & (sub.sum(axis=1) >= 2)[:, None])
            if len(donors) == 0:
                break
            d, c = donors[rng.integers(len(donors))]
            sub[d, c], sub[u, c] = 0, 1
        ticks[rows] = sub
        return ticks

    for seed in range(30):
        g = np.random.default_rng(seed)
        n, w = int(g.integers(5, 200)), int(g.integers(1, 7))
        t = (g.random((n, w)) < g.uniform(0.05, 0.6)).astype(float)
        rows = np.sort(g.choice(n, size=int(g.integers(1, n + 1)), replace=False))
        fast = _at_least_one(t, rows, np.random.default_rng(seed))
        assert np.array_equal(fast, plain(t, rows, np.random.default_rng(seed))), seed
        counts_before, counts_after = t[rows].sum(axis=0), fast[rows].sum(axis=0)
        assert np.array_equal(counts_before, counts_after)  # every option's count kept


def test_sav_carries_the_spss_metadata_of_a_real_export(synthetic_sav, synthetic_frame, codebook):
    """Declared missing values, item labels, measurement levels, integer formats, compression, metadata columns."""
    import struct
    from collections import Counter

    import pyreadstat

    df, meta = pyreadstat.read_sav(str(synthetic_sav), user_missing=True)
    by_source = codebook.by_source()
    # user-missing: exactly the codebook's missing codes
    declared = {s: sorted(r["lo"] for r in ranges) for s, ranges in meta.missing_ranges.items()}
    assert declared == {s: sorted(float(c) for c in v.missing) for s, v in by_source.items() if v.missing}
    assert all(r["lo"] == r["hi"] for ranges in meta.missing_ranges.values() for r in ranges)
    # item labels: a grid item or tick box reads «stem – item»; no two answer columns share a label
    labels = meta.column_names_to_labels
    for s, v in by_source.items():
        if v.group:
            g = codebook.groups[v.group]
            want = f"{g.question or g.label} – {v.label}"
            assert labels[s] == want or (
                labels[s].endswith("…") and want.startswith(labels[s][:-1].rstrip()) and len(labels[s].encode()) <= 255
            ), (s, labels[s])
    shared = [lab for lab, n in Counter(labels[s] for s in by_source).items() if n > 1]
    assert not shared, shared[:3]
    # measurement levels
    for s, v in by_source.items():
        want = "scale" if v.type == "id" else "ordinal" if v.scale else "nominal"
        assert meta.variable_measure[s] == want, (s, meta.variable_measure[s])
    # integer formats wide enough for the codes
    for s, v in by_source.items():
        if v.type == "text":
            assert meta.original_variable_types[s].startswith("A")
            continue
        fmt = meta.original_variable_types[s]
        assert fmt.startswith("F") and fmt.endswith(".0"), (s, fmt)
        top = max(list(v.values) + [int(df[s].max())] if df[s].notna().any() else list(v.values) or [1])
        assert int(fmt[1:-2]) >= len(str(top)), (s, fmt)
    # row (bytecode) compression: the header's compression field is 1
    assert struct.unpack("<i", synthetic_sav.read_bytes()[72:76])[0] == 1
    # the tool's metadata columns: status complete/partial, start before end, ignored by the reader
    assert set(df["status"].unique()) <= {1.0, 2.0} and (df["status"] == 2).any() and (df["status"] == 1).any()
    assert meta.variable_value_labels["status"] == {1.0: "Gjennomført", 2.0: "Delvis besvart"}
    assert (df["endtime"] > df["starttime"]).all()
    assert set(codebook.survey["ignore_columns"]) >= {"status", "starttime", "endtime"}
    # the answers are the synthesized ones: reading the file gives the frame back
    export = h.read_export(synthetic_sav, codebook)
    for s, v in by_source.items():
        got = export.data[v.name]
        want = synthetic_frame[s]
        if v.type == "text":
            assert (
                got.fillna("").astype(str).str.strip().tolist() == want.fillna("").astype(str).str.strip().tolist()
            ), s
        else:
            assert got.astype("Float64").fillna(-99).tolist() == want.astype(float).fillna(-99).tolist(), s
