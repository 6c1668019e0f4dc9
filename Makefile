# Charges & Usage: one command to run it, one to test it.
#
#   make run        the whole service locally (DynamoDB Local, moto, chalice local, event pump)
#   make test       ruff, mypy, the import contracts and every test tier (starts what it needs itself)
#   make test-long  the tiers with the slow property tests at their long budgets (as before issue 12)
#   make bench      the benchmarks against DynamoDB Local (writes bench/results.json)
#   make package    the SAM/CloudFormation template and the Lambda zip, in dist/package (README: Deploying)
#   make reconcile  check every balance of the local stack against its ledger entries
#   make rebuild    derive Logs pages, rollups and posting days from the ledger entries (idempotent)
#   make statements-now  fire the statement scheduler once against the local stack (AT=<RFC 3339> to pretend)
#   make clean      forget local data and caches (keeps the venv and the DynamoDB Local jar)
#   make distclean  clean, and remove the venv and the downloaded jar too
#
# Everything runs from .venv, created on first use from requirements-dev.txt (uv
# runs again only when a requirements file changes).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.stamp

# Python caches compiled modules (and pytest its rewritten test modules) in __pycache__ unless
# told not to: every pytest run and every process the tests start (chalice local, moto, the
# pump) would otherwise compile chalicelib, the tests and the plugins again (4 s a start here).
# `make clean` removes the caches.
unexport PYTHONDONTWRITEBYTECODE

.DEFAULT_GOAL := help
.PHONY: help venv chromium run test test-unit test-tiers test-long lint format format-check typecheck pytest bench reconcile rebuild package statements-now clean distclean

help:
	@sed -n '3,12p' Makefile | sed 's/^# \{0,1\}//'

$(PY):
	$(PYTHON) -m venv $(VENV)

# uv (from PyPI, pinned) installs the requirements: 13 s on a fresh machine here, where pip took
# 55 s (uv downloads side by side and compiles the bytecode on both cores; the same versions).
# pip stays in the venv: `chalice package` uses it to fetch Lambda's wheels.
UV_VERSION := 0.13.9

$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install -q --python $(PY) --compile-bytecode -r requirements-dev.txt
	touch $@

venv: $(STAMP)

# Debian's Chromium for the browser tests (tests/browser, Playwright drives it; no
# `playwright install`). Installed when missing, a no-op when /usr/bin/chromium is there.
chromium:
	@test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

run: venv
	$(PY) -m devtools.run

lint: venv
	$(VENV)/bin/ruff check .

format: venv
	$(VENV)/bin/ruff format .

format-check: venv
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

pytest: venv chromium
	$(PY) -m pytest tests/unit tests/integration tests/e2e tests/deploy tests/browser

# Lint and the layers and cycles (pyproject.toml [tool.importlinter]) first; then, side by side,
# the types, the unit tier with its coverage of domain and services (no AWS; branch mode) and
# the tiers that need DynamoDB Local, moto or the stack, each one's output printed whole when it
# ends (the tiers' last, after 5 to 6 minutes). The tiers wait on those stand-ins about half the
# time, so they run in pytest-xdist workers, each taking a whole module, the slow ones first
# (tests/conftest.py).
TIER_WORKERS ?= 3
TIERS := tests/browser tests/e2e tests/deploy tests/integration

# DynamoDB Local's JVM in the tests: the C1 compiler only and the serial collector. The tiers start
# eight of them (one per worker, one per e2e or browser stack), each living a few minutes, and C2
# compiling their hot paths cost more CPU than it saved (the tiers: 667 -> 594 CPU-seconds,
# 389 -> 344 s). `make run` and `make bench` keep the JVM's defaults.
test test-tiers test-long: export DYNAMODB_LOCAL_JAVA_OPTS ?= -XX:TieredStopAtLevel=1 -XX:+UseSerialGC

test: venv chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	@$(MAKE) --no-print-directory -j3 --output-sync=target typecheck test-unit test-tiers

test-unit: venv
	$(PY) -m pytest tests/unit --cov=chalicelib.domain --cov=chalicelib.services --cov-branch \
		--cov-report=term:skip-covered

test-tiers: venv chromium
	$(PY) -m pytest -n $(TIER_WORKERS) --no-loadscope-reorder $(TIERS)

# The property tests that run through DynamoDB Local or the stack at their long budgets
# (tests/conftest.py `budget`): the writer's state machine, the API fuzz. Not part of make test.
test-long: venv chromium
	$(PY) -m pytest --hypothesis-profile=long tests/unit tests/integration tests/e2e tests/deploy tests/browser

bench: venv
	$(PY) -m bench.run

# chalice package --merge-template (deploy/template.py) + boto3/botocore taken out of the
# zip; reused while nothing it is made from changes. Needs PyPI (manylinux wheels).
package: venv
	$(PY) -m deploy.package

# The same environment as `make run` (DynamoDB Local on DYNAMODB_PORT, default 8001);
# DynamoDB Local is started for the check when `make run` is not running.
reconcile: venv
	$(PY) -m devtools.run exec $(PY) -m chalicelib.services.reconcile

# Derive the Logs pages, rollups and posting days from the ledger entries of the local stack
# (a ledger kept from an older version; `make run` does it by itself when pages are missing).
rebuild: venv
	$(PY) -m devtools.run exec $(PY) -m chalicelib.services.rebuild

# The statement scheduler's 15-minute tick, once, now (or at AT=2026-12-01T11:00:00Z), against
# the same local stack; then it sends what it queued (the pump of `make run` may beat it to it).
statements-now: venv
	$(PY) -m devtools.run exec $(PY) -m devtools.statements_now $(if $(AT),--at $(AT))

clean:
	rm -rf .local/dynamodb-data .local/tokens.env .local/lambda-runtime .pytest_cache .mypy_cache .ruff_cache .hypothesis dist
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .local
