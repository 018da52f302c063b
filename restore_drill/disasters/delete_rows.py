"""delete-rows: DELETE a fraction of one table's rows, chosen by primary key."""

from __future__ import annotations

from psycopg import sql

from restore_drill.errors import HarnessFault
from restore_drill.foundation import ident

from .interface import Disaster, DisasterContext, DisasterRecord, Kind, database_record, guard_database
from .tables import choose_rows, counts, fill_victims, recorded_ids


def delete_rows(ctx: DisasterContext) -> DisasterRecord:
    """DELETE a fraction of one table's rows, chosen by primary key; counts every table before and after."""
    guard_database(ctx, "delete rows")
    with ctx.db.connect() as conn:
        v = choose_rows(ctx, conn, prefer_leaf=True)
        table, pk, cols, all_ids, chosen = v.table, v.primary_key, v.key_columns, v.all_ids, v.chosen
        before = counts(conn, ctx.scope)
        fill_victims(conn, table, cols, chosen)
        deleted = conn.execute(sql.SQL("DELETE FROM {} t USING _rd_victims v WHERE {}").format(
            ident(table),
            sql.SQL(" AND ").join(sql.SQL("t.{c} = v.{c}").format(c=sql.Identifier(c)) for c in pk))).rowcount
        after = counts(conn, ctx.scope)
        conn.commit()
    if deleted != len(chosen):
        raise HarnessFault(f"delete-rows: meant to delete {len(chosen)} rows of {table}, deleted {deleted}")
    return database_record("delete-rows", ctx, f"deleted {deleted} of {len(all_ids)} rows of {table}", {
        "table": table, "primary_key": pk, "deleted": deleted, "rows_before_in_table": len(all_ids),
        "ids": recorded_ids(chosen), "rows_before": before, "rows_after": after,
    })


DISASTER = Disaster("delete-rows", Kind.DATABASE, delete_rows, "a fraction of one table's rows deleted")
