"""What a build reads before any notebook runs, checked without pandas.

Parameters (types, allowed values), the checksums of data/raw and the
fingerprint of the synthetic export's inputs. Kept light so that a rebuild with
nothing to do starts, checks and stops in well under a second.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from src import paths

DEFAULT_SEED = 20241008   # the synthetic export's random seed

PARAM_TYPES = {
    "raw_path": str,
    "derived_dir": str,
    "reports_dir": str,
    "weighted": bool,
    "lang": str,
    "alpha": float,
    "min_cell": int,
}


class ParameterError(ValueError):
    """A notebook parameter has the wrong type or value."""


def check_params(params: dict, where: str = "parameters") -> dict:
    """Validate notebook parameters; raise ParameterError listing every problem."""
    problems = []
    unknown = sorted(set(params) - set(PARAM_TYPES))
    if unknown:
        problems.append(f"unknown parameter(s) {unknown}; known: {sorted(PARAM_TYPES)}")
    for key, typ in PARAM_TYPES.items():
        if key not in params:
            continue
        val = params[key]
        ok = isinstance(val, typ) and not (typ is not bool and isinstance(val, bool))
        if typ is float and isinstance(val, int) and not isinstance(val, bool):
            ok = True
        if not ok:
            problems.append(f"'{key}' must be {typ.__name__}, got {type(val).__name__} {val!r}")
    if isinstance(params.get("lang"), str) and params["lang"] not in ("nb", "en"):
        problems.append(f"'lang' must be 'nb' or 'en', got {params['lang']!r}")
    a = params.get("alpha")
    if isinstance(a, (int, float)) and not isinstance(a, bool) and not 0 < a < 1:
        problems.append(f"'alpha' must be between 0 and 1, got {a!r}")
    m = params.get("min_cell")
    if isinstance(m, int) and not isinstance(m, bool) and m < 0:
        problems.append(f"'min_cell' must be a whole number >= 0 (0 switches suppression off), got {m!r}")
    if problems:
        raise ParameterError(f"Invalid {where}:\n" + "\n".join(f"  - {p}" for p in problems))
    return params


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(manifest: Path = paths.RAW_MANIFEST) -> dict[str, str]:
    """File name -> sha256 from data/raw/MANIFEST.sha256 (sha256sum format)."""
    out = {}
    if manifest.exists():
        for line in manifest.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                digest, name = line.split(maxsplit=1)
                out[name.strip()] = digest
    return out


def write_manifest(files: dict[str, str], manifest: Path = paths.RAW_MANIFEST) -> None:
    """Record sha256 checksums of the raw inputs (``sha256  name`` lines, like sha256sum)."""
    existing = read_manifest(manifest)
    existing.update(files)
    lines = ["# sha256 of the files in data/raw (check: cd data/raw && sha256sum -c MANIFEST.sha256)"]
    lines += [f"{d}  {n}" for n, d in sorted(existing.items())]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")


GENERATOR_INPUTS = ["src/synthesize.py", "src/coding.py", "src/calibrate.py", "src/measures.py", "data/codebook.yml",
                    "data/reference/published.yml", "data/reference/measures.yml", "data/reference/synthesis.yml"]


def fingerprint(seed: int = DEFAULT_SEED, size: float = 1.0) -> str:
    """sha256 over everything the synthetic export is made from (code, codebook, targets, seed, size)."""
    h = hashlib.sha256(f"seed={seed};size={size}".encode())
    for rel in GENERATOR_INPUTS:
        p = paths.ROOT / rel
        h.update(rel.encode() + b"\0" + (p.read_bytes() if p.exists() else b""))
    return h.hexdigest()


def fingerprint_file(out: Path) -> Path:
    return out.with_name(out.name + ".inputs")


def is_current(out: str | Path = paths.SYNTHETIC_EXPORT, seed: int = DEFAULT_SEED, size: float = 1.0) -> bool:
    """True when ``out`` exists and was generated from the present generator inputs."""
    out = paths.resolve(out)
    fp = fingerprint_file(out)
    sheets = paths.review_dir(out)   # the generator also writes the review sheets of its open answers
    return (out.exists() and fp.exists() and fp.read_text().strip() == fingerprint(seed, size)
            and sheets.is_dir() and any(sheets.glob("*.csv")))
