"""Small helpers the checks share: bounded evidence, identifier quoting, timing, read-only sessions."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import decimal
import functools
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ParamSpec

import psycopg
from psycopg.pq import TransactionStatus

# Re-exported: the checks import these from here; their one definition is in restore_drill.foundation.
from restore_drill.foundation import ident as ident
from restore_drill.foundation import parse_time as parse_time
from restore_drill.foundation import qualified, quote_qualified
from restore_drill.foundation import split_qualified as split_qualified

from .result import CheckResult

CAP = 50  # evidence lists are capped so a report stays readable whatever the damage

P = ParamSpec("P")


def capped(items: Iterable[Any], cap: int = CAP) -> dict[str, Any]:
    """``{"count": n, "items": first cap, "truncated": bool}``: bounded, JSON-serialisable evidence."""
    out: list[Any] = []
    n = 0
    for it in items:
        n += 1
        if len(out) < cap:
            out.append(it)
    return {"count": n, "items": out, "truncated": n > len(out)}


def sample(items: Sequence[Any], k: int = 3) -> str:
    """A short "a, b, c (+12 more)" for one-line messages."""
    head = ", ".join(str(i) for i in items[:k])
    return head + (f" (+{len(items) - k} more)" if len(items) > k else "")


def jsonable(v: Any) -> Any:
    """Database values made JSON-safe for evidence (bytes, decimals, dates, uuids ...)."""
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, bytes | bytearray | memoryview):
        b = bytes(v)
        return b[:64].hex() + ("…" if len(b) > 64 else "")
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    return str(v)


def timed(name: str) -> Callable[[Callable[P, CheckResult]], Callable[P, CheckResult]]:
    """Stamp the duration on the result and turn an unexpected exception into an ``errored`` result.

    An exception means the check could not decide (harness fault, unreachable server), which is not
    the same as the restore being wrong; checks that can tell a restore fault apart return ``failed``.
    """

    def deco(fn: Callable[P, CheckResult]) -> Callable[P, CheckResult]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> CheckResult:
            t0 = time.monotonic()
            try:
                res = fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - reported as errored, never swallowed silently
                msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
                res = CheckResult.errored(res_name(name, kwargs), f"{type(e).__name__}: {msg}"[:500],
                                          evidence={"exception": type(e).__name__})
            return dataclasses.replace(res, duration_s=round(time.monotonic() - t0, 4))

        return wrapper

    return deco


def res_name(default: str, kwargs: dict[str, Any]) -> str:
    n = kwargs.get("name")
    return n if isinstance(n, str) else default


@contextlib.contextmanager
def read_session(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """Leave the connection as found: a read transaction the check opened is closed afterwards.

    Otherwise a non-autocommit connection would keep AccessShare locks that block a later restore
    or migration step run by another process.
    """
    was_idle = conn.info.transaction_status == TransactionStatus.IDLE
    try:
        yield conn
    finally:
        if was_idle and not conn.autocommit and conn.info.transaction_status != TransactionStatus.IDLE:
            conn.rollback()


def regclass_exists(conn: psycopg.Connection, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (quote_qualified(table),)).fetchone()
    return bool(row and row[0])


def missing_tables(conn: psycopg.Connection, tables: Iterable[str]) -> list[str]:
    return [qualified(t) for t in tables if not regclass_exists(conn, t)]


def human_duration(seconds: float) -> str:
    s = abs(seconds)
    if s >= 86400:
        return f"{s / 86400:.1f} days"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    return f"{s:.0f} s"


def libpq_env(db: Any) -> dict[str, str]:
    """Child env for PostgreSQL client tools against ``db`` (a fixtures Database): the connection
    settings go through the environment, so the password never appears in argv."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "PGHOST": db.host,
            "PGPORT": str(db.port), "PGUSER": db.user, "PGPASSWORD": db.password, "PGDATABASE": db.name,
            "PGCONNECT_TIMEOUT": "10"}


def error_line(text: str, limit: int = 300) -> str:
    """The most telling line of an error text: the first ``ERROR:``/``error:`` line, else the first."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    pick = next((ln for ln in lines if "ERROR:" in ln or "error:" in ln.lower()), lines[0] if lines else "")
    return pick[:limit]
