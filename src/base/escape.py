"""Text from inputs (file names, parameters, labels, values) made safe for the book's Markdown.

The book's Markdown goes to Quarto (Pandoc) and to the fallback renderer
(mistune with ``escape=False``, so that the book's own Markdown may carry
HTML). Neither may ever see raw HTML, a stray backtick or Markdown syntax that
came from an input, so every such string passes through one of these:

* ``md_text``: inline text (table cells, captions, prose). What could open an
  HTML tag, comment or entity becomes an entity (``&lt;``, ``&amp;``), and
  Markdown's active characters get a backslash (CommonMark and Pandoc both
  read a backslash before any ASCII punctuation as the character itself).
* ``code_span``: a code span whose fence is longer than any run of backticks
  inside it, so the content cannot close it; code is shown literally (and
  HTML-escaped) by both renderers.
"""

from __future__ import annotations

import re

_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")  # what could start a tag, a comment or a declaration
_ENTITY_START = re.compile(r"&(?!(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);)")  # '&' not already an entity
_MARKDOWN = re.compile(r"([\\`*\[\]$@|~^{}])")  # emphasis, code, links, math, citations, tables, attributes


def html_text(text) -> str:
    """``text`` with every possible HTML tag start made an entity (``<`` before a letter, ``/``, ``!``, ``?``), and
    every ``&`` that is not already a complete entity (so escaping twice changes nothing)."""
    return _TAG_START.sub("&lt;", _ENTITY_START.sub("&amp;", str(text)))


def md_text(text) -> str:
    """``text`` as literal inline Markdown: no HTML, no emphasis, code, links, math or citations."""
    return _MARKDOWN.sub(r"\\\1", html_text(text)).replace(">", "&gt;")


def code_span(text) -> str:
    """``text`` as a Markdown code span that no backtick inside it can close."""
    text = str(text).replace("\n", " ")
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or (text.startswith(" ") and text.endswith(" ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"
