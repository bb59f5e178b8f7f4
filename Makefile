# Two commands on a fresh machine: `make run` and `make test`. `make help` lists the rest.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help run serve test lint typecheck check bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP) ## set up and serve the platform on the embedded PostgreSQL, with a live demo site (http://localhost:8080/ui/)
	$(BIN)/cpo serve --demo

serve: $(STAMP) ## the same without the demo stations
	$(BIN)/cpo serve

test: $(STAMP) ## set up and run the whole test suite
	$(BIN)/pytest

lint: $(STAMP) ## ruff, ruff format --check, import-linter contracts
	$(BIN)/ruff check cpo ocpi ocpp_gateway payments tests
	$(BIN)/ruff format --check cpo ocpi ocpp_gateway payments tests
	$(BIN)/lint-imports

typecheck: $(STAMP) ## mypy, strict on the four packages
	$(BIN)/mypy

check: lint typecheck test ## everything CI runs

bench: $(STAMP) ## OCPP benchmarks: throughput vs a bare ocpp central system, 5,000 stations, a reconnect storm
	$(BIN)/python -m tests.benchmarks.ocpp_bench all

clean: ## remove the virtualenv, caches and test artifacts (not the data in ./var)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache artifacts *.egg-info
