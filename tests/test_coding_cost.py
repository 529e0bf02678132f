"""What one open answer may cost the coder (#28): linear in its length, and capped.

A pasted log or a hostile answer of a megabyte without spaces once kept the
build in ``src/data/coding.py`` for minutes before any notebook started (the
``[a-z0-9]*`` around an indicator word scanned the whole run from every
position: 8 000 characters 2.75 s, 16 000 12.3 s). CPU time of this process
(``time.process_time``), with bounds far above what the linear coder needs
(milliseconds) and far below what the quadratic one took.
"""

import time

import pytest

from src.data import coding, norwegian


@pytest.fixture(scope="module")
def frames():
    frames = list(coding.load_frames().values())
    for f in frames:  # the first pass's model of each frame is trained at its first answer: not what is measured
        coding.propose(f, "kurs")
    return frames


def cpu(frames, text):
    t0 = time.process_time()
    out = [coding.propose(f, text) for f in frames]
    return time.process_time() - t0, out


def test_a_megabyte_answer_without_spaces_costs_well_under_a_second(frames):
    spent, out = cpu(frames, "opplaering" * 100_000)  # 1 000 000 characters, one "word"
    assert spent < 1.5, f"{spent:.2f} s CPU for one 1 MB answer"
    assert all(p.code == f.not_coded for p, f in zip(out, frames))  # no word, no theme
    assert all("bare de første" in p.why for p in out)  # the review sheet says the answer was cut
    assert 4000 <= norwegian.MAX_CHARS  # (the next test's answer is below the cap)


def test_cost_is_linear_below_the_cap(frames):
    # 4 000 characters without spaces (below the cap, so the cap alone cannot explain it): the
    # quadratic coder took about 0.5 s per frame here, the linear one a few milliseconds.
    spent, _ = cpu(frames, "ab" * 2000)
    assert spent < 0.3, f"{spent:.2f} s CPU for a 4 000-character answer"


def test_long_answers_are_still_coded_by_their_words(frames):
    f = next(fr for fr in frames if fr.name == "hvo_further_training_theme")
    theme = next(iter(f.themes.values()))
    short = coding.propose(f, theme.indicators[0].replace("=", "").replace("^", "").replace(" + ", " "))
    padded = coding.propose(
        f, "x" * 500 + " " + theme.indicators[0].replace("=", "").replace("^", "").replace(" + ", " ") + " " + "y" * 500
    )
    assert short.code == padded.code == theme.code
