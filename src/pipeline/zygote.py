"""Kernels forked from a process that has already imported what every chapter imports (#30).

A chapter's Jupyter kernel spent about 1.9 s of CPU importing pandas, SciPy, matplotlib, ipykernel and the
helpers before its first cell ran; a cold build starts nine. Each build process that runs notebooks (the
build itself with ``-j 1``, each doit worker with ``-j N``) now starts one *zygote* the first time it needs
a kernel: ``python -m src.pipeline.zygote <socket>`` imports all that once and then forks a kernel for each
request, as ``python -m ipykernel_launcher -f <connection file>`` would have started it. A forked kernel
starts in a fraction of a second: ``make bench`` measures the build with and without (``VO_ZYGOTE=off``).

The forked kernel is what a started one would be: its own session (process group), the working folder,
environment and stderr file the kernel manager asked for, ipykernel's parent poller watching its parent (the
zygote). The zygote ends with the process that started it, and a kernel with its zygote (``PR_SET_PDEATHSIG``
on Linux), so no kernel outlives a killed build; the zygote's socket is named like the build's kernel files
(``vo-kernel-<build>-…``), which the build removes. The zygote is ended with SIGTERM, and first reaps its
ended kernels, so their CPU time counts for the process that waits for it (``make bench``, tools/filetimes).
Anything the zygote cannot do (it did not start, another Python, another folder, another command) falls back
to starting the kernel as before: the zygote only saves time.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ENV = "VO_ZYGOTE"  # "off": every kernel is started as its own process (the comparison in make bench)
# what the zygote imports before it forks: what every chapter's first cell imports, and the kernel itself
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "matplotlib_inline.backend_inline", "src.helpers")
START_TIMEOUT = 60.0  # seconds for the zygote's imports (a loaded machine); then kernels start as before
LAUNCHER = "ipykernel_launcher"


# -- the zygote process ---------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """SIGKILL this process when the process that started it ends (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _reap(*_) -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _end(*_) -> None:
    """SIGTERM: reap the kernels that ended (their CPU time then counts for whoever waits for the zygote), end."""
    _reap()
    os._exit(0)


def _kernel(request: dict, zygote_pid: int) -> int:
    """In the forked child: become the kernel the request describes; returns its exit code."""
    _die_with_parent()  # the kernel ends with the zygote (no kernel outlives a killed build)
    if os.getppid() != zygote_pid:  # the zygote ended before that was set
        return 1
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.setsid()  # as jupyter_client starts a kernel: its own session, interrupted as a group
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ["JPY_PARENT_PID"] = str(zygote_pid)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    err = os.open(request["stderr"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if request["stderr"] else null
    os.dup2(err, 1)
    os.dup2(err, 2)
    # ipykernel's parent poller, as a started kernel has it (an option: ipykernel read the environment
    # variable when the zygote imported it)
    sys.argv = [LAUNCHER, *request["args"], f"--IPKernelApp.parent_handle={zygote_pid}"]
    if sys.path and Path(sys.path[0]) == Path.cwd():  # as ipykernel_launcher: IPython adds the folder back
        del sys.path[0]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
    return 0


def serve(path: str, parent: int) -> None:
    """The zygote: import, listen on ``path``, fork a kernel per request (one JSON line; answers its pid)."""
    _die_with_parent()
    if os.getppid() != parent:  # the process that started it ended before that was set
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the build's group: the build ends the zygote
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f"{path}.tmp"
    listener.bind(tmp)
    listener.listen(16)
    os.replace(tmp, path)  # the socket appears when the zygote is ready
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGTERM, _end)
    while True:
        try:
            conn, _ = listener.accept()
        except InterruptedError:
            continue
        with conn:
            try:
                request = json.loads(conn.makefile("r", encoding="utf-8").readline())
            except (OSError, ValueError):
                continue
            me = os.getpid()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    listener.close()
                    conn.close()
                    code = _kernel(request, me)
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                except BaseException:
                    import traceback

                    traceback.print_exc()
                finally:
                    os._exit(code)
            try:
                conn.sendall(f"{pid}\n".encode())
            except OSError:
                pass


# -- the build's side -----------------------------------------------------------------------------------


def process_exists(pid: int) -> bool:
    """Whether a process ``pid`` exists (a zombie does, until it is reaped; another user's does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ForkedKernel:
    """A kernel the zygote forked, with the part of ``subprocess.Popen`` jupyter_client and the build use.

    It is not this process's child (the zygote reaps it): its end is seen through a pidfd (Linux >= 5.3), or,
    without one, by the pid no longer existing."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        try:
            self._pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._pidfd = None

    def poll(self) -> int | None:
        if self.returncode is None:
            if self._pidfd is not None:
                ended = bool(select.select([self._pidfd], [], [], 0)[0])
            else:
                ended = not process_exists(self.pid)
            if ended:
                self.returncode = 0  # its exit status went to the zygote
                if self._pidfd is not None:
                    os.close(self._pidfd)
                    self._pidfd = None
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            if self._pidfd is not None:
                select.select([self._pidfd], [], [], 0.1)  # readable when the kernel ends
            else:
                time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class Zygote:
    """This process's zygote: started on the first kernel, ended with this process (or by ``stop``)."""

    def __init__(self, root: Path, prefix: str):
        self.root = Path(root).resolve()
        self.path = Path(f"{prefix}zygote-{os.getpid()}.sock")
        self.log = Path(f"{self.path}.stderr")
        self.owner = os.getpid()  # the process it serves (a doit worker forked from it makes its own)
        self.proc: subprocess.Popen | None = None
        self.failed = False
        self.command = [sys.executable, "-m", "src.pipeline.zygote", str(self.path), str(os.getpid())]

    def _start(self) -> bool:
        if self.proc is None:
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(
                    self.command,
                    cwd=self.root,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
        end = time.monotonic() + START_TIMEOUT
        while not self.path.exists():
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                self.failed = True
                return False
            time.sleep(0.02)
        return True

    def fork(self, cmd: list[str], cwd, env: dict, stderr_path: str | None) -> ForkedKernel | None:
        """A kernel for ``cmd`` (``python -m ipykernel_launcher …``) forked by the zygote, or None (start it as before)."""
        if self.failed or not _is_launcher(cmd) or Path(cwd or os.getcwd()).resolve() != self.root:
            return None
        if not self._start():
            return None
        request = {"args": cmd[3:], "cwd": str(cwd or os.getcwd()), "env": dict(env), "stderr": stderr_path}
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(30)
                s.connect(str(self.path))
                s.sendall((json.dumps(request) + "\n").encode())
                answer = s.makefile("r", encoding="utf-8").readline()
            return ForkedKernel(int(answer))
        except (OSError, ValueError):
            self.stop()
            self.failed = True
            return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # the zygote reaps its ended kernels first (_end)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.path, Path(f"{self.path}.tmp")):
            f.unlink(missing_ok=True)


def _is_launcher(cmd: list[str]) -> bool:
    return len(cmd) >= 3 and Path(cmd[0]).resolve() == Path(sys.executable).resolve() and cmd[1:3] == ["-m", LAUNCHER]


def enabled() -> bool:
    """Kernels are forked on Linux (elsewhere nothing ends a zygote whose build was killed: no PR_SET_PDEATHSIG),
    unless ``VO_ZYGOTE=off``."""
    return sys.platform.startswith("linux") and os.environ.get(ENV, "").lower() != "off"


_ZYGOTE: list[Zygote] = []  # this process's (a doit worker forked from the build inherits none: see zygote())


def zygote(root: Path, prefix: str) -> Zygote:
    """This process's zygote (made on first use; a worker forked from a process that had one makes its own)."""
    if not _ZYGOTE or _ZYGOTE[0].owner != os.getpid():
        import atexit
        from multiprocessing import util

        z = Zygote(root, prefix)
        _ZYGOTE[:] = [z]
        # ended (and waited for, so its kernels' CPU time counts as this process's children's) when this
        # process ends: atexit for the build, multiprocessing's finalizers for a doit worker (no atexit there)
        atexit.register(stop)
        util.Finalize(z, stop, exitpriority=100)
    return _ZYGOTE[0]


def stop() -> None:
    """End this process's zygote (the build ends, or was stopped)."""
    if _ZYGOTE and _ZYGOTE[0].owner == os.getpid():
        _ZYGOTE.pop().stop()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
