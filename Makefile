# Basin: `make run` starts the app, `make test` runs the whole suite. Both create .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch is pinned in the same pip call as the project: a bare `torch` would pull a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: run test lint venv clean screenshot bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,cluster]" "$(TORCH)"
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m desktop_app $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check desktop_app tests bench packaging
	$(VENV)/bin/lint-imports

test: lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider -m "slow or not slow"

bench: $(STAMP)
	$(PY) bench/engine_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist
