"""Reading the derived data (respondents.parquet, excluded.parquet) in little memory.

The files hold 01_cleaning's frames as written (nullable ``Int64`` codes, ``float64`` indices and weights);
they are not changed, so their bytes stay those of every earlier build. What changes is the frame a
chapter holds in memory: each nullable integer column is read as the smallest nullable integer type that
holds its values a hundred times over (``Int16`` for survey codes; the margin keeps an expression such as
``codes * 100`` or the sum of two codes exact), and the file is read a few columns at a time, so the peak
is one small batch in Arrow's form beside the compact frame, not the whole file twice (Arrow, then pandas).

At the 100x export (295 000 respondents, 192 columns) a chapter's frame goes from 500 MB to about 170 MB,
and reading it peaks at about the compact frame's size instead of 1 GB (issue 28, point 8). Reductions
(sums, means, counts, groupby sums) are computed in 64 bits whatever the column's type, so every result is
the same; tests/test_derived_read.py checks that, and that values, missing answers and column order are
the file's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

BATCH = 16  # columns read at a time
# a file of at most this many values is read at once: the 1x export's respondents (2 247 x 192, 0.4 M values)
# in 0.07 s of CPU instead of 0.15 s, twice in every chapter; at 10x (4.3 M) and 100x a batch at a time
WHOLE_CELLS = 1_000_000
HEADROOM = 100  # a column's largest absolute value times this must fit its type

_SMALLER = [(pd.Int16Dtype(), np.iinfo(np.int16).max), (pd.Int32Dtype(), np.iinfo(np.int32).max)]


def compact_dtype(values: pd.Series):
    """The smallest nullable integer type that holds ``values`` (an ``Int64`` column) ``HEADROOM`` times over."""
    if values.dtype != pd.Int64Dtype():
        return values.dtype
    # a missing value as 0 changes no largest absolute value (and is 4x faster than dropna)
    top = int(np.abs(values.to_numpy(dtype="int64", na_value=0)).max()) if len(values) else 0
    for dtype, limit in _SMALLER:
        if top * HEADROOM <= limit:
            return dtype
    return values.dtype


def compact_codes(values: pd.Series) -> pd.Series:
    """One ``Int64`` column as its ``compact_dtype`` (``read_export``: the export's codes in little memory)."""
    dtype = compact_dtype(values)
    return values if dtype == values.dtype else values.astype(dtype)


def as_written(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its compact integer columns as ``Int64`` again: the derived files keep the types (and so
    the bytes) they always had, however little memory the frames took on the way."""
    small = {
        c: pd.Int64Dtype()
        for c in frame.columns
        if isinstance(frame[c].dtype, pd.core.arrays.integer.IntegerDtype) and frame[c].dtype != pd.Int64Dtype()
    }
    return frame.astype(small) if small else frame


def compact(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each ``Int64`` column as its ``compact_dtype`` (a new frame; columns in order)."""
    return frame.astype({c: compact_dtype(frame[c]) for c in frame.columns if frame[c].dtype == pd.Int64Dtype()})


def read_derived(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A derived parquet file as a compact frame (``compact``), read ``BATCH`` columns at a time when it is
    large (more than ``WHOLE_CELLS`` values; a small file at once: the batches cost more time than memory).

    ``columns``: only these (parquet's column projection), in the file's order.
    """
    import pyarrow.parquet as pq

    meta = pq.read_metadata(path)
    names = meta.schema.to_arrow_schema().names
    names = [n for n in names if not n.startswith("__index_level_")]
    if columns is not None:
        wanted = set(columns)
        names = [n for n in names if n in wanted]
    batch = len(names) if meta.num_rows * len(names) <= WHOLE_CELLS else BATCH
    parts = [compact(pd.read_parquet(path, columns=names[i : i + batch])) for i in range(0, len(names), batch)]
    if not parts:
        return pd.read_parquet(path, columns=[])
    frame = pd.concat(parts, axis=1) if len(parts) > 1 else parts[0]
    return frame
