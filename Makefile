# assoc-ledger: `make run` serves the demo county; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export ASSOC_DATABASE_URL ?= sqlite:///$(CURDIR)/var/assoc.sqlite3
export ASSOC_LEDGER_DIR ?= $(CURDIR)/ledgers

.PHONY: run test bench lint typecheck setup setup-test clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "需要 Python 3.11（$(PYTHON)）"; exit 1; }
	$(PYTHON) -m venv $(VENV) || { bash scripts/apt-install.sh python3.11-venv && rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip >/dev/null
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed
	@bash scripts/system-deps.sh run

setup-test: $(VENV)/.installed
	@bash scripts/system-deps.sh test

run: setup
	$(BIN)/assoc-ledger migrate
	$(BIN)/assoc-ledger demo
	$(BIN)/assoc-ledger serve

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests bench

typecheck: $(VENV)/.installed
	$(BIN)/mypy

# The suite must stay well under CI's 20 minutes on 2 cores: a run that grows past 18 fails here, and the
# slowest tests are listed every time so growth is seen early.
test: setup-test lint typecheck
	timeout --foreground 18m $(BIN)/pytest -q -n 2 --dist loadgroup --durations=30

bench: setup-test
	$(BIN)/python -m bench

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
