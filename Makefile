# Two entry points: `make demo` (set up + render the sample episode) and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint studio bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/studio demo

test: $(STAMP)
	bash scripts/test-system-deps.sh
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

studio: $(STAMP)
	$(BIN)/studio serve samples/lighthouse

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) out test-artifacts
