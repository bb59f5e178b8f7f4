# Two commands on a fresh machine: `make run` and `make test`. `make help` lists the rest.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NATIVE := $(VENV)/.native
PEER := .venv-emsp/.installed

.DEFAULT_GOAL := help
.PHONY: help run serve test fuzz lint typecheck check bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The pricing engine compiled with mypyc (about 1.4x as fast); rebuilt when engine.py changes. Without a C
# compiler the engine runs as plain Python, with the same results.
$(NATIVE): $(STAMP) cpo/tariffs/engine.py cpo/tariffs/ocpi.py
	$(BIN)/python -m cpo.tariffs.native build || echo "note: the pricing engine runs as plain Python (no C compiler?)"
	touch $(NATIVE)

run: $(STAMP) $(NATIVE) ## set up and serve the platform on the embedded PostgreSQL, with a live demo site (http://localhost:8080/ui/)
	$(BIN)/cpo serve --demo

serve: $(STAMP) $(NATIVE) ## the same without the demo stations
	$(BIN)/cpo serve

# An independent eMSP (extrawest-ocpi) for the OCPI interoperability test, in its own virtualenv: its pinned
# dependencies clash with ours.
$(PEER): tests/peers/extrawest-requirements.txt
	test -x .venv-emsp/bin/python || $(PYTHON) -m venv .venv-emsp
	.venv-emsp/bin/python -m pip install --quiet -r tests/peers/extrawest-requirements.txt
	touch $(PEER)

test: $(STAMP) $(NATIVE) $(PEER) ## set up and run the whole test suite
	$(BIN)/pytest

# The admin API's property-based test (schemathesis, from its OpenAPI document) with many more examples per
# operation than `make test` runs; FUZZ_EXAMPLES sets how many.
FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP) $(NATIVE) ## the admin API fuzzed from its OpenAPI document, FUZZ_EXAMPLES (200) per operation: no 5xx, answers as documented
	CPO_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/integration/test_api_schema_fuzz.py

lint: $(STAMP) ## ruff, ruff format --check, import-linter contracts
	$(BIN)/ruff check cpo ocpi ocpp_gateway payments tests
	$(BIN)/ruff format --check cpo ocpi ocpp_gateway payments tests
	$(BIN)/lint-imports

typecheck: $(STAMP) ## mypy, strict on the four packages
	$(BIN)/mypy

check: lint typecheck test ## everything CI runs

bench: $(STAMP) $(NATIVE) ## benchmarks: OCPP (throughput vs a bare ocpp central system, 5,000 stations, a reconnect storm), pricing (CDRs/s), OCPI (10,000 locations)
	$(BIN)/python -m tests.benchmarks.tariff_bench
	$(BIN)/python -m tests.benchmarks.ocpi_bench
	$(BIN)/python -m tests.benchmarks.ocpp_bench all

clean: ## remove the virtualenv, caches and test artifacts (not the data in ./var)
	rm -rf $(VENV) .venv-emsp .pytest_cache .mypy_cache .ruff_cache artifacts *.egg-info
