# The README's commands. Only Python 3.11+ and make are assumed: uv comes from PyPI.
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen

.PHONY: help install demo up chaos test test-unit test-integration lint format contracts bench clean

DEMO_ARGS ?=

help:
	@echo "make demo        play a whole admissions season (DEMO_ARGS='--candidates 300 --seed 7 --serve')"
	@echo "make up          the same stack with the real clock, serving until Ctrl-C"
	@echo "make test        all tests (unit, integration against real servers, browser)"
	@echo "make test-unit   the fast tests (no I/O)"
	@echo "make lint        ruff and mypy"
	@echo "make contracts   regenerate docs/contracts.md and docs/asyncapi.json from the code"
	@echo "make chaos       the season under faults: nothing lost, nothing sent twice (CHAOS_ARGS='--seed 7 --short')"
	@echo "make bench       platform vs baseline: burst, steady rates, CPU, memory (BENCH_ARGS='--mode burst --count 5000')"

.venv/.installed: uv.lock pyproject.toml shared/pyproject.toml $(wildcard services/*/pyproject.toml)
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	$(UV) sync --frozen --all-packages
	@touch $@

install: .venv/.installed

demo: install
	$(RUN) python -m ifuno_tools.demo $(DEMO_ARGS)

up: install
	$(RUN) python -m ifuno_tools.demo --up $(DEMO_ARGS)

# The AsyncAPI parser the contract test runs (Node); reinstalled when its lock changes.
ASYNCAPI_CHECK := tools/asyncapi-check/node_modules/.installed

$(ASYNCAPI_CHECK): tools/asyncapi-check/package.json tools/asyncapi-check/package-lock.json
	npm ci --prefix tools/asyncapi-check --no-audit --no-fund --ignore-scripts
	@touch $@

test: install $(ASYNCAPI_CHECK)
	$(RUN) pytest

test-unit: install
	$(RUN) pytest -m unit

test-integration: install $(ASYNCAPI_CHECK)
	$(RUN) pytest -m "integration or e2e"

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy shared/src tools/src services/*/src

format: install
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

CHAOS_ARGS ?=

chaos: install
	$(RUN) python -m ifuno_tools.chaos $(CHAOS_ARGS)

BENCH_ARGS ?=

# The benchmark's mail server: Postfix's smtp-sink, unpacked from Debian's postfix
# package into .cache/ (apt-get download + dpkg-deb -x; the MTA is never installed).
SMTP_SINK := .cache/postfix/usr/sbin/smtp-sink

$(SMTP_SINK): | .venv/.installed
	$(RUN) python -m ifuno_tools.bench.sink fetch

bench: install $(SMTP_SINK)
	$(RUN) python -m ifuno_tools.bench $(BENCH_ARGS)

contracts: install
	$(RUN) python -m ifuno_shared.events.asyncapi > docs/asyncapi.json
	$(RUN) python -m ifuno_tools.contracts > docs/contracts.md

clean:
	rm -rf .venv .pytest_cache .ruff_cache .mypy_cache test-artifacts
