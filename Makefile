# The two commands of the README. Both create .venv and install on first use.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# Telemetry off, and room for the temporary Prefect server to start on a loaded machine.
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 90
# Stage commands in dvc.yaml call `vidops` and `dvc` from the virtual environment.
export PATH := $(BIN):$(PATH)

.PHONY: install demo test lint clean plots-offline params

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# constraints.txt pins the exact versions tested together (torch 2.14.1 + torchvision 0.29.1,
	# prefect 3.8.8 with fastapi < 0.151 and SQLAlchemy < 2.1).
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: install
	$(BIN)/vidops demo

# Two workers, a test file each at a time (its module fixtures are made once): most of the
# long tests wait on servers and subprocesses, so two overlap well on 2 cores (938 -> 622-708 s).
test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check src tests flows benchmarks scripts
	$(BIN)/lint-imports

# After changing a default or its comment in src/vidops/config.py (a test checks this file).
params: install
	$(BIN)/python -m vidops.params_file --write params.yaml

# Once, where the npm registry is reachable: `dvc plots show` then draws its Vega plots offline.
plots-offline: install
	$(BIN)/python scripts/dvc_plots_offline.py

clean:
	rm -rf demo demo_data artifacts reports mlruns data dvc.lock data.dvc .vidops.lock
