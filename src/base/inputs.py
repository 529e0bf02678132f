"""What a build reads before any notebook runs, checked without pandas.

Parameters (types, allowed values), the checksums of data/raw and the
fingerprint of the synthetic export's inputs. Kept light so that a rebuild with
nothing to do starts, checks and stops in well under a second.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from src.base import paths
from src.base.imports import module_dependencies

DEFAULT_SEED = 20241008  # the synthetic export's random seed

PARAM_TYPES = {
    "raw_path": str,
    "derived_dir": str,
    "reports_dir": str,
    "weighted": bool,
    "lang": str,
    "alpha": float,
    "min_cell": int,
}


TYPE_WORDS = {  # what a type accepts, for the messages
    bool: "bool (true or false)",
    float: "float (a number, e.g. 0.05 or 1e-3)",
    int: "int (a whole number, e.g. 5)",
    str: "str (text)",
}


class ParameterError(ValueError):
    """A notebook parameter has the wrong type or value."""


# -- reading parameters: YAML 1.2, no aliases ----------------------------------------


def _yaml12_loader():
    """A SafeLoader with the YAML 1.2 core schema's scalars and no aliases.

    PyYAML implements YAML 1.1, where ``no``/``yes``/``on``/``off`` are booleans
    (``lang: no`` would be False) and ``1e-3`` is a string. The core schema of
    YAML 1.2: booleans only true/false (any case as written there), floats with
    or without a dot in the mantissa. Aliases (``*name``) are refused: a
    parameter file needs none, and nested aliases expand exponentially
    (a "billion laughs" file takes minutes and gigabytes).
    """
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                mark = event.start_mark
                raise ParameterError(
                    f"line {mark.line + 1}: YAML aliases (*{event.anchor}) are not allowed in "
                    "parameter files; write the value out"
                )
            return super().compose_node(parent, index)

    Loader.yaml_implicit_resolvers = {
        k: [
            (tag, rx)
            for tag, rx in v
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float", "tag:yaml.org,2002:int")
        ]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
    )
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
    )
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
            r"|\.(?:nan|NaN|NAN))$"
        ),
        list("-+0123456789."),
    )

    def construct_bool(loader, node):
        return loader.construct_scalar(node).lower() == "true"

    def construct_int(loader, node):
        return int(loader.construct_scalar(node), 0)

    def construct_float(loader, node):
        text = loader.construct_scalar(node).lower()
        return float(text.replace(".inf", "inf").replace(".nan", "nan"))

    Loader.add_constructor("tag:yaml.org,2002:bool", construct_bool)
    Loader.add_constructor("tag:yaml.org,2002:int", construct_int)
    Loader.add_constructor("tag:yaml.org,2002:float", construct_float)
    return Loader


def read_params_file(path: Path) -> dict:
    """A parameter file (params.yml or --params): a mapping, YAML 1.2 scalars, no aliases; one-line errors."""
    import yaml

    shown = paths.relative(path)
    try:
        data = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_yaml12_loader())
    except ParameterError as exc:
        raise ParameterError(f"{shown}: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ParameterError(f"{shown} is not valid YAML: {exc.problem or exc.context}{where}") from None
    except yaml.YAMLError as exc:
        raise ParameterError(f"{shown} is not valid YAML: {str(exc).splitlines()[0]}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParameterError(f"cannot read {shown}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"{shown} must be a mapping of parameter: value")
    return data


def parse_override(item: str) -> tuple[str, object]:
    """``-p KEY=VALUE``: the value converted by the parameter's declared type (not read as YAML).

    ``-p lang=no`` is the text "no", ``-p weighted=yes`` is refused (true or
    false), ``-p alpha=1e-3`` is 0.001. A value that does not convert stays
    text, and check_params says what the parameter needs.
    """
    if "=" not in item:
        raise ParameterError(f"-p expects KEY=VALUE, got {item!r}")
    key, value = (s.strip() for s in item.split("=", 1))
    typ = PARAM_TYPES.get(key)
    if typ is bool and value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    if typ is int:
        try:
            return key, int(value)
        except ValueError:
            pass
    if typ is float:
        try:
            return key, float(value)
        except ValueError:
            pass
    return key, value


def check_params(params: dict, where: str = "parameters") -> dict:
    """Validate notebook parameters; raise ParameterError listing every problem."""
    problems = []
    unknown = sorted(set(params) - set(PARAM_TYPES))
    if unknown:
        problems.append(f"unknown parameter(s) {unknown}; known: {sorted(PARAM_TYPES)}")
    for key, typ in PARAM_TYPES.items():
        if key not in params:
            continue
        val = params[key]
        ok = isinstance(val, typ) and not (typ is not bool and isinstance(val, bool))
        if typ is float and isinstance(val, int) and not isinstance(val, bool):
            ok = True
        if not ok:
            problems.append(f"'{key}' must be {TYPE_WORDS[typ]}, got {type(val).__name__} {val!r}")
    if isinstance(params.get("lang"), str) and params["lang"] not in ("nb", "en"):
        problems.append(f"'lang' must be 'nb' or 'en', got {params['lang']!r}")
    a = params.get("alpha")
    if isinstance(a, (int, float)) and not isinstance(a, bool) and not 0 < a < 1:
        problems.append(f"'alpha' must be between 0 and 1, got {a!r}")
    m = params.get("min_cell")
    if isinstance(m, int) and not isinstance(m, bool) and m < 0:
        problems.append(f"'min_cell' must be a whole number >= 0 (0 switches suppression off), got {m!r}")
    if problems:
        raise ParameterError(f"Invalid {where}:\n" + "\n".join(f"  - {p}" for p in problems))
    return params


def inside_project(params: dict, keys: tuple[str, ...] = ("derived_dir", "reports_dir")) -> None:
    """The folders a build writes (``derived_dir``, ``reports_dir``) must lie inside the project.

    Resolved (``..`` and symbolic links followed) before comparing, so
    ``reports/../../x`` is refused like ``/tmp/x``. A build replaces and removes
    files in these folders; outside the project it could reach anyone's files.
    One function, so further conditions on an output folder go here.
    """
    root = paths.ROOT.resolve()
    problems = []
    for key in keys:
        if key not in params:
            continue
        where = paths.resolve(params[key]).resolve()
        if where == root or root not in where.parents:
            problems.append(
                f"'{key}' must be a folder inside the project ({root}), got {params[key]!r}"
                + (f" (= {where})" if str(where) != str(params[key]) else "")
            )
    if not problems:
        problems = mixed_output_dirs(params, keys)
    if problems:
        raise ParameterError("Invalid output folder(s):\n" + "\n".join(f"  - {p}" for p in problems))


# The project's inputs: an output folder may neither lie in one nor hold one (#28). The build replaces
# and removes files in its output folders, and what it writes there describes respondents.
INPUT_FOLDERS = {
    "data/raw": "the raw exports",
    "notebooks": "the notebooks",
    "src": "the code",
    "data/reference": "the published numbers",
    "appendices": "the appendices",
    "typst": "the PDF template",
    "tests": "the tests",
    ".git": "git's history",
    ".venv": "the Python environment",
}
INPUT_FILES = {
    "data/codebook.yml": "the codebook",
    "params.yml": "the parameters",
    "_quarto.yml": "the book's setup",
    "index.qmd": "the front page",
}
# Files that mark a folder as a build's output (src/pipeline/records.py STATE_DIR or results.json in a
# reports_dir, data_info.json in a derived_dir): a folder inside one is inside another build's output.
_BUILD_MARKS = {".build": "reports_dir", paths.RESULTS_FILE: "reports_dir", paths.DATA_INFO_FILE: "derived_dir"}
_DEFAULT_OUTPUTS = {"derived_dir": paths.DERIVED, "reports_dir": paths.REPORTS}


def mixed_output_dirs(
    params: dict, keys: tuple[str, ...] = ("derived_dir", "reports_dir"), root: Path | None = None
) -> list[str]:
    """Output folders that would mix the build's outputs with its inputs, or nest one build in another's output.

    Refused: an output folder inside (or equal to, or holding) an input folder
    (``INPUT_FOLDERS``, the folder of ``raw_path``) or holding an input file;
    ``derived_dir`` and ``reports_dir`` equal or one inside the other; an output
    folder inside another build's output — the default ``data/derived`` and
    ``reports`` (e.g. ``reports/book/alt``, a book inside the book the next
    default build replaces) or any folder that holds a build's marks.
    """
    root = (root or paths.ROOT).resolve()
    outs = {k: paths.resolve(params[k]).resolve() for k in keys if k in params}

    def rel(p: Path) -> str:
        try:
            return p.relative_to(root).as_posix() or "."
        except ValueError:
            return str(p)

    def within(a: Path, b: Path) -> bool:  # a is b or inside it
        return a == b or b in a.parents

    inputs = {(root / f).resolve(): what for f, what in INPUT_FOLDERS.items()}
    raw_dirs = {}
    if "raw_path" in params:  # an export elsewhere: its folder (not what lies beside it) and its review sheets
        raw = paths.resolve(params["raw_path"]).resolve()
        if raw.parent not in inputs:
            raw_dirs[raw.parent] = "the folder of raw_path"
        inputs.setdefault(paths.review_dir(raw).resolve(), "the review sheets of raw_path")
    problems = []
    for key, where in outs.items():
        shown = f"'{key}' = {params[key]!r}"
        why = None
        for folder, what in raw_dirs.items():
            if within(folder, where):
                why = f"it {'is' if where == folder else 'holds'} {rel(folder)} ({what})"
        for folder, what in inputs.items():
            if why:
                break
            if within(where, folder):
                why = f"it is {'' if where == folder else 'inside '}{rel(folder)} ({what})"
            elif within(folder, where):
                why = f"it holds {rel(folder)} ({what})"
        if why is None:
            for f, what in INPUT_FILES.items():
                if within((root / f).resolve(), where):
                    why = f"it holds {f} ({what})"
                    break
        if why is None:
            for other, there in outs.items():
                if other != key and within(where, there):
                    why = f"it is {'' if where == there else 'inside '}'{other}' ({rel(there)})"
                    break
        if why is None:
            for other, default in _DEFAULT_OUTPUTS.items():
                default = default.resolve()
                if where != default and default in where.parents:
                    why = f"it is inside {rel(default)}, the default build's {other}, which a build replaces"
                    break
        if why is None:
            for up in where.parents:
                if up == root or root not in up.parents:
                    break
                mark = next((m for m in _BUILD_MARKS if (up / m).exists()), None)
                if mark:
                    why = f"it is inside {rel(up)}, another build's {_BUILD_MARKS[mark]} (it holds {mark})"
                    break
        if why:
            problems.append(
                f"{shown}: {why}; a build's outputs must not mix with its inputs or nest in another "
                "build's output — use a folder of its own, e.g. reports_2024 or data/derived_2024"
            )
    return problems


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(manifest: Path = paths.RAW_MANIFEST) -> dict[str, str]:
    """File name -> sha256 from data/raw/MANIFEST.sha256 (sha256sum format)."""
    out = {}
    if manifest.exists():
        for line in manifest.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                digest, name = line.split(maxsplit=1)
                out[name.strip()] = digest
    return out


def write_manifest(files: dict[str, str], manifest: Path = paths.RAW_MANIFEST) -> None:
    """Record sha256 checksums of the raw inputs (``sha256  name`` lines, like sha256sum)."""
    existing = read_manifest(manifest)
    existing.update(files)
    lines = ["# sha256 of the files in data/raw (check: cd data/raw && sha256sum -c MANIFEST.sha256)"]
    lines += [f"{d}  {n}" for n, d in sorted(existing.items())]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")


# the data the generator reads; its code is src/synthetic/synthesize.py and every src module that imports
GENERATOR_DATA = [
    "data/codebook.yml",
    "data/reference/published.yml",
    "data/reference/measures.yml",
    "data/reference/synthesis.yml",
]


def generator_inputs() -> list[str]:
    """Every file the synthetic export is made from: the generator's code (read from its imports) and its data."""
    code = [paths.relative(f) for f in module_dependencies("synthetic.synthesize")]
    return [*code, *GENERATOR_DATA]


def fingerprint(seed: int = DEFAULT_SEED, size: float = 1.0) -> str:
    """sha256 over everything the synthetic export is made from (code, codebook, targets, seed, size)."""
    h = hashlib.sha256(f"seed={seed};size={size}".encode())
    for rel in generator_inputs():
        p = paths.ROOT / rel
        h.update(rel.encode() + b"\0" + (p.read_bytes() if p.exists() else b""))
    return h.hexdigest()


def fingerprint_file(out: Path) -> Path:
    return out.with_name(out.name + ".inputs")


def is_current(out: str | Path = paths.SYNTHETIC_EXPORT, seed: int = DEFAULT_SEED, size: float = 1.0) -> bool:
    """True when ``out`` exists, was generated from the present generator inputs and still matches the
    generator's record of it (else it would count as real data: see ``is_synthetic``)."""
    out = paths.resolve(out)
    fp = fingerprint_file(out)
    sheets = paths.review_dir(out)  # the generator also writes the review sheets of its open answers
    return (
        out.exists()
        and fp.exists()
        and fp.read_text().strip() == fingerprint(seed, size)
        and synthetic_record_file(out).exists()
        and sheets.is_dir()
        and any(sheets.glob("*.csv"))
    )


# -- the synthetic export, recognised by its content ---------------------------
#
# Whether an export is synthetic decides whether small cells are hidden
# (src/analysis/suppression.py), so it is never read from a name. The generator
# (src/synthetic/synthesize.py ``generate``) writes, beside the export, a record of the
# sha256 of the very bytes it wrote and of the SPSS file label it gave them;
# an export is synthetic only when that record exists, names its file label,
# and matches its bytes. Anything else — a real export called "…synthetic…",
# a synthetic export edited by hand, copied without its record, or rewritten
# by another program — counts as real and is protected.


def synthetic_record_file(out: str | Path) -> Path:
    """The generator's record beside an export: ``<file>.synthetic.json``."""
    out = Path(out)
    return out.with_name(out.name + ".synthetic.json")


def write_synthetic_record(
    out: str | Path, file_label: str, seed: int | None = None, size: float | None = None
) -> Path:
    """Record that ``out`` (as it is now on disk) is the generator's synthetic export with ``file_label``
    (and the seed and size it was generated with: ``default_export_kept``)."""
    import json

    out = Path(out)
    record = {
        "file": out.name,
        "sha256": sha256(out),
        "file_label": file_label,
        "written_by": "src/synthetic/synthesize.py",
    }
    if seed is not None:
        record.update(seed=seed, size=size)
    p = synthetic_record_file(out)
    p.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return p


def is_synthetic(path: str | Path, file_label: str, digest: str | None = None) -> bool:
    """True only when the generator's record beside ``path`` matches its file label and its sha256."""
    import json

    p = synthetic_record_file(path)
    try:
        record = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(record, dict) or record.get("file_label") != file_label or not file_label:
        return False
    return record.get("sha256") == (digest or sha256(path))


def default_export_kept(
    out: str | Path = paths.SYNTHETIC_EXPORT, seed: int = DEFAULT_SEED, size: float = 1.0
) -> str | None:
    """Why the build must not (re)generate the export at ``out`` — or None when it may.

    The build generates the default export only where there is none or where
    the one there is its own: written by the generator with the build's seed
    and size (the record beside it says so) and unchanged since. Anything else
    is a file the build did not make — ``make synth ARGS="--seed 7"`` or
    ``--size 100``, a real export saved under that name, an edited copy — and
    is never overwritten (#28). The reason names what tells them apart.
    """
    import json

    out = paths.resolve(out)
    if not out.exists():
        return None
    rec = synthetic_record_file(out)
    try:
        record = json.loads(rec.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict) or not record.get("sha256"):
        return f"there is no generator record beside it ({rec.name}): the build did not generate it"
    if record["sha256"] != sha256(out):
        return "it was changed after the generator wrote it (its sha256 differs from the generator's record)"
    if "seed" not in record:
        return (
            "an earlier version of the generator wrote it without recording its seed and size, so the build "
            "cannot tell it from one made with `make synth ARGS=...`"
        )
    if (record.get("seed"), float(record.get("size") or 0)) != (seed, float(size)):
        return (
            f"it was generated with --seed {record.get('seed')} --size {record.get('size')} "
            f"(`make synth ARGS=...`), not the build's --seed {seed} --size {size}"
        )
    return None


# -- output folders git would commit ------------------------------------------

OUTPUT_DIRS = ("derived_dir", "reports_dir")
_PROBES = ("data_info.json", "results.json", "tables/probe.csv", "book/index.html")


def unignored_output_dirs(params: dict, root: Path = paths.ROOT) -> list[str]:
    """The output folders (``derived_dir``, ``reports_dir``) whose files git would not ignore.

    Their files describe the respondents, so they must never be committable by
    accident. A folder outside ``root`` is not git's concern here (the rule that
    outputs stay inside the project is checked with the other parameters); a
    folder inside it must be ignored by .gitignore when ``root`` is a git
    checkout (``git check-ignore`` on files the build writes there). Outside a
    git checkout nothing can be committed, and nothing is refused.
    """
    import subprocess

    problems = []
    for key in OUTPUT_DIRS:
        if key not in params:
            continue
        folder = paths.resolve(params[key])
        try:
            rel = folder.relative_to(root)
        except ValueError:
            continue
        probes = [(rel / p).as_posix() for p in _PROBES]
        try:
            proc = subprocess.run(
                ["git", "check-ignore", "--no-index", *probes], cwd=root, capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if proc.returncode == 128:  # not a git checkout (or git cannot tell)
            continue
        ignored = set(proc.stdout.split())
        missing = [p for p in probes if p not in ignored]
        if missing:
            problems.append(
                f"'{key}' = {params[key]!r}: git would not ignore what the build writes there "
                f"(e.g. {missing[0]}); the outputs describe respondents and must never be committed — "
                "use a folder .gitignore covers (data/derived/…, reports/…) or add it to .gitignore"
            )
    return problems


def check_output_dirs(params: dict) -> dict:
    """Raise ParameterError when an output folder is one git would not ignore (``unignored_output_dirs``)."""
    problems = unignored_output_dirs(params)
    if problems:
        raise ParameterError("Invalid output folders:\n" + "\n".join(f"  - {p}" for p in problems))
    return params
