"""Open answers: from the free text of an export to the report's themes, with the researcher's review.

The report (chapter 3) summarised the open answers in themes with the help of
ChatGPT 4o and checked them by hand. Here the same step is reproducible and
stays on this machine (sending respondents' free text to an outside service
would itself be a data-protection problem):

1. **The coding frame** is data in ``data/codebook.yml`` (``coding:``): per
   open question the themes the report names, a short definition and the
   words that indicate each theme. ``load_frames`` reads it (one function,
   like the recodes).
2. **An automatic first pass** (``propose``) gives every answer a theme, or
   the frame's «ikke kodet» code when no indicator fits, with the words that
   decided and how sure it is. Deterministic rules, no model, no network.
3. **The researcher's review**: ``python -m src.data.review`` (``make coding``)
   writes per question a review sheet (CSV, UTF-8 with byte-order mark, ``;``
   separated, so Excel and LibreOffice open it) under ``coding/<export
   name>/`` next to the export (``data/raw/coding/...``, git-ignored): id, the
   answer, the proposal and why, and an empty column ``forsker`` for the
   researcher's theme. A re-run adds only new answers and never overwrites a
   decision; an answer whose text changed since it was reviewed is flagged
   and its old decision moved to ``tidligere_forsker``.
4. **The build** (``apply``, called by 01_cleaning) takes the reviewed theme
   where there is one and the proposal otherwise, and measures the proposals
   against the reviews (percent agreement, Cohen's kappa with a 95 % CI).
   The text never leaves 01_cleaning; only the theme codes do.

An export that already carries the coded columns (``s_17_kode`` …, coded by
hand before this step existed) is read as a completed review.

    python -m src.data.review [--raw PATH]
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from src.base import paths
from src.base.codebook import Codebook, CodebookError
from src.base.codebook import load as load_codebook
from src.base.reference import read_yaml
from src.data import learner, norwegian

# -- normalising Norwegian text --------------------------------------------------

FOLD = {"æ": "ae", "ø": "o", "å": "a", "ä": "ae", "ö": "o", "é": "e", "è": "e", "ê": "e", "ü": "u", "ó": "o"}
ENDINGS = "(?:e|en|et|a|er|ene|ane|ar|s|t)?"  # the usual Norwegian inflection endings (for ``=word``)
WORD_CHAR = "a-z0-9"
# What one answer may cost (#28): see src/data/norwegian.py (MAX_CHARS read, no word longer than MAX_TOKEN).


def fold(text: str) -> tuple[str, list[int]]:
    """The text as the rules compare it, and for each of its characters the position in the original.

    NFC, lower case, æ ø å folded to ae o a (and «aa» to a, the old spelling
    of å), every character that is not a letter or digit a space. The
    positions let the deciding words be quoted as the respondent wrote them.
    """
    t = unicodedata.normalize("NFC", str(text))
    low = t.lower()
    if len(low) != len(t):  # a character whose lower case is longer: keep positions simple
        low = "".join(ch.lower()[:1] or ch for ch in t)
    out: list[str] = []
    pos: list[int] = []
    i = 0
    while i < len(low):
        ch = low[i]
        if ch == "a" and i + 1 < len(low) and low[i + 1] == "a":
            out.append("a")
            pos.append(i)
            i += 2
            continue
        rep = FOLD.get(ch, ch)
        if not all(r.isascii() and r.isalnum() for r in rep):
            rep = " "
        for r in rep:
            out.append(r)
            pos.append(i)
        i += 1
    return "".join(out), pos


def normalise(text: str) -> str:
    """The folded text with runs of spaces collapsed (what an indicator is compared with)."""
    return " ".join(fold(text)[0].split())


def compile_indicator(indicator: str) -> tuple[tuple[norwegian.Word, ...], ...]:
    """An indicator (see the codebook's ``coding:`` notes) as its parts, which must all match.

    A part is one or more words in order (at most two other words between
    them), each compared with the answer's tokens by ``norwegian.word_matches``:
    ``=word`` the word in any inflection (its stem, usual endings, one typo),
    ``^word`` a word that starts so, ``word`` anywhere inside a word (compounds).
    """
    parts = [p.strip() for p in str(indicator).split(" + ")]
    out = []
    for part in parts:
        mode = part[0] if part[:1] in ("=", "^") else ""
        words = [w for w in part[len(mode) :].split() if norwegian.canonical(norwegian.fold_word(w)).strip()]
        words = [w for w in words if normalise(w)]
        if not words:
            raise ValueError(f"indicator {indicator!r} has an empty part")
        out.append(tuple(norwegian.make_word(w, mode) for w in words))
    return tuple(out)


def indicator_matches(indicator: str, text: str) -> bool:
    """Whether every part of an indicator matches the text (for tests and for the researcher's checks)."""
    toks = norwegian.tokens(text)
    return all(_part_hits(part, toks) for part in compile_indicator(indicator))


def _part_hits(part, toks) -> list[int]:
    """The token indices of the first match of one indicator part (linear in the number of tokens)."""
    n = len(part)
    for i, tok in enumerate(toks):
        if not norwegian.word_matches(part[0], tok):
            continue
        got, j = [i], i
        for w in part[1:]:
            for k in range(j + 1, min(j + 4, len(toks))):
                if norwegian.word_matches(w, toks[k]):
                    got.append(k)
                    j = k
                    break
            else:
                break
        if len(got) == n:
            return got
    return []


# -- the coding frame ---------------------------------------------------------------


class CodingError(ValueError):
    """A coding frame or a review sheet cannot be used; the message lists every problem."""


@dataclass(frozen=True)
class Theme:
    code: int
    label: str
    label_en: str | None
    definition: str
    indicators: tuple[str, ...]
    patterns: tuple[tuple[tuple[norwegian.Word, ...], ...], ...]
    examples: tuple[str, ...] = ()
    keeps_negation: bool = False  # «ikke digitale kurs» is still this theme


@dataclass(frozen=True)
class Frame:
    name: str  # the coded (theme) variable
    texts: tuple[str, ...]  # the free-text variables coded together
    follows: str
    not_coded: int
    themes: dict[int, Theme]  # every code of the theme variable with indicators
    labels: dict[int, str]  # every code of the theme variable -> label
    source: str  # the export column of hand-made codes (old exports)
    negation: str = ""  # "wish": the clause after «ikke behov for …» is not the wish
    multiple: bool = False  # an answer may have several themes (the first is the variable's)
    answers: tuple[tuple[str, tuple[int, ...]], ...] = ()  # labelled example answers (EXAMPLES), the model's start

    def label(self, code) -> str:
        return self.labels.get(int(code), str(code))


def load_frames(codebook: Codebook | None = None) -> dict[str, Frame]:
    """The coding frames of the codebook (``coding:``), checked against its variables."""
    cb = codebook or load_codebook()
    key = (str(cb.path), id(cb))
    if key not in _FRAMES:
        _FRAMES[key] = _load_frames(str(cb.path), cb)
    return _FRAMES[key]


_FRAMES: dict = {}


EXAMPLES = "coding_examples.yml"  # beside the codebook: labelled example answers per frame (optional)


def _load_examples(path: Path, raw_frames: dict, cb: Codebook, problems: list[str]) -> dict[str, tuple]:
    """The labelled example answers beside the codebook: {frame: ((text, codes), ...)}; problems listed."""
    if not path.is_file():
        return {}
    try:
        raw = read_yaml(path) or {}
    except Exception as exc:  # noqa: BLE001 - a broken file is reported with its name, never a traceback
        problems.append(f"{paths.relative(path)}: not readable as YAML ({type(exc).__name__})")
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{paths.relative(path)}: expected a mapping of coding frames to lists of answers")
        return {}
    out = {}
    for name, items in raw.items():
        var = cb.variables.get(name)
        if name not in raw_frames or var is None:
            problems.append(f"{paths.relative(path)}: '{name}' is not a coding frame ({sorted(raw_frames)})")
            continue
        got = []
        for i, it in enumerate(items or []):
            it = it if isinstance(it, dict) else {}
            gold = it.get("gold") or []
            gold = gold if isinstance(gold, list) else [gold]
            try:
                codes = tuple(int(g) for g in gold)
            except (TypeError, ValueError):
                codes = ()
            if not str(it.get("text") or "").strip() or not codes or any(c not in var.values for c in codes):
                problems.append(
                    f"{paths.relative(path)}: {name}[{i}]: needs a text and gold codes of {name} {sorted(var.values)}"
                )
                continue
            got.append((str(it["text"]), codes))
        out[name] = tuple(got)
    return out


def _load_frames(path: str, cb: Codebook) -> dict[str, Frame]:
    raw = (read_yaml(path) or {}).get("coding") or {}
    problems, frames = [], {}
    examples = _load_examples(Path(path).parent / EXAMPLES, raw, cb, problems)
    for name, spec in raw.items():
        where = f"coding.{name}"
        spec = spec or {}
        var = cb.variables.get(name)
        if var is None or var.type != "single":
            problems.append(f"{where}: '{name}' is not a single-choice variable of the codebook")
            continue
        texts = tuple(spec.get("text") or ())
        for t in texts:
            if t not in cb.variables or not cb.variables[t].free_text:
                problems.append(f"{where}.text: '{t}' is not a free-text variable (free_text: true)")
        if not texts:
            problems.append(f"{where}.text names no free-text variable")
        not_coded = spec.get("not_coded")
        if not_coded not in var.values:
            problems.append(f"{where}.not_coded is {not_coded!r}, not a code of {name} {sorted(var.values)}")
        themes = {}
        for code, t in (spec.get("themes") or {}).items():
            t = t or {}
            if int(code) not in var.values:
                problems.append(f"{where}.themes: {code} is not a code of {name} {sorted(var.values)}")
                continue
            indicators = tuple(str(i) for i in t.get("indicators") or ())
            if not indicators:
                problems.append(f"{where}.themes.{code} has no indicators")
            compiled = []
            for ind in indicators:
                try:
                    compiled.append(compile_indicator(ind))
                except (ValueError, re.error) as exc:
                    problems.append(f"{where}.themes.{code}: indicator {ind!r}: {exc}")
            themes[int(code)] = Theme(
                code=int(code),
                label=var.values[int(code)],
                label_en=var.values_en.get(int(code)),
                definition=str(t.get("definition") or ""),
                indicators=indicators,
                patterns=tuple(compiled),
                examples=tuple(str(e) for e in t.get("examples") or ()),
                keeps_negation=bool(t.get("keeps_negation")),
            )
        missing = sorted(set(var.values) - set(themes) - {not_coded})
        if missing:
            problems.append(f"{where}.themes: codes {missing} of {name} have no definition and indicators")
        frames[name] = Frame(
            name=name,
            texts=texts,
            follows=str(spec.get("follows") or ""),
            not_coded=int(not_coded) if not_coded in var.values else -1,
            themes=themes,
            labels=dict(var.values),
            source=var.source,
            negation=str(spec.get("negation") or ""),
            multiple=bool(spec.get("multiple")),
            answers=examples.get(name, ()),
        )
    if problems:
        raise CodebookError(
            f"{paths.relative(path)}: the coding frames are inconsistent ({len(problems)} problem(s)):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return frames


def coded_variables(codebook: Codebook) -> set[str]:
    """The theme variables made by the coding step (their export columns are optional)."""
    return set(load_frames(codebook))


# -- the automatic first pass --------------------------------------------------------

NOT_A_THEME = {
    "ikke svar": "ikke et svar (tomt, «vet ikke», «-» …)",
    "ikke gjenkjent": "et svar, men ingen av temaene er gjenkjent",
    "ingen tema": "et svar som ikke hører til noen av temaene",
}
MIN_LEARN = 8  # reviewed answers of a question before the model learns from them
PRIOR_WEIGHT = 1.0  # weight of a labelled example answer (frame_examples) in the model
REVIEW_WEIGHT = 3.0  # weight of a reviewed answer of this export in the model
BANDS = ((0.80, "høy"), (0.55, "middels"), (0.0, "lav"))


@dataclass(frozen=True)
class Proposal:
    code: int
    score: float  # rule evidence for the proposed theme (matched words, shared words split)
    confidence: float  # 0 … 1
    why: str  # the deciding words, as written, and the model's share
    runner_up: int | None = None
    themes: tuple[int, ...] = ()  # every proposed theme, the first is ``code`` (several where the frame allows)
    kind: str = "tema"  # "tema", or for the frame's not-coded code: "ikke svar" / "ikke gjenkjent"
    band: str = "lav"  # confidence band: høy / middels / lav


_RULED_MAX = 100_000  # answers remembered per frame


def rule_scores(frame: Frame, text: str):
    """``_rule_scores`` of an answer, remembered on the frame (each model scores the same answers again)."""
    memo = frame.__dict__.setdefault("_ruled", {})  # dies with the frame; the frame's fields are frozen
    got = memo.get(text)
    if got is None:
        if len(memo) >= _RULED_MAX:
            memo.clear()
        got = memo[text] = _rule_scores(frame, text)
    return got


def _rule_scores(frame: Frame, text: str):
    """The answer's tokens and, per theme with a hit, (score, token indices).

    A token claimed by the indicators of several themes counts 1/k for each;
    a token after «men» counts 1.5 (the point of the answer). In a frame of
    wishes (``negation: wish``) an indicator whose words are all inside a
    wish's negation («ikke behov for mer kurs») does not count, unless the
    theme says the negation is its point (``keeps_negation``).
    """
    toks = norwegian.tokens(text)
    claimed: dict[int, set[int]] = {}
    for code, theme in frame.themes.items():
        got: set[int] = set()
        for parts in theme.patterns:
            hits = [_part_hits(part, toks) for part in parts]
            if not all(hits):
                continue
            idx = [i for h in hits for i in h]
            if frame.negation == "wish" and not theme.keeps_negation and all(toks[i].negated for i in idx):
                continue
            got.update(idx)
        if got:
            claimed[code] = got
    owners: dict[int, int] = {}
    for got in claimed.values():
        for i in got:
            owners[i] = owners.get(i, 0) + 1
    but = any(t.after_but for t in toks)
    scores = {}
    for code, got in claimed.items():
        # adjacent words of one indicator («lite støtte») are one piece of evidence, not two
        first = [i for i in sorted(got) if i - 1 not in got]
        sc = sum((1.5 if (but and toks[i].after_but) else 1.0) / owners[i] for i in first)
        scores[code] = (round(sc, 6), sorted(got))
    return toks, scores


def _rule_confidence(s: float, r: float) -> float:
    return (1 - 0.5**s) * s / (s + r) if s > 0 else 0.0


def _band(conf: float) -> str:
    return next(name for limit, name in BANDS if conf >= limit)


def _quote(original: str, toks, idx) -> str:
    return "«" + ", ".join(original[toks[i].start : toks[i].end] for i in idx) + "»"


class Coder:
    """The proposer of one question: the rules' evidence and a model trained on the frame, its examples and the reviews.

    The model (``src/data/learner.py``: logistic regression on character
    n-grams, stems and the rules' scores) starts from the frame itself (each
    theme's label, definition, indicator words and examples; non-answers for
    the not-coded code), the frame's labelled example answers
    (``data/coding_examples.yml``, or ``prior``) and learns from every
    reviewed answer given, weighted ``REVIEW_WEIGHT`` against the examples'
    ``PRIOR_WEIGHT``. It decides, except that it cannot call an answer «ikke
    kodet» where an indicator word found a theme; non-answers («vet ikke»,
    «-») are «ikke svar» before any model, and an answer worded as one the
    researcher decided gets that decision. The top confidence band needs the
    rules and the model to agree. Same frame, examples and reviews, same
    proposals.
    """

    def __init__(self, frame: Frame, reviewed=(), prior=None):
        self.frame = frame

        def as_codes(pairs):
            return [(str(t), tuple(int(c) for c in (cs if isinstance(cs, (list, tuple)) else [cs]))) for t, cs in pairs]

        reviewed = as_codes(reviewed)
        prior = as_codes(frame_examples(frame) if prior is None else prior)
        self.n_reviewed = len(reviewed)
        docs, labels, weights = [], [], []
        for code, theme in frame.themes.items():
            for d in (
                frame.labels.get(code, ""),
                theme.definition,
                *theme.examples,
                *(" ".join(w.text for part in ind for w in part) for ind in theme.patterns),
            ):
                if d.strip():
                    docs.append(d)
                    labels.append(code)
                    weights.append(1.0)
        for d in sorted(norwegian.NON_ANSWERS):
            docs.append(d)
            labels.append(frame.not_coded)
            weights.append(1.0)
        for t, cs in prior:
            docs.append(t)
            labels.append(cs[0])
            weights.append(PRIOR_WEIGHT)
        for t, cs in reviewed:
            docs.append(t)
            labels.append(cs[0])
            weights.append(REVIEW_WEIGHT)
        themes = list(frame.themes)
        self._themes = themes
        vectors: dict[str, list[float]] = {}  # answers repeat («vet ikke», a generator's phrases): score each once
        extra = [vectors[d] if d in vectors else vectors.setdefault(d, self._rule_vector(d)) for d in docs]
        self.model = learner.fit(docs, labels, weights, extra)
        # an answer worded as one the researcher has decided (same words, any case, spelling or order) gets
        # that decision; where the researcher decided such answers differently, the model decides
        seen: dict[str, set] = {}
        for t, cs in reviewed:
            seen.setdefault(wording(t), set()).add(cs)
        self._decided = {w: next(iter(c)) for w, c in seen.items() if w and len(c) == 1}

    def _rule_vector(self, text: str) -> list[float]:
        _, scores = rule_scores(self.frame, text)
        return [scores[c][0] if c in scores else 0.0 for c in self._themes]

    def propose(self, text: str) -> Proposal:
        return self.propose_many([text])[0]

    def propose_many(self, texts) -> list[Proposal]:
        """The proposals for many answers (the model scores them in one pass)."""
        originals = [unicodedata.normalize("NFC", str(t)) for t in texts]
        once: dict[str, tuple] = {}  # the rules' scores of each distinct answer, once
        ruled = [once[o] if o in once else once.setdefault(o, rule_scores(self.frame, o)) for o in originals]
        vecs = [[sc[c][0] if c in sc else 0.0 for c in self._themes] for _, sc in ruled]
        probas = learner.proba_many(self.model, [o[: norwegian.MAX_CHARS] for o in originals], vecs)  # #28: capped
        return [self._decide(o, toks, sc, pr) for o, (toks, sc), pr in zip(originals, ruled, probas)]

    def _decide(self, original: str, toks, scores, proba) -> Proposal:
        frame = self.frame
        text = original
        cut = "" if len(str(text)) <= norwegian.MAX_CHARS else f" (bare de første {norwegian.MAX_CHARS} tegnene lest)"
        if norwegian.is_non_answer(original):
            return non_answer(frame, cut)
        same = self._decided.get(wording(original)) if self._decided else None
        if same:
            why = "samme ord som et gjennomgått svar" + cut
            if same[0] == frame.not_coded:  # decided «no theme»: still the unsure case, never the top band
                return Proposal(same[0], 0, 0.6, why, None, same, "ingen tema", _band(0.6))
            return Proposal(same[0], 0, 0.95, why, None, same, "tema", _band(0.95))
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1][0], -proba.get(kv[0], 0.0), self._themes.index(kv[0])))
        rules_why = "; ".join(f"{c}: {_quote(original, toks, idx)}" for c, (_, idx) in ranked[:3])
        # the model decides (it weighs the rules' scores with the words, as the examples and reviews taught it),
        # except that it cannot call an answer «ikke kodet» where an indicator word found a theme
        order = sorted(proba)
        best = max(proba, key=lambda c: (proba[c], -order.index(c)))
        p = proba[best]
        if ranked and best == frame.not_coded:
            best, p = ranked[0][0], proba.get(ranked[0][0], 0.0)
        code = best
        if ranked and ranked[0][0] == code:  # rules and model agree: the top band is theirs
            s = ranked[0][1][0]
            r = ranked[1][1][0] if len(ranked) > 1 else 0.0
            conf = 0.5 * _rule_confidence(s, r) + 0.5 * p
            why = rules_why + f"; modell {p:.2f}"
        elif code == frame.not_coded:
            conf = p
            why = f"ingen indikatorord; modell {p:.2f} for «{frame.label(code)}»"
        else:  # the model alone, or against the rules' first theme: never the top band
            conf = 0.7 * p
            why = f"modell {p:.2f}" + (f"; regler {rules_why}" if rules_why else "; ingen indikatorord")
        if code == frame.not_coded:
            conf = min(conf, 0.6)  # «not recognised» is the unsure case: never the top band
            return Proposal(code, 0, round(conf, 2), why + cut, None, (code,), "ikke gjenkjent", _band(conf))
        themes = [code]
        if frame.multiple:
            themes += [c for c, (sc, _) in ranked if c != code and sc >= 2.0][:2]  # a second point, well attested
        runner = next((c for c, _ in ranked if c != code), None)
        return Proposal(
            code, scores.get(code, (0.0,))[0], round(conf, 2), why + cut, runner, tuple(themes), "tema", _band(conf)
        )


def non_answer(frame: Frame, cut: str = "") -> Proposal:
    """The proposal for a non-answer («vet ikke», «-»), which no model decides (``cut``: the answer was capped)."""
    return Proposal(frame.not_coded, 0, 0.99, "ikke et svar" + cut, None, (frame.not_coded,), "ikke svar", "høy")


def non_answer_only(frame: Frame, text: str) -> Proposal:
    """What ``Coder.propose`` says of an answer before any model: «ikke svar» for a non-answer («vet ikke», «-»),
    else «ikke gjenkjent» (no proposal made). For answers whose theme the researcher decided."""
    if norwegian.is_non_answer(unicodedata.normalize("NFC", str(text))):
        return non_answer(frame)
    return Proposal(
        frame.not_coded, 0, 0.0, "ikke foreslått (forskeren har bestemt)", None, (), "ikke gjenkjent", "lav"
    )


def wording(text: str) -> str:
    """An answer's words, folded, spelled as the frames spell them and sorted (what «the same answer» is)."""
    return " ".join(sorted(t.word for t in norwegian.tokens(text)))


def frame_examples(frame: Frame) -> list[tuple[str, tuple[int, ...]]]:
    """The frame's labelled example answers (``data/coding_examples.yml``): what the model starts from."""
    return list(frame.answers)


_CODERS: dict = {}


def coder(frame: Frame) -> Coder:
    """The proposer of a frame at zero reviews (built once per frame)."""
    key = (frame.name, id(frame))
    if key not in _CODERS:
        _CODERS[key] = Coder(frame)
    return _CODERS[key]


def propose(frame: Frame, text: str) -> Proposal:
    """The first pass's proposal for one answer (no reviews): see ``Coder``."""
    return coder(frame).propose(text)


# -- answers, agreement ----------------------------------------------------------------


def answers(data, frame: Frame, codebook: Codebook):
    """The respondents who wrote in the frame's field(s): id, fields (export columns) and answer.

    Several fields of one respondent are coded together as one answer, joined
    by « | » in the fields' order.
    """
    import pandas as pd

    id_col = codebook.id
    cols = [t for t in frame.texts if t in data]
    rows = []
    if cols:
        texts = data[cols].astype("string")
        for i, rid in enumerate(data[id_col].to_numpy()):
            parts = [
                (c, str(texts.iat[i, j]).strip())
                for j, c in enumerate(cols)
                if not pd.isna(texts.iat[i, j]) and str(texts.iat[i, j]).strip()
            ]
            if parts:
                rows.append(
                    {
                        "resp_id": int(rid),
                        "felt": " | ".join(codebook.variables[c].source for c, _ in parts),
                        "svar": " | ".join(t for _, t in parts),
                    }
                )
    return pd.DataFrame(rows, columns=["resp_id", "felt", "svar"])


@dataclass(frozen=True)
class Kappa:
    n: int
    agreement: float  # proportion
    kappa: float
    se: float
    low: float
    high: float


def cohen_kappa(a, b, level: float = 0.95) -> Kappa:
    """Cohen's kappa of two codings of the same answers, with a large-sample confidence interval.

    The standard error is the asymptotic one of Fleiss, Cohen & Everitt (1969,
    *Psychological Bulletin* 72: 323–327), the variance of kappa when it is
    not 0 (the interval's), as in Fleiss, Levin & Paik (2003, eq. 18.12):
    var = [Σ p_ii (1 − (p_i. + p_.i)(1 − κ))² + (1 − κ)² Σ_{i≠j} p_ij (p_.i + p_j.)² − (κ − p_e(1 − κ))²]
    / (n (1 − p_e)²). Interval κ ± z·se, cut to [−1, 1]. With one category only
    (p_e = 1) kappa is undefined (nan).
    """
    from statistics import NormalDist

    a, b = list(a), list(b)
    if len(a) != len(b):
        raise ValueError(f"two codings of different length ({len(a)} and {len(b)})")
    n = len(a)
    if n == 0:
        return Kappa(0, math.nan, math.nan, math.nan, math.nan, math.nan)
    cats = sorted(set(a) | set(b))
    k = len(cats)
    at = {c: i for i, c in enumerate(cats)}
    p = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b):
        p[at[x]][at[y]] += 1 / n
    rows = [sum(p[i]) for i in range(k)]
    cols = [sum(p[i][j] for i in range(k)) for j in range(k)]
    po = sum(p[i][i] for i in range(k))
    pe = sum(rows[i] * cols[i] for i in range(k))
    if pe >= 1 - 1e-12:
        return Kappa(n, po, math.nan, math.nan, math.nan, math.nan)
    kap = (po - pe) / (1 - pe)
    A = sum(p[i][i] * (1 - (rows[i] + cols[i]) * (1 - kap)) ** 2 for i in range(k))
    B = (1 - kap) ** 2 * sum(p[i][j] * (cols[i] + rows[j]) ** 2 for i in range(k) for j in range(k) if i != j)
    C = (kap - pe * (1 - kap)) ** 2
    se = math.sqrt(max(A + B - C, 0.0) / (n * (1 - pe) ** 2))
    z = NormalDist().inv_cdf(1 - (1 - level) / 2)
    return Kappa(n, po, kap, se, max(-1.0, kap - z * se), min(1.0, kap + z * se))


# -- review sheets -------------------------------------------------------------------
#
# A sheet is opened in Excel or LibreOffice and saved again, so nothing in it may
# be a value a spreadsheet converts: the respondent is «R<id>», the checksum
# «h<hex>» (a pure hex value such as 12345e6789012345 is a number to a
# spreadsheet), and a text cell that starts with = + - @ starts with an
# apostrophe (a formula otherwise). Several themes are written «3+5».

SHEET_COLUMNS = [
    "id",
    "utvalg",
    "felt",
    "svar",
    "forslag",
    "forslag_tema",
    "forslag_flere",
    "begrunnelse",
    "sikkerhet",
    "forsker",
    "merknad",
    "nytt_tema",
    "status",
    "tidligere_forsker",
    "kontroll",
]
REQUIRED_COLUMNS = ("id", "forsker", "kontroll")
LEGACY_COLUMNS = {"resp_id": "id", "svar_sha256": "kontroll"}  # the sheets before #29
STATUS_CHANGED = "svaret er endret siden vurderingen: vurder på nytt (den gamle vurderingen står i tidligere_forsker)"
STATUS_CHANGED_UNREVIEWED = "svaret er endret i eksporten"
STATUS_GONE = "ikke i eksporten"
STATUS_CARRIED = "vurderingen er overført fra {old}"
AUDIT = "kontroll (tilfeldig)"
TO_REVIEW = "usikker først"
AUDIT_SIZE = 30  # the random audit sample per question (all answers where there are fewer)
AUDIT_SEED = "verneombud-2024-kontroll"
CODE_LIST = "kodeliste.csv"
NEW_THEMES = "forslag_nye_temaer.csv"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def sheet_path(raw_path, frame: Frame) -> Path:
    return paths.review_dir(raw_path) / f"{frame.name}.csv"


def sheet_files(raw_path) -> list[Path]:
    """The review sheets of an export that exist (the build reads them: an input of 01_cleaning)."""
    d = paths.review_dir(raw_path)
    return sorted(p for p in d.glob("*.csv") if p.name not in (CODE_LIST, NEW_THEMES)) if d.is_dir() else []


def row_id(rid: int) -> str:
    return f"R{int(rid)}"


def parse_id(value) -> int | None:
    """A sheet's respondent id («R101», or 101 / 101.0 as an older sheet or a spreadsheet wrote it)."""
    v = str(value or "").strip().lstrip("'")
    if v[:1] in ("R", "r"):
        v = v[1:]
    try:
        f = float(v.replace(",", "."))
    except ValueError:
        return None
    return int(f) if f == int(f) and abs(f) < 2**53 else None


def answer_hash(text: str) -> str:
    """The answer's checksum as the sheet writes it: «h» and 16 hex digits of its SHA-256 (never a number)."""
    return "h" + hashlib.sha256(unicodedata.normalize("NFC", str(text)).strip().encode("utf-8")).hexdigest()[:16]


def parse_hash(value) -> str | None:
    """A sheet's checksum, or None when a spreadsheet has mangled it (a number, a date …)."""
    v = str(value or "").strip().lstrip("'").lower()
    if re.fullmatch(r"h[0-9a-f]{16}", v):
        return v
    if re.fullmatch(r"[0-9a-f]{16}", v):  # an older sheet's plain hex
        return "h" + v
    return None


def safe_cell(value) -> str:
    """A text cell a spreadsheet keeps as text: one that starts like a formula gets a leading apostrophe."""
    v = "" if value is None else str(value)
    return "'" + v if v.startswith(FORMULA_START) else v


def unsafe_cell(value: str) -> str:
    v = str(value or "")
    return v[1:] if v.startswith("'") and v[1:].startswith(FORMULA_START) else v


def read_sheet(path: Path) -> list[dict]:
    """The rows of a review sheet as saved by a spreadsheet (UTF-8 with or without BOM, or Windows-1252; ; , or tab)."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # Excel's plain 'CSV' on Windows
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = max((";", ",", "\t"), key=first.count) if first else ";"
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    fields = [LEGACY_COLUMNS.get(f, f) for f in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in fields]
    if missing:
        raise CodingError(
            f"review sheet {paths.relative(path)}: column(s) {missing} are missing "
            f"(header: {reader.fieldnames}); expected the columns {SHEET_COLUMNS}"
        )
    rows = []
    for row in reader:
        r = {LEGACY_COLUMNS.get(k, k): (v or "").strip() if isinstance(v, str) else "" for k, v in row.items() if k}
        for k in ("svar", "merknad", "nytt_tema", "felt", "begrunnelse"):
            if k in r:
                r[k] = unsafe_cell(r[k])
        rows.append(r)
    return rows


def _atomic_write_text(path: Path, text: str, encoding: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        Path(tmp).write_text(text, encoding=encoding, newline="")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_sheet(path: Path, rows: list[dict]) -> None:
    """Write a review sheet; columns the researcher added are kept (after the sheet's own)."""
    extra = list(dict.fromkeys(k for r in rows for k in r if k not in SHEET_COLUMNS))
    columns = SHEET_COLUMNS + extra
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, delimiter=";", extrasaction="ignore", lineterminator="\r\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: safe_cell(r.get(c, "")) for c in columns})
    _atomic_write_text(path, buf.getvalue(), "utf-8-sig")  # BOM: Excel reads the file as UTF-8


def parse_decision(frame: Frame, value: str) -> tuple[int, ...] | None:
    """The researcher's entry as codes: a code, a label (any case), several joined by «+», or one of
    «ikke svar» / «ingen tema» / «ikke gjenkjent» (the not-coded code); None when empty."""
    v = unsafe_cell(str(value or "")).strip()
    if not v:
        return None
    by_label = {lab.strip().lower(): c for c, lab in frame.labels.items()}
    if v.lower() in by_label:
        return (by_label[v.lower()],)
    if v.lower() in NOT_A_THEME:
        return (frame.not_coded,)
    codes = []
    for part in re.split(r"\s*\+\s*|\s+og\s+|\s*&\s*", v):
        try:
            code = int(float(part.replace(",", ".")))
        except ValueError:
            raise ValueError(v) from None
        if code not in frame.labels or float(part.replace(",", ".")) != code:
            raise ValueError(v)
        codes.append(code)
    if len(codes) > 1 and not frame.multiple:
        raise ValueError(v)
    return tuple(dict.fromkeys(codes))


def decision_kind(frame: Frame, value: str) -> str:
    """«ikke svar» / «ingen tema» / «ikke gjenkjent» where the researcher wrote one, else ""."""
    v = unsafe_cell(str(value or "")).strip().lower()
    return v if v in NOT_A_THEME else ""


def audit_ids(frame: Frame, ids) -> set[int]:
    """The seeded random audit sample: the ``AUDIT_SIZE`` answers with the smallest seeded hash of their id.

    Stable: an answer stays in the sample while it is in the export, and a
    new export of the same survey keeps the same sample for the same ids.
    """
    ranked = sorted(int(i) for i in ids)
    ranked.sort(key=lambda i: hashlib.sha256(f"{AUDIT_SEED}:{frame.name}:{i}".encode()).hexdigest())
    return set(ranked[:AUDIT_SIZE])


def _previous_sheets(path: Path) -> list[Path]:
    """The same question's sheets of other exports beside this one (a renamed or newer export), newest first."""
    here = path.parent
    root = here.parent
    if not root.is_dir():
        return []
    found = [p / path.name for p in root.iterdir() if p.is_dir() and p != here and (p / path.name).is_file()]
    return sorted(found, key=lambda p: (-p.stat().st_mtime, str(p)))


def _carry_over(path: Path, frame: Frame, now: dict) -> tuple[dict[str, dict], str]:
    """Decisions made for another export of the same survey: {id: row} of the newest such sheet."""
    for old in _previous_sheets(path):
        try:
            rows = read_sheet(old)
        except CodingError:
            continue
        got = {}
        for r in rows:
            rid = parse_id(r.get("id"))
            if rid is not None and r.get("forsker"):
                got[row_id(rid)] = r
        if got:
            return got, old.parent.name
    return {}, ""


def update_sheet(path: Path, frame: Frame, current, decided: dict[int, int] | None = None) -> dict:
    """Bring a review sheet up to date with the export's answers; return what changed.

    New answers are added (with the proposal, and the researcher's column
    filled from ``decided`` where given, e.g. hand-made codes of an old
    export, or carried over from the sheet of another export of the same
    survey where respondent and text are the same); rows already there keep
    their decision. An answer whose text changed gets the new text, status
    «svaret er endret …», and its decision moved to ``tidligere_forsker``.
    A respondent no longer in the export keeps the row with status «ikke i
    eksporten» (its decision reported by id). The proposal columns are
    refreshed by the proposer trained on the sheet's reviews. Rows: the
    random audit sample first (``utvalg`` «kontroll (tilfeldig)»), then the
    rest, least sure first.
    """
    decided = decided or {}
    rows = read_sheet(path) if path.exists() else []
    by_id: dict[str, dict] = {}
    unmatched = []
    for r in rows:
        rid = parse_id(r.get("id"))
        if rid is None:
            if r.get("forsker"):
                unmatched.append(r.get("id", "") or "(tom)")
            continue
        r["id"] = row_id(rid)
        by_id.setdefault(r["id"], r)
    rows = list(by_id.values())
    stats = {"added": 0, "changed": 0, "kept": 0, "gone": 0, "carried": 0, "carried_flagged": 0}
    now = {
        row_id(rid): (felt, svar) for rid, felt, svar in current[["resp_id", "felt", "svar"]].itertuples(index=False)
    }
    carried, old_name = ({}, "") if path.exists() else _carry_over(path, frame, now)

    for r in rows:
        rid = r["id"]
        if rid not in now:
            r["status"] = STATUS_GONE
            stats["gone"] += 1
            if r.get("forsker"):
                unmatched.append(rid)
            continue
        felt, svar = now[rid]
        h = answer_hash(svar)
        sheet_h = parse_hash(r.get("kontroll"))
        same = sheet_h == h or (sheet_h is None and normalise(r.get("svar", "")) == normalise(svar))
        if not same:
            status = STATUS_CHANGED if r.get("forsker") else STATUS_CHANGED_UNREVIEWED
            if r.get("forsker"):
                r["tidligere_forsker"] = r["forsker"]
            r.update(forsker="", status=status)
            stats["changed"] += 1
        else:
            if r.get("status") == STATUS_GONE or (r.get("status") and r.get("forsker")):
                r["status"] = ""  # back in the export, or decided again after the flag
            stats["kept"] += 1
        r.update(felt=felt, svar=svar, kontroll=h)  # the export is the answer's source, not the sheet
    for rid in sorted(set(now) - set(by_id), key=lambda x: int(x[1:])):
        felt, svar = now[rid]
        h = answer_hash(svar)
        r = {
            "id": rid,
            "felt": felt,
            "svar": svar,
            "kontroll": h,
            "status": "",
            "merknad": "",
            "nytt_tema": "",
            "forsker": str(decided[int(rid[1:])]) if int(rid[1:]) in decided else "",
            "tidligere_forsker": "",
        }
        old = carried.get(rid)
        if old and not r["forsker"]:
            if parse_hash(old.get("kontroll")) == h:
                r.update(
                    forsker=old["forsker"],
                    merknad=old.get("merknad", ""),
                    nytt_tema=old.get("nytt_tema", ""),
                    status=STATUS_CARRIED.format(old=old_name),
                )
                stats["carried"] += 1
            else:
                r.update(tidligere_forsker=old["forsker"], status=STATUS_CHANGED)
                stats["carried_flagged"] += 1
        rows.append(r)
        stats["added"] += 1
    live = [r for r in rows if r["id"] in now]
    reviewed = []
    for r in live:
        try:
            codes = parse_decision(frame, r.get("forsker", ""))
        except ValueError:
            codes = None
        if codes:
            reviewed.append((r["svar"], codes))
    c = Coder(frame, reviewed) if len(reviewed) >= MIN_LEARN else coder(frame)
    audit = audit_ids(frame, [int(r["id"][1:]) for r in live])
    proposed = dict(zip([r["id"] for r in live], c.propose_many([r["svar"] for r in live])))
    for r in rows:
        if r["id"] not in now:
            r["utvalg"] = ""
            continue
        p = proposed[r["id"]]
        r.update(
            forslag="+".join(str(t) for t in p.themes),
            forslag_tema=frame.label(p.code) + (f" ({p.kind})" if p.code == frame.not_coded else ""),
            forslag_flere=" + ".join(frame.label(t) for t in p.themes[1:]),
            begrunnelse=p.why,
            sikkerhet=f"{p.confidence:.2f} ({p.band})".replace(".", ","),
            utvalg=AUDIT if int(r["id"][1:]) in audit else TO_REVIEW,
            _conf=p.confidence,
        )
    rows.sort(key=lambda r: (r["id"] not in now, r.get("utvalg") != AUDIT, r.get("_conf", 1.0), int(r["id"][1:])))
    for r in rows:
        r.pop("_conf", None)
    write_sheet(path, rows)
    stats["reviewed"] = len(reviewed)
    stats["audit"] = len(audit)
    stats["audit_reviewed"] = sum(1 for r in live if r.get("utvalg") == AUDIT and r.get("forsker"))
    stats["answers"] = len(now)
    stats["unmatched"] = unmatched
    stats["carried_from"] = old_name
    return stats


def write_code_list(raw_path, frames: dict[str, Frame]) -> Path:
    """``kodeliste.csv`` beside the sheets: every question's codes, labels and definitions, for the researcher."""
    path = paths.review_dir(raw_path) / CODE_LIST
    rows = []
    for f in frames.values():
        for code, label in f.labels.items():
            t = f.themes.get(code)
            rows.append(
                {
                    "tema_variabel": f.name,
                    "kode": code,
                    "tema": label,
                    "definisjon": t.definition
                    if t
                    else "ingen av temaene passer (forslaget når ingen indikator treffer)",
                }
            )
    buf = io.StringIO()
    w = csv.DictWriter(
        buf, fieldnames=["tema_variabel", "kode", "tema", "definisjon"], delimiter=";", lineterminator="\r\n"
    )
    w.writeheader()
    w.writerows(rows)
    _atomic_write_text(path, buf.getvalue(), "utf-8-sig")
    return path


def reviews(path: Path, frame: Frame, current) -> tuple[dict[int, tuple[int, ...]], int, list[str], list[str], dict]:
    """The researcher's decisions that apply to the present answers.

    Returns ({id: codes}, stale, problems, unmatched ids, {id: «ikke svar» …}).
    A decision counts only where the sheet's checksum equals the present
    answer's (stale = decided on a text that has changed since); where a
    spreadsheet has mangled the checksum, the sheet's text is compared
    instead. A decision whose row names no respondent of the export is
    returned by id (never dropped silently, never called «endret»).
    """
    if not path.exists():
        return {}, 0, [], [], {}
    texts = {int(rid): svar for rid, svar in current[["resp_id", "svar"]].itertuples(index=False)}
    out, stale, problems, unmatched, kinds = {}, 0, [], [], {}
    for line, r in enumerate(read_sheet(path), start=2):
        try:
            codes = parse_decision(frame, r.get("forsker", ""))
        except ValueError:
            problems.append(
                f"{paths.relative(path)}, line {line} (id {r.get('id')}): forsker = "
                f"{r.get('forsker')!r} is not a code of {frame.name} {sorted(frame.labels)}, one of its "
                f"labels, several codes joined by + (where the question allows) nor one of {sorted(NOT_A_THEME)}"
            )
            continue
        if codes is None:
            continue
        rid = parse_id(r.get("id", ""))
        if rid is None or rid not in texts:
            unmatched.append(str(r.get("id", "")) or f"line {line}")
            continue
        h = parse_hash(r.get("kontroll"))
        if h is None:
            if normalise(r.get("svar", "")) != normalise(texts[rid]):
                stale += 1
                continue
        elif h != answer_hash(texts[rid]):
            stale += 1
            continue
        out[rid] = codes
        if decision_kind(frame, r.get("forsker", "")):
            kinds[rid] = decision_kind(frame, r.get("forsker", ""))
    return out, stale, problems, unmatched, kinds


# -- the coding step of 01_cleaning -------------------------------------------------------


def apply(data, raw_path, codebook: Codebook | None = None):
    """The theme variables for ``data`` (an export read by ``read_export``), and the review figures.

    Returns ``(data with every frame's theme column, summary)``; ``summary``
    has one row per open question: answers, reviewed, reviewed in the random
    audit sample, changed by the researcher, stale reviews, percent agreement,
    Cohen's kappa and its 95 % interval (on the audit sample only: its rows
    were drawn at random, the others were chosen because the proposal was
    unsure), not-coded answers by kind, and where the reviews came from. The
    theme is the researcher's where there is one (the first of several), the
    proposer's otherwise (trained on the reviews of this export).
    """
    import pandas as pd

    cb = codebook or load_codebook()
    frames = load_frames(cb)
    out = data.copy()
    rows, problems = [], []
    ids = out[cb.id].astype("Int64")
    for name, frame in frames.items():
        cur = answers(out, frame, cb)
        text = {int(r): s for r, s in cur[["resp_id", "svar"]].itertuples(index=False)}
        decided, stale, probs, unmatched, kinds = reviews(sheet_path(raw_path, frame), frame, cur)
        problems += probs
        sources = {"ark": len(decided)}
        if name in out:  # an old export with hand-made codes: a completed review
            coded = {int(i): int(c) for i, c in zip(ids, out[name]) if not pd.isna(c) and not pd.isna(i)}
            for rid, code in coded.items():
                if rid not in decided:
                    decided[rid] = (code,)
            sources["eksport"] = len(coded)
        else:
            coded = {}
        audit = audit_ids(frame, text)
        learned = [(text[r], c) for r, c in decided.items() if r in text]
        # the audit rows' proposals come from a proposer that has not seen them (else kappa would flatter it)
        blind_set = [(text[r], c) for r, c in decided.items() if r in text and r not in audit]
        checking = [r for r in text if r in audit]
        # the rows outside the audit sample: the researcher's theme where one is decided, the model trained on
        # every review for the rest. Each model is trained only where it proposes something (a question nobody
        # answered needs none, a completed review only the blind one)
        rest = [r for r in text if r not in audit and r not in decided]
        proposals = {}
        for learn, pick in ((blind_set, checking), (learned, rest)):
            if pick:
                who = Coder(frame, learn) if len(learn) >= MIN_LEARN else coder(frame)
                proposals.update(zip(pick, who.propose_many([text[r] for r in pick])))
        # the decided rows outside the audit sample: no model's proposal is read for them, only whether the answer
        # is a non-answer (nc_kind below), which no model decides
        proposals.update((r, non_answer_only(frame, text[r])) for r in text if r not in audit and r in decided)
        proposals = {r: proposals[r] for r in text}
        theme = {rid: decided[rid][0] if rid in decided else p.code for rid, p in proposals.items()}
        theme.update({rid: c[0] for rid, c in decided.items() if rid not in theme})  # a code without text
        out[name] = ids.map(lambda i: theme.get(int(i), pd.NA) if not pd.isna(i) else pd.NA).astype("Int64")
        reviewed = [rid for rid in proposals if rid in decided]
        checked = [rid for rid in reviewed if rid in audit]
        k = cohen_kappa(
            [proposals[r].code for r in checked],
            [proposals[r].code if proposals[r].code in decided[r] else decided[r][0] for r in checked],
        )
        nc = [r for r in proposals if theme[r] == frame.not_coded]

        def nc_kind(r):  # a not-coded answer: a non-answer, no theme, or not recognised
            if r in decided:
                return kinds.get(r) or ("ikke svar" if proposals[r].kind == "ikke svar" else "ingen tema")
            return proposals[r].kind

        rows.append(
            {
                "variable": name,
                "n_answers": len(proposals),
                "n_reviewed": len(reviewed),
                "n_audit": len(audit),
                "n_audit_reviewed": len(checked),
                "n_changed": sum(proposals[r].code not in decided[r] for r in checked),
                "n_stale": stale,
                "n_unmatched": len(unmatched),
                "n_multiple": sum(len(decided[r]) > 1 for r in reviewed),
                "agreement_pct": 100 * k.agreement if checked else math.nan,
                "kappa": k.kappa,
                "kappa_low": k.low,
                "kappa_high": k.high,
                "kappa_se": k.se,
                "n_proposed": len(proposals) - len(reviewed),
                "n_not_coded": sum(1 for r in proposals if r not in decided and theme[r] == frame.not_coded),
                "n_non_answer": sum(nc_kind(r) == "ikke svar" for r in nc),
                "n_no_theme": sum(nc_kind(r) == "ingen tema" for r in nc),
                "n_not_recognised": sum(nc_kind(r) == "ikke gjenkjent" for r in nc),
                "review_source": "+".join(s for s, n in sources.items() if n) or "ingen",
                "reviewed_ids": sorted(reviewed),
            }
        )
    if problems:
        raise CodingError(
            f"{len(problems)} problem(s) in the review sheets of {paths.relative(raw_path)}:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return out, pd.DataFrame(rows)


def agreement_table(summary, codebook: Codebook | None = None, lang: str = "nb", min_cell: int = 0):
    """The review figures for readers, one row per open question (counts only, never text).

    Agreement and kappa are those of the random audit sample; with ``min_cell``
    (real data) they are withheld (empty) while fewer of its answers are reviewed.
    """
    import pandas as pd

    cb = codebook or load_codebook()
    summary = summary.copy()
    if min_cell:
        few = summary["n_audit_reviewed"] < min_cell
        for col in ("n_changed", "agreement_pct", "kappa", "kappa_low", "kappa_high"):
            summary[col] = summary[col].astype(float).where(~few)
    return pd.DataFrame(
        {
            "Spørsmål": [cb.label(v, lang) for v in summary["variable"]],
            "Antall svar": summary["n_answers"],
            "Antall gjennomgått": summary["n_reviewed"],
            "Kontrollutvalg (tilfeldig)": summary["n_audit"],
            "Gjennomgått i kontrollutvalget": summary["n_audit_reviewed"],
            "Endret av forsker (kontrollutvalget)": summary["n_changed"],
            "Samsvar (prosent)": summary["agreement_pct"],
            "Kappa": summary["kappa"],
            "KI nedre": summary["kappa_low"],
            "KI øvre": summary["kappa_high"],
        }
    )


# -- the review sheets of an export -------------------------------------------------------------


def write_review_sheets(
    raw_path, data, codebook: Codebook | None = None, decided: dict[str, dict[int, int]] | None = None
) -> dict[str, dict]:
    """Create or update the review sheet of every open question for ``data`` (analysis names)."""
    import pandas as pd

    cb = codebook or load_codebook()
    frames = load_frames(cb)
    decided = dict(decided or {})
    out = {}
    for name, frame in frames.items():
        given = decided.get(name)
        if given is None and name in data:  # an old export's hand-made codes: its review
            given = {int(i): int(c) for i, c in zip(data[cb.id], data[name]) if not pd.isna(c)}
        cur = answers(data, frame, cb)
        out[name] = update_sheet(sheet_path(raw_path, frame), frame, cur, given)
    write_code_list(raw_path, frames)
    write_new_themes(raw_path, frames)
    return out


def suggest_themes(frame: Frame, rows: list[dict], min_size: int = 2, threshold: float = 0.35) -> list[dict]:
    """Groups of similar answers that no theme recognised: candidates for a new theme.

    The answers proposed «ikke gjenkjent» (or that the researcher marked
    «ikke gjenkjent» / «ingen tema», or gave a ``nytt_tema``), compared by
    their stems (cosine similarity of TF-IDF vectors); an answer joins the
    first group whose first answer it resembles (≥ ``threshold``), in id order
    (deterministic). Groups of at least ``min_size``: size, the most common
    stems and two or three example ids. Never the answers' text.
    """
    from collections import Counter

    pool = []
    for r in rows:
        if r.get("status") == STATUS_GONE:
            continue
        kind = decision_kind(frame, r.get("forsker", "")) or (
            "ikke gjenkjent" if "ikke gjenkjent" in r.get("forslag_tema", "") and not r.get("forsker") else ""
        )
        if kind in ("ikke gjenkjent", "ingen tema") or r.get("nytt_tema"):
            stems = [t.stem for t in norwegian.tokens(r.get("svar", "")) if len(t.word) > 3 and t.word not in STOPWORDS]
            if stems:
                pool.append((parse_id(r["id"]) or 0, r["id"], stems, r.get("nytt_tema", "")))
    pool.sort()
    groups: list[dict] = []
    for _, rid, stems, named in pool:
        vec = Counter(stems)
        for g in groups:
            if _cosine(vec, g["seed"]) >= threshold or (named and named == g["named"]):
                g["ids"].append(rid)
                g["stems"].update(vec)
                break
        else:
            groups.append({"seed": vec, "ids": [rid], "stems": Counter(vec), "named": named})
    out = []
    for g in groups:
        if len(g["ids"]) >= min_size:
            out.append(
                {
                    "tema_variabel": frame.name,
                    "antall_svar": len(g["ids"]),
                    "navn_fra_forsker": g["named"],
                    "vanlige_ord": " ".join(w for w, _ in g["stems"].most_common(4)),
                    "eksempel_id": " ".join(g["ids"][:3]),
                }
            )
    return sorted(out, key=lambda d: -d["antall_svar"])


STOPWORDS = {
    "ikke",
    "ingen",
    "eller",
    "ogsa",
    "bare",
    "meget",
    "veldig",
    "mye",
    "mer",
    "som",
    "det",
    "den",
    "der",
    "har",
    "hadde",
    "blir",
    "ble",
    "vart",
    "skal",
    "kan",
    "vil",
    "jeg",
    "meg",
    "vi",
    "oss",
    "med",
    "til",
    "for",
    "fra",
    "over",
    "under",
    "etter",
    "mellom",
    "hver",
    "alle",
    "andre",
    "annen",
    "noen",
    "dette",
    "disse",
    "samme",
    "enn",
    "men",
    "nar",
    "hvor",
    "hva",
    "hvordan",
    "fordi",
    "selv",
    "sine",
    "sin",
    "sitt",
}


def _cosine(a, b) -> float:
    num = sum(v * b.get(k, 0) for k, v in a.items())
    den = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return num / den if den else 0.0


def write_new_themes(raw_path, frames: dict[str, Frame]) -> Path:
    """``forslag_nye_temaer.csv`` beside the sheets: groups of unrecognised answers (ids, never text)."""
    path = paths.review_dir(raw_path) / NEW_THEMES
    out = []
    for f in frames.values():
        sp = sheet_path(raw_path, f)
        if sp.exists():
            out += suggest_themes(f, read_sheet(sp))
    cols = ["tema_variabel", "antall_svar", "navn_fra_forsker", "vanlige_ord", "eksempel_id"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, delimiter=";", lineterminator="\r\n")
    w.writeheader()
    for r in out:
        w.writerow({c: safe_cell(r[c]) for c in cols})
    _atomic_write_text(path, buf.getvalue(), "utf-8-sig")
    return path
