# One command to set up and run each thing; the virtualenv is made on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CODE := bot adapters storage

.PHONY: install demo demo-auto sandbox test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/paybot demo

demo-auto: $(STAMP)
	$(BIN)/paybot demo --auto

sandbox: $(STAMP)
	$(BIN)/paybot sandbox

lint: $(STAMP)
	$(BIN)/ruff check $(CODE) tests
	$(BIN)/ruff format --check $(CODE) tests
	$(BIN)/mypy $(CODE)

test: lint
	$(BIN)/pytest -n auto

bench: $(STAMP)
	$(BIN)/python -m tests.bench.watcher

clean:
	rm -rf $(VENV) *.egg-info .mypy_cache .ruff_cache
