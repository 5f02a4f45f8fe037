# make demo: the product's main job on the built-in sandbox.  make test: the whole suite.
.PHONY: bootstrap demo test lint bench lock screenshots

bootstrap:
	@scripts/bootstrap.sh

# Regenerate requirements.txt and requirements-dev.txt from the .in files: every package,
# transitive ones too, pinned with the hash of each of its files. Pins already in the .txt
# files are kept; `make lock UPGRADE=name` moves one package (docs/security.md).
UV_VERSION = 0.13.9
LOCK = run/lock/bin/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade-package $(UPGRADE))
lock:
	@run/lock/bin/uv --version 2>/dev/null | grep -qF "uv $(UV_VERSION)" \
	  || { python3 -m venv run/lock && run/lock/bin/pip install -q "uv==$(UV_VERSION)"; }
	$(LOCK) requirements.in -o requirements.txt
	$(LOCK) requirements-dev.in -o requirements-dev.txt

demo: bootstrap
	.venv/bin/python scripts/demo.py

test: bootstrap
	.venv/bin/ruff check .
	.venv/bin/python -m pytest -q -n 2 --dist worksteal

lint: bootstrap
	.venv/bin/ruff check .


bench: bootstrap
	.venv/bin/python bench/full_sync.py

# Retake the console's pictures in docs/screenshots (the browser tests, saving each page).
screenshots: bootstrap
	SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest -q \
	  tests/test_console_browser.py tests/test_console_settings_browser.py \
	  tests/test_console_runs_browser.py tests/test_console_directory_browser.py tests/test_me_browser.py
