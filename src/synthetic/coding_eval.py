"""How right the open-answer coder is on answers it has never seen: the learning curve.

    python -m src.synthetic.coding_eval [--write]

The evaluation sets ``tests/data/coding_eval_dev.yml`` and
``tests/data/coding_eval_test.yml`` were written by hand, for this purpose, by
someone who had read neither the rules nor the generator, from the report and
the frames' definitions only: ``{theme variable: [{text, gold: [codes], kind:
[...]}]}`` (synthetic, they describe nobody). The coder is scored on the
*test* set only; its rules were never tuned on it.

For k = 0, 25, 50, 100 reviewed answers per question the coder (src/data/
coding.py, ``Coder``) is trained on k answers drawn at random from the
*pool* — the dev set's answers with their gold themes and the synthetic
export's answers with the theme the generator wrote them for — and scored on
the whole test set; each k > 0 is drawn ``REPEATS`` times (seeded) and
averaged. A proposal is right when its theme is one of the answer's gold
themes. Reported per k: accuracy overall, per question and per kind of answer;
the share proposed «ikke kodet» against the gold share; the accuracy of the
proposals in the highest confidence band and their share; Cohen's kappa.
``--write`` stores the result in ``data/reference/coding_eval.yml``, which the
method chapter (01_cleaning) and docs/coding.md show; a test checks that the
stored 0-review figures are what this module computes.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path

import yaml

from src.base import paths
from src.base.codebook import load as load_codebook
from src.data import coding
from src.data.coding_curve import RESULT, curve_table, kind_table, load_result
from src.synthetic.synthesize import synthesize

EVAL_DIR = paths.ROOT / "tests" / "data"
DEV = EVAL_DIR / "coding_eval_dev.yml"
TEST = EVAL_DIR / "coding_eval_test.yml"
STEPS = (0, 25, 50, 100)
REPEATS = 3
SEED = 2024


def load_set(path: Path, frames) -> dict[str, list[dict]]:
    """An evaluation set, checked: every answer has text, gold codes of its frame and a list of kinds."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    out, problems = {}, []
    for q, items in raw.items():
        if q not in frames:
            problems.append(f"{q}: not a coding frame ({sorted(frames)})")
            continue
        rows = []
        for i, it in enumerate(items or []):
            gold = [int(g) for g in (it.get("gold") or [])]
            bad = [g for g in gold if g not in frames[q].labels]
            if not str(it.get("text", "")).strip() or not gold or bad:
                problems.append(f"{q}[{i}]: no text, no gold or gold {bad} not a code")
                continue
            kind = it.get("kind") or ["plain"]
            rows.append(
                {
                    "text": str(it["text"]),
                    "gold": gold,
                    "kind": [str(k) for k in (kind if isinstance(kind, list) else [kind])],
                }
            )
        out[q] = rows
    if problems:
        raise ValueError(f"{paths.relative(path)}: " + "; ".join(problems))
    return out


def synthetic_pool(frames, codebook) -> dict[str, list[dict]]:
    """The synthetic export's answers with the theme each was written for (generator's truth), per question."""
    frame = synthesize(codebook=codebook)
    out = {}
    for name, f in frames.items():
        cols = [codebook.variables[t].source for t in f.texts]
        code_col = codebook.variables[name].source
        rows = []
        for _, r in frame[cols + [code_col]].iterrows():
            text = " | ".join(str(r[c]).strip() for c in cols if isinstance(r[c], str) and str(r[c]).strip())
            if text and r[code_col] == r[code_col]:
                rows.append({"text": text, "gold": [int(r[code_col])], "kind": ["generator"]})
        out[name] = rows
    return out


def score(frame, coder_, items) -> list[dict]:
    out = []
    for it in items:
        p = coder_.propose(it["text"])
        out.append(
            {
                "right": p.code in it["gold"],
                "code": p.code,
                "gold": it["gold"],
                "kind": it["kind"],
                "band": p.band,
                "not_coded": p.code == frame.not_coded,
                "gold_not_coded": it["gold"] == [frame.not_coded],
            }
        )
    return out


def summarise(scored: list[dict]) -> dict:
    n = len(scored)
    if not n:
        return {}
    top = [s for s in scored if s["band"] == coding.BANDS[0][1]]
    kinds = defaultdict(list)
    for s in scored:
        for k in s["kind"]:
            kinds[k].append(s["right"])
    k = coding.cohen_kappa([s["code"] for s in scored], [s["code"] if s["right"] else s["gold"][0] for s in scored])
    return {
        "n": n,
        "accuracy": sum(s["right"] for s in scored) / n,
        "kappa": k.kappa,
        "not_coded_proposed": sum(s["not_coded"] for s in scored) / n,
        "not_coded_gold": sum(s["gold_not_coded"] for s in scored) / n,
        "top_band_n": len(top),
        "top_band_share": len(top) / n,
        "top_band_accuracy": (sum(s["right"] for s in top) / len(top)) if top else None,
        "by_kind": {kk: {"n": len(v), "accuracy": sum(v) / len(v)} for kk, v in sorted(kinds.items())},
    }


def _mean(dicts: list[dict]) -> dict:
    """The average of several summaries (same keys), counts averaged too."""
    out = {}
    for key in dicts[0]:
        vals = [d[key] for d in dicts if d.get(key) is not None]
        if key == "by_kind":
            out[key] = _mean_kinds([d[key] for d in dicts])
        elif not vals:
            out[key] = None
        else:
            out[key] = sum(vals) / len(vals)
    return out


def _mean_kinds(list_of: list[dict]) -> dict:
    keys = sorted({k for d in list_of for k in d})
    return {k: _mean([d[k] for d in list_of if k in d]) for k in keys}


def learning_curve(test, pool, frames, steps=STEPS, repeats=REPEATS, seed=SEED) -> dict:
    """Per k: the summary over every question (pooled answers) and per question, averaged over the draws."""
    curve = {}
    for k in steps:
        runs = []
        per_q = defaultdict(list)
        for rep in range(1 if k == 0 else repeats):
            all_scored = []
            for q, frame in frames.items():
                items = test.get(q) or []
                if not items:
                    continue
                rng = random.Random(f"{seed}:{q}:{k}:{rep}")
                drawn = rng.sample(pool.get(q, []), min(k, len(pool.get(q, [])))) if k else []
                c = coding.Coder(frame, [(d["text"], d["gold"]) for d in drawn]) if k else coding.coder(frame)
                sc = score(frame, c, items)
                per_q[q].append(summarise(sc))
                all_scored += sc
            runs.append(summarise(all_scored))
        curve[k] = {"all": _mean(runs), "questions": {q: _mean(v) for q, v in per_q.items()}}
    return curve


def _round(x):
    if isinstance(x, float):
        return round(x, 4)
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    return x


def evaluate(with_pool: bool = True) -> dict:
    cb = load_codebook()
    frames = coding.load_frames(cb)
    test = load_set(TEST, frames)
    dev = load_set(DEV, frames) if DEV.exists() else {}
    result = {
        "test_set": paths.relative(TEST),
        "n_test": sum(len(v) for v in test.values()),
        "dev_set": paths.relative(DEV),
        "n_dev": sum(len(v) for v in dev.values()),
    }
    result["dev_at_0"] = (
        _round(summarise([s for q, f in frames.items() for s in score(f, coding.coder(f), dev.get(q, []))]))
        if dev
        else {}
    )
    if with_pool:
        synth = synthetic_pool(frames, cb)
        pool = {q: dev.get(q, []) + synth.get(q, []) for q in frames}
        result["pool"] = {q: {"dev": len(dev.get(q, [])), "synthetic": len(synth.get(q, []))} for q in frames}
        result["repeats"] = REPEATS
        result["curve"] = {int(k): _round(v) for k, v in learning_curve(test, pool, frames).items()}
    else:
        result["curve"] = {0: _round(learning_curve(test, {}, frames, steps=(0,))[0])}
    return result


def curve_markdown(result: dict) -> str:
    """The curve and the by-kind table as Markdown (docs/coding.md)."""

    def md(df):
        cols = list(df.columns)
        out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in df.itertuples(index=False):
            out.append(
                "| "
                + " | ".join(
                    "–"
                    if x is None or x != x
                    else (
                        f"{x:.1f}"
                        if isinstance(x, float) and abs(x) > 1.5
                        else (f"{x:.2f}" if isinstance(x, float) else str(x))
                    )
                    for x in r
                )
                + " |"
            )
        return "\n".join(out)

    return md(curve_table(result)) + "\n\n" + md(kind_table(result))


DOCS = paths.ROOT / "docs" / "coding.md"
BEGIN, END = "<!-- coding_eval:begin -->", "<!-- coding_eval:end -->"


def write_docs(result: dict) -> None:
    """Put the curve's tables between the markers of docs/coding.md."""
    text = DOCS.read_text(encoding="utf-8")
    a, b = text.index(BEGIN) + len(BEGIN), text.index(END)
    zero = result["curve"][0]["all"]
    dev = result.get("dev_at_0") or {}
    lines = [
        f"Test set: {result['n_test']} answers; dev set: {result['n_dev']} answers; "
        f"draws per step: {result.get('repeats', 1)}; pool per question: "
        + ", ".join(f"{q} {v['dev']} dev + {v['synthetic']} synthetic" for q, v in (result.get("pool") or {}).items()),
        "",
        f"At 0 reviews, dev set: {100 * dev.get('accuracy', float('nan')):.1f} % right, kappa "
        f"{dev.get('kappa', float('nan')):.2f}; test set: {100 * zero['accuracy']:.1f} % right, kappa {zero['kappa']:.2f}.",
        "",
        curve_markdown(result),
    ]
    DOCS.write_text(text[:a] + "\n" + "\n".join(lines) + "\n" + text[b:], encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--write",
        action="store_true",
        help=f"store the result in {paths.relative(RESULT)} and its tables in {paths.relative(DOCS)}",
    )
    ap.add_argument(
        "--docs-only", action="store_true", help="only rewrite the tables in docs/coding.md from the stored result"
    )
    args = ap.parse_args(argv)
    if args.docs_only:
        write_docs(load_result())
        return 0
    if not TEST.exists():
        print(f"BUILD FAILED: the evaluation set {paths.relative(TEST)} is missing", file=sys.stderr)
        return 1
    result = evaluate()
    text = yaml.safe_dump(result, allow_unicode=True, sort_keys=False)
    if args.write:
        RESULT.write_text(
            "# Computed by python -m src.synthetic.coding_eval --write; do not edit.\n" + text, encoding="utf-8"
        )
        write_docs(result)
    print(text)
    print(curve_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
