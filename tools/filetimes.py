"""Where the test time goes, per test file: a pytest plugin and its report (docs/development.md).

    make test ARGS="-p tools.filetimes"          # each test process writes .filetimes/<worker>.json
    .venv/bin/python tools/filetimes.py          # the table: per file, tests, wall and CPU seconds

Per test (setup, call and teardown; a fixture's setup counts for the test that needed it first), the wall
time and the CPU time of the test process and of every process it started and waited for (``getrusage``:
the builds, their doit workers and kernels), added up per file. Under pytest-xdist each worker writes its own
file; the report adds them up. The two workers run at the same time, so the files' wall times add up to
about twice the run's; compare CPU times on a shared machine.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

OUT = Path(".filetimes")  # in the folder pytest runs in (git-ignored)

_files: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])


def _cpu() -> float:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    wall, cpu = time.perf_counter(), _cpu()
    yield
    f = _files[item.path.name]
    f[0] += 1
    f[1] += time.perf_counter() - wall
    f[2] += _cpu() - cpu


def pytest_sessionstart(session):
    if os.environ.get("PYTEST_XDIST_WORKER") is None:  # the run's own process: the last run's files go
        for f in OUT.glob("*.json"):
            f.unlink()


def pytest_sessionfinish(session):
    if not _files:  # the xdist controller runs no test
        return
    OUT.mkdir(exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    (OUT / f"{worker}.json").write_text(json.dumps(_files, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def table(folder: Path = OUT) -> str:
    """The Markdown table of every worker's file in ``folder``, longest CPU first."""
    total: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for f in sorted(folder.glob("*.json")):
        for name, (n, wall, cpu) in json.loads(f.read_text(encoding="utf-8")).items():
            t = total[name]
            t[0] += n
            t[1] += wall
            t[2] += cpu
    lines = ["| file | tests | wall (s) | CPU (s) |", "|---|---:|---:|---:|"]
    for name, (n, wall, cpu) in sorted(total.items(), key=lambda kv: -kv[1][2]):
        lines.append(f"| `{name}` | {n} | {wall:.0f} | {cpu:.0f} |")
    n, wall, cpu = (sum(t[i] for t in total.values()) for i in range(3))
    lines.append(f"| all files (summed over the workers) | {n} | {wall:.0f} | {cpu:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
