"""JupyterLab as a researcher meets it (issue 26): `make lab` headless (as root too), notebooks saved
without outputs through a real Jupyter server, the git filter that strips them for any other editor,
and outputs that render in Lab (text/html) with no raw Quarto markup."""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from src.base import paths, stripping

JUPYTER = Path(sys.executable).parent / "jupyter"
RAW_MARKUP = re.compile(r":::|\{#[\w-]+|\]\{\.|\{\.callout")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_outputs(path: Path) -> dict:
    """A project notebook as Lab holds it after «Run All»: outputs (a small-cell table line, an image) and counts."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    n = 0
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            n += 1
            cell["execution_count"] = n
            cell["metadata"]["execution"] = {"iopub.status.busy": "2026-12-05T10:00:00Z"}
            cell["outputs"] = [
                {"output_type": "stream", "name": "stdout", "text": "Bank/finans/forsikring,2,3,5\n"},
                {
                    "output_type": "display_data",
                    "metadata": {},
                    "data": {
                        "text/plain": "<Figure>",
                        "image/png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
                    },
                },
            ]
    nb["cells"].append(
        {
            "cell_type": "code",
            "id": "min-analyse",
            "metadata": {},
            "execution_count": n + 1,
            "source": 't, test = h.crosstab(ch, "industry", "gender", "bransje_kjonn")',
            "outputs": [
                {
                    "output_type": "execute_result",
                    "execution_count": n + 1,
                    "metadata": {},
                    "data": {"text/plain": "Arbeidskraftutleie/bemanningsbyrå,0,4,4"},
                }
            ],
        }
    )
    return nb


def assert_stripped(saved: dict, sent: dict) -> None:
    code = [c for c in saved["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert not any("execution" in c["metadata"] for c in saved["cells"])
    assert [c["id"] for c in saved["cells"]] == [c["id"] for c in sent["cells"]]  # the fixed ids stay
    text_of = lambda c: "".join(c["source"]) if isinstance(c["source"], list) else c["source"]  # noqa: E731
    assert [text_of(c) for c in saved["cells"]] == [text_of(c) for c in sent["cells"]]
    assert saved["metadata"]["kernelspec"] == sent["metadata"]["kernelspec"]  # what papermill needs
    assert saved["metadata"]["language_info"]["name"] == "python"
    text = json.dumps(saved)
    assert "Bank/finans" not in text and "image/png" not in text and "bemanningsbyrå,0,4" not in text


def request(base: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(
        f"{base}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


def wait_for(base: str, token: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"the Jupyter server exited ({proc.returncode})")
        try:
            request(base, token, "GET", "/api/status")
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("the Jupyter server did not answer in time")


def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.stdout.read() if proc.stdout else ""


def test_the_save_hook_strips_outputs_and_keeps_what_papermill_needs():
    sent = with_outputs(paths.NOTEBOOKS / "05_course_format.ipynb")
    model = {"type": "notebook", "content": copy.deepcopy(sent)}
    stripping.pre_save_hook(model=model, path="05_course_format.ipynb")
    assert_stripped(model["content"], sent)
    assert stripping.strip_outputs(model["content"]) is False  # stripping twice changes nothing


def test_a_notebook_saved_through_a_real_jupyter_server_has_no_outputs(tmp_path):
    """jupyter_server from .venv with the project's config, a free port and a token: the contents API's
    save (what Lab's «Save» sends) writes the notebook to disk without outputs."""
    if not JUPYTER.exists():
        pytest.skip("jupyter is not installed in this environment")
    port, token = free_port(), secrets.token_hex(16)
    root = tmp_path / "project"
    root.mkdir()
    cmd = [
        str(JUPYTER),
        "server",
        f"--config={paths.ROOT / 'jupyter_server_config.py'}",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        "--no-browser",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base, token, proc)
        sent = with_outputs(paths.NOTEBOOKS / "05_course_format.ipynb")
        reply = request(
            base,
            token,
            "PUT",
            "/api/contents/05_course_format.ipynb",
            {"type": "notebook", "format": "json", "content": sent},
        )
        assert reply["type"] == "notebook"
        assert_stripped(json.loads((root / "05_course_format.ipynb").read_text(encoding="utf-8")), sent)
        nbformat.validate(nbformat.read(root / "05_course_format.ipynb", as_version=4))
    finally:
        stop(proc)


def test_make_lab_runs_headless_prints_the_url_passes_args_and_saves_without_outputs(tmp_path):
    """`make lab` (as root here when the tests run as root: --allow-root): no browser, the URL printed, ARGS passed
    on (the token), the project's server settings in force (a notebook saved through it has no outputs)."""
    if not JUPYTER.exists() or not shutil.which("make"):
        pytest.skip("jupyter or make is not installed")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "BROWSER": "false"}
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_PORT={port}", f"ARGS=--IdentityProvider.token={token}"],
        cwd=paths.ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    target = paths.INTERACTIVE / f"pytest_lab_{os.getpid()}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)  # a fresh clone has no reports/_interactive/ yet
    try:
        wait_for(base, token, proc, seconds=120)
        rel = target.relative_to(paths.ROOT).as_posix()
        sent = with_outputs(paths.NOTEBOOKS / "05_course_format.ipynb")
        request(base, token, "PUT", f"/api/contents/{rel}", {"type": "notebook", "format": "json", "content": sent})
        assert_stripped(json.loads(target.read_text(encoding="utf-8")), sent)
    finally:
        out = stop(proc)
        target.unlink(missing_ok=True)
    assert f"http://127.0.0.1:{port}/lab?token=" in out, out[-2000:]  # (a token given in ARGS is printed as ...)
    assert "Running as root is not recommended" not in out or "--allow-root" in out
    assert "--no-browser" in out and "jupyter_server_config.py" in out  # make echoes the command it runs


def test_the_git_filter_commits_a_notebook_without_outputs(tmp_path):
    """What the venv bootstrap installs in a git checkout (make git-filter): staging a notebook with outputs
    commits its source only, fixed cell ids kept."""
    if not shutil.which("git") or not shutil.which("make"):
        pytest.skip("git or make is not installed")
    repo = tmp_path / "clone"
    repo.mkdir()
    git = lambda *a: subprocess.run(["git", *a], cwd=repo, capture_output=True, text=True, check=True)  # noqa: E731
    git("init", "-q")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    shutil.copy(paths.ROOT / ".gitattributes", repo / ".gitattributes")
    proc = subprocess.run(
        ["make", "--no-print-directory", "-f", str(paths.ROOT / "Makefile"), "git-filter", f"PY={sys.executable}"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--keep-id" in git("config", "--get", "filter.nbstripout.clean").stdout
    shutil.copy(paths.NOTEBOOKS / "05_course_format.ipynb", repo / "nb.ipynb")  # as committed: stripped
    git("add", ".gitattributes", "nb.ipynb")
    git("commit", "-qm", "the chapter")
    sent = with_outputs(paths.NOTEBOOKS / "05_course_format.ipynb")  # run in an editor, a cell added, saved
    nbformat.write(nbformat.from_dict(sent), repo / "nb.ipynb")
    diff = git("diff", "--numstat", "nb.ipynb").stdout.split()
    added = [
        line
        for line in git("diff", "-U0", "nb.ipynb").stdout.splitlines()
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    assert all(
        "min-analyse" in line
        or "h.crosstab" in line
        or line.strip()
        in (
            "+  },",
            "+  {",
            '+   "cell_type": "code",',
            '+   "execution_count": null,',
            '+   "metadata": {},',
            '+   "outputs": [],',
            '+   "source": [',
            "+   ]",
            '+   "source": []',
            "+  }",
        )
        for line in added
    ), added
    assert diff and int(diff[1]) == 0 and int(diff[0]) < 12, diff  # only the new cell: nothing removed
    git("add", "nb.ipynb")
    git("commit", "-qm", "my analysis")
    assert_stripped(json.loads(git("show", "HEAD:nb.ipynb").stdout), sent)
    # the working copy keeps its outputs, and git sees no change in them
    assert "Bank/finans" in (repo / "nb.ipynb").read_text(encoding="utf-8")
    assert git("status", "--porcelain").stdout == ""


def test_every_output_a_chapter_shows_renders_in_lab_without_quarto_markup(tmp_path, monkeypatch):
    """Lab prefers an output's text/html: the banner, callouts, tables and prose a chapter shows carry one,
    free of raw ':::', '{#…}' and '[..]{.…}'; the Markdown for Quarto stays beside it."""
    from src.book.captions import caption_markdown
    from src.book.tables import markdown_bundle

    cap = {
        "kind": "tbl",
        "word": "Tabell",
        "number": "13",
        "id": "tabell-13",
        "text": "Type kurs",
        "source": {
            "label": "Kilde",
            "text": "05_course_format.ipynb, celle 4",
            "href": "notebook-view/05_course_format.html#cell-tbl-t13",
            "data": "data x.sav, sha256 1a2b3c4d",
        },
    }
    samples = [
        "::: {.callout-warning}\n**Datagrunnlag:** syntetiske data\n:::",
        "# Kursform {#sec-course-format}\n\nTekst med [lenke](https://example.org).",
        "| Bransje | Antall |\n|:--|--:|\n| Bank | <5 |\n\n*Skjult: 1 celle*",
        caption_markdown(cap),
    ]
    for text in samples:
        bundle = markdown_bundle(text)
        assert bundle["text/markdown"] == text
        assert not RAW_MARKUP.search(bundle["text/html"]), bundle["text/html"]
    caption = markdown_bundle(caption_markdown(cap))["text/html"]
    assert '<div id="tabell-13" class="book-caption tbl-caption">' in caption
    assert '<a href="notebook-view/05_course_format.html#cell-tbl-t13">05_course_format.ipynb, celle 4</a>' in caption
    assert caption.count("05_course_format.ipynb, celle 4") == 1  # the PDF's plain twin is not shown in HTML
    banner = markdown_bundle(samples[0])["text/html"]
    assert banner.startswith('<div class="callout callout-warning" style="border-left: 5px solid #e0a800')
    # the notebooks' own Markdown cells carry no heading attributes Lab would print
    for nb_path in sorted(paths.NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                assert not re.search(r"^#+ .*\{[#.][^}]*\}\s*$", cell.source, re.M), (nb_path.name, cell.source[:80])
