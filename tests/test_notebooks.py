"""The notebooks are committed thin and clean, and agree with params.yml."""

from __future__ import annotations

import ast

import nbformat
import pytest
import yaml

from src.base import contents, paths
from src.book import render

NOTEBOOKS = sorted(paths.NOTEBOOKS.glob("*.ipynb"))


def test_every_book_notebook_exists():
    for name in contents.notebook_order():
        assert (paths.NOTEBOOKS / f"{name}.ipynb").exists(), name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_stripped_and_kernel_metadata_kept(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name}: strip outputs"
    # papermill refuses a notebook without these
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["language_info"]["name"] == "python"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_matches_params_yml(path):
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    defaults = {}
    for node in ast.parse(cells[0].source).body:
        defaults[node.targets[0].id] = ast.literal_eval(node.value)
    assert defaults == yaml.safe_load(paths.PARAMS.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_a_title_and_a_purpose(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert len(first.source.split("\n\n")) >= 2, "say the notebook's purpose under the title"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_table_cells_carry_quarto_label_and_caption(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "ch.table(" in cell.source and "#|" in cell.source:
            opts, _ = render.cell_options(cell.source)
            assert str(opts.get("label", "")).startswith("tbl-"), cell.source[:80]
            assert opts.get("tbl-cap"), cell.source[:80]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_figure_cells_carry_quarto_label_and_caption(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "ch.figure(" in cell.source:
            opts, _ = render.cell_options(cell.source)
            assert str(opts.get("label", "")).startswith("fig-"), cell.source[:80]
            assert opts.get("fig-cap"), cell.source[:80]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_has_a_fixed_unique_id(path):
    """nbformat 4.5 ids in the committed notebook: without them every run invents random ones
    (and every chapter page of the book differs from the last build's)."""
    import json

    raw = json.loads(path.read_text(encoding="utf-8"))
    assert (raw["nbformat"], raw["nbformat_minor"]) >= (4, 5)
    ids = [c.get("id") for c in raw["cells"]]
    assert all(ids) and len(set(ids)) == len(ids)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_committed_notebook_is_what_the_git_filter_writes(path):
    """Byte for byte what nbstripout (the git filter `make venv` installs) makes of it: otherwise a fresh
    clone's `git status` lists the notebook as changed once the filter is configured and git looks again."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "nbstripout", "--keep-id"], input=path.read_bytes(), capture_output=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == path.read_bytes(), f"write {path.name} as nbformat does (sorted keys): git add --renormalize"
