"""The bad-input corpus (tests/bad_inputs/cases.yml), each case through the real build command.

Every case must end with its exact message on stderr, exit code 1, no
traceback, no notebook started (the input is refused before any kernel), and
derived data, reports and the previous book unchanged byte for byte.

The cases run in a copy of the project (the build writes only inside its
project, so the "previous build" lives in the copy, not in a temporary folder
beside it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import snapshot

from src.base import paths
from src.synthetic import synthesize

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = yaml.safe_load((CORPUS / "cases.yml").read_text(encoding="utf-8"))["cases"]
ID_COLUMN = "respondent_id"


def previous_build(root: Path) -> tuple[Path, Path]:
    """derived_dir and reports_dir holding a 'previous build' (sentinel files) that must survive."""
    derived, reports = root / "derived", root / "reports"
    files = {
        derived / paths.RESPONDENTS_FILE: b"previous respondents",
        derived / paths.DATA_INFO_FILE: b'{"previous": true}\n',
        reports / paths.RESULTS_FILE: b'{"previous": true}\n',
        reports / paths.TABLES_DIR / "tabell_02.csv": b"Rolle,Antall\nforrige bygg,1\n",
        reports / paths.EXECUTED_DIR / "02_sample.ipynb": b"{}",
        reports / paths.BOOK_DIR / "index.html": b"<p>Forrige bok</p>",
    }
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return derived, reports


def _rows(frame: pd.DataFrame, step: dict) -> pd.Index:
    idx = frame.query(step["where"]).index if step.get("where") else frame.index
    return idx[: step["first"]] if "first" in step else idx


def mutate(frame: pd.DataFrame, steps: list[dict], out: Path, codebook) -> tuple[Path, list[str]]:
    """Apply a case's mutation steps to the synthetic export; write it; return (path, ids touched)."""
    import pyreadstat

    frame, ids, labels, fmt, truncate, missing = frame.copy(), [], {}, "sav", None, {}
    for step in steps:
        ((op, arg),) = step.items()
        if op == "set":
            rows = _rows(frame, arg)
            assert len(rows), f"mutation {step} selects no rows"
            ids += [str(int(i)) for i in frame.loc[rows, ID_COLUMN]]
            if arg["value"] is None:
                frame[arg["column"]] = frame[arg["column"]].astype(float)
            elif isinstance(arg["value"], str):
                frame[arg["column"]] = frame[arg["column"]].astype(object)
            frame.loc[rows, arg["column"]] = arg["value"]
        elif op == "drop":
            frame = frame.drop(columns=arg)
        elif op == "rename":
            frame = frame.rename(columns=arg)
        elif op == "duplicate_id":
            rows = frame.index[: arg["first"]]
            frame.loc[rows, ID_COLUMN] = frame.loc[rows[0], ID_COLUMN]
            ids.append(str(int(frame.loc[rows[0], ID_COLUMN])))
        elif op == "keep_only":
            for c in frame.columns:
                if c != ID_COLUMN and c not in arg:
                    frame[c] = None if frame[c].dtype == object else float("nan")
        elif op == "rows":
            frame = frame.iloc[:arg]
        elif op == "labels":
            labels.update({col: {float(k): v for k, v in lab.items()} for col, lab in arg.items()})
        elif op == "missing":
            missing.update({col: [float(c) for c in codes] for col, codes in arg.items()})
        elif op == "write":
            fmt = arg
        elif op == "truncate":
            truncate = arg
        else:
            raise ValueError(f"cases.yml: unknown mutation step {op!r}")
    path = out.with_suffix(f".{fmt}")
    if fmt == "csv":
        frame.to_csv(path, index=False, encoding="utf-8")
    elif labels or missing:
        value_labels = {
            s: {float(k): lab for k, lab in v.values.items()}
            for s, v in codebook.by_source().items()
            if v.values and s in frame
        }
        value_labels.update(labels)
        pyreadstat.write_sav(frame, str(path), variable_value_labels=value_labels, missing_ranges=missing or None)
    else:
        synthesize.write_sav(frame, path, codebook)
    if truncate is not None:
        path.write_bytes(path.read_bytes()[:truncate])
    return path, list(dict.fromkeys(ids))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the project with the corpus in it (cases name files as tests/bad_inputs/files/...)."""
    root = paths.copy_project(tmp_path_factory.mktemp("bad_inputs_project"))
    shutil.copytree(CORPUS, root / "tests" / "bad_inputs")
    return root


def shown(path: Path, root: Path) -> str:
    """A path as the build in ``root`` prints it (relative inside the project, else absolute)."""
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).resolve().as_posix()


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_gives_its_message_and_changes_nothing(case, project, tmp_path, synthetic_frame, codebook):
    derived, reports = previous_build(project / "cases" / case["id"])
    args, raw_shown, ids = list(case.get("args") or []), None, []
    source = case.get("input") or {}
    if "file" in source:
        raw = project / "tests" / "bad_inputs" / "files" / source["file"]
        assert raw.exists(), raw
    elif "mutate" in source:
        raw, ids = mutate(synthetic_frame, source["mutate"], tmp_path / case["id"], codebook)
    elif "path" in source:
        raw = project / source["path"]
    else:
        raw = None
    if raw is not None:
        args += ["-p", f"raw_path={raw}"]
        raw_shown = shown(raw, project)
    if case.get("params"):
        args += ["--params", f"tests/bad_inputs/files/{case['params']}"]
    # the previous build's folders first: a case's own -p derived_dir / reports_dir comes later and wins
    args = ["-p", f"derived_dir={shown(derived, project)}", "-p", f"reports_dir={shown(reports, project)}", *args]
    before = {"derived": snapshot(derived), "reports": snapshot(reports)}
    raw_dir = project / "data" / "raw"
    raw_before = snapshot(raw_dir) if raw_dir.exists() else {}

    proc = subprocess.run(
        [sys.executable, "-m", "src.pipeline", "--renderer", "fallback", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    for want in case.get("expect") or []:
        want = want.format(raw=raw_shown, ids=", ".join(ids))
        assert want in lines, f"expected the line\n{want!r}\nin stderr:\n{proc.stderr}"
    for want in case.get("expect_in") or []:
        assert want in proc.stderr, f"expected {want!r} in stderr:\n{proc.stderr}"
    for never in case.get("never") or []:  # a value from the data the messages must not show
        assert never not in proc.stdout + proc.stderr, f"{never!r} was printed:\n{proc.stdout}{proc.stderr}"
    assert proc.stderr.count("BUILD FAILED") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "] start " not in proc.stdout, "a step was started: the input should be refused before any kernel"
    assert {"derived": snapshot(derived), "reports": snapshot(reports)} == before, "the previous build changed"
    assert (snapshot(raw_dir) if raw_dir.exists() else {}) == raw_before, "data/raw changed"


def test_the_corpus_covers_what_issue_11_asks_for():
    """At least 20 cases, each with an expected message, covering the listed kinds of bad input."""
    ids = {c["id"] for c in CASES}
    assert len(CASES) >= 20 and len(ids) == len(CASES)
    assert all(c.get("expect") or c.get("expect_in") for c in CASES)
    required = {
        "wrong_file_type",
        "truncated_sav",
        "csv_latin1",
        "renamed_variable",
        "missing_variable",
        "unknown_value_code",
        "likert_out_of_range",
        "value_label_differs",
        "duplicate_respondent_ids",
        "empty_file",
        "all_rows_excluded",
        "routed_question_answered",
        "parameter_wrong_type",
        "parameter_unknown",
        "raw_path_missing",
    }
    assert required <= ids, sorted(required - ids)
    used = {c["input"]["file"] for c in CASES if "file" in (c.get("input") or {})} | {
        c["params"] for c in CASES if c.get("params")
    }
    assert used == {p.name for p in (CORPUS / "files").iterdir()}, "files/ holds a file no case uses, or lacks one"
