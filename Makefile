# ifmatch — every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install serve test lint typecheck unit bench docs clean stack stack-down fuzz

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/ifmatch serve --host $(HOST) --port $(PORT) --db sqlite:///ifmatch.db

lint: $(STAMP)
	$(BIN)/ruff check src tests bench deploy fuzz
	$(BIN)/ruff format --check src tests bench deploy fuzz

# bench, fuzz and deploy are checked one at a time: bench and fuzz each have a run.py, which
# one mypy run would take for two modules of the same name.
typecheck: $(STAMP)
	$(BIN)/mypy --strict src tests
	$(BIN)/mypy --strict bench
	$(BIN)/mypy --strict fuzz
	$(BIN)/mypy --strict deploy

unit: $(STAMP)
	bash scripts/system-deps.sh
	node --test tests/js/
	$(BIN)/pytest

test: lint typecheck unit

# The site (mkdocs-material + mkdocstrings API reference) in build/site; strict: a broken
# link, anchor or reference is an error. tests/docs also builds it, so make test checks it.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(STAMP)
	bash scripts/system-deps.sh bench
	$(BIN)/python bench/run.py

# The fuzzing campaign (outside CI's time): 10**6 inputs per target under atheris, FUZZING.md.
FUZZ_RUNS ?= 1000000
FUZZ_JOBS ?= 2
fuzz: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[fuzz]'
	$(BIN)/python fuzz/run.py --runs $(FUZZ_RUNS) --jobs $(FUZZ_JOBS)

# N instances on one PostgreSQL behind nginx and Varnish (deploy/, docs/deploy.md).
INSTANCES ?= 2
stack: $(STAMP)
	bash scripts/stack.sh up --instances $(INSTANCES)

stack-down: $(STAMP)
	bash scripts/stack.sh down

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis build/site
