# The two commands of the README. Both install what they need first.
.PHONY: demo test test-fast check bench deps

deps:
	@bash scripts/bootstrap

demo: deps
	.venv/bin/releve demo

test: check
	.venv/bin/python -m pytest -q

# Lint and types: ruff and mypy, both configured in pyproject.toml. `make test` runs it
# first, so CI fails on either.
check: deps
	.venv/bin/ruff check src tests bench
	.venv/bin/mypy

# The inner loop: every test but those marked slow (kill -9 trials, the whole demo,
# large captures). CI runs `make test`.
test-fast: check
	.venv/bin/python -m pytest -q -m "not slow"

bench: deps
	@bash scripts/bootstrap restic
	.venv/bin/python bench/vault_import.py
