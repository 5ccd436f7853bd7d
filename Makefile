# honeyswitch: `make demo` and `make test` work on a fresh Debian machine (as root for
# the system packages the tests use).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test setup setup-system lint bench clean

demo: $(BIN)/honeyswitch
	$(BIN)/honeyswitch demo

test: setup setup-system
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(BIN)/honeyswitch

$(BIN)/honeyswitch: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[detect,test,dev]'
	touch $@

setup-system:
	./scripts/install-system-deps

lint: setup
	$(BIN)/ruff check honeyswitch tests bench
	$(BIN)/mypy honeyswitch

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
