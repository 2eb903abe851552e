# `make up` starts the whole system with demo data; `make test` installs and runs every check and test.
# Both create .venv with the first Python 3.11+ they find when it is missing, and install the project into it.

# Interpreters that are missing, too old or broken (a pyenv shim for a version not installed) are passed over
# without a word.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; \
	done)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
BENCH_INSTALLED := $(VENV)/.bench-installed

# Tests run in TEST_WORKERS processes, each with its own broker, PostgreSQL and SMTP server: most of a test's
# time is waiting (for a consumer group, an email, a browser), so more processes than cores pay.
TEST_WORKERS ?= 4

# bash, so that a failing install is not hidden by the filter its output goes through.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: up test test-unit check install clean asyncapi lock bench

up: $(INSTALLED)
	$(BIN)/itb up $(ARGS)

# Each process starts on one of the slow tests (tests/conftest.py orders them), so that none is left with one at
# the end while the others wait; the ten slowest are listed at the end.
test: check
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --maxschedchunk 2 --durations=10 $(PYTEST_ARGS)

# The fast loop: the domain rules, emails, envelopes and settings, in a few seconds.
test-unit: $(INSTALLED)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

# The events each service publishes and consumes, as AsyncAPI 3 documents in docs/asyncapi/, and the catalogue
# of every event in docs/events.md (a test fails while they are stale).
asyncapi: $(INSTALLED)
	$(BIN)/python -m shared.asyncapi docs

# requirements.lock: the production image's packages (pyproject.toml's dependencies, not its extras), pinned
# with their hashes. After changing the dependencies, run this and commit the lock (a test checks they agree).
lock: $(INSTALLED)
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links --output-file requirements.lock pyproject.toml

# The end-to-end benchmark (bench/system.py): the whole stack with its own SMTP server, an ERP client and the raw
# parts measured in the same run; it appends to bench/history.jsonl and writes bench/RESULTS.md and its chart.
# ARGS="--quick" leaves out the 100,000-contact project (about 3 minutes then); ARGS="--label 'what changed'";
# ARGS="--fetch-wait-ms 20" sets how long every consumer waits on a Kafka fetch (README: Benchmarks).
bench: $(BENCH_INSTALLED)
	$(BIN)/python -m bench.system $(ARGS)

check: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Invite to Bill needs Python 3.11 or newer; none was found on PATH." >&2; exit 1; }
	@test -x $(BIN)/python || { echo "Creating $(VENV) with $$(command -v $(PYTHON))"; $(PYTHON) -m venv $(VENV); }
	@echo "Installing Invite to Bill and its test tools into $(VENV) (about a minute the first time)"
	@{ $(BIN)/python -m pip install --upgrade pip && $(BIN)/python -m pip install --progress-bar off --editable '.[local,test]'; } \
		2>&1 | tee $(VENV)/install.log | awk '/^(Collecting|Successfully installed)/ { print substr($$0, 1, 100); fflush() }' \
		|| { echo "The install failed; the end of $(VENV)/install.log says why:" >&2; tail -n 20 $(VENV)/install.log >&2; exit 1; }
	@touch $@
	@echo "Installed."

# The benchmark's tools (pyproject.toml's `bench` extra), on top of the usual install.
$(BENCH_INSTALLED): $(INSTALLED)
	@echo "Installing the benchmark's tools into $(VENV)"
	@$(BIN)/python -m pip install --quiet --progress-bar off --editable '.[local,test,bench]'
	@touch $@

clean:
	rm -rf $(VENV) .state
