# `make emulate` and `make test` set everything up on a fresh machine (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN    := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev
MPY    := tests/mpy/node_modules/.package-lock.json
PYTEST_ARGS ?=
# The modules setup.py compiles (each .py with a .pxd, the runtime's .pyx). An editable install
# keeps them next to their source, and Python imports them in its place: rebuild them when that
# source changes.
PXD := $(wildcard firmware/core/*.pxd firmware/runtime/*.pxd)
COMPILED_SOURCES := setup.py $(PXD) $(wildcard $(patsubst %.pxd,%.py,$(PXD))) \
	$(wildcard firmware/runtime/*.pyx)
COMPILED := $(VENV)/.compiled

.PHONY: emulate run test lint format typecheck pytest mpy-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@ $(COMPILED)

$(COMPILED): $(COMPILED_SOURCES) | $(RUN)
	$(BIN)/pip install -q --no-deps -e .
	touch $@

# pyalsaaudio compiles against the ALSA headers (libasound2-dev): CI must have it, a laptop may not.
$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,alsa]' || { \
	  if [ -n "$$CI" ]; then echo "pyalsaaudio failed to build (install libasound2-dev)"; exit 1; fi; \
	  echo "note: pyalsaaudio not built (no ALSA headers); the real-ALSA tests will be skipped"; \
	  $(BIN)/pip install -q -e '.[dev]'; }
	touch $@ $(RUN) $(COMPILED)

$(MPY): tests/mpy/package-lock.json
	cd tests/mpy && npm ci --no-audit --no-fund --loglevel=error

emulate: $(RUN) $(COMPILED)
	$(BIN)/intercom emulate $(ARGS)

test: lint typecheck pytest mpy-test

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(DEV)
	$(BIN)/mypy

pytest: $(DEV) $(COMPILED)
	$(BIN)/pytest $(PYTEST_ARGS)

mpy-test: $(MPY)
	node tests/mpy/run.mjs

bench: $(DEV) $(COMPILED)
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) tests/mpy/node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis build
	rm -f firmware/core/*.c firmware/core/*.so firmware/runtime/*.c firmware/runtime/*.so
