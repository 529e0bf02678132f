"""Captions: provenance (link to the cell, data checksum), English captions, idempotence."""

from __future__ import annotations

import json

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from src.base import paths
from src.book import captions, render

NOTEBOOKS = sorted(paths.NOTEBOOKS.glob("*.ipynb"))
INFO = {"file": "verneombud_2024_synthetic.sav", "sha256": "ab" * 32, "synthetic": True}
BANNER = f"::: {{.callout-warning}}\n**Datagrunnlag:** fil `x.sav`, sha256 `{'ab' * 32}`\n:::"


def executed_notebook(path, lang="nb", sha=INFO["sha256"]):
    """A small notebook as papermill leaves it: parameters in the metadata, outputs, execution counts."""
    banner = new_code_cell("ch.banner()", execution_count=2)
    banner.outputs = [new_output("display_data", data={"text/markdown": BANNER.replace("ab" * 32, sha)})]
    table = new_code_cell('#| label: tbl-t02\n#| tbl-cap: "Roller"\nch.table(t)', execution_count=5)
    table.outputs = [new_output("display_data", data={"text/markdown": "| a | b |\n|:--|--:|\n| x | 1 |"})]
    figure = new_code_cell('#| label: fig-f01\n#| fig-cap: "Motivasjon"\nch.figure("figur_01")', execution_count=7)
    nb = new_notebook(cells=[new_markdown_cell("# Kapittel\n\nTekst."), banner, table, figure])
    nb.metadata["papermill"] = {"parameters": {"lang": lang}}
    nbformat.write(nb, path)
    return path


def caption_of(path, label):
    """The numbered caption the step wrote for the cell labelled ``label`` (one line, link kept)."""
    found = []
    for cell in nbformat.read(path, as_version=4).cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            cap = captions.caption_of_output(out)
            if cap and cap["label"] == label:
                found.append(captions.caption_plain(cap))
    assert len(found) == 1, (label, found)
    return found[0]


# -- the English catalogue ----------------------------------------------------


def test_every_labelled_cell_of_every_notebook_has_an_english_caption():
    catalogue = captions.load_catalogue()
    missing = [
        f"{p.stem}: {label}"
        for p in NOTEBOOKS
        for _, label, _, _ in captions.labelled_cells(nbformat.read(p, as_version=4))
        if label not in catalogue
    ]
    assert not missing, f"add English captions to {paths.relative(captions.CATALOGUE)}: {missing}"


def test_the_catalogue_has_no_caption_for_a_label_no_notebook_has():
    labels = {label for p in NOTEBOOKS for _, label, _, _ in captions.labelled_cells(nbformat.read(p, as_version=4))}
    orphans = sorted(set(captions.load_catalogue()) - labels)
    assert not orphans, f"captions for labels no notebook has (renamed or removed cells?): {orphans}"


def test_a_broken_catalogue_is_named(tmp_path):
    bad = tmp_path / "captions_en.yml"
    bad.write_text(yaml.safe_dump({"captions": {"tbl-x": "", "t02": "Roles"}}), encoding="utf-8")
    with pytest.raises(captions.CaptionError, match=r"captions_en.yml.*\['t02', 'tbl-x'\]"):
        captions.load_catalogue(bad)


# -- one notebook -------------------------------------------------------------


def test_caption_gets_a_link_to_its_cell_and_the_data_checksum(tmp_path):
    nb = executed_notebook(tmp_path / "02_sample.ipynb")
    changed, missing = captions.annotate_notebook(nb, INFO)
    assert changed and not missing
    assert caption_of(nb, "tbl-t02") == (
        "Tabell 2: Roller (Kilde: [02_sample.ipynb, celle 5](notebook-view/02_sample.html#cell-tbl-t02)"
        " · data verneombud_2024_synthetic.sav, sha256 abababab)"
    )
    assert caption_of(nb, "fig-f01").startswith("Figur 1: Motivasjon (Kilde: [02_sample.ipynb, celle 7]")


def test_annotating_twice_changes_nothing(tmp_path):
    nb = executed_notebook(tmp_path / "02_sample.ipynb")
    captions.annotate_notebook(nb, INFO)
    before, mtime = nb.read_bytes(), nb.stat().st_mtime_ns
    changed, _ = captions.annotate_notebook(nb, INFO)
    assert not changed and nb.read_bytes() == before and nb.stat().st_mtime_ns == mtime
    assert caption_of(nb, "tbl-t02").count("Kilde:") == 1
    # new data: the suffix is replaced, not appended (the notebook's own caption is kept in its metadata)
    other = dict(INFO, sha256="cd" * 32)
    executed_notebook(tmp_path / "03_role.ipynb", sha=other["sha256"])
    captions.annotate_notebook(tmp_path / "03_role.ipynb", INFO | {"sha256": "cd" * 32})
    captions.annotate_notebook(tmp_path / "03_role.ipynb", INFO | {"sha256": "cd" * 32})
    assert caption_of(tmp_path / "03_role.ipynb", "tbl-t02").count("Kilde:") == 1


def test_english_notebook_gets_the_english_caption(tmp_path):
    nb = executed_notebook(tmp_path / "02_sample.ipynb", lang="en")
    _, missing = captions.annotate_notebook(nb, INFO, catalogue={"tbl-t02": "Roles"})
    assert caption_of(nb, "tbl-t02").startswith("Table 2: Roles (Source: [02_sample.ipynb, cell 5](")
    assert missing == ["fig-f01"]  # reported, and the Norwegian caption kept
    assert caption_of(nb, "fig-f01").startswith("Figure 1: Motivasjon (Source:")


def test_a_notebook_executed_on_other_data_is_refused(tmp_path):
    nb = executed_notebook(tmp_path / "02_sample.ipynb", sha="ef" * 32)
    with pytest.raises(captions.CaptionError, match="02_sample.ipynb was executed on data with sha256 efefefef"):
        captions.annotate_notebook(nb, INFO)


def test_notebook_view_anchors_every_code_cell_and_is_rewritten_only_when_the_notebook_changes(tmp_path):
    nb = executed_notebook(tmp_path / "02_sample.ipynb")
    captions.annotate_notebook(nb, INFO)
    assert captions.write_view(nb) is True
    page = (tmp_path / captions.VIEW_DIR / "02_sample.html").read_text(encoding="utf-8")
    for anchor in ("cell-tbl-t02", "cell-5", "cell-fig-f01", "cell-7", "cell-2"):
        assert f'id="{anchor}"' in page, anchor
    assert (tmp_path / captions.VIEW_DIR / "02_sample.ipynb").read_bytes() == nb.read_bytes()
    assert 'href="../02_sample.html"' in page and 'href="02_sample.ipynb" download' in page
    assert captions.write_view(nb) is False


# -- the rendered fallback book -------------------------------------------------


def make_project(tmp_path, lang="nb"):
    executed = tmp_path / "reports" / "executed"
    executed.mkdir(parents=True)
    for name in ("01_a", "02_b"):
        executed_notebook(executed / f"{name}.ipynb", lang=lang)
    config = {
        "project": {"type": "book"},
        "lang": "nb",
        "book": {
            "title": "Testbok",
            "chapters": [
                "index.qmd",
                {"part": "Resultater", "chapters": ["reports/executed/01_a.ipynb", "reports/executed/02_b.ipynb"]},
            ],
        },
    }
    (tmp_path / "_quarto.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (tmp_path / "index.qmd").write_text("---\ntitle: Forside\n---\n\nHei.\n", encoding="utf-8")
    derived = tmp_path / "derived"
    derived.mkdir()
    (derived / paths.DATA_INFO_FILE).write_text(json.dumps(INFO), encoding="utf-8")
    return {"derived_dir": str(derived), "reports_dir": str(tmp_path / "reports"), "lang": lang}


def test_every_caption_of_the_fallback_book_links_to_an_existing_cell_and_names_the_data(tmp_path):
    params = make_project(tmp_path)
    result = captions.annotate_book(params, log=lambda m: None)
    assert result["changed"] == ["01_a", "02_b"] and result["views"] == ["01_a", "02_b"]
    render.render_fallback(tmp_path / "book", tmp_path / "reports", tmp_path / "_quarto.yml")
    page = (tmp_path / "book" / "02_b.html").read_text(encoding="utf-8")
    assert '<a href="notebook-view/02_b.html#cell-tbl-t02">02_b.ipynb, celle 5</a>' in page
    assert len(captions.book_captions(tmp_path / "book" / "02_b.html")) == 2
    assert captions.caption_problems(tmp_path / "book", INFO["sha256"]) == []
    # the check can fail: a wrong checksum and a missing view are named
    assert any("expected cdcdcdcd" in p for p in captions.caption_problems(tmp_path / "book", "cd" * 32))
    (tmp_path / "book" / captions.VIEW_DIR / "01_a.html").unlink()
    assert any("not in the book" in p for p in captions.caption_problems(tmp_path / "book", INFO["sha256"]))
    # the second run on unchanged notebooks rewrites nothing
    assert captions.annotate_book(params, log=lambda m: None) == {"changed": [], "views": [], "missing_en": {}}


def test_english_chapters_render_an_english_book(tmp_path):
    params = make_project(tmp_path, lang="en")
    captions.annotate_book(params, log=lambda m: None)
    render.render_fallback(tmp_path / "book", tmp_path / "reports", tmp_path / "_quarto.yml")
    page = (tmp_path / "book" / "01_a.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in page and "Show code" in page
    assert "Table 2:</strong> Distribution of roles" in page and "(Source: " in page
    assert captions.caption_problems(tmp_path / "book", INFO["sha256"]) == []


def test_a_book_of_mixed_languages_is_refused(tmp_path):
    make_project(tmp_path)
    executed_notebook(tmp_path / "reports" / "executed" / "02_b.ipynb", lang="en")
    with pytest.raises(RuntimeError, match="different languages.*lang=en: 02_b; lang=nb: 01_a"):
        render.render_fallback(tmp_path / "book", tmp_path / "reports", tmp_path / "_quarto.yml")


# -- English labels in tables and figures (lang: en) ----------------------------


def test_english_labels_come_from_the_codebook_and_the_table_words(codebook):
    from src import helpers as h

    labels = h.english_labels(codebook)
    assert labels["Rolle"] == "Role" and labels["Verneombud"] == "Safety representative"
    assert labels["Antall"] == "Count" and labels["Totalt"] == "Total"
    assert labels["Helt uenig"] == "Strongly disagree"  # scale labels of the grids


def test_english_table_is_shown_in_english_and_written_as_the_report_prints_it(tmp_path, monkeypatch):
    import pandas as pd

    from src import helpers as h

    shown = []
    monkeypatch.setattr(h, "display_markdown", shown.append)
    table = pd.DataFrame(
        {"Rolle": ["Verneombud", "Hovedverneombud", "Totalt"], "Antall": [3, 1, 4], "Prosent": [75.0, 25.0, 100.0]}
    )
    for lang in ("nb", "en"):
        # min_cell=0 and a derived folder of its own: this test is about language, and must
        # not depend on whether a build has left data/derived/ behind (CI runs on a fresh clone)
        ch = h.Chapter(
            "02_sample", derived_dir=str(tmp_path / "derived"), reports_dir=str(tmp_path / lang), lang=lang, min_cell=0
        )
        ch.table(table, "tabell_02", {"Prosent": 1})
    nb_csv = (tmp_path / "nb" / "tables" / "tabell_02.csv").read_bytes()
    assert (tmp_path / "en" / "tables" / "tabell_02.csv").read_bytes() == nb_csv  # same CSV in both
    assert "| Rolle | Antall | Prosent |" in shown[0] and "75,0" in shown[0]
    assert "| Role | Count | Percent |" in shown[1] and "| Senior safety representative |" in shown[1]
    assert "75.0" in shown[1]  # decimals follow the translated header


def test_one_executed_notebook_is_annotated_with_its_view_beside_it(tmp_path):
    params = make_project(tmp_path)
    nb = tmp_path / "reports" / "executed" / "02_b.ipynb"
    changed, missing = captions.annotate_executed(nb, params, log=lambda m: None)
    assert changed and not missing
    assert (nb.parent / captions.VIEW_DIR / "02_b.html").exists()
    assert captions.annotate_executed(nb, params, log=lambda m: None) == (False, [])
