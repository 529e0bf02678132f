"""Kernels forked from the zygote (src/pipeline/zygote.py, #30): the same kernel as one started on its own,
ended with the build, counted in the build's CPU time; and the kernel files of killed builds removed."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from src.base import paths
from src.pipeline import graph as pipeline
from src.pipeline import zygote


@pytest.fixture(autouse=True)
def own_zygote(monkeypatch):
    """Each test starts without a zygote of this process and ends its own."""
    monkeypatch.setattr(zygote, "_ZYGOTE", [])
    yield
    zygote.stop()


PROBE = [
    "import os, sys\nprint(os.getcwd() == os.environ['PROBE_CWD'], os.environ.get('PROBE_VALUE'))",
    "print(os.getsid(0) == os.getpid(), os.getpgid(0) == os.getpid())",  # its own session, as jupyter_client makes
    "print(sys.path)",  # the same path, in the same order
    "import io\nfrom IPython.display import Image, Markdown, display\nfrom src import helpers as h\n"
    "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(2, 1))\nax.bar([1, 2], [3, 1])\n"
    "buf = io.BytesIO()\nfig.savefig(buf, format='png')\ndisplay(Markdown('**tabell**'), Image(buf.getvalue()))",
    "import matplotlib\nprint(matplotlib.get_backend())",
]


def run_probe(tmp_path: Path, monkeypatch, zygote_on: bool) -> tuple[list, type]:
    import papermill as pm

    monkeypatch.setenv(zygote.ENV, "on" if zygote_on else "off")
    monkeypatch.setenv("PROBE_VALUE", "verdi")
    monkeypatch.setenv("PROBE_CWD", str(paths.ROOT))
    monkeypatch.setattr(pipeline, "LIVE_KERNELS", [])
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(code) for code in PROBE]
    src, out = tmp_path / f"probe-{zygote_on}.ipynb", tmp_path / f"probe-{zygote_on}-out.ipynb"
    nbformat.write(nb, src)
    managers = []

    class Recording(pipeline.kernel_manager_class()):
        async def _async_start_kernel(self, **kw):
            await super()._async_start_kernel(**kw)
            managers.append(type(self.provisioner.process))

    Recording.start_kernel = Recording._async_start_kernel
    pm.execute_notebook(
        str(src), str(out), cwd=str(paths.ROOT), progress_bar=False, log_output=False, kernel_manager_class=Recording
    )
    cells = json.loads(out.read_text())["cells"]
    return [c["outputs"] for c in cells], managers[0]


def test_a_forked_kernel_runs_a_notebook_as_a_started_one_does(tmp_path, monkeypatch):
    try:
        forked, forked_by = run_probe(tmp_path, monkeypatch, zygote_on=True)
        started, started_by = run_probe(tmp_path, monkeypatch, zygote_on=False)
    finally:
        zygote.stop()
        pipeline.remove_kernel_files()
    assert forked_by is zygote.ForkedKernel and started_by is subprocess.Popen
    assert forked == started  # every output, the figure's PNG bytes included
    text = ["".join(o[0]["text"]).strip() for o in forked[:2]] + ["".join(forked[4][0]["text"]).strip()]
    assert text == ["True verdi", "True True", "Agg"]
    assert "''" in "".join(forked[2][0]["text"])  # the working folder on the path, where IPython puts it
    assert forked[3][1]["data"]["image/png"]  # the figure


def ends_within(running, seconds: float) -> bool:
    """Whether ``running()`` turns false within ``seconds``."""
    end = time.monotonic() + seconds
    while running() and time.monotonic() < end:
        time.sleep(0.05)
    return not running()


@pytest.fixture
def forking_manager(monkeypatch):
    """A kernel manager of the build's kind, whose kernel the zygote forks; its kernels and files removed after."""
    monkeypatch.setenv(zygote.ENV, "on")
    monkeypatch.setattr(pipeline, "LIVE_KERNELS", [])
    yield pipeline.kernel_manager_class()(kernel_name="python3")
    pipeline.kill_kernels()
    pipeline.remove_kernel_files()  # ends the zygote


async def start_busy_kernel(km, seconds: float):
    """Start a kernel and have it work ``seconds`` of CPU."""
    await km.start_kernel()
    client = km.client()
    client.start_channels()
    await client.wait_for_ready(timeout=60)
    busy = f"import time\nt = time.process_time()\nwhile time.process_time() - t < {seconds}: pass"
    reply = await client.execute_interactive(busy, timeout=60)
    client.stop_channels()
    assert reply["content"]["status"] == "ok"


def test_a_forked_kernels_cpu_time_counts_as_the_builds(forking_manager):
    """``make bench`` and tools/filetimes read the CPU time of a build's processes from getrusage: a kernel
    the zygote forked is the zygote's child, whose time counts once the build has waited for the zygote."""
    km = forking_manager
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    asyncio.run(start_busy_kernel(km, 3))
    assert isinstance(km.provisioner.process, zygote.ForkedKernel)
    asyncio.run(km.shutdown_kernel())
    pipeline.remove_kernel_files()  # ends the zygote
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime) > 3.0
    assert not list(Path(tempfile.gettempdir()).glob(f"{pipeline.kernel_prefix()}*"))


def test_a_kernel_ends_with_its_zygote(forking_manager):
    """The zygote ends with the process that started it (a build killed by SIGKILL): its kernels follow."""
    km = forking_manager
    asyncio.run(start_busy_kernel(km, 0))
    kernel = km.provisioner.process
    z = zygote._ZYGOTE[0]
    assert z.path.exists() and z.path.name.startswith(pipeline.kernel_prefix())
    os.kill(z.proc.pid, signal.SIGKILL)
    assert ends_within(lambda: kernel.poll() is None, 15), "the kernel outlived its zygote"


def test_a_kernel_forked_as_its_zygote_is_killed_does_not_outlive_it(tmp_path):
    """The zygote killed just after it forked (before the kernel's parent poller runs): the kernel ends too."""
    z = zygote.Zygote(paths.ROOT, str(Path(tempfile.gettempdir()) / pipeline.kernel_prefix()))  # a short socket path
    cmd = [sys.executable, "-m", zygote.LAUNCHER, "-f", str(tmp_path / "kernel.json")]
    try:
        kernel = z.fork(cmd, paths.ROOT, dict(os.environ), None)
        os.kill(z.proc.pid, signal.SIGKILL)
        assert ends_within(lambda: kernel.poll() is None, 10), "the kernel outlived its zygote"
    finally:
        z.stop()
        pipeline.remove_kernel_files()


def test_a_zygote_ends_with_the_process_that_started_it():
    prefix = str(Path(tempfile.gettempdir()) / "vo-kernel-")
    script = (
        "import os, pathlib\nfrom src.pipeline import zygote\n"
        f"z = zygote.zygote(pathlib.Path({str(paths.ROOT)!r}), {prefix!r} + str(os.getpid()) + '-')\n"
        "assert z._start()\nprint(os.getpid(), z.proc.pid, flush=True)\nos._exit(0)"  # no atexit, no finalizer
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=paths.ROOT, capture_output=True, text=True, timeout=120)
    starter, pid = map(int, out.stdout.split())
    try:
        assert ends_within(lambda: zygote.process_exists(pid), 10), "the zygote outlived the process that started it"
    finally:
        for f in Path(tempfile.gettempdir()).glob(f"vo-kernel-{starter}-*"):  # what it could not remove
            f.unlink()


def test_a_zygote_that_cannot_serve_leaves_the_kernel_to_start_as_before(tmp_path):
    z = zygote.Zygote(tmp_path, str(tmp_path / "vo-kernel-1-"))
    z.command = [sys.executable, "-c", "import sys; sys.exit('ImportError: a broken environment')"]
    cmd = [sys.executable, "-m", zygote.LAUNCHER, "-f", str(tmp_path / "c.json")]
    try:
        assert z.fork(cmd, paths.ROOT, dict(os.environ), None) is None  # another folder than the zygote's
        assert z.fork([sys.executable, "-m", "other_kernel"], tmp_path, dict(os.environ), None) is None
        assert z.proc is None  # neither needed the zygote
        assert z.fork(cmd, tmp_path, dict(os.environ), None) is None  # the zygote died before it served
        assert z.failed and z.proc.poll() is not None and not z.path.exists()
        assert "a broken environment" in Path(f"{z.path}.stderr").read_text()
        assert z.fork(cmd, tmp_path, dict(os.environ), None) is None  # not tried again
    finally:
        z.stop()


def test_the_kernel_files_of_builds_that_are_gone_are_removed(monkeypatch):
    tmp = Path(tempfile.gettempdir())
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    monkeypatch.setenv("VO_BUILD", str(os.getpid()))
    files = {
        "gone": tmp / f"vo-kernel-{gone.pid}-0123456789ab.stderr",  # a build killed by SIGKILL left these
        "gone_zygote": tmp / f"vo-kernel-{gone.pid}-zygote-{gone.pid}.sock",
        "alive": tmp / f"vo-kernel-{alive.pid}-0123456789ab.stderr",  # another build, running
        "own": tmp / f"vo-kernel-{os.getpid()}-0123456789ab.stderr",
        "other": tmp / "vo-kernel-notes.txt",  # not a build's file
    }
    try:
        for f in files.values():
            f.write_text("")
        pipeline.remove_kernel_files()
        assert {k for k, f in files.items() if f.exists()} == {"alive", "other"}
    finally:
        alive.kill()
        alive.wait()
        for f in files.values():
            f.unlink(missing_ok=True)


@pytest.mark.slow
def test_a_build_leaves_no_zygote_or_kernel_behind(small_project, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(small_project[0], root, symlinks=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "src.pipeline", "--renderer", "fallback", "--notebooks", "02_sample,03_role"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout, proc.stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "start  nb:03_role" in proc.stdout  # kernels ran
    time.sleep(0.5)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert f"vo-kernel-{proc.pid}-" not in ps  # no zygote (its socket is named after the build), no kernel
    assert not list(Path(tempfile.gettempdir()).glob(f"vo-kernel-{proc.pid}-*"))
