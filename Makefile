# honeyswitch: `make demo` and `make test` work on a fresh Debian machine (as root for
# the system packages the tests use).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test setup setup-system setup-packet lint bench clean

demo: $(BIN)/honeyswitch
	$(BIN)/honeyswitch demo

test: setup setup-system setup-packet
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(BIN)/honeyswitch

$(BIN)/honeyswitch: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[detect,cluster,test,dev]'
	touch $@

setup-system:
	./scripts/install-system-deps

# The NFQUEUE binding of packet mode compiles against libnetfilter_queue (setup-system).
setup-packet: setup setup-system
	$(BIN)/pip install -q -e '.[packet]'

lint: setup
	$(BIN)/ruff check honeyswitch tests bench
	$(BIN)/mypy honeyswitch

# The benchmark against direct connections and HAProxy (not part of the test suite):
# installs HAProxy, nginx, iperf3 and wrk from Debian, then runs every case, 3 runs each
# (about 10 minutes).  BENCH_ARGS passes options: BENCH_ARGS="--quick", "--only bulk1".
BENCH_ARGS ?=
bench: setup
	./bench/install-deps
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
