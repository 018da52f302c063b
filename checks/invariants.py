"""Domain invariants given as SQL that returns violating rows; projector_consistency is one such set.

System knowledge (what a projection's fold is, where DLQ entries point) lives in the system's
definition; this module only runs the queries and reports what they return.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from ._util import CAP, capped, jsonable, read_session, sample, timed
from .result import CheckResult

# JIT compilation costs seconds on a large invariant query that runs once: more than it saves.
DEFAULT_SETTINGS: Mapping[str, str] = {"jit": "off"}


def _violations(conn: psycopg.Connection, query: str, limit: int,
                settings: Mapping[str, str]) -> tuple[int, list[dict[str, Any]]]:
    """(total violating rows, the first ``limit`` of them), counted on the server."""
    for k, v in settings.items():  # SET LOCAL: gone when the enclosing transaction ends
        conn.execute("SELECT set_config(%s, %s, true)", (k, v))
    body = sql.SQL(query.strip().rstrip(";"))  # type: ignore[arg-type]  # trusted: from a system definition
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM ({}) AS v LIMIT {}").format(body, sql.Literal(limit + 1)))
        cols = [d.name for d in cur.description or []]
        rows = [dict(zip(cols, map(jsonable, r), strict=True)) for r in cur.fetchall()]
        if len(rows) <= limit:
            return len(rows), rows
        cur.execute(sql.SQL("SELECT count(*) FROM ({}) AS v").format(body))
        row = cur.fetchone()
        return int(row[0]) if row else 0, rows[:limit]


@timed("domain_invariants")
def domain_invariants(
    conn: psycopg.Connection,
    invariants: Mapping[str, tuple[str, str]],
    name: str = "domain_invariants",
    *,
    sample_rows: int = 10,
    settings: Mapping[str, str] = DEFAULT_SETTINGS,
) -> CheckResult:
    """Each invariant ``{id: (sql returning violating rows, message)}`` returns no rows.

    A query that fails because a table or column it needs is gone counts as a failure (the restore
    lost it); any other SQL error is ``errored`` (the invariant itself is broken). ``settings`` are
    server settings applied to each invariant's transaction only (e.g. ``work_mem``).
    """
    if not invariants:
        return CheckResult.skipped(name, "no invariants given for this system")
    violated: list[dict[str, Any]] = []
    broken: list[dict[str, Any]] = []
    with read_session(conn):
        for inv, (query, message) in invariants.items():
            try:
                with conn.transaction():
                    n, rows = _violations(conn, query, min(sample_rows, CAP), settings)
            except (pg_errors.UndefinedTable, pg_errors.UndefinedColumn) as e:
                violated.append({"invariant": inv, "message": message, "violations": None,
                                 "error": str(e).strip().splitlines()[0]})
                continue
            except psycopg.Error as e:
                broken.append({"invariant": inv, "error": str(e).strip().splitlines()[0]})
                continue
            if n:
                violated.append({"invariant": inv, "message": message, "violations": n, "sample": rows})
    ev = {"invariants": list(invariants), "violated": capped(violated), "broken": capped(broken)}
    if violated:
        desc = []
        for v in violated:
            if v["violations"] is None:
                desc.append(f"{v['invariant']}: cannot run ({v['error']})")
            else:
                eg = ", ".join(f"{k}={val}" for k, val in list(v["sample"][0].items())[:4])
                desc.append(f"{v['invariant']}: {v['violations']} row(s), {v['message']} (e.g. {eg})")
        return CheckResult.failed(name, f"{len(violated)} invariant(s) violated: {sample(desc, 2)}",
                                  expected=0, observed=sum(v["violations"] or 0 for v in violated), evidence=ev)
    if broken:
        return CheckResult.errored(name, f"{len(broken)} invariant query(ies) failed: "
                                   f"{sample([b['invariant'] + ': ' + b['error'] for b in broken], 2)}",
                                   evidence=ev)
    return CheckResult.passed(name, f"{len(invariants)} invariant(s) hold: {sample(list(invariants), 5)}",
                              expected=0, observed=0, evidence=ev)


def projector_consistency(
    conn: psycopg.Connection,
    invariants: Mapping[str, tuple[str, str]],
    *,
    sample_rows: int = 10,
    settings: Mapping[str, str] = DEFAULT_SETTINGS,
) -> CheckResult:
    """The projector's invariants (projection version/state = fold of applied events, every DLQ
    entry references a real event, no sequence gaps), supplied by the system definition."""
    return domain_invariants(conn, invariants, name="projector_consistency", sample_rows=sample_rows,
                             settings=settings)


# Catalog functions that run SQL text or read files: what they read is not in the plan.
_OPAQUE_FUNCTIONS = ("query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema", "cursor_to_xml",
                     "cursor_to_xmlschema", "table_to_xml", "table_to_xmlschema", "table_to_xml_and_xmlschema",
                     "schema_to_xml", "schema_to_xmlschema", "schema_to_xml_and_xmlschema", "database_to_xml",
                     "database_to_xmlschema", "database_to_xml_and_xmlschema", "ts_stat", "pg_read_file",
                     "pg_read_binary_file", "lo_get", "loread",
                     # stable ones whose result depends on the clock or settings, not on the rows read
                     "now", "transaction_timestamp", "statement_timestamp", "current_setting", "age",
                     "to_char", "timezone", "current_database", "current_user", "session_user")
# The clock read without parentheses (SQL value functions, as EXPLAIN prints them)
_CLOCK = re.compile(r"\b(CURRENT_DATE|CURRENT_TIME|CURRENT_TIMESTAMP|LOCALTIME|LOCALTIMESTAMP|CURRENT_ROLE|"
                    r"CURRENT_USER|SESSION_USER|USER|CURRENT_SCHEMA|CURRENT_CATALOG)\b")


def tables_read(conn: psycopg.Connection, query: str) -> list[str] | None:
    """The tables (schema-qualified, sorted) an invariant's ``query`` reads, as the planner resolves them:
    ``EXPLAIN (VERBOSE, FORMAT JSON)`` names every scanned relation with its schema (views expanded,
    partitions listed), so the query's result is a function of those tables' rows alone.

    None (unknown; a caller then evaluates the query instead of trusting a digest) when that is not
    shown: a relation named without its schema, or any name called in the plan that is a function outside
    ``pg_catalog``, volatile (``random()``), reads the clock, settings or role (``now()``, ``CURRENT_DATE``,
    ``current_setting``: the result depends on more than the rows;
    https://www.postgresql.org/docs/current/xfunc-volatility.html), or runs SQL text or reads files
    (``query_to_xml``, ``ts_stat``, ...). Conservative by name: any overload so counts. Planning
    only, no rows read; raises psycopg errors as they come (e.g. UndefinedTable).
    Source: https://www.postgresql.org/docs/current/sql-explain.html."""
    body = sql.SQL(query.strip().rstrip(";"))  # type: ignore[arg-type]  # trusted: from a system definition
    with read_session(conn), conn.transaction():
        row = conn.execute(sql.SQL("EXPLAIN (VERBOSE, FORMAT JSON) {}").format(body)).fetchone()
        text = json.dumps(row[0] if row else [])
        called = sorted(set(re.findall(r"\b([A-Za-z_][A-Za-z0-9_$]*)\s*\(", text)))
        opaque = conn.execute(
            "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.proname = ANY(%s) "
            "AND (n.nspname <> 'pg_catalog' OR p.provolatile = 'v' OR p.proname = ANY(%s))",
            (called, list(_OPAQUE_FUNCTIONS))).fetchone()
    if opaque is None or opaque[0] or _CLOCK.search(text):
        return None
    plans: list[Any] = [p["Plan"] for p in (row[0] if row else [])]
    found: set[str] = set()
    while plans:
        node = plans.pop()
        if "Relation Name" in node:
            if not node.get("Schema"):
                return None
            found.add(f"{node['Schema']}.{node['Relation Name']}")
        plans.extend(node.get("Plans", []))
    return sorted(found)
