"""Plain-format backups (`pg_dump > x.sql`, restored with `psql -f`): backup_artifact reads the script's
header, completion trailer and TABLE DATA comments; restore_exit_status judges the psql step by what psql
printed (shared/cases/08c-plain-sql-sound is the sound case; these are its faults)."""

from __future__ import annotations

from pathlib import Path

import pytest

from restore_drill.checks._util import libpq_env
from restore_drill.checks.backup import PLAIN_TRAILER, backup_artifact, read_plain_dump, restore_steps_status
from restore_drill.checks.result import Status
from restore_drill.fixtures import binaries
from restore_drill.foundation import sha256_file, utcnow
from restore_drill.procs import run
from restore_drill.records import BackupRecord, StepRecord

B16 = binaries.select(16)
SQL = """
CREATE TABLE plans (code text PRIMARY KEY);
CREATE TABLE subs (id int PRIMARY KEY, plan text REFERENCES plans);
CREATE TABLE "odd name" (x int);
CREATE TABLE parts (at date, v int) PARTITION BY RANGE (at);
CREATE TABLE parts_2026 PARTITION OF parts FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO plans VALUES ('free'), ('paid');
INSERT INTO subs SELECT g, 'free' FROM generate_series(1, 30) g;
INSERT INTO parts VALUES ('2026-02-01', 1);
"""
TABLES = ["public.plans", "public.subs", "public.odd name", "public.parts", "public.parts_2026"]


@pytest.fixture
def script(pg_database, tmp_path: Path) -> Path:
    with pg_database.connect(autocommit=True) as c:
        c.execute(SQL)
    out = tmp_path / "x.sql"
    done = run([B16.tool("pg_dump"), "--clean", "--if-exists", "-f", out], env=libpq_env(pg_database), timeout_s=60)
    assert done.exit_code == 0, done.stderr
    return out


def record(path: Path) -> BackupRecord:
    return BackupRecord(path=str(path), size_bytes=path.stat().st_size, sha256=sha256_file(path),
                        started_at=utcnow(), finished_at=utcnow(), intended_tables=TABLES)


def test_plain_script_is_recognised_and_passes(script: Path) -> None:
    plain = read_plain_dump(script)
    assert plain is not None and plain.complete
    assert set(TABLES) - {"public.parts"} <= set(plain.data_tables)
    assert plain.header["Dumped by pg_dump version"].startswith("16.")
    res = backup_artifact(record(script), B16.tool("pg_restore"), partitioned=["public.parts"])
    assert res.status is Status.PASSED, res.message
    assert "plain-format SQL script" in res.message


def test_cut_plain_script_fails_for_its_missing_trailer(script: Path, tmp_path: Path) -> None:
    text = script.read_text()
    cut = tmp_path / "cut.sql"
    cut.write_text(text[: text.index(PLAIN_TRAILER) - 200])
    res = backup_artifact(record(cut), B16.tool("pg_restore"), partitioned=["public.parts"])
    assert res.status is Status.FAILED
    assert "no completion trailer" in res.message


def test_plain_script_without_a_tables_data_fails_naming_it(pg_database, tmp_path: Path) -> None:
    with pg_database.connect(autocommit=True) as c:
        c.execute(SQL)
    out = tmp_path / "x.sql"
    run([B16.tool("pg_dump"), "--exclude-table-data=subs", "-f", out], env=libpq_env(pg_database), timeout_s=60,
        check=True)
    res = backup_artifact(record(out), B16.tool("pg_restore"), partitioned=["public.parts"])
    assert res.status is Status.FAILED and "script has no data for public.subs" in res.message


def test_a_custom_archive_is_not_taken_for_a_script(pg_database, tmp_path: Path) -> None:
    out = tmp_path / "x.dump"
    run([B16.tool("pg_dump"), "-Fc", "-f", out], env=libpq_env(pg_database), timeout_s=60, check=True)
    assert read_plain_dump(out) is None


def step(command: str, exit_code: int = 0, stderr: str = "") -> StepRecord:
    return StepRecord(name="Restore #1", phase="restore", command=command, status="passed" if exit_code == 0
                      else "failed", exit_code=exit_code, stderr_tail=stderr)


def test_psql_restore_that_printed_errors_fails_though_it_exited_0(script: Path, drill_infra) -> None:
    """psql without ON_ERROR_STOP exits 0 after errors: the errors it printed decide (a real psql run
    into a database where the script's tables already exist under a conflicting definition)."""
    target = drill_infra.database()
    try:
        with target.connect(autocommit=True) as c:
            c.execute("CREATE TABLE blocker (id int); CREATE VIEW plans AS SELECT 1 AS code")
        text = script.read_text().replace("DROP TABLE IF EXISTS public.plans", "SELECT 1")
        script.write_text(text)
        done = run([B16.tool("psql"), "--quiet", "-f", script], env=libpq_env(target), timeout_s=60)
        assert done.exit_code == 0  # psql's own verdict: fine
        res = restore_steps_status([step('psql --quiet "$DATABASE_URL" -f x.sql', 0, done.stderr)])
    finally:
        drill_infra.drop(target)
    assert res.status is Status.FAILED, res.message
    assert res.message.startswith("psql exited 0 with") and "ERROR" in res.message
    assert "without ON_ERROR_STOP" in res.message


def test_psql_restore_with_on_error_stop_passes_without_warning() -> None:
    res = restore_steps_status([step('psql -v ON_ERROR_STOP=1 "$DATABASE_URL" < x.sql')])
    assert res.status is Status.PASSED and res.evidence["warnings"] == [] and "warning" not in res.message


def test_pg_restore_steps_win_over_psql_helpers_and_none_is_a_failure() -> None:
    steps = [step('psql -v ON_ERROR_STOP=1 "$DATABASE_URL" -f schema.sql'),
             step('pg_restore --data-only -d "$DATABASE_URL" x.dump', 1, "pg_restore: error: boom")]
    res = restore_steps_status(steps)
    assert res.status is Status.FAILED and res.evidence["tool"] == "pg_restore"
    none = restore_steps_status([step('psql "$DATABASE_URL" -c "SELECT 1"')])
    assert none.status is Status.FAILED and "no pg_restore step" in none.message


def test_public_schema_error_is_excused_and_named_unless_the_restore_stopped_there(pg_database, drill_infra,
                                                                                     tmp_path: Path) -> None:
    """A `-n public` dump restored into a new database reports `schema "public" already exists`: harmless,
    so excused and named; with --exit-on-error the restore stopped at it, so it is not excused."""
    with pg_database.connect(autocommit=True) as c:
        c.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
    f = tmp_path / "p.dump"
    run([B16.tool("pg_dump"), "-Fc", "-n", "public", "-f", f], env=libpq_env(pg_database), timeout_s=60, check=True)
    out = {}
    for flags in ((), ("--exit-on-error",)):
        target = drill_infra.database()
        try:
            done = run([B16.tool("pg_restore"), *flags, "-d", target.name, f], env=libpq_env(target), timeout_s=60)
        finally:
            drill_infra.drop(target)
        cmd = " ".join(["pg_restore", *flags, '-d "$DATABASE_URL" p.dump'])
        out[flags] = restore_steps_status([step(cmd, done.exit_code, done.stderr)])
    lenient, strict = out[()], out[("--exit-on-error",)]
    assert lenient.status is Status.PASSED, lenient.message
    assert 'excused: schema "public" already exists' in lenient.message
    assert strict.status is Status.FAILED and "excused" not in strict.message
