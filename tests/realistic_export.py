"""A test export shaped the way a real SurveyXact export differs from the codebook (issue #25).

``write(src, out)`` reads the synthetic export ``src`` and writes ``out`` with
  * every column renamed under another scheme (``spm<n>``, grid items and
    tick boxes ``spm<n>_<letter>``, open answers ``spm<n>_annet``) — or the
    names of an independent relabelling file (``tests/data/export_relabel.yml``:
    per synthetic column ``new_name``, ``new_label`` and sometimes reworded
    ``value_labels``);
  * variable labels reworded (punctuation, abbreviations VO/HVO/AMU, stems
    shortened, a few synonyms) or the relabelling file's;
  * scales reversed (the motivation grid and the overall satisfaction item
    coded 1 = «Helt enig»), «Vet ikke» coded 9 or 99 instead of the codebook's code;
  * tick boxes labelled 1 = «Krysset av» with 0 unlabelled;
  * three extra columns (an e-mail address, SurveyXact's ``statoverall_4``, a
    distribution channel) and one question dropped (``MISSING_SOURCE``).
The answers are the same; ``Truth`` says what the mapping should be.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import yaml

from src.base import paths

MISSING_SOURCE = "s_67"  # «Ble kurset du deltok på kvalitetssikret eller evaluert …?» dropped
REVERSED_SOURCES = ("s_34_1", "s_34_2", "s_34_3", "s_76_1")
TICKBOX_RELABELLED = ("s_24_",)  # tick boxes exported as 1 = «Krysset av», 0 unlabelled
EXTRA = {
    "epost": ("E-postadresse", "string"),
    "statoverall_4": ("Statoverall: Gjennomført", "number"),
    "kanal": ("Distribusjonskanal for invitasjon", "string"),
}
RELABEL_FILE = Path(__file__).parent / "data" / "export_relabel.yml"

SYNONYMS = [
    (r"\bHvor enig eller uenig er du i følgende påstander om\b", "Ta stilling til påstandene om"),
    (r"\bI hvilken grad\b", "Hvor stor grad"),
    (r"\bvirksomheten\b", "bedriften"),
    (r"\bhovedverneombud\b", "HVO"),
    (r"\bverneombud\b", "VO"),
    (r"\barbeidsmiljøutvalget\b", "AMU"),
    (r"\bHMS-opplæringen\b", "opplæringen i HMS"),
    (r"\bgrunnopplæringen\b", "grunnkurset"),
    (r"\(flere svar mulig\)|\(Flere svar mulig\)|\(Kryss av for alle som passer\)", ""),
]


@dataclass
class Truth:
    renamed: dict[str, str]  # synthetic column -> new column
    recodes: dict[str, dict[int, int]]  # synthetic column -> {synthetic code: new code}
    missing: str = MISSING_SOURCE
    extra: tuple[str, ...] = tuple(EXTRA)
    relabelled_by: str = "own rewording"
    value_labels: dict = field(default_factory=dict)


def reword(label: str, i: int) -> str:
    """A label as another questionnaire author would write it (deterministic by column index)."""
    text = label
    for rx, to in SYNONYMS:
        text = re.sub(rx, to, text)
    text = re.sub(r"\s+–\s+", [" - ", ": ", " | "][i % 3], text)
    text = text.replace("?", "").replace("«", "").replace("»", "")
    stem, sep, item = text.rpartition(" - ") if " - " in text else ("", "", text)
    if stem and len(stem.split()) > 7:  # SurveyXact truncates long stems
        stem = " ".join(stem.split()[:7]) + "…"
        text = stem + sep + item
    text = re.sub(r"\s+", " ", text).strip()
    return text[0].upper() + text[1:] if i % 2 else text.lower()


def own_names(columns: list[str]) -> dict[str, str]:
    """Another naming scheme: spm<n> per question, _<letter> per item, _annet for the open answers."""
    out, qnum, seen = {}, 0, {}
    for c in columns:
        m = re.match(r"^(s_\d+)(?:_(\d+|other|kode))?$", c)
        if not m:
            continue
        base, part = m.group(1), m.group(2)
        if base not in seen:
            qnum += 1
            seen[base] = qnum
        n = seen[base]
        if part is None:
            out[c] = f"spm{n}"
        elif part == "other":
            out[c] = f"spm{n}_annet"
        elif part == "kode":
            out[c] = f"spm{n}_kodet"
        else:
            out[c] = f"spm{n}_{chr(ord('a') + int(part) - 1)}" if int(part) <= 26 else f"spm{n}_z{part}"
    out.update(
        {"respondent_id": "RespondentID", "status": "Statuskode", "starttime": "Starttid", "endtime": "Slutttid"}
    )
    return out


def write(src: Path, out: Path, relabel: Path | None = None, codebook=None) -> Truth:
    """Write the realistic export of ``src`` to ``out`` (and copy its open answers' review sheets); the truth."""
    from src.base.codebook import load as load_codebook

    cb = codebook or load_codebook()
    df, meta = pyreadstat.read_sav(str(src), user_missing=True)
    labels = dict(meta.column_names_to_labels)
    vlabels = {k: dict(v) for k, v in (meta.variable_value_labels or {}).items()}
    missing = dict(meta.missing_ranges or {})
    measure = dict(meta.variable_measure or {})
    by_source = cb.by_source()

    relabelled = yaml.safe_load(Path(relabel).read_text(encoding="utf-8")) if relabel else None
    if isinstance(relabelled, dict) and "columns" in relabelled:
        relabelled = relabelled["columns"]
    if isinstance(relabelled, list):  # [{column, new_name, new_label, value_labels?}, …]
        relabelled = {e["column"]: e for e in relabelled if isinstance(e, dict) and e.get("column")}
    names = own_names(list(df.columns))
    new_labels = {c: reword(labels.get(c) or c, i) for i, c in enumerate(df.columns)}
    truth_vl = {}
    if relabelled:
        for c, spec in relabelled.items():
            if c in df.columns and isinstance(spec, dict):
                if spec.get("new_name"):
                    names[c] = str(spec["new_name"])
                if spec.get("new_label"):
                    new_labels[c] = str(spec["new_label"])
                if spec.get("value_labels"):
                    vl = {float(k): str(v) for k, v in spec["value_labels"].items()}
                    vlabels[c] = {**vlabels.get(c, {}), **vl}
                    truth_vl[c] = vl

    recodes: dict[str, dict[int, int]] = {}
    for c in REVERSED_SOURCES:
        if c in df.columns:
            rc = {k: 6 - k for k in range(1, 6)}
            recodes[c] = rc
    for s, v in by_source.items():
        if s not in df.columns or not v.values:
            continue
        for code, lab in v.values.items():
            if lab.strip().lower().startswith("vet ikke") and code in v.missing + tuple(v.values)[-1:]:
                new = 99 if s == "s_7" else 9
                if new != code and new not in v.values:
                    recodes.setdefault(s, {})[code] = new
    for s, rc in recodes.items():
        num = pd.to_numeric(df[s], errors="coerce")
        df[s] = num.map(lambda x, rc=rc: rc.get(int(x), x) if pd.notna(x) else x)
        vlabels[s] = {float(rc.get(int(k), k)): lab for k, lab in vlabels.get(s, {}).items()}
        if missing.get(s):
            missing[s] = [
                {"lo": float(rc.get(int(r["lo"]), r["lo"])), "hi": float(rc.get(int(r["hi"]), r["hi"]))}
                for r in missing[s]
            ]
    for c in df.columns:
        if c.startswith(TICKBOX_RELABELLED) and re.match(r"^s_\d+_\d+$", c) and c not in truth_vl:
            vlabels[c] = {1.0: "Krysset av"}

    df = df.drop(columns=[MISSING_SOURCE])
    rng = np.random.default_rng(25)
    df["epost"] = [f"deltaker{i}@example.no" for i in range(len(df))]
    df["statoverall_4"] = rng.integers(0, 2, len(df)).astype(float)
    df["kanal"] = np.where(rng.random(len(df)) < 0.5, "E-post", "SMS")
    new_labels.update({k: lab for k, (lab, _) in EXTRA.items()})
    # SurveyXact puts its own columns first
    order = ["statoverall_4"] + [c for c in df.columns if c not in EXTRA] + ["epost", "kanal"]
    df = df[order]
    rename = {c: names.get(c, c) for c in df.columns}
    out_df = df.rename(columns=rename)
    col_labels = {rename[c]: new_labels.get(c, labels.get(c) or c) for c in df.columns}
    value_labels = {rename[c]: v for c, v in vlabels.items() if c in rename and v}
    miss = {rename[c]: v for c, v in missing.items() if c in rename}
    meas = {rename[c]: v for c, v in measure.items() if c in rename}
    meas.update({"statoverall_4": "nominal", "epost": "nominal", "kanal": "nominal"})
    out.parent.mkdir(parents=True, exist_ok=True)
    pyreadstat.write_sav(
        out_df,
        str(out),
        file_label=meta.file_label,
        column_labels=col_labels,
        variable_value_labels=value_labels,
        missing_ranges=miss,
        variable_measure=meas,
    )
    sheets = paths.review_dir(src)
    if sheets.is_dir():  # the researcher's coding of the same open answers travels with the export
        shutil.copytree(sheets, paths.review_dir(out), dirs_exist_ok=True)
    truth_names = {c: rename[c] for c in df.columns if c in rename}
    return Truth(
        truth_names, recodes, relabelled_by=str(relabel) if relabel else "own rewording", value_labels=truth_vl
    )


def confirm(mapping_path: Path, truth: Truth, codebook) -> int:
    """Correct and confirm every line of a proposed mapping from the truth, as the researcher would; the number
    of lines changed (wrong column, or unconfirmed)."""
    text = mapping_path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    changed = 0
    for name, entry in data["variables"].items():
        var = codebook.variables[name]
        right = None if var.source == truth.missing else truth.renamed.get(var.source)
        recode = truth.recodes.get(var.source)
        want = {"column": right, "confirmed": True}
        if recode and right:
            full = {k: k for k in var.values}
            full.update(recode)
            want["recode"] = {new: old for old, new in full.items()}
        elif right and entry.get("recode"):
            want["recode"] = {k: k for k in var.values}
        if (
            entry.get("column") != right
            or entry.get("confirmed") is False
            or (recode and entry.get("recode") != want.get("recode"))
        ):
            changed += 1
        entry.clear()
        entry.update(want)
    mapping_path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return changed


def accuracy(proposal, truth: Truth, codebook) -> tuple[int, int, list[str]]:
    """(right unaided, variables, the wrong ones): a variable is right when its proposed column is the true one
    (none for the dropped question) and, where codes differ, its recode takes each code back."""
    right, wrong = 0, []
    for line in proposal.lines:
        var = codebook.variables[line.name]
        want = None if var.source == truth.missing else truth.renamed.get(var.source)
        ok = line.column == want
        if ok and want and var.source in truth.recodes:
            back = {new: old for old, new in truth.recodes[var.source].items()}
            ok = all(line.recode.get(k, k) == v for k, v in back.items())
        if ok:
            right += 1
        else:
            wrong.append(f"{line.name}: {line.column} (want {want}; {line.reason})")
    return right, len(proposal.lines), wrong
