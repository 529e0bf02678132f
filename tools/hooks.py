"""The project's own pre-commit checks (.pre-commit-config.yaml runs them on the files being committed).

    python tools/hooks.py notebooks FILE.ipynb ...   notebooks committed thin: no outputs, no execution counts
    python tools/hooks.py data FILE ...              no data file but the bad-input corpus, nothing in data/raw
                                                     or data/derived but their README (a real export never enters git)

Each prints one line per offending file and exits 1; nothing is changed (strip a notebook in JupyterLab:
Edit > Clear Outputs of All Cells, then save). Standard library only: a hook starts in milliseconds.
"""

from __future__ import annotations

import json
import sys
from pathlib import PurePosixPath

DATA_SUFFIXES = (".sav", ".zsav", ".por", ".parquet", ".xlsx", ".xls", ".csv", ".tsv", ".dta", ".rds", ".feather")
CORPUS = "tests/bad_inputs/files/"  # the bad-input corpus: small files made for the tests, none from a real export
DATA_DIRS = ("data/raw/", "data/derived/")
ALLOWED_IN_DATA_DIRS = ("README.md", "MANIFEST.sha256", ".gitkeep")


def notebook_problems(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except (OSError, ValueError) as e:
        return [f"{path}: not a readable notebook ({type(e).__name__})"]
    out = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            out.append(f"{path}: cell {i + 1} has outputs (commit notebooks with outputs cleared)")
        if cell.get("execution_count") is not None:
            out.append(f"{path}: cell {i + 1} has an execution count (clear outputs before committing)")
    return out


def data_problems(path: str) -> list[str]:
    p = PurePosixPath(path.replace("\\", "/"))
    s = str(p)
    if s.startswith(DATA_DIRS) and p.name not in ALLOWED_IN_DATA_DIRS:
        return [
            f"{s}: nothing but the README is committed in {p.parts[0]}/{p.parts[1]}/ (exports and derived "
            "data stay on the researcher's machine)"
        ]
    if p.suffix.lower() in DATA_SUFFIXES and not s.startswith(CORPUS):
        return [f"{s}: a data file ({p.suffix}) outside the bad-input corpus ({CORPUS}) is not committed"]
    return []


def main(argv: list[str]) -> int:
    checks = {"notebooks": notebook_problems, "data": data_problems}
    if not argv or argv[0] not in checks:
        print(__doc__, file=sys.stderr)
        return 2
    problems = [line for path in argv[1:] for line in checks[argv[0]](path)]
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
