"""The open-answer coder measured on answers it has never seen (src/synthetic/coding_eval.py, #29)."""

from __future__ import annotations

import pytest

from src.base.codebook import load as load_codebook
from src.data import coding
from src.synthetic import coding_eval

MARGIN = 0.02  # a change that costs more than two points at 0 reviews fails
MIN_ZERO_ACCURACY = 0.90  # the bar, on the independent holdout (600 answers)


@pytest.fixture(scope="module")
def frames():
    return coding.load_frames(load_codebook())


@pytest.fixture(scope="module")
def zero(frames):
    return coding_eval.zero_on_holdout(frames)


def test_the_evaluation_sets_parse_and_cover_every_question(frames):
    for path in (coding_eval.EXAMPLES, coding_eval.HOLDOUT):
        data = coding_eval.load_set(path, frames)
        assert set(data) == set(frames), path
        assert all(len(v) >= 20 for v in data.values()), path
    # the examples are what the coder starts from in every export
    assert all(
        len(f.answers) == len(v)
        for f, v in zip(frames.values(), coding_eval.load_set(coding_eval.EXAMPLES, frames).values())
    )


def test_the_holdout_without_answers_worded_as_an_example_is_still_above_the_bar(frames):
    """The model starts from the examples: the holdout's answers worded as one of them (short ones) are set
    aside, and the rest still reaches the bar; the stored figure is what the module computes."""
    seen = {coding.wording(t) for f in frames.values() for t, _ in f.answers}
    hold = coding_eval.load_set(coding_eval.HOLDOUT, frames)
    fresh = {q: [it for it in v if coding.wording(it["text"]) not in seen] for q, v in hold.items()}
    stored = coding_eval.load_result()
    n_fresh = sum(len(v) for v in fresh.values())
    assert stored["n_holdout_worded_as_an_example"] == stored["n_holdout"] - n_fresh < stored["n_holdout"] / 10
    got = coding_eval._round(coding_eval.learning_curve(fresh, frames, steps=(0,))[0]["all"])
    assert got == stored["zero_without_them"] and got["accuracy"] >= MIN_ZERO_ACCURACY


def test_zero_review_accuracy_on_the_holdout_does_not_regress(zero):
    acc = zero["all"]["accuracy"]
    stored = coding_eval.load_result()["curve"][0]["all"]["accuracy"]
    assert acc >= MIN_ZERO_ACCURACY, f"0-review accuracy {acc:.3f} on the holdout, below {MIN_ZERO_ACCURACY}"
    assert acc >= stored - MARGIN, f"0-review accuracy {acc:.3f}, the stored result says {stored:.3f}"


def test_the_stored_result_is_what_the_module_computes(zero, frames):
    """data/reference/coding_eval.yml (shown by 01_cleaning and docs/coding.md) is computed, not typed."""
    stored = coding_eval.load_result()
    assert stored["curve"][0] == zero, "run python -m src.synthetic.coding_eval --write"
    assert stored["n_holdout"] == sum(len(v) for v in coding_eval.load_set(coding_eval.HOLDOUT, frames).values())
    assert stored["n_examples"] == sum(len(f.answers) for f in frames.values())


def test_the_highest_band_is_nearly_always_right_and_not_coded_near_the_truth(zero):
    a = zero["all"]
    assert a["top_band_accuracy"] >= 0.97 and a["top_band_n"] >= 30
    assert abs(a["not_coded_proposed"] - a["not_coded_gold"]) <= 0.05


def test_reviews_are_scored_only_on_answers_not_reviewed(frames):
    """The curve trains on the first k answers in the sheet's order and scores the rest: never a reviewed one."""
    q = "insufficient_time_theme"
    items = coding_eval.load_set(coding_eval.EXAMPLES, frames)[q][:40]
    curve = coding_eval.learning_curve({q: items}, {q: frames[q]}, {q: []}, steps=(0, 10), repeats=2)
    assert curve[0]["all"]["n"] == 40 and curve[10]["all"]["n"] == 30
    assert curve[10]["all"]["baseline_accuracy"] is not None and "accuracy_sd" in curve[10]["all"]
    conf = [0.5] * 40
    order = coding_eval.sheet_order(frames[q], items, conf, "s")
    assert sorted(order) == list(range(40)) and order == coding_eval.sheet_order(frames[q], items, conf, "s")
    first = set(order[: coding.AUDIT_SIZE])
    assert first != set(coding_eval.sheet_order(frames[q], items, conf, "t")[: coding.AUDIT_SIZE])  # seeded


def test_the_sheet_order_puts_the_audit_sample_first_then_the_least_sure(frames):
    q = "insufficient_time_theme"
    items = [{"text": str(i)} for i in range(60)]
    conf = [(i * 37 % 60) / 60 for i in range(60)]
    order = coding_eval.sheet_order(frames[q], items, conf, "s")
    audit, rest = order[: coding.AUDIT_SIZE], order[coding.AUDIT_SIZE :]
    assert [conf[i] for i in rest] == sorted(conf[i] for i in rest)
    assert [conf[i] for i in audit] == sorted(conf[i] for i in audit)


def test_the_coder_learns_from_the_reviews(frames):
    """A word no rule and no example knows: after a few reviews the coder proposes the researcher's theme."""
    f = frames["insufficient_time_theme"]
    new = "Sparekniven rammer oss hardt"
    before = coding.Coder(f).propose(new)
    reviewed = [
        ("Sparekniven har gått over oss", [5]),
        ("Sparekniven igjen, ingen vikarer", [5]),
        ("sparekniven", [5]),
        ("Det er den evige sparekniven", [5]),
    ]
    after = coding.Coder(f, reviewed).propose(new)
    assert before.code != 5 and after.code == 5, (before, after)
    # the same words as a decided answer: the researcher's decision, in any case, spelling or order
    again = coding.Coder(f, [("Vi mangler folk på gølvet", [3])]).propose("på gølvet mangler vi FOLK")
    assert again.code == 3 and again.why.startswith("samme ord")


def test_a_bad_examples_file_is_refused_naming_file_frame_and_answer(tmp_path):
    import shutil

    from src.base import paths
    from src.base.codebook import CodebookError, load

    shutil.copy(paths.CODEBOOK, tmp_path / "codebook.yml")
    (tmp_path / coding.EXAMPLES).write_text(
        "insufficient_time_theme:\n  - {text: 'For lite folk', gold: [3]}\n  - {text: 'Noe', gold: [42]}\n"
        "no_such_frame:\n  - {text: 'x', gold: [1]}\n",
        encoding="utf-8",
    )
    with pytest.raises(CodebookError) as err:
        coding.load_frames(load(tmp_path / "codebook.yml"))
    msg = str(err.value)
    assert "coding_examples.yml: insufficient_time_theme[1]: needs a text and gold codes" in msg
    assert "'no_such_frame' is not a coding frame" in msg and "For lite folk" not in msg
    (tmp_path / coding.EXAMPLES).write_text("insufficient_time_theme:\n  - {text: 'For lite folk', gold: [3]}\n")
    frames = coding.load_frames(load(tmp_path / "codebook.yml"))
    assert frames["insufficient_time_theme"].answers == (("For lite folk", (3,)),)
    assert frames["future_input_theme"].answers == ()


def test_the_readme_shows_the_stored_learning_curve():
    """The README's coder table is typed by hand: it must say what data/reference/coding_eval.yml says."""
    import re

    from src.base import paths

    readme = (paths.ROOT / "README.md").read_text(encoding="utf-8")
    stored = coding_eval.load_result()
    rows = {
        "right (%), reviews in the sheet's order": ("curve", "accuracy", 100, 1),
        "… the unreviewed coder on those same answers": ("curve", "baseline_accuracy", 100, 1),
        "right (%), reviews in random order": ("curve_random", "accuracy", 100, 1),
        "Cohen's kappa (sheet's order)": ("curve", "kappa", 1, 2),
    }
    for label, (curve, key, scale, digits) in rows.items():
        line = re.search(rf"^\| {re.escape(label)} \|(.*)\|$", readme, re.M)
        assert line, f"README: no row «{label}» in the coder's table"
        shown = [float(c) for c in line.group(1).split("|")]
        want = [round(stored[curve][k]["all"][key] * scale, digits) for k in (0, 25, 50, 100)]
        assert shown == want, f"README row «{label}»: {shown}, the stored result says {want}"
    zero = stored["curve"][0]["all"]
    for value in (zero["not_coded_proposed"], zero["not_coded_gold"], zero["top_band_accuracy"]):
        assert f"{value * 100:.1f} %" in readme, f"README: {value * 100:.1f} % (stored at 0 reviews) not found"
