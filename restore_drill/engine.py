"""One drill, end to end: infra up, seed, backup, disaster, restore, checks, report; infra down.

The procedure (the operators' runbook or the project's corrected one) is run by the runbook runner;
this module supplies its hooks (seed, after_backup, disaster) and turns what happened into a
DrillReport. Everything it creates it removes again, on success, failure and Ctrl-C.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from restore_drill.checks._util import parse_time
from restore_drill.checks.result import CheckResult
from restore_drill.fixtures import binaries
from restore_drill.fixtures.database import Database
from restore_drill.fixtures.environment import bind
from restore_drill.fixtures.infra import Infra
from restore_drill.fixtures.s3 import Bucket
from restore_drill.foundation import utcnow
from restore_drill.reports.model import DrillReport, ErrorInfo, PhaseRecord, RestoreTarget, Targets
from restore_drill.seeds.hooks import SystemHooks, hooks_for
from restore_drill.seeds.manifest import Manifest, take_manifest
from restore_drill.seeds.scope import require_tables

from . import disasters, runbook
from .catalog import DrillSpec
from .checkplan import CheckInputs, run_checks
from .config import DrillConfig
from .errors import BadInput, DrillError, HarnessFault, InfraUnavailable, StorageUnreadable
from .events import EventBus, phase
from .interrupts import describe
from .redact import Redactor
from .systems import SystemDef, resolve_system


@dataclass
class _State:
    """What the hooks learn as the procedure runs."""

    manifest: Manifest | None = None
    seeded: dict[str, Any] = field(default_factory=dict)
    restore_db: Database | None = None
    restore_prefix: str | None = None
    last_write_at: str | None = None
    ledger_seeded_at: str | None = None  # write ledger: the beat right before the manifest and the backup
    ledger_before_disaster: str | None = None  # write ledger: the newest beat before the disaster
    own_before_disaster: str | None = None  # the system's declared newest-write column, right before the disaster
    sample_ids: list[Any] = field(default_factory=list)  # ids the API probes sample (the system's hooks)
    disasters: list[Any] = field(default_factory=list)


def procedure_files(spec: DrillSpec, system: SystemDef, runbook_path: Path | None = None,
                    binding_path: Path | None = None) -> tuple[Path, Path]:
    """(runbook, binding) a drill runs: the given runbook, the operators' runbook or the corrected one; for a
    physical drill (``spec.physical``) the built-in point-in-time recovery procedure of its variant
    (``pitr.drill.procedure_files``), which is what ``pitr.drill.run_physical`` executes. Raises BadInput for a
    procedure the system lacks, and for ``procedure == "runbook"`` on a physical drill without ``runbook_path``
    (there is no operators' PITR runbook to run as written)."""
    s = system
    if runbook_path is not None:
        rb = runbook_path
        bd = binding_path or s.binding
    elif spec.physical:
        from .pitr.drill import procedure_files as pitr_procedure_files

        rb, bd = pitr_procedure_files(s.name, spec.variant)
        if spec.procedure == "runbook":
            raise BadInput(f"--procedure runbook: {spec.name} is a point-in-time recovery drill; it has no operators' "
                           f"runbook to run as written, only the project's procedure ({rb.name}): drop --procedure "
                           "runbook")
        bd = binding_path or bd
    elif spec.procedure == "runbook":
        rb, bd = s.runbook, binding_path or s.binding  # type: ignore[assignment]
    else:
        rb, bd = s.corrected, binding_path or s.corrected_binding  # type: ignore[assignment]
    if rb is None or bd is None:
        raise BadInput(f"system {s.name!r} ({s.path}) has no {spec.procedure} procedure: set procedure.runbook "
                       "and procedure.binding (or corrected / corrected_binding) in its definition")
    if not rb.is_file():
        raise BadInput(f"runbook {rb} does not exist or is not a file")
    return rb, bd


def load_procedure(runbook_path: Path, binding_path: Path) -> tuple[runbook.Runbook, runbook.Binding]:
    """The runbook and binding, parsed and fitted to each other. Raises BadInput (a runbook that is not
    UTF-8 text, has no shell block or an unclosed fence; a binding that is not TOML or names a section the
    runbook lacks) before anything is started, so bad files cost no infrastructure."""
    try:
        text = runbook_path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(f"runbook {runbook_path} is not UTF-8 text (byte {e.start}); pass a Markdown runbook "
                       "(re-save it as UTF-8)") from None
    except OSError as e:
        raise BadInput(f"runbook {runbook_path} cannot be read ({e.strerror}); check the path") from None
    book = runbook.parse_runbook(text, str(runbook_path))
    bnd = runbook.load_binding(binding_path)
    runbook.plan(bnd, book)
    return book, bnd


class Drill:
    def __init__(self, spec: DrillSpec, config: DrillConfig, infra: Infra, bus: EventBus, run_dir: Path,
                 *, system: SystemDef | None = None, runbook_path: Path | None = None,
                 binding_path: Path | None = None) -> None:
        self.spec, self.config, self.infra, self.bus = spec, config, infra, bus
        self.system = system or resolve_system(spec.system)
        self.run_dir = run_dir
        self.redact = Redactor()
        self.state = _State()
        self.runbook_path, self.binding_path = self._procedure_files(runbook_path, binding_path)
        self.db: Database | None = None
        self.buckets: list[Bucket] = []
        self.bucket: Bucket | None = None
        self.backup_bucket: Bucket | None = None
        # Absolute: steps run with cwd = workdir, and the private HOME below it must be found (and removed)
        # from wherever the run started, also with the default relative report dir.
        self.workdir = (run_dir / "work" / spec.name).absolute()
        self.servers_used: list[Any] = []

    # -- set-up ------------------------------------------------------------------------------------
    def _procedure_files(self, runbook_path: Path | None, binding_path: Path | None) -> tuple[Path, Path]:
        return procedure_files(self.spec, self.system, runbook_path, binding_path)

    def load_procedure(self) -> tuple[runbook.Runbook, runbook.Binding]:
        return load_procedure(self.runbook_path, self.binding_path)

    @property
    def drill_id(self) -> str:
        major = self.config.pg_version or self.spec.pg_major or binaries.select(None).major
        if self.spec.upgrade:
            majors = sorted(b.major for b in binaries.servers())
            return f"{self.spec.name}[pg{majors[0]}-to-pg{majors[-1]}-{self.config.s3_backend}]"
        return f"{self.spec.name}[pg{major}-{self.config.s3_backend}]"

    def _majors(self) -> tuple[int | None, int | None]:
        if not self.spec.upgrade:
            return self.config.pg_version, self.config.pg_version
        majors = sorted(b.major for b in binaries.servers())
        if len(majors) < 2:
            raise InfraUnavailable(f"the upgrade drill needs two Postgres majors; found only {majors}")
        return majors[0], majors[-1]

    # -- run ---------------------------------------------------------------------------------------
    def run(self) -> DrillReport:
        spec, sysdef = self.spec, self.system
        rep = DrillReport(name=spec.name, id=self.drill_id, system=sysdef.name, procedure=spec.procedure,  # type: ignore[arg-type]
                          runbook=str(self.runbook_path), disaster=spec.disaster, seed=self.config.seed,
                          scale=self.config.scale, started_at=utcnow(),
                          targets=Targets(self.config.rto_s or sysdef.rto_s, self.config.rpo_s or sysdef.rpo_s))
        self.report = rep
        self.bus.emit("drill_start", rep.id)
        try:
            self._run(rep)
        except DrillError as e:
            rep.error = ErrorInfo.from_exception(e, self.redact)
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (interrupts.Terminated)
            kind, why = describe(e)
            partial = runbook.partial_of(e)
            if partial is not None and not rep.steps:  # the steps run so far, the interrupted one last
                rep.steps = list(partial.steps)
                rep.phases.extend(phase_records(partial.phases, rep.steps))
            stopped = rep.steps[-1].name if rep.steps and rep.steps[-1].status == "errored" else ""
            rep.error = ErrorInfo(kind, f"{why} before the drill finished"
                                  + (f" (during step {stopped!r})" if stopped else ""), "errored")
            raise
        except Exception as e:  # a harness bug: the verdict is errored, never passed
            rep.error = ErrorInfo.from_exception(HarnessFault(f"{type(e).__name__}: {e}"), self.redact)
            with contextlib.suppress(OSError):  # e.g. the disk is full: the report still says what happened
                (self.run_dir / f"{spec.name}.traceback.txt").write_text(self.redact(traceback.format_exc()))
        finally:
            self._teardown()
            rep.finish()
            self.bus.emit("drill_end", rep.id, status=rep.status)
        return rep

    def _phase(self, name: str) -> Any:
        return phase(self.bus, self.report, name)

    def _run(self, rep: DrillReport) -> None:
        if self.spec.physical:  # base backup + WAL + point-in-time recovery: its own procedure and checks
            from .pitr.drill import run_physical

            return run_physical(self, rep)
        sysdef = self.system
        backup_major, restore_major = self._majors()
        with self._phase("infra"):
            # S3 (moto: a Python child, ~1 s) starts in a worker thread while PostgreSQL starts here: the
            # server stays on the main thread, whose PDEATHSIG stops it if the harness is killed.
            s3_up = _Background(lambda: self.infra.s3) if sysdef.has_storage else None
            try:
                srv = self.infra.postgres(backup_major)
            finally:
                if s3_up is not None:
                    s3_up.wait()
            self.servers_used.append(srv)
            self.db = runbook.drill_database(srv, runbook.load_binding(self.binding_path).names)  # [names]
            self.redact.add(self.db.password)
            client = srv.client_bins
            if s3_up is not None:
                s3_up.result()  # its InfraUnavailable, raised here as when it started inline
            if sysdef.has_storage:
                self.bucket = self._bucket(sysdef.name, "live")
                self.backup_bucket = self._bucket(f"{sysdef.name}-backup", "backup")
                self.redact.add(self.bucket.endpoint.secret_key, self.bucket.endpoint.access_key)
            if self.workdir.exists():
                shutil.rmtree(self.workdir)
            self.workdir.mkdir(parents=True)
            env = bind(db=self.db, client_bins=client, workdir=self.workdir,
                       s3=self.bucket.endpoint if self.bucket else None,
                       bucket=self.bucket.name if self.bucket else None,
                       backup_bucket=self.backup_bucket.name if self.backup_bucket else None,
                       prefix=sysdef.storage_prefix or "data", database_url_variables=sysdef.database_url_variables)
            rep.target = RestoreTarget(self.db.name, self.bucket.name if self.bucket else "",
                                       sysdef.storage_prefix or "")
        book, bnd = self.load_procedure()
        self.infra.settle()  # the harness's background work (Infra.background) ends before the first step
        hooks = runbook.RunHooks(seed=self._hook_seed, disaster=self._hook_disaster,
                                 replacements={"write-smoke": self._hook_write_smoke},
                                 on_step=lambda s: self.bus.emit("step", rep.id, s.name, s.status, phase=s.phase,
                                                                 exit_code=s.exit_code, duration_s=s.duration_s),
                                 on_step_start=lambda name, ph: self.bus.emit("step_start", rep.id, name, phase=ph))
        result = runbook.run_runbook(book, bnd, env, self.workdir, hooks, step_timeout_s=self.config.step_timeout_s)
        rep.steps = list(result.steps)
        rep.backups = list(result.backups)
        rep.snapshots = list(result.snapshots)
        rep.phases.extend(phase_records(result.phases, rep.steps))
        rep.disasters = list(self.state.disasters)
        self._ensure_infra_alive()
        if result.error:
            self._judge_unreadable_storage(result.error)
            raise HarnessFault(result.error) if self.state.manifest is None else _HookError(result.error)
        restore_s = restore_steps_s(rep.steps)  # the procedure's restore steps only: the RTO (issue 19)
        restored_ok = any(s.phase == "restore" for s in rep.steps)
        rep.metrics.update(self._metrics(result, restore_s))
        with self._phase("checks"), contextlib.ExitStack() as stack:
            assert self.db is not None
            target_db = self.state.restore_db or self.db
            api_url = self._api_for_checks(bnd, target_db, stack)
            restored_mark, ledger_note = self._ledger_restored(target_db, restored_ok)
            ci = CheckInputs(
                system=sysdef, db=target_db,
                client_bins=binaries.client_for(target_db.major) if self.spec.upgrade else client,
                manifest=self.state.manifest, backup=rep.backups[-1] if rep.backups else None,
                restore_steps=[s for s in rep.steps if s.phase == "restore"],
                restore_s=restore_s if restored_ok else None,
                s3_client=self.bucket.endpoint.client() if self.bucket else None,
                bucket=self.bucket.name if self.bucket else None, prefix=sysdef.storage_prefix,
                snapshot=self._restored_snapshot(rep), last_write_at=self.state.last_write_at,
                newest_write_before=self._newest_write_before(),
                newest_write_restored=restored_mark, ledger_note=ledger_note,
                ledger_manifest_mark=self.state.ledger_seeded_at, backup_note=result.backup_note,
                migration_apply=self._migration_apply(target_db), smoke=self._smoke(target_db),
                rto_s=rep.targets.rto_s, rpo_s=rep.targets.rpo_s,
                api_base_url=api_url, sample_ids=self.state.sample_ids,
                retention=self._retention_locations(),
            )
            rep.checks = run_checks(ci, emit=self._emit_check)
        self._ensure_infra_alive()  # a server lost during the checks makes their verdicts meaningless
        rto = next((c for c in rep.checks if c.name == "rto"), None)
        # A recovery time exists only for a restore that restored (the rto check says so): else null.
        restored = restored_ok and (rto is None or rto.evidence.get("restored", True) is not False)
        rep.metrics["rto_s"] = restore_s if restored else None
        rpo = next((c for c in rep.checks if c.name == "rpo"), None)
        rep.metrics["rpo_s"] = rpo.observed if rpo is not None and isinstance(rpo.observed, int | float) else None

    def _judge_unreadable_storage(self, error: str) -> None:
        """When the harness's own reads stopped on objects S3 will not give back as they are (a cold storage
        class, access denied), the backup failed the drill: raise StorageUnreadable naming each object,
        the cause and what an operator must do (instead of an errored drill with a private exception)."""
        from restore_drill.checks.storage import UNREADABLE_CODES, unreadable_objects

        if not any(code in error for code in UNREADABLE_CODES):
            return
        lines: list[str] = []
        for b in self.buckets:
            lines += unreadable_objects(b.endpoint.client(), b.name)
        if not lines:
            lines = [f"{error} (the object is not named by S3's answer: check the storage class and the "
                     "access policy of the backup's objects)"]
        shown = "; ".join(lines[:50]) + (f"; (+{len(lines) - 50} more)" if len(lines) > 50 else "")
        raise StorageUnreadable(f"the backup's storage cannot be read back as it is: {len(lines)} object(s) "
                                f"refused: {shown}")

    def _newest_write_column(self) -> str | None:
        """``[targets] newest_write`` of the definition ("schema.table.column"), or None: then the harness's
        write ledger measures the data-loss window."""
        value = (self.system.raw.get("targets") or {}).get("newest_write")
        return str(value) if value else None

    def _newest_write_before(self) -> str | None:
        """The newest write committed before the disaster: the ledger's last beat or, when the disaster
        itself wrote later (late-writes), that write. ISO-8601 UTC, or None when nothing was written."""
        if self._newest_write_column():  # the system's own column, declared in its definition
            marks = [m for m in (self.state.own_before_disaster, self.state.last_write_at) if m]
            return max(marks, key=parse_time) if self.state.own_before_disaster else None
        marks = [m for m in (self.state.ledger_before_disaster, self.state.ledger_seeded_at,
                             self.state.last_write_at) if m]
        if not marks:
            return None
        return max(marks, key=parse_time)

    def _ledger_restored(self, db: Database, restored_ok: bool) -> tuple[str | None, str]:
        """(newest ledger beat present in the restored database, how it was read). None with the reason
        when no restore ran or the ledger did not come back (e.g. a table-scoped restore)."""
        from restore_drill.seeds import ledger

        if not restored_ok:
            return None, "no restore step ran"
        column = self._newest_write_column()
        if column:
            try:
                with self._conn(db) as conn:
                    got = ledger.newest_in_column(conn, column)
            except Exception as e:  # noqa: BLE001 - an unreadable restore is "not measured"
                return None, f"{column} could not be read in the restore ({type(e).__name__})"
            return got, (f"newest {column} in the restored database (the definition's newest_write)" if got
                         else f"{column} holds no row in the restored database")
        try:
            with self._conn(db) as conn:
                got = ledger.newest(conn)
                present = got is not None or conn.execute("SELECT to_regclass(%s)", (ledger.TABLE,)).fetchone()[0]
        except Exception as e:  # noqa: BLE001 - an unreadable restore is "not measured", judged by the checks
            return None, f"the restored database could not be read ({type(e).__name__})"
        if got is None:  # worded by what the restore did, whatever kind of restore it was
            return None, (f"the write ledger ({ledger.TABLE}) holds no beat in the restored database" if present
                          else f"the write ledger ({ledger.TABLE}) is not in the restored database: the restore "
                          "did not bring its table back")
        before = self.state.ledger_before_disaster
        if before is not None and parse_time(got) >= parse_time(before):
            # The disaster did not touch the ledger (e.g. it truncated only the tables under test), so
            # its newest beat shows what survived, not what the restore brought back.
            return None, (f"the write ledger ({ledger.TABLE}) was not lost by the disaster, so it cannot show "
                          "what the restore brought back")
        return got, f"newest beat of {ledger.TABLE} in the restored database"

    def _ensure_infra_alive(self) -> None:
        """A Postgres or moto server that died during the drill (killed, crashed, OOM) makes it errored with
        that cause, not failed: the procedure was not what broke."""
        for srv in self.servers_used:
            proc = getattr(srv, "proc", None)
            if proc is not None and proc.poll() is not None:
                tail = srv.log_tail(300).replace("\n", " | ") if hasattr(srv, "log_tail") else ""
                raise InfraUnavailable(f"the PostgreSQL {srv.major} server (pid {proc.pid}) died during the drill "
                                       f"({_exit_text(proc.returncode)}); nothing it held can be judged. "
                                       f"Server log: {tail}")
        s3 = self.infra._s3
        proc = getattr(s3, "proc", None) if s3 is not None and self.buckets else None
        if proc is not None and proc.poll() is not None:
            raise InfraUnavailable(f"the moto S3 server (pid {proc.pid}) died during the drill "
                                   f"({_exit_text(proc.returncode)}); storage steps and checks cannot be judged")

    def _api_for_checks(self, bnd: Any, db: Database, stack: contextlib.ExitStack) -> str | None:
        """api_probe needs an API: the user's (API_BASE_URL in the binding's variables) or, for systems
        whose binding declares one, the project's stand-in over the restored database and bucket."""
        given = bnd.variables.get("API_BASE_URL")
        if given:
            return str(given)
        if bnd.standin is None or self.bucket is None:
            return None
        from .standin_api import StandinApi

        api = StandinApi(db.url, self.bucket.endpoint.client(), self.bucket.name, self.system.storage_prefix or "",
                         lecture_sql=bnd.standin.lecture_sql, key_sql=bnd.standin.key_sql, redactor=self.redact)
        url = api.start()
        stack.callback(api.stop)
        return url

    def _retention_locations(self) -> Any:
        loc = self.config.backup_history
        if loc is None:
            return None
        if loc.startswith("s3://"):
            from restore_drill.checks.retention import S3Location

            bucket, _, prefix = loc[5:].partition("/")
            return S3Location(self.infra.s3.endpoint.client(), bucket, prefix)
        path = Path(loc)
        if not path.is_dir():
            raise BadInput(f"--backup-history {loc} is not a folder (or an s3://bucket/prefix)")
        return path

    def _emit_check(self, r: CheckResult) -> None:
        self.bus.emit("check", self.report.id, r.name, r.status.value, message=r.message)

    def _bucket(self, hint: str, role: str = "") -> Bucket:
        # [names] buckets: the bucket carries the name the runbook uses (moto only); else a unique one
        b = runbook.drill_bucket(self.infra, hint, runbook.load_binding(self.binding_path).names, role)
        self.buckets.append(b)
        return b

    def _metrics(self, result: runbook.RunbookResult, restore_s: float | None) -> dict[str, Any]:
        m: dict[str, Any] = {f"{k}_s": v.get("duration_s") for k, v in result.phases.items()}
        m["restore_s"] = restore_s
        # The harness's own observation, timed apart from the procedure (issue 19): digests and listings
        # around each restore step (observe_s), and the restore phase's wall time that includes them.
        m["observe_s"] = round(getattr(result, "observe_s", 0.0), 4)
        m["restore_phase_s"] = result.phases.get("restore", {}).get("duration_s")
        m["backup_bytes"] = sum(b.size_bytes for b in result.backups)
        if self.state.manifest is not None:
            m["rows"] = sum(t.row_count for t in self.state.manifest.tables.values())
            m["objects"] = len(self.state.manifest.objects)
            m["object_bytes"] = sum(o.size for o in self.state.manifest.objects.values())
        m["runbook_steps_failed"] = len(result.failed_steps)
        m["runbook_steps_not_run"] = len(result.not_run_steps)
        return m

    def _restored_snapshot(self, rep: DrillReport) -> Any:
        """The storage snapshot the restore really used. When the restore was pointed at another prefix
        than the one this backup wrote (e.g. another day's), it is recorded from its dated name, as taken
        at the very end of that day: the most favourable reading, so a pairing failure is never ours."""
        if not rep.snapshots:
            return None
        prefix = self.state.restore_prefix
        if not prefix:
            return rep.snapshots[-1]
        for s in rep.snapshots:
            if s.prefix.strip("/") == prefix.strip("/"):
                return s
        from restore_drill.checks.retention import date_in
        from restore_drill.records import SnapshotRecord

        day = date_in(prefix)
        if day is None:
            return rep.snapshots[-1]
        bucket = self.backup_bucket.name if self.backup_bucket else rep.snapshots[-1].bucket
        rec = SnapshotRecord(bucket, prefix, f"{day.isoformat()}T23:59:59.999Z", {})
        rep.snapshots.append(rec)
        return rec

    # -- hooks -------------------------------------------------------------------------------------
    def _require_named_tables(self, conn: Any, tables: list[str]) -> None:
        """Raise BadInput naming the first of ``tables`` (the definition's ``[database] tables``) that the
        seeded database does not have (``to_regclass`` is NULL), with the fix and the tables it does have."""
        missing = [t for t in tables if conn.execute("SELECT to_regclass(%s)", (t,)).fetchone()[0] is None]
        if missing:
            have = ", ".join(sorted(self.state.manifest.tables)[:8]) if self.state.manifest else ""
            raise BadInput(f"{self.system.path}: [database] tables names {', '.join(missing)}, which "
                           f"{self.system.name}'s seeded database does not have: fix the name or remove it"
                           + (f" (its tables: {have})" if have else ""))

    def _conn(self, db: Database | None = None) -> Any:
        target = db or self.db
        assert target is not None
        return target.connect(autocommit=True)

    def _hook_seed(self, ctx: runbook.HookContext) -> runbook.HookOutcome:
        sysdef, cfg = self.system, self.config
        t0 = time.monotonic()
        with self._conn() as conn:
            client = self.bucket.endpoint.client() if self.bucket else None
            summary = self._hooks().load(conn, client, self.bucket.name if self.bucket else None,
                                         sysdef.storage_prefix, seed=cfg.seed, scale=cfg.scale,
                                         large_objects=cfg.large_objects)
            self.state.seeded = summary
            self.state.sample_ids = self._hooks().sample_ids(conn, 3, cfg.seed)
            from restore_drill.seeds import ledger

            self.state.ledger_seeded_at = ledger.beat(conn, "seeded")  # the system "runs" up to the backup
            # The manifest is taken here, right before the backup runs: writes after it show up as loss.
            self.state.manifest = take_manifest(
                conn, system=sysdef.name, seed=cfg.seed, scale=cfg.scale, schemas=sysdef.schemas,
                s3_client=client, bucket=self.bucket.name if self.bucket else None, prefix=sysdef.storage_prefix)
            if sysdef.tables is None:  # tables = "all" in schemas holding none: bad input, not a drill over nothing
                require_tables(conn, list(self.state.manifest.tables), sysdef.schemas, sysdef.path, sysdef.name)
            else:  # a named table the seed did not create: bad input now, not a disaster hook's SQL error later
                self._require_named_tables(conn, list(sysdef.tables))
        for t in getattr(sysdef, "exclude_data", ()):  # [database] exclude_data: rows left out on purpose; schema kept, rows absent
            if t in self.state.manifest.tables:
                self.state.manifest.tables[t] = replace(self.state.manifest.tables[t], row_count=0, digest="0")
        self.state.manifest.source_findings = self._source_findings(self.state.manifest)
        self.state.manifest.save(self.run_dir / f"{self.spec.name}.manifest.json")
        rows = sum(t.row_count for t in self.state.manifest.tables.values())
        placeholders = ({sysdef.sample_id_placeholder: str(self.state.sample_ids[0])}
                        if self.state.sample_ids and sysdef.sample_id_placeholder else {})
        return runbook.HookOutcome(
            summary=f"seeded {sysdef.name} (seed {cfg.seed}, scale {cfg.scale}): {rows} rows, "
                    f"{len(self.state.manifest.objects)} objects in {time.monotonic() - t0:.2f}s; manifest taken",
            placeholders=placeholders)

    def _source_findings(self, manifest: Manifest) -> dict[str, Any]:
        """Defects the source already has at backup time (sequence behind its data, invariant violated,
        orphan rows), recorded in the manifest so the restore is judged against them, not blamed."""
        from restore_drill.checks.context import CheckContext
        from restore_drill.checks.registry import source_findings

        assert self.db is not None
        return source_findings(CheckContext(system=self.system, db=self.db,
                                            client_bins=self.servers_used[0].client_bins, manifest=manifest,
                                            backup=None, restore_steps=[], restore_s=None,
                                            s3_client=self.bucket.endpoint.client() if self.bucket else None,
                                            bucket=self.bucket.name if self.bucket else None,
                                            prefix=self.system.storage_prefix))

    def _hook_disaster(self, ctx: runbook.HookContext) -> runbook.HookOutcome:
        spec = self.spec
        variables: dict[str, str] = {}
        records: list[Any] = []
        summary = []
        if self.db is not None and self.state.manifest is not None:
            from restore_drill.seeds import ledger

            with self._conn() as conn:  # the system kept writing until the disaster struck
                self.state.ledger_before_disaster = ledger.beat(conn, "before-disaster")
                if self._newest_write_column():
                    self.state.own_before_disaster = ledger.newest_in_column(conn, self._newest_write_column())
        if spec.upgrade:
            _, newest = self._majors()
            srv = self.infra.postgres(newest)
            self.servers_used.append(srv)
            new_db = runbook.drill_database(srv, runbook.load_binding(self.binding_path).names)
            self.redact.add(new_db.password)
            self.state.restore_db = new_db  # empty, as a freshly provisioned server's database is
            url_vars = ("DATABASE_URL", *self.system.database_url_variables)
            env_new = bind(db=new_db, client_bins=srv.client_bins, workdir=self.workdir,
                           database_url_variables=self.system.database_url_variables)
            variables.update({k: env_new.variables[k] for k in url_vars})
            variables["PATH"] = env_new.as_env()["PATH"]
            summary.append(f"old server retired: restore goes to a new PostgreSQL {srv.major} database")
        if spec.disaster is not None:
            assert self.db is not None
            snap = ctx.snapshots[-1] if ctx.snapshots else None
            backup = ctx.backups[-1] if ctx.backups else None
            dctx = disasters.DisasterContext(
                db=self.db, tables=list(self.system.tables or (sorted(self.state.manifest.tables) if self.state.manifest else [])),
                seed=self.config.seed, allow_destructive=self.config.allow_destructive,
                bucket=self.bucket, prefix=self.system.storage_prefix or "", backup_bucket=self.backup_bucket,
                snapshot_prefix=snap.prefix if snap else None, backup_date=ctx.backup_date,
                backup_at=backup.finished_at if backup else None, write_row=self._late_writer(),
                workdir=self.workdir,
            )
            rec = disasters.inject(spec.disaster, dctx)
            self.state.disasters.append(rec)
            records.append(rec)
            summary.append(f"{spec.disaster}: {rec.details.get('summary', '')}".rstrip(": "))
            if rec.details.get("last_write_at"):
                self.state.last_write_at = str(rec.details["last_write_at"])
            prefix = disasters.restore_prefix(rec)
            if prefix:
                variables["RESTORE_PREFIX"] = prefix
                self.state.restore_prefix = prefix
        return runbook.HookOutcome(summary="; ".join(summary) or "no disaster", variables=variables, records=records)

    def _hook_write_smoke(self, ctx: runbook.HookContext) -> runbook.HookOutcome:
        """Stands in for the operators' smoke job (a script of theirs the runbook only names)."""
        target = self.state.restore_db or self.db
        assert target is not None
        pair = self._smoke(target)
        if pair is None:
            return runbook.HookOutcome(ok=False, summary=f"system {self.system.name} declares no smoke flow")
        flow, cleanup = pair
        info = flow()
        cleanup(info)
        return runbook.HookOutcome(summary=f"write smoke succeeded and was cleaned up ({', '.join(sorted(info))})")

    def _hooks(self) -> SystemHooks:
        return hooks_for(self.system)

    def _late_writer(self) -> Any:
        return self._hooks().late_writer()

    def _migration_apply(self, db: Database) -> Any:
        return self._hooks().migration(db)

    def _smoke(self, db: Database) -> Any:
        client = self.bucket.endpoint.client() if self.bucket else None
        return self._hooks().smoke(db, client, self.bucket.name if self.bucket else None, self.system.storage_prefix)

    # -- tear-down ---------------------------------------------------------------------------------
    def _teardown(self) -> None:
        for db in (self.state.restore_db, self.db):
            if db is not None:
                with contextlib.suppress(Exception):
                    self.infra.drop(db)
        # Emptied and deleted in the background (Infra.retire_buckets; a moto that died is not restarted for
        # it): the next use of the S3 server, the next drill's included, and the run's end wait for it.
        self.infra.retire_buckets(list(self.buckets))
        self.buckets.clear()
        # The runbook's private HOME holds .aws/credentials with the S3 keys: it must not outlive the drill.
        shutil.rmtree(self.workdir / ".home", ignore_errors=True)


class _Background:
    """Run ``fn`` in a thread now; ``wait()`` joins it, ``result()`` returns its value or raises its error."""

    def __init__(self, fn: Any) -> None:
        self._value: Any = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._value = fn()
            except BaseException as e:  # noqa: BLE001 - handed to result()
                self._error = e

        self._thread = threading.Thread(target=run, name="restore-drill-infra", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> Any:
        self.wait()
        if self._error is not None:
            raise self._error
        return self._value


def restore_steps_s(steps: list[Any]) -> float | None:
    """The recovery time of a run: the sum, in recorded order, of ``duration_s`` (seconds, as recorded)
    of the steps whose phase is "restore" (a step not run counts its recorded 0.0); None when the run has
    no restore step.

    Only the procedure's own time counts: the harness's observation around each step (table digests,
    object listings: RunbookResult.observe_s) and its bookkeeping are outside every step's duration."""
    durations = [s.duration_s for s in steps if s.phase == "restore"]
    return sum(durations) if durations else None


def phase_records(phases: dict[str, dict[str, Any]], steps: list[Any]) -> Iterator[PhaseRecord]:
    """One PhaseRecord per phase the runbook ran, in drill order (setup, seed, backup, disaster, restore,
    verify): ``phases`` is RunbookResult.phases (name -> {"started_at": ISO-8601 UTC, "duration_s": seconds});
    a phase is "failed" when one of its ``steps`` failed or errored, else "passed". Phases not run are left out.
    Yields them one at a time (``rep.phases.extend(...)`` keeps those made before a malformed entry raises)."""
    for name in ("setup", "seed", "backup", "disaster", "restore", "verify"):
        ph = phases.get(name)
        if ph is not None:
            bad = [s for s in steps if s.phase == name and s.status in ("failed", "errored")]
            yield PhaseRecord(name, ph["started_at"], ph["duration_s"], "failed" if bad else "passed")

def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        import signal

        return f"killed by signal {-code} ({signal.Signals(-code).name})"
    return f"exit status {code}"


class _HookError(DrillError):
    """A drill hook (seed, disaster) failed mid-procedure: the drill cannot be judged."""
