"""``restore-drill verify-backup``: does this dump restore, completely, into each Postgres we run or
move to, and does it agree with its object-storage snapshot?

Flow: read the archive's header and table of contents, then its every data block (see ``archive``) while
the first target's restore already runs in a thread (``version.Prestart``); per target version
(``version``) restore it with that version's own ``pg_restore`` into a fresh disposable
database, run every check that needs no source, plus the manifest and storage checks when given
(``checks``). One ``DrillReport`` per version (``verify-backup[pg16]``) and a version x check matrix; a
version is a safe upgrade target when its drill passed (``verdict``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from restore_drill.checks.result import CheckResult
from restore_drill.checks.storage import object_integrity
from restore_drill.fixtures import binaries
from restore_drill.fixtures.binaries import PgBinaries
from restore_drill.fixtures.infra import Infra
from restore_drill.fixtures.postgres import registry as pg_registry
from restore_drill.foundation import utcnow
from restore_drill.interrupts import describe, note_run_dir, run_dir_of
from restore_drill.reports.environment import capture_environment, probe_tool_versions
from restore_drill.reports.model import DrillReport, ErrorInfo, PhaseRecord, PostgresInfo, RunReport, S3Info
from restore_drill.reports.render import jinja_env
from restore_drill.reports.validation import load_schema
from restore_drill.seeds.manifest import Manifest

from .. import runfolder
from ..config import DrillConfig, resolve
from ..errors import BadInput
from ..events import Event, EventBus
from ..redact import Redactor
from ..runfolder import HISTORY_NAME
from .archive import list_archive, read_archive
from .inputs import Inputs, choose_system, choose_targets, newer_than, snapshot_manifest
from .snapshot import Snapshot, open_snapshot
from .verdict import build_matrix, manifest_mismatch, manifest_mismatch_text, verdict_text
from .version import DRILL_NAME, Dropper, Prestart, verify_version

VERDICT_FILE = "verdict.txt"


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
    config: DrillConfig | None = None,
    started_at: str | None = None,
) -> tuple[RunReport, Path]:
    """Verify ``dump`` into every target version and write the run folder; returns (report, run folder).

    ``config`` says where Postgres runs (any ``--pg-backend``: with a server the user gives, that server's
    version is the one target) and where an ``s3://`` snapshot is read (``s3_endpoint`` and keys;
    ``s3_endpoint`` given here wins); without it the configuration is resolved as the CLI does
    (environment, ``[tool.restore-drill]``, defaults).

    Raises ``BadInput`` (nothing written) when the file is unusable or an option is wrong: missing,
    empty, truncated, corrupted, plain SQL, not an archive, newer than every ``pg_restore`` (or every
    requested version's), unreadable manifest or snapshot, a version the given server does not run.
    ``infra`` lets a caller share servers (tests); otherwise servers are started here, one per version,
    and stopped before returning. ``events`` receives phases and check results as they happen (the
    CLI's progress display). The run folder follows ``runfolder``: on a full report disk the report
    goes to the fallback folder and the run is errored.

    ``started_at`` (ISO UTC, default now): when the command started; the report's ``started_at``, so its
    ``duration_s`` counts the archive read too. The run folder and report exist from the start: a
    Ctrl-C or SIGTERM (``KeyboardInterrupt``) at any point, the archive read included, writes the
    errored report saying what was in progress ("interrupted (Ctrl-C) during reading the archive's data
    blocks; …"), one drill per target version with its phases so far, and is re-raised with the folder
    noted (``interrupts.note_run_dir``). A ``BadInput`` raised before any version ran removes the
    still-empty folder (the CLI writes the errored report for it, as before).
    """
    cfg = config if config is not None else resolve({"s3_endpoint": s3_endpoint})
    endpoint = s3_endpoint or cfg.s3_endpoint
    events = events if events is not None else EventBus()
    dump = Path(dump)
    if timeout_s <= 0:
        raise BadInput(f"--step-timeout must be > 0 seconds, got {timeout_s:g}")
    if manifest is not None and not Path(manifest).is_file():
        raise BadInput(f"--manifest {manifest} does not exist: pass the <drill>.manifest.json a drill wrote "
                       "at backup time, or one you made with take_manifest")
    for v in versions or ():
        binaries.select(v)  # BadInput naming the versions found
    started_at = started_at or utcnow()
    redact = Redactor([cfg.s3_secret_key or "", cfg.s3_access_key or "", cfg.pg_url or ""])
    run_dir = runfolder.create(report_dir)
    report = RunReport(run_id=run_dir.name, command=[redact(x) for x in argv],
                       environment=capture_environment(), started_at=started_at)
    progress = _Progress()
    events.sinks.append(progress)
    try:
        return _verify(dump, versions, storage_snapshot, manifest, system, report_dir, run_dir, report, progress,
                       cfg, endpoint, redact, infra, timeout_s, events)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (interrupts.Terminated), before the drills ran
        if run_dir_of(e) is None:  # not yet written by the drills' own finally
            if report.error is None:  # interrupted before _verify could say what was under way
                _interrupted_report(report, e, progress)
            written = runfolder.write(report, run_dir, history=report_dir / HISTORY_NAME)
            note_run_dir(e, written)  # the CLI prints where the errored report is
        raise
    except BaseException:
        if not report.drills:  # bad input (or a fault) before any version ran: the CLI reports it
            with contextlib.suppress(OSError):
                run_dir.rmdir()  # only while still empty
        raise
    finally:
        with contextlib.suppress(ValueError):
            events.sinks.remove(progress)


def _verify(dump: Path, versions: list[int] | None, storage_snapshot: str | None, manifest: Path | None,
            system: str | None, report_dir: Path, run_dir: Path, report: RunReport, progress: _Progress,
            cfg: DrillConfig, endpoint: str | None, redact: Redactor, infra: Infra | None, timeout_s: float,
            events: EventBus) -> tuple[RunReport, Path]:
    """The body of :func:`verify_backup` once its run folder and report exist."""
    tools = list(binaries.discover())
    t0 = time.monotonic()
    events.emit("phase_start", DRILL_NAME, "read")
    status = "errored"
    try:  # header + table of contents only: the data blocks are read while the first version restores
        archive, reader = list_archive(dump, tools, timeout_s=timeout_s)
        status = "passed"
    finally:  # the spinner stops on a bad file too, before its one-line error
        read_s = time.monotonic() - t0
        events.emit("phase_end", DRILL_NAME, "read", status, duration_s=read_s)
    # The report writers' one-time set-up (templates compiled, the report schema checked: 0.3 s of a fresh
    # process's report writing, on the critical path after the checks; issue 19) runs meanwhile.
    threading.Thread(target=_warm_report_writers, name="verify-backup-report-writers", daemon=True).start()
    man: Manifest | None = None
    if manifest is not None:
        try:
            man = Manifest.load(Path(manifest))
        except (ValueError, TypeError, KeyError) as e:
            raise BadInput(f"--manifest {manifest} is not a restore-drill manifest ({type(e).__name__}: "
                           f"{str(e)[:120]}): pass the <drill>.manifest.json a drill wrote") from None
    mismatch: str | None = None
    if man is not None:
        absent, common = manifest_mismatch(man, archive)
        if absent and not common:  # another database's manifest: nothing to compare, not a verdict on the dump
            raise BadInput(f"--manifest {manifest} does not describe this archive: none of its {len(absent)} "
                           f"table(s) ({', '.join(absent[:5])}{' …' if len(absent) > 5 else ''}) is in {dump.name}'s "
                           f"table of contents (database {archive.header.get('dbname', '?')}): pass the manifest "
                           "written when this dump was taken")
        mismatch = manifest_mismatch_text(str(manifest), man, archive)
    sysdef, how = choose_system(system, man, archive)
    progress.system = sysdef.name if sysdef else (archive.header.get("dbname") or "unknown")
    snap: Snapshot | None = None
    if storage_snapshot is not None:
        snap = open_snapshot(storage_snapshot, s3_endpoint=endpoint, access_key=cfg.s3_access_key,
                             secret_key=cfg.s3_secret_key, region=cfg.s3_region)
    own = infra is None
    infra = infra if infra is not None else Infra.from_config(cfg)
    prestarts: dict[int, Prestart] = {}  # by index in targets
    dropper = Dropper(infra)
    try:
        # A server the user gives runs one version: that is the target (connecting also checks the URL).
        given = infra.postgres(None) if pg_registry.get(infra.pg_backend).user_given else None
        targets, notes = choose_targets(versions, archive, given)
        progress.targets = [given.major if given is not None else b.major for b in targets]
        if not targets:
            raise BadInput(f"no PostgreSQL version found to verify {dump} into (archive from pg_dump "
                           f"{archive.dumped_by or '?'}): install it or pass --pg-version")
        t1 = time.monotonic()
        unreadable = {b.major: newer_than(archive, b, timeout_s) for b in targets}
        if all(unreadable.values()):
            newest = max(targets, key=lambda b: b.major)
            raise BadInput(f"{dump} was written by pg_dump {archive.dumped_by}, newer than every requested "
                           f"version's pg_restore (newest requested: {newest.version}): verify it with "
                           f"--pg-version {archive.dumped_by_major} or later")
        # Issue 19: the first restorable version's database and pg_restore start now, in a thread, while
        # this thread reads every data block; a bad block still raises BadInput here, after that restore
        # is awaited and its database dropped (servers stop in the finally below), so nothing is left.
        restorable = [i for i, b in enumerate(targets) if unreadable[b.major] is None]

        def begin(i: int) -> None:
            b = targets[i]
            prestarts[i] = Prestart(infra, b, given.major if given is not None else b.major, dump, timeout_s, redact)
            progress.prestarts[progress.targets[i]] = prestarts[i]

        if restorable:
            begin(restorable[0])
        t2 = time.monotonic()
        events.emit("phase_start", DRILL_NAME, "read data")
        status = "errored"
        try:
            read_archive(archive, reader, timeout_s=timeout_s)
            status = "passed"
        finally:
            data_s = time.monotonic() - t2
            events.emit("phase_end", DRILL_NAME, "read data", status, duration_s=data_s)
        check_s = round(read_s + data_s + (time.monotonic() - t1 - data_s) / len(targets), 3)
        objects = _object_integrity(snap, man)
        inp = Inputs(archive, man, sysdef, how, snap, objects, timeout_s, redact, events)

        interrupt: KeyboardInterrupt | None = None
        try:
            for i, b in enumerate(targets):
                # Each later version's restore starts when this one's has ended, so it runs while this
                # version is checked (the restores themselves never overlap: each is timed alone).
                nxt = next((j for j in restorable if j > i), None)
                rep = verify_version(
                    infra, b, inp, unreadable[b.major], check_s, major=given.major if given is not None else None,
                    prestart=prestarts.get(i), on_restored=functools.partial(begin, nxt) if nxt is not None else None,
                    drop=dropper.drop)
                rep.phases[:0] = progress.read_phases("passed")  # the archive read every version shares
                report.drills.append(rep)
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (interrupts.Terminated)
            _interrupted_report(report, e, progress)
            interrupt = e
            raise
        finally:
            report.matrix = build_matrix(report.drills)
            report.environment = _environment(infra.pg_backend, targets, snap, endpoint)
            run_dir = runfolder.write(
                report, run_dir, history=report_dir / HISTORY_NAME,
                extra=lambda r: {VERDICT_FILE: verdict_text(r, notes, archive, sysdef, how, manifest_given=man is not None,
                                                      mismatch=mismatch) + "\n"})
            if interrupt is not None:
                note_run_dir(interrupt, run_dir)  # the CLI prints where the errored report is
    except KeyboardInterrupt as e:  # before or between the drills: say what was under way, before tear-down
        if report.error is None:
            _interrupted_report(report, e, progress)
        raise
    finally:
        for p in prestarts.values():
            if not p.claimed:  # a raise before its version ran: drop its database
                p.abandon()
        dropper.wait()
        if own:
            infra.close()
    return report, run_dir


class _Progress:
    """An ``EventBus`` sink that remembers what the run has done and is doing, for the report of an
    interrupted run: the run-level archive read (``read``: header and table of contents, ``read data``:
    every data block) and each version's phases, open or ended. ``targets`` (majors) and ``prestarts``
    (major -> the restore begun in a thread while the archive is read) are filled in by the run."""

    READ_WHAT = {"read": "reading the archive's header and table of contents",
                 "read data": "reading the archive's data blocks"}

    def __init__(self) -> None:
        self.open: dict[tuple[str, str], tuple[str, float]] = {}  # (drill, phase) -> (started ISO, monotonic)
        self.ended: list[tuple[str, PhaseRecord]] = []  # (drill, phase), in the order they ended
        self.targets: list[int] = []
        self.system = "unknown"
        self.prestarts: dict[int, Prestart] = {}
        self._lock = threading.Lock()

    def __call__(self, e: Event, /) -> None:
        with self._lock:
            if e.kind == "phase_start":
                self.open[(e.drill, e.name)] = (utcnow(), time.monotonic())
            elif e.kind == "phase_end" and (e.drill, e.name) in self.open:
                started, _ = self.open.pop((e.drill, e.name))
                self.ended.append((e.drill, PhaseRecord(e.name, started, round(float(e.detail.get("duration_s", 0.0)), 3),
                                                        e.status if e.status in ("passed", "failed", "errored") else "errored")))

    def in_progress(self, finished: set[str]) -> list[str]:
        """What was under way, in words: "reading the archive's data blocks", "the restore phase of verify-backup[pg16]".
        A phase the interrupt ended has already announced its end, errored (the ``finally`` that emits it
        ran first): those count as under way too, but for drills in ``finished`` (ids of versions whose
        report is complete: their errored phases are findings of their own)."""
        with self._lock:
            names = [*((d, r.name) for d, r in self.ended if r.status == "errored" and d not in finished),
                     *self.open]
        doing = [self.READ_WHAT.get(n, f"the {n} phase") if d == DRILL_NAME else f"the {n} phase of {d}" for d, n in names]
        for major, p in self.prestarts.items():
            if p.claimed:  # its version's drill took it over: its phases say the rest
                continue
            if p.started_at is None:
                doing.append(f"creating PostgreSQL {major}'s database for the restore")
            elif not p.restore.done():
                doing.append(f"pg_restore into PostgreSQL {major} (begun while the archive was read)")
            else:
                doing.append(f"PostgreSQL {major}'s restore (ended, not yet checked)")
        return doing

    def read_phases(self, open_status: str = "errored") -> list[PhaseRecord]:
        """The archive read as the drills' ``setup`` phase (one record: header, table of contents and data
        blocks, from its start); a read still under way is ``open_status`` and timed until now."""
        with self._lock:
            done = [r for d, r in self.ended if d == DRILL_NAME and r.name in self.READ_WHAT]
            still = [(s, t) for (d, n), (s, t) in self.open.items() if d == DRILL_NAME and n in self.READ_WHAT]
        if not done and not still:
            return []
        started = done[0].started_at if done else still[0][0]
        took = sum(r.duration_s for r in done) + sum(time.monotonic() - t for _, t in still)
        status = open_status if still else ("passed" if all(r.status == "passed" for r in done) else "errored")
        return [PhaseRecord("setup", started, round(took, 3), status)]  # type: ignore[arg-type]

    def drill_phases(self, drill_id: str, major: int) -> list[PhaseRecord]:
        """``drill_id``'s phases so far: ended ones as recorded, open ones (and a restore begun in a thread
        while the archive was read) errored, timed until now."""
        now = time.monotonic()
        with self._lock:
            out = [dataclasses.replace(r) for d, r in self.ended if d == drill_id]
            out += [PhaseRecord(n, s, round(now - t, 3), "errored") for (d, n), (s, t) in self.open.items()
                    if d == drill_id]
        p = self.prestarts.get(major)
        if p is not None and not p.claimed:  # its database and restore, begun in a thread
            if p.started_at is None:
                out.append(PhaseRecord("infra", p.begun_at, round(now - p.begun_t, 3), "errored"))
            else:
                out.append(PhaseRecord("infra", p.begun_at, round(p.started_t - p.begun_t, 3), "passed"))
                out.append(PhaseRecord("restore", p.started_at, round(now - p.started_t, 3),
                                       "errored" if not p.restore.done() else "passed"))
        return out


def _interrupted_report(report: RunReport, e: KeyboardInterrupt, progress: _Progress) -> None:
    """Fill ``report`` for a run stopped by Ctrl-C or SIGTERM: the error says during what (and what had
    been done), and each target version that has no drill yet gets an errored one with its phases so far
    (the archive read as ``setup``; a restore begun in a thread as ``restore``)."""
    kind, why = describe(e)
    doing = progress.in_progress({d.id for d in report.drills})
    done = [f"{v} ({d.status})" for d, v in ((d, d.id) for d in report.drills)]
    msg = f"{why} during {' and '.join(doing) if doing else 'the run (between its phases)'}"
    if done:
        msg += f"; versions already verified: {', '.join(done)}"
    report.error = ErrorInfo(kind, f"{msg}; infrastructure was torn down")
    have = {d.id for d in report.drills}
    for major in progress.targets:
        drill_id = f"{DRILL_NAME}[pg{major}]"
        if drill_id in have:
            continue
        d = DrillReport(name=DRILL_NAME, id=drill_id, system=progress.system, started_at=report.started_at,
                        error=ErrorInfo(kind, f"{why} before this version's verification ended"))
        d.phases = [*progress.read_phases(), *progress.drill_phases(drill_id, major)]
        d.finish()
        report.drills.append(d)


def _warm_report_writers() -> None:
    """Compile every report template once (jinja caches it in ``render.jinja_env()``, which the pages
    use) and build the report validator (``validation.load_schema``: cached per process; its registry
    enums import their registries themselves, so building it early sees them whole). A failure here is
    left for the report writing to raise, where it is reported."""
    with contextlib.suppress(Exception):
        env = jinja_env()
        for name in env.list_templates():
            env.get_template(name)
        load_schema()


def _object_integrity(snap: Snapshot | None, man: Manifest | None) -> CheckResult | None:
    """object_integrity is the same for every version: computed once (None without a snapshot)."""
    if snap is None:
        return None
    if man is None:
        return CheckResult.skipped("object_integrity", "no --manifest given: the snapshot's objects have "
                                   "nothing to be compared with (pass the manifest written at backup time)")
    if not man.objects:
        return CheckResult.skipped("object_integrity", "the manifest lists no objects")
    objects = object_integrity(snap.client, snap.bucket, snap.prefix, snapshot_manifest(man, snap))
    if not snap.keeps_metadata:
        objects = dataclasses.replace(objects, message=objects.message.replace(
            "(sha256, size, content type, metadata)", "(sha256 and size; a folder keeps no content type "
            "or metadata)"))
    return objects


def _environment(pg_backend: str, targets: Sequence[PgBinaries], snap: Snapshot | None, endpoint: str | None) -> Any:
    tools = probe_tool_versions({f"pg_restore {b.major}": b.tool("pg_restore") for b in targets})
    newest = max(targets, key=lambda b: b.major)
    pg = PostgresInfo(pg_backend, ", ".join(b.version for b in targets), newest.version,
                      ", ".join(sorted({b.source for b in targets})))
    # A folder snapshot is recorded in each drill's target and snapshots, not as an S3 backend.
    s3 = S3Info("endpoint", endpoint or "") if snap is not None and snap.kind == "s3" else None
    return capture_environment(pg, s3, tools)
