"""The checks ``verify-backup`` runs on one restored database: those that compare the restore with the
archive itself (every archived object exists, every COPY block's rows arrived), plus the shared checks
(sequences, references, physical integrity; checksums and schema with a manifest; storage with a snapshot).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg import sql

from restore_drill.checks._util import capped, ident, read_session, sample, timed
from restore_drill.checks.data import row_counts, table_checksums
from restore_drill.checks.physical import physical_integrity
from restore_drill.checks.references import Relation, referential_integrity, relations_from_catalog
from restore_drill.checks.registry import run_plan
from restore_drill.checks.result import CheckResult, Status
from restore_drill.checks.schema import schema_fidelity
from restore_drill.checks.sequences import sequence_health
from restore_drill.checks.storage import artifact_paths_exist, reference_diff, snapshot_pairing
from restore_drill.fixtures.binaries import PgBinaries
from restore_drill.fixtures.database import Database
from restore_drill.seeds.manifest import Manifest

from .archive import ArchiveInfo, dotted
from .coverage import archive_coverage
from .inputs import Inputs

# TOC descriptions -> the catalog group that must hold the object after restore.
_TOC_GROUPS = {
    "TABLE": "table", "VIEW": "view", "MATERIALIZED VIEW": "materialized view", "SEQUENCE": "sequence",
    "INDEX": "index", "CONSTRAINT": "constraint", "FK CONSTRAINT": "constraint", "CHECK CONSTRAINT": "constraint",
    "TRIGGER": "trigger", "FUNCTION": "function", "PROCEDURE": "function", "EXTENSION": "extension",
    "SCHEMA": "schema",
}
# Every restorable object as "<group>\t<schema> <tag>", the key format of `pg_restore -l`.
_RESTORED_OBJECTS_SQL = """
SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                      WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' ELSE 'index' END,
       n.nspname || ' ' || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r','p','v','m','S','i','I')
UNION ALL
SELECT 'constraint', n.nspname || ' ' || coalesce(t.relname, ty.typname) || ' ' || con.conname
FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
LEFT JOIN pg_class t ON t.oid = con.conrelid LEFT JOIN pg_type ty ON ty.oid = con.contypid
UNION ALL
SELECT 'trigger', n.nspname || ' ' || c.relname || ' ' || tg.tgname
FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT tg.tgisinternal
UNION ALL
SELECT 'function', n.nspname || ' ' || p.proname || '(' || oidvectortypes(p.proargtypes) || ')'
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
UNION ALL
SELECT 'extension', '- ' || extname FROM pg_extension
UNION ALL
SELECT 'schema', '- ' || nspname FROM pg_namespace
"""


# -- checks that compare the restore with the archive itself --------------------------------------

@timed("restored_objects")
def restored_objects(conn: psycopg.Connection, archive: ArchiveInfo) -> CheckResult:
    """Every table, view, sequence, index, constraint, trigger, function, extension and schema the
    archive's table of contents lists exists in the restored database, and so does every large object
    the archive creates (its pre-data ``lo_create`` calls: pg_dump 17+ lists them as ranges)."""
    name = "restored_objects"
    wanted = [(e, _TOC_GROUPS[e.desc]) for e in archive.entries if e.desc in _TOC_GROUPS]
    los = sorted(archive.shape.large_objects) if archive.shape is not None else []
    with read_session(conn):
        have = {(g, k) for g, k in conn.execute(_RESTORED_OBJECTS_SQL).fetchall()}
        lo_have = {int(r[0]) for r in conn.execute("SELECT oid FROM pg_largeobject_metadata").fetchall()} if los else set()
    missing = [f"{e.desc} {e.key}" for e, g in wanted if (g, e.key) not in have]
    missing += [f"LARGE OBJECT {o}" for o in los if o not in lo_have]
    per_kind: dict[str, int] = {}
    for e, _ in wanted:
        per_kind[e.desc] = per_kind.get(e.desc, 0) + 1
    if los:
        per_kind["LARGE OBJECT"] = len(los)
    wanted_n = len(wanted) + len(los)
    ev = {"archived": wanted_n, "per_kind": per_kind, "missing": capped(missing)}
    if missing:
        return CheckResult.failed(name, f"{len(missing)} of {wanted_n} archived objects missing after restore: "
                                  f"{sample(missing)}", expected=wanted_n, observed=wanted_n - len(missing),
                                  evidence=ev)
    return CheckResult.passed(name, f"all {wanted_n} archived objects exist after restore ("
                              + ", ".join(f"{n} {k}" for k, n in sorted(per_kind.items())) + ")",
                              expected=wanted_n, observed=wanted_n, evidence=ev)


@timed("row_counts")
def archive_row_counts(conn: psycopg.Connection, archive: ArchiveInfo) -> CheckResult:
    """Per table, ``count(*)`` of the restore (ONLY the table, not inheritance children) equals the
    rows of its COPY block in the archive, counted while the archive was read end to end."""
    name = "row_counts"
    expected = dict(sorted(archive.row_counts.items()))
    observed: dict[str, int | None] = {}
    with read_session(conn):
        for t in expected:
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (_regclass(t),)).fetchone()
            if not exists or not exists[0]:
                observed[t] = None
                continue
            row = conn.execute(sql.SQL("SELECT count(*) FROM ONLY {}").format(ident(t))).fetchone()
            observed[t] = int(row[0]) if row else 0
    diff = [f"{t}: " + ("table missing" if observed[t] is None else f"{observed[t]} rows, archive {n}")
            for t, n in expected.items() if observed[t] != n]
    ev = {"source": "archive", "tables": len(expected), "mismatches": capped(diff)}
    if diff:
        return CheckResult.failed(name, f"{len(diff)} table(s) differ from the archive: {sample(diff)}",
                                  expected=expected, observed=observed, evidence=ev)
    return CheckResult.passed(name, f"{len(expected)} tables, {sum(expected.values())} rows, all equal the archive",
                              expected=expected, observed=observed, evidence=ev)


def _regclass(table: str) -> str:
    schema, _, rel = table.partition(".")
    return '"' + schema.replace('"', '""') + '"."' + rel.replace('"', '""') + '"'


def backup_artifact(archive: ArchiveInfo, tool: PgBinaries, problem: str | None, duration_s: float) -> CheckResult:
    """The archive was read end to end and ``tool``'s pg_restore reads its table of contents; ``problem``
    (why this version cannot read it) fails it; ``duration_s`` is the reading time."""
    ev = {"path": str(archive.path), "kind": archive.kind, "size": archive.size_bytes, "sha256": archive.sha256,
          "archive_header": archive.header, "toc_entries": len(archive.entries),
          "data_tables": capped(archive.data_tables), "read_end_to_end_by": archive.reader,
          "read_s": archive.read_s, "restore_tool": f"pg_restore (PostgreSQL) {tool.version}"}
    if problem is not None:
        return CheckResult.failed("backup_artifact", problem, expected=f"readable by pg_restore {tool.version}",
                                  observed="unreadable", evidence=ev, duration_s=duration_s)
    return CheckResult.passed("backup_artifact", f"{archive.summary()}; read end to end; pg_restore {tool.version} "
                              "reads its table of contents", expected=archive.sha256, observed=archive.sha256,
                              evidence=ev, duration_s=duration_s)


def early_plan(inp: Inputs) -> list[tuple[str, Callable[[psycopg.Connection], CheckResult]]]:
    """The checks ``early.EarlyChecks`` may run while the restore builds indexes: only those that read
    table rows. The first is the guard (``row_counts`` against the archive: every table holds all its
    rows); with a manifest, ``table_checksums`` follows, then the manifest's ``row_counts``, which
    replaces the guard in the report and, in the same snapshot, takes each count from the digest scan
    instead of reading the table again (``foundation.memoized_count``)."""
    a, m = inp.archive, inp.manifest
    plan: list[tuple[str, Callable[[psycopg.Connection], CheckResult]]] = [
        ("row_counts", lambda conn: archive_row_counts(conn, a))]
    if m is not None:
        man = m
        plan.append(("table_checksums", lambda conn: table_checksums(conn, man)))
        plan.append(("row_counts", lambda conn: row_counts(conn, man)))
    plan.append(("referential_integrity", lambda conn: _referential(conn, a, m)))
    return plan


def db_checks(db: Database, inp: Inputs, early: dict[str, CheckResult] | None = None,
              checked_indexes: Sequence[str] = ()) -> list[CheckResult]:
    """Every check on the restored ``db`` after ``restore_exit_status``, in the matrix's order; a check
    that does not apply (no manifest, no snapshot) is left out or skipped with its reason.

    The checks run in three lanes at once, each on its own connection (issue 19: a server runs one
    backend per connection on one core, so one connection after another left the second core idle):
    the catalog checks then ``physical_integrity`` (``pg_amcheck`` creates and drops the ``amcheck``
    extension, so it starts only after every check that reads the catalog has finished), the row counts
    with the digests and storage checks, and the orphan anti-join. Every lane reads the same finished
    restore, which nothing writes any more, so the results are those of one check after another. A
    lane that cannot connect raises (the version is errored), as the single connection did. ``early``:
    results the early checks kept (``early.EarlyChecks``), used in place of running those checks again;
    ``checked_indexes``: the indexes they checked with pg_amcheck, which ``physical_integrity`` leaves out."""
    a, m, snap = inp.archive, inp.manifest, inp.snapshot
    # (registered name, lane, thunk taking the lane's connection); kept in the matrix's order.
    plan: list[tuple[str, int, Callable[[psycopg.Connection], CheckResult]]] = [
        ("restored_objects", 0, lambda conn: restored_objects(conn, a))]
    if a.shape is not None:
        shape = a.shape
        tables = [dotted(e.key) for e in a.entries if e.desc == "TABLE"]
        plan.append(("archive_coverage", 0, lambda conn: archive_coverage(conn, tables, a.data_tables, shape,
                                                                           a.schemas)))
    plan.append(("row_counts", 1, lambda conn: row_counts(conn, m) if m is not None else archive_row_counts(conn, a)))
    plan.append(("sequence_health", 0, lambda conn: sequence_health(conn, manifest=m, schemas=a.schemas)))
    plan.append(("referential_integrity", 2, lambda conn: _referential(conn, a, m)))
    if m is not None:
        man = m
        plan.append(("table_checksums", 1, lambda conn: table_checksums(conn, man)))
        schemas = tuple(sorted({t.split(".", 1)[0] for t in man.tables} | set(man.schemas))) or ("public",)
        # verify-backup restores with --no-owner --no-privileges (version.RESTORE_FLAGS): a fresh
        # cluster has none of the source's roles, so grants and owners cannot be compared. ALTER
        # DATABASE ... SET travels only with --create (PostgreSQL 11 release notes), which this
        # restore into its own fresh database does not use.
        plan.append(("schema_fidelity", 0, lambda conn: schema_fidelity(
            conn, man, sorted(man.tables), schemas=schemas, privileges=False,
            unchecked={"database_settings": "verify-backup restores into its own database, without --create"})))
    if snap is not None:
        plan += [(n, 1, fn) for n, fn in _storage_checks(inp)]
    plan.append(("physical_integrity", 0, lambda _conn: _physical(db, inp, checked_indexes)))
    kept = early or {}
    plan = [(n, lane, _already(kept[n]) if n in kept else fn) for n, lane, fn in plan]
    return run_lanes(db, plan)


def _already(res: CheckResult) -> Callable[[psycopg.Connection], CheckResult]:
    return lambda _conn: res


def run_lanes(db: Database, plan: list[tuple[str, int, Callable[[psycopg.Connection], CheckResult]]]
              ) -> list[CheckResult]:
    """Run ``plan`` ((registered name, lane number, check taking a connection)) with one thread and one
    connection to ``db`` per lane, each lane's checks in plan order and each isolated
    (``checks.registry.run_plan``: one that raises is errored, the rest still run). Returns the results
    in plan order. Raises what opening a lane's connection raises, and KeyError (from ``run_plan``) for a
    name the check registry does not hold."""
    lanes = sorted({lane for _, lane, _ in plan})

    def run_lane(lane: int) -> list[CheckResult]:
        mine = [(n, fn) for n, ln, fn in plan if ln == lane]
        with db.connect() as conn:
            return run_plan([(n, functools.partial(fn, conn)) for n, fn in mine])

    pool = ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix="verify-checks")
    try:
        futures = {lane: pool.submit(run_lane, lane) for lane in lanes}
        done = {lane: iter(f.result()) for lane, f in futures.items()}
    finally:  # Ctrl-C here must not wait for a long pg_amcheck: the caller drops the database WITH
        pool.shutdown(wait=False, cancel_futures=True)  # (FORCE), which ends the lanes' sessions
    return [next(done[lane]) for _, lane, _ in plan]


def _physical(db: Database, inp: Inputs, checked_indexes: Sequence[str]) -> CheckResult:
    res = physical_integrity(db, timeout_s=inp.timeout_s, checked_indexes=checked_indexes)
    if not checked_indexes or res.status is Status.SKIPPED:
        return res
    return dataclasses.replace(res, message=f"{res.message}; {len(checked_indexes)} of its B-tree index(es) "
                               "checked by the same pg_amcheck while the restore ran (evidence "
                               "indexes_checked_before)")


def _referential(conn: psycopg.Connection, a: ArchiveInfo, m: Manifest | None) -> CheckResult:
    declared = {_rel_key(r) for r in relations_from_catalog(m.catalog)} if m is not None else set()
    extra: list[Relation] = [r for r in a.foreign_keys if _rel_key(r) not in declared]
    res = referential_integrity(conn, m, extra, tables=a.data_tables)
    if res.status is Status.SKIPPED:
        return dataclasses.replace(res, message="the archive declares no foreign keys"
                                   + ("" if m is not None else " and no --manifest was given")
                                   + ": no relation to check")
    return res


def _rel_key(r: Relation) -> tuple[str, tuple[str, ...], str, tuple[str, ...]]:
    return (r.child, r.child_columns, r.parent, r.parent_columns)


def _storage_checks(inp: Inputs) -> list[tuple[str, Callable[[psycopg.Connection], CheckResult]]]:
    snap = inp.snapshot
    assert snap is not None
    refs = sorted(inp.system.references) if inp.system is not None else []
    out: list[tuple[str, Callable[[psycopg.Connection], CheckResult]]] = []
    if refs:
        out.append(("artifact_paths_exist", lambda conn: artifact_paths_exist(conn, snap.client, snap.bucket, snap.prefix,
                                                                              refs, manifest=inp.manifest)))
    else:
        out.append(("artifact_paths_exist", lambda _conn: CheckResult.skipped(
            "artifact_paths_exist", "no reference columns known for this archive: pass --system pegasus (or a "
            "system .toml declaring storage.references)")))
    objects = inp.objects
    if objects is not None:
        out.append((objects.name, lambda _conn: objects))
    out.append(("snapshot_pairing", lambda conn: _pairing(conn, inp, refs)))
    return out


@timed("snapshot_pairing")
def _pairing(conn: psycopg.Connection, inp: Inputs, refs: list[str]) -> CheckResult:
    snap, a = inp.snapshot, inp.archive
    assert snap is not None
    if a.created_at is None:
        return CheckResult.skipped("snapshot_pairing", f"{a.path.name} has no creation time in its header")
    if snap.taken_on is None:
        return CheckResult.skipped("snapshot_pairing", f"the snapshot {snap.where} has no date in its name: name "
                                   "snapshots prefix-YYYY-MM-DD (the runbook's $(date +%F)) to pair them")
    dump_at = a.created_at
    # The snapshot's name gives a day, not a time: it pairs with a dump started on that calendar day, so
    # the gap is measured in whole days (the dump's time of day on the snapshot's date).
    snap_at = f"{snap.taken_on.isoformat()}{dump_at[10:]}"
    with read_session(conn):
        diff = reference_diff(conn, snap.client, snap.bucket, snap.prefix, refs) if refs else None
    tol = inp.system.snapshot_tolerance_s if inp.system is not None else 3600.0
    res = snapshot_pairing(dump_at, snap_at, tol, reference=diff, snapshot_where=snap.where)
    note = f"dump started {dump_at}, snapshot {snap.where} is dated {snap.taken_on.isoformat()}: "
    return dataclasses.replace(res, message=note + res.message,
                               evidence={**res.evidence, "snapshot_dated_by_name": True, "snapshot": snap.where})


