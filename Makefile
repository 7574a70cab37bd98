# certseal — the README's two commands are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint bench install install-test system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## make run: virtualenv, install, initialise ./var with demo data (CAs, TSA, license seals, users, licenses), serve on http://$(HOST):$(PORT)
run: install
	$(BIN)/certseal init --demo
	$(BIN)/certseal serve --host $(HOST) --port $(PORT)

## make test: system packages the suite needs (if missing), test dependencies, lint, the whole suite
test: system-deps install-test lint
	$(BIN)/pytest

system-deps:
	@bash scripts/system-deps.sh

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## make bench: benchmarks beside their reference implementations (not part of the test suite)
bench: install-test
	$(BIN)/python bench/crypto.py
	$(BIN)/python -m bench.pki

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
