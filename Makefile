PYTHON ?= python3
SOURCES = sync tui tests benchmarks scripts/screenshots.py

.PHONY: check format-check lint types imports test format screenshots lock

## check: everything CI runs (format, lint, types, the import rule, tests)
check: format-check lint types imports test

format-check:
	$(PYTHON) -m ruff format --check $(SOURCES)

lint:
	$(PYTHON) -m ruff check $(SOURCES)

types:
	$(PYTHON) -m mypy --strict sync tui tests scripts/screenshots.py

## imports: `sync` must never import textual or tui
imports:
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/test_import_rule.py

test:
	$(PYTHON) -m pytest -q

format:
	$(PYTHON) -m ruff format $(SOURCES)
	$(PYTHON) -m ruff check --fix $(SOURCES)

## screenshots: redraw the README's pictures in screenshots/ (the snapshot tests' scenes)
screenshots:
	$(PYTHON) scripts/screenshots.py

## lock: re-pin requirements/ci.lock (what scripts/test installs) from pyproject's runtime + dev
lock:
	uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--generate-hashes --custom-compile-command "make lock" -q -o requirements/ci.lock
