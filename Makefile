# Two commands a new user needs: `make drill` and `make test`. Each bootstraps .venv itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: drill test bench lint clean tools

# Re-install when the pinned dependency set or the project metadata changes.
$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "restore-drill needs Python 3.11+; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	@# Barman cloud tools (the arqonbus-pitr-barman drill): barman requires psycopg2 (a source build), so it goes in
	@# without its declared deps, beside psycopg2-binary (same module); versions from constraints.txt.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -c constraints.txt barman psycopg2-binary
	@$(MAKE) --no-print-directory tools
	@touch $(STAMP)

# rclone (Debian package) for runbooks that copy with rclone; s3cmd comes from PyPI with the venv. Never fatal:
# without it, a runbook step that uses rclone is reported not_run (pre-flight), naming the tool.
tools:
	@command -v rclone >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  (apt-get install -y -q rclone >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q rclone >/dev/null 2>&1)); } \
	  || echo "rclone not installed (apt-get install rclone): runbook steps that use it are reported not_run"
	@# pgBackRest (Debian bookworm: 2.45, PostgreSQL <= 15) for the *-pitr-pgbackrest drills. Never fatal: without it
	@# those drills end errored, naming `apt-get install pgbackrest` (restore_drill/pitr/pgbackrest.py).
	@command -v pgbackrest >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  (apt-get install -y -q pgbackrest >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q pgbackrest >/dev/null 2>&1)); } \
	  || echo "pgbackrest not installed (apt-get install pgbackrest): the *-pitr-pgbackrest drills cannot run"

drill: $(STAMP)
	$(BIN)/restore-drill run $(DRILL_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.figures --quick $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy restore_drill fixtures seeds checks reports

clean:
	rm -rf $(VENV) reports/runs
