# The two commands of the quickstart:
#   make demo   set up a virtualenv, install synth, run the end-to-end demo
#   make test   run the test suite (the default run; `make test-slow` for the long tests)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Pins the CPU build of torch for development and CI (see constraints/dev.txt);
# `make install CONSTRAINTS=` lets pip choose, e.g. a CUDA build on a GPU machine.
CONSTRAINTS ?= -c constraints/dev.txt

.PHONY: install demo test test-slow test-postgres lint protos bench clean

$(BIN)/synth: pyproject.toml constraints/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(CONSTRAINTS) -e '.[dev]'
	touch $(BIN)/synth

install: $(BIN)/synth

demo: install
	$(BIN)/synth demo

test: install
	$(BIN)/pytest

# pytest exits 5 when no test is marked slow: that is not a failure.
test-slow: install
	$(BIN)/pytest -m slow || [ $$? -eq 5 ]

# The service and migration tests against PostgreSQL: a throwaway cluster on a
# Unix socket, a fresh database per server (needs the server binaries, e.g.
# Debian's `apt-get install postgresql`).
test-postgres: install
	bash scripts/with-postgres.sh $(BIN)/pytest tests/service tests/store

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check synth/base synth/cli synth/core synth/jobs synth/server synth/store
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

protos: install
	$(BIN)/python scripts/gen_protos.py

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) synth-data .pytest_cache .mypy_cache .ruff_cache
