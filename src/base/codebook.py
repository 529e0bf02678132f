"""The data model: ``data/codebook.yml`` loaded into typed objects.

Everything that needs a variable's source column, value labels, missing
codes, routing or recode reads it from here, so the codebook stays the one
source of truth (DESIGN.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from src.base import paths
from src.base.reference import read_yaml

VARIABLE_TYPES = {"id", "single", "text", "binary"}
GROUP_TYPES = {"multi", "grid"}
BINARY_VALUES = {0: "Ikke valgt", 1: "Valgt"}
BINARY_VALUES_EN = {0: "Not selected", 1: "Selected"}
LANGS = {"nb", "en"}


class CodebookError(ValueError):
    """The codebook itself is inconsistent."""


@dataclass(frozen=True)
class Variable:
    name: str
    source: str
    type: str
    label: str
    label_en: str | None = None
    question: str | None = None
    values: dict[int, str] = field(default_factory=dict)
    values_en: dict[int, str] = field(default_factory=dict)
    missing: tuple[int, ...] = ()
    routing: str | None = None
    free_text: bool = False
    group: str | None = None  # the multi-select question or grid the variable belongs to
    scale: str | None = None  # the named scale of a grid item

    @property
    def valid_codes(self) -> list[int]:
        """Codes that count as a substantive answer (the percent base)."""
        return [c for c in self.values if c not in self.missing]


@dataclass(frozen=True)
class Group:
    """A multi-select question (one 0/1 column per option) or a grid of items on one scale."""

    name: str
    type: str  # 'multi' or 'grid'
    label: str
    question: str | None
    members: tuple[str, ...]  # expanded variable names, in questionnaire order
    label_en: str | None = None
    scale: str | None = None
    themes: dict[str, str] = field(default_factory=dict)  # member variable -> theme label (multi-select)


@dataclass(frozen=True)
class Recode:
    name: str
    source: str
    label: str
    map: dict[int, int]
    values: dict[int, str]
    label_en: str | None = None
    values_en: dict[int, str] = field(default_factory=dict)
    subtotals: dict[int, str] = field(default_factory=dict)
    min_answers: int | None = None
    missing: tuple[int, ...] = ()

    @property
    def valid_codes(self) -> list[int]:
        return list(self.values)


@dataclass(frozen=True)
class Index:
    """A derived scale score: the mean of a grid's items (e.g. 'opplevd nytteverdi i praksis')."""

    name: str
    label: str
    members: tuple[str, ...]
    min_items: int
    label_en: str | None = None


@dataclass(frozen=True)
class Exclusion:
    key: str
    label: str
    when: str
    label_en: str | None = None


@dataclass(frozen=True)
class Codebook:
    survey: dict
    conditions: dict[str, str]
    variables: dict[str, Variable]
    recodes: dict[str, Recode]
    exclusions: tuple[Exclusion, ...]
    path: Path
    groups: dict[str, Group] = field(default_factory=dict)
    scales: dict[str, dict[int, str]] = field(default_factory=dict)
    indices: dict[str, Index] = field(default_factory=dict)

    # -- look-ups ---------------------------------------------------------
    @property
    def id(self) -> str:
        return self.survey["id"]

    def item(self, name: str) -> Variable | Recode | Index:
        """A variable, a recode or an index by analysis name."""
        if name in self.variables:
            return self.variables[name]
        if name in self.recodes:
            return self.recodes[name]
        if name in self.indices:
            return self.indices[name]
        if name in self.groups:
            return self.groups[name]
        raise KeyError(f"'{name}' is neither a variable nor a recode in {paths.relative(self.path)}")

    def label(self, name: str, lang: str = "nb") -> str:
        item = self.item(name)
        return (item.label_en or item.label) if lang == "en" else item.label

    def value_labels(self, name: str, lang: str = "nb", with_missing: bool = False) -> dict[int, str]:
        """Code -> label in display order; missing codes left out unless asked for (empty for an index)."""
        item = self.item(name)
        if isinstance(item, (Index, Group)):
            return {}
        labels = dict(item.values)
        if lang == "en":
            labels.update(item.values_en)
        if not with_missing:
            labels = {c: v for c, v in labels.items() if c not in item.missing}
        return labels

    def expand(self, expr: str) -> str:
        """An expression with the named conditions substituted (recursively)."""
        for _ in range(10):
            new = expr
            for name, cond in self.conditions.items():
                new = re.sub(rf"\b{re.escape(name)}\b", f"({cond})", new)
            if new == expr:
                return expr
            expr = new
        raise CodebookError(f"conditions in {paths.relative(self.path)} refer to each other in a cycle")

    def by_source(self) -> dict[str, Variable]:
        return {v.source: v for v in self.variables.values()}


def _int_keys(d: dict | None, where: str) -> dict[int, str]:
    out = {}
    for k, v in (d or {}).items():
        try:
            out[int(k)] = str(v)
        except (TypeError, ValueError):
            raise CodebookError(f"{where}: value code {k!r} is not an integer") from None
    return out


def parse(raw: dict, path: Path) -> Codebook:
    """Build and check a Codebook from the parsed YAML."""
    problems: list[str] = []
    survey = raw.get("survey") or {}
    if "id" not in survey:
        problems.append("survey.id (the respondent id variable) is missing")
    conditions = {str(k): str(v) for k, v in (raw.get("conditions") or {}).items()}

    scales = {str(k): _int_keys(v, f"scales.{k}") for k, v in (raw.get("scales") or {}).items()}
    scales_en = {str(k): _int_keys(v, f"scales_en.{k}") for k, v in (raw.get("scales_en") or {}).items()}
    specs, groups = _expand_groups(raw.get("variables") or {}, scales, scales_en, problems)

    variables: dict[str, Variable] = {}
    for name, spec in specs.items():
        where = f"variables.{name}"
        spec = dict(spec or {})
        vtype = spec.get("type")
        if vtype not in VARIABLE_TYPES:
            problems.append(f"{where}.type is {vtype!r}; expected one of {sorted(VARIABLE_TYPES)}")
            continue
        for key in ("source", "label"):
            if not spec.get(key):
                problems.append(f"{where}.{key} is missing")
        values = _int_keys(spec.get("values"), where)
        if vtype == "single" and not values:
            problems.append(f"{where}: a single-choice variable needs value labels")
        missing = tuple(int(c) for c in spec.get("missing") or ())
        for c in missing:
            if c not in values:
                problems.append(f"{where}.missing code {c} has no value label")
        variables[name] = Variable(
            name=name,
            source=str(spec.get("source", "")),
            type=vtype,
            label=str(spec.get("label", name)),
            label_en=spec.get("label_en"),
            question=spec.get("question"),
            values=values,
            values_en=_int_keys(spec.get("values_en"), where),
            missing=missing,
            routing=spec.get("routing"),
            free_text=bool(spec.get("free_text", False)),
            group=spec.get("group"),
            scale=spec.get("scale"),
        )

    sources = [v.source for v in variables.values()]
    dupes = sorted({s for s in sources if sources.count(s) > 1})
    if dupes:
        problems.append(f"export column names used by more than one variable: {dupes}")

    recodes: dict[str, Recode] = {}
    for name, spec in (raw.get("recodes") or {}).items():
        where = f"recodes.{name}"
        spec = dict(spec or {})
        src = spec.get("from")
        known = set(variables) | set(recodes)
        if src not in known:
            problems.append(f"{where}.from is {src!r}, not a variable or an earlier recode")
            continue
        values = _int_keys(spec.get("values"), where)
        mapping = {int(k): int(v) for k, v in (spec.get("map") or {}).items()}
        src_item = variables.get(src) or recodes.get(src)
        unknown_src = sorted(set(mapping) - set(src_item.values))
        if unknown_src:
            problems.append(f"{where}.map has codes {unknown_src} that '{src}' does not have")
        unknown_dst = sorted(set(mapping.values()) - set(values))
        if unknown_dst:
            problems.append(f"{where}.map maps to codes {unknown_dst} that have no value label")
        subtotals = _int_keys(spec.get("subtotals"), where)
        recodes[name] = Recode(
            name=name,
            source=src,
            label=str(spec.get("label", name)),
            label_en=spec.get("label_en"),
            map=mapping,
            values=values,
            values_en=_int_keys(spec.get("values_en"), where),
            subtotals=subtotals,
            min_answers=spec.get("min_answers"),
        )
        if name in variables:
            problems.append(f"{where}: the name is already a variable")

    for name, v in variables.items():
        if v.routing:
            words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", v.routing))
            unknown = words - set(variables) - set(conditions) - {"and", "or", "not", "in", "isna", "notna"}
            if unknown:
                problems.append(f"variables.{name}.routing refers to unknown names {sorted(unknown)}")

    exclusions = []
    for i, spec in enumerate(raw.get("exclusions") or []):
        missing_keys = [k for k in ("key", "label", "when") if not spec.get(k)]
        if missing_keys:
            problems.append(f"exclusions[{i}] lacks {missing_keys}")
            continue
        exclusions.append(
            Exclusion(key=spec["key"], label=spec["label"], when=spec["when"], label_en=spec.get("label_en"))
        )

    indices = {}
    for name, spec in (raw.get("indices") or {}).items():
        grid = groups.get(spec.get("mean_of"))
        if grid is None or grid.type != "grid":
            problems.append(f"indices.{name}.mean_of must name a grid, got {spec.get('mean_of')!r}")
            continue
        k = spec.get("min_items", "all")
        indices[name] = Index(
            name=name,
            label=str(spec.get("label", name)),
            members=grid.members,
            min_items=len(grid.members) if k == "all" else int(k),
            label_en=spec.get("label_en"),
        )

    if problems:
        raise CodebookError(
            f"{paths.relative(path)} is inconsistent ({len(problems)} problem(s)):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return Codebook(
        survey=survey,
        conditions=conditions,
        variables=variables,
        recodes=recodes,
        exclusions=tuple(exclusions),
        path=path,
        groups=groups,
        scales=scales,
        indices=indices,
    )


def _expand_groups(raw_vars: dict, scales: dict, scales_en: dict, problems: list[str]):
    """Expand multi-select questions and grids into one variable per option/item.

    ``multi``: options k -> variable ``<name>_<key>`` (source ``<prefix><k>``),
    coded 1 = selected, 0 = not selected, missing = not asked.
    ``grid``: items k -> variable ``<name>_<key>`` on the grid's named scale.
    """
    specs, groups = {}, {}
    for name, spec in raw_vars.items():
        spec = dict(spec or {})
        gtype = spec.get("type")
        if gtype not in GROUP_TYPES:
            specs[name] = spec
            continue
        where = f"variables.{name}"
        prefix = spec.get("source_prefix")
        entries = spec.get("options" if gtype == "multi" else "items") or {}
        if not prefix or not entries:
            problems.append(
                f"{where}: a {gtype} question needs source_prefix and " + ("options" if gtype == "multi" else "items")
            )
            continue
        scale = spec.get("scale")
        if gtype == "grid" and scale not in scales:
            problems.append(f"{where}.scale is {scale!r}, not one of the codebook's scales {sorted(scales)}")
            continue
        members = []
        for k, item in entries.items():
            item = item if isinstance(item, dict) else {"label": item}
            key = str(item.get("name") or k)
            var = f"{name}_{key}"
            specs[var] = {
                "source": f"{prefix}{k}",
                "type": "binary" if gtype == "multi" else "single",
                "label": item.get("label", var),
                "label_en": item.get("label_en"),
                "question": spec.get("question"),
                "values": dict(BINARY_VALUES) if gtype == "multi" else dict(scales[scale]),
                "values_en": dict(BINARY_VALUES_EN) if gtype == "multi" else dict(scales_en.get(scale, {})),
                "routing": item.get("routing", spec.get("routing")),
                "free_text": False,
                "group": name,
                "scale": scale,
            }
            members.append(var)
        # themes: option name -> theme label (the report's grouping of the options; the order a
        # theme first appears in is the report's ranking of the themes)
        themes = {}
        for key, theme in (spec.get("themes") or {}).items():
            if f"{name}_{key}" not in members:
                problems.append(f"{where}.themes: '{key}' is not an option of {name}")
            else:
                themes[f"{name}_{key}"] = str(theme)
        groups[name] = Group(
            name=name,
            type=gtype,
            label=str(spec.get("label", name)),
            question=spec.get("question"),
            members=tuple(members),
            label_en=spec.get("label_en"),
            scale=scale,
            themes=themes,
        )
    return specs, groups


def load(path: str | Path | None = None) -> Codebook:
    """Load the codebook (cached per path)."""
    return _load(str(paths.resolve(path) if path else paths.CODEBOOK))


@lru_cache(maxsize=8)
def _load(path: str) -> Codebook:
    p = Path(path)
    return parse(read_yaml(p) or {}, p)
