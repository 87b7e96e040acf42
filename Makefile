# The two commands a newcomer needs: `make demo` and `make test`.
# Everything else here is what those two are made of.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Re-install only when the project's dependency lists change.
STAMP_PY  := $(VENV)/.installed
STAMP_NPM := node_modules/.installed

.PHONY: demo test lint typecheck pytest bench reliability fuzz install clean dist

demo: $(STAMP_PY)
	$(BIN)/python -m syncwire demo

test: $(STAMP_PY) $(STAMP_NPM) lint typecheck pytest

lint: $(STAMP_PY)
	$(BIN)/ruff check src tests bench fuzz
	$(BIN)/ruff format --check src tests bench fuzz

typecheck: $(STAMP_PY)
	$(BIN)/mypy

pytest: $(STAMP_PY) $(STAMP_NPM)
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP_PY)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python bench/bench_codec.py
	$(BIN)/python bench/bench_manager.py
	$(BIN)/python bench/bench_devserver.py
	$(BIN)/python bench/bench_client.py

# The whole reliability suite, long tiers included; prints every figure
# (docs/reliability.md quotes them with this command).
reliability: $(STAMP_PY) $(STAMP_NPM)
	bash scripts/install-netns-tools.sh
	$(BIN)/pytest tests/reliability --full -q -rs $(PYTEST_ARGS)

# Coverage-guided fuzzing of the receive path, time-boxed: FUZZ_SECONDS (300 s ran
# 40,000-120,000 inputs here, with the machine's load; 351 s ran 110,000).
FUZZ_SECONDS ?= 300
fuzz: $(STAMP_PY)
	$(BIN)/python -m pip install --quiet -e ".[fuzz]"
	$(BIN)/python fuzz/run.py --time $(FUZZ_SECONDS)

dist: $(STAMP_PY)
	$(BIN)/python -m build

install: $(STAMP_PY) $(STAMP_NPM)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP_PY): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

# The official `convex` npm package: the oracle for the differential tests.
$(STAMP_NPM): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

clean:
	rm -rf $(VENV) node_modules dist build .mypy_cache .ruff_cache .pytest_cache .hypothesis
