"""sequence_health: every serial/identity column's next value is above the data, so inserts won't collide."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from restore_drill.seeds.manifest import Manifest

from ._util import capped, ident, qualified, read_session, sample, timed
from .result import CheckResult

# Columns fed by a sequence: owned by it (serial: 'a', identity: 'i') or defaulting to nextval() of it.
_FED_COLUMNS = """
SELECT DISTINCT tn.nspname || '.' || t.relname AS tbl, a.attname AS col,
       sn.nspname || '.' || s.relname AS seq, quote_ident(sn.nspname) || '.' || quote_ident(s.relname) AS seq_sql,
       ps.increment_by AS increment
FROM pg_depend d
JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_namespace sn ON sn.oid = s.relnamespace
JOIN pg_sequences ps ON ps.schemaname = sn.nspname AND ps.sequencename = s.relname
JOIN pg_class t ON t.oid = d.refobjid
JOIN pg_namespace tn ON tn.oid = t.relnamespace
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a','i')
  AND tn.nspname = ANY(%(schemas)s)
UNION
SELECT tn.nspname || '.' || t.relname, a.attname, sn.nspname || '.' || s.relname,
       quote_ident(sn.nspname) || '.' || quote_ident(s.relname), ps.increment_by
FROM pg_attrdef ad
JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid AND d.refclassid = 'pg_class'::regclass
JOIN pg_class s ON s.oid = d.refobjid AND s.relkind = 'S'
JOIN pg_namespace sn ON sn.oid = s.relnamespace
JOIN pg_sequences ps ON ps.schemaname = sn.nspname AND ps.sequencename = s.relname
JOIN pg_class t ON t.oid = ad.adrelid
JOIN pg_namespace tn ON tn.oid = t.relnamespace
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ad.adnum
WHERE tn.nspname = ANY(%(schemas)s)
ORDER BY 1, 2
"""


@timed("sequence_health")
def sequence_health(
    conn: psycopg.Connection,
    tables: Sequence[str] | None = None,
    *,
    manifest: Manifest | None = None,
    schemas: tuple[str, ...] = ("public",),
) -> CheckResult:
    """For every sequence-fed column, the sequence's next value lies beyond the column's max (min for
    descending sequences).

    With ``manifest``, columns the manifest says were sequence-fed but now have no sequence (a
    restore that lost it) fail too: new inserts would need explicit ids or fail.
    """
    name = "sequence_health"
    scope = {qualified(t) for t in tables} if tables is not None else None
    behind: list[dict[str, Any]] = []
    checked: list[dict[str, Any]] = []
    with read_session(conn):
        fed = conn.execute(_FED_COLUMNS, {"schemas": list(schemas)}).fetchall()
        fed = [r for r in fed if scope is None or r[0] in scope]
        for tbl, col, seq, seq_sql, increment in fed:
            last, is_called = conn.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(
                sql.SQL(seq_sql))).fetchone() or (None, False)
            nxt = int(last) + int(increment) if is_called else int(last)
            agg = "max" if increment > 0 else "min"
            row = conn.execute(sql.SQL("SELECT {}({}) FROM {}").format(
                sql.SQL(agg), sql.Identifier(col), ident(tbl))).fetchone()
            edge = row[0] if row else None
            entry = {"column": f"{tbl}.{col}", "sequence": seq, "next_value": nxt, f"column_{agg}": edge}
            checked.append(entry)
            if edge is not None and ((increment > 0 and nxt <= edge) or (increment < 0 and nxt >= edge)):
                behind.append(entry)
    lost: list[dict[str, Any]] = []
    if manifest is not None:
        have = {f"{t}.{c}" for t, c, *_ in fed}
        for s in manifest.catalog.get("sequences", []):
            t, c = s.get("owned_by_table"), s.get("owned_by_column")
            if t and c and (scope is None or qualified(t) in scope) and f"{qualified(t)}.{c}" not in have:
                lost.append({"column": f"{qualified(t)}.{c}", "manifest_sequence": s.get("name")})
    ev = {"checked": capped(checked), "behind": capped(behind), "without_sequence": capped(lost)}
    if behind or lost:
        parts = [f"{b['column']} next value {b['next_value']} <= data {b.get('column_max', b.get('column_min'))} "
                 f"({b['sequence']})" for b in behind]
        parts += [f"{x['column']} has no sequence (manifest: {x['manifest_sequence']})" for x in lost]
        return CheckResult.failed(name, f"{len(parts)} column(s) would collide or cannot number new rows: "
                                  + sample(parts), expected="next value beyond the data",
                                  observed={"behind": len(behind), "without_sequence": len(lost)}, evidence=ev)
    return CheckResult.passed(name, f"{len(checked)} sequence-fed column(s) ahead of their data",
                              expected="next value beyond the data", observed=len(checked), evidence=ev)
