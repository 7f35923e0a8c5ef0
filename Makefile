# soen_train developer commands. `make install` then `make test` is all CI runs.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export OMP_NUM_THREADS ?= 2

.PHONY: install test test-fast services services-stop train lint bench clean

install:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[all]" --config-settings editable_mode=compat
	$(BIN)/python -m pip check

# two pytest-xdist workers: most slow tests wait on subprocesses, servers and SLURM; the tests
# of a file stay on one worker, so its module fixtures are built once
TEST_WORKERS ?= 2

test:
	$(BIN)/python -m pytest tests -x -rs --durations=15 -n $(TEST_WORKERS) --dist loadfile

# the unit tier only: no test marked slow, e2e or services (tiers are set in tests/conftest.py)
test-fast:
	$(BIN)/python -m pytest tests -x -m "not slow and not e2e and not services" --durations=10

# SLURM (one node), PostgreSQL and an MLflow server on 127.0.0.1 for tests/services
services:
	SOEN_PYTHON=$(BIN)/python tests/services/start.sh

services-stop:
	tests/services/stop.sh

train:
	$(BIN)/soen-train experiment=pulses

lint:
	$(BIN)/ruff check soen_train hydra_plugins tests bench

bench:
	$(BIN)/python bench/simulate.py
	$(BIN)/python bench/overhead.py

clean:
	rm -rf $(VENV) build dist *.egg-info outputs multirun
