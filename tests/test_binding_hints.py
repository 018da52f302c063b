"""Bad or incomplete bindings and definitions say what to fix (fresh-user tester's finding 8):

- shared/cases/18-nonpublic-schema-scope (shop.toml): `tables = "all"` while the application lives in schema `app`
  and the definition declares no `[database] schemas`: bad input naming the schemas searched and where the tables
  are, exit 2, instead of "truncate needs tables in scope".
- shared/cases/08c-plain-sql-sound (billing-fixed-noglob.toml): the backup wrote a file backup_globs do not match:
  backup_artifact names it and the fix.
- shared/cases/byo-libpq-flags, shared/cases/byo-fresh-database (bindings without [names]): a step failing on
  "password authentication failed for user X" / "role X does not exist" / "database X does not exist" gets a
  finding naming the [names] line to declare.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from restore_drill.errors import BadInput
from restore_drill.runbook.findings import names_hint, unmatched_backup_note, workdir_files, written_between
from restore_drill.seeds.scope import require_tables
from tests.helpers import write_runbook_system

CLI = str(Path(sys.executable).parent / "restore-drill")
APP_DATA = """
CREATE SCHEMA app;
CREATE TABLE app.orders (id int PRIMARY KEY, total numeric NOT NULL);
INSERT INTO app.orders SELECT g, g * 1.5 FROM generate_series(1, 40) g;
"""
PUBLIC_DATA = """
CREATE TABLE public.invoices (id int PRIMARY KEY, amount int NOT NULL);
INSERT INTO public.invoices SELECT g, g FROM generate_series(1, 50) g;
"""


def _drill(system: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    r = subprocess.run([CLI, "run", "--system", str(system), "--report-dir", str(tmp_path / "runs"), "--quiet"],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path)
    reports = sorted((tmp_path / "runs").glob("*/report.json"))
    assert reports, r.stdout + r.stderr
    return r, json.loads(reports[-1].read_text())["drills"][0]


# -- tables = "all" finds nothing in the declared schemas --------------------------------------------------------

def test_tables_all_with_the_app_in_an_undeclared_schema_is_bad_input_naming_the_schemas(pg_database):
    with pg_database.connect(autocommit=True) as c:
        c.execute(APP_DATA)
        with pytest.raises(BadInput) as e:
            require_tables(c, [], ("public",), "shop.toml", "shop")
        assert str(e.value) == ('shop.toml: [database] tables = "all" found no table in schema(s) public of shop\'s '
                                'seeded database; its tables are in schema(s) app (1): declare [database] schemas = '
                                '["app"]')
        require_tables(c, ["app.orders"], ("app",), "shop.toml", "shop")  # found: nothing to say


def test_a_drill_over_an_undeclared_schema_errors_as_bad_input_with_exit_2(tmp_path):
    (tmp_path / "shop").mkdir()
    runbook = ("# shop\n\n## Nightly backup\n\n```bash\npg_dump --format=custom --file=shop.dump \"$DATABASE_URL\"\n"
               "```\n\n## Restore\n\n```bash\npg_restore --clean --if-exists --dbname \"$DATABASE_URL\" shop.dump\n```\n")
    system = write_runbook_system(tmp_path / "shop", "shop", runbook, APP_DATA)
    r, drill = _drill(system, tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert drill["status"] == "errored"
    assert drill["error"]["type"] == "BadInput", drill["error"]
    assert 'found no table in schema(s) public' in drill["error"]["message"]
    assert 'declare [database] schemas = ["app"]' in drill["error"]["message"]


# -- a backup file backup_globs do not match ---------------------------------------------------------------------

def test_files_the_backup_wrote_are_named_when_no_glob_matches(tmp_path):
    (tmp_path / ".home").mkdir()
    (tmp_path / "old.txt").write_text("before")
    before = workdir_files(tmp_path)
    (tmp_path / "billing.sql").write_text("-- dump")
    (tmp_path / ".home" / "config").write_text("harness-private")
    (tmp_path / "old.txt").write_text("before, and changed")
    written = written_between(before, workdir_files(tmp_path))
    assert written == ["billing.sql", "old.txt"]
    assert unmatched_backup_note(["billing.sql"], ["*.dump"]) == (
        "the backup step wrote billing.sql, which backup_globs ['*.dump'] do not match: add it to backup_globs in "
        "the binding")
    assert unmatched_backup_note([], ["*.dump"]) == ""


def test_a_plain_backup_the_globs_miss_fails_backup_artifact_naming_it_while_the_restore_is_judged(tmp_path):
    """The drill cannot identify (nor hash, nor read) a backup the binding does not point at, so backup_artifact
    fails with the fix; the restore itself is still judged on the restored data."""
    (tmp_path / "billing").mkdir()
    runbook = ("# billing\n\n## Nightly backup\n\n```bash\npg_dump --clean --if-exists --file=billing.sql \"$DATABASE_URL\"\n```\n\n"
               "## Restore\n\n```bash\npsql -X -q -v ON_ERROR_STOP=1 -f billing.sql \"$DATABASE_URL\"\n```\n")
    system = write_runbook_system(tmp_path / "billing", "billing", runbook, PUBLIC_DATA)
    r, drill = _drill(system, tmp_path)
    checks = {c["name"]: c for c in drill["checks"]}
    assert checks["backup_artifact"]["status"] == "failed", checks["backup_artifact"]
    assert checks["backup_artifact"]["message"] == (
        "the backup step wrote billing.sql, which backup_globs ['*.dump'] do not match: add it to backup_globs in "
        "the binding")
    assert checks["row_counts"]["status"] == "passed", checks["row_counts"]
    assert r.returncode == 1, r.stdout + r.stderr


# -- [names] the runbook uses but the binding does not declare ---------------------------------------------------

def test_libpq_errors_about_undeclared_names_name_the_names_line():
    assert names_hint('pg_dump: error: connection to server at "127.0.0.1", port 5 failed: FATAL:  password '
                      'authentication failed for user "mataroa"') == (
        "the runbook connects as user 'mataroa': declare [names] user = \"mataroa\" in the binding, or run "
        "`restore-drill init` to write it")
    assert "declare [names] user = \"mataroa\"" in names_hint('psql: error: FATAL:  role "mataroa" does not exist')
    assert "declare [names] roles = [\"reporter\"]" in names_hint(
        'psql:x.sql:3: ERROR:  role "reporter" does not exist')
    assert "declare [names] database = \"mataroa\"" in names_hint(
        'pg_restore: error: connection to server failed: FATAL:  database "mataroa" does not exist')
    # Declared already: the cause is elsewhere, no hint.
    assert names_hint('FATAL:  password authentication failed for user "mataroa"', user="mataroa") == ""
    assert names_hint('FATAL:  database "mataroa" does not exist', database="mataroa") == ""
    assert names_hint("pg_dump: error: could not open output file") == ""


def test_a_runbook_that_connects_as_an_undeclared_user_gets_the_hint_on_its_step(tmp_path):
    (tmp_path / "mataroa").mkdir()
    runbook = ("# mataroa\n\n## Nightly backup\n\n```bash\npg_dump --format=custom --file=m.dump -U mataroa "
               "\"$PGDATABASE\"\n```\n\n## Restore\n\n```bash\npg_restore --clean --if-exists --dbname "
               "\"$DATABASE_URL\" m.dump\n```\n")
    system = write_runbook_system(tmp_path / "mataroa", "mataroa", runbook, PUBLIC_DATA)
    r, drill = _drill(system, tmp_path)
    (backup,) = [s for s in drill["steps"] if s["phase"] == "backup"]
    assert backup["status"] == "failed", backup
    assert any("declare [names] user = \"mataroa\" in the binding" in f for f in backup["findings"]), backup
