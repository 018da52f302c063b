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
    q = sql.SQL("SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)), 0)::text FROM {} AS t").format(
        ident(table)
    )
    with conn.transaction():
        conn.execute("SET LOCAL TIME ZONE 'UTC'")
        conn.execute("SET LOCAL extra_float_digits = 3")
        conn.execute("SET LOCAL DateStyle = 'ISO, YMD'")
        conn.execute("SET LOCAL IntervalStyle = 'postgres'")
        row = conn.execute(q).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


# -- time ------------------------------------------------------------------------------------------------


def utcnow() -> str:
    """ISO-8601 UTC with milliseconds and a Z, the one timestamp format every record and report field uses."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str | datetime) -> datetime:
    """An aware datetime from an ISO-8601 string (``Z`` accepted) or a datetime; naive means UTC.

    ValueError for a string that is not ISO-8601.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    d = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return d if d.tzinfo else d.replace(tzinfo=UTC)
