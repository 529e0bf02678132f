"""Writing output files whole or not at all (atomic replace), and JSON as the compendium writes it."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path


def atomic_write(path: Path, write) -> None:
    """Write via a temporary file in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )  # .*.tmp: what a killed build leaves, removed by the next
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_durably(path: Path, text: str) -> None:
    """``atomic_write`` of a text that must survive a crash (the build's records and state): synced to disk
    before it replaces ``path``."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    atomic_write(Path(path), write)


def write_json(path: str | Path, obj) -> None:
    text = json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True, default=_json_default) + "\n"
    atomic_write(Path(path), lambda p: p.write_text(text, encoding="utf-8"))


def _json_default(o):
    """numpy scalars and pandas' NA as JSON (read from sys.modules: their objects exist only once they are
    imported, and the build's own records need neither)."""
    np, pd = sys.modules.get("numpy"), sys.modules.get("pandas")
    if np is None:
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if pd is not None and o is pd.NA:
        return None
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
