"""The summary of every group comparison (comparisons.comparison_summary): labels, p, Holm."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np

from src.base import paths
from src.book import comparisons


def _chapter(tmp_path, codebook, results: dict):
    (tmp_path / paths.RESULTS_DIR).mkdir(parents=True)
    (tmp_path / paths.RESULTS_DIR / "07_usefulness.json").write_text(json.dumps(results), encoding="utf-8")
    return SimpleNamespace(
        codebook=codebook, reports_dir=tmp_path, results={}, published=[], weighted=False, lang="nb", alpha=0.05
    )


def test_multivariable_terms_are_listed_under_their_labels(tmp_path, codebook):
    base = "07_usefulness.mv.satisfaction_overall.ols.course_mode.2"
    ch = _chapter(tmp_path, codebook, {f"{base}.significant": True, f"{base}.p": 1.5e-7, f"{base}.estimate": -0.31})
    table = comparisons.comparison_summary(ch)
    row = table.iloc[0]
    labels = codebook.value_labels("course_mode")
    assert row["Sammenligning"].startswith(f"{labels[2]} vs {labels[1]}")
    assert row["Mål"] == codebook.label("satisfaction_overall")
    assert row["p"] == 1.5e-7 and row["Effekt"] == -0.31 and row["Reprodusert"] == "signifikant"
    assert not any(str(s).strip().isdigit() for s in table["Sammenligning"])


def test_holm_uses_the_unrounded_p(tmp_path, codebook):
    keys = {
        "07_usefulness.t28_satisfaction.korte_vs_lange": 2e-6,
        "07_usefulness.t28_satisfaction.korte_vs_middels": 0.0499,
    }
    results = {}
    for k, p in keys.items():
        results.update({f"{k}.significant": p < 0.05, f"{k}.p": p, f"{k}.statistic": -0.3, f"{k}.effect": -0.3})
    table = comparisons.comparison_summary(_chapter(tmp_path, codebook, results)).set_index("Sammenligning")
    assert np.isclose(table["p (Holm)"].min(), 4e-6)  # 2 × 2e-6, not 2 × 0.0
    assert (table["p (Holm)"] > 0).all()
