# Charges & Usage: one command to run it, one to test it.
#
#   make run        the whole service locally (DynamoDB Local, moto, chalice local, event pump)
#   make test       ruff, mypy and every test tier (starts what it needs itself)
#   make bench      the benchmarks against DynamoDB Local (writes bench/results.json)
#   make reconcile  check every balance of the local stack against its ledger entries
#   make clean      forget local data and caches (keeps the venv and the DynamoDB Local jar)
#   make distclean  clean, and remove the venv and the downloaded jar too
#
# Everything runs from .venv, created on first use from requirements-dev.txt (pip
# runs again only when a requirements file changes).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.stamp

.DEFAULT_GOAL := help
.PHONY: help venv run test lint format format-check typecheck pytest bench reconcile clean distclean

help:
	@sed -n '3,8p' Makefile | sed 's/^# \{0,1\}//'

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

venv: $(STAMP)

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

pytest: venv
	$(PY) -m pytest tests/unit tests/integration tests/e2e

# In this order, even under make -j: lint, types, then the test tiers.
test: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest tests/unit tests/integration tests/e2e

bench: venv
	$(PY) -m bench.run

# The same environment as `make run` (DynamoDB Local on DYNAMODB_PORT, default 8001);
# DynamoDB Local is started for the check when `make run` is not running.
reconcile: venv
	$(PY) -m devtools.run exec $(PY) -m chalicelib.services.reconcile

clean:
	rm -rf .local/dynamodb-data .local/tokens.env .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .local
