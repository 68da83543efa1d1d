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
# The web app's bundle is committed (labelproof/app/static/app.js, so an installed package needs
# no node); it is rebuilt with the pinned esbuild when its sources change.
APP_BUNDLE := labelproof/app/static/app.js
APP_SOURCES := $(wildcard labelproof/app/src/*.mjs)

# slither lives in its own venv: its crytic-compile and eth packages conflict with brownie's pins.
SLITHER_VENV := .venv-slither
SLITHER_CHECK := $(BIN)/python tools/slither_check.py --slither $(SLITHER_VENV)/bin/slither

.PHONY: setup test demo bench bench-gas bench-merkle bench-scoring bench-services bench-relayer lint slither format clean

setup: $(BIN)/.installed node_modules/.installed build/.compiled $(APP_BUNDLE)

$(BIN)/.installed: constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

# `npm ci`: exactly the lock file, never rewritten. The lock lists anvil's and cast's packages
# for every platform, as a fresh `npm install --package-lock-only` writes it; an older lock
# without them was what `npm ci` refused. After adding an npm dependency, regenerate it that
# way (from package.json alone: delete the lock first) and commit it.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The compiler shim is re-checked every time (cheap): a clone elsewhere may have moved it.
build/.compiled: $(BIN)/.installed node_modules/.installed $(SOURCES) brownie-config.yaml
	$(BIN)/python -m labelproof.toolchain --quiet
	$(BIN)/brownie compile
	$(BIN)/python -m labelproof.packaged
	@touch $@

$(APP_BUNDLE): $(APP_SOURCES) package.json node_modules/.installed
	npm run --silent build:app

# The browser tests (tests/browser) drive Debian's chromium with Playwright (Playwright's own
# browser download is not used): installed from apt when missing, as root or through sudo.
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

# Reruns only for brownie's "Tx dropped without known replacement", a race in its receipt polling
# seen once in many runs on a loaded machine; any other failure fails the run.
test: setup chromium
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

bench: bench-gas bench-merkle bench-scoring bench-services

bench-gas: setup
	$(BIN)/python -m labelproof.toolchain --quiet
	$(BIN)/python benchmarks/bench_gas.py

# Whole `labelproof merkle build` process vs the OpenZeppelin JS library on the same CSV.
bench-merkle: setup
	$(BIN)/python benchmarks/bench_merkle.py $(ARGS)

# Includes the 100M-answer run (minutes; ~0.7 GB of Parquet in /tmp): ARGS=--skip-100m leaves it
# out, ARGS=--only=answers_100m runs it alone (sections: see benchmarks/bench_scoring.py).
bench-scoring: setup
	$(BIN)/python benchmarks/bench_scoring.py $(ARGS)

# The oracle service under load (reveal intake) and at scale (deadline to proposal, 1.5M
# labels), this checkout against BEFORE_REF's code in the same run (ARGS=--skip-before: this
# checkout only; ARGS=--quick: a small smoke run). About 15 minutes on 2 shared cores.
# BEFORE_REF: the code before issue #10's work (v2 as it stood at the start of that work).
BEFORE_REF ?= 2a9a402
bench-services: setup bench-relayer
	$(BIN)/python benchmarks/bench_services.py --before-ref $(BEFORE_REF) $(ARGS)

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
