"""Reading Norwegian open answers: tokens, folding, stems, nynorsk and dialect spellings, typos, negation.

The coding rules (src/data/coding.py) compare an answer's *tokens* with the
indicator words of the coding frame, so a theme's key word is found in its
other forms without listing them:

- **folding**: NFC, lower case, æ ø å → ae o a (and «aa» → a), accents off;
- **stems**: the Snowball Norwegian stemmer (PyPI ``snowballstemmer``, the
  maintained Snowball algorithm), so «ressursar», «ressursene», «ressurs» are
  one word; nynorsk inflections (-ar, -ane, -inga) are among its endings;
- **spelling correspondences**: a few systematic nynorsk/dialect spellings
  (``gjev`` → ``giv``, ``-leg`` → ``-lig``, ``ikkje``/``itte`` → ``ikke``, …),
  rules of the written language rather than words of the frames;
- **typos**: a token that is within one edit (two for long words) of an
  indicator word matches it (PyPI ``rapidfuzz``, Levenshtein distance);
- **compounds**: an indicator without a mode matches inside a longer word
  («underbemanningen»), its stem too;
- **negation**: the clause after a wish's negation («ikke behov for mer …»,
  «trenger ikke …») is marked, so a frame of wishes does not code it as the
  wish.

Everything is local and deterministic. Work is linear in the answer's length:
only the first ``MAX_CHARS`` characters are read, a token is at most
``MAX_TOKEN`` characters (a longer run of letters is no word: a pasted hash, a
line without spaces), and each token is compared with a fixed number of
indicator words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer
from rapidfuzz.distance import Levenshtein

MAX_CHARS = 4000  # an answer is read up to here (the rest is noted, not coded)
MAX_TOKEN = 40  # a longer run of letters (a pasted hash, a 1 MB «word») is no word: not coded
FOLD = {
    "æ": "ae",
    "ø": "o",
    "å": "a",
    "ä": "ae",
    "ö": "o",
    "é": "e",
    "è": "e",
    "ê": "e",
    "ü": "u",
    "ó": "o",
    "ò": "o",
    "à": "a",
    "á": "a",
    "í": "i",
}
TOKEN = re.compile(r"[^\W_]+")
CLAUSE_END = re.compile(r"[.,;:!?()|\n]")

# nynorsk and dialect spellings of common words, as the bokmål form the frames use (folded)
SPELLINGS = {
    "ikkje": "ikke",
    "ikkj": "ikke",
    "itte": "ikke",
    "ittj": "ikke",
    "itj": "ikke",
    "ikk": "ikke",
    "inkje": "ikke",
    "eg": "jeg",
    "e": "jeg",
    "ae": "jeg",
    "i": "i",
    "mae": "meg",
    "mykje": "mye",
    "myje": "mye",
    "berre": "bare",
    "kva": "hva",
    "ka": "hva",
    "korleis": "hvordan",
    "kvar": "hver",
    "fleire": "flere",
    "saman": "sammen",
    "sjolv": "selv",
    "sjol": "selv",
    "heile": "hele",
    "fra": "fra",
    "ifra": "fra",
    "dei": "de",
    "ein": "en",
    "eit": "et",
    "vere": "vaere",
    "trong": "behov",
    "naudsynt": "nodvendig",
    "unaudsynt": "unodvendig",
    "tilsette": "ansatte",
    "tilsett": "ansatt",
    "leiing": "ledelse",
    "leiinga": "ledelsen",
    "leiar": "leder",
    "leiaren": "lederen",
    "leiarar": "ledere",
    "leiarane": "lederne",
    "leiarane_": "lederne",
    "pengar": "penger",
    "avsett": "avsatt",
    "hoyve": "anledning",
    "gjere": "gjore",
    "gjera": "gjore",
    "gjer": "gjor",
    "kjem": "kommer",
    "hjelpe": "hjelpe",
    "stotta": "stotte",
    "tida": "tiden",
    "tidi": "tiden",
    "arbeidsgjevar": "arbeidsgiver",
    "ogso": "ogsa",
    "og": "og",
    "au": "ogsa",
    "mangle": "mangler",
    "manglar": "mangler",
    "ingenting": "ingenting",
    "vaktar": "vakter",
    "moter": "moter",
    "mota": "motene",
    "mote": "mote",
    "ressursar": "ressurser",
    "kompetansen": "kompetansen",
    "oppleiring": "opplaering",
    "opplaeringa": "opplaeringen",
    "kurse": "kurs",
    "kursa": "kursene",
    "arbeidsoppgaver": "arbeidsoppgaver",
    "oppgaver": "oppgaver",
}
# spelling rules inside a word (nynorsk → bokmål), applied to the folded token in order
RULES = (
    ("gjev", "giv"),
    ("leiing", "ledelse"),
    ("leiar", "leder"),
    ("tilsett", "ansatt"),
    ("arbeidsgjev", "arbeidsgiv"),
)
SUFFIX_RULES = (("leg", "lig"), ("lege", "lige"), ("ande", "ende"))
# a few English words answers mix in, as the Norwegian word the frames use
ENGLISH = {
    "management": "ledelse",
    "manager": "leder",
    "boss": "sjef",
    "leadership": "ledelse",
    "budget": "budsjett",
    "budgets": "budsjett",
    "staff": "bemanning",
    "staffing": "bemanning",
    "understaffed": "underbemannet",
    "shift": "skift",
    "shifts": "skift",
    "course": "kurs",
    "courses": "kurs",
    "training": "opplaering",
    "refresher": "oppfriskning",
    "network": "nettverk",
    "networking": "nettverk",
    "meeting": "mote",
    "meetings": "moter",
    "workload": "arbeidsmengde",
    "busy": "travelt",
    "support": "stotte",
    "money": "penger",
    "funding": "midler",
    "online": "digitalt",
    "digital": "digital",
    "physical": "fysisk",
    "onsite": "fysisk",
    "time": "tid",
    "hours": "timer",
    "stress": "stress",
    "burnout": "utbrent",
    "conflict": "konflikt",
    "conflicts": "konflikter",
    "communication": "kommunikasjon",
    "routines": "rutiner",
    "structure": "struktur",
    "tailored": "tilpasset",
    "relevant": "relevant",
    "ergonomics": "ergonomi",
    "sick": "syk",
    "leave": "fravaer",
    "webinar": "webinar",
    "webinars": "webinarer",
    "conference": "konferanse",
    "union": "fagforening",
    "university": "universitet",
    "college": "hoyskole",
    "risk": "risiko",
    "chemicals": "kjemikalier",
    "night": "natt",
    "weekend": "helg",
    "overtime": "overtid",
    "deadlines": "tidspress",
    "pressure": "press",
}
NEGATORS = {"ikke", "ingen", "intet", "aldri", "uten", "utan"}
# the negation of a wish: the clause after it is not the wish («ikke behov for mer …»)
WISH_NEGATIONS = (
    ("ikke", "behov"),
    ("ingen", "behov"),
    ("trenger", "ikke"),
    ("ikke", "nodvendig"),
    ("unodvendig",),
    ("ikke", "mer"),
    ("nok", "av"),
    ("ikke", "onske"),
    ("ikke", "onsker"),
    ("onsker", "ikke"),
    ("slipper",),
    ("ikke", "viktig"),
    ("ikke", "interessert"),
    ("ikke", "flere"),
    ("mindre",),
)
NON_ANSWERS = {
    "vet ikke",
    "vet ikkje",
    "veit ikkje",
    "veit ikke",
    "ingen",
    "ingen kommentar",
    "ingen kommentarer",
    "nei",
    "ja",
    "ok",
    "usikker",
    "ikke relevant",
    "ikkje relevant",
    "ingenting",
    "ingen formening",
    "har ingen",
    "ingen spesielle",
    "ingen spesiell",
    "annet",
    "diverse",
    "ikke sikker",
    "husker ikke",
    "hugsar ikkje",
    "kan ikke svare",
    "na",
    "n a",
    "x",
    "xx",
    "xxx",
    "test",
    "kommer ikke pa",
    "nix",
}


def fold_word(word: str) -> str:
    w = word.lower()
    out = "".join(FOLD.get(ch, ch) for ch in w)
    out = unicodedata.normalize("NFKD", out)
    out = "".join(ch for ch in out if not unicodedata.combining(ch))
    return out.replace("aa", "a")


@lru_cache(maxsize=200_000)
def _stemmer():
    return snowballstemmer.stemmer("norwegian")


@lru_cache(maxsize=200_000)
def canonical(folded: str) -> str:
    """A folded token in the bokmål spelling the frames use (nynorsk, dialect and a few English words mapped)."""
    if folded in SPELLINGS:
        return SPELLINGS[folded]
    if folded in ENGLISH:
        return ENGLISH[folded]
    w = folded
    for a, b in RULES:
        if a in w:
            w = w.replace(a, b)
    for a, b in SUFFIX_RULES:
        if w.endswith(a) and len(w) > len(a) + 3:
            w = w[: -len(a)] + b
            break
    return w


@lru_cache(maxsize=200_000)
def stem(folded: str) -> str:
    """The Snowball Norwegian stem of a folded word (stemmed with æøå restored where the fold removed them)."""
    return _stemmer().stemWord(folded)


@dataclass(frozen=True)
class Token:
    start: int  # position in the original text
    end: int
    word: str  # canonical folded form
    stem: str
    negated: bool  # inside the clause after a wish's negation
    after_but: bool  # after «men» (the point of the answer)


def tokens(text: str) -> list[Token]:
    """The answer's tokens (up to ``MAX_CHARS`` characters), with stems and the negation of a wish marked."""
    t = unicodedata.normalize("NFC", str(text))[:MAX_CHARS]
    raw = []
    for m in TOKEN.finditer(t):
        a, b = m.span()
        word = canonical(fold_word(m.group())) if b - a <= MAX_TOKEN else ""
        if word:
            raw.append((a, b, word))
    ends = [m.start() for m in CLAUSE_END.finditer(t)]
    out: list[Token] = []
    neg_until = -1
    but = False
    e = 0
    words = [w for _, _, w in raw]
    for i, (a, b, w) in enumerate(raw):
        while e < len(ends) and ends[e] < a:
            e += 1
            if neg_until != -1 and neg_until < a:
                neg_until = -1
        for cue in WISH_NEGATIONS:
            if tuple(words[i : i + len(cue)]) == cue:
                nxt = ends[e] if e < len(ends) else len(t)
                neg_until = max(neg_until, nxt)
        if w == "men":
            but = True
            neg_until = -1
        out.append(Token(a, b, w, stem(w), a <= neg_until, but))
    return out


def is_non_answer(text: str) -> bool:
    """An answer that says nothing to code: empty, punctuation only, «vet ikke», «-», «nei» …"""
    toks = []
    for m in TOKEN.finditer(str(text)[:MAX_CHARS]):  # the first words (no run longer than a word counts)
        if len(m.group()) <= MAX_TOKEN:
            toks.append(canonical(fold_word(m.group())))
            if len(toks) > 8:
                break
    if not toks:
        return True
    return " ".join(toks) in NON_ANSWERS or (len(toks) == 1 and len(toks[0]) <= 1)


# -- matching an indicator word with a token ------------------------------------------------


@dataclass(frozen=True)
class Word:
    text: str  # folded
    stem: str
    mode: str  # "=" whole word with endings, "^" prefix, "" anywhere in a word


ENDINGS = re.compile(r"(?:e|en|et|a|er|ene|ane|ar|s|t|ne|te)?")


def make_word(word: str, mode: str) -> Word:
    w = canonical(fold_word(word))
    return Word(w, stem(w), mode)


def _typo(a: str, b: str) -> bool:
    """Within one edit (two for words of nine letters or more); short words must match exactly."""
    if len(b) < 6 or abs(len(a) - len(b)) > 2 or a[:1] != b[:1]:
        return False
    limit = 2 if len(b) >= 9 else 1
    return Levenshtein.distance(a, b, score_cutoff=limit) <= limit


def word_matches(w: Word, tok: Token) -> bool:
    t = tok.word
    if w.mode == "=":
        if t == w.text or (tok.stem == w.stem and len(w.stem) >= 4):
            return True
        if t.startswith(w.text) and ENDINGS.fullmatch(t[len(w.text) :]):
            return True
        return _typo(t, w.text)
    if w.mode == "^":
        if t.startswith(w.text):
            return True
        if len(w.stem) >= max(4, len(w.text) - 1) and tok.stem.startswith(w.stem):
            return True
        return len(w.text) >= 6 and _typo(t[: len(w.text)], w.text)
    if w.text in t:
        return True
    if len(w.stem) >= 5 and len(w.stem) >= len(w.text) - 2 and w.stem in t:
        return True
    if len(w.text) >= 7:
        return (
            _typo(t, w.text)
            or (len(t) > len(w.text) and _typo(t[-len(w.text) :], w.text))
            or _typo(t[: len(w.text)], w.text)
        )
    return False
