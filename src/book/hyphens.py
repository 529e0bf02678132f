"""Soft hyphens at the syllables of long words in a table, for the fallback book's HTML (Norwegian books).

The same rule as the Quarto book's filter (filters/table-hyphens.lua; tests/test_table_hyphens.py holds the two
equal): a table cell may not break a word in the middle (#27: «hovedverneomb» / «ud» under
``overflow-wrap:anywhere``), and browsers do not all hyphenate Norwegian. Every word of ``MIN_WORD`` letters or
more gets a soft hyphen (U+00AD) between its syllables by the Norwegian rule of thumb: one consonant between two
vowels goes with the next syllable («ho-ved»), of two or more the last goes with the next («ver-ne», «om-bud»),
«sj», «kj», «gj», «tj», «hj», «hv», «dj», «skj» and a consonant before «r» or «l» stay together («rek-sjon»,
«kon-troll»), a double consonant before such a pair stays before the break («opp-læ-ring»); no part shorter
than ``EDGE`` letters. A zero-width space after «/» and «_» between letters lets such a word break there too.
"""

from __future__ import annotations

import re

MIN_WORD = 8
EDGE = 3
SHY = "\u00ad"
ZWSP = "\u200b"
VOWELS = set("aeiouyæøåéèêüöäAEIOUYÆØÅÉÜÖÄ")
LETTER = r"A-Za-zæøåéèêüöäÆØÅÉÜÖÄ"
TOGETHER = {
    "sj",
    "kj",
    "gj",
    "tj",
    "hj",
    "hv",
    "dj",
    "pr",
    "br",
    "tr",
    "dr",
    "kr",
    "gr",
    "fr",
    "pl",
    "bl",
    "kl",
    "gl",
    "fl",
}


def syllable_breaks(word: str) -> list[int]:
    """Indexes before which ``word`` may break (a soft hyphen goes there)."""
    n, breaks, i = len(word), [], 0
    while i < n and word[i] not in VOWELS:
        i += 1
    while i < n:
        j = i
        while j < n and word[j] in VOWELS:
            j += 1
        k = j
        while k < n and word[k] not in VOWELS:
            k += 1
        if k >= n:  # no vowel after the consonants: the word's end
            break
        size = k - j
        if size >= 1:
            unit = 1
            tail = word[max(j, k - 3) : k].lower()
            if size >= 3 and tail == "skj":
                unit = 3
            elif size >= 2 and tail[-2:] in TOGETHER and not (size >= 3 and word[k - 3] == word[k - 2]):
                unit = 2
            at = k - min(unit, size)
            if at >= EDGE and n - at >= EDGE:
                breaks.append(at)
        i = k
    return breaks


def hyphenate_word(word: str) -> str:
    if len(word) < MIN_WORD:
        return word
    out, last = [], 0
    for at in syllable_breaks(word):
        out += [word[last:at], SHY]
        last = at
    return "".join(out) + word[last:]


WORD = re.compile(f"[{LETTER}]+")
JOINT = re.compile(f"(?<=[{LETTER}])([/_])(?=[{LETTER}])")


def hyphenate_text(text: str) -> str:
    """Plain text with its long words hyphenated and a break allowed after «/» and «_» between letters."""
    return JOINT.sub(lambda m: m.group(1) + ZWSP, WORD.sub(lambda m: hyphenate_word(m.group(0)), text))


CELL = re.compile(r"(<t[dh]\b[^>]*>)(.*?)(</t[dh]>)", re.S)
TAG_OR_CODE = re.compile(r"(<code\b.*?</code>|<[^>]+>|&[#\w]+;)", re.S)


def hyphenate_tables(page: str) -> str:
    """An HTML page with the words of its table cells hyphenated (tags, entities and code left as they are)."""

    def cell(m: re.Match) -> str:
        parts = TAG_OR_CODE.split(m.group(2))
        inner = "".join(p if i % 2 else hyphenate_text(p) for i, p in enumerate(parts))
        return m.group(1) + inner + m.group(3)

    return CELL.sub(cell, page)
