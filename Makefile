# Front door of the compendium. Every target bootstraps .venv from the pinned
# requirements first (Python >= 3.11 and make are all a fresh machine needs).
#
#   make book                 build everything: data -> notebooks -> book (reports/book/)
#   make book PARAMS=my.yml   ... with parameters overridden from a file
#   make book ARGS="-p raw_path=data/raw/export.sav"   ... or one by one
#   make book ARGS="--force -j 1"   ... re-run everything, one notebook at a time
#   make test                 run the test suite (one worker per core; ARGS="-n 0" in one process)
#   make test-fast            ... only the fast tier: the tests not marked slow (no end-to-end build)
#   make test-interrupts      every signal at every kind of step (34 min of the file's 53 on a busy 2-core machine; make test runs three of the 18)
#   make bench                benchmark (wall and CPU): cold / no-op / one-chapter rebuilds, compute floor, fresh clone,
#                             10x and 100x size, beside the targets; ARGS="--test" also times make test,
#                             ARGS="--repeat 1 --sizes 10" is quick; figures in reports/bench.json
#   make serve                look at the built book on http://127.0.0.1:8000 (PORT=...)
#   make lab                  JupyterLab on the project, headless (prints the URL; LAB_PORT=8888, ARGS="..."),
#                             saving notebooks without outputs (docs/lab.md: reaching it from a laptop)
#   make synth                regenerate the synthetic export
#   make fidelity             score the synthetic export against every published number
#   make map ARGS="--raw data/raw/<export>.sav"   propose the mapping of an export shaped otherwise onto the codebook
#                             (data/mappings/<export>.yml; read it, confirm, build: docs/real-export.md)
#   make coding               write/update the review sheets of the open answers (ARGS="--raw data/raw/<export>.sav")
#   make clean                remove derived data and reports (keeps .venv)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
UV_VERSION := 0.13.9

.PHONY: book test test-fast test-interrupts bench lab serve synth fidelity coding map clean distclean venv git-filter

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed; set PYTHON=/path/to/python3.11")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# uv installs the same pins several times faster than pip (measured: 7 s against 35 s); pip is the fallback.
	@# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set, an uncompiled environment is compiled again by every
	@# process (about 3 s of imports more per kernel); pip compiles at install by default
	( $(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION) && \
	  $(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -r requirements.txt ) || \
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@# make the repository importable (`from src import helpers`) from any folder, incl. notebooks/
	$(PY) -c 'import sysconfig, pathlib; pathlib.Path(sysconfig.get_paths()["purelib"], "verneombud-compendium.pth").write_text(str(pathlib.Path.cwd()) + "\n")'
	@$(MAKE) --no-print-directory git-filter
	@touch $(STAMP)

# Notebooks are committed without outputs (#26): in a git checkout, the nbstripout filter that .gitattributes
# names, keeping the cells' fixed ids (--keep-id); one already configured is left as it is. See docs/lab.md.
git-filter:
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && ! git config --get filter.nbstripout.clean >/dev/null; then \
	  git config filter.nbstripout.clean "'$(abspath $(PY))' -m nbstripout --keep-id" && \
	  git config filter.nbstripout.smudge cat && \
	  git config filter.nbstripout.required true && \
	  git config diff.ipynb.textconv "'$(abspath $(PY))' -m nbstripout --keep-id -t" && \
	  echo "git: notebooks are stripped of their outputs when staged (nbstripout filter; docs/lab.md)"; fi

venv: $(STAMP)

book: $(STAMP)
	$(PY) -m src.pipeline $(if $(PARAMS),--params $(PARAMS)) $(ARGS)

# the test files run on one worker per core (pytest-xdist; a file stays on one worker, so its module fixtures
# are made once); the builds several files read are made once per run (tests/conftest.py: shared_build)
XDIST := -n auto --dist loadfile --no-loadscope-reorder

test: $(STAMP)
	$(PY) -m pytest $(XDIST) $(ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest $(XDIST) -m "not slow" $(ARGS)

test-interrupts: $(STAMP)
	VO_KILL_MATRIX=all $(PY) -m pytest tests/test_interrupts.py $(ARGS)

bench: $(STAMP)
	$(PY) -m src.pipeline.bench $(ARGS)

# Quarto's HTML book uses module scripts, which browsers block from file://: serve it on localhost
PORT ?= 8000
serve: $(STAMP)
	@test -f reports/book/index.html || { echo "no book yet: run make book first"; exit 1; }
	@echo "The book: http://127.0.0.1:$(PORT)/  (Ctrl-C stops)"
	$(PY) -m http.server $(PORT) --bind 127.0.0.1 --directory reports/book

# JupyterLab with the project's server settings (jupyter_server_config.py: notebooks saved without outputs),
# headless (no browser: it prints the URL to open), as a user or as root (containers), on 127.0.0.1 only:
# from a laptop, forward the port (docs/lab.md). ARGS go to jupyter lab, e.g. ARGS="--port 8890".
LAB_PORT ?= 8888
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --config=$(CURDIR)/jupyter_server_config.py --notebook-dir=$(CURDIR) \
	  --no-browser --ip=127.0.0.1 --port=$(LAB_PORT) $(if $(filter 0,$(shell id -u)),--allow-root) $(ARGS)

synth: $(STAMP)
	rm -f data/raw/verneombud_2024_synthetic.sav
	$(PY) -m src.synthetic.synthesize $(ARGS)

fidelity: $(STAMP)
	$(PY) -m src.synthetic.fidelity --misses $(ARGS)

coding: $(STAMP)
	$(PY) -m src.data.review $(ARGS)

map: $(STAMP)
	$(PY) -m src.data.mapping $(ARGS)

clean:
	rm -rf data/derived/*.parquet data/derived/*.json reports/executed reports/tables reports/figures \
	       reports/results reports/results.json reports/book reports/_staging reports/_book_staging \
	       reports/failed reports/_data_provenance.md reports/.build reports/weighted .quarto

distclean: clean
	rm -rf $(VENV)
