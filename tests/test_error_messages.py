"""Failures that ended in a traceback or in a message naming neither what nor where (#28).

Each must end in one «BUILD FAILED» block naming the file, the column, the
question or the folder, with no traceback and no value from the data. (The
export-level cases are in tests/bad_inputs/cases.yml.)
"""

import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from src.analysis import measures
from src.base import paths


def test_a_question_nobody_answered_is_named_with_its_cause(codebook):
    """A share of a question with no valid answers: the question, its column and the cause, not
    «weighted_share: need at least 2 valid answers» (which named neither)."""
    data = pd.DataFrame({"amu_member": [np.nan] * 30, "role_group": [1.0] * 30, "weight": np.ones(30)})
    spec = {"stat": "pct", "var": "amu_member", "code": 1, "where": "role_group == 1"}
    with pytest.raises(measures.MeasureError) as err:
        measures.interval(spec, data, codebook)
    msg = str(err.value)
    assert msg.startswith(
        "question 'amu_member' (column 's_11') has no valid answer(s) among those where "
        "role_group == 1: a share or mean with its confidence interval needs at least 2"
    ), msg
    with pytest.raises(measures.MeasureError, match="question 'amu_member' .* has no valid answer"):
        measures.interval(spec, data, codebook, weighted=True)


def test_data_raw_read_only_without_the_default_export_is_one_clear_message(tmp_path):
    """data/raw on a read-only mount and no export yet: the generator cannot write it. One BUILD FAILED
    line naming the file and the folder, no PyreadstatError traceback. The test mounts data/raw read-only
    in a private mount namespace (unshare -m); it skips where the machine does not allow that."""
    if not shutil.which("unshare"):
        pytest.skip("no unshare on this machine: cannot make a read-only mount")
    probe = tmp_path / "probe"
    probe.mkdir()
    ro = f"mount --bind {probe} {probe} && mount -o remount,bind,ro {probe} && ! touch {probe}/x"
    if subprocess.run(["unshare", "-m", "sh", "-c", ro], capture_output=True).returncode != 0:
        pytest.skip("this machine does not allow a read-only bind mount in a private namespace (unshare -m)")
    root = paths.copy_project(tmp_path / "project")
    raw = root / "data" / "raw"
    before = sorted(p.name for p in raw.iterdir())
    cmd = (
        f"mount --bind {raw} {raw} && mount -o remount,bind,ro {raw} && "
        f"exec {sys.executable} -m src.pipeline --renderer fallback"
    )
    proc = subprocess.run(["unshare", "-m", "sh", "-c", cmd], cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "BUILD FAILED: Cannot write the synthetic export data/raw/verneombud_2024_synthetic.sav" in proc.stderr
    assert "data/raw is not writable" in proc.stderr, proc.stderr
    assert proc.stderr.count("BUILD FAILED") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert sorted(p.name for p in raw.iterdir()) == before
    assert not (root / "reports" / paths.BOOK_DIR).exists()


WORKER = r"""
import multiprocessing, os, signal, sys, time
from src.pipeline import cli

def work():
    print("ready", flush=True)
    time.sleep(60)

if __name__ == "__main__":
    os.environ["VO_BUILD"] = str(os.getpid())            # as cli.build sets it
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, cli._on_signal)               # as cli.main installs it; doit's workers inherit it
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=work) for _ in range(2)]
    for p in procs:
        p.start()
    time.sleep(1.5)
    for p in procs:                                      # the terminal's hangup reaches every process,
        os.kill(p.pid, signal.SIGHUP)                    # then doit terminates its workers (SIGTERM)
    time.sleep(0.5)
    for p in procs:
        p.terminate()
        p.join()
"""


def test_a_signal_to_a_parallel_builds_workers_prints_no_traceback(tmp_path):
    """SIGHUP during a parallel build (the render) printed two tracebacks, one per doit worker, before
    the correct «BUILD INTERRUPTED» line: the workers inherit the build's signal handler. Now a worker
    unwinds silently and the build's own process says it once."""
    script = tmp_path / "workers.py"
    script.write_text(WORKER, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], cwd=paths.ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.count("ready") == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


def test_a_huge_or_numpy_non_finite_number_is_printed_not_a_decimal_error():
    """A tiny real export (40 respondents) made a statistic explode (a coefficient or interval of 1e30);
    rounding it as the report does raised decimal.InvalidOperation, a traceback naming nothing."""
    from src.base.numbers import fmt_number, round_half_up

    assert round_half_up(1e30, 2) == 1e30 and round_half_up(-3e26, 1) == -3e26
    assert fmt_number(1e30, 2, "en").startswith("1,000,000,000,000,000,019")
    assert round_half_up(np.float32("inf"), 1) == float("inf")
    assert round_half_up(2.675, 2) == 2.68 and round_half_up(0.125, 2) == 0.13  # still the report's rounding
