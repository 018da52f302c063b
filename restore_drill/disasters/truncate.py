"""truncate: TRUNCATE every table in scope (or the pinned one) in one statement."""

from __future__ import annotations

import psycopg
from psycopg import sql

from restore_drill.errors import BadInput
from restore_drill.foundation import ident, qualified

from .interface import Disaster, DisasterContext, DisasterRecord, Kind, database_record, guard_database
from .tables import counts


def truncate(ctx: DisasterContext) -> DisasterRecord:
    """TRUNCATE every table in scope (or the pinned one); records rows before and after per table.

    BadInput when nothing is in scope or a table outside the scope references one inside
    (PostgreSQL refuses to TRUNCATE a referenced table alone: FeatureNotSupported).
    """
    guard_database(ctx, "truncate tables")
    tables = [qualified(ctx.target_table)] if ctx.target_table else ctx.scope
    if not tables:
        raise BadInput("truncate needs tables in scope")
    with ctx.db.connect() as conn:
        before = counts(conn, tables)
        try:
            conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(ident(t) for t in tables)))
        except psycopg.errors.FeatureNotSupported as e:
            raise BadInput(f"truncate: {str(e).strip()}; add the referencing tables to the drill's tables") from None
        after = counts(conn, tables)
        conn.commit()
    rows = sum(v or 0 for v in before.values())
    return database_record("truncate", ctx, f"truncated {len(tables)} table(s), {rows} row(s) removed",
                           {"tables": tables, "rows_before": before, "rows_after": after})


DISASTER = Disaster("truncate", Kind.DATABASE, truncate, "every table in scope truncated")
