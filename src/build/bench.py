"""Benchmark of the build (``make bench``): prints figures, asserts nothing.

    python -m src.build.bench                  # everything, medians over --repeat runs
    python -m src.build.bench --repeat 1 --sizes 10   # quicker: one run each, 10x only

Works in a temporary copy of the project (the user's reports/ are not
touched) and prints, as medians over repeated runs on this machine:

* cold build (no derived data, no executed notebooks, the export present),
* no-op rebuild, rebuild after touching one chapter, after touching src/helpers.py,
* per notebook: kernel start-up/shutdown vs execution (papermill's cell times),
* synthesis and render time,
* the compute floor: the same notebooks' code run back to back in one Python
  process, no kernels, no rendering; and cold build / floor,
* the cold build at larger sizes (synthesizer ``size``) with peak memory
  (all processes of the build together), to show how time grows with n.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from src.base import paths

CHAPTER = "05_course_format"     # the chapter the "touch one chapter" measurement edits


class PeakMemory:
    """Samples the summed RSS of a process and all its descendants (Linux /proc) until stopped."""

    def __init__(self, pid: int, every: float = 0.2):
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree_rss(self) -> int:
        children: dict[int, list[int]] = {}
        rss: dict[int, int] = {}
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(stat[1]), []).append(int(d.name))
                rss[int(d.name)] = int(stat[21]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, IndexError, ValueError):
                continue
        total, todo = 0, [self.pid]
        while todo:
            p = todo.pop()
            total += rss.get(p, 0)
            todo += children.get(p, [])
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss())
            time.sleep(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run_build(root: Path, *args: str) -> tuple[float, str, int]:
    """Run ``python -m src.build`` in ``root``; returns (seconds, stdout, peak bytes)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "src.build", "--renderer", "fallback", *args], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with PeakMemory(proc.pid) as mem:
        out, err = proc.communicate()
    took = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"build failed in {root}:\n{out[-3000:]}\n{err[-3000:]}")
    return took, out, mem.peak


def step_times(stdout: str) -> dict[str, float]:
    """Wall seconds per step from the build's progress lines ('done   nb:02_sample   8.1 s')."""
    times = {}
    for line in stdout.splitlines():
        parts = line.split("] ", 1)[-1].split()
        if len(parts) >= 3 and parts[0] == "done":
            times[parts[1]] = float(parts[2])
    return times


def clean(root: Path) -> None:
    for d in ("reports", "data/derived"):
        shutil.rmtree(root / d, ignore_errors=True)


def touch(path: Path) -> None:
    """Change a file's content (an appended comment), as an edit would."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf-8"))
        cell = next(c for c in nb["cells"] if c["cell_type"] == "code" and "parameters" not in
                    c.get("metadata", {}).get("tags", []))
        cell["source"] = ["".join(cell["source"]) + f"\n# touched {time.time_ns()}"]
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    else:
        path.write_text(path.read_text(encoding="utf-8") + f"\n# touched {time.time_ns()}\n", encoding="utf-8")


def kernel_split(reports: Path) -> list[tuple[str, float, float]]:
    """(notebook, seconds outside the cells = kernel start-up/shutdown, seconds in the cells)."""
    rows = []
    for f in sorted((reports / paths.EXECUTED_DIR).glob("*.ipynb")):
        nb = json.loads(f.read_text(encoding="utf-8"))
        total = nb["metadata"]["papermill"]["duration"]
        cells = sum((c.get("metadata", {}).get("papermill", {}).get("duration") or 0) for c in nb["cells"])
        rows.append((f.stem, total - cells, cells))
    return rows


FLOOR_SCRIPT = r"""
import contextlib, io, json, sys, time
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from src.base import paths
from src.build.cli import load_params
from src.base.contents import notebook_order
from src.build.graph import WEIGHTED_DIR

params, order = load_params(), notebook_order()
runs = [("reports_floor", False, order)] + ([] if params["weighted"] else [(f"reports_floor/{WEIGHTED_DIR}", True, order[1:])])
t0 = time.perf_counter()
for reports_dir, weighted, names in runs:
    inject = "\n".join(f"{k} = {v!r}" for k, v in dict(params, reports_dir=reports_dir, weighted=weighted).items())
    for name in names:
        ns = {"__name__": "__main__"}
        nb = json.loads((paths.NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
        with contextlib.redirect_stdout(io.StringIO()):
            for cell in nb["cells"]:
                if cell["cell_type"] == "code":
                    exec(compile("".join(cell["source"]), name, "exec"), ns)
                    if "parameters" in cell.get("metadata", {}).get("tags", []):
                        exec(inject, ns)   # as papermill injects them after the parameters cell
        plt.close("all")
print(time.perf_counter() - t0)
"""


def compute_floor(root: Path) -> float:
    """Seconds to run every notebook's code (as the build runs them) in one fresh Python process."""
    proc = subprocess.run([sys.executable, "-c", FLOOR_SCRIPT], cwd=root, capture_output=True, text=True)
    shutil.rmtree(root / "reports_floor", ignore_errors=True)
    if proc.returncode:
        raise RuntimeError(f"compute floor failed:\n{proc.stderr[-3000:]}")
    return float(proc.stdout.strip().splitlines()[-1])


def synthesis_time(root: Path, size: float, out: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "src.synthetic.synthesize", "--size", str(size), "--out", str(out)],
                            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with PeakMemory(proc.pid) as mem:
        _, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"synthesis failed: {err[-2000:]}")
    return time.perf_counter() - t0, mem.peak


def med(xs):
    return statistics.median(xs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (median printed)")
    ap.add_argument("--sizes", default="10,100", help="larger sizes for the scale runs ('' for none)")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    jobs = ["-j", str(args.jobs)]
    out = print
    with tempfile.TemporaryDirectory(prefix="vo-bench-") as tmp:
        root = paths.copy_project(Path(tmp) / "project")
        out(f"Benchmark on {os.cpu_count()} cores, {args.repeat} run(s) per figure, -j {args.jobs}; "
            f"project copy in {root}\n")
        synth = [synthesis_time(root, 1, root / "data/raw/verneombud_2024_synthetic.sav") for _ in range(args.repeat)]
        subprocess.run([sys.executable, "-m", "src.synthetic.synthesize", "--out", "data/raw/verneombud_2024_synthetic.sav"],
                       cwd=root, check=True, stdout=subprocess.DEVNULL)   # also writes the manifest and fingerprint
        cold, steps, splits, noop, one, helpers_touch = [], [], [], [], [], []
        for _ in range(args.repeat):
            clean(root)
            took, stdout, _ = run_build(root, *jobs)
            cold.append(took)
            steps.append(step_times(stdout))
            splits.append(kernel_split(root / "reports"))
            noop.append(run_build(root, *jobs)[0])
            touch(root / "notebooks" / f"{CHAPTER}.ipynb")
            one.append(run_build(root, *jobs)[0])
            touch(root / "src" / "helpers.py")
            helpers_touch.append(run_build(root, *jobs)[0])
        floor = [compute_floor(root) for _ in range(args.repeat)]
        render = med([s["book"] for s in steps])
        chapter = med([s[f"nb:{CHAPTER}"] for s in steps])
        out("| measurement | median (s) | runs |")
        out("|---|---:|---|")
        out(f"| synthesis of the export (2950 respondents) | {med([s[0] for s in synth]):.1f} | "
            f"{', '.join(f'{s[0]:.1f}' for s in synth)} |")
        for label, xs in (("cold build (no derived data, no executed notebooks)", cold),
                          ("no-op rebuild", noop), (f"rebuild after editing {CHAPTER}", one),
                          ("rebuild after editing src/helpers.py", helpers_touch), ("compute floor", floor)):
            out(f"| {label} | {med(xs):.2f} | {', '.join(f'{x:.2f}' for x in xs)} |")
        out(f"| render (fallback) | {render:.2f} | |")
        out("")
        out("Per notebook (median of the cold builds): seconds outside the cells (kernel start-up and shutdown) "
            "and in the cells:")
        out("| notebook | kernel | execution |")
        out("|---|---:|---:|")
        names = [r[0] for r in splits[0]]
        for i, name in enumerate(names):
            out(f"| {name} | {med([s[i][1] for s in splits]):.2f} | {med([s[i][2] for s in splits]):.2f} |")
        out("")
        ratio = med(cold) / med(floor)
        out(f"cold build / compute floor = {ratio:.2f}")
        out("Targets on this machine:")
        out(f"  no-op rebuild < 1 s: {med(noop):.2f} s -> {'met' if med(noop) < 1 else 'NOT met'}")
        limit = 1.5 * (chapter + render)
        out(f"  one-chapter rebuild < 1.5 x ({CHAPTER} {chapter:.1f} s + render {render:.1f} s) = {limit:.1f} s: "
            f"{med(one):.1f} s -> {'met' if med(one) < limit else 'NOT met'}")
        limit = 2 * med(floor) + render
        out(f"  cold build < 2 x floor + render = {limit:.1f} s: {med(cold):.1f} s -> "
            f"{'met' if med(cold) < limit else 'NOT met'}")
        sizes = [float(s) for s in args.sizes.split(",") if s.strip()]
        if sizes:
            out("\nScale (one run each; the cold build of the scaled export, weighted run included):")
            out("| size | respondents | synthesis (s) | synthesis peak (MB) | cold build (s) | build peak (MB) | "
                "build s per 1000 respondents |")
            out("|---:|---:|---:|---:|---:|---:|---:|")
            clean(root)
            took, _, peak = run_build(root, *jobs)
            base_n = json.loads((root / "data/derived/data_info.json").read_text())["n_rows"]
            out(f"| 1 | {base_n} | {med([s[0] for s in synth]):.1f} | {max(s[1] for s in synth) / 2**20:.0f} | "
                f"{took:.1f} | {peak / 2**20:.0f} | {took / base_n * 1000:.2f} |")
            for size in sizes:
                sav = root / "data/raw" / f"scaled_{size:g}.sav"
                s_took, s_peak = synthesis_time(root, size, sav)
                clean(root)
                took, _, peak = run_build(root, *jobs, "-p", f"raw_path=data/raw/{sav.name}")
                n = json.loads((root / "data/derived/data_info.json").read_text())["n_rows"]
                out(f"| {size:g} | {n} | {s_took:.1f} | {s_peak / 2**20:.0f} | {took:.1f} | {peak / 2**20:.0f} | "
                    f"{took / n * 1000:.2f} |")
                sav.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
