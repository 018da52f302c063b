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
from restore_drill.interrupts import describe, note_run_dir
from restore_drill.reports.environment import capture_environment, probe_tool_versions
from restore_drill.reports.model import ErrorInfo, PostgresInfo, RunReport, S3Info
from restore_drill.reports.render import jinja_env
from restore_drill.reports.validation import load_schema
from restore_drill.seeds.manifest import Manifest

from .. import runfolder
from ..config import DrillConfig, resolve
from ..errors import BadInput
from ..events import EventBus
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
    snap: Snapshot | None = None
    if storage_snapshot is not None:
        snap = open_snapshot(storage_snapshot, s3_endpoint=endpoint, access_key=cfg.s3_access_key,
                             secret_key=cfg.s3_secret_key, region=cfg.s3_region)
    redact = Redactor([cfg.s3_secret_key or "", cfg.s3_access_key or "", cfg.pg_url or ""])
    own = infra is None
    infra = infra if infra is not None else Infra.from_config(cfg)
    prestarts: dict[int, Prestart] = {}  # by index in targets
    dropper = Dropper(infra)
    try:
        # A server the user gives runs one version: that is the target (connecting also checks the URL).
        given = infra.postgres(None) if pg_registry.get(infra.pg_backend).user_given else None
        targets, notes = choose_targets(versions, archive, given)
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

        run_dir = runfolder.create(report_dir)
        interrupt: KeyboardInterrupt | None = None
        report = RunReport(run_id=run_dir.name, command=[redact(x) for x in argv],
                           environment=capture_environment(), started_at=utcnow())
        try:
            for i, b in enumerate(targets):
                # Each later version's restore starts when this one's has ended, so it runs while this
                # version is checked (the restores themselves never overlap: each is timed alone).
                nxt = next((j for j in restorable if j > i), None)
                report.drills.append(verify_version(
                    infra, b, inp, unreadable[b.major], check_s, major=given.major if given is not None else None,
                    prestart=prestarts.get(i), on_restored=functools.partial(begin, nxt) if nxt is not None else None,
                    drop=dropper.drop))
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (interrupts.Terminated)
            kind, why = describe(e)
            report.error = ErrorInfo(kind, f"{why}; infrastructure was torn down")
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
    finally:
        for p in prestarts.values():
            if not p.claimed:  # a raise before its version ran: drop its database
                p.abandon()
        dropper.wait()
        if own:
            infra.close()
    return report, run_dir


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
