"""``restore-drill verify-backup``: does this dump restore, completely, into each Postgres we run or
move to, and does it agree with its object-storage snapshot?

Flow: read the archive once (header, table of contents, every data block; see ``verify_archive``), then
per target version restore it with that version's own ``pg_restore`` into a fresh disposable database,
run every check that needs no source, plus the manifest and storage checks when given. One
``DrillReport`` per version (``verify-backup[pg16]``) and a version x check matrix; a version is a safe
upgrade target when its drill passed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from restore_drill.checks._util import capped, ident, libpq_env, read_session, sample, timed
from restore_drill.checks.backup import restore_exit_status
from restore_drill.checks.data import row_counts, table_checksums
from restore_drill.checks.physical import physical_integrity
from restore_drill.checks.references import Relation, referential_integrity, relations_from_catalog
from restore_drill.checks.result import CheckResult, Status
from restore_drill.checks.schema import schema_fidelity
from restore_drill.checks.sequences import sequence_health
from restore_drill.checks.storage import artifact_paths_exist, object_integrity, reference_diff, snapshot_pairing
from restore_drill.fixtures import binaries
from restore_drill.fixtures.binaries import PgBinaries
from restore_drill.fixtures.database import Database
from restore_drill.fixtures.infra import Infra
from restore_drill.reports.environment import capture_environment, probe_tool_versions
from restore_drill.reports.history import append_history
from restore_drill.reports.model import (
    DrillReport,
    ErrorInfo,
    Matrix,
    PostgresInfo,
    RestoreTarget,
    RunReport,
    S3Info,
    Targets,
    utcnow,
)
from restore_drill.reports.writers import new_run_dir, write_run
from restore_drill.seeds.manifest import Manifest, ObjectSnapshot

from .errors import BadInput, DrillError, HarnessFault
from .events import EventBus, phase
from .procs import run
from .records import BackupRecord, SnapshotRecord, StepRecord
from .redact import Redactor
from .systems import SystemDef, builtin_systems, load_system, resolve_system
from .verify_archive import ArchiveInfo, inspect_archive, readable_by
from .verify_snapshot import Snapshot, open_snapshot

DRILL_NAME = "verify-backup"
VERDICT_FILE = "verdict.txt"
HISTORY_NAME = "history.jsonl"
SYSTEM_ALIASES = {"continuum": "arqonbus"}
# Matrix columns, in the order an operator reads them: can it be read, restored, is it complete, sound.
CHECK_ORDER = (
    "backup_artifact", "restore_exit_status", "restored_objects", "row_counts", "sequence_health",
    "referential_integrity", "physical_integrity", "table_checksums", "schema_fidelity",
    "artifact_paths_exist", "object_integrity", "snapshot_pairing",
)
RESTORE_FLAGS = ("--no-owner", "--no-privileges")  # a fresh cluster has none of the source's roles

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
    archive's table of contents lists exists in the restored database."""
    name = "restored_objects"
    wanted = [(e, _TOC_GROUPS[e.desc]) for e in archive.entries if e.desc in _TOC_GROUPS]
    with read_session(conn):
        have = {(g, k) for g, k in conn.execute(_RESTORED_OBJECTS_SQL).fetchall()}
    missing = [f"{e.desc} {e.key}" for e, g in wanted if (g, e.key) not in have]
    per_kind: dict[str, int] = {}
    for e, _ in wanted:
        per_kind[e.desc] = per_kind.get(e.desc, 0) + 1
    ev = {"archived": len(wanted), "per_kind": per_kind, "missing": capped(missing)}
    if missing:
        return CheckResult.failed(name, f"{len(missing)} of {len(wanted)} archived objects missing after restore: "
                                  f"{sample(missing)}", expected=len(wanted), observed=len(wanted) - len(missing),
                                  evidence=ev)
    return CheckResult.passed(name, f"all {len(wanted)} archived objects exist after restore ("
                              + ", ".join(f"{n} {k}" for k, n in sorted(per_kind.items())) + ")",
                              expected=len(wanted), observed=len(wanted), evidence=ev)


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


def _backup_artifact(archive: ArchiveInfo, tool: PgBinaries, problem: str | None, duration_s: float) -> CheckResult:
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


# -- inputs ----------------------------------------------------------------------------------------

def _system(system: str | None, manifest: Manifest | None, archive: ArchiveInfo) -> tuple[SystemDef | None, str]:
    """The system whose reference columns and allowlist apply: named, from the manifest, or the built-in
    one whose reference columns all live in tables the archive holds."""
    if system is not None:
        return resolve_system(SYSTEM_ALIASES.get(system, system)), "given"
    if manifest is not None and manifest.system:
        with contextlib.suppress(DrillError):
            return resolve_system(SYSTEM_ALIASES.get(manifest.system, manifest.system)), "from the manifest"
    tables = set(archive.data_tables)
    for p in builtin_systems().values():
        with contextlib.suppress(DrillError):
            s = load_system(p)
            refs = {r.rsplit(".", 1)[0] for r in s.references}
            if refs and refs <= tables:
                return s, "recognised from the archive's tables"
    return None, "none"


def _targets(versions: Sequence[int] | None, archive: ArchiveInfo) -> tuple[list[PgBinaries], list[str]]:
    """Target binary sets, plus notes on versions found but left out by default."""
    if versions:
        return [binaries.select(v) for v in dict.fromkeys(versions)], []
    found = sorted(binaries.servers(), key=lambda b: b.major)
    floor = max(m for m in (archive.dumped_from_major, archive.dumped_by_major, 0) if m is not None)
    chosen = [b for b in found if b.major >= floor]
    notes = [f"PostgreSQL {b.major} not tried: older than the archive (pg_dump {archive.dumped_by or '?'} "
             f"from {archive.dumped_from or '?'}); pass --pg-version {b.major} to try a downgrade"
             for b in found if b.major < floor]
    return chosen, notes


def _newer_than(archive: ArchiveInfo, tool: PgBinaries, timeout_s: float) -> str | None:
    err = readable_by(tool, archive.path, min(timeout_s, 600.0))
    by = archive.dumped_by_major
    if err is None and (by is None or by <= tool.major):
        return None
    why = err or f"its pg_dump {archive.dumped_by} is newer than pg_restore {tool.version}"
    return (f"pg_restore {tool.version} cannot restore {archive.path.name}: written by pg_dump "
            f"{archive.dumped_by or '?'} ({why}); restore it into PostgreSQL {by or 'newer'} or later, or "
            "take the backup with the older pg_dump")


def _snapshot_manifest(manifest: Manifest, snap: Snapshot) -> dict[str, ObjectSnapshot]:
    if snap.keeps_metadata:
        return dict(manifest.objects)
    # A folder copy has bytes only: compare size and sha256, not content type or user metadata.
    return {k: dataclasses.replace(o, content_type="", metadata={}) for k, o in manifest.objects.items()}


# -- one target version ----------------------------------------------------------------------------

@dataclasses.dataclass
class _Inputs:
    archive: ArchiveInfo
    manifest: Manifest | None
    system: SystemDef | None
    system_how: str
    snapshot: Snapshot | None
    objects: CheckResult | None  # object_integrity is the same for every version: computed once
    timeout_s: float
    redact: Redactor
    events: EventBus


def _verify_version(infra: Infra, tool: PgBinaries, inp: _Inputs, unreadable: str | None,
                    check_s: float) -> DrillReport:
    a = inp.archive
    rep = DrillReport(name=DRILL_NAME, id=f"{DRILL_NAME}[pg{tool.major}]",
                      system=inp.system.name if inp.system else (a.header.get("dbname") or "unknown"),
                      procedure="corrected", runbook=None, disaster=None, started_at=utcnow())
    rep.backups.append(BackupRecord(
        path=str(a.path), size_bytes=a.size_bytes, sha256=a.sha256, started_at=a.created_at or a.mtime,
        finished_at=a.mtime, tool_version=f"pg_dump (PostgreSQL) {a.dumped_by}" if a.dumped_by else "",
        archive_header=dict(a.header), data_tables=a.data_tables, intended_tables=[]))
    if inp.snapshot is not None:
        rep.snapshots.append(SnapshotRecord(inp.snapshot.bucket, inp.snapshot.prefix or "", utcnow(), {}))
    if inp.system is not None:
        rep.targets = Targets(inp.system.rto_s, inp.system.rpo_s)
    rep.metrics.update({"backup_bytes": a.size_bytes, "archive_rows": sum(a.row_counts.values()),
                        "target_version": tool.version})
    inp.events.emit("drill_start", rep.id)
    rep.checks.append(_backup_artifact(a, tool, unreadable, check_s))
    if unreadable is not None:
        return _finish_version(rep, inp.events)
    db: Database | None = None
    try:
        with phase(inp.events, rep, "infra"):
            db = infra.postgres(tool.major).create_database(name=f"verify_{uuid.uuid4().hex[:10]}")
        rep.target = RestoreTarget(database=f"{db.name} (PostgreSQL {db.server_version}, disposable)",
                                   bucket=inp.snapshot.bucket if inp.snapshot else "",
                                   prefix=(inp.snapshot.prefix or "") if inp.snapshot else "")
        with phase(inp.events, rep, "restore"):
            restore_tool = tool.tool("pg_restore")
            argv = [str(restore_tool), *RESTORE_FLAGS, "--dbname", db.name, str(a.path)]
            started = utcnow()
            done = run(argv, env=libpq_env(db), timeout_s=inp.timeout_s, redactor=inp.redact)
            rep.steps.append(StepRecord(
                name=f"pg_restore into PostgreSQL {db.server_version}", phase="restore",
                command=inp.redact(" ".join(argv)), status="passed" if done.exit_code == 0 else "failed",
                exit_code=done.exit_code, duration_s=round(done.duration_s, 3), started_at=started,
                stderr_tail=inp.redact(done.stderr[-4000:]),
                reason="" if done.exit_code == 0 else "pg_restore reported errors (see restore_exit_status)"))
            rep.metrics["restore_s"] = round(done.duration_s, 3)
            rep.metrics["rows"] = sum(a.row_counts.values())
            allow = inp.system.restore_allowlist if inp.system else ()
            rep.checks.append(restore_exit_status(done.exit_code, inp.redact(done.stderr), allow))
        with phase(inp.events, rep, "checks"):
            rep.checks.extend(_db_checks(db, inp))
    except DrillError as e:
        rep.error = ErrorInfo.from_exception(e, inp.redact)
    except Exception as e:  # noqa: BLE001 - a harness bug must show as errored, never as a verdict
        rep.error = ErrorInfo.from_exception(HarnessFault(f"{type(e).__name__}: {e}"), inp.redact)
    finally:
        if db is not None:
            with contextlib.suppress(Exception):
                infra.drop(db)
    rep.metrics["verify_s"] = round(sum(p.duration_s for p in rep.phases) + check_s, 3)
    return _finish_version(rep, inp.events)


def _finish_version(rep: DrillReport, events: EventBus) -> DrillReport:
    rep.finish()
    for c in rep.checks:
        events.emit("check", rep.id, c.name, c.status.value, message=c.message)
    events.emit("drill_end", rep.id, status=rep.status)
    return rep


def _db_checks(db: Database, inp: _Inputs) -> list[CheckResult]:
    a, m, snap = inp.archive, inp.manifest, inp.snapshot
    out: list[CheckResult] = []
    with db.connect() as conn:
        out.append(restored_objects(conn, a))
        out.append(row_counts(conn, m) if m is not None else archive_row_counts(conn, a))
        out.append(sequence_health(conn, manifest=m, schemas=a.schemas))
        out.append(_referential(conn, a, m))
        if m is not None:
            out.append(table_checksums(conn, m))
            schemas = tuple(sorted({t.split(".", 1)[0] for t in m.tables})) or ("public",)
            out.append(schema_fidelity(conn, m, sorted(m.tables), schemas=schemas))
        if snap is not None:
            out.extend(_storage_checks(conn, inp))
    out.append(physical_integrity(db, timeout_s=inp.timeout_s))
    return out


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


def _storage_checks(conn: psycopg.Connection, inp: _Inputs) -> list[CheckResult]:
    snap = inp.snapshot
    assert snap is not None
    refs = sorted(inp.system.references) if inp.system is not None else []
    out: list[CheckResult] = []
    if refs:
        out.append(artifact_paths_exist(conn, snap.client, snap.bucket, snap.prefix, refs))
    else:
        out.append(CheckResult.skipped("artifact_paths_exist", "no reference columns known for this archive: "
                                       "pass --system pegasus (or a system .toml declaring storage.references)"))
    if inp.objects is not None:
        out.append(inp.objects)
    out.append(_pairing(conn, inp, refs))
    return out


@timed("snapshot_pairing")
def _pairing(conn: psycopg.Connection, inp: _Inputs, refs: list[str]) -> CheckResult:
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
    res = snapshot_pairing(dump_at, snap_at, tol, reference=diff)
    note = f"dump started {dump_at}, snapshot {snap.where} is dated {snap.taken_on.isoformat()}: "
    return dataclasses.replace(res, message=note + res.message,
                               evidence={**res.evidence, "snapshot_dated_by_name": True, "snapshot": snap.where})


# -- the run ---------------------------------------------------------------------------------------

def verify_backup(
    dump: Path,
    *,
    versions: list[int] | None,
    storage_snapshot: str | None,
    manifest: Path | None,
    system: str | None,
    report_dir: Path,
    argv: list[str],
    s3_endpoint: str | None = None,
    infra: Infra | None = None,
    timeout_s: float = 3600.0,
    events: EventBus | None = None,
) -> tuple[RunReport, Path]:
    """Verify ``dump`` into every target version and write the run folder; returns (report, run folder).

    Raises ``BadInput`` (nothing written) when the file is unusable or an option is wrong: missing,
    empty, truncated, corrupted, plain SQL, not an archive, newer than every ``pg_restore`` (or every
    requested version's), unreadable manifest or snapshot. ``infra`` lets a caller share servers
    (tests); otherwise servers are started here, one per version, and stopped before returning.
    ``events`` receives phases and check results as they happen (the CLI's progress display).
    """
    events = events if events is not None else EventBus()
    dump = Path(dump)
    if timeout_s <= 0:
        raise BadInput(f"--step-timeout must be > 0 seconds, got {timeout_s:g}")
    if manifest is not None and not Path(manifest).is_file():
        raise BadInput(f"--manifest {manifest} does not exist: pass the <drill>.manifest.json a drill wrote "
                       "at backup time, or one you made with take_manifest")
    for v in versions or ():
        binaries.select(v)  # BadInput naming the versions found
    tools = list(binaries.discover())
    t0 = time.monotonic()
    events.emit("phase_start", DRILL_NAME, "read")
    status = "errored"
    try:
        archive = inspect_archive(dump, tools, timeout_s=timeout_s)
        status = "passed"
    finally:  # the spinner stops on a bad file too, before its one-line error
        read_s = time.monotonic() - t0
        events.emit("phase_end", DRILL_NAME, "read", status, duration_s=read_s)
    man: Manifest | None = None
    if manifest is not None:
        try:
            man = Manifest.load(Path(manifest))
        except (ValueError, TypeError, KeyError) as e:
            raise BadInput(f"--manifest {manifest} is not a restore-drill manifest ({type(e).__name__}: "
                           f"{str(e)[:120]}): pass the <drill>.manifest.json a drill wrote") from None
    sysdef, how = _system(system, man, archive)
    targets, notes = _targets(versions, archive)
    if not targets:
        raise BadInput(f"no PostgreSQL version found to verify {dump} into (archive from pg_dump "
                       f"{archive.dumped_by or '?'}): install it or pass --pg-version")
    t1 = time.monotonic()
    unreadable = {b.major: _newer_than(archive, b, timeout_s) for b in targets}
    if all(unreadable.values()):
        newest = max(targets, key=lambda b: b.major)
        raise BadInput(f"{dump} was written by pg_dump {archive.dumped_by}, newer than every requested "
                       f"version's pg_restore (newest requested: {newest.version}): verify it with "
                       f"--pg-version {archive.dumped_by_major} or later")
    check_s = round(read_s + (time.monotonic() - t1) / len(targets), 3)
    snap: Snapshot | None = None
    if storage_snapshot is not None:
        snap = open_snapshot(storage_snapshot, s3_endpoint=s3_endpoint,
                             access_key=os.environ.get("RESTORE_DRILL_S3_ACCESS_KEY"),
                             secret_key=os.environ.get("RESTORE_DRILL_S3_SECRET_KEY"),
                             region=os.environ.get("RESTORE_DRILL_S3_REGION", "us-east-1"))
    redact = Redactor([os.environ.get("RESTORE_DRILL_S3_SECRET_KEY", ""),
                       os.environ.get("RESTORE_DRILL_S3_ACCESS_KEY", "")])
    objects: CheckResult | None = None
    if snap is not None:
        if man is None:
            objects = CheckResult.skipped("object_integrity", "no --manifest given: the snapshot's objects have "
                                          "nothing to be compared with (pass the manifest written at backup time)")
        elif not man.objects:
            objects = CheckResult.skipped("object_integrity", "the manifest lists no objects")
        else:
            objects = object_integrity(snap.client, snap.bucket, snap.prefix, _snapshot_manifest(man, snap))
            if not snap.keeps_metadata:
                objects = dataclasses.replace(objects, message=objects.message.replace(
                    "(sha256, size, content type, metadata)", "(sha256 and size; a folder keeps no content type "
                    "or metadata)"))
    inp = _Inputs(archive, man, sysdef, how, snap, objects, timeout_s, redact, events)

    run_dir = new_run_dir(report_dir)
    report = RunReport(run_id=run_dir.name, command=[redact(x) for x in argv], environment=capture_environment(),
                       started_at=utcnow())
    own = infra is None
    infra = infra if infra is not None else Infra()
    try:
        for b in targets:
            report.drills.append(_verify_version(infra, b, inp, unreadable[b.major], check_s))
    except KeyboardInterrupt:
        report.error = ErrorInfo("KeyboardInterrupt", "interrupted (Ctrl-C); infrastructure was torn down")
        raise
    finally:
        if own:
            infra.close()
        report.matrix = build_matrix(report.drills)
        report.environment = _environment(targets, snap, s3_endpoint)
        report.finish()
        text = verdict_text(report, notes, archive, sysdef, how)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / VERDICT_FILE).write_text(text + "\n", encoding="utf-8")
        write_run(report, run_dir)
        with contextlib.suppress(OSError):
            append_history(report, report_dir / HISTORY_NAME, run_dir)
    return report, run_dir


def _environment(targets: Sequence[PgBinaries], snap: Snapshot | None, endpoint: str | None) -> Any:
    tools = probe_tool_versions({f"pg_restore {b.major}": b.tool("pg_restore") for b in targets})
    newest = max(targets, key=lambda b: b.major)
    pg = PostgresInfo("embedded", ", ".join(b.version for b in targets), newest.version,
                      ", ".join(sorted({b.source for b in targets})))
    # A folder snapshot is recorded in each drill's target and snapshots, not as an S3 backend.
    s3 = S3Info("endpoint", endpoint or "") if snap is not None and snap.kind == "s3" else None
    return capture_environment(pg, s3, tools)


def build_matrix(drills: Sequence[DrillReport]) -> Matrix:
    """Rows: target versions; columns: checks; cells: each check's status on that version."""
    versions = [d.id.split("[", 1)[1].rstrip("]") for d in drills]
    seen = {c.name for d in drills for c in d.checks}
    checks = [c for c in CHECK_ORDER if c in seen] + sorted(seen - set(CHECK_ORDER))
    cells = {v: {c.name: c.status.value for c in d.checks} for v, d in zip(versions, drills, strict=True)}
    reasons = {v: {c.name: c.message for c in d.checks} for v, d in zip(versions, drills, strict=True)}
    return Matrix(versions, checks, cells, reasons)


def safe_targets(report: RunReport) -> tuple[list[str], list[str], list[str]]:
    """(safe, not safe with the reason, undecided with the reason) target versions."""
    safe, unsafe, undecided = [], [], []
    for d in report.drills:
        v = d.metrics.get("target_version") or d.id
        if d.status == "passed":
            safe.append(str(v))
        elif d.status == "failed":
            bad = [c for c in d.checks if c.status is Status.FAILED]
            unsafe.append(f"{v} ({'; '.join(f'{c.name}: {c.message}' for c in bad[:2])})")
        else:
            undecided.append(f"{v} ({d.status_reason})")
    return safe, unsafe, undecided


def verdict_text(report: RunReport, notes: Sequence[str] = (), archive: ArchiveInfo | None = None,
                 system: SystemDef | None = None, how: str = "") -> str:
    """The verdict: which target versions are safe to restore (upgrade) into, and why the others are not."""
    safe, unsafe, undecided = safe_targets(report)
    lines = []
    if archive is not None:
        lines.append(archive.summary())
    if system is not None:
        lines.append(f"system: {system.name} ({how})")
    lines.append("safe to restore into PostgreSQL: " + (", ".join(safe) if safe else "none"))
    lines += [f"NOT safe: PostgreSQL {u}" for u in unsafe]
    lines += [f"undecided (errored): PostgreSQL {u}" for u in undecided]
    lines += list(notes)
    return "\n".join(lines)
