"""Text from inputs cannot inject HTML or Markdown into the book (src/base/escape.py)."""

from __future__ import annotations

import mistune

from src import helpers as h
from src.base.escape import code_span, html_text, md_text

HOSTILE = "synthetic_<img src=x onerror=alert(1)>`<i>BT`.sav"


def render(text: str) -> str:
    return mistune.create_markdown(plugins=["table"], escape=False)(text)  # as the fallback renderer


def test_inline_text_carries_no_tag_and_no_markdown():
    out = render(md_text(HOSTILE) + " " + md_text("[lenke](javascript:x) *fet* $x$ @cite &amp; &copy"))
    assert "<img" not in out and "<i>" not in out and "<a " not in out and "<em>" not in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out and "&amp;copy" in out
    assert html_text(html_text("a < b <b> &lt;")) == "a < b &lt;b> &lt;"  # idempotent, keeps 'a < b'


def test_a_code_span_survives_backticks():
    for text in (HOSTILE, "``", "a```b", "`x`"):
        out = render(code_span(text))
        assert out.count("<code>") == 1 and "<i>" not in out and "<img" not in out, (text, out)


def test_the_data_banner_and_tables_escape_the_file_name():
    banner = render(
        h.data_banner({"synthetic": False, "file": HOSTILE, "sha256": "ab" * 32, "n_rows": 3, "n_sample": 2})
    )
    assert "<img" not in banner and "<i>" not in banner and banner.count("<code>") == 2
    import pandas as pd

    table = render(h.markdown_table(pd.DataFrame({"Parameter": ["raw_path"], "Verdi": [HOSTILE]})))
    assert (
        "<img" not in table
        and "<i>" not in table
        and "| <5 |" in h.markdown_table(pd.DataFrame({"A": [1]}), hidden=pd.DataFrame({"A": [True]}), hidden_text="<5")
    )
