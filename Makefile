# The two commands of the README. Both install what they need first.
.PHONY: demo test test-fast check bench deps

deps:
	@bash scripts/bootstrap

# `make demo DIR=folder PORT=8100`: another demo folder, another first station port;
# without them, `releve demo`'s defaults (~/.local/state/releve/demo, port 8000).
demo: deps
	.venv/bin/releve demo $(if $(DIR),--dir '$(DIR)') $(if $(PORT),--port '$(PORT)')

# --durations: the slowest tests, listed at the end, keep the run under CI's 30 minutes in view
test: check
	.venv/bin/python -m pytest -q --durations=30

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
