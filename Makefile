# `make up` starts the whole system with demo data; `make test` installs and runs every check and test.
# Both create .venv with the first Python 3.11+ they find when it is missing, and install the project into it.

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' && { echo $$p; break; }; \
	done)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

# Tests run in TEST_WORKERS processes, each with its own broker, PostgreSQL and SMTP server: most of a test's
# time is waiting (for a consumer group, an email, a browser), so more processes than cores pay.
TEST_WORKERS ?= 4

.PHONY: up test test-unit check install clean

up: $(INSTALLED)
	$(BIN)/itb up $(ARGS)

test: check
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The fast loop: the domain rules, emails, envelopes and settings, in a few seconds.
test-unit: $(INSTALLED)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

check: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Invite to Bill needs Python 3.11 or newer; none was found on PATH." >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[test]'
	touch $@

clean:
	rm -rf $(VENV) .state
