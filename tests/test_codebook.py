"""The codebook is consistent, and an inconsistent one is refused with reasons."""

from __future__ import annotations

import pytest
import yaml

from src.base import codebook as cbmod
from src.base import paths


def test_codebook_loads_and_ids_exist(codebook):
    assert codebook.id in codebook.variables
    assert codebook.variables[codebook.id].type == "id"
    assert codebook.expand("eligible") == "(role in [1, 2, 3, 4] and basic_training in [1, 2])"


def test_every_single_variable_has_labels_and_a_source(codebook):
    for v in codebook.variables.values():
        assert v.source and v.label
        if v.type == "single":
            assert v.values


def test_inconsistent_codebook_lists_every_problem(tmp_path):
    raw = yaml.safe_load(paths.CODEBOOK.read_text(encoding="utf-8"))
    raw["variables"]["gender"]["type"] = "multiple"
    raw["recodes"]["role_group"]["map"][9] = 1
    raw["recodes"]["size_group"]["map"][1] = 7
    raw["variables"]["sector"]["routing"] = "eligible and colour == 1"
    with pytest.raises(cbmod.CodebookError) as info:
        cbmod.parse(raw, tmp_path / "codebook.yml")
    msg = str(info.value)
    assert "4 problem(s)" in msg
    assert "variables.gender.type is 'multiple'" in msg
    assert "recodes.role_group.map has codes [9]" in msg
    assert "recodes.size_group.map maps to codes [7]" in msg
    assert "unknown names ['colour']" in msg
