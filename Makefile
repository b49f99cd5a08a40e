# Convenience wrappers around the README's two Quick start commands.
.PHONY: demo test lint bench
demo:
	python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/python -m stress.demo
test:
	python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]' && .venv/bin/python -m pytest
lint:
	.venv/bin/ruff check .
bench:
	.venv/bin/python -m stress.bench log
