"""How right the open-answer coder is on answers it has never seen: the learning curve.

    python -m src.synthetic.coding_eval [--write]

Two hand-written sets of answers with gold themes (synthetic; they describe
nobody), ``{theme variable: [{text, gold: [codes], kind: [...]}]}``:

- the **examples** ``data/coding_examples.yml`` (340): the coder's model
  starts from them in every export (src/data/coding.py, ``Frame.answers``),
  and they are the development set, read answer by answer for error analysis;
- the **holdout** ``tests/data/coding_eval_holdout.yml`` (600, 150 per
  frame), written independently from the report and the frames' definitions
  by someone who had seen neither the rules, the generator nor the examples;
  only aggregate figures of it were ever looked at, no rule, word or threshold
  was chosen from it.

The learning curve on the holdout, per frame, as a researcher's review goes:
the holdout's answers of the frame are the export; the researcher reviews the
first k answers *in the order the review sheet presents them* (the seeded
random audit sample of ``coding.AUDIT_SIZE`` first, then the rest least sure
first, both ordered by the unreviewed coder's confidence, as
``coding.update_sheet`` writes them); the coder is trained on those k (with
the frame and the examples as its start) and scored on the frame's other
answers, which it has never seen. k = 0 is scored on all of them. Each
k > 0 is repeated ``REPEATS`` times with another seed of the audit sample;
mean and spread (standard deviation over the repeats) are reported. Because
the sheet order puts the hardest answers first, the rest is easier than the
whole; the unreviewed coder's accuracy on the same rest is reported beside it
(``baseline_accuracy``), so what the reviews taught is the difference. The
same with the k answers drawn at random (``curve_random``) shows the learning
without that selection.

The development figures (``dev``) are the same on the examples, five-fold
cross-validated: the answers scored are never among the model's examples.

A proposal is right when its theme is one of the answer's gold themes.
``--write`` stores the result in ``data/reference/coding_eval.yml``, which
the method chapter (01_cleaning) and docs/coding.md show; a test checks that
the stored 0-review figures are what this module computes.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import random
import sys
from collections import defaultdict
from pathlib import Path

import yaml

from src.base import paths
from src.base.codebook import load as load_codebook
from src.data import coding
from src.data.coding_curve import RESULT, curve_table, kind_table, load_result

EXAMPLES = paths.CODEBOOK.parent / coding.EXAMPLES
HOLDOUT = paths.ROOT / "tests" / "data" / "coding_eval_holdout.yml"
STEPS = (0, 25, 50, 100)
DEV_STEPS = (0, 25, 50)  # 85 examples per frame: 100 reviews would leave none to score
REPEATS = 5
FOLDS = 5
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


def score(frame, coder_, items) -> list[dict]:
    out = []
    for it, p in zip(items, coder_.propose_many([it["text"] for it in items])):
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
    """The average of several summaries (same keys), counts averaged too; ``accuracy_sd`` their spread."""
    out = {}
    for key in dicts[0]:
        vals = [d[key] for d in dicts if d.get(key) is not None]
        if key == "by_kind":
            out[key] = _mean_kinds([d[key] for d in dicts])
        elif not vals:
            out[key] = None
        else:
            out[key] = sum(vals) / len(vals)
    if len(dicts) > 1 and "accuracy" in out:
        acc = [d["accuracy"] for d in dicts]
        m = sum(acc) / len(acc)
        out["accuracy_sd"] = math.sqrt(sum((a - m) ** 2 for a in acc) / (len(acc) - 1))
    return out


def _mean_kinds(list_of: list[dict]) -> dict:
    keys = sorted({k for d in list_of for k in d})
    return {k: _mean([d[k] for d in list_of if k in d]) for k in keys}


def sheet_order(frame, items, confidence: list[float], seed: str) -> list[int]:
    """The order in which the review sheet presents ``items`` (indices): the seeded random audit sample
    (``coding.AUDIT_SIZE``) first, then the rest; each part least sure first (as ``coding.update_sheet``)."""
    ranked = sorted(range(len(items)), key=lambda i: hashlib.sha256(f"{seed}:{frame.name}:{i}".encode()).hexdigest())
    audit = set(ranked[: coding.AUDIT_SIZE])
    return sorted(range(len(items)), key=lambda i: (i not in audit, confidence[i], i))


def random_order(frame, items, seed: str) -> list[int]:
    order = list(range(len(items)))
    random.Random(f"{seed}:{frame.name}").shuffle(order)
    return order


def learning_curve(scored_set, frames, prior=None, steps=STEPS, repeats=REPEATS, seed=SEED, order="sheet") -> dict:
    """Per k: the summary over every question (pooled answers) and per question, averaged over the repeats.

    ``scored_set`` is the export: per frame its first k answers in review order are the reviews, the rest
    is scored. ``prior``: the labelled examples the model starts from per frame (None: the frame's own).
    ``baseline_accuracy``: the unreviewed coder on the same rest.
    """
    curve = {}
    zero = {}
    for q, frame in frames.items():
        items = scored_set.get(q) or []
        c0 = coding.Coder(frame, prior=None if prior is None else prior.get(q, []))
        props = c0.propose_many([it["text"] for it in items])
        zero[q] = (c0, [p.confidence for p in props])
    for k in steps:
        runs, base_runs = [], []
        per_q = defaultdict(list)
        for rep in range(1 if k == 0 else repeats):
            all_scored, all_base = [], []
            for q, frame in frames.items():
                items = scored_set.get(q) or []
                if len(items) <= k:
                    continue
                c0, conf = zero[q]
                s = f"{seed}:{rep}"
                idx = sheet_order(frame, items, conf, s) if order == "sheet" else random_order(frame, items, s)
                reviewed, rest = [items[i] for i in idx[:k]], [items[i] for i in idx[k:]]
                c = (
                    coding.Coder(
                        frame,
                        [(d["text"], d["gold"]) for d in reviewed],
                        prior=None if prior is None else prior.get(q, []),
                    )
                    if k
                    else c0
                )
                sc = score(frame, c, rest)
                per_q[q].append(summarise(sc))
                all_scored += sc
                all_base += score(frame, c0, rest) if k else sc
            if all_scored:
                runs.append(summarise(all_scored))
                base_runs.append(summarise(all_base)["accuracy"])
        if runs:
            curve[k] = {"all": _mean(runs), "questions": {q: _mean(v) for q, v in per_q.items()}}
            curve[k]["all"]["baseline_accuracy"] = sum(base_runs) / len(base_runs)
    return curve


def cross_validated_zero(examples, frames, folds=FOLDS, seed=SEED) -> dict:
    """The unreviewed coder on the examples, ``folds``-fold: each answer scored by a model that never saw it."""
    scored = []
    for q, frame in frames.items():
        items = examples.get(q) or []
        order = random_order(frame, items, f"{seed}:folds")
        fold_of = {i: n % folds for n, i in enumerate(order)}
        for f in range(folds):
            train = [(it["text"], it["gold"]) for i, it in enumerate(items) if fold_of[i] != f]
            test = [it for i, it in enumerate(items) if fold_of[i] == f]
            scored += score(frame, coding.Coder(frame, prior=train), test)
    return summarise(scored)


def _round(x):
    if isinstance(x, float):
        return round(x, 4)
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    return x


def zero_on_holdout(frames=None) -> dict:
    """The 0-review figures on the holdout (what the test recomputes): the coder as every export starts."""
    frames = frames or coding.load_frames(load_codebook())
    holdout = load_set(HOLDOUT, frames)
    return _round(learning_curve(holdout, frames, steps=(0,))[0])


def evaluate() -> dict:
    frames = coding.load_frames(load_codebook())
    examples = load_set(EXAMPLES, frames)
    holdout = load_set(HOLDOUT, frames)
    result = {
        "holdout": paths.relative(HOLDOUT),
        "n_holdout": sum(len(v) for v in holdout.values()),
        "examples": paths.relative(EXAMPLES),
        "n_examples": sum(len(v) for v in examples.values()),
        "order": "sheet: the random audit sample first, then least sure first",
        "repeats": REPEATS,
        "audit_size": coding.AUDIT_SIZE,
        "curve": {int(k): _round(v) for k, v in learning_curve(holdout, frames).items()},
        "curve_random": {int(k): _round(v) for k, v in learning_curve(holdout, frames, order="random").items()},
    }
    # answers of the holdout worded as an example (short ones: «vet ikke», «Bemanning»): the model has seen
    # their words with a theme, so the 0-review figure is also given without them
    seen = {coding.wording(t) for f in frames.values() for t, _ in f.answers}
    fresh = {q: [it for it in v if coding.wording(it["text"]) not in seen] for q, v in holdout.items()}
    result["n_holdout_worded_as_an_example"] = result["n_holdout"] - sum(len(v) for v in fresh.values())
    result["zero_without_them"] = _round(learning_curve(fresh, frames, steps=(0,))[0]["all"])
    # development figures: the examples as the export; the model starts from the frame alone (its examples
    # are the answers scored), and at 0 reviews five-fold cross-validated with the other examples as its start
    no_examples = {q: [] for q in frames}
    result["dev"] = {
        "zero_cross_validated": _round(cross_validated_zero(examples, frames)),
        "curve": {int(k): _round(v) for k, v in learning_curve(examples, frames, no_examples, DEV_STEPS).items()},
        "curve_random": {
            int(k): _round(v)
            for k, v in learning_curve(examples, frames, no_examples, DEV_STEPS, order="random").items()
        },
    }
    return result


def _md(df) -> str:
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


def curve_markdown(result: dict) -> str:
    """The curve and the by-kind table as Markdown (docs/coding.md)."""
    return _md(curve_table(result)) + "\n\n" + _md(kind_table(result))


DOCS = paths.ROOT / "docs" / "coding.md"
BEGIN, END = "<!-- coding_eval:begin -->", "<!-- coding_eval:end -->"


def _short(a: dict, k) -> str:
    sd = a.get("accuracy_sd")
    return (
        f"{k}: {100 * a['accuracy']:.1f}"
        + (f" (± {100 * sd:.1f})" if sd is not None else "")
        + f", unreviewed coder on the same answers {100 * a['baseline_accuracy']:.1f}"
    )


def write_docs(result: dict) -> None:
    """Put the curve's tables between the markers of docs/coding.md."""
    text = DOCS.read_text(encoding="utf-8")
    a, b = text.index(BEGIN) + len(BEGIN), text.index(END)
    dev = result["dev"]
    lines = [
        f"Holdout: {result['n_holdout']} answers; examples (development set): {result['n_examples']}; "
        f"reviews in the sheet's order (random audit sample of {result['audit_size']} first, then least sure "
        f"first), {result['repeats']} seeds of the audit sample per step.",
        "",
        curve_markdown(result),
        "",
        "Percent right on the answers not reviewed, mean (± standard deviation over the seeds), beside the "
        "unreviewed coder on the same answers:",
        "",
        "- holdout, sheet order: " + "; ".join(_short(v["all"], k) for k, v in sorted(result["curve"].items())),
        "- holdout, random order: " + "; ".join(_short(v["all"], k) for k, v in sorted(result["curve_random"].items())),
        f"- holdout at 0 reviews without its {result['n_holdout_worded_as_an_example']} answers worded as one of "
        f"the examples (mostly non-answers and one-word answers): {100 * result['zero_without_them']['accuracy']:.1f} "
        f"% right, kappa {result['zero_without_them']['kappa']:.2f}, not coded "
        f"{100 * result['zero_without_them']['not_coded_proposed']:.1f} % proposed against "
        f"{100 * result['zero_without_them']['not_coded_gold']:.1f} % gold",
        f"- examples, five-fold cross-validated at 0 reviews: {100 * dev['zero_cross_validated']['accuracy']:.1f} % "
        f"right, kappa {dev['zero_cross_validated']['kappa']:.2f}, not coded "
        f"{100 * dev['zero_cross_validated']['not_coded_proposed']:.1f} % proposed against "
        f"{100 * dev['zero_cross_validated']['not_coded_gold']:.1f} % gold",
        "- examples as the export (the model without them), sheet order: "
        + "; ".join(_short(v["all"], k) for k, v in sorted(dev["curve"].items())),
        "- examples as the export, random order: "
        + "; ".join(_short(v["all"], k) for k, v in sorted(dev["curve_random"].items())),
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
    for p in (EXAMPLES, HOLDOUT):
        if not p.exists():
            print(f"BUILD FAILED: the evaluation set {paths.relative(p)} is missing", file=sys.stderr)
            return 1
    try:
        result = evaluate()
    except ValueError as exc:
        print(f"BUILD FAILED: {exc}", file=sys.stderr)
        return 1
    text = yaml.safe_dump(result, allow_unicode=True, sort_keys=False)
    if args.write:
        RESULT.write_text(
            "# Computed by python -m src.synthetic.coding_eval --write; do not edit.\n" + text, encoding="utf-8"
        )
        write_docs(result)
    print(curve_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
