"""Validate data/reference/published.yml, the report's published numbers.

Self-contained: imports only pytest, yaml, pathlib, collections, math and re,
and uses no fixture from conftest.py. Every check collects all offending
entries and reports them at once.
"""

import collections
import math
import re
from pathlib import Path

import pytest
import yaml

PATH = Path(__file__).resolve().parents[1] / "data/reference/published.yml"

KEYS = [
    "id",
    "source",
    "section",
    "chapter",
    "label",
    "column",
    "group",
    "value",
    "n",
    "unit",
    "tolerance",
    "calibrated",
    "lookup",
    "flag",
    "note",
]
UNITS = {"count", "percent", "mean", "alpha", "verdict"}
FLAGS = {None, "inconsistent", "assumed"}
CHAPTERS = {
    "01_cleaning",
    "02_sample",
    "03_role",
    "04_training",
    "05_course_format",
    "06_topics",
    "07_usefulness",
    "08_future",
    "09_barriers",
}
ID_RE = re.compile(r"^[a-z0-9_]+$")
TABLE_RE = re.compile(r"^(tabell|figur)_\d\d$")
RESULT_RE = re.compile(r"^\d\d_[a-z_]+\.[a-z0-9_.]+$")
SOURCE_RE = re.compile(r"^(Tabell (\d|[12]\d)|Figur (\d|1[0-7])|Tekst \d(\.\d{1,2})?|Fotnote \d{1,2})$")
SECTION_RE = re.compile(r"^\d(\.\d{1,2})?$")

# The report's chapter map (which notebook reproduces which table / figure).
TABLE_CHAPTER = {
    **{n: "02_sample" for n in range(2, 6)},
    6: "03_role",
    7: "03_role",
    **{n: "04_training" for n in range(8, 13)},
    **{n: "05_course_format" for n in range(13, 27)},
    27: "07_usefulness",
    28: "07_usefulness",
    29: "08_future",
}
FIGURE_CHAPTER = {
    1: "04_training",
    2: "04_training",
    3: "05_course_format",
    4: "05_course_format",
    5: "05_course_format",
    6: "06_topics",
    7: "06_topics",
    8: "07_usefulness",
    9: "07_usefulness",
    10: "07_usefulness",
    11: "07_usefulness",
    12: "07_usefulness",
    13: "08_future",
    14: "08_future",
    15: "08_future",
    16: "09_barriers",
    17: "09_barriers",
}
# Derived tables and the recode of Tabell 3: must not be calibration targets.
DERIVED_TABLES = {4, 15, 16, 20}
# Figures whose values survived the extraction; all other figure cells are reconstructions.
SURVIVING_FIGURES = {8, 15}

# Count column -> its percent column.
COUNT_PERCENT = {"Antall": "Prosent", "Antall svar": "Prosent", "Antall totalt": "Prosent totalt"}
GRAND_TOTAL = {"Totalt", "Total"}
TOTAL_RE = re.compile(r"(?i)^(totalt|total)\b|\btotalt$")
# Subtotal rows and the rows they add up.
SUBTOTALS = {
    "tabell_02": {"Verneombud totalt": ["Verneombud", "Både verneombud og tillitsvalgt", "Tidligere verneombudsrolle"]},
    "tabell_05": {
        "Totalt små": ["1-4 ansatte", "5-9 ansatte", "10-29 ansatte", "30-49 ansatte"],
        "Totalt mellomstore": ["50-99", "100-249"],
        "Totalt store": ["250-1000", "Over 1000"],
    },
}
# Merged tables: (table, row, count column) = sum of (source table, rows, count column).
MERGES = {
    ("tabell_15", "Fysisk kurs"): (
        "tabell_13",
        ["Samlingsbasert fysisk", "Samlingsbasert med kombinasjon fysisk og digitalt"],
    ),
    ("tabell_15", "Digitalt kurs"): ("tabell_13", ["Samlingsbasert digitalt", "Individuell (e-læring)"]),
    ("tabell_16", "Dialogbaserte kurs"): (
        "tabell_14",
        [
            "Dialogbasert, åpent for refleksjon og diskusjon blant deltakere og kursholder",
            "Nettbaserte kurs med rom for dialog/to-veis kommunikasjon",
        ],
    ),
    ("tabell_16", "Kurs uten/med begrenset dialog"): (
        "tabell_14",
        [
            "Forelesninger med begrenset rom for dialog/diskusjon",
            "Nettbaserte kurs uten rom for dialog/to-veis kommunikasjon",
        ],
    ),
    ("tabell_20", "Korte under 2 dager"): ("tabell_19", ["Under 1 dag", "1-2 dager"]),
    ("tabell_20", "Middels 2-4 dager"): ("tabell_19", ["2-4 dager"]),
    ("tabell_20", "40 timer eller mer"): ("tabell_19", ["Ca. 40 timer", "Over 40 timer"]),
    ("tabell_04", "Helse og omsorg"): (
        "tabell_03",
        [
            "Sykehustjenester",
            "Sykehjem/pleie- og omsorgsinstitusjon",
            "Hjemmetjenesten",
            "Lege-/tannlegeklinikker",
            "Barnevern/sosialkontor",
            "Barnehage/SFO",
        ],
    ),
    ("tabell_04", "Varehandel"): ("tabell_03", ["Varehandel uten bilhandel", "Bilverksted/-handel"]),
    ("tabell_04", "Industri"): ("tabell_03", ["Industri uten næringsmidler", "Næringsmiddelindustri"]),
    ("tabell_04", "Bygg og anlegg"): ("tabell_03", ["Anleggsvirksomhet", "Byggevirksomhet"]),
    ("tabell_04", "Undervisning"): ("tabell_03", ["Undervisning"]),
    ("tabell_04", "Offentlig administrasjon"): (
        "tabell_03",
        ["Offentlig administrasjon/trygd", "Politi/brannvern/forsvar/utenriks"],
    ),
    ("tabell_04", "Faglige tjenester"): ("tabell_03", ["Faglig/vitenskapelig/teknisk virksomhet"]),
    ("tabell_04", "IT og medier"): ("tabell_03", ["Informasjon/kommunikasjon"]),
    ("tabell_04", "Olje og gass"): ("tabell_03", ["Utvinning av olje/gass"]),
    ("tabell_04", "Finans og forsikring"): ("tabell_03", ["Bank/finans/forsikring"]),
    ("tabell_04", "Andre bransjer"): (
        "tabell_03",
        [
            "Arbeidskraftutleie/bemanningsbyrå",
            "Godstransport/post/lagring",
            "Jord-/skogbruk/fiske/akvakultur",
            "Kontortjenester/personlig tjenesteyting",
            "Kraft-/vannforsyning/avløp/renovasjon",
            "Kultur/idrett/underholdning",
            "Overnatting/servering",
            "Passasjertransport vei/bane",
            "Sjøfart/luftfart",
            "Utleie/salg eiendom/leasingvirksomhet",
            "Annet, beskriv under",
        ],
    ),
    ("tabell_04", "Totalt"): ("tabell_03", ["Totalt"]),
}
# Response options of reconstructed figure distributions and the measures text entries state about them.
AGREE = ["Helt uenig", "Delvis uenig", "Verken enig eller uenig", "Delvis enig", "Helt enig"]
DEGREE = ["I svært liten grad", "I liten grad", "I noen grad", "I stor grad", "I svært stor grad"]
USEFUL = ["Svært lite nyttig", "Lite nyttig", "Noe nyttig", "Nyttig", "Svært nyttig"]
TEXT_MEASURE = {
    "Prosent helt/delvis enig": ["Delvis enig", "Helt enig"],
    "Prosent helt enig": ["Helt enig"],
    "Prosent delvis enig": ["Delvis enig"],
    "Prosent helt/delvis uenig": ["Helt uenig", "Delvis uenig"],
    "Prosent i stor/svært stor grad": ["I stor grad", "I svært stor grad"],
    "Prosent i noen grad": ["I noen grad"],
    "Prosent nyttig/svært nyttig": ["Nyttig", "Svært nyttig"],
    "Prosent ja": ["Ja"],
    "Prosent": ["Ja"],
}


def rule_tolerance(unit: str, value) -> float:
    if unit == "count":
        return 0
    if unit == "percent":
        return 0.5 if float(value).is_integer() else 0.05
    if unit == "mean":
        return 0.05
    if unit == "alpha":
        return 0.005
    return 0


_CACHE: dict = {}


def doc() -> dict:
    if "doc" not in _CACHE:
        _CACHE["doc"] = yaml.safe_load(PATH.read_text(encoding="utf-8"))
    return _CACHE["doc"]


def entries() -> list[dict]:
    return doc()["entries"]


def show(e: dict) -> str:
    return f"{e.get('id')} ({e.get('source')}: {e.get('label')!s:.60} / {e.get('column')})"


def cells() -> dict[str, dict[tuple[str, str], dict]]:
    """table name -> (row, column) -> entry, for every {table,row,column} lookup."""
    out: dict[str, dict[tuple[str, str], dict]] = collections.defaultdict(dict)
    for e in entries():
        lk = e.get("lookup") or {}
        if "table" in lk:
            out[lk["table"]][(lk["row"], lk["column"])] = e
    return out


def flagged(*es: dict | None) -> bool:
    return any(e is not None and e.get("flag") == "inconsistent" for e in es)


def fail_if(problems: list[str], what: str) -> None:
    if problems:
        pytest.fail(f"{len(problems)} {what}:\n  " + "\n  ".join(problems))


# ---------------------------------------------------------------- structure


def test_top_level():
    d = doc()
    assert d["schema_version"] == 1
    assert isinstance(d["description"], str) and len(d["description"]) > 200
    assert isinstance(d["entries"], list) and len(d["entries"]) > 300
    assert isinstance(d["inconsistencies"], list) and d["inconsistencies"]
    assert set(d) == {"schema_version", "description", "entries", "inconsistencies"}


OPTIONAL_KEYS = {"bound"}  # one-sided wordings ('over 70 prosent'): lower | upper


def test_entry_keys_exact():
    bad = [
        f"{show(e)}: keys {sorted((set(e) - OPTIONAL_KEYS) ^ set(KEYS))} differ"
        for e in entries()
        if set(e) - OPTIONAL_KEYS != set(KEYS)
    ]
    fail_if(bad, "entries without exactly the schema's keys")


def test_bounds_are_lower_or_upper_on_one_sided_wordings():
    bad = [
        show(e)
        for e in entries()
        if "bound" in e and (e["bound"] not in ("lower", "upper") or "one-sided" not in (e["note"] or "").lower())
    ]
    fail_if(bad, "bound must be lower/upper and the note must quote the one-sided wording")


def test_ids_unique_and_well_formed():
    ids = [e["id"] for e in entries()]
    dups = [i for i, c in collections.Counter(ids).items() if c > 1]
    bad = [i for i in ids if not isinstance(i, str) or not ID_RE.match(i)]
    fail_if([f"duplicate id {i}" for i in dups] + [f"malformed id {i!r}" for i in bad], "id problems")


def test_scalar_fields():
    bad = []
    for e in entries():
        if e["unit"] not in UNITS:
            bad.append(f"{show(e)}: unit {e['unit']!r}")
            continue
        v = e["value"]
        if e["unit"] == "verdict":
            if not isinstance(v, bool):
                bad.append(f"{show(e)}: verdict value {v!r} is not a boolean")
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            bad.append(f"{show(e)}: value {v!r} is not a number")
        elif e["unit"] == "count" and not isinstance(v, int):
            bad.append(f"{show(e)}: count {v!r} is not an integer")
        if not isinstance(e["calibrated"], bool):
            bad.append(f"{show(e)}: calibrated {e['calibrated']!r}")
        if e["n"] is not None and (isinstance(e["n"], bool) or not isinstance(e["n"], int) or e["n"] <= 0):
            bad.append(f"{show(e)}: n {e['n']!r}")
        for k in ("label", "column", "source", "section", "chapter"):
            if not isinstance(e[k], str) or not e[k].strip():
                bad.append(f"{show(e)}: {k} {e[k]!r} is not a non-empty string")
        if e["group"] is not None and (not isinstance(e["group"], str) or not e["group"].strip()):
            bad.append(f"{show(e)}: group {e['group']!r}")
        if not SOURCE_RE.match(str(e["source"])):
            bad.append(f"{show(e)}: source {e['source']!r}")
        if not SECTION_RE.match(str(e["section"])):
            bad.append(f"{show(e)}: section {e['section']!r}")
        if str(e["source"]).startswith("Tekst ") and e["source"] != f"Tekst {e['section']}":
            bad.append(f"{show(e)}: source {e['source']!r} does not match section {e['section']!r}")
        if e["chapter"] not in CHAPTERS:
            bad.append(f"{show(e)}: chapter {e['chapter']!r}")
    fail_if(bad, "field problems")


def test_tolerance_follows_rule_or_is_explained():
    bad = []
    for e in entries():
        if e["unit"] not in UNITS or isinstance(e["tolerance"], bool) or not isinstance(e["tolerance"], (int, float)):
            bad.append(f"{show(e)}: tolerance {e['tolerance']!r}")
            continue
        if e["tolerance"] < 0:
            bad.append(f"{show(e)}: negative tolerance")
        expected = rule_tolerance(e["unit"], e["value"])
        if not math.isclose(e["tolerance"], expected) and "tolerance" not in (e["note"] or "").lower():
            bad.append(f"{show(e)}: tolerance {e['tolerance']} != {expected} and the note does not explain it")
        if e["unit"] == "verdict" and e["tolerance"] != 0:
            bad.append(f"{show(e)}: a verdict has tolerance 0")
    fail_if(bad, "tolerance problems")


def test_lookup_well_formed_and_consistent_with_source():
    bad = []
    for e in entries():
        lk = e["lookup"]
        if not isinstance(lk, dict):
            bad.append(f"{show(e)}: lookup {lk!r}")
            continue
        if set(lk) == {"table", "row", "column"}:
            if not TABLE_RE.match(str(lk["table"])):
                bad.append(f"{show(e)}: lookup table {lk['table']!r}")
                continue
            kind, num = lk["table"].split("_")
            expected_source = f"{'Tabell' if kind == 'tabell' else 'Figur'} {int(num)}"
            if e["source"] != expected_source:
                bad.append(f"{show(e)}: lookup {lk['table']} but source {e['source']!r}")
            if lk["row"] != e["label"] or lk["column"] != e["column"]:
                bad.append(f"{show(e)}: lookup row/column differ from label/column")
            chapter = (TABLE_CHAPTER if kind == "tabell" else FIGURE_CHAPTER).get(int(num))
            if e["chapter"] != chapter:
                bad.append(f"{show(e)}: {lk['table']} belongs to {chapter}, not {e['chapter']}")
        elif set(lk) == {"result"}:
            key = str(lk["result"])
            if not RESULT_RE.match(key):
                bad.append(f"{show(e)}: result key {key!r}")
            elif key.split(".")[0] != e["chapter"]:
                bad.append(f"{show(e)}: result key {key!r} not in chapter {e['chapter']}")
            if (e["unit"] == "verdict") != key.endswith(".significant"):
                bad.append(f"{show(e)}: verdicts (and only verdicts) have keys ending in '.significant'")
            m = re.match(r"^Figur (\d+)$", e["source"])
            if m and FIGURE_CHAPTER[int(m.group(1))] != e["chapter"]:
                bad.append(f"{show(e)}: Figur {m.group(1)} belongs to {FIGURE_CHAPTER[int(m.group(1))]}")
        else:
            bad.append(f"{show(e)}: lookup keys {sorted(lk)}")
    fail_if(bad, "lookup problems")


def test_lookups_unique():
    seen: dict[tuple, str] = {}
    bad = []
    for e in entries():
        lk = e["lookup"]
        key = tuple(sorted(lk.items())) if isinstance(lk, dict) else (repr(lk),)
        if key in seen:
            bad.append(f"{e['id']} and {seen[key]} share lookup {lk}")
        seen[key] = e["id"]
    fail_if(bad, "shared lookups")


def test_flags_and_notes():
    bad = []
    for e in entries():
        if e["flag"] not in FLAGS:
            bad.append(f"{show(e)}: flag {e['flag']!r}")
        if e["flag"] is not None and not (isinstance(e["note"], str) and e["note"].strip()):
            bad.append(f"{show(e)}: flag {e['flag']} without a note")
        if e["note"] is not None and not (isinstance(e["note"], str) and e["note"].strip()):
            bad.append(f"{show(e)}: note must be null or non-empty text")
    fail_if(bad, "flag/note problems")


def test_calibration_rules():
    bad = []
    for e in entries():
        lk = e["lookup"]
        if e["unit"] in ("verdict", "alpha") and e["calibrated"]:
            bad.append(f"{show(e)}: verdicts and alpha must emerge, not be calibrated")
        if e["flag"] == "assumed" and e["unit"] != "verdict" and not e["calibrated"]:
            bad.append(f"{show(e)}: assumed figure distributions are calibration targets")
        if "table" in lk and lk["table"].startswith("tabell_"):
            derived = int(lk["table"][-2:]) in DERIVED_TABLES
            if derived == e["calibrated"]:
                bad.append(f"{show(e)}: {lk['table']} cells must have calibrated={not derived}")
        if "table" in lk and lk["table"].startswith("figur_"):
            survived = int(lk["table"][-2:]) in SURVIVING_FIGURES
            if survived == (e["flag"] == "assumed"):
                bad.append(f"{show(e)}: cells of figures whose values were lost are 'assumed', surviving ones are not")
    fail_if(bad, "calibration/assumption problems")


# ---------------------------------------------------------------- coverage


def test_every_table_covered():
    sources = {e["source"] for e in entries()}
    missing = [f"Tabell {n}" for n in range(2, 30) if f"Tabell {n}" not in sources]
    fail_if(missing, "tables without entries")


def test_every_figure_covered():
    sources = {e["source"] for e in entries()}
    missing = [f"Figur {n}" for n in range(1, 18) if f"Figur {n}" not in sources]
    fail_if(missing, "figures without entries")


def test_surviving_figure_values():
    c = cells()
    f8 = [e["value"] for (row, col), e in c["figur_08"].items() if col == "Prosent"]
    assert sorted(f8, reverse=True) == [74, 67, 64, 63, 59]
    f15 = sorted(e["value"] for (row, col), e in c["figur_15"].items() if col == "Prosent")
    assert f15 == [38, 39, 44, 51, 52, 55, 56, 61, 62, 65, 68, 68, 71, 71, 72, 72, 72, 72, 74, 77]
    top = max(c["figur_15"].values(), key=lambda e: e["value"])
    assert "omstillinger og endringsprosesser" in top["label"]
    # Tabell 27's rows are the Figur 8 statements.
    assert {r for r, _ in c["tabell_27"]} == {r for r, _ in c["figur_08"]}


def test_table_cells_complete():
    """Every printed row has every printed column (except the blanks the report prints)."""
    bad = []
    blanks = {
        ("tabell_04", "Andre bransjer", "Antall sysselsatte i Norge"),
        ("tabell_04", "Totalt", "Antall sysselsatte i Norge"),
    }
    for table, tc in cells().items():
        if not table.startswith("tabell_"):
            continue
        rows = {r for r, _ in tc}
        cols = {c for _, c in tc}
        for r in rows:
            for col in cols:
                if (r, col) not in tc and (table, r, col) not in blanks:
                    bad.append(f"{table}: no entry for row {r!r} / column {col!r}")
    fail_if(bad, "missing table cells")


# ---------------------------------------------------------------- arithmetic


def test_percent_matches_count():
    """round(100*count/total) agrees with the printed percent unless the cell is flagged inconsistent."""
    bad, checked = [], 0
    for table, tc in cells().items():
        if not table.startswith("tabell_"):
            continue
        for ccol, pcol in COUNT_PERCENT.items():
            counts = {r: e for (r, c), e in tc.items() if c == ccol}
            if not counts or not any(c == pcol for _, c in tc):
                continue
            totals = [e for r, e in counts.items() if r in GRAND_TOTAL]
            if totals:
                total = totals[0]["value"]
            else:  # no total row (multi-select Tabell 23): the printed base n
                ns = {e["n"] for e in counts.values()}
                assert len(ns) == 1 and None not in ns, f"{table}: no total row and no common base n"
                total = ns.pop()
            for r, ce in counts.items():
                pe = tc.get((r, pcol))
                if pe is None:
                    continue
                checked += 1
                exact = 100 * ce["value"] / total
                if abs(exact - pe["value"]) > rule_tolerance("percent", pe["value"]) + 1e-9 and not flagged(ce, pe):
                    bad.append(
                        f"{table} {r!r}: {ce['value']}/{total} = {exact:.2f} % but printed {pe['value']} "
                        f"(flag the entry 'inconsistent' if the report is wrong)"
                    )
    assert checked > 150
    fail_if(bad, "percents that do not match their counts")


def test_counts_add_up():
    """Leaf rows add up to the grand total, subtotal rows to their parts (unless flagged)."""
    bad = []
    for table, tc in cells().items():
        if not table.startswith("tabell_"):
            continue
        for ccol in COUNT_PERCENT:
            col = {r: e for (r, c), e in tc.items() if c == ccol}
            grand = [e for r, e in col.items() if r in GRAND_TOTAL]
            if not grand:
                continue
            leaves = [e for r, e in col.items() if not TOTAL_RE.search(r)]
            s = sum(e["value"] for e in leaves)
            if s != grand[0]["value"] and not flagged(grand[0], *leaves):
                bad.append(f"{table} {ccol}: rows sum to {s}, total row says {grand[0]['value']}")
            for sub, parts in SUBTOTALS.get(table, {}).items():
                if sub not in col:
                    bad.append(f"{table}: subtotal row {sub!r} missing")
                    continue
                missing = [p for p in parts if p not in col]
                if missing:
                    bad.append(f"{table}: rows {missing} missing")
                    continue
                s = sum(col[p]["value"] for p in parts)
                if s != col[sub]["value"] and not flagged(col[sub], *(col[p] for p in parts)):
                    bad.append(f"{table} {sub!r}: parts sum to {s}, printed {col[sub]['value']}")
            unknown = [
                r for r in col if TOTAL_RE.search(r) and r not in GRAND_TOTAL and r not in SUBTOTALS.get(table, {})
            ]
            if unknown:
                bad.append(f"{table}: subtotal rows {unknown} have no composition in SUBTOTALS")
    fail_if(bad, "count sums that do not add up")


def test_percent_columns_and_rows_sum_to_100():
    bad = []
    for table, tc in cells().items():
        if not table.startswith("tabell_"):
            continue
        rows = {r for r, _ in tc}
        cols = [c for c in dict.fromkeys(c for _, c in tc)]
        pcols = [c for c in cols if all(e["unit"] == "percent" for (r, cc), e in tc.items() if cc == c)]
        if table == "tabell_23":  # multi-select
            continue
        if pcols and len(pcols) == len(cols) and len(pcols) > 1:
            # crosstab of row percents (Tabell 17, 18, 21, 22)
            for r in rows:
                s = sum(tc[(r, c)]["value"] for c in pcols)
                if abs(s - 100) > 0.5 * len(pcols):
                    bad.append(f"{table} row {r!r} sums to {s}")
        else:
            for c in pcols:
                leaves = [e for (r, cc), e in tc.items() if cc == c and not TOTAL_RE.search(r)]
                tot = [e for (r, cc), e in tc.items() if cc == c and r in GRAND_TOTAL]
                s = sum(e["value"] for e in leaves)
                if abs(s - 100) > 0.5 * len(leaves) and not flagged(*leaves):
                    bad.append(f"{table} column {c!r} sums to {s}")
                if tot and tot[0]["value"] != 100:
                    bad.append(f"{table} column {c!r}: total row is {tot[0]['value']}, not 100")
    fail_if(bad, "percent sums far from 100")


def test_merged_tables_match_their_sources():
    bad = []
    c = cells()
    for (table, row), (src, parts) in MERGES.items():
        ccol = "Antall svar" if table == "tabell_04" else "Antall"
        target = c[table].get((row, ccol))
        if target is None:
            bad.append(f"{table} {row!r} {ccol}: missing")
            continue
        got = [c[src].get((p, "Antall")) for p in parts]
        if None in got:
            bad.append(f"{src}: rows {[p for p, g in zip(parts, got) if g is None]} missing")
            continue
        s = sum(g["value"] for g in got)
        if s != target["value"] and not flagged(target, *got):
            bad.append(f"{table} {row!r} = {target['value']} but {src} rows sum to {s}")
    for table, src, dropped in (
        ("tabell_15", "tabell_13", ["Vet ikke", "Annet"]),
        ("tabell_16", "tabell_14", ["Annet"]),
        ("tabell_20", "tabell_19", ["Vet ikke", "Annet"]),
    ):
        t, s = c[table].get(("Totalt", "Antall")), c[src].get(("Totalt", "Antall"))
        d = sum(c[src][(r, "Antall")]["value"] for r in dropped)
        if t["value"] != s["value"] - d and not flagged(t, s):
            bad.append(f"{table} Totalt {t['value']} != {src} Totalt {s['value']} - {d}")
    fail_if(bad, "merged tables that do not match their sources")


def test_crosstab_totals_match_merged_tables():
    c = cells()
    pairs = [
        ("tabell_17", "Fysisk", "tabell_15", "Fysisk kurs"),
        ("tabell_18", "Dialogbasert", "tabell_16", "Dialogbaserte kurs"),
        ("tabell_21", "Kort under 2 dager", "tabell_20", "Korte under 2 dager"),
        ("tabell_22", "40 timer eller mer", "tabell_20", "40 timer eller mer"),
    ]
    bad = [
        f"{t} Totalt {col} != {m} {row}"
        for t, col, m, row in pairs
        if c[t][("Totalt", col)]["value"] != c[m][(row, "Prosent")]["value"]
    ]
    fail_if(bad, "crosstab totals that differ from the merged tables")


# ---------------------------------------------------------------- reconstructed figures


def _assumed_items() -> dict[tuple[str, str], dict[str, dict]]:
    items: dict[tuple[str, str], dict[str, dict]] = collections.defaultdict(dict)
    for e in entries():
        lk = e["lookup"]
        if e["flag"] == "assumed" and "table" in lk:
            items[(lk["table"], lk["row"])][lk["column"]] = e
    return items


def _mean(opts: dict[str, dict]) -> float | None:
    for scale in (AGREE, DEGREE, USEFUL):
        if set(opts) == set(scale):
            return sum((i + 1) * opts[o]["value"] for i, o in enumerate(scale)) / 100
    return None


def test_assumed_distributions_sum_to_100():
    bad = []
    items = _assumed_items()
    assert items, "no assumed figure distributions"
    for (table, row), opts in items.items():
        if len(opts) == 1:
            assert set(opts) == {"Ja"}, f"{table} {row!r}: a single column must be the multi-select 'Ja' share"
            v = opts["Ja"]["value"]
            if not 0 <= v <= 100:
                bad.append(f"{table} {row!r}: Ja {v}")
            continue
        if not any(set(opts) == set(s) for s in (AGREE, DEGREE, USEFUL)):
            bad.append(f"{table} {row!r}: options {sorted(opts)} are not a complete response scale")
        s = sum(e["value"] for e in opts.values())
        if abs(s - 100) > 1:
            bad.append(f"{table} {row!r}: sums to {s}")
    fail_if(bad, "assumed distributions that do not sum to 100")


def test_assumed_distributions_agree_with_the_text():
    """Text statements about a figure item hold for its reconstructed distribution (within their tolerance)."""
    items = _assumed_items()
    bad, checked = [], 0
    for e in entries():
        key = e["lookup"].get("result", "")
        m = re.match(r"^\d\d_[a-z_]+\.f(\d\d)_", key)
        if not m or e["unit"] != "percent" or e["group"] is not None or e["column"] not in TEXT_MEASURE:
            continue
        opts = items.get((f"figur_{m.group(1)}", e["label"]))
        if not opts or not set(TEXT_MEASURE[e["column"]]) <= set(opts):
            continue
        checked += 1
        s = sum(opts[o]["value"] for o in TEXT_MEASURE[e["column"]])
        if abs(s - e["value"]) > e["tolerance"] + 1e-9:
            bad.append(f"{show(e)}: text says {e['value']} (±{e['tolerance']}), assumed distribution gives {s}")
    assert checked >= 40, f"only {checked} text statements could be matched to reconstructed figure items"
    fail_if(bad, "reconstructed distributions that contradict the text")


def _group_weights() -> dict[tuple[str, str], tuple[float, float]]:
    """Sample composition of the complementary groups, from the published numbers themselves."""
    c = cells()
    res = {e["lookup"]["result"]: e["value"] for e in entries() if "result" in e["lookup"]}
    vo = c["tabell_02"][("Verneombud totalt", "Prosent")]["value"] / 100
    public = res["02_sample.sector_public_pct"] / 100
    physical = c["tabell_15"][("Fysisk kurs", "Prosent")]["value"] / 100
    dialog = c["tabell_16"][("Dialogbaserte kurs", "Prosent")]["value"] / 100
    return {
        ("vo", "hvo"): (vo, 1 - vo),
        ("offentlig", "privat"): (public, 1 - public),
        ("fysisk", "digitalt"): (physical, 1 - physical),
        ("dialogbasert", "uten_dialog"): (dialog, 1 - dialog),
    }


def test_assumed_distributions_match_group_values():
    """An item's overall value (reconstructed) agrees with the printed values of two complementary groups,
    weighted by the sample's composition: |overall - (wa*a + wb*b)| <= rounding + 0.1*|a-b| (composition of the
    item's respondents may differ a little) + rounding of the reconstruction. Flagged group values are skipped."""
    items = _assumed_items()
    weights = _group_weights()
    by_key: dict[str, dict[str, dict]] = collections.defaultdict(dict)
    for e in entries():
        key = e["lookup"].get("result", "")
        if e["unit"] in ("mean", "percent") and re.match(r"^\d\d_[a-z_]+\.f\d\d_.*\.[a-z_]+$", key):
            base, group = key.rsplit(".", 1)
            by_key[base][group] = e
    bad, checked = [], 0
    for base, groups in by_key.items():
        fig = "figur_" + re.match(r"^\d\d_[a-z_]+\.f(\d\d)_", base).group(1)
        for (a, b), (wa, wb) in weights.items():
            if a not in groups or b not in groups or flagged(groups[a], groups[b]):
                continue
            ea, eb = groups[a], groups[b]
            opts = items.get((fig, ea["label"]))
            if not opts:
                continue
            is_mean = ea["unit"] == "mean"
            overall = _mean(opts) if is_mean else opts.get("Ja", {}).get("value")
            if overall is None:
                continue
            checked += 1
            expected = wa * ea["value"] + wb * eb["value"]
            allowed = ea["tolerance"] + 0.1 * abs(ea["value"] - eb["value"]) + (0.02 if is_mean else 0.5)
            if abs(overall - expected) > allowed + 1e-9:
                bad.append(
                    f"{base}: {a} {ea['value']} / {b} {eb['value']} imply {expected:.2f} (±{allowed:.2f}) "
                    f"but the reconstructed item gives {overall:.2f} (flag the group values 'inconsistent' if "
                    f"the report contradicts itself)"
                )
    assert checked >= 15, f"only {checked} group pairs could be checked"
    fail_if(bad, "reconstructed items that disagree with their printed group values")


# ---------------------------------------------------------------- inconsistencies


def test_inconsistencies_listed():
    ids = {e["id"] for e in entries()}
    listed, bad = set(), []
    for item in doc()["inconsistencies"]:
        if (
            set(item) != {"ids", "summary", "merknad"}
            or not item["ids"]
            or not str(item["summary"]).strip()
            or not str(item["merknad"]).strip()
        ):  # merknad: the explanation in Norwegian, as the book shows it
            bad.append(f"malformed item {item}")
            continue
        for i in item["ids"]:
            if i not in ids:
                bad.append(f"unknown id {i}")
            listed.add(i)
    unlisted = [e["id"] for e in entries() if e["flag"] == "inconsistent" and e["id"] not in listed]
    bad += [f"flagged inconsistent but not listed: {i}" for i in unlisted]
    fail_if(bad, "problems in the inconsistencies list")
