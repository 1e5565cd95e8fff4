# The two commands of the README. Each sets up what it needs, so both work on a fresh machine.
.PHONY: up test setup lint bench clean

up:
	@scripts/setup.sh
	.venv/bin/cityos up

test:
	@scripts/test.sh

setup:
	@scripts/setup.sh test

lint:
	.venv/bin/ruff check src tests benchmarks scripts
	.venv/bin/ruff format --check src tests benchmarks scripts
	.venv/bin/mypy

clean:
	rm -rf .venv var .pytest_cache .mypy_cache .ruff_cache
