"""row_counts and table_checksums: the restored rows against the manifest, computed on the server."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from restore_drill.foundation import memoized_count, table_digest
from restore_drill.seeds.manifest import Manifest

from ._util import capped, ident, missing_tables, qualified, read_session, sample, timed
from .result import CheckResult


def _scope(manifest: Manifest, tables: Sequence[str] | None) -> list[str]:
    return sorted(qualified(t) for t in (tables if tables is not None else manifest.tables))


@timed("row_counts")
def row_counts(conn: psycopg.Connection, manifest: Manifest, tables: Sequence[str] | None = None) -> CheckResult:
    """Per table, ``count(*)`` of the restore equals the manifest's row count. A table digested
    (``table_checksums``) under the very snapshot this reads with is not scanned again: that scan's count
    is the same count (``foundation.memoized_count``; evidence ``counted_by_digest_scan``)."""
    name = "row_counts"
    scope = _scope(manifest, tables)
    unknown = [t for t in scope if t not in manifest.tables]
    if unknown:
        return CheckResult.errored(name, f"tables not in the manifest: {sample(unknown)}")
    mismatches: list[dict[str, object]] = []
    observed: dict[str, int | None] = {}
    from_digest: list[str] = []
    with read_session(conn):
        gone = set(missing_tables(conn, scope))
        for t in scope:
            if t in gone:
                observed[t] = None
                continue
            known = memoized_count(conn, t)
            if known is not None:
                observed[t] = known
                from_digest.append(t)
                continue
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident(t))).fetchone()
            observed[t] = int(row[0]) if row else 0
    expected = {t: manifest.tables[t].row_count for t in scope}
    for t in scope:
        if observed[t] != expected[t]:
            mismatches.append({"table": t, "expected": expected[t], "observed": observed[t]})
    ev = {"tables": len(scope), "mismatches": capped(mismatches)}
    if from_digest:
        ev["counted_by_digest_scan"] = capped(from_digest)
    if mismatches:
        desc = [f"{m['table']}: " + ("table missing" if m["observed"] is None
                                      else f"{m['observed']} rows, manifest {m['expected']}") for m in mismatches]
        return CheckResult.failed(name, f"{len(mismatches)} table(s) differ: {sample(desc)}",
                                  expected=expected, observed=observed, evidence=ev)
    return CheckResult.passed(name, f"{len(scope)} tables, {sum(expected.values())} rows, all equal the manifest",
                              expected=expected, observed=observed, evidence=ev)


@timed("table_checksums")
def table_checksums(
    conn: psycopg.Connection, manifest: Manifest, tables: Sequence[str] | None = None
) -> CheckResult:
    """Per table, the order-independent content digest (a server-side sum of row hashes, one scan,
    nothing loaded into the client) equals the manifest's. Catches rows changed in place with the
    same count, which ``row_counts`` cannot see."""
    name = "table_checksums"
    scope = _scope(manifest, tables)
    unknown = [t for t in scope if t not in manifest.tables]
    if unknown:
        return CheckResult.errored(name, f"tables not in the manifest: {sample(unknown)}")
    mismatches: list[dict[str, object]] = []
    observed: dict[str, str | None] = {}
    with read_session(conn):
        gone = set(missing_tables(conn, scope))
        for t in scope:
            if t in gone:
                observed[t] = None
                mismatches.append({"table": t, "problem": "table missing"})
                continue
            count, digest = table_digest(conn, t)
            observed[t] = digest
            snap = manifest.tables[t]
            if digest != snap.digest:
                mismatches.append({"table": t, "problem": "content differs", "rows": count,
                                   "manifest_rows": snap.row_count, "digest": digest,
                                   "manifest_digest": snap.digest})
    expected = {t: manifest.tables[t].digest for t in scope}
    ev = {"tables": len(scope), "mismatches": capped(mismatches)}
    if mismatches:
        desc = [f"{m['table']} ({m['problem']})" for m in mismatches]
        return CheckResult.failed(name, f"{len(mismatches)} table(s) with content unlike the manifest: {sample(desc)}",
                                  expected=expected, observed=observed, evidence=ev)
    return CheckResult.passed(name, f"{len(scope)} table digests equal the manifest", expected=expected,
                              observed=observed, evidence=ev)
