"""The write ledger: a heartbeat table the harness writes while the drill's system "runs", from which the
data-loss window (RPO) is measured on restored data instead of computed from a formula.

The table lives in its own schema (``restore_drill_ledger``), outside every system's tables under test
(manifests, schema and blast-radius checks look at the system's schemas only), so a whole-database backup
carries it and a table-scoped one does not. Each beat is one committed row whose ``written_at`` is the
server's ``clock_timestamp()`` at the insert, i.e. the commit time to within the statement (PostgreSQL docs,
"Current Date/Time": clock_timestamp() changes during a statement, now() does not).

RPO = newest beat written before the disaster - newest beat present after the restore.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import psycopg
from psycopg import sql

SCHEMA = "restore_drill_ledger"
TABLE = f"{SCHEMA}.beats"

_CREATE = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {TABLE} (
    id bigserial PRIMARY KEY,
    label text NOT NULL,
    written_at timestamptz NOT NULL DEFAULT clock_timestamp()
)
"""


def _iso(ts: Any) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def beat(conn: psycopg.Connection, label: str) -> str:
    """Write and commit one beat labelled ``label`` (e.g. "seeded", "before-disaster"); returns its commit
    time as ISO-8601 UTC with milliseconds. Creates the ledger on first use. Raises psycopg.Error when the
    database cannot be written."""
    with conn.transaction():
        conn.execute(_CREATE)
        row = conn.execute(f"INSERT INTO {TABLE} (label) VALUES (%s) "
                           "RETURNING written_at AT TIME ZONE 'UTC'", (label,)).fetchone()
    assert row is not None
    return _iso(row[0].replace(tzinfo=UTC))


def newest(conn: psycopg.Connection) -> str | None:
    """Commit time (ISO-8601 UTC) of the newest beat in this database, or None when the ledger is absent
    (not restored) or empty. Read-only."""
    present = conn.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone()
    if not present or present[0] is None:
        return None
    row = conn.execute(f"SELECT max(written_at) AT TIME ZONE 'UTC' FROM {TABLE}").fetchone()
    if not row or row[0] is None:
        return None
    return _iso(row[0].replace(tzinfo=UTC))


def newest_in_column(conn: psycopg.Connection, ref: str) -> str | None:
    """The system's own newest-write column, declared in its definition as ``[targets] newest_write =
    "schema.table.column"`` (a timestamptz/timestamp column the application sets on every write): its
    max as ISO-8601 UTC (a timestamp without time zone is read as UTC), or None when the table is absent
    or empty. Read-only. Raises ValueError for a reference that is not schema.table.column."""
    parts = ref.split(".")
    if len(parts) != 3:
        raise ValueError(f"[targets] newest_write = {ref!r} is not schema.table.column")
    schema, table, column = parts
    present = conn.execute("SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE n.nspname = %s AND c.relname = %s", (schema, table)).fetchone()
    if not present:
        return None
    row = conn.execute(sql.SQL("SELECT max({c})::timestamptz AT TIME ZONE 'UTC' FROM {s}.{t}").format(
        c=sql.Identifier(column), s=sql.Identifier(schema), t=sql.Identifier(table))).fetchone()
    if not row or row[0] is None:
        return None
    return _iso(row[0].replace(tzinfo=UTC))

