# BitSniper: `make run` starts it, `make test` tests it. Both set themselves up on a fresh clone.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE := include/sample_candles_15m.csv.gz
PYTEST_ARGS ?=

.PHONY: install test run stop demo bench clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

install: $(STAMP)

test: install
	@source scripts/ensure-postgres.sh && $(BIN)/python -m pytest $(PYTEST_ARGS)

# `make run`: Airflow standalone + the bot (paper trading on Kraken's market data by default;
# `make run EXCHANGE=simulator` runs everything offline against the local simulator). `make stop` stops it.
EXCHANGE ?= kraken
run: install
	EXCHANGE=$(EXCHANGE) scripts/run-airflow.sh

stop:
	scripts/stop-airflow.sh

# The engine alone over the shipped 90-day sample (no Airflow).
demo: install
	$(BIN)/bitsniper replay --candles $(SAMPLE)

bench: install
	$(BIN)/python bench/indicators.py
	$(BIN)/python bench/backtest.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
