# make demo: the product's main job on the built-in sandbox.  make test: the whole suite.
.PHONY: bootstrap demo test lint bench

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	.venv/bin/python scripts/demo.py

test: bootstrap
	.venv/bin/ruff check .
	.venv/bin/python -m pytest -q

lint: bootstrap
	.venv/bin/ruff check .


bench: bootstrap
	.venv/bin/python bench/full_sync.py
