# Two commands on a fresh machine: `make serve` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: serve test test-sqlite test-postgres check lint typecheck bench clean scale-try scale-try-stop

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(DEV_STAMP): pyproject.toml clients/python/pyproject.toml $(STAMP)
	$(BIN)/pip install -q -e '.[dev,diffusers]' -e ./clients/python
	touch $@

serve: $(STAMP)
	$(BIN)/phota migrate
	$(BIN)/phota serve

# The whole suite on SQLite, then again on a real PostgreSQL server (installed and
# started by scripts/postgres.sh), then the linters.
# Every suite runs even when an earlier one fails (a SQLite failure must not hide the PostgreSQL
# result); the target fails at the end, naming the suites that failed.
test: $(DEV_STAMP)
	@failed=""; \
	for suite in test-sqlite test-postgres check; do \
		$(MAKE) $$suite || failed="$$failed $$suite"; \
	done; \
	if [ -n "$$failed" ]; then echo "make test: failed:$$failed" >&2; exit 1; fi; \
	echo "make test: test-sqlite, test-postgres and check passed"

test-sqlite: $(DEV_STAMP)
	$(BIN)/pytest -q

# The database-backed part of the suite again, on PostgreSQL: tests/conftest.py installs and
# starts the server (scripts/postgres.sh) when asked. Pure image/face/engine tests don't repeat.
test-postgres: $(DEV_STAMP)
	PHOTA_TEST_POSTGRES=1 $(BIN)/pytest -q tests/api tests/e2e tests/billing tests/jobs tests/test_config_docs.py

# The scale-out set on this machine for a try (docs/deploy.md): PostgreSQL, SeaweedFS (S3),
# migrate, two APIs and two workers, each with its own empty data dir.
scale-try: $(DEV_STAMP)
	bash scripts/scale-try.sh start

scale-try-stop:
	bash scripts/scale-try.sh stop

check: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench clients/python
	$(BIN)/ruff format --check src tests bench clients/python
	$(BIN)/mypy
	$(BIN)/mypy clients/python/src/phota_client

lint: check

# Every benchmark script; each writes its section of docs/benchmarks.md.
BENCHES = api scale remix enhance enhance_every identity embedding training imaging usage memory async_jobs engines sdk

bench: $(DEV_STAMP)
	set -e; for b in $(BENCHES); do $(BIN)/python -m bench.$$b; done

clean:
	rm -rf $(VENV) build *.egg-info
