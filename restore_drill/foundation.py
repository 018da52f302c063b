"""The typed basics every layer shares: SQL identifiers, digests and timestamps, each defined once here.

Checks, disasters, seeds, the runbook runner and the reports import these rather than keeping their
own copies, so a table name is qualified, a digest computed and a timestamp written the same way
in every record a report is built from.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

__all__ = [
    "ident", "parse_time", "qualified", "quote_qualified", "sha256_bytes", "sha256_file", "split_qualified",
    "table_digest", "utcnow",
]

# -- SQL identifiers ---------------------------------------------------------------------------------


def qualified(table: str) -> str:
    """``table`` with its schema: ``lectures`` -> ``public.lectures``; ``s.t`` unchanged."""
    return table if "." in table else f"public.{table}"


def split_qualified(table: str) -> tuple[str, str]:
    """(schema, name) of ``table``, the schema defaulting to public."""
    schema, name = qualified(table).split(".", 1)
    return schema, name


def ident(table: str) -> sql.Identifier:
    """The schema-qualified table as a psycopg identifier, quoted safely in any composed statement."""
    return sql.Identifier(*split_qualified(table))


def quote_qualified(table: str) -> str:
    """``"schema"."name"`` with each part double-quoted, as a string for to_regclass()."""
    s, n = split_qualified(table)
    return '"' + s.replace('"', '""') + '"."' + n.replace('"', '""') + '"'


# -- digests -------------------------------------------------------------------------------------------


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in ``chunk``-byte pieces (memory stays bounded). OSError if unreadable."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def table_digest(conn: psycopg.Connection, table: str) -> tuple[int, str]:
    """(row count, order-independent digest) computed on the server in one scan.

    The digest is the sum of hashtextextended(row::text, 0) over the rows, so it streams and agrees
    whatever the row order. Row text depends on session settings (a timestamptz prints in the session
    TimeZone, floats by extra_float_digits), so they are pinned for the scan: source and restore, on
    any server, agree. Raises psycopg errors (e.g. UndefinedTable) as they come.
    """
    key = _digest_key_sql(conn, table)
    # The scan's own key leaves out the "this transaction has not written" test: that function
    # (pg_current_xact_id_if_assigned) is PARALLEL UNSAFE and made every digest a serial scan, where the
    # count and sum split over parallel workers (partial aggregates; numeric sums are exact, so the digest is
    # the same): 0.57-0.60 s against 0.87-1.16 s for 320,000 rows on 2 cores (issue 19). The test is made
    # by the statement just before, in the same transaction (``now`` is NULL when it has written), and
    # nothing between the two statements can write.
    q = _digest_scan_sql(conn, table)
    with conn.transaction():
        conn.execute("SET LOCAL TIME ZONE 'UTC'")
        conn.execute("SET LOCAL extra_float_digits = 3")
        conn.execute("SET LOCAL DateStyle = 'ISO, YMD'")
        conn.execute("SET LOCAL IntervalStyle = 'postgres'")
        now = conn.execute(sql.SQL("SELECT {}").format(key)).fetchone()
        if now is not None and now[0] is not None and now[0] in _DIGESTS:
            return _DIGESTS[now[0]]  # the same rows under the same snapshot: the scan would find the same
        row = conn.execute(q).fetchone()
    assert row is not None
    got = int(row[0]), str(row[1])
    if row[2] is not None and now is not None and now[0] is not None:
        _DIGESTS[str(row[2])] = got
    return got


def memoized_count(conn: psycopg.Connection, table: str) -> int | None:
    """The row count of ``table`` a ``table_digest`` scan found under the snapshot ``conn`` reads with now
    (the same key as the digest memo below: equal snapshot, same rows), without scanning; None when no
    such scan was made here. ``row_counts`` uses it so a table digested in the same snapshot is not read a
    second time only to be counted (issue 19). Raises psycopg errors as they come."""
    now = conn.execute(sql.SQL("SELECT {}").format(_digest_key_sql(conn, table))).fetchone()
    if now is None or now[0] is None or now[0] not in _DIGESTS:
        return None
    return _DIGESTS[now[0]][0]


# Digests computed in this process, keyed by what fixes a scan's result (issue 19: the restored data was
# digested up to four times: restore effects, table_checksums, migration_idempotent's "before"): the
# server's start time (a new server on a reused port never matches, though a cached data directory starts
# every server at the same transaction ids), the database and relation oids, the relation's file, and the
# MVCC snapshot the scan used, and the role reading (row-level security). Two scans under equal snapshots
# see exactly the same row versions (a snapshot is xmin:xmax:in-progress xids; every change to a table,
# unlogged too, needs a transaction id:
# https://www.postgresql.org/docs/current/functions-info.html#FUNCTIONS-PG-SNAPSHOT), so an equal key
# proves an equal digest; any write anywhere on the server in between changes the snapshot and the table
# is scanned again. Only plain, partitioned and materialized relations that are not temporary are keyed.
_DIGESTS: dict[str, tuple[int, str]] = {}


def _digest_scan_sql(conn: psycopg.Connection, table: str) -> sql.Composed:
    """(count, digest, key) of ``table`` in one statement the planner may run with parallel workers."""
    return sql.SQL("SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text, {} FROM {} AS t").format(
        _digest_key_sql(conn, table, own_writes=False), ident(table))


def _digest_key_sql(conn: psycopg.Connection, table: str, *, own_writes: bool = True) -> sql.Composable:
    # A transaction that has written sees its own changes under an unchanged snapshot: never keyed
    # (``own_writes=False`` leaves that test to the caller: see table_digest).
    if conn.info.server_version >= 130000:
        snapshot, own = "pg_current_snapshot()", "pg_current_xact_id_if_assigned()"
    else:
        snapshot, own = "txid_current_snapshot()", "txid_current_if_assigned()"
    if not own_writes:
        own = "NULL"
    return sql.SQL(
        "(SELECT concat_ws('|', pg_postmaster_start_time(), d.oid, c.oid, pg_relation_filenode(c.oid), "
        # the role and row_security: row-level security shows each role its own rows
        "current_user, current_setting('row_security'), "
        + snapshot + ") FROM pg_class c, pg_database d WHERE c.oid = {}::regclass "
        "AND d.datname = current_database() AND c.relkind IN ('r', 'p', 'm') AND c.relpersistence <> 't' "
        "AND " + own + " IS NULL)"
    ).format(sql.Literal(quote_qualified(table)))


# -- time ------------------------------------------------------------------------------------------------


def utcnow() -> str:
    """ISO-8601 UTC with milliseconds and a Z, the one timestamp format every record and report field uses."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds_text(seconds: float) -> str:
    """Seconds for people, the one rounding check messages and report tables share: 0.06 s (< 10 s: two
    decimals), 12.3 s (< 120 s), 2m 05s, 1h 02m."""
    s = float(seconds)
    if s < 10:
        return f"{s:.2f} s"
    if s < 120:
        return f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    return f"{m}m {sec:02d}s" if m < 60 else f"{m // 60}h {m % 60:02d}m"


def parse_time(value: str | datetime) -> datetime:
    """An aware datetime from an ISO-8601 string (``Z`` accepted) or a datetime; naive means UTC.

    ValueError for a string that is not ISO-8601.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    d = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return d if d.tzinfo else d.replace(tzinfo=UTC)
