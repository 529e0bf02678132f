"""Every path the compendium uses, in one place.

Relative paths given by a user (in ``params.yml`` or on the command line) are
resolved against the repository root, never against the current working
directory, so a notebook opened in JupyterLab (cwd ``notebooks/``) and the same
notebook run by papermill (cwd = repository root) read the same files.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PARAMS = ROOT / "params.yml"
QUARTO_CONFIG = ROOT / "_quarto.yml"
NOTEBOOKS = ROOT / "notebooks"

DATA = ROOT / "data"
CODEBOOK = DATA / "codebook.yml"
REFERENCE = DATA / "reference"
PUBLISHED = REFERENCE / "published.yml"
POPULATION_MARGINS = REFERENCE / "population_margins.yml"
RAW = DATA / "raw"
DERIVED = DATA / "derived"

SYNTHETIC_EXPORT = RAW / "verneombud_2024_synthetic.sav"
RAW_MANIFEST = RAW / "MANIFEST.sha256"

REPORTS = ROOT / "reports"
# where a notebook run outside the build (JupyterLab, papermill by hand) writes: never read by the build
INTERACTIVE = REPORTS / "_interactive"

# What a build reads from the repository (no outputs, no data): a copy of these is a project
# that builds (tests and the benchmark build such copies in temporary folders).
PROJECT_SOURCES = (
    "src",
    "notebooks",
    "data/codebook.yml",
    "data/reference",
    "data/mappings",
    "data/raw/README.md",
    "params.yml",
    "_quarto.yml",
    "index.qmd",
    "appendices",
    "typst",
    "filters",  # Quarto's Lua filters (_quarto.yml)
    "requirements.txt",
)

# Names inside a derived_dir / reports_dir (which are parameters).
RESPONDENTS_FILE = "respondents.parquet"
EXCLUDED_FILE = "excluded.parquet"
DATA_INFO_FILE = "data_info.json"
TABLES_DIR = "tables"
FIGURES_DIR = "figures"
RESULTS_DIR = "results"
EXECUTED_DIR = "executed"
BOOK_DIR = "book"
RESULTS_FILE = "results.json"
FIGURES_ENV = "VO_FIGURES"  # "off": a run whose figures no reader sees (the build's weighted twins) draws none


MAPPINGS = ROOT / "data" / "mappings"


def mapping_file(raw_path: str | Path) -> Path:
    """The confirmed mapping of the export ``raw_path`` onto the codebook (src/data/mapping.py):
    ``data/mappings/<export name>.yml``. Names and labels only, committed; found by the export's name."""
    return MAPPINGS / f"{Path(raw_path).stem}.yml"


def review_dir(raw_path: str | Path) -> Path:
    """Where the review sheets of the open answers of the export ``raw_path`` live (src/data/coding.py).

    Next to the export, in ``coding/<export name>/`` (``data/raw/coding/...`` for
    an export in data/raw, git-ignored): they hold free text, so they stay with
    the raw data, one folder per export.
    """
    raw = resolve(raw_path)
    return raw.parent / "coding" / raw.stem


BUILD_ENV = "VO_BUILD"  # set by the build (src/pipeline/cli.py) for itself and every kernel it starts


def outside_build() -> bool:
    """True for anything the build did not start: a Jupyter kernel, a console, a script, a test.

    Only the build (``make book``, ``python -m src.pipeline``) sets ``VO_BUILD``, for itself and
    the kernels it starts; everything else is a researcher's own run, whose outputs go to
    ``reports/_interactive/`` (``interactive_dir``), never into the build's folders.
    """
    return not os.environ.get(BUILD_ENV)


def inside_project(path: str | Path) -> bool:
    """True when ``path`` lies inside the repository (where every folder a build writes must lie)."""
    try:
        resolve(path).resolve().relative_to(ROOT.resolve())
        return True
    except ValueError:
        return False


def interactive_dir(folder: str | Path, sub: str = "") -> Path:
    """Where a run outside the build writes what it would have written to ``folder``.

    Outside the build, a folder inside the project (every folder a build may write: its
    ``reports_dir`` and ``derived_dir`` must lie there) is replaced by ``reports/_interactive/<sub>``;
    a folder outside the project (a temporary folder a test or script chose) can be no build's
    output and is kept. The build itself always writes where it is told.
    """
    if outside_build() and inside_project(folder):
        return INTERACTIVE / sub if sub else INTERACTIVE
    return resolve(folder)


def resolve(path: str | Path) -> Path:
    """Return ``path`` as an absolute path, relative paths taken from the repo root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (ROOT / p)


def relative(path: str | Path) -> str:
    """``path`` relative to the repo root when inside it (for display), else absolute."""
    p = Path(path).resolve()
    try:
        return p.relative_to(ROOT).as_posix()
    except ValueError:
        return p.as_posix()


def copy_project(dest: Path, root: Path = ROOT) -> Path:
    """Copy the project's sources (``PROJECT_SOURCES`` of ``root``) to ``dest``: a project without outputs."""
    import shutil

    for rel in PROJECT_SOURCES:
        src, dst = root / rel, dest / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dst)
    return dest
