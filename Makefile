# cloudcpe developer entry points. Everything runs as root (kernel namespaces, nftables).
#
#   make setup      Debian packages + .venv (idempotent, fast when nothing is missing)
#   make demo       setup, then build the lab on this machine and run a service through it
#   make demo-down  tear the demo lab down
#   make lint       ruff check, ruff format --check, mypy
#   make test       setup, lint, pytest on SQLite, then the same suite on a throwaway
#                   PostgreSQL (scripts/postgres.sh)
#   make bench      run every bench/*.py
#   make clean      caches, build leftovers, bench/out, the throwaway PostgreSQL
#                   (data/ and artifacts/ are left alone)
#   make distclean  clean + remove .venv

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
LINT_PATHS := src tests bench
PYTEST_ARGS ?=

.PHONY: setup demo demo-down lint test test-sqlite test-postgres bench clean distclean

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/cloudcpe demo

demo-down:
	$(VENV)/bin/cloudcpe demo --down

lint: setup
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

test: setup lint
	@$(MAKE) --no-print-directory test-sqlite
	@$(MAKE) --no-print-directory test-postgres

# SQLite: the embedded default. The whole suite, kernel tests included (as on PostgreSQL).
test-sqlite:
	@echo "==> pytest, database: SQLite (a temporary file per test session)"
	env -u CLOUDCPE_TEST_DATABASE_URL $(VENV)/bin/pytest -q -rs $(PYTEST_ARGS)

# PostgreSQL: a throwaway cluster on a unix socket, stopped whatever pytest returns;
# pytest's exit code is the recipe's.
test-postgres:
	@trap 'bash scripts/postgres.sh stop' EXIT INT TERM; \
	bash scripts/postgres.sh start || exit 1; \
	url=$$(bash scripts/postgres.sh url); \
	echo "==> pytest, database: PostgreSQL $$url"; \
	CLOUDCPE_TEST_DATABASE_URL="$$url" $(VENV)/bin/pytest -q -rs $(PYTEST_ARGS)

bench: setup
	@set -e; shopt -s nullglob; files=(bench/*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "bench: no bench/*.py"; exit 0; fi; \
	for f in "$${files[@]}"; do echo "==> $$f"; $(PY) "$$f"; done

clean:
	-bash scripts/postgres.sh stop
	rm -rf .mypy_cache .ruff_cache .pytest_cache build dist bench/out
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -type d -name '*.egg-info' -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
