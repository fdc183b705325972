# Every install step lives here: `make serve` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Python keeps its compiled bytecode (__pycache__, ignored by git) even where the
# environment says not to: the suite starts hundreds of interpreters, and each pytest
# process would otherwise compile the package and rewrite every test module again
# (3 of its 6 CPU-seconds of collection).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: serve test test-fast checks lint typecheck pytest pytest-containers bench clean vendor client-sync

$(STAMP): pyproject.toml client/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "imagetune needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet -e ./client
	touch $(STAMP)

## serve: set up and run the service on the embedded default (SQLite, local files)
serve: $(STAMP)
	$(BIN)/imagetune serve

## test: set up, then lint, type-check and run the whole test suite (the container tests last)
test: $(STAMP)
	$(MAKE) --no-print-directory --jobs=2 checks pytest
	$(MAKE) --no-print-directory pytest-containers

# ruff and mypy run beside pytest, not before it: mypy keeps one core busy for about
# 20 s from a cold cache, while pytest can use both. Their output is held until they end,
# then shown in one piece, so that it does not break into pytest's; either failing fails
# the target, once both are done. They run one after the other (MAKEFLAGS emptied: not
# the parent's job slots), both even when the first fails.
checks: $(STAMP)
	@log=$$(mktemp); MAKEFLAGS= $(MAKE) --no-print-directory --keep-going lint typecheck >$$log 2>&1; \
	status=$$?; cat $$log; rm -f $$log; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check src tests bench client
	$(BIN)/ruff format --check src tests bench client

typecheck: $(STAMP)
	$(BIN)/mypy
	cd client && ../$(BIN)/mypy

# Four workers on two cores: many tests wait on servers and subprocesses. Files of slow
# tests are sent first (tests/scheduling.py). MARKS: which tests (test-fast narrows it).
MARKS ?= not container
pytest: $(STAMP)
	$(BIN)/pytest -n 4 --dist loadfile -m "$(MARKS)"

# The container-image tests (tests/deploy, then bench/containers.py --smoke on the image
# they built): minutes of their own, one at a time, in file order.
pytest-containers: $(STAMP)
	$(BIN)/pytest -m container

## test-fast: lint, types and every test not marked slow (the edit-test loop)
test-fast: $(STAMP)
	$(MAKE) --no-print-directory --jobs=2 checks pytest MARKS="not slow and not container"

## vendor: refresh the playground's front-end code from the npm registry (needs npm)
vendor:
	scripts/vendor-frontend.sh

## client-sync: write the blocking Python client (sync.py) from the async one, after editing it
client-sync: $(STAMP)
	$(BIN)/python client/scripts/generate_sync.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
