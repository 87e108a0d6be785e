# One entry point per job. Every target sets up .venv from the project's own files first,
# so a fresh clone needs nothing but python3 (and, for `make interop`, root for apt-get).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HASH   := $(shell cksum pyproject.toml | cut -d' ' -f1)
TEST_STAMP  := $(VENV)/.test-$(HASH)
BENCH_STAMP := $(VENV)/.bench-$(HASH)

.PHONY: test lint bench interop clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test,lint]'
	rm -f $(VENV)/.test-*; touch $@

$(BENCH_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[bench]'
	# niquests brings urllib3-future, which would replace urllib3 in this venv (and the
	# urllib3/requests rows would measure the fork): keep the real urllib3.
	URLLIB3_NO_OVERRIDE=1 $(PY) -m pip install -q --no-binary urllib3-future 'niquests>=3.21' \
		|| echo "niquests not installed: the benchmark reports it as missing"
	rm -f $(VENV)/.bench-*; touch $@

test: $(TEST_STAMP)
	$(PY) -m pytest -q --ignore=tests/interop/test_system_servers.py $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(PY) tests/unasync.py --check
	$(VENV)/bin/ruff check keepalive tests benchmarks
	$(VENV)/bin/mypy --strict keepalive

bench: $(BENCH_STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)

interop: $(TEST_STAMP)
	bash tests/interop/install_system_servers.sh
	$(PY) -m pytest -q tests/interop/test_system_servers.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
