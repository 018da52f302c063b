"""drop-table: DROP TABLE ... CASCADE on one table of the scope."""

from __future__ import annotations

from psycopg import sql

from restore_drill.errors import HarnessFault
from restore_drill.foundation import ident

from .interface import Disaster, DisasterContext, DisasterRecord, Kind, database_record, guard_database
from .tables import counts, pick_table, referencing


def drop_table(ctx: DisasterContext) -> DisasterRecord:
    """DROP TABLE ... CASCADE on one table; records the foreign keys the cascade removed elsewhere."""
    guard_database(ctx, "drop a table")
    with ctx.db.connect() as conn:
        table = pick_table(ctx, conn, need_pk=False, prefer_leaf=False)
        rows = counts(conn, [table])[table]
        refs = referencing(conn, table)
        conn.execute(sql.SQL("DROP TABLE {} CASCADE").format(ident(table)))
        gone = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None  # type: ignore[index]
        conn.commit()
    if not gone:
        raise HarnessFault(f"drop-table: {table} still exists after DROP TABLE")
    return database_record("drop-table", ctx, f"dropped {table} ({rows} rows) and {len(refs)} foreign key(s) into it",
                           {"table": table, "rows": rows, "cascade_dropped_constraints": refs})


DISASTER = Disaster("drop-table", Kind.DATABASE, drop_table, "one table dropped (CASCADE)")
