"""bad-statement: one errant DELETE, UPDATE or DROP TABLE, committed at a recorded instant.

The disaster point-in-time recovery exists for: the database is up, writes go on, and one statement
(a DELETE without its WHERE, an UPDATE of every row, a DROP TABLE) destroyed data. The record holds
what a restore to "just before it" needs: the instant the statement began (server clock), the WAL
insert position then, a restore point created right before it, and the errant transaction's xid and
commit time (``pg_xact_commit_timestamp``; needs ``track_commit_timestamp = on``, else None).
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg import sql

from restore_drill.errors import BadInput, HarnessFault

from .interface import Disaster, DisasterContext, DisasterRecord, Kind, database_record, guard_database
from .tables import counts, ident, pick_table

STATEMENTS = ("delete", "update", "drop")
RESTORE_POINT = "restore_drill_before_bad_statement"


_COLUMNS = (
    "SELECT a.attname, a.attnotnull, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
    "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
    "AND a.attidentity = '' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid "
    "AND a.attnum = ANY(i.indkey)) AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = a.attrelid "
    "AND k.contype IN ('f', 'c') AND a.attnum = ANY(k.conkey)) ORDER BY a.attnotnull, a.attnum")


def _overwrite(conn: psycopg.Connection, table: str) -> sql.Composed | None:
    """An UPDATE of every row of ``table`` that damages one non-key column (no constraint on it): NULL where
    the column allows it, else text gets a suffix, numbers + 1, json '{}'; None when no column fits."""
    for col, notnull, typ in conn.execute(_COLUMNS, (table,)).fetchall():
        c = sql.Identifier(col)
        if not notnull:
            value: sql.Composable = sql.SQL("NULL")
        elif typ in ("text", "character varying") or typ.startswith("character varying"):
            value = sql.SQL("{} || ' (overwritten)'").format(c)
        elif typ in ("integer", "bigint", "smallint", "numeric", "double precision", "real"):
            value = sql.SQL("{} + 1").format(c)
        elif typ in ("jsonb", "json"):
            value = sql.SQL("'{{}}'::{}").format(sql.SQL(typ))
        else:
            continue
        return sql.SQL("UPDATE {} SET {} = {}").format(ident(table), c, value)
    return None


def _statement(conn: psycopg.Connection, kind: str, table: str) -> sql.Composed:
    if kind == "delete":
        return sql.SQL("DELETE FROM {}").format(ident(table))
    if kind == "drop":
        return sql.SQL("DROP TABLE {}").format(ident(table))
    stmt = _overwrite(conn, table)
    if stmt is None:
        raise BadInput(f"bad-statement update: {table} has no unconstrained non-key column to overwrite; "
                       "use delete or drop, or pin another table")
    return stmt


def run_statement(ctx: DisasterContext, kind: str, hold: AbstractContextManager[Any] | None = None) -> DisasterRecord:
    """Run the errant ``kind`` statement ("delete" | "update" | "drop") on one table in scope.

    ``hold``: entered only around the recorded instant and the statement's transaction (a write ledger's
    pause, so no ledger commit straddles the boundary while the choice of table and the counts, which
    take longer, run with writes going on).

    Records: statement, table, rows affected, counts before/after, ``began_at`` (clock_timestamp() just
    before, ISO UTC), ``lsn_before`` (pg_current_wal_insert_lsn() then), ``restore_point`` (its name and
    LSN), ``xid`` and ``committed_at`` of the errant transaction. Raises BadInput for an unknown kind,
    HarnessFault when the statement changed nothing.
    """
    guard_database(ctx, f"run an errant {kind.upper()}")
    if kind not in STATEMENTS:
        raise BadInput(f"bad-statement kind {kind!r}; use one of {', '.join(STATEMENTS)}")
    with ctx.db.connect(autocommit=True) as conn:
        table = pick_table(ctx, conn, need_pk=False, prefer_leaf=True)
        if kind == "update" and ctx.target_table is None and _overwrite(conn, table) is None:
            # the drawn table has nothing an UPDATE can damage: take the first table in scope that has
            fits = [t for t in ctx.scope if counts(conn, [t]).get(t) and _overwrite(conn, t) is not None]
            table = fits[0] if fits else table
        stmt = _statement(conn, kind, table)
        before = counts(conn, ctx.scope)
        with hold if hold is not None else contextlib.nullcontext():
            rp_lsn = conn.execute("SELECT pg_create_restore_point(%s)::text", (RESTORE_POINT,)).fetchone()[0]  # type: ignore[index]
            began_at, lsn = conn.execute("SELECT clock_timestamp(), pg_current_wal_insert_lsn()::text").fetchone()  # type: ignore[misc]
            with conn.transaction():
                xid = conn.execute("SELECT txid_current()").fetchone()[0]  # type: ignore[index]
                affected = conn.execute(stmt).rowcount
        committed_at = conn.execute("SELECT pg_xact_commit_timestamp(%s::text::xid)", (str(xid),)).fetchone()[0]  # type: ignore[index]
        after = counts(conn, ctx.scope)
        text = stmt.as_string(conn)
    if kind != "drop" and affected <= 0:
        raise HarnessFault(f"bad-statement: {text} changed no rows; seed data before the disaster")
    details: dict[str, Any] = {
        "statement": text, "kind": kind, "table": table, "affected": affected if kind != "drop" else before.get(table),
        "began_at": began_at.isoformat(), "lsn_before": lsn, "xid": int(xid),
        "committed_at": committed_at.isoformat() if committed_at is not None else None,
        "restore_point": {"name": RESTORE_POINT, "lsn": rp_lsn}, "rows_before": before, "rows_after": after,
    }
    return database_record("bad-statement", ctx, f"{text} (xid {xid}) at {began_at.isoformat()}", details)


def bad_statement(ctx: DisasterContext) -> DisasterRecord:
    """The registered injector: the statement kind is drawn from ``ctx.seed`` (same seed, same statement)."""
    guard_database(ctx, "run an errant statement")
    return run_statement(ctx, ctx.rng().choice(STATEMENTS))


DISASTER = Disaster("bad-statement", Kind.DATABASE, bad_statement,
                    "one errant DELETE/UPDATE/DROP TABLE committed at a recorded instant while writes go on")
