"""A physical (point-in-time recovery) drill, end to end, run by the engine's Drill for specs with ``physical``.

The drill's own server archives WAL with the procedure's archive_command; the procedure takes a base
backup and ships it to the drill's S3; a write ledger commits small transactions the whole time; the
``bad-statement`` disaster runs an errant statement at a recorded instant; the procedure restores the
base backup into a fresh data directory with recovery settings for a target just before it; the drill
starts that server (as the unprivileged server user) and watches recovery end; then the PITR checks
judge the result against the ledger, the archive and the server's log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.resources
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from restore_drill import runbook
from restore_drill.checks import base_backup as base_backup_checks
from restore_drill.checks import recovery as recovery_checks
from restore_drill.checks import wal_archive as wal_checks
from restore_drill.checks.backup_chain import backup_chain
from restore_drill.checks.result import CheckResult
from restore_drill.errors import BadInput, HarnessFault
from restore_drill.fixtures import binaries
from restore_drill.fixtures.environment import bind
from restore_drill.objectstore import list_objects
from restore_drill.records import BackupRecord
from restore_drill.reports.model import PhaseRecord, RestoreTarget
from restore_drill.seeds.manifest import take_manifest, utcnow

from . import ledger as ledger_mod
from . import recovery, requirements, wal
from .recovery import RecoveryOutcome, RecoveryTarget
from .server import PitrHost

if TYPE_CHECKING:
    from restore_drill.checks.context import CheckContext
    from restore_drill.engine import Drill
    from restore_drill.reports.model import DrillReport

START_HOOK = "pitr-start-restored"
# The largest --recovery-target-offset a drill honours (seconds either side of the disaster). The drill makes
# room for a positive offset by letting the write ledger run that long after the base backup's end before the
# errant statement (so the target falls after the backup's consistency point), which makes the drill that
# much longer: five minutes keeps an operator's "a few minutes before" while refusing a typo (1e9 s = 1995).
MAX_TARGET_OFFSET_S = 300.0
# Extra room after the backup's end (its history file's STOP TIME is to the whole second, so one second more).
OFFSET_MARGIN_S = 1.0


def check_offset(offset_ms: float) -> None:
    """BadInput (one line naming the fix) when a time target's offset (ms before the disaster) cannot be
    honoured: not finite, or beyond MAX_TARGET_OFFSET_S either side."""
    import math

    if not math.isfinite(offset_ms) or abs(offset_ms) > MAX_TARGET_OFFSET_S * 1000:
        raise BadInput(f"--recovery-target-offset {offset_ms / 1000:g}: the drill can place a time target at most "
                       f"{MAX_TARGET_OFFSET_S:g} s before (or after) the disaster; pass a value between "
                       f"-{MAX_TARGET_OFFSET_S:g} and {MAX_TARGET_OFFSET_S:g}")


@dataclass
class PitrOptions:
    """How a physical drill runs. ``target_kind``: time | xid | lsn | name | immediate.
    ``target_offset_ms``: a time target is the disaster's instant minus this (an operator picks a time
    "just before"; 0 = the instant itself; negative = after it). ``target``: a callable choosing the
    target from the evidence instead (fault tests). ``action``: recovery_target_action.
    ``statement``: delete | update | drop. ``ledger_before`` / ``ledger_after``: ledger transactions
    between the base backup and the disaster, and after it. ``before_restore``: called with the run at the
    end of the disaster, before the restore phase (fault tests remove a backup from the bucket there).
    ``before_start``: called with the run just before the restored server starts (fault tests damage the
    archive there). ``after_restore``: called with
    the run once the restored server is promoted, before the checks (fault tests damage the restored database
    there). ``upgrade_check``: after the other checks, ``pg_upgrade --check`` of the restored cluster into
    the next newer major found."""

    target_kind: str = "time"
    target_offset_ms: float = 100.0
    target: Callable[[PitrRun], RecoveryTarget] | None = None
    action: str = "promote"
    statement: str = "delete"
    ledger_interval_s: float = 0.005
    ledger_before: int = 40
    ledger_after: int = 20
    recovery_timeout_s: float = 180.0
    before_start: Callable[[PitrRun], Any] | None = None
    before_restore: Callable[[PitrRun], Any] | None = None
    after_restore: Callable[[PitrRun], Any] | None = None
    upgrade_check: bool = True

    def __post_init__(self) -> None:
        if self.target_kind not in recovery.TARGET_KINDS:
            raise BadInput(f"recovery target kind {self.target_kind!r}; use one of {', '.join(recovery.TARGET_KINDS)}")
        if self.action not in recovery.ACTIONS:
            raise BadInput(f"recovery_target_action {self.action!r}; use one of {', '.join(recovery.ACTIONS)}")
        check_offset(self.target_offset_ms)


@dataclass
class PitrRun:
    """What one physical drill learned as it ran (the checks' inputs)."""

    host: PitrHost
    dbname: str
    wal_bucket: str
    wal_prefix: str = ""
    base_prefix: str = ""
    s3_client: Any = None
    writer: ledger_mod.LedgerWriter | None = None
    ledger: list[ledger_mod.LedgerEntry] = field(default_factory=list)
    disaster: dict[str, Any] = field(default_factory=dict)  # the bad-statement record's details
    target: RecoveryTarget | None = None
    boundary: datetime | None = None  # the commit time the target stands for
    outcome: RecoveryOutcome | None = None
    present: set[int] | None = None  # ledger seqs the restored server holds (read by the checks)
    storage: tuple[Any, str, str] | None = None  # (S3 client, live bucket, prefix) for systems with storage
    storage_changed: list[str] = field(default_factory=list)  # keys the disaster overwrote or deleted
    storage_target: datetime | None = None  # the instant object storage is restored to
    backup_manifest: dict[str, Any] | None = None
    barman_info: dict[str, str] | None = None  # a Barman cloud base backup's backup.info (its WAL range)
    pgbackrest_manifest: dict[str, Any] | None = None  # a pgBackRest backup's backup.manifest (its WAL range)
    pgbackrest: bool = False  # the pgBackRest variant (its backup is read from its repository in S3)
    chain: list[Path] | None = None  # incremental variant: the links the restore combined (CHAIN_DIR), oldest first
    chain_recorded: list[tuple[str, str]] = field(default_factory=list)  # (link, start LSN) the backup phase wrote
    expected: Any = None  # seeds.manifest.Manifest of the system's tables right before the errant statement
    histories: list[wal.BackupHistory] = field(default_factory=list)  # base backups' history files, oldest first


def procedure_files(system_name: str, variant: str = "") -> tuple[Path, Path]:
    """(procedure, binding) of the built-in PITR procedure for ``system_name``: ``<system>-pitr.md`` +
    ``<system>-pitr-corrected.toml``, or for a ``variant`` (DrillSpec.variant, e.g. "barman")
    ``<system>-pitr-<variant>.md`` + ``<system>-pitr-<variant>.toml``; BadInput when none."""
    root = Path(str(importlib.resources.files("restore_drill.drills")))
    stem = f"{system_name}-pitr-{variant}" if variant else f"{system_name}-pitr"
    rb, bd = root / "procedures" / f"{stem}.md", root / "bindings" / f"{stem if variant else stem + '-corrected'}.toml"
    if not rb.is_file() or not bd.is_file():
        raise BadInput(f"system {system_name!r} has no point-in-time recovery procedure ({rb.name} + {bd.name} in "
                       "drills/procedures and drills/bindings): point-in-time recovery drills exist for the built-in "
                       "systems; write those two files to add one")
    return rb, bd


def options_from_config(cfg: Any) -> PitrOptions:
    """PitrOptions from a DrillConfig's recovery target settings (``restore-drill run --recovery-target KIND
    --recovery-target-offset S``, RESTORE_DRILL_RECOVERY_TARGET*, pyproject); unset ones keep PitrOptions'
    defaults (a time target 100 ms before the disaster). DrillConfig has already validated the values."""
    opts = PitrOptions()
    if cfg.recovery_target is not None:
        opts.target_kind = cfg.recovery_target
    if cfg.recovery_target_offset_s is not None:
        opts.target_offset_ms = cfg.recovery_target_offset_s * 1000.0
        check_offset(opts.target_offset_ms)
    return opts


def _target(opts: PitrOptions, run: PitrRun) -> tuple[RecoveryTarget, datetime | None]:
    """The recovery target for the disaster just recorded, and the commit time it stands for."""
    d = run.disaster
    began = datetime.fromisoformat(d["began_at"])
    if opts.target is not None:
        t = opts.target(run)
        return t, (datetime.fromisoformat(t.value) if t.kind == "time" else began)
    kind = opts.target_kind
    if kind == "time":
        at = began - timedelta(milliseconds=opts.target_offset_ms)
        return RecoveryTarget("time", at.isoformat(), True, opts.action), at
    # The ledger was held while the boundary was recorded and the statement ran, so for these targets
    # exactly the ledger transactions committed before ``began`` precede the boundary in the WAL.
    if kind == "xid":
        return RecoveryTarget("xid", str(d["xid"]), False, opts.action), began
    if kind == "lsn":
        return RecoveryTarget("lsn", d["lsn_before"], False, opts.action), began
    if kind == "name":
        return RecoveryTarget("name", d["restore_point"]["name"], True, opts.action), began
    return RecoveryTarget("immediate", "", True, opts.action), None


def run_physical(drill: Drill, rep: DrillReport, opts: PitrOptions | None = None) -> None:
    """Run ``drill`` (its spec has ``physical``) as a point-in-time recovery drill, filling ``rep``.

    Raises what the engine's Drill.run turns into an errored report: BadInput (bad procedure or
    options), InfraUnavailable (a server or the S3 endpoint could not be started), HarnessFault (the
    ledger or a hook failed). The servers and their folder are removed on every path.
    """
    sysdef, cfg = drill.system, drill.config
    opts = opts or getattr(drill, "pitr_options", None) or options_from_config(cfg)  # tests set drill.pitr_options
    # The same refusals the pre-flight and --dry-run make (pitr.requirements), for library callers too.
    bins = binaries.select(requirements.check(drill.spec, cfg))
    site = None
    host: PitrHost | None = None
    try:
        with drill._phase("infra"):
            s3 = drill.infra.s3
            backup_bucket = drill._bucket(f"{sysdef.name}-pitr")
            drill.backup_bucket = backup_bucket
            if sysdef.has_storage:
                drill.bucket = drill._bucket(sysdef.name)
            drill.redact.add(backup_bucket.endpoint.secret_key, backup_bucket.endpoint.access_key)
            if drill.workdir.exists():
                shutil.rmtree(drill.workdir)
            drill.workdir.mkdir(parents=True)
            host = PitrHost(bins, s3.endpoint, restore_dir=(drill.workdir / "pgdata-restore").resolve(),
                            tmp_root=drill.infra.tmp_root)
            drill.redact.add(host.password)
            primary = host.start_primary()
            dbname = sysdef.name.replace("-", "_")
            with psycopg.connect(primary.database().url, autocommit=True) as c:
                c.execute(f'CREATE DATABASE "{dbname}"')
            db = primary.database(dbname)
            live = drill.bucket or backup_bucket
            extra = {"RESTORE_PGDATA": str(host.restore_dir)}
            if drill.spec.variant == "pgbackrest":  # its folder shared with the server, TLS before moto
                from . import pgbackrest

                site = pgbackrest.start_site(host, s3.endpoint)
                extra.update(site.variables())
            env = bind(db=db, client_bins=bins, workdir=drill.workdir, s3=s3.endpoint, bucket=live.name,
                       backup_bucket=backup_bucket.name, prefix=sysdef.storage_prefix or "data",
                       extra=extra,
                       database_url_variables=sysdef.database_url_variables)
            rep.target = RestoreTarget(dbname, live.name, sysdef.storage_prefix or "")
        run = PitrRun(host, dbname, backup_bucket.name, s3_client=s3.endpoint.client())
        drill.pitr_run = run  # type: ignore[attr-defined]  # tests and the bench read it
        _run(drill, rep, opts, run, env, shared=(site.folder,) if site is not None else ())
    finally:
        if host is not None:
            w = drill.pitr_run.writer if hasattr(drill, "pitr_run") else None  # type: ignore[attr-defined]
            if w is not None:
                with contextlib.suppress(Exception):
                    w.stop()
            host.close()
            # The downloaded copy of the base backup is the restore's scratch; the base backup itself stays.
            shutil.rmtree(drill.workdir / "backups" / "download", ignore_errors=True)
        if site is not None:
            # After the servers: a stopping primary's archiver still pushes its last segments through the front
            # (closed first, archive-push hung on it and the archiver, its own session, outlived the postmaster).
            site.close()


def _run(drill: Drill, rep: DrillReport, opts: PitrOptions, run: PitrRun, env: Any,
         shared: tuple[Path, ...] = ()) -> None:
    sysdef, cfg = drill.system, drill.config
    default = drill.runbook_path in {p for p in (sysdef.corrected, sysdef.runbook) if p is not None}
    rb, bd = procedure_files(sysdef.name, drill.spec.variant) if default else (drill.runbook_path, drill.binding_path)
    rep.runbook = str(rb)
    from restore_drill.engine import load_procedure

    book, bnd = load_procedure(rb, bd)
    run.wal_prefix = bnd.variables.get("WAL_PREFIX", "")
    run.base_prefix = bnd.variables.get("BASE_PREFIX", "")
    if not run.wal_prefix or not run.base_prefix:
        raise BadInput(f"binding {bd}: a physical drill needs WAL_PREFIX and BASE_PREFIX under [variables]")
    primary = run.host.primary
    assert primary is not None
    db = primary.database(run.dbname)

    def seed(ctx: runbook.HookContext) -> runbook.HookOutcome:
        from restore_drill.seeds.hooks import hooks_for

        t0 = time.monotonic()
        client = drill.bucket.endpoint.client() if drill.bucket else None
        with db.connect(autocommit=True) as conn:
            hooks_for(sysdef).load(conn, client, drill.bucket.name if drill.bucket else None, sysdef.storage_prefix,
                                   seed=cfg.seed, scale=cfg.scale)
            drill.state.sample_ids = hooks_for(sysdef).sample_ids(conn, 3, cfg.seed)  # api_probe, when an API is bound
            drill.state.manifest = take_manifest(conn, system=sysdef.name, seed=cfg.seed, scale=cfg.scale,
                                                 tables=list(sysdef.tables or ()) or None, schemas=sysdef.schemas,
                                                 s3_client=client, bucket=drill.bucket.name if drill.bucket else None,
                                                 prefix=sysdef.storage_prefix if drill.bucket else None)
        if drill.bucket is not None:
            run.storage = (drill.bucket.endpoint.client(), drill.bucket.name, sysdef.storage_prefix or "")
            # S3 times object versions to the whole second: let the seed's last version's second end before the
            # ledger (and so every instant a target can reach) starts, so no reachable instant shares a second
            # with a seeded version (an immediate target stands moments after the backup, itself just after this).
            time.sleep(max(0.0, time.time() // 1 + 1.05 - time.time()))
        drill.state.manifest.save(drill.run_dir / f"{drill.spec.name}.manifest.json")
        run.writer = ledger_mod.LedgerWriter(db, opts.ledger_interval_s)
        run.writer.start()
        rows = sum(t.row_count for t in drill.state.manifest.tables.values())
        return runbook.HookOutcome(summary=f"seeded {sysdef.name} (seed {cfg.seed}, scale {cfg.scale}): {rows} rows in "
                                           f"{time.monotonic() - t0:.2f}s; manifest taken; write ledger started "
                                           f"({ledger_mod.TABLE}, one transaction every {opts.ledger_interval_s:g}s)")

    def disaster(ctx: runbook.HookContext) -> runbook.HookOutcome:
        from restore_drill.disasters.bad_statement import run_statement
        from restore_drill.disasters.interface import DisasterContext

        w = run.writer
        if w is None:
            raise HarnessFault("the write ledger was never started (the seed hook did not run)")
        w.wait_for(opts.ledger_before)
        run.histories = wal.local_backup_histories(primary.data / "pg_wal")
        if opts.target is None and opts.target_kind == "time" and opts.target_offset_ms > 0:
            _leave_room(run, opts.target_offset_ms / 1000)  # the ledger writes on meanwhile
        run.expected = _expected_state(db, drill.state.manifest, sysdef)
        tables = list(sysdef.tables or ()) or sorted(drill.state.manifest.tables if drill.state.manifest else ())
        dctx = DisasterContext(db=db, tables=tables, seed=cfg.seed, allow_destructive=cfg.allow_destructive)
        # The ledger is held only around the recorded instant and the statement (see LedgerWriter.pause).
        rec = run_statement(dctx, opts.statement, hold=w.pause())
        w.wait_for(opts.ledger_after)
        w.stop()
        with db.connect(autocommit=True) as conn:
            run.ledger = ledger_mod.read_ledger(conn)
        run.disaster = dict(rec.details)
        run.target, run.boundary = _target(opts, run)
        drill.state.disasters.append(rec)
        drill.state.last_write_at = run.ledger[-1].committed_at.isoformat() if run.ledger else None
        variables = run.target.variables()
        storage = ""
        if run.storage is not None:
            run.storage_target = db_instant(run) or datetime.fromisoformat(run.disaster["began_at"])
            variables["STORAGE_TARGET_TIME"] = run.storage_target.isoformat()
            run.storage_changed = _damage_storage(run, cfg.seed)
            rec.details["storage_changed"] = list(run.storage_changed)
            storage = f"; then {len(run.storage_changed)} object(s) overwritten or deleted"
        if opts.before_restore is not None:
            opts.before_restore(run)
        return runbook.HookOutcome(
            summary=f"bad-statement: {rec.details['summary']}{storage}; {len(run.ledger)} ledger transactions; "
                    f"restore target {run.target.describe()}",
            variables=variables, records=[rec])

    def start_restored(ctx: runbook.HookContext) -> runbook.HookOutcome:
        if opts.before_start is not None:
            opts.before_start(run)
        server = run.host.start_restored()
        run.outcome = recovery.watch(server, opts.recovery_timeout_s)
        o = run.outcome
        variables = {"RESTORED_URL": server.database(run.dbname).url}
        if o.state != "promoted":
            return runbook.HookOutcome(ok=False, variables=variables,
                                       summary=f"the restored server did not reach the recovery target "
                                               f"({run.target.describe() if run.target else 'none'}): recovery "
                                               f"ended {o.state}: {o.fatal or o.stop_line or 'see its log'}")
        if opts.after_restore is not None:
            opts.after_restore(run)
        return runbook.HookOutcome(summary=f"restored server promoted in {o.duration_s:.2f}s: {o.stop_line or 'no stop'}"
                                           f"; new timeline {o.new_timeline}", variables=variables)

    hooks = runbook.RunHooks(seed=seed, disaster=disaster, replacements={START_HOOK: start_restored},
                             on_step=lambda s: drill.bus.emit("step", rep.id, s.name, s.status, phase=s.phase,
                                                              exit_code=s.exit_code, duration_s=s.duration_s),
                             on_step_start=lambda name, ph: drill.bus.emit("step_start", rep.id, name, phase=ph))
    result = runbook.run_runbook(book, bnd, env, drill.workdir, hooks, step_timeout_s=cfg.step_timeout_s,
                                 data_directory=primary.data, shared_folders=shared)
    rep.steps = list(result.steps)
    rep.snapshots = list(result.snapshots)
    for name in ("setup", "seed", "backup", "disaster", "restore", "verify"):
        ph = result.phases.get(name)
        if ph is not None:
            bad = [s for s in rep.steps if s.phase == name and s.status in ("failed", "errored")]
            rep.phases.append(PhaseRecord(name, ph["started_at"], ph["duration_s"], "failed" if bad else "passed"))
    rep.disasters = list(drill.state.disasters)
    if result.error:
        raise HarnessFault(result.error)
    base = drill.workdir / "backups" / "base"
    chain_dir = bnd.variables.get("CHAIN_DIR")
    if chain_dir:  # an incremental chain: each link's backup, and the links the restore combined
        base = _record_chain(drill.workdir, drill.workdir / str(chain_dir), rep, run)
    elif (base / "base.tar").exists():
        rep.backups = [_backup_record(base, rep, bins=run.host.binaries)]
    elif drill.spec.variant == "pgbackrest":  # pgBackRest's own repository layout in S3
        from .pgbackrest import newest_backup

        got = newest_backup(run.s3_client, run.wal_bucket, run.base_prefix, rep)
        run.pgbackrest, run.pgbackrest_manifest = True, got[1] if got else None
        rep.backups = [got[0]] if got else []
    else:  # a tool that writes the base backup straight to S3 (Barman cloud): read what it left there
        from .barman import barman_backup

        found = barman_backup(run.s3_client, run.wal_bucket, run.base_prefix, rep)
        run.barman_info = found[1] if found else None
        rep.backups = [found[0]] if found else []
    # The RTO is the procedure's restore steps' own time, as in the logical drills (issue 19): the sum of the
    # restore steps' durations (the restored server's start and WAL replay included, being a restore step);
    # the harness's observation around them is timed apart (observe_s), the phase's wall time kept beside.
    from restore_drill.engine import restore_steps_s

    restore_s = restore_steps_s(rep.steps)
    # Steps record 4 decimals (runbook.runner); their float sum does not (4.6469000000000005): round it the same.
    restore_s = round(restore_s, 4) if restore_s is not None else None
    with contextlib.suppress(Exception):  # the archive's history files (the primary's pg_wal keeps the newest)
        run.histories = merge_histories(run.histories, wal.archived_backup_histories(run.s3_client, run.wal_bucket,
                                                                                    run.wal_prefix))
    _date_backups(rep, run)
    if run.expected is not None:
        run.expected.save(drill.run_dir / f"{drill.spec.name}.expected.manifest.json")
    with drill._phase("checks"), contextlib.ExitStack() as stack:
        ctx = _restored_context(drill, rep, run, bnd, restore_s, stack)
        rep.checks = pitr_checks(run, base, rpo_s=rep.targets.rpo_s, restore_s=restore_s, manifest=ctx.manifest,
                                 emit=drill._emit_check, context=ctx)
        if opts.upgrade_check:
            rep.checks.append(_upgrade_check(run))
            drill._emit_check(rep.checks[-1])
    dlw = next((c for c in rep.checks if c.name == "data_loss_window"), None)
    rep.metrics.update({f"{k}_s": v.get("duration_s") for k, v in result.phases.items()})
    rep.metrics.update({
        "restore_s": restore_s, "rto_s": restore_s, "observe_s": round(result.observe_s, 4),
        "restore_phase_s": result.phases.get("restore", {}).get("duration_s"),
        "rpo_s": dlw.observed if dlw is not None and isinstance(dlw.observed, float) else None,
        "data_loss_window_ms": dlw.evidence.get("window_ms") if dlw else None,
        "rows_lost": dlw.evidence.get("rows_lost") if dlw else None,
        "recovery_s": round(run.outcome.duration_s, 3) if run.outcome else None,
        "ledger_transactions": len(run.ledger), "backup_bytes": sum(b.size_bytes for b in rep.backups),
        **({"rows": sum(t.row_count for t in run.expected.tables.values()),
            "objects": len(run.expected.objects)} if run.expected is not None else {}),
        "runbook_steps_failed": len(result.failed_steps), "runbook_steps_not_run": len(result.not_run_steps),
    })
    rep.metrics["pitr"] = {"target": run.target.to_dict() if run.target else None,
                           "boundary": run.boundary.isoformat() if run.boundary else None,
                           "disaster": {k: run.disaster.get(k) for k in ("statement", "began_at", "lsn_before", "xid",
                                                                           "committed_at")},
                           "recovery": run.outcome.to_dict() if run.outcome else None,
                           "backup_histories": [h.to_dict() for h in run.histories],
                           "timeline": timeline(rep, run)}


def _leave_room(run: PitrRun, offset_s: float) -> None:
    """Wait until a time target ``offset_s`` before the statement falls after the base backup's end (its
    history file's STOP TIME, whole seconds, so rounded up) with OFFSET_MARGIN_S to spare. Without a history
    file (a tool that keeps none in pg_wal) the wait counts from now: the backup ended before this hook."""
    stop = run.histories[-1].stopped_at + timedelta(seconds=1) if run.histories else datetime.now(UTC)
    wait = (stop + timedelta(seconds=offset_s + OFFSET_MARGIN_S) - datetime.now(UTC)).total_seconds()
    if wait > 0:
        time.sleep(wait)


def db_instant(run: PitrRun) -> datetime | None:
    """The instant the restored database will stand at, known before recovery runs, for restoring object
    storage to the same instant: the commit time of the newest ledger transaction the target keeps.

    time: the newest committed at or before the target; xid/lsn/name: the newest committed before the errant
    statement began (the ledger was held around it, so these are exactly the ones preceding it in the WAL);
    immediate: the newest committed by the base backup's end (its history file's STOP TIME; whole seconds,
    so a transaction in that second may fall either side: storage_at_target then judges whether any object
    changed between the two instants). Falls back to the boundary / the disaster instant with an empty ledger.
    """
    began = datetime.fromisoformat(run.disaster["began_at"]) if run.disaster.get("began_at") else None
    kind = run.target.kind if run.target is not None else "immediate"
    upto: datetime | None
    if kind == "time" and run.boundary is not None:
        upto, strict = run.boundary, False
    elif kind == "immediate":
        if not run.histories:
            return None
        upto, strict = run.histories[-1].stopped_at, False
    else:
        upto, strict = (began, True) if began is not None else (None, True)
    if upto is None:
        return None
    kept = [e.committed_at for e in run.ledger if (e.committed_at < upto if strict else e.committed_at <= upto)]
    return max(kept) if kept else upto


def db_reached(run: PitrRun) -> datetime | None:
    """The instant the restored database actually stands at: the commit time of the newest ledger transaction
    it holds (``run.present``); else the log's "last completed transaction was at log time"; None when
    neither is known (recovery failed)."""
    kept = [e.committed_at for e in run.ledger if run.present is not None and e.seq in run.present]
    if kept:
        return max(kept)
    o = run.outcome
    return o.last_commit_time if o is not None else None


def timeline(rep: DrillReport, run: PitrRun) -> list[dict[str, str]]:
    """The drill's instants in time order, for the report: each base backup's start and end (its backup
    history file's START/STOP TIME: the end is the backup's consistency point, STOP WAL LOCATION; the file
    gives whole seconds), WAL archived through, disaster, recovery target, last transaction kept, recovery
    end. Without history files, the backup steps' own start/end. ISO-8601 UTC; absent ones left out."""
    def step_times(word: str) -> tuple[str | None, str | None]:
        st = next((s for s in rep.steps if word in s.name and s.started_at), None)
        if st is None or st.started_at is None:
            return None, None
        end = datetime.fromisoformat(st.started_at.replace("Z", "+00:00")) + timedelta(seconds=st.duration_s or 0)
        return st.started_at, end.isoformat()

    events: list[tuple[str, str | None]] = []
    names = dict((lsn, link) for link, lsn in run.chain_recorded)
    for h in run.histories:
        what = f"base backup {names[wal.format_lsn(h.start_lsn)]}" if len(run.histories) > 1 and \
            wal.format_lsn(h.start_lsn) in names else "base backup"
        events += [(f"{what} started", h.started_at.isoformat()),
                   (f"{what} ended (consistent at {wal.format_lsn(h.stop_lsn)}; to the second)",
                    h.stopped_at.isoformat())]
    if not run.histories:
        bs, be = step_times("Base Backup")
        events += [("base backup started", bs), ("base backup ended (backup step finished)", be)]
    events.append(("WAL archived (current segment switched and shipped)", step_times("Archive the Current WAL")[1]))
    events.append(("disaster (errant statement began)", run.disaster.get("began_at")))
    if run.target is not None and run.boundary is not None:
        events.append((f"recovery target ({run.target.kind})", run.boundary.isoformat()))
    elif run.target is not None and run.target.kind == "immediate" and run.histories:
        events.append(("recovery target (immediate: the backup's consistency point)",
                       run.histories[-1].stopped_at.isoformat()))
    o = run.outcome
    if o is not None:
        events.append(("last transaction kept", o.last_commit_time.isoformat() if o.last_commit_time else None))
        events.append((f"recovery ended ({o.state})", o.ended_at.isoformat() if o.ended_at else None))

    def utc(t: str) -> datetime:
        d = datetime.fromisoformat(t.replace("Z", "+00:00"))
        return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)

    out = sorted(((utc(t), e) for e, t in events if t), key=lambda p: p[0])
    return [{"event": e, "at": d.isoformat()} for d, e in out]


def merge_histories(*lists: list[wal.BackupHistory]) -> list[wal.BackupHistory]:
    """Backup history files from several places (the primary's pg_wal, the archive), one per file name,
    oldest stop first."""
    by_name = {h.name: h for hs in lists for h in hs}
    return sorted(by_name.values(), key=lambda h: h.stop_lsn)


def _damage_storage(run: PitrRun, seed: int) -> list[str]:
    """What follows an errant DELETE in an application: its clean-up overwrites and deletes objects. Done in
    a later whole second than the storage target, since S3 times object versions to the second."""
    import random

    assert run.storage is not None and run.storage_target is not None
    client, bucket, prefix = run.storage
    wait = run.storage_target.timestamp() // 1 + 1.2 - time.time()
    if wait > 0:
        time.sleep(wait)
    base = prefix.strip("/") + "/"
    keys = sorted(o.key for o in list_objects(client, bucket, base))
    if len(keys) < 2:
        raise HarnessFault(f"s3://{bucket}/{base} holds {len(keys)} object(s): too few to damage")
    chosen = random.Random(seed).sample(keys, min(4, len(keys)))
    half = len(chosen) // 2
    for k in chosen[:half]:
        client.put_object(Bucket=bucket, Key=k, Body=b"overwritten by the clean-up job after the errant DELETE")
    for k in chosen[half:]:
        client.delete_object(Bucket=bucket, Key=k)
    return [k[len(base):] for k in chosen]


def _storage_check(run: PitrRun, manifest: Any) -> CheckResult:
    from restore_drill.checks.storage_pitr import storage_at_target
    from restore_drill.seeds.manifest import object_snapshots

    assert run.storage is not None
    client, bucket, prefix = run.storage
    now = object_snapshots(client, bucket, prefix)
    target, reached = run.storage_target, db_reached(run)
    same: list[str] = []
    between: list[str] = []
    if target is not None:
        second = target.replace(microsecond=0)
        lo, hi = sorted((second, (reached or target).replace(microsecond=0)))
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix.strip("/") + "/"):
            for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                at = v["LastModified"].replace(microsecond=0)
                if at == second:
                    same.append(v["Key"])
                # Restoring to an instant T makes current the versions whose LastModified (whole seconds) <= T,
                # all of T's own second included: restores to lo and to hi differ only by versions after lo's
                # second up to hi's.
                if lo < at <= hi:
                    between.append(v["Key"])
    return storage_at_target(manifest.objects if manifest is not None else {}, now, storage_target=target,
                             db_target=reached, changed=run.storage_changed, same_second=sorted(set(same)),
                             between=sorted(set(between)))


def _record_chain(workdir: Path, chain_dir: Path, rep: DrillReport, run: PitrRun) -> Path:
    """For a procedure taking an incremental chain (binding variable CHAIN_DIR): one BackupRecord per link the
    backup phase wrote (``backups/links/<link>``: base.tar, pg_wal.tar, backup_manifest, as ``backups/base`` of
    the full-backup procedure), ``run.chain_recorded`` (link, start LSN from its backup_manifest), and
    ``run.chain``, the link folders the restore extracted into CHAIN_DIR, oldest first by name (what it
    combined). Returns the newest link's folder: the combined backup's WAL range is that link's."""
    links_dir = workdir / "backups" / "links"
    links = sorted(p for p in links_dir.iterdir() if (p / "backup_manifest").is_file()) if links_dir.is_dir() else []
    steps = [s for s in rep.steps if s.phase == "backup"]
    rep.backups = [_backup_record(p, rep, bins=run.host.binaries, step=steps[i] if i < len(steps) else None)
                   for i, p in enumerate(links) if (p / "base.tar").is_file()]
    for p in links:
        _, start, _ = wal.backup_wal_range(json.loads((p / "backup_manifest").read_text()))
        run.chain_recorded.append((p.name, wal.format_lsn(start)))
    run.chain = sorted(p for p in chain_dir.iterdir() if p.is_dir()) if chain_dir.is_dir() else []
    return links[-1] if links else links_dir


def _date_backups(rep: DrillReport, run: PitrRun) -> None:
    """Each BackupRecord's started_at/finished_at from its own backup history file (matched by the START WAL
    LOCATION its backup_manifest's WAL-Ranges give, else by order), so a record says when that backup ran and
    became consistent, not when the drill recorded it. Records without a match keep their step's times."""
    if not run.histories:
        return
    by_start = {h.start_lsn: h for h in run.histories}
    for i, b in enumerate(rep.backups):
        h = None
        mf = Path(b.path).parent / "backup_manifest"
        with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
            h = by_start.get(wal.backup_wal_range(json.loads(mf.read_text()))[1])
        if h is None and len(rep.backups) == len(run.histories):
            h = run.histories[i]
        if h is not None:
            rep.backups[i] = dataclasses.replace(b, started_at=h.started_at.isoformat(),
                                                 finished_at=h.stopped_at.isoformat())


def _backup_record(base: Path, rep: DrillReport, *, bins: Any, step: Any = None) -> BackupRecord:
    tar = base / "base.tar"
    h = hashlib.sha256()
    with open(tar, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    step = step or wal.base_backup_step(rep)
    started = getattr(step, "started_at", "") or ""
    finished = utcnow()
    if started and getattr(step, "duration_s", None) is not None:  # the backup step's end, not the record's time
        finished = (datetime.fromisoformat(started.replace("Z", "+00:00"))
                    + timedelta(seconds=step.duration_s)).isoformat()
    version = subprocess.run([str(bins.tool("pg_basebackup")), "--version"], capture_output=True, text=True,
                             timeout=30).stdout.strip()
    return BackupRecord(path=str(tar), size_bytes=sum(p.stat().st_size for p in base.iterdir()), sha256=h.hexdigest(),
                        started_at=started, finished_at=finished, tool_version=version,
                        archive_header={"format": "pg_basebackup tar", "files": sorted(p.name for p in base.iterdir())})


def _expected_state(db: Any, seeded: Any, sysdef: Any) -> Any:
    """The manifest (seeds.manifest.Manifest) of the system's tables and catalog taken right before the errant
    statement, while the write ledger goes on: the state a restore to a target just before the statement must
    hold, which the registry's checks (row_counts, table_checksums, schema_fidelity, ...) compare against.

    Why this instant is the target's: between it and the statement only the write ledger writes, into its
    own schema (restore_drill_ledger, outside the manifest's schemas), whose rows pitr_exactness judges by
    their commit times; so the system's tables are the same at every target in between. The seed-time
    manifest is not the expectation: it predates every write after seeding. Objects are carried from the
    seed manifest: only the seed writes the bucket before the clean-up that follows the statement (whose
    instant storage_at_target judges), so listing and hashing every object again would prove nothing more.
    ``seeded`` None (the seed did not run) gives None."""
    if seeded is None:
        return None
    with db.connect(autocommit=True) as conn:
        m = take_manifest(conn, system=sysdef.name, seed=seeded.seed, scale=seeded.scale,
                          tables=list(sysdef.tables or ()) or None, schemas=sysdef.schemas)
    m.objects, m.bucket, m.prefix = dict(seeded.objects), seeded.bucket, seeded.prefix
    m.source_findings, m.source_results = seeded.source_findings, seeded.source_results
    return m


def _restored_context(drill: Drill, rep: DrillReport, run: PitrRun, bnd: Any, restore_s: float | None,
                      stack: contextlib.ExitStack) -> CheckContext:
    """The registry's CheckContext over the restored server's database (``physical``): its expectation is
    ``run.expected`` (the state right before the errant statement; the seed manifest when that was not
    taken), the system's migration/smoke/API hooks bound to the restored database. ``db`` is None when no
    restored server was started (the restore failed before it): every check reading it then fails (pitr_checks)."""
    from restore_drill.checks.context import CheckContext
    from restore_drill.seeds.hooks import hooks_for

    sysdef, srv = drill.system, run.host.restored
    rdb = srv.database(run.dbname) if srv is not None else None
    hooks = hooks_for(sysdef)
    client, bucket = (run.storage[0], run.storage[1]) if run.storage is not None else (None, None)
    return CheckContext(
        system=sysdef, db=rdb, client_bins=run.host.binaries,  # type: ignore[arg-type]
        manifest=run.expected or drill.state.manifest, backup=rep.backups[-1] if rep.backups else None,
        restore_steps=[s for s in rep.steps if s.phase == "restore"], restore_s=restore_s,
        s3_client=client, bucket=bucket, prefix=sysdef.storage_prefix,
        api_base_url=drill._api_for_checks(bnd, rdb, stack) if rdb is not None else None,
        sample_ids=drill.state.sample_ids,
        migration_apply=hooks.migration(rdb) if rdb is not None else None,
        smoke=hooks.smoke(rdb, client, bucket, sysdef.storage_prefix) if rdb is not None else None,
        rto_s=rep.targets.rto_s, rpo_s=rep.targets.rpo_s, retention=drill._retention_locations(), physical=True)


def _restored_state(run: PitrRun) -> tuple[bool | None, int | None, set[int] | None]:
    """(pg_is_in_recovery, timeline, ledger seqs present) of the restored server; Nones when unreachable."""
    srv = run.host.restored
    if srv is None or not srv.alive():
        return None, None, None
    try:
        with psycopg.connect(srv.database(run.dbname).url, autocommit=True, connect_timeout=10) as conn:
            in_rec = bool(conn.execute("SELECT pg_is_in_recovery()").fetchone()[0])  # type: ignore[index]
            tl = int(conn.execute("SELECT timeline_id FROM pg_control_checkpoint()").fetchone()[0])  # type: ignore[index]
            present = ledger_mod.present_seqs(conn)
        return in_rec, tl, present
    except psycopg.Error:
        return None, None, None


def pitr_checks(run: PitrRun, base: Path, *, rpo_s: float | None, restore_s: float | None, manifest: Any = None,
                emit: Callable[[CheckResult], None] | None = None, context: CheckContext | None = None
                ) -> list[CheckResult]:
    """Every PITR check over ``run`` (checks.registry.PHYSICAL_ONLY), then the registry's plan over the
    restored database (``context``, built by ``_restored_context``; ``CheckContext.physical``): every
    registered check whose ``applies`` holds for a physical restore (row_counts, table_checksums,
    schema_fidelity, sequence_health, referential_integrity, the definition's invariants, physical_integrity,
    the storage checks, migration/write smoke, rto, rpo, retention). Each is isolated: one that raises is
    recorded as errored and the rest still run. When the restored server cannot be reached (recovery failed),
    a check that errored for it is failed instead: the restore left nothing to judge, a verdict on the
    restore, not a harness fault. ``restore_s`` without ``context``: only the PITR checks run."""
    results: list[CheckResult] = []
    in_rec, tl, present = _restored_state(run)
    run.present = present
    target = run.target or RecoveryTarget("immediate")
    disaster_at = datetime.fromisoformat(run.disaster["began_at"]) if run.disaster.get("began_at") else None
    mf = base / "backup_manifest"
    manifest_json = json.loads(mf.read_text()) if mf.exists() else None
    run.backup_manifest = manifest_json
    scan_box: dict[str, Any] = {}

    def scan() -> tuple[dict[str, int], wal.WalScan | None, int, int, int]:
        if "v" not in scan_box:
            if manifest_json is not None:
                tli, start, end = wal.backup_wal_range(manifest_json)
            elif run.barman_info is not None:
                from .barman import wal_range

                tli, start, end = wal_range(run.barman_info)
            elif run.pgbackrest_manifest is not None:
                from .pgbackrest import wal_range as pgbackrest_range

                tli, start, end = pgbackrest_range(run.pgbackrest_manifest)
            else:
                raise HarnessFault("no backup_manifest beside the base backup: the WAL range is unknown")
            listing = wal.archive_listing(run.s3_client, run.wal_bucket, run.wal_prefix)
            scan_box["v"] = (listing, wal.scan(run.host.binaries, run.s3_client, run.wal_bucket, run.wal_prefix,
                                               start, tli), tli, start, end)
        return scan_box["v"]  # type: ignore[no-any-return]

    def c_wal() -> CheckResult:
        listing, sc, tli, start, end = scan()
        upto = wal.parse_lsn(run.disaster["lsn_before"]) if run.disaster.get("lsn_before") and \
            target.kind != "immediate" else end
        return wal_checks.wal_continuity(listing, sc, start, upto, timeline=tli)

    def c_window() -> CheckResult:
        _, sc, _, _, end = scan()
        t = datetime.fromisoformat(target.value) if target.kind == "time" else None
        return wal_checks.recoverable_window(sc, end, target=t)

    plan: list[tuple[str, Callable[[], CheckResult]]] = [
        ("recovery_target", lambda: recovery_checks.recovery_target(
            run.outcome, target, in_recovery=in_rec, timeline=tl,
            backup_end=run.histories[-1] if run.histories else None)),
        ("pitr_exactness", lambda: recovery_checks.pitr_exactness(run.ledger, present, run.boundary,
                                                                  what=target.describe())),
        ("data_loss_window", lambda: recovery_checks.data_loss_window(run.ledger, present, run.boundary, disaster_at,
                                                                      rpo_s) if disaster_at else
         CheckResult.failed("data_loss_window", "no disaster instant was recorded")),
        ("wal_continuity", c_wal),
        ("recoverable_window", c_window),
        ("backup_manifest", lambda: base_backup_checks.backup_manifest(
            base, run.host.binaries.major, _verify_tools(run.host.binaries.major))
         if run.barman_info is None and not run.pgbackrest else
         _pgbackrest_manifest_check(run) if run.pgbackrest else
         CheckResult.skipped("backup_manifest", "barman-cloud-backup writes no backup_manifest, so pg_verifybackup "
                             "cannot verify this base backup; its content is judged by row_counts/table_checksums "
                             "after recovery")),
        *([("storage_at_target", lambda: _storage_check(run, manifest))] if run.storage is not None else []),
        *([("backup_chain", lambda: backup_chain(run.host.binaries, run.chain or [], recorded=run.chain_recorded))]
          if run.chain is not None else []),
    ]
    from restore_drill.checks.registry import plan as registry_plan
    from restore_drill.checks.registry import run_plan

    def record(r: CheckResult, t0: float) -> None:
        r = dataclasses.replace(r, duration_s=round(time.monotonic() - t0, 3))
        results.append(r)
        if emit is not None:
            emit(r)

    reachable = in_rec is not None
    root = ""
    for name, fn in plan:  # one at a time, so each result is announced as it is known
        t0 = time.monotonic()
        if not reachable and name in NEEDS_RESTORED and root:
            record(CheckResult.skipped(name, f"not run: {root}"), t0)
            continue
        record(run_plan([(name, fn)])[0], t0)  # registered names only (checks.registry.PHYSICAL_ONLY); isolated
        if name == "recovery_target" and not reachable:
            root = (f"the restored server is not reachable, so there is nothing restored to judge (root cause: "
                    f"recovery_target {results[-1].status.value}: {results[-1].message})")
    if context is None:
        return results
    # The registry's rpo measures the same data-loss window as data_loss_window (recovery.loss_figures): from
    # the newest ledger transaction restored to the disaster's instant.
    kept = [e.committed_at for e in run.ledger if present is not None and e.seq in present]
    context.newest_write_before = disaster_at.isoformat() if disaster_at is not None else None
    context.newest_write_restored = max(kept).isoformat() if kept else None
    context.ledger_note = (f"write ledger {ledger_mod.TABLE} (commit times); the window runs from the newest "
                           "transaction restored to the disaster's instant, as data_loss_window")
    context.results = list(results)  # rto reads recovery_target and pitr_exactness (PHYSICAL_FIDELITY)
    try:
        for name, fn in registry_plan(context):
            t0 = time.monotonic()
            if not reachable:  # every registry check reads the restored database: not run, with the root cause
                record(CheckResult.skipped(name, f"not run: {root or 'the restored server is not reachable'}"), t0)
                context.results.append(results[-1])
                continue
            r = run_plan([(name, fn)])[0]
            record(r, t0)
            context.results.append(results[-1])
    finally:
        context.close()
    return results


# The PITR checks that read the restored server (the others judge the archive and the backup).
NEEDS_RESTORED = frozenset({"pitr_exactness", "data_loss_window", "storage_at_target"})


def _pgbackrest_manifest_check(run: PitrRun) -> CheckResult:
    """backup_manifest of a pgBackRest variant: skipped with the reason when its backup exists (pg_verifybackup
    cannot read pgBackRest's manifest), failed when the procedure left none."""
    from .pgbackrest import MANIFEST_SKIP_REASON

    if run.pgbackrest_manifest is None:
        return CheckResult.failed("backup_manifest", f"no pgBackRest backup with a backup.manifest under "
                                                     f"s3://{run.wal_bucket}/{run.base_prefix}/: nothing to verify")
    return CheckResult.skipped("backup_manifest", MANIFEST_SKIP_REASON)


def _upgrade_check(run: PitrRun) -> CheckResult:
    """upgrade_check over the restored cluster (stops the restored server: it runs last)."""
    from restore_drill.checks.upgrade_check import upgrade_check

    from .upgrade import newer_major, run_upgrade_check

    new = newer_major(run.host.binaries, binaries.servers())
    if new is None:
        return upgrade_check(None, reason=f"no PostgreSQL newer than {run.host.binaries.major} with pg_upgrade here")
    if run.outcome is None or run.outcome.state != "promoted":
        return upgrade_check(None, reason="the restored server was not promoted: nothing to upgrade")
    t0 = time.monotonic()
    try:
        r = upgrade_check(run_upgrade_check(run.host, new))
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        r = CheckResult.errored("upgrade_check", f"{type(e).__name__}: {e}")
    return dataclasses.replace(r, duration_s=round(time.monotonic() - t0, 3))


def _verify_tools(major: int) -> list[Any]:
    """pg_verifybackup candidates: the server's own major first, then the others newest first."""
    allb = binaries.servers()
    own = [b for b in allb if b.major == major]
    return own + sorted((b for b in allb if b.major != major), key=lambda b: -b.major)
