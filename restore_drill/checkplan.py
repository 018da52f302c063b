"""Which checks a drill runs after its restore, fed from the system definition and the drill's records.

Order matters: read-only checks first, then the ones that write (migration re-apply, write smoke),
then the objectives. Each check is isolated: one that raises is recorded as errored, the rest still run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from restore_drill.checks import (
    api,
    backup,
    data,
    invariants,
    migration,
    objectives,
    physical,
    references,
    schema,
    scope,
    sequences,
    smoke,
    storage,
)
from restore_drill.checks.result import CheckResult
from restore_drill.checks.retention import retention as retention_check
from restore_drill.fixtures.binaries import PgBinaries
from restore_drill.fixtures.database import Database
from restore_drill.records import BackupRecord, SnapshotRecord, StepRecord
from restore_drill.seeds.manifest import Manifest

from .systems import SystemDef


@dataclass
class CheckInputs:
    """Everything the checks may need, collected by the drill as it ran."""

    system: SystemDef
    db: Database  # the restored database
    client_bins: PgBinaries
    manifest: Manifest | None  # taken when the backup was made
    backup: BackupRecord | None
    restore_steps: list[StepRecord]
    restore_s: float | None
    s3_client: Any = None
    bucket: str | None = None
    prefix: str | None = None
    snapshot: SnapshotRecord | None = None  # the storage snapshot that was restored
    last_write_at: str | None = None  # newest write lost by the restore (late-writes)
    api_base_url: str | None = None
    lecture_ids: Sequence[Any] = ()
    migration_apply: Callable[[], Any] | None = None
    smoke: tuple[Callable[[], Any], Callable[[Any], Any]] | None = None
    rto_s: float | None = None
    rpo_s: float | None = None
    retention: Any = None  # a folder or S3Location holding the backup history, when the user gave one
    extra: dict[str, Any] = field(default_factory=dict)


def _guard(name: str, fn: Callable[[], CheckResult]) -> CheckResult:
    t0 = time.monotonic()
    try:
        r = fn()
    except Exception as e:  # a check that blows up is errored evidence, never a pass
        return CheckResult.errored(name, f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}",
                                   duration_s=round(time.monotonic() - t0, 3))
    return r


def plan(ci: CheckInputs) -> list[tuple[str, Callable[[], CheckResult]]]:
    sysdef = ci.system
    scope_tables = list(sysdef.tables) if sysdef.tables else (sorted(ci.manifest.tables) if ci.manifest else None)
    out: list[tuple[str, Callable[[], CheckResult]]] = []
    conn_box: dict[str, Any] = {}

    def conn() -> Any:
        c = conn_box.get("c")
        if c is None or c.closed:
            c = conn_box["c"] = ci.db.connect(autocommit=True)
        return c

    def add(name: str, fn: Callable[[], CheckResult]) -> None:
        if name not in sysdef.skip_checks:
            out.append((name, fn))

    def no_manifest(name: str) -> CheckResult:
        return CheckResult.errored(name, "no manifest was taken at backup time (the seed or backup phase did not complete)")

    add("backup_artifact", lambda: backup.backup_artifact(ci.backup, ci.client_bins.tool("pg_restore"), scope_tables)
        if ci.backup else CheckResult.failed("backup_artifact", "the backup phase produced no backup file"))
    restore_cmds = [s for s in ci.restore_steps if "pg_restore" in s.command and s.status not in ("not_run", "manual")]
    add("restore_exit_status", lambda: _restore_status(restore_cmds, sysdef.restore_allowlist))
    declared = list(sysdef.tables or ())
    if ci.migration_apply is not None and declared:
        add("migration_applied", lambda: migration.migration_applied(conn(), declared, ci.manifest))
    m = ci.manifest
    add("row_counts", lambda: data.row_counts(conn(), m, scope_tables) if m else no_manifest("row_counts"))
    add("table_checksums", lambda: data.table_checksums(conn(), m, scope_tables) if m else no_manifest("table_checksums"))
    add("schema_fidelity", lambda: schema.schema_fidelity(conn(), m, scope_tables) if m else no_manifest("schema_fidelity"))
    add("sequence_health", lambda: sequences.sequence_health(conn(), scope_tables))
    add("referential_integrity", lambda: references.referential_integrity(conn(), m, tables=scope_tables))
    if sysdef.table_scoped and declared:
        add("blast_radius", lambda: scope.blast_radius(conn(), m, declared) if m else no_manifest("blast_radius"))
    groups: dict[str, dict[str, tuple[str, str]]] = {}
    for inv in sysdef.invariants:
        groups.setdefault(inv.check, {})[inv.name] = (inv.sql, inv.message)
    for check_name, invs in groups.items():
        add(check_name, _invariant_check(check_name, invs, conn))
    add("physical_integrity", lambda: physical.physical_integrity(ci.db, ci.client_bins))
    if sysdef.has_storage and ci.s3_client is not None and ci.bucket:
        add("artifact_paths_exist", lambda: storage.artifact_paths_exist(conn(), ci.s3_client, ci.bucket, ci.prefix,
                                                                          sysdef.references))
        add("object_integrity", lambda: storage.object_integrity(ci.s3_client, ci.bucket, ci.prefix, m)
            if m else no_manifest("object_integrity"))
        add("snapshot_pairing", lambda: _pairing(ci, conn()))
    if ci.api_base_url is not None:
        add("api_probe", lambda: api.api_probe(ci.api_base_url, list(ci.lecture_ids)))
    if ci.migration_apply is not None:
        add("migration_idempotent", lambda: migration.migration_idempotent(conn(), ci.migration_apply, scope_tables))
    if ci.smoke is not None:
        flow, cleanup = ci.smoke
        add("write_smoke", lambda: smoke.write_smoke(flow, cleanup))
    add("rto", lambda: _rto(ci))
    add("rpo", lambda: objectives.rpo(ci.backup.started_at, ci.last_write_at, ci.rpo_s) if ci.backup
        else CheckResult.errored("rpo", "no backup was made, so no data-loss window can be measured"))
    add("retention", lambda: retention_check(ci.retention, sysdef.retention_days) if ci.retention is not None
        else CheckResult.skipped("retention", "no backup history given: pass --backup-history DIR or "
                                 f"s3://bucket/prefix to check the {sysdef.retention_days}-day retention policy"))
    out.append(("__close__", lambda: _close(conn_box)))
    return out


def _invariant_check(name: str, invs: dict[str, tuple[str, str]], conn: Callable[[], Any]) -> Callable[[], CheckResult]:
    if name == "projector_consistency":
        return lambda: invariants.projector_consistency(conn(), invs)
    return lambda: invariants.domain_invariants(conn(), invs, name=name)


def _rto(ci: CheckInputs) -> CheckResult:
    """A recovery time only counts when the restore recovered something: a failed step means the
    objective was not met, however fast it failed."""
    failed = [s for s in ci.restore_steps if s.status in ("failed", "errored")]
    if failed:
        return CheckResult.failed("rto", f"the restore did not complete: step {failed[0].name!r} {failed[0].status}, "
                                  "so the recovery time objective was not met", expected=ci.rto_s, observed=None,
                                  evidence={"failed_steps": [s.name for s in failed]})
    if ci.restore_s is None:
        return CheckResult.errored("rto", "no restore step ran, so no recovery time was measured")
    return objectives.rto(ci.restore_s, ci.rto_s)


def _close(box: dict[str, Any]) -> CheckResult:
    c = box.pop("c", None)
    if c is not None:
        c.close()
    return CheckResult.passed("__close__", "")


def _restore_status(steps: list[StepRecord], allowlist: Sequence[str]) -> CheckResult:
    if not steps:
        return CheckResult.failed("restore_exit_status", "no pg_restore step ran in the restore phase")
    worst = next((s for s in steps if s.exit_code != 0), steps[-1])
    r = backup.restore_exit_status(worst.exit_code if worst.exit_code is not None else -1, worst.stderr_tail, allowlist)
    ev = {**r.evidence, "step": worst.name, "command": worst.command}
    return CheckResult(r.name, r.status, r.message, r.expected, r.observed, ev, r.duration_s)


def _pairing(ci: CheckInputs, conn: Any) -> CheckResult:
    if ci.backup is None:
        return CheckResult.errored("snapshot_pairing", "no database backup was recorded, so there is no pair to check")
    if ci.snapshot is None:
        return CheckResult.skipped("snapshot_pairing", "no storage snapshot was recorded: declare [snapshot] bucket/prefix "
                                   "in the binding so the drill can check the database/storage pair")
    diff = storage.reference_diff(conn, ci.s3_client, ci.bucket, ci.prefix, ci.system.references)
    return storage.snapshot_pairing(ci.backup.started_at, ci.snapshot.listed_at, ci.system.snapshot_tolerance_s,
                                    reference=diff)


def run_checks(ci: CheckInputs, emit: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    results: list[CheckResult] = []
    for name, fn in plan(ci):
        r = _guard(name, fn)
        if name == "__close__":
            continue
        results.append(r)
        if emit is not None:
            emit(r)
    return results
