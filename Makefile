# eventlab: two set-up commands on a fresh machine with Python 3.11+: `make lab` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STORE  ?= demo-store

.PHONY: lab demo test docs lint typecheck bench install install-test clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "eventlab needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

## The library plus JupyterLab, widgets and charts (the [lab] extra): what `make lab` opens.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[lab]"
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -q -e ".[test]"
	@touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## Main job: install into .venv and open JupyterLab on the first notebook (works offline).
## As root (containers) JupyterLab needs --allow-root; it never checks for updates.
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root) \
	--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate
lab: install
	$(BIN)/jupyter lab notebooks/01_quickstart.ipynb $(LAB_FLAGS)

## Headless twin of `make lab`: import the bundled sample audit log and print a summary.
demo: install
	$(BIN)/eventlab demo $(STORE)

## The whole suite: lint, types, the docs site (a broken reference fails), unit/property/crash
## tests, notebooks, README snippets, browser.
test: install-test
	$(BIN)/ruff check eventlab tests benchmarks
	$(BIN)/mypy
	$(BIN)/mkdocs build --strict --quiet --site-dir test-artifacts/site
	TZ=UTC $(BIN)/python -m pytest

## The documentation site in site/ (mkdocs-material; API reference from the docstrings).
docs: install-test
	$(BIN)/mkdocs build --strict --site-dir site

## Heavier crash torture than `make test`: 10x the SIGKILLs (about 2,160); counts go to
## test-artifacts/torture-summary.json.
.PHONY: torture
torture: install-test
	TZ=UTC EVENTLAB_TORTURE_SCALE=10 $(BIN)/python -m pytest tests -m slow -q
	@cat test-artifacts/torture-summary.json

## Mutation testing of the point-in-time core (slow, not part of `make test`): mutmut mutates
## the modules listed in pyproject's [tool.mutmut], runs the fast tests that reach each mutant,
## and writes the kill rate per module and every surviving mutant to
## test-artifacts/mutation-report.md. MUTATE="eventlab/store/scan.py ..." limits the modules.
.PHONY: mutation
mutation: install-test
	$(BIN)/python -m pip install -q -e ".[mutation]"
	rm -rf mutants
	TZ=UTC EVENTLAB_PROGRESS=0 EVENTLAB_DATASETS=$(abspath ../shared/datasets) \
		$(BIN)/python tests/helpers/mutation.py run $(MUTATE)
	$(BIN)/python tests/helpers/mutation.py report > test-artifacts/mutation-report.md
	@cat test-artifacts/mutation-report.md

## pm4py (AGPL) is never a dependency: the comparisons run it from its own .bench-venv.
bench: install-test
	$(BIN)/python -m pip install -q -e ".[bench]"
	test -x .bench-venv/bin/python || ($(PYTHON) -m venv .bench-venv && \
		.bench-venv/bin/pip install -q -r benchmarks/requirements-pm4py.txt)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(STORE) site test-artifacts .pytest_cache .mypy_cache .ruff_cache
