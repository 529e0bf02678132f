"""The reference files, one loader each, every YAML file parsed once per content (``read_yaml``).

* ``load_published``  the report's numbers (data/reference/published.yml), ``published_document`` the whole file
* ``load_measures``   how each number is computed (data/reference/measures.yml)
* ``load_margins``    the SSB figures the report cites (data/reference/population_margins.yml)
* ``load_captions_en`` English captions and table words (data/reference/captions_en.yml)

A build runs 17 notebooks, each in its own process, and each read the same
files again (published.yml alone 0.4 s per process). ``read_yaml`` parses a
file once per content: in a process it keeps what it parsed (until the file
changes), and across processes it keeps a pickle of the parsed data beside the
file, in a ``__pycache__`` folder as Python does for modules, named by the
sha256 of the file's bytes (so an edited file is parsed again, and a stale
pickle is never read). Where that folder cannot be written the file is parsed.
"""

from __future__ import annotations

import copy
import hashlib
import os
import pickle
import tempfile
from pathlib import Path

import yaml

from src.base import paths

MEASURES = paths.REFERENCE / "measures.yml"
CAPTIONS_EN = paths.REFERENCE / "captions_en.yml"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml where installed: about 10x faster
_CACHE_TAG = f"yaml{yaml.__version__}-{'c' if _LOADER is not yaml.SafeLoader else 'py'}-p{pickle.DEFAULT_PROTOCOL}"
_parsed: dict[str, tuple[tuple[int, int], object]] = {}


def _cache_file(path: Path, digest: str) -> Path:
    return path.parent / "__pycache__" / f"{path.name}.{digest[:20]}.{_CACHE_TAG}.pickle"


def _parse_cached(path: Path) -> object:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    cached = _cache_file(path, digest)
    try:
        with open(cached, "rb") as fh:
            return pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        pass
    try:
        parsed = yaml.load(data, Loader=_LOADER)
    except yaml.YAMLError:  # the error as the pure-Python parser words it, naming the file
        with open(path, encoding="utf-8") as fh:
            return yaml.load(fh, Loader=yaml.SafeLoader)
    try:  # atomically, so a concurrent reader finds a whole pickle or none; older contents' pickles removed
        cached.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cached.parent, prefix=".tmp-", suffix=".pickle")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(parsed, fh)
        os.replace(tmp, cached)
        for old in cached.parent.glob(f"{path.name}.*.pickle"):
            if old != cached:
                old.unlink(missing_ok=True)
    except OSError:
        pass
    return parsed


def read_yaml(path: str | Path) -> object:
    """A YAML file's data, parsed once per content (see the module's docstring). Callers must not change it."""
    p = Path(path)
    st = p.stat()
    stamp = (st.st_mtime_ns, st.st_size)
    hit = _parsed.get(str(p))
    if hit is None or hit[0] != stamp:
        hit = _parsed[str(p)] = (stamp, _parse_cached(p))
    return hit[1]


def published_document(path: str | Path | None = None) -> dict:
    """The whole of published.yml (``entries``, ``inconsistencies``, …), shared: do not change it."""
    return read_yaml(paths.resolve(path) if path else paths.PUBLISHED) or {}


def load_published(path: str | Path | None = None) -> list[dict]:
    """The report's numbers (data/reference/published.yml), one dict per entry (fresh copies)."""
    return copy.deepcopy(list(published_document(path).get("entries") or []))


def published_value(table: str, row: str, column: str, entries: list[dict] | None = None):
    """The printed value of one table cell (KeyError naming the cell if absent)."""
    for e in entries if entries is not None else published_document().get("entries") or []:
        lk = e.get("lookup") or {}
        if lk.get("table") == table and lk.get("row") == row and lk.get("column") == column:
            return e["value"]
    raise KeyError(f"published.yml has no entry for {table} / row '{row}' / column '{column}'")


def load_measures(path: str | Path | None = None) -> dict:
    """measures.yml: ``tables`` (layouts of the report's tables) and ``results`` (one spec per number), shared."""
    raw = read_yaml(paths.resolve(path) if path else MEASURES) or {}
    return {"tables": raw.get("tables") or {}, "results": raw.get("results") or {}}


def load_margins(path: str | Path | None = None) -> dict:
    """Population figures the report cites (data/reference/population_margins.yml), a fresh copy."""
    return copy.deepcopy(read_yaml(paths.resolve(path) if path else paths.POPULATION_MARGINS) or {})


def load_captions_en(path: str | Path | None = None) -> dict:
    """captions_en.yml: ``captions`` (label -> English caption) and ``terms`` (table words), shared."""
    return read_yaml(Path(path) if path else CAPTIONS_EN) or {}


def load_terms(path: Path = CAPTIONS_EN) -> dict[str, str]:
    """Common Norwegian table words -> English (``terms:`` in captions_en.yml), for lang: en."""
    terms = load_captions_en(path).get("terms") or {}
    if not isinstance(terms, dict):
        raise ValueError(f"{paths.relative(path)}: 'terms' must map Norwegian words to English ones")
    return {str(k): str(v) for k, v in terms.items()}
