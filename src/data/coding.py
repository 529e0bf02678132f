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

# -- normalising Norwegian text --------------------------------------------------

FOLD = {"æ": "ae", "ø": "o", "å": "a", "ä": "ae", "ö": "o", "é": "e", "è": "e", "ê": "e", "ü": "u", "ó": "o"}
ENDINGS = "(?:e|en|et|a|er|ene|ane|ar|s|t)?"   # the usual Norwegian inflection endings (for ``=word``)
WORD_CHAR = "a-z0-9"


def fold(text: str) -> tuple[str, list[int]]:
    """The text as the rules compare it, and for each of its characters the position in the original.

    NFC, lower case, æ ø å folded to ae o a (and «aa» to a, the old spelling
    of å), every character that is not a letter or digit a space. The
    positions let the deciding words be quoted as the respondent wrote them.
    """
    t = unicodedata.normalize("NFC", str(text))
    low = t.lower()
    if len(low) != len(t):   # a character whose lower case is longer: keep positions simple
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


def _word_pattern(word: str, mode: str) -> str:
    body = re.escape(normalise(word))
    if mode == "=":
        return rf"(?<![{WORD_CHAR}]){body}{ENDINGS}(?![{WORD_CHAR}])"
    if mode == "^":
        return rf"(?<![{WORD_CHAR}]){body}[{WORD_CHAR}]*"
    return rf"[{WORD_CHAR}]*{body}[{WORD_CHAR}]*"


def compile_indicator(indicator: str) -> tuple[re.Pattern, ...]:
    """An indicator (see the codebook's ``coding:`` notes) as the patterns that must all match."""
    parts = [p.strip() for p in str(indicator).split(" + ")]
    out = []
    for part in parts:
        mode = part[0] if part[:1] in ("=", "^") else ""
        words = part[len(mode):].split()
        words = [w for w in words if normalise(w)]
        if not words:
            raise ValueError(f"indicator {indicator!r} has an empty part")
        gap = rf"[^{WORD_CHAR}]+(?:[{WORD_CHAR}]+[^{WORD_CHAR}]+){{0,2}}"   # at most two words between
        out.append(re.compile(gap.join(_word_pattern(w, mode) for w in words)))
    return tuple(out)


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
    patterns: tuple[tuple[re.Pattern, ...], ...]


@dataclass(frozen=True)
class Frame:
    name: str                      # the coded (theme) variable
    texts: tuple[str, ...]         # the free-text variables coded together
    follows: str
    not_coded: int
    themes: dict[int, Theme]       # every code of the theme variable with indicators
    labels: dict[int, str]         # every code of the theme variable -> label
    source: str                    # the export column of hand-made codes (old exports)

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


def _load_frames(path: str, cb: Codebook) -> dict[str, Frame]:
    raw = (read_yaml(path) or {}).get("coding") or {}
    problems, frames = [], {}
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
            themes[int(code)] = Theme(code=int(code), label=var.values[int(code)], label_en=var.values_en.get(int(code)),
                                      definition=str(t.get("definition") or ""), indicators=indicators,
                                      patterns=tuple(compiled))
        missing = sorted(set(var.values) - set(themes) - {not_coded})
        if missing:
            problems.append(f"{where}.themes: codes {missing} of {name} have no definition and indicators")
        frames[name] = Frame(name=name, texts=texts, follows=str(spec.get("follows") or ""),
                             not_coded=int(not_coded) if not_coded in var.values else -1, themes=themes,
                             labels=dict(var.values), source=var.source)
    if problems:
        raise CodebookError(f"{paths.relative(path)}: the coding frames are inconsistent ({len(problems)} problem(s)):\n"
                            + "\n".join(f"  - {p}" for p in problems))
    return frames


def coded_variables(codebook: Codebook) -> set[str]:
    """The theme variables made by the coding step (their export columns are optional)."""
    return set(load_frames(codebook))


# -- the automatic first pass --------------------------------------------------------

@dataclass(frozen=True)
class Proposal:
    code: int
    score: int                 # matched words for the proposed theme
    confidence: float          # 0 (no indicator) … 1
    why: str                   # the deciding words, as written
    runner_up: int | None = None


def _theme_hits(theme: Theme, folded: str) -> list[tuple[int, int]]:
    spans = []
    for parts in theme.patterns:
        found = [p.search(folded) for p in parts]
        if all(found):
            spans += [m.span() for m in found]
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if merged and a < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def propose(frame: Frame, text: str) -> Proposal:
    """The rules' theme for one answer: the theme whose indicators match most words.

    Ties go to the theme with the longer matched words, then to the frame's
    order. Confidence = (1 − 0.5^s) · s / (s + r), with s the matched words of
    the proposed theme and r those of the runner-up: one word and no rival
    0.5, two words 0.75, a tie at most 0.5 · (1 − 0.5^s).
    """
    folded, pos = fold(text)
    original = unicodedata.normalize("NFC", str(text))
    scored = []
    for order, (code, theme) in enumerate(frame.themes.items()):
        spans = _theme_hits(theme, folded)
        if spans:
            scored.append((len(spans), sum(b - a for a, b in spans), -order, code, spans))
    if not scored:
        return Proposal(frame.not_coded, 0, 0.0, "ingen indikatorord")
    scored.sort(reverse=True)
    s, _, _, code, spans = scored[0]
    r = scored[1][0] if len(scored) > 1 else 0

    def quote(sp):
        return "«" + ", ".join(original[pos[a]:pos[b - 1] + 1] for a, b in sp) + "»"

    why = f"{code}: {quote(spans)}"
    if len(scored) > 1:
        why += "; også " + "; ".join(f"{c}: {quote(sp)}" for _, _, _, c, sp in scored[1:3])
    confidence = (1 - 0.5 ** s) * s / (s + r)
    return Proposal(code, s, round(confidence, 2), why, scored[1][3] if len(scored) > 1 else None)


# -- answers, agreement ----------------------------------------------------------------

def answer_hash(text: str) -> str:
    return hashlib.sha256(unicodedata.normalize("NFC", str(text)).strip().encode("utf-8")).hexdigest()[:16]


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
            parts = [(c, str(texts.iat[i, j]).strip()) for j, c in enumerate(cols)
                     if not pd.isna(texts.iat[i, j]) and str(texts.iat[i, j]).strip()]
            if parts:
                rows.append({"resp_id": int(rid), "felt": " | ".join(codebook.variables[c].source for c, _ in parts),
                             "svar": " | ".join(t for _, t in parts)})
    return pd.DataFrame(rows, columns=["resp_id", "felt", "svar"])


@dataclass(frozen=True)
class Kappa:
    n: int
    agreement: float      # proportion
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

SHEET_COLUMNS = ["resp_id", "felt", "svar", "forslag", "forslag_tema", "begrunnelse", "sikkerhet",
                 "forsker", "merknad", "status", "tidligere_forsker", "svar_sha256"]
REQUIRED_COLUMNS = ("resp_id", "forsker", "svar_sha256")
STATUS_CHANGED = "svaret er endret siden vurderingen: vurder på nytt (den gamle vurderingen står i tidligere_forsker)"
STATUS_CHANGED_UNREVIEWED = "svaret er endret i eksporten"
STATUS_GONE = "ikke i eksporten"
CODE_LIST = "kodeliste.csv"


def sheet_path(raw_path, frame: Frame) -> Path:
    return paths.review_dir(raw_path) / f"{frame.name}.csv"


def sheet_files(raw_path) -> list[Path]:
    """The review sheets of an export that exist (the build reads them: an input of 01_cleaning)."""
    d = paths.review_dir(raw_path)
    return sorted(p for p in d.glob("*.csv") if p.name != CODE_LIST) if d.is_dir() else []


def read_sheet(path: Path) -> list[dict]:
    """The rows of a review sheet as saved by a spreadsheet (UTF-8 with or without BOM, or Windows-1252; ; , or tab)."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")   # Excel's plain 'CSV' on Windows
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = max((";", ",", "\t"), key=first.count) if first else ";"
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise CodingError(f"review sheet {paths.relative(path)}: column(s) {missing} are missing "
                          f"(header: {reader.fieldnames}); expected the columns {SHEET_COLUMNS}")
    return [{k: (v or "").strip() if isinstance(v, str) else "" for k, v in row.items() if k} for row in reader]


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
        w.writerow({c: r.get(c, "") for c in columns})
    _atomic_write_text(path, buf.getvalue(), "utf-8-sig")   # BOM: Excel reads the file as UTF-8


def parse_decision(frame: Frame, value: str) -> int | None:
    """The researcher's entry as a code: the code itself or its label (any case); None when empty."""
    v = str(value or "").strip()
    if not v:
        return None
    try:
        code = int(float(v.replace(",", ".")))
        if code in frame.labels:
            return code
    except ValueError:
        by_label = {lab.strip().lower(): c for c, lab in frame.labels.items()}
        if v.lower() in by_label:
            return by_label[v.lower()]
    raise ValueError(v)


def update_sheet(path: Path, frame: Frame, current, decided: dict[int, int] | None = None) -> dict:
    """Bring a review sheet up to date with the export's answers; return what changed.

    New answers are added (with the proposal, and the researcher's column
    filled from ``decided`` where given, e.g. hand-made codes of an old
    export); rows already there keep their decision. An answer whose text
    changed gets the new text, status «svaret er endret …», and its decision
    moved to ``tidligere_forsker`` (nothing is lost, but it is no longer used
    until the researcher confirms it). A respondent no longer in the export
    keeps the row with status «ikke i eksporten». The proposal columns are
    refreshed from the present frame.
    """
    decided = decided or {}
    rows = read_sheet(path) if path.exists() else []
    by_id = {}
    for r in rows:
        by_id.setdefault(r.get("resp_id", ""), r)
    stats = {"added": 0, "changed": 0, "kept": 0, "gone": 0}
    now = {str(int(rid)): (felt, svar) for rid, felt, svar in current[["resp_id", "felt", "svar"]].itertuples(index=False)}

    def fill(r, svar):
        p = propose(frame, svar)
        r.update(forslag=str(p.code), forslag_tema=frame.label(p.code), begrunnelse=p.why,
                 sikkerhet=f"{p.confidence:.2f}".replace(".", ","))

    for r in rows:
        rid = r.get("resp_id", "")
        if rid not in now:
            if r.get("status") != STATUS_GONE:
                r["status"] = STATUS_GONE
            stats["gone"] += 1
            continue
        felt, svar = now[rid]
        if r.get("svar_sha256") != answer_hash(svar):
            status = STATUS_CHANGED if r.get("forsker") else STATUS_CHANGED_UNREVIEWED
            if r.get("forsker"):
                r["tidligere_forsker"] = r["forsker"]
            r.update(forsker="", felt=felt, svar=svar, svar_sha256=answer_hash(svar), status=status)
            stats["changed"] += 1
        else:
            if r.get("status") == STATUS_GONE or (r.get("status") and r.get("forsker")):
                r["status"] = ""   # back in the export, or decided again after the flag
            stats["kept"] += 1
        fill(r, svar)
    for rid in sorted(set(now) - set(by_id), key=int):
        felt, svar = now[rid]
        r = {"resp_id": rid, "felt": felt, "svar": svar, "svar_sha256": answer_hash(svar), "status": "",
             "forsker": str(decided[int(rid)]) if int(rid) in decided else "", "merknad": "", "tidligere_forsker": ""}
        fill(r, svar)
        rows.append(r)
        stats["added"] += 1
    write_sheet(path, rows)
    stats["reviewed"] = sum(1 for r in rows if r.get("forsker") and r.get("status") != STATUS_GONE)
    stats["answers"] = len(now)
    return stats


def write_code_list(raw_path, frames: dict[str, Frame]) -> Path:
    """``kodeliste.csv`` beside the sheets: every question's codes, labels and definitions, for the researcher."""
    path = paths.review_dir(raw_path) / CODE_LIST
    rows = []
    for f in frames.values():
        for code, label in f.labels.items():
            t = f.themes.get(code)
            rows.append({"tema_variabel": f.name, "kode": code, "tema": label,
                         "definisjon": t.definition if t else "ingen av temaene passer (forslaget når ingen indikator treffer)"})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["tema_variabel", "kode", "tema", "definisjon"], delimiter=";", lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows)
    _atomic_write_text(path, buf.getvalue(), "utf-8-sig")
    return path


def reviews(path: Path, frame: Frame, current) -> tuple[dict[int, int], int, list[str]]:
    """The researcher's decisions that apply to the present answers: ({id: code}, stale, problems).

    A decision counts only where the sheet's answer hash equals the present
    answer's (stale = decided on a text that has changed since).
    """
    if not path.exists():
        return {}, 0, []
    hashes = {int(rid): answer_hash(svar) for rid, svar in current[["resp_id", "svar"]].itertuples(index=False)}
    out, stale, problems = {}, 0, []
    for line, r in enumerate(read_sheet(path), start=2):
        try:
            code = parse_decision(frame, r.get("forsker", ""))
        except ValueError:
            problems.append(f"{paths.relative(path)}, line {line} (resp_id {r.get('resp_id')}): forsker = "
                            f"{r.get('forsker')!r} is not a code of {frame.name} {sorted(frame.labels)} nor one of its labels")
            continue
        if code is None:
            continue
        try:
            rid = int(float(r.get("resp_id", "")))
        except ValueError:
            problems.append(f"{paths.relative(path)}, line {line}: resp_id {r.get('resp_id')!r} is not a respondent id")
            continue
        if rid not in hashes:
            continue
        if r.get("svar_sha256") != hashes[rid]:
            stale += 1
            continue
        out[rid] = code
    return out, stale, problems


# -- the coding step of 01_cleaning -------------------------------------------------------

def apply(data, raw_path, codebook: Codebook | None = None):
    """The theme variables for ``data`` (an export read by ``read_export``), and the review figures.

    Returns ``(data with every frame's theme column, summary)``; ``summary``
    has one row per open question: answers, reviewed, changed by the
    researcher, stale reviews, percent agreement, Cohen's kappa and its 95 %
    interval, and where the reviews came from. The theme is the researcher's
    where there is one (review sheet, else the export's own coded column),
    the rules' proposal otherwise.
    """
    import pandas as pd

    cb = codebook or load_codebook()
    frames = load_frames(cb)
    out = data.copy()
    rows, problems = [], []
    ids = out[cb.id].astype("Int64")
    for name, frame in frames.items():
        cur = answers(out, frame, cb)
        proposals = {int(r): propose(frame, s).code for r, s in cur[["resp_id", "svar"]].itertuples(index=False)}
        decided, stale, probs = reviews(sheet_path(raw_path, frame), frame, cur)
        problems += probs
        sources = {"ark": len(decided)}
        if name in out:   # an old export with hand-made codes: a completed review
            coded = {int(i): int(c) for i, c in zip(ids, out[name]) if not pd.isna(c) and not pd.isna(i)}
            for rid, code in coded.items():
                if rid not in decided:
                    decided[rid] = code
            sources["eksport"] = len(coded)
        else:
            coded = {}
        theme = {rid: decided.get(rid, code) for rid, code in proposals.items()}
        theme.update({rid: code for rid, code in coded.items() if rid not in theme})   # a code without text
        out[name] = ids.map(lambda i: theme.get(int(i), pd.NA) if not pd.isna(i) else pd.NA).astype("Int64")
        reviewed = [rid for rid in proposals if rid in decided]
        k = cohen_kappa([proposals[r] for r in reviewed], [decided[r] for r in reviewed])
        rows.append({"variable": name, "n_answers": len(proposals), "n_reviewed": len(reviewed),
                     "n_changed": sum(proposals[r] != decided[r] for r in reviewed), "n_stale": stale,
                     "agreement_pct": 100 * k.agreement if reviewed else math.nan, "kappa": k.kappa,
                     "kappa_low": k.low, "kappa_high": k.high, "kappa_se": k.se,
                     "n_not_coded": sum(theme[r] == frame.not_coded for r in proposals if r not in decided),
                     "review_source": "+".join(s for s, n in sources.items() if n) or "ingen"})
    if problems:
        raise CodingError(f"{len(problems)} problem(s) in the review sheets of {paths.relative(raw_path)}:\n"
                          + "\n".join(f"  - {p}" for p in problems))
    return out, pd.DataFrame(rows)


def agreement_table(summary, codebook: Codebook | None = None, lang: str = "nb"):
    """The review figures for readers, one row per open question (counts only, never text)."""
    import pandas as pd

    cb = codebook or load_codebook()
    return pd.DataFrame({
        "Spørsmål": [cb.label(v, lang) for v in summary["variable"]],
        "Antall svar": summary["n_answers"], "Antall gjennomgått": summary["n_reviewed"],
        "Antall endret av forsker": summary["n_changed"],
        "Samsvar (prosent)": summary["agreement_pct"], "Kappa": summary["kappa"],
        "KI nedre": summary["kappa_low"], "KI øvre": summary["kappa_high"],
    })


# -- the review sheets of an export -------------------------------------------------------------

def write_review_sheets(raw_path, data, codebook: Codebook | None = None,
                        decided: dict[str, dict[int, int]] | None = None) -> dict[str, dict]:
    """Create or update the review sheet of every open question for ``data`` (analysis names)."""
    import pandas as pd

    cb = codebook or load_codebook()
    frames = load_frames(cb)
    decided = dict(decided or {})
    out = {}
    for name, frame in frames.items():
        given = decided.get(name)
        if given is None and name in data:   # an old export's hand-made codes: its review
            given = {int(i): int(c) for i, c in zip(data[cb.id], data[name]) if not pd.isna(c)}
        out[name] = update_sheet(sheet_path(raw_path, frame), frame, answers(data, frame, cb), given)
    write_code_list(raw_path, frames)
    return out

