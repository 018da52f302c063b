"""migration_applied and migration_idempotent with migrations applied by real psql, as the runbook does."""

from __future__ import annotations

from pathlib import Path

from restore_drill.checks import migration_applied, migration_idempotent
from restore_drill.checks._util import libpq_env
from restore_drill.checks.result import Status
from restore_drill.fixtures import binaries
from restore_drill.procs import run
from restore_drill.seeds.manifest import take_manifest

GOOD = """
CREATE TABLE IF NOT EXISTS projection (id text PRIMARY KEY, version bigint NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS projection_events (id bigserial PRIMARY KEY, stream text NOT NULL);
CREATE INDEX IF NOT EXISTS projection_events_stream_idx ON projection_events(stream);
INSERT INTO projection (id) VALUES ('singleton') ON CONFLICT DO NOTHING;
"""
NOT_REPEATABLE = GOOD.replace("CREATE INDEX IF NOT EXISTS", "CREATE INDEX")
SEEDS_TWICE = GOOD.replace("INSERT INTO projection (id) VALUES ('singleton') ON CONFLICT DO NOTHING;",
                           "INSERT INTO projection_events (stream) VALUES ('boot');")
TABLES = ["public.projection", "public.projection_events"]


def psql_apply(db, sql_text: str, tmp_path: Path):
    f = tmp_path / "migration.sql"
    f.write_text(sql_text)

    def apply() -> None:
        run([binaries.select(16).tool("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-q", "-f", f],
            env=libpq_env(db), timeout_s=60, check=True)
    return apply


def test_applied_and_idempotent_migration_passes(pg_database, tmp_path):
    apply = psql_apply(pg_database, GOOD, tmp_path)
    apply()
    with pg_database.connect() as c:  # not autocommit: the check must release its locks for psql
        manifest = take_manifest(c, system="t")
        applied = migration_applied(c, TABLES, manifest)
        idem = migration_idempotent(c, apply)
    assert applied.status is Status.PASSED, applied.message
    assert idem.status is Status.PASSED, idem.message


def test_missing_table_fails_where_to_regclass_would_print_null(pg_database, tmp_path):
    psql_apply(pg_database, GOOD, tmp_path)()
    with pg_database.connect(autocommit=True) as c:
        manifest = take_manifest(c, system="t")
        c.execute("DROP TABLE projection_events")
        c.execute("CREATE VIEW projection_events AS SELECT 1 AS id")
        res = migration_applied(c, [*TABLES, "public.projection_dlq"])
        assert res.status is Status.FAILED
        assert "public.projection_dlq does not exist" in res.message
        assert "public.projection_events is not a table (relkind v)" in res.message
        c.execute("DROP VIEW projection_events")
        c.execute("CREATE TABLE projection_events (id bigint)")
        res = migration_applied(c, TABLES, manifest)
    assert res.status is Status.FAILED and "public.projection_events lacks column(s) stream" in res.message


def test_second_apply_that_errors_fails(pg_database, tmp_path):
    apply = psql_apply(pg_database, NOT_REPEATABLE, tmp_path)
    apply()
    with pg_database.connect(autocommit=True) as c:
        res = migration_idempotent(c, apply)
    assert res.status is Status.FAILED
    assert "second apply failed" in res.message and "projection_events_stream_idx" in res.message


def test_second_apply_that_changes_data_fails(pg_database, tmp_path):
    apply = psql_apply(pg_database, SEEDS_TWICE, tmp_path)
    apply()
    with pg_database.connect(autocommit=True) as c:
        res = migration_idempotent(c, apply)
    assert res.status is Status.FAILED
    assert "public.projection_events: rows 1 -> 2" in res.message
    assert "sequence public.projection_events_id_seq: last_value 1 -> 2" in "\n".join(
        res.evidence["catalog"]["diff"]["items"])
