"""late-writes: valid rows committed after the backup, which the restore will lose (the RPO window)."""

from __future__ import annotations

from restore_drill.errors import BadInput, HarnessFault
from restore_drill.foundation import utcnow

from .interface import Disaster, DisasterContext, DisasterRecord, Kind, database_record, guard_database
from .tables import counts


def late_writes(ctx: DisasterContext) -> DisasterRecord:
    """Write ``count`` valid rows after the backup (the data-loss window), timestamping each write.

    BadInput without ``ctx.write_row`` (the system's hooks provide it).
    """
    guard_database(ctx, "write rows")
    if ctx.write_row is None:
        raise BadInput("late-writes needs a writer that inserts one valid row (the system's seeds provide it)")
    writes = []
    with ctx.db.connect() as conn:
        before = counts(conn, ctx.scope)
        for _ in range(ctx.count):
            ret = ctx.write_row(conn)
            conn.commit()
            writes.append({"committed_at": utcnow(), "row": ret if isinstance(ret, int | str) else repr(ret)})
        after = counts(conn, ctx.scope)
    if not writes:
        raise HarnessFault("late-writes wrote nothing (count = 0)")
    return database_record("late-writes", ctx, f"committed {len(writes)} write(s) after the backup", {
        "writes": writes, "backup_at": ctx.backup_at, "first_write_at": writes[0]["committed_at"],
        "last_write_at": writes[-1]["committed_at"], "rows_before": before, "rows_after": after,
    })


DISASTER = Disaster("late-writes", Kind.DATABASE, late_writes, "valid writes committed after the backup (RPO)")
