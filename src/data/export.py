"""Reading and validating a survey export (SurveyXact SPSS ``.sav`` or CSV).

``read_export`` returns the respondents with analysis names (from the
codebook) and integer codes, or raises ``ExportError`` listing *every*
problem at once, each naming the file, the column, the offending values and
rows, and what was expected.
"""

from __future__ import annotations

import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from src.base import paths
from src.base.codebook import Codebook
from src.base.inputs import is_synthetic, sha256
from src.data import mapping as mapper
from src.data.coding import coded_variables
from src.data.derived import compact_codes

SUPPORTED = {".sav": "SPSS", ".csv": "CSV (UTF-8)"}
MAX_LISTED = 5  # offending values / rows named per problem
MAX_MISSING_LISTED = 10  # more missing columns than this: the export is shaped otherwise and needs a mapping


class ExportError(ValueError):
    """The export cannot be used. ``problems`` lists every reason."""

    def __init__(self, path: str | Path, problems: list[str]):
        self.path = str(path)
        self.problems = list(problems)
        head = f"Cannot use the export {paths.relative(path)}: {len(problems)} problem(s)"
        super().__init__(head + "\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Export:
    data: pd.DataFrame  # analysis names, nullable integer codes / strings
    path: Path
    sha256: str
    n_rows: int
    synthetic: bool  # the generator's record matches its bytes and label (inputs.is_synthetic)
    file_label: str
    mapping: Path | None = None  # the confirmed mapping (data/mappings/<stem>.yml) the export was read through
    absent: tuple[str, ...] = ()  # variables the mapping says the export lacks (all missing)

    @property
    def looks_synthetic(self) -> bool:
        """The SPSS file label says «generated synthetic export» but no generator record vouches for the file
        (a renamed or copied synthetic export): it counts as real (protected), and the banner says what it is."""
        return not self.synthetic and looks_synthetic(self.file_label)


def _listed(items, n=MAX_LISTED) -> str:
    items = list(items)
    shown = ", ".join(str(i) for i in items[:n])
    return shown + (f" … (+{len(items) - n} more)" if len(items) > n else "")


def _read_raw(path: Path) -> tuple[pd.DataFrame, dict, str, dict]:
    """(frame with export column names, value labels per column, file label, declared user-missing values).

    A ``.sav`` is read with ``user_missing=True``: a code the export declares
    user-missing (SPSS «Missing Values», e.g. «Vet ikke») is kept as the code
    it is, so the codebook decides what it means; without it pyreadstat would
    blank the answer.
    """
    suffix = path.suffix.lower()
    if suffix == ".sav":
        import pyreadstat

        try:
            df, meta = pyreadstat.read_sav(str(path), apply_value_formats=False, user_missing=True)
        except Exception as exc:  # pyreadstat raises several types
            raise ExportError(
                path,
                [
                    f"the file cannot be read as SPSS .sav ({type(exc).__name__}: {exc}); "
                    "it may be truncated, damaged or not an SPSS file"
                ],
            ) from None
        return df, dict(meta.variable_value_labels or {}), meta.file_label or "", dict(meta.missing_ranges or {})
    if suffix == ".csv":
        try:
            text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark (Excel's 'CSV UTF-8') is fine
        except UnicodeDecodeError as exc:
            raise ExportError(
                path,
                [
                    f"the CSV file is not UTF-8 (byte {exc.start}: {exc.object[exc.start : exc.start + 1]!r}); "
                    "it is probably Latin-1/Windows-1252 — re-export it as UTF-8"
                ],
            ) from None
        from io import StringIO

        try:
            df = pd.read_csv(StringIO(text), dtype=str, keep_default_na=False)
        except Exception as exc:
            raise ExportError(path, [f"the CSV file cannot be parsed ({exc})"]) from None
        if len(df.columns) == 1 and any(sep in df.columns[0] for sep in ";\t"):
            sep = ";" if ";" in df.columns[0] else "\\t"
            raise ExportError(
                path,
                [
                    f"the CSV file has a single column whose header is separated by '{sep}' "
                    f"({df.columns[0][:40]!r} …); expected comma-separated columns — re-export it with ',' as separator"
                ],
            )
        df = df.replace("", np.nan)
        return df, {}, "", {}
    raise ExportError(
        path,
        [
            f"the file type '{suffix or '(none)'}' is not supported; expected one of "
            + ", ".join(f"{k} ({v})" for k, v in SUPPORTED.items())
        ],
    )


def _as_codes(col: pd.Series) -> tuple[pd.Series, list]:
    """Numeric codes as nullable Int64, plus the entries that are not whole numbers.

    Codes stored as SPSS strings are read as numbers; a blank string (SPSS pads
    an empty string variable with spaces) is a missing answer, not a bad code.
    """
    if not pd.api.types.is_numeric_dtype(col):
        col = col.where(~col.astype(str).str.strip().eq("") & col.notna())
        col = col.map(lambda v: v.strip() if isinstance(v, str) else v)
    num = pd.to_numeric(col, errors="coerce")
    not_numeric = col[num.isna() & col.notna()]
    fractional = num[num.notna() & (num != np.floor(num.fillna(0)))]
    bad = list(not_numeric.unique()) + [float(x) for x in fractional.unique()]  # 2.5, not np.float64(2.5)
    num = num.where(~num.index.isin(fractional.index))
    return num.round().astype("Int64"), bad


def looks_synthetic(file_label: str) -> bool:
    """The file label the generator writes (src/synthetic/synthesize.py FILE_LABEL) or one like it."""
    return bool(re.search(r"\bsynthetic\b|\bsyntetisk", file_label or "", re.I))


def read_export(path: str | Path, codebook: Codebook, mapping: str | Path | None = None) -> Export:
    """Read and validate an export; raise ExportError listing every problem.

    An export whose columns are not the codebook's is read through its
    confirmed mapping (``mapping``, by default ``data/mappings/<export
    stem>.yml`` when it exists; src/data/mapping.py): renamed, recoded by
    label, its other columns left out, before any check here.
    """
    path = paths.resolve(path)
    if not path.exists():
        raise ExportError(path, [f"the file does not exist (raw_path = {paths.relative(path)})"])
    if path.is_dir():
        raise ExportError(path, ["raw_path is a folder; it must name the export file"])
    if not path.is_file():  # checked before reading: a FIFO would block, /dev/zero never ends
        mode = path.stat().st_mode
        kind = (
            "a named pipe (FIFO)"
            if stat.S_ISFIFO(mode)
            else "a character device"
            if stat.S_ISCHR(mode)
            else "a block device"
            if stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        raise ExportError(path, [f"raw_path is {kind}, not a file; it must name the export file (.sav or .csv)"])
    if path.stat().st_size == 0:
        raise ExportError(path, ["the file is empty (0 bytes)"])

    raw, value_labels, file_label, declared_missing = _read_raw(path)
    problems: list[str] = []
    if len(raw) == 0:
        raise ExportError(path, ["the export has no respondents (0 rows)"])

    mapping_path = paths.resolve(mapping) if mapping else mapper.mapping_file(path)
    absent: list[str] = []
    if mapping_path.is_file():
        try:
            applied = mapper.apply(raw, value_labels, declared_missing, codebook, path, mapping_path)
        except mapper.MappingError as exc:
            raise ExportError(path, [str(exc)]) from None
        if applied.problems:
            raise ExportError(path, applied.problems)
        raw, value_labels, declared_missing, absent = (
            applied.raw,
            applied.value_labels,
            applied.declared_missing,
            applied.absent,
        )
    else:
        mapping_path = None

    by_source = codebook.by_source()
    ignored = set(codebook.survey.get("ignore_columns") or [])
    coded = coded_variables(
        codebook
    )  # themes made from the free text by src/data/coding.py: their columns are optional
    missing_cols = [s for s in by_source if s not in raw.columns and by_source[s].name not in coded]
    unknown_cols = [c for c in raw.columns if c not in by_source and c not in ignored]
    if len(missing_cols) > MAX_MISSING_LISTED:  # an export shaped otherwise: what to run, candidates, grouped
        raise ExportError(path, mapper.unmapped_problems(path, codebook, missing_cols, unknown_cols))
    candidates = _candidates(path, codebook) if missing_cols and unknown_cols else {}
    for s in missing_cols:
        v = by_source[s]
        hint = candidates.get(v.name)
        problems.append(
            f"column '{s}' ({v.name}: {v.label}) is missing from the export"
            + (
                f"; best candidate: '{hint[0]}' ({hint[1]:.2f}) — make map ARGS=\"--raw "
                f'{paths.relative(path)}" writes a mapping'
                if hint
                else ""
            )
        )
    if unknown_cols:
        problems.append(
            f"column(s) {_listed(repr(c) for c in unknown_cols)} are not in the codebook "
            f"({paths.relative(codebook.path)}); add them to the codebook or to survey.ignore_columns"
        )

    id_var = codebook.variables[codebook.id]
    ids = raw[id_var.source] if id_var.source in raw.columns else pd.Series(range(1, len(raw) + 1))
    row_ids = _shown_ids(ids)

    data = pd.DataFrame(index=raw.index)
    for source, var in by_source.items():
        if source not in raw.columns:
            continue
        col = raw[source]
        if var.type == "text":
            data[var.name] = col.astype("string").where(col.notna() & (col.astype(str).str.strip() != ""))
            continue
        if var.type == "id":
            codes, problem = _ids(col)
            if problem:
                problems.append(f"column '{source}' ({var.name}): {problem}")
        else:
            codes, bad = _as_codes(col)
            if bad:
                problems.append(
                    f"column '{source}' ({var.name}): values {_listed(repr(b) for b in bad)} are not whole-number codes"
                )
        data[var.name] = codes if var.type == "id" else compact_codes(codes)  # Int16 for survey codes: 1/3 the memory
        if var.type == "id":
            if codes.isna().any():
                problems.append(f"column '{source}' ({var.name}): {int(codes.isna().sum())} respondent(s) have no id")
            dup = codes[codes.duplicated(keep=False) & codes.notna()]
            if len(dup):
                shown = (
                    sorted(dup.unique())
                    if pd.api.types.is_integer_dtype(codes)
                    else list(dict.fromkeys(row_ids[dup.index]))
                )  # a text id may name a person: its row
                problems.append(
                    f"column '{source}' ({var.name}): duplicate respondent ids {_listed(shown)} "
                    f"({len(dup)} rows); each respondent must appear once"
                )
            continue
        allowed = set(var.values)
        unknown_missing = _unknown_missing(declared_missing.get(source), codes, allowed)
        if unknown_missing:
            problems.append(
                f"column '{source}' ({var.name}): the export declares {_listed(unknown_missing)} as user-missing "
                f"(SPSS Missing Values), but the codebook has no such code (its codes: {_code_range(allowed)}); "
                "add the code to the variable's values (and missing) in the codebook"
            )
        outside = codes.notna() & ~codes.isin(list(allowed)) & ~codes.isin([int(c) for c in unknown_missing])
        if outside.any():
            vals = codes[outside]
            counts = vals.value_counts().sort_index()
            problems.append(
                f"column '{source}' ({var.name}): value(s) "
                + _listed(f"{int(k)} ({int(n)} rows)" for k, n in counts.items())
                + f" are not among the codebook's codes {_code_range(allowed)}; "
                + f"respondent(s) {_listed(row_ids[outside])}"
            )
        labels = value_labels.get(source)
        if labels:
            export_labels = {int(k): _nfc(v) for k, v in labels.items()}
            diffs = [  # compared in Unicode NFC: 'ø' typed as o + combining stroke is the same label
                f"{code}: export '{export_labels[code]}' vs codebook '{var.values[code]}'"
                for code in sorted(set(export_labels) & allowed)
                if export_labels[code] != _nfc(var.values[code])
            ]
            extra = sorted(set(export_labels) - allowed)
            if diffs:
                problems.append(
                    f"column '{source}' ({var.name}): value labels differ from the codebook: {_listed(diffs, 3)}"
                )
            if extra:
                problems.append(
                    f"column '{source}' ({var.name}): the export labels codes {extra} that the codebook does not have"
                )

    if not problems:
        problems += _routing_problems(data, codebook, row_ids)
    if problems:
        raise ExportError(path, problems)

    digest = sha256(path)
    return Export(
        data=data.reset_index(drop=True),
        path=path,
        sha256=digest,
        n_rows=len(data),
        synthetic=is_synthetic(path, file_label, digest),  # by content, never by name
        file_label=file_label,
        mapping=mapping_path,
        absent=tuple(absent),
    )


def _candidates(path: Path, codebook: Codebook) -> dict[str, tuple[str, float]]:
    """Variable -> (export column, confidence) proposed by the mapper (src/data/mapping.py), for the message."""
    try:
        proposal = mapper.propose(mapper.read_dictionary(path), codebook)
    except Exception:  # a message's hint is never worth a second failure
        return {}
    return {x.name: (x.column, x.confidence) for x in proposal.lines if x.column and x.confidence >= 0.5}


def _nfc(text) -> str:
    return unicodedata.normalize("NFC", str(text)).strip()


def _ids(col: pd.Series) -> tuple[pd.Series, str | None]:
    """Respondent ids: whole numbers as Int64, or text ids («R100001») as strings; a problem or None."""
    text = col.map(lambda v: v.strip() if isinstance(v, str) else v)
    text = text.where(text.notna() & (text.astype(str).str.strip() != ""))
    num = pd.to_numeric(text, errors="coerce")
    if num.notna().sum() == text.notna().sum():  # every id a number
        if (num.dropna() != np.floor(num.dropna())).any():
            bad = [float(x) for x in num[num.notna() & (num != np.floor(num.fillna(0)))].unique()]
            return num.round().astype("Int64"), f"ids {_listed(bad)} are not whole numbers"
        return num.round().astype("Int64"), None
    return text.map(_id_text).where(text.notna()).astype("string"), None


def _unknown_missing(ranges, codes: pd.Series, allowed: set) -> list[int]:
    """The codes an export declares user-missing that the codebook does not know.

    A discrete declared code is checked whether or not it occurs; a range
    (lo < hi) by the codes in it that the data use.
    """
    unknown = set()
    for r in ranges or []:
        lo, hi = r.get("lo"), r.get("hi")
        if not isinstance(lo, (int, float)) or not isinstance(hi, (int, float)):
            continue
        if lo == hi:
            if float(lo).is_integer() and int(lo) not in allowed:
                unknown.add(int(lo))
        else:
            used = codes[codes.notna() & (codes >= lo) & (codes <= hi)]
            unknown |= {int(c) for c in used.unique() if int(c) not in allowed}
    return sorted(unknown)


def _shown_ids(ids: pd.Series) -> pd.Series:
    """Respondent ids as messages show them: a number as it is, a text id by its row («row 7»), since a text
    id (an e-mail address, a name) may identify a person and a message never shows a value from the data (#28)."""

    def shown(i, v):
        text = _id_text(v)
        return text if text == "(blank)" or re.fullmatch(r"-?\d+", text) else f"row {i + 1}"

    return pd.Series([shown(i, v) for i, v in enumerate(ids.to_numpy())], index=ids.index, dtype=object)


def _id_text(value) -> str:
    """A respondent id as the export shows it: 100451, not 100451.0 (SPSS stores numbers as doubles)."""
    if pd.isna(value):
        return "(blank)"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _code_range(codes) -> str:
    codes = sorted(codes)
    if codes == list(range(codes[0], codes[-1] + 1)) and len(codes) > 3:
        return f"{codes[0]}–{codes[-1]}"
    return "{" + ", ".join(map(str, codes)) + "}"


def routed(data: pd.DataFrame, codebook: Codebook, name: str) -> pd.Series:
    """Boolean mask of the respondents who were asked ``name`` (all when unrouted)."""
    var = codebook.variables[name]
    if not var.routing:
        return pd.Series(True, index=data.index)
    expr = codebook.expand(var.routing)
    used = [c for c in dict.fromkeys(re.findall(r"[A-Za-z_]\w*", expr)) if c in data.columns]
    mask = data[used].eval(expr, engine="python")  # only the columns it names: eval is slow on 195 columns
    return pd.Series(mask, index=data.index).fillna(False).astype(bool)


def _routing_problems(data: pd.DataFrame, codebook: Codebook, row_ids: pd.Series) -> list[str]:
    problems, asked_by = [], {}
    for name, var in codebook.variables.items():
        if not var.routing or name not in data:
            continue
        if var.routing not in asked_by:  # many questions share a routing ('eligible')
            asked_by[var.routing] = routed(data, codebook, name)
        asked = asked_by[var.routing]
        wrong = data[name].notna() & ~asked
        if wrong.any():
            problems.append(
                f"column '{var.source}' ({name}): {int(wrong.sum())} respondent(s) answered although the "
                f"routing ({var.routing}) did not ask them: respondent(s) {_listed(row_ids[wrong])}"
            )
    return problems
