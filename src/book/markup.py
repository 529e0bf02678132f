"""Markdown as Quarto reads it, converted to HTML for every front end that is not Quarto.

JupyterLab (an output's ``text/html``), the notebook views and the fallback book all show what a
notebook printed for Quarto: callouts (``::: {.callout-warning}``), captions as fenced divs with an
id (``::: {#tabell-13 .book-caption}``), bracketed spans (``[..]{.caption-source}``), content for
one format only (``[..]{.content-visible when-format="html"}``), heading attributes (``{#sec-x}``).
``markdown_to_html`` turns them into the HTML Quarto would make of them, so none of that markup is
ever shown raw. Light on imports (mistune only, when called): a kernel imports it through
``src.helpers``.
"""

from __future__ import annotations

import html
import re

CALLOUT_COLOURS = {
    "note": ("#0d6efd", "#f1f6ff"),
    "tip": ("#198754", "#eef8f2"),
    "warning": ("#e0a800", "#fff8e1"),
    "important": ("#dc3545", "#fdecee"),
    "caution": ("#fd7e14", "#fff3e8"),
}  # as the books show them
SPAN_ATTRS = re.compile(r"\]\{([^{}\n]*)\}")  # the end of a bracketed span: ']{.class key="value"}'
DIV_OPEN = re.compile(r"^:::+\s*\{([^}]*)\}\s*$")
DIV_CLOSE = re.compile(r"^:::+\s*$")


def _attributes(spec: str) -> tuple[str | None, list[str], dict[str, str]]:
    """Pandoc attributes '#id .a .b key="v"' -> (id, classes, key/values)."""
    ident = None
    classes, keys = [], {}
    for m in re.finditer(r'#([\w:.-]+)|\.([\w-]+)|([\w-]+)="([^"]*)"', spec):
        if m.group(1):
            ident = m.group(1)
        elif m.group(2):
            classes.append(m.group(2))
        else:
            keys[m.group(3)] = m.group(4)
    return ident, classes, keys


def _shown_in_html(classes: list[str], keys: dict[str, str]) -> bool:
    """False for content Quarto leaves out of an HTML page (content-hidden when-format="html", ...)."""
    for cls in ("content-visible", "content-hidden"):
        if cls in classes:
            fmt, when = (keys.get("when-format"), True) if "when-format" in keys else (keys.get("unless-format"), False)
            visible = (cls == "content-visible") == ((fmt == "html") == when)
            return visible
    return True


def _html_attrs(ident, classes) -> str:
    classes = [c for c in classes if c not in ("content-visible", "content-hidden")]
    out = f' id="{html.escape(ident)}"' if ident else ""
    return out + (f' class="{html.escape(" ".join(classes))}"' if classes else "")


def resolve_spans(text: str) -> str:
    """Pandoc bracketed spans ``[text]{.class}`` as HTML spans (the format-conditional ones resolved for HTML).

    Inner spans first; a link's ``[text](href)`` is left to the Markdown renderer.
    """
    while True:
        m = None
        for cand in SPAN_ATTRS.finditer(text):
            depth, i = 0, cand.start() - 1
            while i >= 0:  # the '[' that opens this span
                if text[i] == "]":
                    depth += 1
                elif text[i] == "[":
                    if depth == 0:
                        break
                    depth -= 1
                i -= 1
            if i >= 0:
                m = (i, cand)
                break
        if m is None:
            return text
        start, cand = m
        inner = text[start + 1 : cand.start()]
        ident, classes, keys = _attributes(cand.group(1))
        if not _shown_in_html(classes, keys):
            repl = ""
        elif _html_attrs(ident, classes):
            repl = f"<span{_html_attrs(ident, classes)}>{inner}</span>"
        else:
            repl = inner
        text = text[:start] + repl + text[cand.end() :]


def markdown_to_html(text: str) -> str:
    """Markdown as Quarto reads it (pipe tables, callouts, fenced divs with ids and classes, bracketed spans,
    format-conditional content, heading attributes) to HTML, for every front end that is not Quarto:
    JupyterLab (an output's text/html), the notebook views and the fallback book."""
    import mistune

    md = mistune.create_markdown(plugins=["table", "strikethrough", "footnotes"], escape=False)

    def convert(block: str) -> str:
        block = resolve_spans(block)
        heads = {}

        def heading(m):  # '# Title {#sec-x}': the id on the heading
            ident, classes, _ = _attributes(m.group(2))
            key = f"HEADINGID{len(heads)}X"
            heads[key] = _html_attrs(ident, [c for c in classes if c != "unnumbered"])
            return f"{m.group(1)} {key}"

        block = re.sub(r"^(#+ .*?)\s*\{([#.][^}]*)\}\s*$", heading, block, flags=re.M)
        out = md(block)
        for key, attrs in heads.items():
            out = re.sub(
                rf"<(h\d)>(.*?)\s*{key}</h\d>", lambda m: f"<{m.group(1)}{attrs}>{m.group(2)}</{m.group(1)}>", out
            )
        return out

    lines = text.split("\n")
    parts: list[str] = []
    buffer: list[str] = []
    i = 0
    while i < len(lines):
        m = DIV_OPEN.match(lines[i])
        if not m:
            buffer.append(lines[i])
            i += 1
            continue
        depth, j = 1, i + 1  # the matching ':::'
        while j < len(lines) and depth:
            if DIV_OPEN.match(lines[j]):
                depth += 1
            elif DIV_CLOSE.match(lines[j]):
                depth -= 1
            j += 1
        inner = "\n".join(lines[i + 1 : j - 1 if not depth else j])
        parts.append(convert("\n".join(buffer)))
        buffer = []
        ident, classes, keys = _attributes(m.group(1))
        if _shown_in_html(classes, keys):
            kinds = [c for c in classes if c.startswith("callout-")]
            style = ""
            if kinds:
                classes = ["callout", *classes]
                # inline too: JupyterLab has no stylesheet for it (its sanitiser keeps these properties)
                border, background = CALLOUT_COLOURS.get(kinds[0][len("callout-") :], CALLOUT_COLOURS["note"])
                style = (
                    f' style="border-left: 5px solid {border}; background-color: {background}; '
                    'padding: 0.4rem 1rem; margin: 1rem 0"'
                )
            parts.append(f"<div{_html_attrs(ident, classes)}{style}>{markdown_to_html(inner)}</div>")
        i = j
    parts.append(convert("\n".join(buffer)))
    return "".join(parts)
