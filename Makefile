# Two commands matter on a fresh clone: `make run` (embedded local instance) and `make test`.
# Both create the virtualenv first; re-running is fast because the install is keyed on pyproject.toml.
# The venv gets the `dev` extra: the operator's dependencies, the embedded cluster of `make run`
# (plugin_devcluster: kmock, jsonschema, jsonpatch, kubectl) and the test tools — none of which the
# images install (see Dockerfile).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: venv run test unit e2e-kind bench crd lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# `make run ARGS='--proxy-port 7000 --api-port 0'`: options of `plugin-operator dev`.
run: venv
	$(BIN)/plugin-operator dev $(ARGS)

# The static gates, zero findings: ruff (lint + format) and mypy (strict), configured in pyproject.toml.
# `make test` runs them first.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: venv lint
	$(BIN)/python -m plugin_operator.crd | diff -u crds/plugins.yaml - >/dev/null || { echo "crds/plugins.yaml drifted from the models: run 'make crd'"; exit 1; }
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

e2e-kind: venv
	tests/e2e/kind.sh

bench: venv
	$(BIN)/python -m bench

crd: venv
	$(BIN)/python -m plugin_operator.crd > crds/plugins.yaml
	mkdir -p charts/plugin-operator/crds && cp crds/plugins.yaml charts/plugin-operator/crds/plugins.yaml

clean:
	rm -rf $(VENV) .pytest_cache
