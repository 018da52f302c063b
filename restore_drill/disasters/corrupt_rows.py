"""corrupt-rows: change one column's value in a fraction of one table's rows, in place."""

from __future__ import annotations

import psycopg
from psycopg import sql

from restore_drill.errors import HarnessFault
from restore_drill.foundation import ident, qualified, table_digest

from .interface import Disaster, DisasterContext, DisasterRecord, Kind, database_record, guard_database
from .tables import choose_rows, fill_victims, recorded_ids

# Corruption per column type: an expression that always yields a different value of the same type.
_CORRUPT_BY_TYPE: list[tuple[tuple[str, ...], str]] = [
    (("text", "character varying"), "left('corrupt:' || md5(coalesce({c}::text, '') || 'x'), {n})"),
    (("character",), "CASE WHEN coalesce({c}, '') = left(md5('x'), {n}) THEN left(md5('y'), {n}) "
                     "ELSE left(md5('x'), {n}) END"),
    (("jsonb",), "coalesce({c}, jsonb_build_object()) || jsonb_build_object('rd_corrupt', md5(coalesce({c}::text, '')))"),
    (("integer", "bigint", "smallint", "numeric", "double precision", "real"), "coalesce({c}, 0) + 1"),
    (("boolean",), "NOT coalesce({c}, false)"),
    (("timestamp with time zone", "timestamp without time zone", "date"),
     "coalesce({c}, now()::date) + interval '1 day'"),
]


def _corruptible_columns(conn: psycopg.Connection, table: str) -> list[tuple[str, str, int | None]]:
    """(column, data type, char length) not in a key, unique or foreign-key constraint, not generated."""
    rows = conn.execute(
        """SELECT c.column_name, c.data_type, c.character_maximum_length FROM information_schema.columns c
           WHERE c.table_schema = %(s)s AND c.table_name = %(t)s AND c.is_generated = 'NEVER' AND c.is_identity = 'NO'
             AND NOT EXISTS (
               SELECT 1 FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY(k.conkey)
               WHERE k.conrelid = %(q)s::regclass AND k.contype IN ('p', 'u', 'f') AND a.attname = c.column_name)
           ORDER BY c.ordinal_position""",
        {"s": qualified(table).split(".")[0], "t": qualified(table).split(".", 1)[1], "q": qualified(table)},
    ).fetchall()
    order = {t: i for i, (types, _) in enumerate(_CORRUPT_BY_TYPE) for t in types}
    cols = [(r[0], r[1], r[2]) for r in rows if r[1] in order]
    return sorted(cols, key=lambda c: order[c[1]])


def corrupt_rows(ctx: DisasterContext) -> DisasterRecord:
    """Change one column's value in a fraction of one table's rows, in place: same row count, new digest.

    Columns are tried in type order inside savepoints (a CHECK constraint may refuse one);
    HarnessFault when no column can be changed or the digest did not move.
    """
    guard_database(ctx, "corrupt rows")
    with ctx.db.connect() as conn:
        v = choose_rows(ctx, conn, prefer_leaf=False)
        table, pk, pk_cols, chosen = v.table, v.primary_key, v.key_columns, v.chosen
        count_before, digest_before = table_digest(conn, table)
        triggers = [r[0] for r in conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal AND tgenabled <> 'D'",
            (table,)).fetchall()]
        where = sql.SQL("({}) IN (SELECT {} FROM _rd_victims)").format(pk_cols, pk_cols)
        fill_victims(conn, table, pk_cols, chosen)
        used, tried = None, []
        for col, dtype, length in _corruptible_columns(conn, table):
            expr = next(e for types, e in _CORRUPT_BY_TYPE if dtype in types)
            expr = expr.replace("{n}", str(length or (1 if dtype == "character" else 10_000)))
            stmt = sql.SQL("UPDATE {} SET {} = {} WHERE {}").format(
                ident(table), sql.Identifier(col), sql.SQL(expr).format(c=sql.Identifier(col)), where)
            try:
                with conn.transaction():  # a savepoint: a CHECK constraint may refuse this column
                    updated = conn.execute(stmt).rowcount
                used = (col, dtype, updated)
                break
            except psycopg.Error as e:
                tried.append(f"{col}: {type(e).__name__}")
        if used is None:
            raise HarnessFault(f"corrupt-rows: no column of {table} could be changed in place (tried {tried})")
        count_after, digest_after = table_digest(conn, table)
        conn.commit()
    if count_after != count_before or digest_after == digest_before:
        raise HarnessFault(f"corrupt-rows on {table}: rows {count_before}->{count_after}, digest unchanged="
                           f"{digest_after == digest_before}")
    col, dtype, updated = used
    return database_record("corrupt-rows", ctx, f"changed {col} in {updated} of {count_before} rows of {table} in place", {
        "table": table, "column": col, "column_type": dtype, "primary_key": pk, "ids": recorded_ids(chosen),
        "updated": updated, "row_count": count_before, "row_count_after": count_after,
        "digest_before": digest_before, "digest_after": digest_after, "columns_refused": tried,
        "triggers_fired": triggers,
    })


DISASTER = Disaster("corrupt-rows", Kind.DATABASE, corrupt_rows, "one column changed in place in a fraction of rows")
