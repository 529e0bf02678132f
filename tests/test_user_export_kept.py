"""A file the build did not generate is never overwritten by the generator (#28).

The build generates the default export (data/raw/verneombud_2024_synthetic.sav)
only where there is none or where the one there is its own (the generator's
record beside it names the build's seed and size and matches its bytes). An
export made with ``make synth ARGS="--seed 7"`` or ``--size 100``, or a file
saved there by hand, is read as it is, with a line saying which file and why.
And the «generator or its targets changed» line appears only when they did.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from src.base import paths
from src.base.inputs import sha256

EXPORT = "data/raw/verneombud_2024_synthetic.sav"
ENSURE = "from src.pipeline import cli; cli.ensure_input(cli.load_params())"


def run(root: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *args], cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def synth(root: Path, *args: str) -> str:
    """What `make synth ARGS=...` does: remove the export, run the generator."""
    (root / EXPORT).unlink(missing_ok=True)
    run(root, "-m", "src.synthetic.synthesize", *args)
    return sha256(root / EXPORT)


@pytest.mark.slow
def test_the_generator_never_overwrites_an_export_the_build_did_not_make(tmp_path):
    root = paths.copy_project(tmp_path / "project")
    export = root / EXPORT

    # a user's export made with another seed and size (`make synth ARGS="--seed 7 --size 0.1"`)
    before = synth(root, "--seed", "7", "--size", "0.1")
    out = run(root, "-c", ENSURE).stdout
    assert sha256(export) == before, "the build regenerated the user's export"
    assert (
        f"{EXPORT} is not regenerated: it was generated with --seed 7 --size 0.1 (`make synth ARGS=...`), "
        "not the build's --seed 20241008 --size 1.0"
    ) in out, out
    assert "The generator or its targets changed" not in out and "generating" not in out, out

    # the same file without the generator's record (as a real export saved under that name would be)
    Path(str(export) + ".synthetic.json").unlink()
    out = run(root, "-c", ENSURE).stdout
    assert sha256(export) == before
    assert f"{EXPORT} is not regenerated: there is no generator record beside it" in out, out

    # the build's own export: current, nothing said; after a change of the generator's targets,
    # regenerated with a line that is true
    own = synth(root)
    inputs_record = Path(str(export) + ".inputs").read_text()
    out = run(root, "-c", ENSURE).stdout
    assert sha256(export) == own and "generat" not in out, out
    targets = root / "data/reference/synthesis.yml"
    targets.write_text(targets.read_text(encoding="utf-8") + "\n# a changed target\n", encoding="utf-8")
    out = run(root, "-c", ENSURE).stdout
    assert f"The generator or its targets changed since it wrote {EXPORT}" in out, out
    assert Path(str(export) + ".inputs").read_text() != inputs_record, "not regenerated"  # (same bytes: same data)
