# `make check` runs exactly what CI runs.
.PHONY: setup demo check lint format types layers test test-fast test-unit test-spec test-integration test-browser test-slow coverage docs

setup:
	./run setup

demo:
	./run demo

check:
	./run test

lint:
	.venv/bin/ruff check src tests benchmarks validation scripts

format:
	.venv/bin/ruff format src tests benchmarks validation scripts
	.venv/bin/ruff check --fix src tests benchmarks validation scripts

types:
	.venv/bin/mypy

layers:
	.venv/bin/lint-imports --no-cache

test:
	.venv/bin/pytest

# Tests by category (markers given in tests/conftest.py); test-fast is the one to run while editing.
test-fast:
	.venv/bin/pytest -m "unit and not slow" -q

test-unit:
	.venv/bin/pytest -m unit

test-spec:
	.venv/bin/pytest -m spec

test-integration:
	.venv/bin/pytest -m integration

test-browser:
	.venv/bin/pytest -m browser

test-slow:
	.venv/bin/pytest -m slow

coverage:
	.venv/bin/pytest --cov --cov-report=term --cov-report=html

docs:
	.venv/bin/python scripts/generate_docs.py
