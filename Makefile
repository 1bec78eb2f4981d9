# Basin: `make run` starts the app, `make test` runs the whole suite. Both create .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch is pinned in the same pip call as the project: a bare `torch` would pull a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: run test test-busy lint venv clean screenshot bench mutation

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,cluster]" "$(TORCH)"
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m desktop_app $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check desktop_app tests bench packaging tools
	$(VENV)/bin/lint-imports

# The suite runs on every core (pytest-xdist): one test file per worker at a time, so a file's module fixtures (the
# shared reduced claims, the quick-demo run) are made once. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto
SUITE := QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider -m "slow or not slow" --durations=20 \
	-n $(TEST_WORKERS) --dist loadfile

test: lint
	$(SUITE)

# The same suite while two CPU-bound processes compete for the cores, as on a shared CI box (issue 23): they are
# ended when the suite ends (or is interrupted), and the target's exit status is pytest's.
test-busy: lint
	@$(PY) -c 'while 1: pass' & a=$$!; $(PY) -c 'while 1: pass' & b=$$!; \
	trap 'kill $$a $$b 2>/dev/null' EXIT INT TERM; \
	echo "make test-busy: two busy loops (pids $$a $$b) share the cores with the suite"; \
	$(SUITE); status=$$?; kill $$a $$b 2>/dev/null; exit $$status

# Mutation testing of the scientific core, module by module (slow; not part of `make test`): docs/TESTING.md.
# MODULES="stats greedy" picks modules, SAMPLE=40 tries a seeded sample of 40 mutants per module.
mutation: $(STAMP)
	$(PY) -m pip install --quiet -e ".[mutation]"
	nice -n 10 $(PY) tools/mutation.py $(if $(SAMPLE),--sample $(SAMPLE)) $(MODULES)

bench: $(STAMP)
	$(PY) bench/engine_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist
