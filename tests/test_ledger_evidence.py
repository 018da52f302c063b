"""The harness's write ledger (seeds/ledger.py, schema restore_drill_ledger) measures RPO and rides along in a
whole-database dump, but it is not the user's data: backup_artifact does not count it among the user's tables,
and restore errors about it come after the user's, labelled "harness ledger: " (fresh-user tester's finding 9:
"data for 7 tables" while row_counts covered 6; `schema "restore_drill_ledger" already exists` shown first)."""

from __future__ import annotations

from pathlib import Path

from restore_drill.checks import backup_artifact, restore_exit_status
from restore_drill.checks._util import libpq_env
from restore_drill.checks.result import Status
from restore_drill.fixtures import binaries
from restore_drill.foundation import sha256_file, utcnow
from restore_drill.procs import run
from restore_drill.records import BackupRecord
from restore_drill.seeds import ledger

B16 = binaries.select(16)


def _dump(db, path: Path, fmt: str) -> BackupRecord:
    run([B16.tool("pg_dump"), f"--format={fmt}", "--no-owner", "--file", path], env=libpq_env(db), timeout_s=60,
        check=True)
    return BackupRecord(path=str(path), size_bytes=path.stat().st_size, sha256=sha256_file(path),
                        started_at=utcnow(), finished_at=utcnow(), intended_tables=[])


def test_backup_artifact_counts_the_users_tables_not_the_harness_ledger(pg_database, tmp_path):
    with pg_database.connect(autocommit=True) as c:
        c.execute("CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'a');"
                  "CREATE TABLE tags (id int PRIMARY KEY); INSERT INTO tags VALUES (1)")
        ledger.beat(c, "seeded")
    for fmt, name in (("custom", "whole.dump"), ("plain", "whole.sql")):
        res = backup_artifact(_dump(pg_database, tmp_path / name, fmt), B16.tool("pg_restore"))
        assert res.status is Status.PASSED, res.message
        assert "data for 2 tables" in res.message, res.message
        assert res.evidence["data_tables"]["items"] == ["public.notes", "public.tags"]
        assert res.evidence["harness_ledger_tables"] == [ledger.TABLE]


STDERR = """pg_restore: while PROCESSING TOC:
pg_restore: from TOC entry 5; 2615 16390 SCHEMA restore_drill_ledger postgres
pg_restore: error: could not execute query: ERROR:  schema "restore_drill_ledger" already exists
Command was: CREATE SCHEMA restore_drill_ledger;
pg_restore: from TOC entry 216; 1259 16391 TABLE beats postgres
pg_restore: error: could not execute query: ERROR:  relation "beats" already exists
Command was: CREATE TABLE restore_drill_ledger.beats (id bigint NOT NULL);
pg_restore: from TOC entry 217; 1259 16400 TABLE notes postgres
pg_restore: error: could not execute query: ERROR:  relation "notes" already exists
Command was: CREATE TABLE public.notes (id integer NOT NULL);
pg_restore: warning: errors ignored on restore: 3
"""


def test_restore_errors_about_the_harness_ledger_come_after_the_users_labelled():
    res = restore_exit_status(1, STDERR)
    assert res.status is Status.FAILED
    assert res.message.startswith("restore exited 1 with 3 unexpected error(s) (2 about the harness ledger)")
    assert res.message.endswith('relation "notes" already exists'), res.message
    items = res.evidence["unexpected_errors"]["items"]
    assert "public.notes" in items[0]
    assert [i.startswith("harness ledger: ") for i in items] == [False, True, True]


def test_restore_errors_only_about_the_users_data_are_unchanged():
    user_only = "\n".join(ln for ln in STDERR.splitlines() if "ledger" not in ln and "beats" not in ln)
    res = restore_exit_status(1, user_only)
    assert res.status is Status.FAILED and "harness" not in res.message
    assert res.message.endswith('relation "notes" already exists'), res.message


def test_a_failed_steps_first_error_is_about_the_users_data_not_the_ledger():
    from restore_drill.runbook.findings import first_error_line

    assert first_error_line(STDERR) == ('pg_restore: error: could not execute query: ERROR:  relation "beats" '
                                        'already exists')  # no schema named on that line: it cannot be told apart
    ledger_only = ('pg_restore: error: could not execute query: ERROR:  schema "restore_drill_ledger" already exists\n'
                   'pg_restore: error: could not execute query: ERROR:  relation "public.notes" does not exist\n')
    assert first_error_line(ledger_only).endswith('relation "public.notes" does not exist')
    assert "restore_drill_ledger" in first_error_line(ledger_only.splitlines()[0])
