# The two commands a newcomer needs: `make demo` and `make test`.
# Everything else here is what those two are made of.
#
# Python packages are installed from the committed uv.lock, never from whatever
# PyPI serves today; npm packages from package-lock.json. uv itself is pinned
# below and installed into .tools/ with the machine's pip.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.9
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
# uv finds Python on this machine and never downloads one; it installs into $(VENV).
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# `--locked` fails if uv.lock no longer matches pyproject.toml (run `make lock`).
# `--extra cli`: the `syncwire` command's own dependencies (rich), which the library
# does not need; `--extra fast`: the C transport (picows), used when installed, which
# the tests check beside the default one. Every target installs both: `uv sync` would
# remove from $(VENV) what a target did not ask for.
SYNC   := $(UV) sync --locked --python $(PYTHON) --extra cli --extra fast
STAMP_NPM := node_modules/.installed

.PHONY: demo test check lint typecheck pytest coverage bench reliability fuzz install lock \
	test-latest clean dist

# The library and the command (as `pip install 'syncwire[cli]'`), not the test group.
demo: $(UV)
	$(SYNC) --inexact --no-default-groups
	$(BIN)/python -m syncwire demo

# Install exactly the lock's test environment, then lint, type-check and test.
test: install
	$(MAKE) check

# The checks alone, on whatever $(VENV) holds (`test` and `test-latest` fill it).
check: lint typecheck pytest coverage

lint:
	$(BIN)/ruff check src tests bench fuzz
	$(BIN)/ruff format --check src tests bench fuzz
	$(BIN)/lint-imports  # the floor plan in .importlinter: layers, no cycles

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest $(PYTEST_ARGS)

# Full branch coverage of syncwire._core and syncwire.protocol by their own tests
# ([tool.coverage] in pyproject.toml): below 100 % it fails. About 60 s here.
coverage:
	$(BIN)/coverage run -m pytest tests/core tests/protocol -q
	$(BIN)/coverage report

install: $(UV) $(STAMP_NPM)
	$(SYNC)

bench: $(UV) $(STAMP_NPM)
	$(SYNC) --group bench
	$(BIN)/python bench/bench_codec.py
	$(BIN)/python bench/bench_manager.py
	$(BIN)/python bench/bench_devserver.py
	$(BIN)/python bench/bench_client.py
	$(BIN)/python bench/bench_deflate.py
	$(BIN)/python bench/bench_results.py
	$(BIN)/python bench/bench_typed.py
	$(BIN)/python bench/bench_http.py

# The whole reliability suite, long tiers included; prints every figure
# (docs/reliability.md quotes them with this command).
reliability: install
	bash scripts/install-netns-tools.sh
	$(BIN)/pytest tests/reliability --full -q -rs $(PYTEST_ARGS)

# Coverage-guided fuzzing of the receive path, time-boxed: FUZZ_SECONDS (300 s ran
# 40,000-120,000 inputs here, with the machine's load; 351 s ran 110,000).
FUZZ_SECONDS ?= 300
fuzz: $(UV)
	$(SYNC) --group fuzz
	$(BIN)/python fuzz/run.py --time $(FUZZ_SECONDS)

# Move every pin in uv.lock to the newest release pyproject.toml allows
# (the README's "Development" section: run `make test-latest` first).
lock: $(UV)
	$(UV) lock --upgrade

# The whole suite against the newest allowed releases, in .venv-latest, leaving
# uv.lock alone: meets an upstream release on purpose. Not run in CI.
test-latest: $(UV) $(STAMP_NPM)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .venv-latest
	VIRTUAL_ENV=.venv-latest $(UV) pip install --quiet --upgrade --reinstall-package syncwire \
		-e '.[cli]' --group test
	$(MAKE) check VENV=.venv-latest

# The wheel and the sdist in dist/. The sdist holds every file these targets use
# (tests/test_package.py checks the list in pyproject.toml against this Makefile).
dist: $(UV)
	$(UV) build

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet uv==$(UV_VERSION)

# The official `convex` npm package: the oracle for the differential tests.
$(STAMP_NPM): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

clean:
	rm -rf $(VENV) .venv-* $(TOOLS) node_modules dist build .mypy_cache .ruff_cache \
		.pytest_cache .hypothesis .coverage
