# Verity: `make run` brings the whole portal up embedded; `make test` runs the test suite.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# `make model` trains the served detector from real data (DATA: a folder of sources laid out like
# ../shared/data), evaluates it per source, writes its model card and makes it the active model.
# It runs `python -m ml served-recipe`: the recipe's stages in a chain, each kept only if it beats the
# one before on validation (ml/recipe_chain.py). RECIPE_ARGS passes options to it (see its --help),
# e.g. RECIPE_ARGS="--stem small"; `python -m ml recipe` trains a single stage.
DATA ?= ../shared/data
MODEL_OUT ?= var/models/recipe
RECIPE_ARGS ?=

.PHONY: run test install clean-data lint model

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m portal.launcher

test: $(STAMP)
	$(PY) -m pytest

# ruff (ruff.toml), mypy with the Django and DRF stubs (mypy.ini) and the import directions of
# DESIGN.md as import-linter contracts (.importlinter). .ci/run calls this before the tests.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

model: $(STAMP)
	@test -d "$(DATA)" || { echo "No training data at $(DATA): set DATA=folder-of-sources (the layout of ../shared/data)."; exit 1; }
	$(PY) -m ml served-recipe --data "$(DATA)" --out "$(MODEL_OUT)" $(RECIPE_ARGS)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py register_model "$(MODEL_OUT)/model.pt"

clean-data:
	rm -rf var
