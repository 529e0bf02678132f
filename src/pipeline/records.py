"""The build's records: what each step wrote, from which inputs, and the journal that makes a build all or nothing.

A build is a transaction over one set of inputs and parameters, their *fingerprint*
(the export's sha256 and the parameters). Each step writes into its own staging folder;
when it succeeds its files are moved into place and then its record is saved
(<reports>/.build/records/<step>.json: the fingerprint and every file with its size and
sha256). A step is up to date only when doit finds its inputs unchanged *and* its record
names the present fingerprint and matches every file on disk. So whatever stops a build
(SIGKILL between two file moves, a full disk, a second build), the next one re-runs exactly
the steps whose outputs are not what their record says. Only files in a step's record are
ever replaced or removed by that step.

**All or nothing.** A step's outputs are moved into place when it succeeds (the steps after it read them
there), but the build keeps, in <reports>/.build/journal/, every published file it
replaces or deletes (a hard link to the old file, or a note that the file is new), and
doit's state as it was. When the build ends well the journal is dropped (commit); when it
fails or is stopped (Ctrl-C, SIGTERM, SIGHUP) it is played back before the build ends
(rollback), so every output, data/derived/, every record and doit's state are again
exactly what the last complete build left. A build that could not play it back (SIGKILL,
the out-of-memory killer, a power cut) leaves the journal, and the next build plays it
back first, under the lock, before anything reads an output.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from src.base import paths
from src.base.files import write_text_durably

STATE_DIR = ".build"  # inside reports_dir: doit's state and each task's list of outputs


WEIGHTED_DIR = "weighted"  # inside reports_dir: the weighted sensitivity run (see src/book/sensitivity.py)


RECORDS_DIR = "records"


STAGING_DIR = "_staging"


LOCK_FILE = "build.lock"


TIMINGS_FILE = "timings.json"  # in <reports>/.build: seconds per step (not published: they vary)


DERIVED_STAGE_ENV = "VO_DERIVED_STAGE"  # where 01_cleaning's write_derived writes when the build runs it


JOURNAL_DIR = "journal"  # in <reports>/.build: what the running build replaced, until it ends well


JOURNAL_ENV = "VO_BUILD_JOURNAL"  # that folder, for promote() (also in a parallel build's worker processes)


def fingerprint(params: dict, raw_sha256: str) -> str:
    """The inputs and parameters every output of one build comes from, as one sha256."""
    payload = json.dumps({"raw_sha256": raw_sha256, "params": params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def key(path: str | Path) -> str:
    """A path as the build's state and records keep it: relative to the project when inside it."""
    p = paths.resolve(path)
    try:
        return p.relative_to(paths.ROOT).as_posix()
    except ValueError:
        return p.as_posix()


def safe_name(task: str) -> str:
    return task.replace(":", "-")


def record_path(reports: Path, name: str) -> Path:
    return paths.resolve(reports) / STATE_DIR / RECORDS_DIR / f"{safe_name(name)}.json"


def read_record(reports: Path, name: str) -> dict | None:
    try:
        rec = json.loads(record_path(reports, name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and isinstance(rec.get("files"), dict) else None


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _stat(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": _file_sha256(path)}


def record_problems(reports: Path, name: str, fp: str | None) -> list[str]:
    """Why the record of step ``name`` does not vouch for its outputs (empty: it does).

    A file whose size and modification time are as recorded is taken as it is
    (hashing every output on a no-op build would cost seconds); else its sha256
    is compared.
    """
    rec = read_record(reports, name)
    if rec is None:
        return [f"{name} has no record of its outputs"]
    problems = []
    if fp is not None and rec.get("fingerprint") != fp:
        problems.append(f"{name} was built from other inputs or parameters ({describe(rec)})")
    for rel, want in sorted(rec["files"].items()):
        f = paths.resolve(rel)
        try:
            st = f.stat()
        except OSError:
            problems.append(f"{rel} is missing")
            continue
        if st.st_size != want.get("size") or (
            st.st_mtime_ns != want.get("mtime_ns") and _file_sha256(f) != want.get("sha256")
        ):
            problems.append(f"{rel} is not the file {name} wrote")
    return problems


def describe(rec: dict) -> str:
    info = rec.get("inputs") or {}
    shown = ", ".join(
        f"{k}={v}"
        for k, v in sorted((info.get("params") or {}).items())
        if k in ("raw_path", "weighted", "lang", "alpha", "min_cell")
    )
    return f"fingerprint {str(rec.get('fingerprint'))[:12]}: export sha256 {str(info.get('raw_sha256'))[:8]}, {shown}"


def record_ok(reports: str, name: str, fp: str | None) -> bool:
    """doit ``uptodate`` check: the step's record vouches for its outputs and names this build's inputs."""
    return not record_problems(paths.resolve(reports), name, fp)


TMP_SUFFIX = ".vo-copy.tmp"  # a copy on its way across file systems: .<name>.<pid>.vo-copy.tmp beside its target


def _tmp_beside(dst: Path) -> Path:
    return dst.with_name(f".{dst.name}.{os.getpid()}{TMP_SUFFIX}")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def copy_beside(src: Path, dst: Path) -> Path:
    """A durable copy of ``src`` in ``dst``'s folder (its file system), under a temporary name; returns it.

    The copy is synced to disk, so that a rename of it over ``dst`` afterwards is atomic and durable. A full
    disk (or any error) leaves no partial copy, and names ``dst`` in the error.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_beside(dst)
    try:
        shutil.copy2(src, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # the target's folder, not the temporary name
            raise OSError(exc.errno, exc.strerror, str(dst)) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def same_file_system(a: Path, b_folder: Path) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b_folder).st_dev
    except OSError:
        return False


def _move(src: Path, dst: Path) -> None:
    """``src`` over ``dst`` (atomic on one file system; across two, copied beside ``dst`` first, synced, then
    renamed there)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = copy_beside(src, dst)
        try:
            os.replace(tmp, dst)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(dst.parent)
        src.unlink()


def _same_content(a: Path, b: Path) -> bool:
    try:
        if os.path.samefile(a, b):
            return True
        if a.stat().st_size != b.stat().st_size:
            return False
    except OSError:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def promote(
    stage: Path,
    reports: Path,
    name: str,
    fp: str | None = None,
    inputs: dict | None = None,
    placement: dict[str, Path] | None = None,
    seconds: float | None = None,
) -> None:
    """Move what step ``name`` wrote in ``stage`` into place, then save its record.

    Files go to ``reports`` (by their path inside ``stage``), or, for a
    first-level folder of ``stage`` listed in ``placement``, to that folder
    (01_cleaning's ``derived/`` -> derived_dir). A file the step wrote last time
    (per its record) but not now is deleted; no other file is touched. The
    record is saved last, atomically: a build stopped before that leaves a step
    whose outputs do not match its record, and the next build re-runs it.
    """
    placement = placement or {}
    reports = paths.resolve(reports)
    moves = []
    for f in sorted(p for p in stage.rglob("*") if p.is_file()):
        rel = f.relative_to(stage)
        target = placement[rel.parts[0]] / Path(*rel.parts[1:]) if rel.parts[0] in placement else reports / rel
        moves.append((f, target))
    new = {key(t) for _, t in moves}
    old = read_record(reports, name) or {"files": {}}
    legacy = reports / STATE_DIR / "outputs" / f"{name.split(':')[-1]}.txt"  # records of earlier versions
    old_files = set(old["files"])
    if not old["files"] and legacy.exists():
        old_files = {key(reports / r) for r in legacy.read_text(encoding="utf-8").split()}
    journal = os.environ.get(JOURNAL_ENV)
    # a target on another file system than the staging folder (a mounted data/derived or reports/tables):
    # every such file is first copied beside its target, so that a full disk stops the step before any of
    # its outputs changed (derived data are promoted as a unit); what follows are renames only
    copies: list[Path] = []
    try:
        for i, (f, target) in enumerate(moves):
            target.parent.mkdir(parents=True, exist_ok=True)
            if not same_file_system(f, target.parent):
                tmp = copy_beside(f, target)
                copies.append(tmp)
                moves[i] = (tmp, target)
    except BaseException:
        for tmp in copies:
            tmp.unlink(missing_ok=True)
        raise
    for rel in sorted(old_files - new):
        keep_before_change(journal, paths.resolve(rel))
        paths.resolve(rel).unlink(missing_ok=True)
    try:
        for i, (f, target) in enumerate(moves):
            keep_before_change(journal, target)
            _move(f, target)
            if i == 0:
                fault("promote", name)
    except BaseException:
        for tmp in copies:
            tmp.unlink(missing_ok=True)
        raise
    for folder in {t.parent for _, t in moves if not same_file_system(stage, t.parent)}:
        _fsync_dir(folder)
    rec = {
        "step": name,
        "fingerprint": fp,
        "inputs": inputs or {},
        "seconds": seconds,
        "files": {key(t): _stat(t) for _, t in moves},
    }
    keep_before_change(journal, record_path(reports, name))
    write_text_durably(record_path(reports, name), json.dumps(rec, indent=1, sort_keys=True) + "\n")
    if legacy.exists():
        keep_before_change(journal, legacy)
        legacy.unlink()
    shutil.rmtree(stage, ignore_errors=True)
    try:
        stage.parent.rmdir()  # the staging folder, when no other step is staging
    except OSError:
        pass


def journal_dir(reports: Path) -> Path:
    return paths.resolve(reports) / STATE_DIR / JOURNAL_DIR


def keep_before_change(journal: str | None, target: Path, copy: bool = False) -> None:
    """Note ``target`` in the build's journal before it is replaced or deleted (once per build and file).

    The old file is kept as a hard link (outputs and records are only ever
    replaced by a rename, never written in place); ``copy``: a copy instead,
    for a file that may be written in place (doit's state).
    """
    if not journal:
        return
    folder = Path(journal)
    k = key(target)
    tag = hashlib.sha256(k.encode()).hexdigest()[:32]
    kept, new = folder / "files" / tag, folder / "files" / f"{tag}.new"
    if kept.exists() or new.exists():
        return  # the first version this build saw is the one to restore
    had = target.is_file()
    line = json.dumps({"key": k, "tag": tag, "had": had}) + "\n"
    fd = os.open(folder / "journal.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one short O_APPEND write: whole even with parallel workers
    finally:
        os.close(fd)
    if had:
        try:
            if copy:
                raise OSError
            os.link(target, kept)  # the old file itself (its bytes and modification time), no copy
        except OSError:  # another file system (EXDEV), or a file written in place: a synced copy
            os.replace(copy_beside(target, kept), kept)
            _fsync_dir(kept.parent)
    else:
        new.touch()


def begin_journal(reports: Path, log=print) -> Path:
    """Start this build's journal (after playing back one a stopped build left); returns its folder."""
    restored = rollback(reports)
    if restored is not None:
        log(
            f"The previous build was stopped before it finished: restored the outputs of the last complete "
            f"build ({restored} file(s)) before starting."
        )
    folder = journal_dir(reports)
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "files").mkdir(parents=True)
    keep_before_change(str(folder), paths.resolve(reports) / STATE_DIR / "doit-state.json", copy=True)
    return folder


def commit_journal(reports: Path) -> None:
    """The build ended well: its outputs stay, the journal goes (removing journal.jsonl is the commit)."""
    folder = journal_dir(reports)
    (folder / "journal.jsonl").unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)


def rollback(reports: Path) -> int | None:
    """Play the journal back: every file the build replaced or deleted is restored, every file it added removed.

    Returns the number of files restored or removed, None when there was no
    journal. Safe to repeat (a rollback stopped half-way is finished by the next).
    """
    folder = journal_dir(reports)
    log_file = folder / "journal.jsonl"
    if not log_file.exists():
        shutil.rmtree(folder, ignore_errors=True)
        return None
    entries = []
    for line in log_file.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:  # the last line of a build killed while writing it
            continue
    changed = 0
    # files the build added go first (on a full disk that frees the space the restored files may need)
    for e in sorted(reversed(entries), key=lambda e: bool(e.get("had"))):
        target = paths.resolve(e["key"])
        kept = folder / "files" / e["tag"]
        if e.get("had"):
            if kept.exists():  # else the build was stopped before it changed the file
                target.parent.mkdir(parents=True, exist_ok=True)
                if _same_content(kept, target):  # not changed (or the very file): nothing to copy
                    if not os.path.samefile(kept, target):
                        kept.unlink()
                        continue
                else:
                    changed += 1
                try:
                    os.replace(kept, target)
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                    # the output is on another file system than the journal: copied back beside it, renamed
                    os.replace(copy_beside(kept, target), target)
                    _fsync_dir(target.parent)
                    kept.unlink()
        elif target.exists():
            target.unlink()
            changed += 1
    log_file.unlink()
    shutil.rmtree(folder, ignore_errors=True)
    return changed


class InjectedFailure(RuntimeError):
    """A step's failure injected by a test (``fault``)."""


def fault(point: str, step: str) -> None:
    """Test hook: ``VO_TEST_KILL_AT=<step>@<point>[:<SIGNAL>]`` sends the build that signal there.

    Points: ``start`` (the step begins) and ``promote`` (its first output has
    been moved into place, the rest and its record not yet). ``FAIL`` instead
    of a signal makes the step fail there (``InjectedFailure``). For
    tests/test_interrupts.py; without the variable it does nothing.
    """
    spec = os.environ.get("VO_TEST_KILL_AT")
    if not spec:
        return
    where, _, rest = spec.rpartition("@")  # "nb:01_cleaning@promote:SIGKILL"
    at, _, sig = rest.partition(":")
    if (where, at) != (step, point):
        return
    if sig == "FAIL":
        raise InjectedFailure(f"{step}: failed at «{point}» (VO_TEST_KILL_AT, a test's injected failure)")
    import signal

    signum = getattr(signal, sig or "SIGKILL")
    main = int(os.environ.get("VO_BUILD") or os.getpid())
    os.kill(main, signum)
    if signum == signal.SIGKILL and main != os.getpid():
        os.kill(os.getpid(), signum)
    time.sleep(1)  # let the signal arrive here, not in the next step


FILE_SYSTEM_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def os_error_message(exc: OSError) -> str:
    """An OSError as the cause a user can act on."""
    where = f" ({paths.relative(exc.filename)})" if exc.filename else ""
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        folder = f" in {paths.relative(Path(exc.filename).parent)}/" if exc.filename else ""
        return f"the disk is full{where}: free some space on the disk{folder} and run the build again"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (
            f"cannot write{where}: {exc.strerror} — the folder is read-only; make it writable "
            "(or build into another reports_dir inside the project)"
        )
    return f"{exc.strerror or exc}{where}"


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C (doit and papermill let it through), to end with one line."""


SIGNALLED: list[int] = []  # the signals this build received (cli's handler notes each before it raises)


def raise_if_signalled() -> None:
    """Raise the interrupt of a signal the build received, should the code it landed in have swallowed it
    (asyncio in the kernel client, a kernel start that is retried): the build then stops after the step."""
    if SIGNALLED:
        import signal

        if SIGNALLED[0] == signal.SIGINT:
            raise KeyboardInterrupt
        raise Interrupted(signal.Signals(SIGNALLED[0]).name)


def guarded(step: str, stage: Path | None, action, *args):
    """Run one step's action: a failure of the file system becomes one message, its staging folder goes;
    an interrupt the action swallowed is raised after it."""
    from doit.exceptions import TaskFailed

    raise_if_signalled()
    try:
        fault("start", step)
        result = action(*args)
        raise_if_signalled()
        return result
    except InjectedFailure as exc:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        return TaskFailed(str(exc))
    except (OSError, shutil.Error) as exc:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        if isinstance(exc, shutil.Error):  # copytree: a list of (source, target, error text)
            errors = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
            text = str(errors[0][2]) if errors else str(exc)
            code = next((e for e in FILE_SYSTEM_ERRORS if f"[Errno {e}]" in text), None)
            exc = OSError(code, os.strerror(code) if code else text, errors[0][1] if errors else None)
        return TaskFailed(f"{step}: {os_error_message(exc)}; the outputs of this step are unchanged.")


def stage_dir(reports: Path, name: str) -> Path:
    return paths.resolve(reports) / STAGING_DIR / safe_name(name)


def machine_paths(params: dict | None = None) -> list[tuple[str, str]]:
    """(absolute path, what the book shows instead): the project (relative paths), the folder of an export
    outside the project (its file name only), the home folder («~»); longest first."""
    pairs = [(str(paths.ROOT) + "/", ""), (str(paths.ROOT), ".")]
    raw = (params or {}).get("raw_path")
    if raw:
        folder = paths.resolve(raw).parent
        if not folder.is_relative_to(paths.ROOT):
            pairs.append((str(folder) + "/", ""))
    home = str(Path.home())
    if home not in ("/", ""):
        pairs.append((home, "~"))
    return sorted(pairs, key=lambda p: -len(p[0]))


def scrub_paths(text: str, pairs: list[tuple[str, str]]) -> str:
    """``text`` (a notebook's JSON) without the machine's absolute paths (``machine_paths``): warnings name
    their source file, the parameters cell an export outside the project."""
    for old, new in pairs:
        text = text.replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1])
    return text


def mixed_outputs(params: dict, fp: str, steps: list[str]) -> list[str]:
    """What keeps the outputs of ``steps`` from being one build's (empty: the book may be rendered from them)."""
    reports = paths.resolve(params["reports_dir"])
    problems = []
    for step in steps:
        folder = reports / WEIGHTED_DIR if step.startswith("vektet:") else reports
        problems += record_problems(folder, step, fp)
        if ":" in step:
            nb = folder / paths.EXECUTED_DIR / f"{step.split(':', 1)[1]}.ipynb"
            try:
                seen = json.loads(nb.read_text(encoding="utf-8")).get("metadata", {}).get("compendium", {})
            except (OSError, ValueError):
                continue
            if seen.get("fingerprint") != fp:
                problems.append(
                    f"{key(nb)} carries fingerprint {str(seen.get('fingerprint'))[:12]}, this build's is {fp[:12]}"
                )
    return problems


def step_folder(reports: Path, step: str) -> Path:
    """The reports folder a step's outputs and record are in (the weighted twins': reports/weighted)."""
    return reports / WEIGHTED_DIR if step.startswith("vektet:") else reports


class BuildError(RuntimeError):
    """The build stopped; the message says where and why."""


def log(msg: str) -> None:
    print(msg, flush=True)
