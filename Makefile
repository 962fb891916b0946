# Two commands on a fresh machine: `make run` (the main job, local) and `make test`.
# Both create .venv with the pinned dependency set first (about 2 GB, a few minutes once), then
# each image's local environment (`make images`: Python 3.11 and 3.9 venvs, a few minutes once).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every mlgw command run by make uses the checkout's state directory (mlgw itself finds it from
# any directory below the checkout; elsewhere it defaults to ~/.mlgw).
export MLGW_HOME ?= $(CURDIR)/.mlgw

.PHONY: install images run demo test test-fast bench clean check

$(STAMP): setup.py requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet pip==26.3
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# The local environment of each container image (processing/image.toml, training/image.toml),
# built once with progress and cached outside the checkout; a lookup once built.
images: $(STAMP)
	$(VENV)/bin/mlgw build images

run: images
	$(VENV)/bin/mlgw run --policies $(or $(POLICIES),5000)

demo: images
	$(VENV)/bin/mlgw demo --drift

# Every benchmark, each printing its figures, its peer and MET/MISSED; one that misses a
# target does not stop the others.
bench: images
	-$(VENV)/bin/mlgw bench pipeline
	-$(VENV)/bin/mlgw bench localcloud
	-$(VENV)/bin/mlgw bench gateway
	-$(VENV)/bin/mlgw bench monitor

test: images
	$(PY) -m pytest

test-fast: images
	$(PY) -m pytest -m "not slow"

# Stops every server of .mlgw (gateway, studio, MLflow UI, localcloud) before deleting it, and
# deletes nothing if one cannot be stopped: a server must not outlive its state.
clean:
	@if [ -x $(VENV)/bin/mlgw ]; then $(VENV)/bin/mlgw stop --home .mlgw; fi
	rm -rf .mlgw

# Static checks, run by CI before the tests: lint and format (ruff), types (mypy, zero errors on
# localcloud/ and mlgw/), and the import contracts (.importlinter).
check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy localcloud mlgw
	$(VENV)/bin/lint-imports
