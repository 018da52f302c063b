"""blast_radius: a table-scoped restore changed nothing outside its scope (rows, catalog, sequences)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from restore_drill.foundation import table_digest
from restore_drill.seeds.manifest import Manifest, catalog_snapshot, list_tables

from ._util import capped, qualified, read_session, sample, timed
from .result import CheckResult
from .schema import diff_catalog, scope_catalog, summarize


@timed("blast_radius")
def blast_radius(
    conn: psycopg.Connection,
    before: Manifest,
    scope_tables: Sequence[str],
    *,
    schemas: tuple[str, ...] | None = None,
) -> CheckResult:
    """Every table outside ``scope_tables`` has the digest and row count it had in ``before`` (a
    manifest taken just before the restore), no table appeared or vanished outside the scope, and
    the catalog outside the scope (including sequence positions) is unchanged."""
    name = "blast_radius"
    schemas = tuple(schemas or before.schemas or ("public",))  # default: the schemas the manifest covers
    scope = {qualified(t) for t in scope_tables}
    outside_before = sorted(t for t in before.tables if t not in scope)
    changed: list[dict[str, Any]] = []
    with read_session(conn):
        now_tables = set(list_tables(conn, schemas))
        for t in outside_before:
            if t not in now_tables:
                changed.append({"table": t, "problem": "table dropped"})
                continue
            count, digest = table_digest(conn, t)
            snap = before.tables[t]
            if digest != snap.digest:
                changed.append({"table": t, "problem": f"content changed ({snap.row_count} -> {count} rows)",
                                "rows_before": snap.row_count, "rows_after": count})
        appeared = sorted(t for t in now_tables - set(before.tables) - scope)
        changed += [{"table": t, "problem": "table appeared"} for t in appeared]
        catalog_now = catalog_snapshot(conn, schemas)
    catalog_changes = []
    if before.catalog:
        # Sequence positions count here: a scoped restore must not move another table's sequence.
        catalog_changes = diff_catalog(scope_catalog(before.catalog, scope, exclude=True),
                                       scope_catalog(catalog_now, scope, exclude=True), volatile={})
    ev: dict[str, Any] = {"scope": sorted(scope), "tables_outside_scope": len(outside_before),
                          "tables_changed": capped(changed), "catalog": summarize(catalog_changes)}
    if changed or catalog_changes:
        desc = [f"{c['table']}: {c['problem']}" for c in changed] + [c.line() for c in catalog_changes]
        return CheckResult.failed(
            name, f"{len(desc)} change(s) outside the restore scope {sample(sorted(scope), 3)}: {sample(desc, 2)}",
            expected="nothing outside the scope changes", observed=len(desc), evidence=ev)
    return CheckResult.passed(name, f"{len(outside_before)} table(s) outside the scope unchanged, catalog unchanged",
                              expected="nothing outside the scope changes", observed=0, evidence=ev)
