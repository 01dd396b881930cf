# Two commands on a fresh machine: `make serve` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: serve test test-sqlite test-postgres check lint typecheck bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(DEV_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install -q -e '.[dev,diffusers]'
	touch $@

serve: $(STAMP)
	$(BIN)/phota migrate
	$(BIN)/phota serve

# The whole suite on SQLite, then again on a real PostgreSQL server (installed and
# started by scripts/postgres.sh), then the linters.
test: $(DEV_STAMP)
	$(MAKE) test-sqlite
	$(MAKE) test-postgres
	$(MAKE) check

test-sqlite: $(DEV_STAMP)
	$(BIN)/pytest -q

# The database-backed part of the suite again, on PostgreSQL: tests/conftest.py installs and
# starts the server (scripts/postgres.sh) when asked. Pure image/face/engine tests don't repeat.
test-postgres: $(DEV_STAMP)
	PHOTA_TEST_POSTGRES=1 $(BIN)/pytest -q tests/api tests/e2e tests/billing tests/jobs tests/test_config_docs.py

check: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

lint: check

bench: $(DEV_STAMP)
	$(BIN)/python bench/api.py
	$(BIN)/python -m bench.scale

clean:
	rm -rf $(VENV) build *.egg-info
