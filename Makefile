# Set-up and checks. `make run` installs into .venv and runs a cookbook script;
# `make test` runs the whole test suite (tests/realmodel included when the
# realmodel extra is installed) and the conformance harness.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev
CONFORMANCE ?= ../shared/conformance/run
REQUIRED := $(shell paste -sd, tests/conformance-required.txt 2>/dev/null)

.PHONY: install run test unit realmodel conformance conformance-all bench lint docs clean

install: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

run: install
	$(BIN)/llmspell run cookbook/hello.lua

test: unit conformance

unit: install
	$(BIN)/python -m pytest tests -rs

# Only the tier against a real model server (part of `unit` too; skipped, with one line
# saying how to install it, without the realmodel extra).
realmodel: install
	$(BIN)/python -m pytest tests/realmodel -rs

conformance: install
	@if [ -x "$(CONFORMANCE)" ]; then \
		$(CONFORMANCE) --llmspell "$(abspath $(BIN))/llmspell" --only "$(REQUIRED)"; \
	else \
		echo "conformance harness not found at $(CONFORMANCE); skipped"; \
	fi

conformance-all: install
	$(CONFORMANCE) --llmspell "$(abspath $(BIN))/llmspell"

bench: install
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

lint: install
	$(BIN)/ruff check llmspell tests benchmarks

# docs/cli.md from the commands' own --help (tests/test_cli_docs.py checks it is current)
docs: install
	$(BIN)/python -m llmspell.cli.reference --write docs/cli.md

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
