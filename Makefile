# honeyswitch: `make demo` and `make test` work on a fresh Debian machine (as root for
# the system packages the tests use).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test setup setup-system setup-packet native lint bench bench-quick clean

demo: $(BIN)/honeyswitch
	$(BIN)/honeyswitch demo

# The system packages first: the C compiler builds the compiled hot modules at setup.
test: setup-system setup setup-packet
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(BIN)/honeyswitch

$(BIN)/honeyswitch: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# Compiles the hot modules (mypyc takes the dependencies, installed after the build,
	# as untyped); `make native` recompiles them after an edit.
	$(BIN)/pip install -q -e '.[detect,cluster,test,dev]'
	touch $@

setup-system:
	./scripts/install-system-deps

# Recompile the hot modules (honeyswitch/native.py) after editing them; until then their
# Python sources run.
native: setup
	$(BIN)/pip install -q --no-deps -e .

# The NFQUEUE binding of packet mode compiles against libnetfilter_queue (setup-system).
# Only the [packet] extra's requirements (read from pyproject.toml): reinstalling the
# package would build the compiled modules a second time.
setup-packet: setup setup-system
	$(BIN)/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["packet"]))' > $(VENV)/packet-requirements.txt
	$(BIN)/pip install -q -r $(VENV)/packet-requirements.txt

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

# The quick side-by-side: new connections/s and 50-connection ping-pong, direct, HAProxy
# and honeyswitch, one run each (about a minute).
bench-quick: setup
	./bench/install-deps
	$(BIN)/python -m bench --only connrate,pingpong50 --targets direct,haproxy,hs-mirror --runs 1

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
	find honeyswitch -name '*.so' -delete
