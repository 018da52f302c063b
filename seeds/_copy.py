"""COPY ... FROM STDIN in text format, fed with lines the generators build themselves.

Building the text lines in Python and writing them in large chunks is ~2x faster than
``copy.write_row`` with per-value adaptation, and lets the hot path pre-escape pooled strings once.

Bulk loads go through :func:`bulk_load`: the tables are emptied with TRUNCATE in the loading transaction
(so ``COPY ... FREEZE`` writes frozen rows and no later pass rewrites hint bits), and secondary indexes
are dropped before and rebuilt after the COPY (one sort per index instead of a B-tree insert per row).
Measured in bench/figures.py (issue 19).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.abc import Buffer

# Chars per copy.write: big enough to amortise the call. The plain (synchronous) libpq writer is used on
# purpose: psycopg's QueuedLibpqWriter thread fought the generator for the GIL and measured 0.84-0.91x of
# the plain writer with twice the peak memory (issue 19); the server still parses one chunk while the
# generator builds the next, because libpq's send returns once the bytes are in the socket buffer.
_CHUNK = 1 << 18

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def esc(s: str) -> str:
    """Escape a string for COPY text format (backslash, tab, newline, carriage return)."""
    return s.translate(_ESCAPES)


def jtext(v: Any) -> str:
    """JSON text of ``v`` (UTF-8, compact), escaped for COPY."""
    return esc(json.dumps(v, ensure_ascii=False, separators=(",", ":")))


def ts(dt: datetime) -> str:
    """A timezone-aware timestamp as COPY-safe ISO text (session TimeZone never matters)."""
    if dt.tzinfo is None:
        raise ValueError(f"naive timestamp {dt!r}: seeds only write timezone-aware values")
    return dt.isoformat()


def value(v: Any) -> str:
    """One column value in COPY text format: None -> \\N, dict/list -> JSON, datetime -> ISO."""
    if v is None:
        return "\\N"
    if isinstance(v, str):
        return esc(v)
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, datetime):
        return ts(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, dict | list):
        return jtext(v)
    if isinstance(v, bytes):
        return "\\\\x" + v.hex()
    raise TypeError(f"no COPY text form for {type(v).__name__}")


def line(values: Sequence[Any]) -> str:
    return "\t".join(value(v) for v in values) + "\n"


def copy_lines(conn: psycopg.Connection, table: str, columns: Sequence[str], lines: Iterable[str], *,
               freeze: bool = False) -> int:
    """COPY pre-formatted text lines into ``table``; returns the number of lines written.

    ``freeze``: ``COPY ... WITH (FREEZE)``; PostgreSQL accepts it only when the table was created or
    truncated in the current (sub)transaction (https://www.postgresql.org/docs/current/sql-copy.html),
    which :func:`bulk_load` arranges; otherwise psycopg raises ObjectNotInPrerequisiteState."""
    with conn.cursor() as cur, cur.copy(_copy_stmt(table, columns, freeze)) as cp:
        return write_chunks(cp, lines)


def copy_text(conn: psycopg.Connection, table: str, columns: Sequence[str], blocks: Iterable[bytes], *,
              freeze: bool = False) -> None:
    """COPY ``blocks`` of ready COPY text (UTF-8 bytes of whole lines, each ending in a newline; a block may
    hold thousands) into ``table``, one ``copy.write`` per block; ``freeze`` as copy_lines."""
    with conn.cursor() as cur, cur.copy(_copy_stmt(table, columns, freeze)) as cp:
        for block in blocks:
            cp.write(block)


# PostgreSQL's binary COPY header (signature, flags, header extension length) and trailer (a field count of
# -1): https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4
BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
BINARY_TRAILER = b"\xff\xff"


def copy_binary(conn: psycopg.Connection, table: str, columns: Sequence[str], blocks: Iterable[Buffer], *,
                freeze: bool = False) -> None:
    """COPY ``blocks`` of pre-packed binary tuples (whole tuples, no header or trailer: added here) into
    ``table``; ``freeze`` as copy_lines. psycopg passes ``write`` blocks through untouched in binary mode
    (it adds the header and trailer only for ``write_row``)."""
    with conn.cursor() as cur, cur.copy(_copy_stmt(table, columns, freeze, binary=True)) as cp:
        cp.write(BINARY_HEADER)
        for block in blocks:
            cp.write(block)
        cp.write(BINARY_TRAILER)


def _copy_stmt(table: str, columns: Sequence[str], freeze: bool, *, binary: bool = False) -> sql.Composed:
    schema, name = table.split(".", 1) if "." in table else ("public", table)
    options = [o for o, on in (("FORMAT binary", binary), ("FREEZE", freeze)) if on]
    return sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        sql.Identifier(schema, name), sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.SQL(" WITH ({})".format(", ".join(options)) if options else ""),  # noqa: UP032 (a fixed option list)
    )


def write_chunks(cp: psycopg.Copy, lines: Iterable[str]) -> int:
    """Write text ``lines`` (each ending in a newline) to the open COPY ``cp`` in chunks of about ``_CHUNK``
    characters; returns the number of lines written."""
    n = 0
    buf: list[str] = []
    size = 0
    for ln in lines:
        buf.append(ln)
        size += len(ln)
        n += 1
        if size >= _CHUNK:
            cp.write("".join(buf).encode())
            buf.clear()
            size = 0
    if buf:
        cp.write("".join(buf).encode())
    return n


def copy_rows(conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
              freeze: bool = False) -> int:
    """COPY plain Python rows (None, str, int, bool, datetime, dict/list as JSON); ``freeze`` as copy_lines."""
    return copy_lines(conn, table, columns, (line(r) for r in rows), freeze=freeze)


_SECONDARY_INDEXES = """
SELECT format('%%I.%%I', n.nspname, ic.relname), pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE i.indrelid = %s::regclass
  AND ic.relkind = 'i'                                                 -- not a partitioned index
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)  -- PK/UNIQUE/EXCLUDE stay
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = i.indexrelid AND d.deptype IN ('e', 'i'))
  -- what DROP + pg_get_indexdef would lose stays: replica identity, CLUSTER mark, a comment, index statistics
  AND NOT i.indisreplident AND NOT i.indisclustered AND obj_description(i.indexrelid, 'pg_class') IS NULL
  AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget > 0)
ORDER BY ic.relname
"""


@contextmanager
def bulk_load(conn: psycopg.Connection, tables: Sequence[str]) -> Iterator[bool]:
    """One loading transaction for ``tables`` ("schema.table", all empty; raises ValueError naming the
    first that holds rows, so nothing a caller did not just create is ever emptied).

    Inside: the tables are TRUNCATEd together (they are empty: the TRUNCATE only makes ``COPY ... FREEZE``
    legal and lets a ``wal_level=minimal`` server skip WAL for them), and their secondary indexes (those no
    constraint owns) are dropped; on leaving normally they are re-created from their own
    ``pg_get_indexdef`` text, so the catalog ends exactly as the schema declared it. Yields True: the
    tables may be loaded with ``freeze=True``. On an exception the transaction rolls back (indexes too).
    """
    with conn.transaction():
        for t in tables:
            if conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(
                    sql.Identifier(*t.split(".", 1)))).fetchone() == (True,):
                raise ValueError(f"{t} already holds rows: bulk_load only fills empty tables")
        conn.execute(sql.SQL("TRUNCATE {}").format(
            sql.SQL(", ").join(sql.Identifier(*t.split(".", 1)) for t in tables)))
        saved: list[str] = []
        for t in tables:
            for name, ddl in conn.execute(_SECONDARY_INDEXES, (t,)).fetchall():
                saved.append(ddl)
                conn.execute(f"DROP INDEX {name}")  # type: ignore[arg-type]  # quoted by format(%I.%I)
        yield True
        for ddl in saved:
            conn.execute(ddl)


def reset_identity(conn: psycopg.Connection, table: str, column: str) -> None:
    """Point the column's identity/serial sequence at max(column), as a real application's would be."""
    q = sql.SQL(
        "SELECT setval(pg_get_serial_sequence({t}, {c}), coalesce(max({col}), 1), max({col}) IS NOT NULL) "
        "FROM {tbl}"
    ).format(t=sql.Literal(table), c=sql.Literal(column), col=sql.Identifier(column),
             tbl=sql.Identifier(*table.split(".", 1)))
    conn.execute(q)
