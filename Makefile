# The two commands of the README. Both install what they need first.
.PHONY: demo test test-fast bench deps

deps:
	@bash scripts/bootstrap

demo: deps
	.venv/bin/releve demo

test: deps
	.venv/bin/python -m pytest -q

# The inner loop: every test but those marked slow (kill -9 trials, the whole demo,
# large captures). CI runs `make test`.
test-fast: deps
	.venv/bin/python -m pytest -q -m "not slow"

bench: deps
	@bash scripts/bootstrap restic
	.venv/bin/python bench/vault_import.py
