"""The check registry: every check the drills run, declared once, in the order they run.

Each :class:`CheckSpec` says the check's stable name (reports, JUnit, history and users' alerting key on
it), when it applies to a drill (a check that does not apply is left out of the plan, as before; a
check that applies but has nothing to judge returns ``skipped`` with the reason), how it runs over the
one :class:`~restore_drill.checks.context.CheckContext` (which owns the lazily opened connection), and
whether it is a *data-fidelity* check (``rto`` is achieved only when every one of those passed).

``CHECK_NAMES`` (``checks/result.py``), the README's check list and the JSON schema are tested against
:data:`REGISTRY` (``tests/test_check_registry.py``). To add a check: write ``checks/<name>.py`` (a plain
function returning a frozen CheckResult) and add one ``CheckSpec`` line to ``REGISTRY`` below.

Order matters: read-only checks first, then those that write (migration re-apply, write smoke), then
the objectives, which read the earlier results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from restore_drill.foundation import table_digest, utcnow
from restore_drill.objectstore import ObjectStore

from . import (
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
from ._util import sample
from .context import CheckContext
from .result import CheckResult, Status
from .retention import retention as retention_check

Runner = Callable[[CheckContext], CheckResult]


def _always(ctx: CheckContext) -> bool:
    return True


@dataclass(frozen=True)
class CheckSpec:
    """One check: ``name`` (stable identifier), ``run`` (context -> CheckResult; may raise, the plan
    records an exception as errored), ``applies`` (context -> bool; False leaves it out of this drill's
    plan), ``fidelity`` (True: the restore is not a restore unless it passed; read by ``rto``),
    ``summary`` (one line for people: the README's list and ``restore-drill list``)."""

    name: str
    run: Runner
    summary: str
    applies: Callable[[CheckContext], bool] = _always
    fidelity: bool = False
    examines_rows: bool = False  # judges restored rows: a pass over zero rows, where the manifest has some, fails
    # Failing items of a result as {item: badness}: the check can also judge the source at backup time, and
    # the restore is blamed only for items worse than they already were there (``source_findings``).
    items: Callable[[CheckResult], dict[str, float]] | None = None

    def instances(self, ctx: CheckContext) -> Iterator[tuple[str, Callable[[], CheckResult]]]:
        """(result name, thunk) pairs this check contributes to ``ctx``'s plan: one, or none when it does
        not apply or the definition lists it under ``[checks] skip``."""
        if self.name not in ctx.system.skip_checks and self.applies(ctx):
            yield self.name, self.guarded(ctx, self.name, lambda: self.run(ctx))

    def guarded(self, ctx: CheckContext, name: str, fn: Callable[[], CheckResult]) -> Callable[[], CheckResult]:
        """``fn`` with the no-vacuous-pass rule: a check that examines rows and passed although no table
        under test holds a row, while the manifest recorded some, fails instead."""
        if not self.examines_rows and self.items is None:
            return fn

        def run() -> CheckResult:
            r = fn()
            if r.status is Status.FAILED and self.items is not None and ctx.manifest is not None:
                r = _against_source(r, self.items, (ctx.manifest.source_findings or {}).get(name))
            if r.status is not Status.PASSED or not self.examines_rows:
                return r
            expected = ctx.manifest_rows()
            if expected and ctx.restored_tables_with_rows() == 0:
                return CheckResult.failed(name, f"examined 0 rows: no table under test holds a row after the "
                                          f"restore, while the manifest recorded {expected}; nothing was restored "
                                          f"to judge (it would have said: {r.message})", expected=expected,
                                          observed=0, evidence={**r.evidence, "vacuous": True}, duration_s=r.duration_s)
            return r
        return run


@dataclass(frozen=True)
class InvariantSpec(CheckSpec):
    """A check fed by the definition's ``[[invariants]]`` whose ``check`` names it (one result per
    distinct name; ``domain_invariants`` also reports groups under names no other spec claims)."""

    def instances(self, ctx: CheckContext) -> Iterator[tuple[str, Callable[[], CheckResult]]]:
        claimed = {s.name for s in REGISTRY if isinstance(s, InvariantSpec)}
        groups: dict[str, dict[str, tuple[str, str]]] = {}
        for inv in ctx.system.invariants:
            groups.setdefault(inv.check, {})[inv.name] = (inv.sql, inv.message)
        for name, invs in groups.items():
            mine = name == self.name or (self.name == "domain_invariants" and name not in claimed)
            if mine and name not in ctx.system.skip_checks:
                yield name, self.guarded(ctx, name, _reused_or(ctx, name, _invariant_runner(self.name, name, invs, ctx)))


REUSE_PROVES = ("the restored tables are byte-identical to the source's by digest, so the invariant's result "
                "is the source's")


def _reused_or(ctx: CheckContext, name: str, evaluate: Callable[[], CheckResult]) -> Callable[[], CheckResult]:
    """``evaluate``, unless :func:`reused_result` can give its result from the manifest without reading a row."""
    def run() -> CheckResult:
        return reused_result(name, ctx) or evaluate()
    return run


def reused_result(name: str, ctx: CheckContext) -> CheckResult | None:
    """The invariant check ``name``'s result on the restore, taken from its result on the source at backup
    time (``Manifest.source_results``), or None when that is not proven and the check must be evaluated.

    Proven when (1) ``schema_fidelity`` passed in this plan (same tables, columns, types, constraints), and
    (2) ``table_checksums`` observed, for every table the invariant's SQL reads (as the source's planner
    resolved it), a digest equal to the one that table had when the invariant ran on the source. An SQL
    query is a function of the rows it reads and the schema it reads them through, so equal inputs give the
    same violating rows: the same pass, or the same failure with the same count. Any table's digest differing
    or unknown (not in this plan's checksums, tables unresolved, no source result) -> None."""
    m = ctx.manifest
    rec = (m.source_results or {}).get(name) if m is not None else None
    schema_r, sums = ctx.result("schema_fidelity"), ctx.result("table_checksums")
    if not rec or not rec.get("tables") or schema_r is None or schema_r.status is not Status.PASSED or sums is None:
        return None
    observed = sums.observed if isinstance(sums.observed, dict) else {}
    tables: dict[str, str] = rec["tables"]
    if any(observed.get(t) is None or observed[t] != d for t, d in tables.items()):
        return None
    src = rec["result"]
    ev = {**(src.get("evidence") or {}), "reused_from_source": {
        "proves": f"{REUSE_PROVES}: the same rows read through the same schema give the same violating rows",
        "tables": tables, "schema_fidelity": "passed", "source_checked_at": rec.get("checked_at", "")}}
    return CheckResult(name, Status(src["status"]), f"{REUSE_PROVES}: {src['message']} (reused: "
                       f"{len(tables)} table digest(s) equal the source's, schema equal; not evaluated again)",
                       src.get("expected"), src.get("observed"), ev, 0.0)


def _against_source(r: CheckResult, items: Callable[[CheckResult], dict[str, float]],
                    source: dict[str, Any] | None) -> CheckResult:
    """A failed restore result judged against the same check on the source at backup time: items no worse
    than they already were are findings about the source; the restore fails only for the rest."""
    if not source:
        return r
    before: dict[str, float] = source.get("items") or {}
    now = items(r)
    if not now:
        return r
    inherited = {k: v for k, v in now.items() if k in before and v <= before[k]}
    own = sorted(set(now) - set(inherited))
    finding = f"present in the source at backup time, not caused by the restore: {source.get('message', '')}"
    ev = {**r.evidence, "source_findings": {"items": sorted(inherited), "message": source.get("message", "")}}
    if own:
        return CheckResult(r.name, r.status, f"{r.message} (restore-caused: {sample(own)}; {len(inherited)} "
                           "item(s) were already so in the source)", r.expected, r.observed, ev, r.duration_s)
    return CheckResult.passed(r.name, f"the restore reproduced the source faithfully; source finding: {finding}",
                              expected=r.expected, observed=r.observed, evidence=ev, duration_s=r.duration_s)


def _sequence_items(r: CheckResult) -> dict[str, float]:
    out: dict[str, float] = {}
    for b in (r.evidence.get("behind") or {}).get("items", []):
        edge = b.get("column_max", b.get("column_min"))
        out[str(b["column"])] = abs(float(edge) - float(b["next_value"])) if edge is not None else 0.0
    for x in (r.evidence.get("without_sequence") or {}).get("items", []):
        out[str(x["column"])] = float("inf")  # a lost sequence is never inherited
    return out


def _relation_items(r: CheckResult) -> dict[str, float]:
    return {str(b["relation"]): float(b["orphans"]) if b.get("orphans") is not None else float("inf")
            for b in (r.evidence.get("broken") or {}).get("items", [])}


def _invariant_items(r: CheckResult) -> dict[str, float]:
    return {str(v["invariant"]): float(v["violations"]) if v.get("violations") is not None else float("inf")
            for v in (r.evidence.get("violated") or {}).get("items", [])}


def _missing_key_items(r: CheckResult) -> dict[str, float]:
    # One item for all missing keys, weighed by their count: the evidence lists only a sample of keys, so
    # comparing samples key by key could blame the restore for a key the source sample merely left out.
    missing = int((r.evidence.get("missing") or {}).get("count") or 0)
    out: dict[str, float] = {"referenced object keys missing from storage": float(missing)} if missing else {}
    out.update({str(c): float("inf") for c in r.evidence.get("lost_columns") or []})  # a lost column is never inherited
    return out


def source_findings(ctx: CheckContext) -> dict[str, Any]:
    """Run the checks that can judge the source (those with ``items``) over ``ctx`` (whose ``db`` is the
    source, right before the backup) and return the failures as ``Manifest.source_findings``:
    ``{check name: {"message": str, "items": {item: badness}}}``. Checks that raise are left out (the
    restore is then judged on its own). Closes ``ctx``'s connection."""
    out: dict[str, Any] = {}
    try:
        for spec in REGISTRY:
            if spec.items is None:
                continue
            for name, _ in spec.instances(ctx):
                try:
                    r = _raw_runner(spec, name, ctx)()
                except Exception:  # noqa: BLE001 - no finding is recorded; the restore check stands alone
                    continue
                if r.status is Status.FAILED:
                    out[name] = {"message": r.message, "items": spec.items(r)}
                if isinstance(spec, InvariantSpec) and ctx.manifest is not None:
                    record_source_result(ctx, name, r)
    finally:
        ctx.close()
    return out


def record_source_result(ctx: CheckContext, name: str, r: CheckResult) -> None:
    """Keep invariant check ``name``'s source result ``r`` (pass too) in ``ctx.manifest.source_results``
    with the digest, at that moment, of each table its queries read, for :func:`reused_result`. Nothing is
    kept when a query's tables cannot be resolved or a table is not as the manifest (taken right before)
    recorded it once the invariant has run (its digest then differs), so the restore then evaluates it."""
    assert ctx.manifest is not None
    if r.status not in (Status.PASSED, Status.FAILED):
        return
    try:
        read: set[str] = set()
        for inv in ctx.system.invariants:
            if inv.check == name:
                got = invariants.tables_read(ctx.conn(), inv.sql)
                if got is None:
                    return
                read.update(got)
        digests = {t: table_digest(ctx.conn(), t)[1] for t in sorted(read)}
    except Exception:  # noqa: BLE001 - nothing recorded; the restore evaluates the invariant itself
        return
    if not digests or any(ctx.manifest.tables.get(t) is None or ctx.manifest.tables[t].digest != d
                          for t, d in digests.items()):
        return  # a table outside the manifest, or changed since it was taken: the reuse could not be checked
    ctx.manifest.source_results[name] = {"result": r.to_dict(), "tables": digests, "checked_at": utcnow()}


def _raw_runner(spec: CheckSpec, name: str, ctx: CheckContext) -> Callable[[], CheckResult]:
    if isinstance(spec, InvariantSpec):
        groups: dict[str, tuple[str, str]] = {i.name: (i.sql, i.message) for i in ctx.system.invariants
                                              if i.check == name}
        return _invariant_runner(spec.name, name, groups, ctx)
    return lambda: spec.run(ctx)


def _invariant_runner(kind: str, name: str, invs: dict[str, tuple[str, str]],
                      ctx: CheckContext) -> Callable[[], CheckResult]:
    if kind == "projector_consistency":
        return lambda: invariants.projector_consistency(ctx.conn(), invs)
    return lambda: invariants.domain_invariants(ctx.conn(), invs, name=name)


# -- runners: how each check reads the context ---------------------------------------------------

def _no_manifest(name: str) -> CheckResult:
    return CheckResult.errored(name, "no manifest was taken at backup time (the seed or backup phase did not complete)")


def _backup_artifact(ctx: CheckContext) -> CheckResult:
    if ctx.backup is None:  # a file the binding cannot identify is not a backup the drill can vouch for
        return CheckResult.failed("backup_artifact", ctx.backup_note or "the backup phase produced no backup file")
    scope = ctx.scope_tables
    if scope is not None and ctx.system.exclude_data:  # [database] exclude_data: no data in the archive, on purpose
        scope = [t for t in scope if t not in ctx.system.exclude_data]
    return backup.backup_artifact(ctx.backup, ctx.client_bins.tool("pg_restore"), scope,
                                  partitioned=schema.partitioned_parents(ctx.manifest))


def _restore_exit_status(ctx: CheckContext) -> CheckResult:
    # pg_restore steps, or psql steps loading a plain-format dump (B, issue 14: checks/backup.py)
    return backup.restore_steps_status(ctx.restore_steps, ctx.system.restore_allowlist)


def _with_manifest(name: str, fn: Callable[[CheckContext], CheckResult]) -> Runner:
    return lambda ctx: fn(ctx) if ctx.manifest is not None else _no_manifest(name)


def _artifact_paths_exist(ctx: CheckContext) -> CheckResult:
    assert ctx.bucket is not None and ctx.s3_client is not None
    return storage.artifact_paths_exist(ctx.conn(), ctx.s3_client, ctx.bucket, ctx.prefix, ctx.system.references,
                                        manifest=ctx.manifest, keys=ctx.system.reference_keys)


def _pairing(ctx: CheckContext) -> CheckResult:
    if ctx.backup is None:
        return CheckResult.errored("snapshot_pairing", "no database backup was recorded, so there is no pair to check")
    if ctx.snapshot is None:
        return CheckResult.skipped("snapshot_pairing", "no storage snapshot was recorded: declare [snapshot] bucket/prefix "
                                   "in the binding so the drill can check the database/storage pair")
    assert ctx.bucket is not None and ctx.s3_client is not None
    diff = storage.reference_diff(ctx.conn(), ctx.s3_client, ctx.bucket, ctx.prefix, ctx.system.references,
                                  keys=ctx.system.reference_keys)
    snap = ctx.snapshot
    count: int | None = len(snap.objects) if snap.objects else None
    if count is None and not isinstance(ctx.s3_client, ObjectStore):
        # The record holds no listing (a dated prefix the restore chose, or verify-backup's): list it now, so an
        # empty snapshot is seen as empty rather than as unknown.
        count = 0 if next(storage.iter_listing(ctx.s3_client, snap.bucket, snap.prefix), None) is None else None
    return storage.snapshot_pairing(ctx.backup.started_at, snap.listed_at, ctx.system.snapshot_tolerance_s,
                                    reference=diff, snapshot_where=f"s3://{snap.bucket}/{snap.prefix.strip('/')}",
                                    snapshot_objects=count)


def _write_smoke(ctx: CheckContext) -> CheckResult:
    assert ctx.smoke is not None
    flow, cleanup = ctx.smoke
    return smoke.write_smoke(flow, cleanup)


def fidelity_names() -> frozenset[str]:
    """Names of the data-fidelity checks: the restore restored only when each that ran passed."""
    return frozenset(s.name for s in REGISTRY if s.fidelity)


def _rto(ctx: CheckContext) -> CheckResult:
    """A recovery time only counts when the restore recovered something: a failed step, or any
    data-fidelity check that did not pass, means the objective was not achieved, however fast."""
    failed = [s for s in ctx.restore_steps if s.status in ("failed", "errored")]
    if failed:
        return CheckResult.failed("rto", f"not achieved: the restore did not complete (step {failed[0].name!r} "
                                  f"{failed[0].status}), so the recovery time objective was not met",
                                  expected=ctx.rto_s, observed=None,
                                  evidence={"failed_steps": [s.name for s in failed], "achieved": False,
                                            "restored": False})
    if ctx.restore_s is None:
        return CheckResult.errored("rto", "not measured: no restore step ran, so no recovery time was measured",
                                   evidence={"achieved": False})
    names = fidelity_names() | (PHYSICAL_FIDELITY if getattr(ctx, "physical", False) else frozenset())
    fidelity = [r for r in ctx.results if r.name in names]
    return objectives.rto(ctx.restore_s, ctx.rto_s, fidelity=fidelity)


def _rpo(ctx: CheckContext) -> CheckResult:
    if ctx.backup is None:
        return CheckResult.errored("rpo", "not measured: no backup was made, so no data-loss window can be measured")
    restored, note = ctx.newest_write_restored, ctx.ledger_note
    if restored is None and ctx.ledger_manifest_mark is not None:
        # The ledger did not come back (e.g. a table-scoped restore), but when every data-fidelity check
        # passed the restored tables equal the manifest, which was taken right after this beat.
        # Only the checks that compare content with the manifest: write_smoke proves writes work, not that
        # the restored tables equal the manifest.
        fid = [r for r in ctx.results if r.name in fidelity_names() - {"write_smoke"}]
        if fid and all(r.status in (Status.PASSED, Status.SKIPPED) for r in fid) and any(
                r.status is Status.PASSED for r in fid):
            restored = ctx.ledger_manifest_mark
            note = (f"{note}; the restored tables equal the manifest taken right after the ledger beat of "
                    f"{restored} ({', '.join(r.name for r in fid if r.status is Status.PASSED)} passed)")
    return objectives.rpo(ctx.newest_write_before, restored, ctx.rpo_s, note=note)


def _retention(ctx: CheckContext) -> CheckResult:
    declared = "retention" in ctx.system.raw
    if ctx.retention is None:
        policy = (f"the {ctx.system.retention_days}-day retention policy the definition declares" if declared
                  else "a retention policy (none is declared in the system definition: [retention] days_required)")
        return CheckResult.skipped("retention", f"no backup history given: pass --backup-history DIR or "
                                   f"s3://bucket/prefix to check {policy}")
    return retention_check(ctx.retention, ctx.system.retention_days)


def _logical(ctx: CheckContext) -> bool:
    """Restored from a pg_dump archive. A physical restore (base backup + WAL) has no archive for pg_restore to
    read, no pg_restore step, restores the whole cluster (no table scope) and pairs its storage by the recovery
    target's instant, which storage_at_target (PHYSICAL_ONLY) judges instead of snapshot_pairing."""
    return not getattr(ctx, "physical", False)  # duck-typed contexts (tests) are logical


def _storage(ctx: CheckContext) -> bool:
    return ctx.system.has_storage and ctx.s3_client is not None and bool(ctx.bucket)


REGISTRY: tuple[CheckSpec, ...] = (
    CheckSpec("backup_artifact", _backup_artifact, "the backup file exists, is complete and readable by pg_restore",
              applies=_logical),
    CheckSpec("restore_exit_status", _restore_exit_status, "pg_restore exited 0 (or only with allow-listed errors)",
              applies=_logical, examines_rows=True),  # exit 0 with nothing restored (a --table matching nothing) is no pass
    CheckSpec("migration_applied", lambda c: migration.migration_applied(c.conn(), c.declared_tables, c.manifest),
              "the schema migration is present in the restore",
              applies=lambda c: c.migration_apply is not None and bool(c.declared_tables)),
    CheckSpec("row_counts", _with_manifest("row_counts", lambda c: data.row_counts(c.conn(), c.manifest, c.scope_tables)),  # type: ignore[arg-type]
              "per table, the restored row count equals the manifest", fidelity=True),
    CheckSpec("table_checksums",
              _with_manifest("table_checksums", lambda c: data.table_checksums(c.conn(), c.manifest, c.scope_tables)),  # type: ignore[arg-type]
              "per table, the restored content digest equals the manifest", fidelity=True),
    CheckSpec("schema_fidelity",
              _with_manifest("schema_fidelity", lambda c: schema.schema_fidelity(c.conn(), c.manifest, c.scope_tables,  # type: ignore[arg-type]
                                                                               privileges=c.system.privileges)),
              "the restored catalog (columns, indexes, constraints, triggers) equals the manifest", fidelity=True),
    CheckSpec("sequence_health", lambda c: sequences.sequence_health(c.conn(), c.scope_tables, manifest=c.manifest,
                                                                     schemas=c.system.schemas),
              "every sequence-fed column's next value is beyond its data", examines_rows=True, items=_sequence_items),
    CheckSpec("referential_integrity", lambda c: references.referential_integrity(c.conn(), c.manifest,
                                                                                  tables=c.scope_tables),
              "no orphan rows across foreign keys", examines_rows=True, items=_relation_items),
    CheckSpec("blast_radius", _with_manifest("blast_radius", lambda c: scope.blast_radius(c.conn(), c.manifest, c.declared_tables)),  # type: ignore[arg-type]
              "a table-scoped restore left every other table untouched",
              applies=lambda c: c.system.table_scoped and bool(c.declared_tables) and _logical(c)),
    InvariantSpec("projector_consistency", lambda c: CheckResult.skipped("projector_consistency", "no invariants"),
                  "the projector's read models agree with its event log (definition's invariants)",
                  examines_rows=True, items=_invariant_items),
    InvariantSpec("domain_invariants", lambda c: CheckResult.skipped("domain_invariants", "no invariants"),
                  "the definition's domain invariants hold (SQL returning violating rows)", examines_rows=True,
                  items=_invariant_items),
    CheckSpec("physical_integrity", lambda c: physical.physical_integrity(c.db, c.client_bins),
              "heap and B-tree indexes are sound (pg_amcheck where available)"),
    CheckSpec("artifact_paths_exist", _artifact_paths_exist, "every object key referenced by a row exists in storage",
              applies=_storage, fidelity=True, items=_missing_key_items),
    CheckSpec("object_integrity", _with_manifest("object_integrity", lambda c: storage.object_integrity(
        c.s3_client, c.bucket, c.prefix, c.manifest)),  # type: ignore[arg-type]
        "the restored prefix equals the manifest (sha256, size, content type, metadata; no orphans)",
        applies=_storage, fidelity=True),
    CheckSpec("snapshot_pairing", _pairing, "the database backup and the storage snapshot restored together match",
              applies=lambda c: _storage(c) and _logical(c)),
    CheckSpec("api_probe", lambda c: api.api_probe(c.api_base_url, list(c.sample_ids)),  # type: ignore[arg-type]
              "the application's read endpoints answer over the restore", applies=lambda c: c.api_base_url is not None),
    CheckSpec("migration_idempotent", lambda c: migration.migration_idempotent(c.conn(), c.migration_apply,  # type: ignore[arg-type]
                                                                               c.scope_tables),
              "re-applying the migration to the restore is a no-op", applies=lambda c: c.migration_apply is not None),
    # Data fidelity for RTO: a restored database that cannot take the application's next insert (a sequence
    # behind its data, a missing grant) has not recovered the service, however equal its rows are.
    CheckSpec("write_smoke", _write_smoke, "the restored schema accepts the application's writes (rolled back)",
              applies=lambda c: c.smoke is not None, fidelity=True),
    CheckSpec("rto", _rto, "the restore restored (every data-fidelity check passed) within the RTO target"),
    CheckSpec("rpo", _rpo, "the data-loss window measured from restored data (write ledger) is within the RPO target"),
    CheckSpec("retention", _retention, "the backup history keeps the retention the definition declares"),
)

# Checks verify-backup runs that drills do not (they compare a restore with the archive itself); they
# live in restore_drill/verify and are named here so every name has one owner.
VERIFY_ONLY: tuple[tuple[str, str], ...] = (
    ("restored_objects", "every object the archive's table of contents lists exists after the restore"),
    ("archive_coverage", "what the archive left out: tables without data (and why), large objects not held"),
)


# Checks only physical (point-in-time recovery) drills run, over what restore_drill/pitr collected
# (restore_drill.pitr.drill.pitr_checks runs them through run_plan, then this REGISTRY's plan over the restored
# database with CheckContext.physical).
PHYSICAL_ONLY: tuple[tuple[str, str], ...] = (
    ("recovery_target", "recovery reached its target, left recovery and runs on a new timeline (server log)"),
    ("pitr_exactness", "every write-ledger transaction committed at or before the target is restored, none after"),
    ("data_loss_window", "disaster instant minus the newest ledger transaction restored, and rows lost, vs the RPO"),
    ("wal_continuity", "every WAL segment from the base backup's start to the target is archived and readable"),
    ("recoverable_window", "earliest and latest time the base backup and archive can restore to"),
    ("backup_manifest", "pg_verifybackup of the base backup against its backup_manifest"),
    ("storage_at_target", "object storage restored to the versions current at the database's recovery target"),
    ("upgrade_check", "pg_upgrade --check of the restored base backup into the next newer major"),
    ("backup_chain", "pg_combinebackup accepts the incremental backup chain (no missing link)"),
)


# The physical checks that are data fidelity: with them failing, a physical restore did not restore (rto).
PHYSICAL_FIDELITY: frozenset[str] = frozenset({"recovery_target", "pitr_exactness"})


def names() -> tuple[str, ...]:
    """Every registered check name, drill checks in plan order, then verify-backup-only and physical-only ones."""
    return tuple(s.name for s in REGISTRY) + tuple(n for n, _ in VERIFY_ONLY) + tuple(n for n, _ in PHYSICAL_ONLY)


def by_name(name: str) -> CheckSpec:
    """The spec called ``name``; KeyError when none is registered."""
    for s in REGISTRY:
        if s.name == name:
            return s
    raise KeyError(name)


def plan(ctx: CheckContext) -> list[tuple[str, Callable[[], CheckResult]]]:
    """The (name, thunk) pairs a drill runs over ``ctx``, in registry order."""
    return [inst for spec in REGISTRY for inst in spec.instances(ctx)]


def run_isolated(name: str, fn: Callable[[], CheckResult]) -> CheckResult:
    """``fn()``, or an errored result naming the exception when it raises: a check that blows up is
    errored evidence, never a pass, and never stops the checks after it."""
    import time

    t0 = time.monotonic()
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - any failure of a check is recorded, never propagated
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return CheckResult.errored(name, f"{type(e).__name__}: {first}", duration_s=round(time.monotonic() - t0, 3))


def run_plan(plan: list[tuple[str, Callable[[], CheckResult]]]) -> list[CheckResult]:
    """Run a (registered name, thunk) plan in order, each isolated (``run_isolated``). Used by
    verify-backup; raises KeyError for a name the registry does not hold, so no check runs unregistered."""
    known = set(names())
    for name, _ in plan:
        if name not in known:
            raise KeyError(f"check {name!r} is not registered in checks/registry.py")
    return [run_isolated(name, fn) for name, fn in plan]

