"""Map an export the codebook has never seen onto the codebook: propose, write for review, apply.

The codebook's ``source:`` column names and question texts were reconstructed
from the report; a real SurveyXact export names and words them its own way.
``make map ARGS="--raw data/raw/<export>.sav"`` reads the export's *dictionary*
only (names, variable labels, value labels, types, measurement levels,
declared missing values, column order — never an answer), proposes for every
codebook variable the export column it is, and writes the proposal to
``data/mappings/<export stem>.yml`` for a person to read, correct and confirm.
The file holds names and labels only, so it may be committed.

How a column is found (``propose``): a score per (variable, column) from
  * the variable label's text after Norwegian normalisation (lower case,
    æ/ø/å folded, punctuation dropped, HMS/VO/HVO/AMU/BHT … spelled out, crude
    stems), as word (idf-weighted) and character-trigram cosines, item text and
    stem apart for grid items and tick boxes;
  * the set of value labels (the same answers, whatever their codes);
  * the type (text against a string column, codes against a number column);
  * the column name;
  * in a second pass, the position among its neighbours (SurveyXact keeps the
    questionnaire's order) and the group (the items of one grid or
    multiple-choice question land under one export stem, matched together),
solved as one assignment (``scipy.optimize.linear_sum_assignment``: one column
per variable, a variable may stay unmapped), not greedily.

The file is a crosswalk in the sense of rOpenGov's retroharmonize
(``var_name_orig`` -> ``var_name_target``, ``val_numeric_orig`` ->
``val_numeric_target``), turned round to one line per *codebook* variable, since
the codebook is the target every export is read into.

Values go by label, never by code: where the export codes a scale the other
way round or «Vet ikke» as 99, the mapping records ``recode: {export code:
codebook code}`` and ``apply`` translates the answers before validation
(``src/data/export.py``), so a mapped export gives the same derived data as
the export it was made from.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from src.base import paths
from src.base.codebook import Codebook
from src.base.codebook import load as load_codebook
from src.data.coding import coded_variables

CONFIRM_BELOW = 0.80  # a line under this confidence needs ``confirmed: true`` before a build uses it
VALUE_SURE = 0.60  # a reworded value label at least this alike its partner …
VALUE_LEAD = 0.25  # … and this far ahead of every other pairing is taken without asking
NO_COLUMN = 0.30  # a variable whose best column scores below this is proposed as missing from the export
PERSONAL = re.compile(
    r"e-?post|e-?mail|epost|\bnavn\b|fornavn|etternavn|\bname\b|telefon|\btlf\b|mobil|phone|"
    r"\bip\b|ip[-_ ]?adress|ipaddr|adresse|f(ø|o)dsels?n|personnummer",
    re.I,
)


# -- text normalisation --------------------------------------------------------

ABBREVIATIONS = {  # whole words, after folding and lower-casing
    "vo": "verneombud",
    "hvo": "hovedverneombud",
    "amu": "arbeidsmiljoutvalg",
    "bht": "bedriftshelsetjeneste",
    "hms": "hms",
    "f eks": "for eksempel",
    "feks": "for eksempel",
    "bl a": "blant annet",
    "evt": "eventuelt",
    "inkl": "inkludert",
    "ca": "omtrent",
    "ant": "antall",
    "virks": "virksomhet",
    "opplaer": "opplaering",
    "ift": "i forhold til",
    "ifm": "i forbindelse med",
    "osv": "og sa videre",
    "mht": "med hensyn til",
    "pga": "pa grunn av",
    "vha": "ved hjelp av",
    "nr": "nummer",
    "spm": "sporsmal",
    "resp": "respondent",
    "hovedvo": "hovedverneombud",
    "vernombud": "verneombud",
}
PHRASES = [  # spelled-out forms that mean an abbreviation, folded to it
    (r"helse\s*,?\s*miljo\s*(og|&)\s*sikkerhet", "hms"),
    (r"arbeidsmiljo\s*utvalg", "arbeidsmiljoutvalg"),
]
SUFFIXES = sorted(
    [
        "ene",
        "ane",
        "ende",
        "heten",
        "het",
        "else",
        "elsen",
        "ene",
        "er",
        "en",
        "et",
        "ar",
        "e",
        "a",
        "s",
        "ens",
        "ets",
        "erne",
        "ert",
        "te",
        "t",
    ],
    key=len,
    reverse=True,
)
STOPWORDS = {
    "og",
    "i",
    "pa",
    "til",
    "for",
    "av",
    "at",
    "det",
    "er",
    "en",
    "et",
    "som",
    "du",
    "har",
    "med",
    "om",
    "de",
    "den",
    "var",
    "ble",
    "a",
    "eller",
    "fra",
    "the",
    "of",
}
BINARY_SYNONYMS = {  # tick-box answers: the same two values under many names
    "valgt": 1,
    "krysset av": 1,
    "avkrysset": 1,
    "markert": 1,
    "checked": 1,
    "selected": 1,
    "ja": 1,
    "x": 1,
    "ikke valgt": 0,
    "ikke krysset av": 0,
    "ikke avkrysset": 0,
    "ikke markert": 0,
    "not checked": 0,
    "not selected": 0,
    "nei": 0,
    "unchecked": 0,
}


def fold(text: str) -> str:
    """Lower case, æ/ø/å and accents folded to ASCII, punctuation to spaces, abbreviations spelled out."""
    t = unicodedata.normalize("NFKC", str(text or "")).lower()
    t = t.replace("æ", "ae").replace("ø", "o").replace("å", "a")
    t = "".join(c for c in unicodedata.normalize("NFKD", t) if not unicodedata.combining(c))
    t = re.sub(r"[^a-z0-9]+", " ", t).strip()
    for rx, to in PHRASES:
        t = re.sub(rx, to, t)
    words = t.split()
    out, i = [], 0
    while i < len(words):
        pair = " ".join(words[i : i + 2])
        if pair in ABBREVIATIONS:
            out.append(ABBREVIATIONS[pair])
            i += 2
            continue
        out.append(ABBREVIATIONS.get(words[i], words[i]))
        i += 1
    return " ".join(out)


def stem(word: str) -> str:
    for suf in SUFFIXES:
        if word.endswith(suf) and len(word) - len(suf) >= 4:
            return word[: -len(suf)]
    return word


def words(text: str) -> list[str]:
    """The stems of a text's words, stopwords left out; compounds split at hyphens already by ``fold``."""
    return [stem(w) for w in fold(text).split() if w not in STOPWORDS]


def trigrams(text: str) -> list[str]:
    t = " " + " ".join(stem(w) for w in fold(text).split()) + " "
    return [t[i : i + 3] for i in range(len(t) - 2)]


class TextSpace:
    """Idf-weighted cosines over word stems and character trigrams, fitted on both sides' texts."""

    def __init__(self, texts: list[str]):
        self.idf_w = self._idf([set(words(t)) for t in texts])
        self.idf_c = self._idf([set(trigrams(t)) for t in texts])

    @staticmethod
    def _idf(docs):
        df: dict[str, int] = {}
        for d in docs:
            for tok in d:
                df[tok] = df.get(tok, 0) + 1
        n = max(len(docs), 1)
        return {tok: math.log((1 + n) / (1 + k)) + 1 for tok, k in df.items()}

    def vector(self, text: str) -> tuple[dict, dict]:
        def vec(tokens, idf):
            v: dict[str, float] = {}
            for tok in tokens:
                v[tok] = v.get(tok, 0.0) + idf.get(tok, 1.0)
            norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
            return {k: x / norm for k, x in v.items()}

        return vec(words(text), self.idf_w), vec(trigrams(text), self.idf_c)

    @staticmethod
    def cosine(a: tuple[dict, dict], b: tuple[dict, dict]) -> float:
        def cos(x, y):
            if len(x) > len(y):
                x, y = y, x
            return sum(val * y.get(k, 0.0) for k, val in x.items())

        if not a[0] and not a[1] or not b[0] and not b[1]:
            return 0.0
        return 0.5 * cos(a[0], b[0]) + 0.5 * cos(a[1], b[1])


def text_similarity(a: str, b: str) -> float:
    """One-off similarity of two short texts (value labels): 1 when equal after normalisation."""
    fa, fb = " ".join(words(a)), " ".join(words(b))
    if fa == fb:
        return 1.0
    ga, gb = set(trigrams(a)), set(trigrams(b))
    wa, wb = set(fa.split()), set(fb.split())
    tri = 2 * len(ga & gb) / (len(ga) + len(gb)) if ga and gb else 0.0
    wrd = 2 * len(wa & wb) / (len(wa) + len(wb)) if wa and wb else 0.0
    return 0.5 * tri + 0.5 * wrd


# -- the two sides -----------------------------------------------------------------

SEPARATORS = re.compile(r"\s+[–—-]\s+|\s*:\s+|\s*\|\s*")


@dataclass
class Column:
    """One column of the export's dictionary."""

    name: str
    position: int
    label: str
    values: dict[int, str]
    kind: str  # 'number' | 'string'
    measure: str = "unknown"
    missing: list = field(default_factory=list)

    @property
    def parts(self) -> tuple[str, str]:
        """(stem, item) of the label «stem – item»; the stem is '' when the label has no separator."""
        pieces = SEPARATORS.split(self.label)
        if len(pieces) >= 2 and all(p.strip() for p in pieces):
            return " ".join(pieces[:-1]), pieces[-1]
        return "", self.label

    @property
    def cluster(self) -> str:
        """What groups a grid's or tick box's columns: the label stem, else the name without its item suffix."""
        st = self.parts[0]
        if st:
            return "label:" + fold(st)
        return "name:" + re.sub(r"([_.]?[a-z]{1,2}|[_.]?\d{1,2})$", "", self.name.lower())


@dataclass
class Target:
    """One codebook variable as the mapper sees it."""

    name: str
    source: str
    position: int
    kind: str  # 'id' | 'text' | 'codes'
    item: str  # question (single) or item label (group member)
    stem: str  # the group's question ('' for a single)
    short: str  # the codebook's short label
    values: dict[int, str]
    group: str | None
    binary: bool


def read_dictionary(path: str | Path) -> list[Column]:
    """The export's dictionary (no answers): ``pyreadstat.read_sav(metadataonly=True)``; a CSV gives names only."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        import csv

        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), [])
        return [Column(n, i, n, {}, "string") for i, n in enumerate(header)]
    import pyreadstat

    _, meta = pyreadstat.read_sav(str(path), metadataonly=True, user_missing=True)
    labels = meta.column_names_to_labels or {}
    value_labels = meta.variable_value_labels or {}
    types = meta.readstat_variable_types or {}
    measure = meta.variable_measure or {}
    missing = meta.missing_ranges or {}
    cols = []
    for i, name in enumerate(meta.column_names):
        vl = {}
        for k, v in (value_labels.get(name) or {}).items():
            try:
                if float(k).is_integer():
                    vl[int(float(k))] = str(v)
            except (TypeError, ValueError):
                continue
        cols.append(
            Column(
                name=name,
                position=i,
                label=str(labels.get(name) or ""),
                values=vl,
                kind="string" if types.get(name) == "string" else "number",
                measure=str(measure.get(name) or "unknown"),
                missing=list(missing.get(name) or []),
            )
        )
    return cols


def targets(cb: Codebook) -> list[Target]:
    """The codebook's variables an export must have (the open answers' coded themes are made here, not read)."""
    coded = coded_variables(cb)
    out = []
    for i, (name, v) in enumerate(cb.variables.items()):
        if name in coded:
            continue
        group = cb.groups.get(v.group) if v.group else None
        stem_text = (group.question or group.label) if group is not None else ""
        kind = "id" if v.type == "id" else "text" if v.type == "text" else "codes"
        out.append(
            Target(
                name=name,
                source=v.source,
                position=i,
                kind=kind,
                item=(v.label if group is not None else (v.question or v.label)),
                stem=stem_text,
                short=v.label,
                values=dict(v.values),
                group=v.group,
                binary=set(v.values) == {0, 1} and group is not None and group.type == "multi",
            )
        )
    return out


# -- value labels --------------------------------------------------------------------


def _binary_code(label: str):
    return BINARY_SYNONYMS.get(" ".join(fold(label).split()))


def match_values(
    cb_values: dict[int, str], export_values: dict[int, str], binary: bool = False, with_lead: bool = False
):
    """Export code -> (codebook code, similarity) by label; the labels that found no partner on either side.

    Returns ``(pairs, unmatched_export, unmatched_codebook)`` (and, ``with_lead``, per matched export code
    how far its pair's similarity leads the next best pairing of either label).
    """
    from scipy.optimize import linear_sum_assignment

    ecodes, ccodes = list(export_values), list(cb_values)
    if not ecodes or not ccodes:
        return ({}, ecodes, ccodes, {}) if with_lead else ({}, ecodes, ccodes)
    sim = np.zeros((len(ecodes), len(ccodes)))
    for i, e in enumerate(ecodes):
        for j, c in enumerate(ccodes):
            s = text_similarity(export_values[e], cb_values[c])
            if binary:
                be, bc = _binary_code(export_values[e]), _binary_code(cb_values[c])
                if be is not None and be == bc:
                    s = max(s, 0.95)
            sim[i, j] = s
    rows, cols = linear_sum_assignment(sim, maximize=True)
    pairs = {}
    for r, c in zip(rows, cols):
        if sim[r, c] >= 0.5:
            pairs[ecodes[r]] = (ccodes[c], float(sim[r, c]))
    unmatched_e = [e for e in ecodes if e not in pairs]
    matched_c = {c for c, _ in pairs.values()}
    if with_lead:
        lead = {}
        for r, c in zip(rows, cols):
            if ecodes[r] in pairs:
                others = np.concatenate([np.delete(sim[r], c), np.delete(sim[:, c], r)])
                lead[ecodes[r]] = float(sim[r, c] - (others.max() if others.size else 0.0))
        return pairs, unmatched_e, [c for c in ccodes if c not in matched_c], lead
    return pairs, unmatched_e, [c for c in ccodes if c not in matched_c]


def value_score(t: Target, c: Column) -> float:
    """How alike the two answer sets are (1: the same labels), whatever their codes."""
    if not t.values and not c.values:
        return 0.6 if t.kind in ("text", "id") else 0.3
    if not t.values or not c.values:
        if t.binary and c.kind == "number":  # tick boxes exported without labels
            return 0.4
        return 0.1
    pairs, ue, uc = match_values(t.values, c.values, t.binary)
    if not pairs:
        return 0.0
    total = sum(s for _, s in pairs.values())
    return total / max(len(t.values), len(c.values))


def type_score(t: Target, c: Column) -> float:
    if t.kind == "text":
        return 0.0 if c.kind == "string" else -1.0
    if t.kind == "id":
        return 0.0
    return 0.0 if c.kind == "number" or c.values else -1.0


def name_score(t: Target, c: Column) -> float:
    a, b = t.source.lower(), c.name.lower()
    if a == b:
        return 1.0
    if t.kind == "id" and re.search(r"resp|^id$|_id$|^id_", b):
        return 0.8
    return 0.0


# -- the proposal --------------------------------------------------------------------


@dataclass
class Line:
    """The proposal for one codebook variable."""

    name: str
    column: str | None
    confidence: float
    reason: str
    candidates: list[tuple[str, float]] = field(default_factory=list)
    recode: dict[int, int] = field(default_factory=dict)
    values_unsure: list[str] = field(default_factory=list)

    @property
    def unsure(self) -> bool:
        return self.column is None or self.confidence < CONFIRM_BELOW or bool(self.values_unsure)


@dataclass
class Proposal:
    lines: list[Line]
    ignored: list[Column]
    columns: list[Column]

    def line(self, name: str) -> Line:
        return next(x for x in self.lines if x.name == name)


def _scores(ts: list[Target], cols: list[Column]):
    """Score matrices (variables x columns): total, label, value, type+name."""
    texts = (
        [t.item for t in ts]
        + [t.stem for t in ts if t.stem]
        + [t.short for t in ts]
        + [c.label for c in cols]
        + [p for c in cols for p in c.parts if p]
    )
    space = TextSpace(texts)
    cache: dict[str, tuple] = {}

    def vec(text):
        if text not in cache:
            cache[text] = space.vector(text)
        return cache[text]

    n, m = len(ts), len(cols)
    label = np.zeros((n, m))
    value = np.zeros((n, m))
    other = np.zeros((n, m))
    vcache: dict[tuple, float] = {}
    for i, t in enumerate(ts):
        full_t = vec((t.stem + " " + t.item).strip())
        item_t, stem_t, short_t = vec(t.item), vec(t.stem) if t.stem else None, vec(t.short)
        for j, c in enumerate(cols):
            full_c = vec(c.label or c.name)
            cstem, citem = c.parts
            s_full = space.cosine(full_t, full_c)
            if t.stem:
                s_item = space.cosine(item_t, vec(citem))
                s_stem = space.cosine(stem_t, vec(cstem)) if cstem else s_full
                lab = 0.5 * s_item + 0.25 * s_stem + 0.25 * s_full
            else:
                lab = max(
                    s_full,
                    0.9 * space.cosine(short_t, full_c),
                    0.9 * space.cosine(item_t, vec(citem)) if cstem else 0.0,
                )
            label[i, j] = lab
            key = (tuple(t.values.items()), tuple(c.values.items()), t.binary, t.kind, c.kind)
            if key not in vcache:
                vcache[key] = value_score(t, c)
            value[i, j] = vcache[key]
            other[i, j] = type_score(t, c) + 0.15 * name_score(t, c)
    return label, value, other


def _assign(score: np.ndarray) -> list[int | None]:
    """One column per variable maximising the total score; a variable may take 'no column' (NO_COLUMN)."""
    from scipy.optimize import linear_sum_assignment

    n, m = score.shape
    dummy = np.full((n, n), -10.0)
    np.fill_diagonal(dummy, NO_COLUMN)
    full = np.hstack([score, dummy])
    rows, cols = linear_sum_assignment(full, maximize=True)
    out: list[int | None] = [None] * n
    for r, c in zip(rows, cols):
        out[r] = int(c) if c < m else None
    return out


def _position_scores(ts: list[Target], cols: list[Column], first: list[int | None], sure: np.ndarray) -> np.ndarray:
    """1 for a column between the columns of the variable's nearest sure neighbours (and near the expected
    offset), falling off outside: SurveyXact keeps the questionnaire's order."""
    n, m = len(ts), len(cols)
    pos = np.array([c.position for c in cols], dtype=float)
    anchors = [(i, cols[first[i]].position) for i in range(n) if first[i] is not None and sure[i]]
    out = np.zeros((n, m))
    for i in range(n):
        before = [a for a in anchors if a[0] < i]
        after = [a for a in anchors if a[0] > i]
        lo = before[-1] if before else (-1, -1)
        hi = after[0] if after else (n, max(pos) + 1 if m else 0)
        if lo[1] < hi[1]:
            inside = (pos > lo[1]) & (pos < hi[1])
            dist = np.where(pos <= lo[1], lo[1] - pos + 1, np.where(pos >= hi[1], pos - hi[1] + 1, 0))
            expected = lo[1] + (i - lo[0])
            near = np.clip(1 - np.abs(pos - expected) / 6.0, 0, 1)
            out[i] = np.where(inside, 0.6 + 0.4 * near, np.clip(0.5 - dist / 10.0, 0, 0.5))
        else:  # the neighbours' columns are out of order: no opinion
            out[i] = 0.5
    return out


def propose(columns: list[Column], cb: Codebook) -> Proposal:
    """For every codebook variable, the export column it is (or none), with confidence, reason and candidates."""
    ts = targets(cb)
    cols = list(columns)
    if not cols:
        return Proposal([Line(t.name, None, 0.0, "the export has no columns") for t in ts], [], cols)
    label, value, other = _scores(ts, cols)
    base = 0.6 * label + 0.4 * value + other
    first = _assign(base)

    # second pass: position among sure neighbours, and groups matched together
    def margins(score, chosen):
        out = np.zeros(len(ts))
        for i, j in enumerate(chosen):
            if j is None:
                continue
            row = np.delete(score[i], j)
            colv = np.delete(score[:, j], i)
            second = max(row.max() if row.size else 0, colv.max() if colv.size else 0)
            out[i] = score[i, j] - second
        return out

    m1 = margins(base, first)
    sure = np.array([first[i] is not None and base[i, first[i]] > 0.55 and m1[i] > 0.05 for i in range(len(ts))])
    position = _position_scores(ts, cols, first, sure)
    group_bonus = np.zeros_like(base)
    for gname in {t.group for t in ts if t.group}:
        members = [i for i, t in enumerate(ts) if t.group == gname]
        clusters = [cols[first[i]].cluster for i in members if first[i] is not None]
        if not clusters:
            continue
        top = max(set(clusters), key=clusters.count)
        if clusters.count(top) * 2 > len(members):
            in_top = np.array([c.cluster == top for c in cols])
            for i in members:
                group_bonus[i] = np.where(in_top, 0.1, 0.0)
    score = base + 0.2 * (position - 0.5) + group_bonus
    final = _assign(score)
    m2 = margins(score, final)

    lines = []
    for i, t in enumerate(ts):
        order = np.argsort(-score[i])[:3]
        cands = [(cols[j].name, round(float(_confidence(score[i, j], 0.1)), 2)) for j in order]
        j = final[i]
        if j is None:
            best = order[0]
            lines.append(
                Line(
                    t.name,
                    None,
                    0.0,
                    f"no column fits (best {cols[best].name}: label {label[i, best]:.2f}, values {value[i, best]:.2f})",
                    cands,
                )
            )
            continue
        c = cols[j]
        conf = _confidence(score[i, j], m2[i])
        why = [f"label {label[i, j]:.2f}", _values_reason(t, c, value[i, j])]
        if name_score(t, c) == 1:
            why.append("same name")
        if position[i, j] >= 0.6:
            why.append("in order")
        elif position[i, j] < 0.5:
            why.append("out of order")
        if group_bonus[i, j] > 0:
            why.append("with its group")
        if m2[i] < 0.05:
            why.append(f"close to {cands[1][0] if cands[0][0] == c.name else cands[0][0]}")
        line = Line(t.name, c.name, round(float(conf), 2), ", ".join(w for w in why if w), cands)
        if t.values and c.values:
            pairs, ue, _, lead = match_values(t.values, c.values, t.binary, with_lead=True)
            recode = {e: cc for e, (cc, _) in pairs.items()}
            if any(e != cc for e, cc in recode.items()):
                line.recode = dict(sorted(recode.items()))
            # a reworded answer is sure when its label is clearly nearer its partner than any other pairing
            fuzzy = [
                f"{e} «{c.values[e]}» = {cc} «{t.values[cc]}» ({s:.2f})"
                for e, (cc, s) in pairs.items()
                if s < 0.9
                and not (t.binary and _binary_code(c.values[e]) is not None)
                and (s < VALUE_SURE or lead.get(e, 0.0) < VALUE_LEAD)
            ]
            lost = [f"{e} «{c.values[e]}» has no partner" for e in ue]
            line.values_unsure = fuzzy + lost
        lines.append(line)
    used = {x.column for x in lines if x.column}
    ignored = [c for c in cols if c.name not in used]
    return Proposal(lines, ignored, cols)


def _confidence(score: float, margin: float) -> float:
    """0..1 from the pair's score and its lead over the next best pair of the row or column."""
    s = float(np.clip((score - 0.3) / 0.5, 0, 1))
    lead = float(np.clip(margin / 0.08, 0, 1))
    return min(s, 0.55 + 0.45 * lead) if s > 0 else 0.0


def _values_reason(t: Target, c: Column, v: float) -> str:
    if not t.values and not c.values:
        return "no value labels on either side" if t.kind != "codes" else ""
    if v >= 0.999:
        return "same value labels"
    return f"value labels {v:.2f}"


# -- the mapping file -----------------------------------------------------------------


def mapping_file(export_path: str | Path) -> Path:
    """Where the mapping of an export lives: ``data/mappings/<export stem>.yml`` (committed; no answers in it)."""
    return paths.mapping_file(export_path)


def dictionary_digest(columns: list[Column]) -> str:
    h = hashlib.sha256()
    for c in columns:
        h.update(f"{c.name}\0{c.label}\0{sorted(c.values.items())}\0{c.kind}\n".encode())
    return h.hexdigest()[:16]


def _q(text) -> str:
    """A YAML double-quoted scalar."""
    s = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return f'"{s}"'


def render(proposal: Proposal, export_path: str | Path, cb: Codebook) -> str:
    """The mapping file's text: one line per variable, the uncertain ones marked, the left-over columns listed."""
    ok = [x for x in proposal.lines if not x.unsure]
    unsure = [x for x in proposal.lines if x.unsure]
    width = max(len(x.name) for x in proposal.lines) + 1
    out = [
        f"# Mapping of the export {Path(export_path).name} onto {paths.relative(cb.path)} (written by `make map`).",
        "# It holds names and labels only, no answers: commit it so the team builds from the same mapping.",
        "#",
        "# One line per codebook variable: the export column it is, the mapper's confidence (0-1) and why.",
        f"# Lines under {CONFIRM_BELOW:.2f}, and lines whose value labels were matched only by similarity, say",
        "# `confirmed: false`: check them (the candidates are the three best columns), correct `column:` where",
        "# it is wrong, then set `confirmed: true`. `column: null` with `confirmed: true` says the export lacks the",
        "# question: the build then fails only the tables that use it. `recode: {export code: codebook code}`",
        "# translates answers coded differently (by label, never by code). Build again with make book.",
        f"export: {_q(Path(export_path).name)}",
        f"dictionary: {dictionary_digest(proposal.columns)}   # of the export's names and labels when proposed",
        f"proposed: {len(ok)} sure, {len(unsure)} to check",
        "variables:",
    ]
    for x in proposal.lines:
        parts = [f"column: {_q(x.column) if x.column else 'null'}", f"confidence: {x.confidence:.2f}"]
        if x.unsure:
            parts.append("confirmed: false")
        if x.recode:
            parts.append("recode: {" + ", ".join(f"{a}: {b}" for a, b in x.recode.items()) + "}")
        parts.append(f"reason: {_q(x.reason)}")
        if x.unsure:
            parts.append("candidates: [" + ", ".join(_q(f"{n} ({s:.2f})") for n, s in x.candidates) + "]")
        if x.values_unsure:
            parts.append(f"check_values: {_q('; '.join(x.values_unsure))}")
        out.append(f"  {(x.name + ':').ljust(width)} {{{', '.join(parts)}}}")
    out.append("# Export columns no codebook variable takes: never read into the derived data.")
    out.append("# personal: true marks a name or label that looks like personal data (e-mail, name, phone, IP).")
    out.append("ignored:" + ("" if proposal.ignored else " {}"))
    for c in proposal.ignored:
        personal = bool(PERSONAL.search(c.name) or PERSONAL.search(c.label))
        out.append(f"  {_q(c.name)}: {{label: {_q(c.label[:80])}" + (", personal: true" if personal else "") + "}")
    return "\n".join(out) + "\n"


class MappingError(ValueError):
    pass


def load(path: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise MappingError(
            f"{paths.relative(path)} is not valid YAML{where}: "
            f"{getattr(exc, 'problem', None) or str(exc).splitlines()[0]}"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("variables"), dict):
        raise MappingError(f"{paths.relative(path)} has no 'variables:' mapping (write it again with make map)")
    return data


def _line_numbers(path: Path) -> dict[str, int]:
    out = {}
    for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = re.match(r"^  ([A-Za-z_][\w]*|\"[^\"]+\"):", text)
        if m:
            out.setdefault(m.group(1).strip('"'), n)
    return out


def _line_of(path: Path, key: str) -> int | str:
    for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if text.startswith(f"{key}:"):
            return n
    return "?"


# -- applying a mapping before validation ----------------------------------------------


@dataclass
class Applied:
    raw: object  # pandas frame with the codebook's source names
    value_labels: dict
    declared_missing: dict
    absent: list[str]  # variables the mapping says the export lacks
    problems: list[str]


def apply(raw, value_labels: dict, declared_missing: dict, cb: Codebook, path: Path, mapping_path: Path) -> Applied:
    """The export with the codebook's column names and codes, per the confirmed mapping ``mapping_path``.

    Only mapped columns are taken (the rest never reach the derived data);
    answers are recoded by label; an unconfirmed line under CONFIRM_BELOW, a
    column the export does not have or value labels that need a decision are
    problems naming the mapping file's line.
    """
    import pandas as pd

    spec = load(mapping_path)
    rel = paths.relative(mapping_path)
    lines = _line_numbers(mapping_path)
    entries = spec["variables"]
    problems: list[str] = []
    out: dict = {}
    labels_out, missing_out, absent = {}, {}, []
    tmap = {t.name: t for t in targets(cb)}
    for name in tmap:
        if name not in entries:
            problems.append(
                f"{rel}: variable '{name}' has no line (run make map again, or add "
                f"'{name}: {{column: <export column>, confirmed: true}}')"
            )
    recorded = spec.get("dictionary")
    if recorded and path.suffix.lower() == ".sav":
        now = dictionary_digest(read_dictionary(path))
        if str(recorded) != now:
            problems.append(
                f"{rel} line {_line_of(mapping_path, 'dictionary')}: the export's names or labels changed "
                f"since this mapping was proposed (dictionary {recorded}, now {now}); compare with a fresh "
                f'proposal (make map ARGS="--raw {paths.relative(path)} --out /tmp/new.yml"), then set '
                f"'dictionary: {now}' to accept the mapping for this export"
            )
    taken: dict[str, str] = {}
    for name, entry in entries.items():
        where = f"{rel} line {lines.get(str(name), '?')} ({name})"
        if name not in cb.variables:
            problems.append(f"{where}: '{name}' is not a variable of {paths.relative(cb.path)}")
            continue
        if name not in tmap:
            continue
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected {{column: …, confirmed: …}}")
            continue
        var = cb.variables[name]
        column = entry.get("column")
        conf = entry.get("confidence", 1.0)
        confirmed = entry.get("confirmed", True) is True
        try:
            conf = float(conf)
        except (TypeError, ValueError):
            conf = 0.0
        if not confirmed and (conf < CONFIRM_BELOW or column is None or entry.get("check_values")):
            cands = entry.get("candidates") or []
            why = "no column proposed" if column is None else f"column '{column}', confidence {conf:.2f}"
            problems.append(
                f"{where}: not confirmed ({why}"
                + (f"; candidates {', '.join(map(str, cands))}" if cands else "")
                + (f"; values: {entry['check_values']}" if entry.get("check_values") else "")
                + "); check it, correct 'column:' if needed and set 'confirmed: true'"
            )
            continue
        if column is None:
            absent.append(name)
            continue
        column = str(column)
        if column not in raw.columns:
            problems.append(f"{where}: column '{column}' is not in the export {paths.relative(path)}")
            continue
        if column in taken:
            problems.append(
                f"{where}: column '{column}' is already mapped to '{taken[column]}'; one column per variable"
            )
            continue
        taken[column] = name
        col = raw[column]
        export_labels = {int(float(k)): str(v) for k, v in (value_labels.get(column) or {}).items() if _is_whole(k)}
        recode = entry.get("recode")
        if recode is None and var.values and export_labels:
            pairs, ue, _ = match_values(var.values, export_labels, var.type != "text" and set(var.values) == {0, 1})
            if (
                all(
                    s >= 0.999 or (set(var.values) == {0, 1} and _binary_code(export_labels[e]) is not None)
                    for e, (_, s) in pairs.items()
                )
                and not ue
            ):
                recode = {e: c for e, (c, _) in pairs.items()}
            elif any(e != c for e, (c, _) in pairs.items()) or ue:
                problems.append(
                    f"{where}: the value labels of column '{column}' differ from the codebook's and "
                    "the line has no 'recode:'; run make map again or write "
                    "recode: {export code: codebook code}"
                )
                continue
        if recode:
            try:
                recode = {int(k): int(v) for k, v in dict(recode).items()}
            except (TypeError, ValueError):
                problems.append(f"{where}: 'recode' must map whole-number codes to whole-number codes")
                continue
            bad = sorted(set(recode.values()) - set(var.values))
            if bad:
                problems.append(f"{where}: 'recode' maps to codes {bad} the codebook does not have for '{name}'")
                continue
            num = pd.to_numeric(col, errors="coerce")
            mapped = num.map(lambda v: recode.get(int(v), v) if pd.notna(v) and float(v).is_integer() else v)
            col = mapped.where(num.notna(), col)
            labels_out[var.source] = {
                recode.get(k, k): var.values.get(recode.get(k, k), lab) for k, lab in export_labels.items()
            }
            missing_out[var.source] = [
                {"lo": recode.get(int(r["lo"]), r["lo"]), "hi": recode.get(int(r["hi"]), r["hi"])}
                if r.get("lo") == r.get("hi") and _is_whole(r.get("lo"))
                else r
                for r in declared_missing.get(column) or []
            ]
        else:
            if export_labels:
                labels_out[var.source] = {k: var.values.get(k, lab) for k, lab in export_labels.items()}
            if declared_missing.get(column):
                missing_out[var.source] = declared_missing[column]
        out[var.source] = col
    needed = _needed_by_sample(cb)
    for name in absent:
        if name in needed:
            problems.append(
                f"{rel} line {lines.get(name, '?')} ({name}): the export cannot lack '{name}': "
                f"{needed[name]} use it, so no analysis could be made without it"
            )
    for name in absent:  # a question the export lacks: all missing, the chapters that use it say so (helpers.Chapter)
        var = cb.variables[name]
        out[var.source] = pd.Series(pd.NA, index=raw.index, dtype="string" if var.type == "text" else "Float64")
    return Applied(pd.DataFrame(out, index=raw.index), labels_out, missing_out, absent, problems)


def _needed_by_sample(cb: Codebook) -> dict[str, str]:
    """Variables every analysis rests on (the id, the exclusion rules, the routing of other questions)."""
    needed = {cb.id: "the respondent id"}
    ident = re.compile(r"[A-Za-z_]\w*")
    for rule in cb.exclusions:
        for n in ident.findall(cb.expand(rule.when)):
            needed.setdefault(n, "the exclusion rules (report 4.1)")
    for v in cb.variables.values():
        for n in ident.findall(cb.expand(v.routing or "")):
            if n != v.name:
                needed.setdefault(n, f"the routing of other questions (e.g. {v.name})")
    return needed


def _is_whole(v) -> bool:
    try:
        return float(v).is_integer()
    except (TypeError, ValueError):
        return False


# -- the failure without a mapping ----------------------------------------------------


def unmapped_problems(path: Path, cb: Codebook, missing_sources: list[str], unknown: list[str]) -> list[str]:
    """The problems of an export whose columns are not the codebook's and that has no mapping: what to run,
    the best candidate beside each missing column (a grid or tick box on one line), the unknown columns grouped."""
    import textwrap

    rel = paths.relative(path)
    try:
        proposal = propose(read_dictionary(path), cb)
        best = {x.name: x for x in proposal.lines}
    except Exception:  # the dictionary cannot be read: the command still says what to do
        best = {}
    by_source = cb.by_source()
    problems = [
        f"{len(missing_sources)} of the codebook's columns are not in the export and there is no mapping "
        f'{paths.relative(mapping_file(path))}: run  make map ARGS="--raw {rel}"  , read and confirm '
        "the proposal, then build again (docs/real-export.md)"
    ]
    entries, seen_groups = [], set()
    for s in missing_sources:
        v = by_source[s]
        if v.group and len(cb.groups[v.group].members) > 1:
            if v.group in seen_groups:
                continue
            seen_groups.add(v.group)
            members = [m for m in cb.groups[v.group].members if cb.variables[m].source in missing_sources]
            found = [best[m] for m in members if m in best and best[m].column]
            first, last = cb.variables[members[0]].source, cb.variables[members[-1]].source
            left = f"{first}…{last} ({len(members)})"
            if found:
                lo, hi = min(x.confidence for x in found), max(x.confidence for x in found)
                conf = f"{lo:.2f}" if lo == hi else f"{lo:.2f}–{hi:.2f}"
                entries.append(f"{left} ← {found[0].column}…{found[-1].column} {conf}")
            else:
                entries.append(f"{left} ← ?")
        else:
            x = best.get(v.name)
            entries.append(f"{s} ← " + (f"{x.column} {x.confidence:.2f}" if x and x.column else "?"))
    problems.append(
        "best candidates (codebook column ← export column, confidence; a grid or tick-box question "
        "on one line):\n" + _columns(entries)
    )
    if unknown:
        groups: dict[str, list[str]] = {}
        for c in unknown:
            groups.setdefault(re.sub(r"([_.]?[a-z]{1,2}|[_.]?\d{1,3})$", "", c.lower()) or c, []).append(c)
        shown = [g[0] if len(g) == 1 else f"{g[0]}…{g[-1]} ({len(g)})" for g in groups.values()]
        problems.append(
            f"{len(unknown)} export column(s) the codebook does not know:\n"
            + textwrap.fill(", ".join(shown), 110, initial_indent="      ", subsequent_indent="      ")
        )
    return problems


def _columns(entries: list[str], width: int = 114, indent: str = "      ") -> str:
    """Short entries laid out in as many fixed-width columns as fit, row by row."""
    if not entries:
        return indent + "(none)"
    cell = max(len(e) for e in entries) + 3
    per_line = max(1, (width - len(indent)) // cell)
    rows = [entries[i : i + per_line] for i in range(0, len(entries), per_line)]
    return "\n".join(indent + "".join(e.ljust(cell) for e in row).rstrip() for row in rows)


# -- make map -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make map", description="Propose the mapping of an export onto the codebook.")
    ap.add_argument("--raw", required=True, help="the export (.sav), e.g. data/raw/export.sav")
    ap.add_argument("--out", help="where to write the mapping (default: data/mappings/<export stem>.yml)")
    ap.add_argument("--force", action="store_true", help="overwrite an existing mapping file (its edits are lost)")
    args = ap.parse_args(argv)
    raw = paths.resolve(args.raw)
    if not raw.is_file():
        print(f"MAP FAILED: the export {args.raw} does not exist or is not a file", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else mapping_file(raw)
    if out.exists() and not args.force:
        print(
            f"MAP FAILED: {paths.relative(out)} exists (it may hold your confirmations); edit it, or write a "
            f'fresh proposal with make map ARGS="--raw {args.raw} --force" or --out <other file>',
            file=sys.stderr,
        )
        return 1
    cb = load_codebook()
    try:
        columns = read_dictionary(raw)
    except Exception as exc:
        print(f"MAP FAILED: cannot read the dictionary of {args.raw} ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 1
    proposal = propose(columns, cb)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(render(proposal, raw, cb), encoding="utf-8")
    tmp.replace(out)
    unsure = [x for x in proposal.lines if x.unsure]
    personal = [c.name for c in proposal.ignored if PERSONAL.search(c.name) or PERSONAL.search(c.label)]
    print(
        f"wrote {paths.relative(out)}: {len(proposal.lines) - len(unsure)} of {len(proposal.lines)} variables "
        f"mapped with confidence >= {CONFIRM_BELOW:.2f}, {len(unsure)} to check (confirmed: false), "
        f"{len(proposal.ignored)} export column(s) ignored"
        + (f", {len(personal)} of them look like personal data ({', '.join(personal)})" if personal else "")
    )
    for x in unsure:
        print(
            f"  check {x.name}: {x.column or '(none)'} ({x.confidence:.2f}); candidates "
            + ", ".join(f"{n} ({s:.2f})" for n, s in x.candidates)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())


# -- a question the export lacks: what cannot be made -------------------------------------


def _call_texts(code: str, prefix: str) -> list[str]:
    """The argument text of every ``prefix(`` call in ``code`` (balanced parentheses, strings respected)."""
    out = []
    for m in re.finditer(re.escape(prefix) + r"\(", code):
        depth, i, quote = 1, m.end(), None
        while i < len(code) and depth:
            ch = code[i]
            if quote:
                if ch == "\\":
                    i += 1
                elif ch == quote:
                    quote = None
            elif ch in "\"'":
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            i += 1
        out.append(code[m.end() : i - 1])
    return out


def _literals(text: str) -> list[str]:
    return [a or b for a, b in re.findall(r"\"([^\"\n]*)\"|'([^'\n]*)'", text)]


def _uses(spec, names: set[str]) -> bool:
    if isinstance(spec, dict):
        return any(_uses(v, names) for v in spec.values())
    if isinstance(spec, (list, tuple)):
        return any(_uses(v, names) for v in spec)
    if isinstance(spec, str):
        return spec in names or bool(set(re.findall(r"[A-Za-z_]\w*", spec)) & names)
    return False


def dependent_names(absent: list[str], cb: Codebook) -> set[str]:
    """The absent variables and everything made from them: recodes, indices, their groups."""
    names = set(absent)
    changed = True
    while changed:
        before = len(names)
        names |= {n for n, r in cb.recodes.items() if r.source in names}
        names |= {n for n, ix in cb.indices.items() if set(ix.members) & names}
        names |= {g for g, grp in cb.groups.items() if set(grp.members) & names}
        changed = len(names) != before
    return names


def unavailable(
    absent: list[str], cb: Codebook, notebooks: Path | None = None, measures_file: Path | None = None
) -> dict[str, dict[str, list[str]]]:
    """Per notebook, the tables/figures and stated numbers that use a question the export lacks.

    Read from ``data/reference/measures.yml`` (layouts and results whose spec
    names the variable, a recode or index of it, or its group) and from the
    notebooks' code (``ch.table``/``ch.layout_table``/``ch.figure``/``ch.result``
    calls that name one of them). ``{notebook: {"tables": [...], "results": [...]}}``.
    """
    import json

    import yaml

    if not absent:
        return {}
    names = dependent_names(absent, cb)
    notebooks = notebooks or paths.ROOT / "notebooks"
    measures_file = measures_file or paths.REFERENCE / "measures.yml"
    spec = yaml.safe_load(measures_file.read_text(encoding="utf-8")) if measures_file.exists() else {}
    layouts = {k for k, v in (spec.get("tables") or {}).items() if _uses(v, names)}
    out: dict[str, dict[str, list[str]]] = {}
    for key, v in (spec.get("results") or {}).items():
        nb, _, rest = str(key).partition(".")
        if rest and _uses(v, names):
            out.setdefault(nb, {"tables": [], "results": []})["results"].append(rest)
    for path in sorted(notebooks.glob("*.ipynb")):
        try:
            cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        except (OSError, ValueError):
            continue
        code = "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code")
        entry = out.setdefault(path.stem, {"tables": [], "results": []})
        for call in ("ch.layout_table", "ch.figure"):
            for args in _call_texts(code, call):
                lits = _literals(args)
                if lits and (lits[0] in layouts or set(lits) & names):
                    entry["tables"].append(lits[0])
        for args in _call_texts(code, "ch.table"):
            lits = _literals(args)
            if set(lits) & names:
                depth, cut = 0, None  # the table's name: the first string after the first top-level comma
                for i, ch in enumerate(args):
                    depth += ch in "([{"
                    depth -= ch in ")]}"
                    if ch == "," and depth == 0:
                        cut = i
                        break
                after = _literals(args[cut:]) if cut is not None else []
                if after:
                    entry["tables"].append(after[0])
        for args in _call_texts(code, "ch.result"):
            lits = _literals(args)
            if lits and set(lits[1:]) & names:
                entry["results"].append(lits[0])
    return {nb: {k: sorted(set(v)) for k, v in e.items()} for nb, e in out.items() if e["tables"] or e["results"]}
