# Beatkeeper: `make up` runs the whole stack, `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
UV     ?= uv

.PHONY: up test lint typecheck services unit bench lock clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Beatkeeper needs Python 3.11+; set PYTHON=/path/to/python3.11"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || \
		{ echo "could not create $(VENV): on Debian/Ubuntu: sudo apt-get install python3-venv"; exit 1; }
	@$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip setuptools wheel

# Re-install when the lock changes: every dependency at the version and hash the lock names,
# then Beatkeeper itself without resolving anything again.
$(VENV)/.installed: requirements/dev.lock setup.cfg pyproject.toml | $(BIN)/python
	@echo "installing the locked dependencies into $(VENV) (requirements/dev.lock)"
	@$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r requirements/dev.lock
	@# PYTHONWARNINGS: setuptools' "Editable installation" notice is information only.
	@PYTHONWARNINGS=ignore::UserWarning $(BIN)/pip install --quiet --disable-pip-version-check \
		--no-deps --no-build-isolation -e .
	@touch $@

# Regenerate the locks after changing the dependencies in setup.cfg (needs uv: pip install uv).
lock:
	@command -v $(UV) >/dev/null || { echo "make lock needs uv: pip install uv (or set UV=/path/to/uv)"; exit 1; }
	$(UV) pip compile setup.cfg --python-version 3.11 --generate-hashes --no-header \
		--annotation-style line -o requirements/app.lock
	$(UV) pip compile setup.cfg --extra dev --python-version 3.11 --generate-hashes --no-header \
		--annotation-style line -o requirements/dev.lock

up: $(VENV)/.installed
	$(BIN)/beatkeeper up

services:
	bash .ci/services.sh

# The pre-commit hooks (ruff, ruff format, mypy from .venv) over every file, as a commit runs them.
lint: $(VENV)/.installed
	$(BIN)/pre-commit run --all-files --show-diff-on-failure

typecheck: $(VENV)/.installed
	$(BIN)/mypy

test: $(VENV)/.installed services lint typecheck
	$(BIN)/python -m pytest

unit: $(VENV)/.installed
	$(BIN)/python -m pytest tests/unit

bench: $(VENV)/.installed services
	$(BIN)/python -m benchmarks.enqueue

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache *.egg-info
