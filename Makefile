# Two commands on a fresh machine (Python 3.11, Node 20, make): `make demo` and `make test`.
# Each target sets up what it needs, once: .venv from constraints.txt, node_modules from
# package-lock.json, solc 0.8.30 where py-solc-x finds it, and the compiled contracts.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)
PYTEST_WORKERS ?= 2
ARGS ?=

SOURCES := $(shell find contracts -name '*.sol')

# slither lives in its own venv: its crytic-compile and eth packages conflict with brownie's pins.
SLITHER_VENV := .venv-slither
SLITHER_CHECK := $(BIN)/python tools/slither_check.py --slither $(SLITHER_VENV)/bin/slither

.PHONY: setup test demo bench bench-gas bench-merkle bench-scoring bench-relayer lint slither format clean

setup: $(BIN)/.installed node_modules/.installed build/.compiled

$(BIN)/.installed: constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

# `npm install` rather than `npm ci`: npm 11 leaves anvil's other-platform optional packages out
# of the lock file and `npm ci` then refuses it. With exact versions in package.json and the lock
# present, install resolves the same tree and leaves the lock untouched.
node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

# The compiler shim is re-checked every time (cheap): a clone elsewhere may have moved it.
build/.compiled: $(BIN)/.installed node_modules/.installed $(SOURCES) brownie-config.yaml
	$(BIN)/python -m labelproof.toolchain --quiet
	$(BIN)/brownie compile
	@touch $@

# Reruns only for brownie's "Tx dropped without known replacement", a race in its receipt polling
# seen once in many runs on a loaded machine; any other failure fails the run.
test: setup
	$(BIN)/python -m labelproof.toolchain --quiet
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -p no:cacheprovider \
		--reruns 2 --only-rerun "Tx dropped without known replacement" tests

# The stateful test of the contracts (tests/contracts/test_stateful.py), deeper than `make test`
# runs it (5,000 steps from a fixed seed): FUZZ_STEPS steps from a fresh seed, about 100 a second.
# It prints its seed; LABELPROOF_FUZZ_SEED=<seed> replays a run.
FUZZ_STEPS ?= 50000
.PHONY: fuzz
fuzz: setup
	$(BIN)/python -m labelproof.toolchain --quiet
	LABELPROOF_FUZZ_STEPS=$(FUZZ_STEPS) $(BIN)/python -m pytest -p no:cacheprovider -rP \
		tests/contracts/test_stateful.py::test_settlement_state_machine $(ARGS)

demo: setup
	$(BIN)/python -m labelproof.toolchain --quiet
	$(BIN)/python -m labelproof.demo $(ARGS)

bench: bench-gas bench-merkle bench-scoring

bench-gas: setup
	$(BIN)/python -m labelproof.toolchain --quiet
	$(BIN)/python benchmarks/bench_gas.py

bench-merkle: setup
	$(BIN)/python benchmarks/bench_merkle.py

bench-scoring: setup
	$(BIN)/python benchmarks/bench_scoring.py

# Relayer intake (signed attestations accepted per second by the real process), written into
# benchmarks/results/services.json under relayer_intake_per_s (read-modify-write).
bench-relayer: setup
	$(BIN)/python -m labelproof.toolchain --quiet
	$(BIN)/python benchmarks/bench_relayer.py

$(SLITHER_VENV)/bin/.installed: tools/slither-requirements.txt
	@test -x $(SLITHER_VENV)/bin/python || $(PYTHON) -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-r tools/slither-requirements.txt
	@touch $@

# Static analysis of contracts/ against slither-triage.json: fails on any finding without a
# written verdict. Re-triage after changing contracts with `make slither ARGS=--update`, then
# `ARGS=--prune` (see tools/slither_check.py). Needs no brownie build: slither compiles itself.
slither: $(BIN)/.installed node_modules/.installed $(SLITHER_VENV)/bin/.installed
	$(SLITHER_CHECK) $(ARGS)

lint: setup $(SLITHER_VENV)/bin/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy tools
	$(SLITHER_CHECK)

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf build reports .pytest_cache
