"""The linters' view of the code and the pre-commit hooks (.pre-commit-config.yaml) hold on the whole tree.

The hooks are local (``language: system``, the tools of .venv), so make test runs exactly what a commit runs.
``test_the_tree_is_formatted`` passes once ``ruff format`` has been run over the tree (the lead does so once,
after merging the branches of a round); from then on a commit that is not formatted fails here and in the hook.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from src.base import paths

ROOT = paths.ROOT
BIN = Path(sys.executable).parent
HOOKS = ROOT / "tools" / "hooks.py"


def tool(name: str) -> str:
    exe = BIN / name
    if not exe.exists():
        pytest.fail(f"{name} is not installed in {BIN}: run make venv (it is pinned in requirements.txt)")
    return str(exe)


def in_git_checkout() -> bool:
    return subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=ROOT, capture_output=True).returncode == 0


def test_ruff_check_passes():
    proc = subprocess.run([tool("ruff"), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_tree_is_formatted():
    proc = subprocess.run(
        [tool("ruff"), "format", "--no-cache", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, (
        "run .venv/bin/ruff format (the files below are not formatted):\n" + proc.stdout[-3000:]
    )


def test_every_hook_is_local_and_runs_a_tool_of_the_venv():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = [h for repo in config["repos"] for h in repo["hooks"]]
    assert all(repo["repo"] == "local" for repo in config["repos"])
    assert {h["id"] for h in hooks} >= {"ruff", "ruff-format", "notebooks-stripped", "no-stray-data"}
    for h in hooks:
        assert h["language"] == "system" and h["entry"].startswith(".venv/bin/"), h
        assert (ROOT / h["entry"].split()[0]).exists() or not (ROOT / ".venv").exists(), h


def test_the_hooks_pass_on_the_whole_tree():
    """What ``git commit`` runs, on every tracked file (ruff-format: test_the_tree_is_formatted)."""
    if not in_git_checkout():
        pytest.skip("not a git checkout")
    env = {**os.environ, "SKIP": "ruff-format", "PRE_COMMIT_HOME": str(ROOT / ".venv" / "pre-commit-cache")}
    proc = subprocess.run(
        [tool("pre-commit"), "run", "--all-files", "--color", "never"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "notebooks committed without outputs" in proc.stdout and "no data file" in proc.stdout


def hook(check: str, *files) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(HOOKS), check, *map(str, files)], capture_output=True, text=True)


def test_the_notebook_hook_refuses_outputs_and_execution_counts(tmp_path):
    clean = paths.NOTEBOOKS / "02_sample.ipynb"
    assert hook("notebooks", clean).returncode == 0
    nb = json.loads(clean.read_text(encoding="utf-8"))
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["42\n"]}]
    code["execution_count"] = 3
    (tmp_path / "run.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    proc = hook("notebooks", tmp_path / "run.ipynb")
    assert proc.returncode == 1 and "has outputs" in proc.stdout and "execution count" in proc.stdout


def test_the_data_hook_refuses_exports_and_derived_data_but_not_the_corpus():
    assert hook("data", "data/raw/README.md", "tests/bad_inputs/files/empty.sav", "src/helpers.py").returncode == 0
    for path in (
        "data/raw/export.sav",
        "data/derived/respondents.parquet",
        "notebooks/tabell.csv",
        "uttrekk.XLSX",
        "data/raw/notes.txt",
    ):
        proc = hook("data", path)
        assert proc.returncode == 1 and path in proc.stdout, path


def test_ruff_and_pre_commit_are_pinned():
    pins = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert any(p.startswith("ruff==") for p in pins) and any(p.startswith("pre-commit==") for p in pins)
    assert shutil.which("ruff", path=str(BIN)) and shutil.which("pre-commit", path=str(BIN))
