# `make check` runs exactly what CI runs.
.PHONY: setup demo check lint format types test docs

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

test:
	.venv/bin/pytest

docs:
	.venv/bin/python scripts/generate_docs.py
