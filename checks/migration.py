"""migration_applied (the runbook's to_regclass post-check, done properly) and migration_idempotent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from restore_drill.seeds.manifest import Manifest, catalog_snapshot, table_snapshots

from ._util import capped, error_line, qualified, quote_qualified, read_session, sample, timed
from .result import CheckResult
from .schema import diff_catalog, summarize


@timed("migration_applied")
def migration_applied(
    conn: psycopg.Connection, tables: Sequence[str], manifest: Manifest | None = None
) -> CheckResult:
    """Every table the migration creates exists as a table (``to_regclass`` returning NULL is a
    failure, not a row to eyeball), and with ``manifest`` it has every column the manifest lists."""
    name = "migration_applied"
    problems: list[str] = []
    found: dict[str, str | None] = {}
    with read_session(conn):
        for t in tables:
            row = conn.execute("SELECT c.relkind::text FROM pg_class c WHERE c.oid = to_regclass(%s)",
                               (quote_qualified(t),)).fetchone()
            kind = row[0] if row else None
            found[qualified(t)] = kind
            if kind is None:
                problems.append(f"{qualified(t)} does not exist")
            elif kind not in ("r", "p"):
                problems.append(f"{qualified(t)} is not a table (relkind {kind})")
        if manifest is not None and manifest.catalog and not problems:
            want: dict[str, set[str]] = {}
            for c in manifest.catalog.get("columns", []):
                if c["tbl"] in found:
                    want.setdefault(c["tbl"], set()).add(c["name"])
            for t, cols in want.items():
                have = {r[0] for r in conn.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
                    "AND NOT attisdropped", (quote_qualified(t),)).fetchall()}
                missing = sorted(cols - have)
                if missing:
                    problems.append(f"{t} lacks column(s) {sample(missing)}")
    ev = {"tables": found, "problems": capped(problems)}
    if problems:
        return CheckResult.failed(name, f"migration not applied: {sample(problems)}", expected=list(found),
                                  observed={t: k for t, k in found.items() if k}, evidence=ev)
    return CheckResult.passed(name, f"{len(found)} table(s) present: {sample(list(found))}", expected=list(found),
                              observed=list(found), evidence=ev)


@timed("migration_idempotent")
def migration_idempotent(
    conn: psycopg.Connection,
    apply: Callable[[], Any],
    tables: Sequence[str] | None = None,
    *,
    schemas: tuple[str, ...] = ("public",),
) -> CheckResult:
    """Applying the migration a second time succeeds and changes nothing: same catalog (sequence
    positions included) and same table digests before and after. ``apply`` runs the migration the
    way the procedure does (e.g. psql -f in a child process)."""
    name = "migration_idempotent"
    if not conn.autocommit and conn.info.transaction_status != TransactionStatus.IDLE:
        # Our own read locks would block the migration's DDL in another session.
        conn.rollback()
    with read_session(conn):
        cat0 = catalog_snapshot(conn, schemas)
        data0 = table_snapshots(conn, list(tables) if tables is not None else None)
    try:
        apply()
    except Exception as e:  # noqa: BLE001 - a second apply that fails is the finding
        return CheckResult.failed(name, f"second apply failed: {type(e).__name__}: {error_line(str(e))}",
                                  expected="a no-op", observed="error", evidence={"error": str(e)[:2000]})
    with read_session(conn):
        cat1 = catalog_snapshot(conn, schemas)
        data1 = table_snapshots(conn, list(tables) if tables is not None else None)
    changes = diff_catalog(cat0, cat1, volatile={})
    rows = []
    for t in sorted(data0.keys() | data1.keys()):
        a, b = data0.get(t), data1.get(t)
        if a is None or b is None or a.digest != b.digest:
            rows.append(f"{t}: rows {a.row_count if a else 'none'} -> {b.row_count if b else 'gone'}"
                        + (", content changed" if a and b else ""))
    ev = {"catalog": summarize(changes), "tables_changed": capped(rows)}
    if changes or rows:
        desc = [c.line() for c in changes] + rows
        return CheckResult.failed(name, f"second apply changed {len(desc)} thing(s): {sample(desc, 2)}",
                                  expected="no change", observed=len(desc), evidence=ev)
    return CheckResult.passed(name, f"second apply changed nothing ({len(data0)} tables, catalog equal)",
                              expected="no change", observed=0, evidence=ev)
