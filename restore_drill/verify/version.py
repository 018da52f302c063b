"""One target version of ``verify-backup``: a fresh disposable database of that version, the archive
restored into it with that version's own ``pg_restore``, then the checks; one ``DrillReport``
(``verify-backup[pg16]``) per version."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from restore_drill.checks._util import libpq_env
from restore_drill.checks.backup import restore_exit_status
from restore_drill.fixtures.binaries import PgBinaries
from restore_drill.fixtures.database import Database
from restore_drill.fixtures.infra import Infra
from restore_drill.foundation import utcnow
from restore_drill.reports.model import DrillReport, ErrorInfo, RestoreTarget, Targets

from ..errors import DrillError, HarnessFault
from ..events import EventBus, phase
from ..procs import run
from ..records import BackupRecord, SnapshotRecord, StepRecord
from ..redact import Redactor
from .checks import backup_artifact, db_checks, early_plan
from .coverage import HARMLESS_PUBLIC_SCHEMA, excuse_known
from .early import EarlyChecks
from .inputs import Inputs

DRILL_NAME = "verify-backup"
RESTORE_FLAGS = ("--no-owner", "--no-privileges")  # a fresh cluster has none of the source's roles


class Prestart:
    """The first target's disposable database and ``pg_restore`` begun in a thread while the archive is
    still being read (issue 19: the read cost 0.62-0.84 s before any restore started). Only ``path`` is
    read here, never the archive's ``ArchiveInfo`` (the reading thread fills it). ``db`` and ``restore``
    are futures: the database, then (argv, started-at ISO time, procs.run result); an exception in the
    thread is set on both that were not yet resolved."""

    def __init__(self, infra: Infra, tool: PgBinaries, major: int, path: Path, timeout_s: float,
                 redact: Redactor) -> None:
        self.infra, self.tool, self.major, self.path = infra, tool, major, path
        self.timeout_s, self.redact = timeout_s, redact
        self.claimed = False  # verify_version took it over (and drops its database)
        # For an interrupted run's report: when this began (its database being created) and when its
        # pg_restore started (ISO UTC, and time.monotonic() then; None until it has).
        self.begun_at, self.begun_t = utcnow(), time.monotonic()
        self.started_at: str | None = None
        self.started_t = 0.0
        self.db: Future[Database] = Future()
        self.restore: Future[tuple[list[str], str, Any]] = Future()
        self._thread = threading.Thread(target=self._run, name="verify-backup-prestart", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            db = self.infra.postgres(self.major).create_database(name=f"verify_{uuid.uuid4().hex[:10]}")
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it as before
            self.db.set_exception(e)
            self.restore.set_exception(e)
            return
        self.db.set_result(db)
        try:
            argv = restore_argv(self.tool, db, self.path)
            started = utcnow()
            self.started_t, self.started_at = time.monotonic(), started
            self.restore.set_result((argv, started, run(argv, env=libpq_env(db), timeout_s=self.timeout_s,
                                                        redactor=self.redact)))
        except BaseException as e:  # noqa: BLE001 - as above
            self.restore.set_exception(e)

    def abandon(self) -> None:
        """The archive turned out unusable (or the run was interrupted): wait for the thread (its
        ``pg_restore`` ends by itself or at its timeout), then drop the database it made."""
        self._thread.join()
        if self.db.exception() is None:
            with contextlib.suppress(Exception):
                self.infra.drop(self.db.result())


class Dropper:
    """Drops the run's disposable databases in the background (``DROP DATABASE ... WITH (FORCE)`` took
    0.12 s at the end of each version, after its checks, on the run's critical path; issue 19) while
    the run goes on to its next version or its report. ``wait`` joins every drop and retries, here and
    now, one that raised (say the next version's server starting at that moment); the run calls it
    before it returns or stops its servers, so nothing is left behind. A retry that fails too is
    ignored, as ``verify_version``'s own drop always was (the server's tear-down removes the data
    directory)."""

    def __init__(self, infra: Infra) -> None:
        self.infra = infra
        self._threads: list[threading.Thread] = []
        self._failed: list[Database] = []

    def drop(self, db: Database) -> None:
        """Start dropping ``db``; returns at once."""
        def run_drop() -> None:
            try:
                self.infra.drop(db)
            except Exception:  # noqa: BLE001 - retried by wait()
                self._failed.append(db)

        t = threading.Thread(target=run_drop, name=f"verify-backup-drop-{db.name}", daemon=True)
        t.start()
        self._threads.append(t)

    def wait(self) -> None:
        """Return once every drop started here has finished (a failed one retried once)."""
        for t in self._threads:
            t.join()
        for db in self._failed:
            with contextlib.suppress(Exception):
                self.infra.drop(db)
        self._threads, self._failed = [], []


def restore_argv(tool: PgBinaries, db: Database, path: Path) -> list[str]:
    """``pg_restore`` of ``path`` into ``db`` with ``tool``'s own version (argv as strings)."""
    return [str(tool.tool("pg_restore")), *RESTORE_FLAGS, "--dbname", db.name, str(path)]


def verify_version(infra: Infra, tool: PgBinaries, inp: Inputs, unreadable: str | None,
                   check_s: float, *, major: int | None = None, prestart: Prestart | None = None,
                   on_restored: Callable[[], None] | None = None,
                   drop: Callable[[Database], None] | None = None) -> DrillReport:
    """Restore ``inp.archive`` into a fresh database of ``tool``'s version on ``infra`` and check it.
    ``unreadable`` (from ``newer_than``) short-cuts to a failed ``backup_artifact``; ``check_s`` is that
    check's share of the reading time. Harness faults become an errored report, never a verdict; the
    database is always dropped. ``major``: the target server's version when it is not ``tool``'s (a
    server the user gives, restored with newer client tools). ``prestart``: this version's database and
    restore already begun (:class:`Prestart`); its results are awaited in the same phases.
    ``on_restored`` is called once this version's restore has ended (the run starts the next version's
    restore then, so it overlaps these checks); ``drop`` drops the database at the end (default
    ``infra.drop``, here and now; the run passes one that drops in the background and waits for it
    before it returns)."""
    a = inp.archive
    major = major or tool.major
    if prestart is not None:
        prestart.claimed = True
    rep = DrillReport(name=DRILL_NAME, id=f"{DRILL_NAME}[pg{major}]",
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
    rep.checks.append(backup_artifact(a, tool, unreadable, check_s))
    if unreadable is not None:
        if prestart is not None:
            prestart.abandon()
        return finish_version(rep, inp.events)
    db: Database | None = None
    try:
        with phase(inp.events, rep, "infra"):
            db = (prestart.db.result() if prestart is not None
                  else infra.postgres(major).create_database(name=f"verify_{uuid.uuid4().hex[:10]}"))
        rep.metrics["target_version"] = db.server_version  # the server's own, also when the client is newer
        rep.target = RestoreTarget(database=f"{db.name} (PostgreSQL {db.server_version}, disposable)",
                                   bucket=inp.snapshot.bucket if inp.snapshot else "",
                                   prefix=(inp.snapshot.prefix or "") if inp.snapshot else "")
        early: EarlyChecks | None = None
        with phase(inp.events, rep, "restore"):
            if prestart is not None:
                early = EarlyChecks(db, prestart.restore, early_plan(inp), amcheck=True, timeout_s=inp.timeout_s,
                                    server_pid=infra.postgres(major).pid)
                argv, started, done = prestart.restore.result()
            else:
                argv = restore_argv(tool, db, a.path)
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
            known = [HARMLESS_PUBLIC_SCHEMA] if any(e.desc == "SCHEMA" and e.key == "- public"
                                                    for e in a.entries) else []
            rep.checks.append(excuse_known(restore_exit_status(
                done.exit_code, inp.redact(done.stderr), [*allow, *(p for p, _ in known)]), known))
        if on_restored is not None:
            on_restored()
        with phase(inp.events, rep, "checks"):
            kept = early.results() if early is not None else {}
            rep.metrics["early_checks"] = early.outcome if early is not None else "not tried (no restore in a thread)"
            rep.checks.extend(db_checks(db, inp, kept, early.indexes_checked if early is not None else []))
    except DrillError as e:
        rep.error = ErrorInfo.from_exception(e, inp.redact)
    except Exception as e:  # noqa: BLE001 - a harness bug must show as errored, never as a verdict
        rep.error = ErrorInfo.from_exception(HarnessFault(f"{type(e).__name__}: {e}"), inp.redact)
    finally:
        if db is not None:
            with contextlib.suppress(Exception):
                (drop or infra.drop)(db)
    rep.metrics["verify_s"] = round(sum(p.duration_s for p in rep.phases) + check_s, 3)
    return finish_version(rep, inp.events)


def finish_version(rep: DrillReport, events: EventBus) -> DrillReport:
    """Close ``rep`` and announce its checks and end on ``events`` (the progress display)."""
    rep.finish()
    for c in rep.checks:
        events.emit("check", rep.id, c.name, c.status.value, message=c.message)
    events.emit("drill_end", rep.id, status=rep.status)
    return rep
