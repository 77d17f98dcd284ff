# The two commands of the README. Both install what they need first.
.PHONY: demo test bench deps

deps:
	@bash scripts/bootstrap

demo: deps
	.venv/bin/releve demo

test: deps
	.venv/bin/python -m pytest -q

bench: deps
	@bash scripts/bootstrap restic
	.venv/bin/python bench/vault_import.py
