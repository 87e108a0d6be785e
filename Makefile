# One entry point per job. Every target sets up .venv from the project's own files first,
# so a fresh clone needs nothing but python3.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: venv test lint bench interop clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,lint,bench]'
	rm -f $(VENV)/.installed-*; touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q --ignore=tests/interop/test_system_servers.py $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check keepalive tests benchmarks
	$(VENV)/bin/mypy --strict keepalive

bench: $(STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)

interop: $(STAMP)
	bash tests/interop/install_system_servers.sh
	$(PY) -m pytest -q tests/interop/test_system_servers.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
