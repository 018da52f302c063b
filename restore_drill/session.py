"""A run: one or more drills on shared disposable infrastructure, one run folder, one verdict.

Infrastructure is always torn down (success, failure, Ctrl-C); the report is always written, also when
the run errored before any drill started, so a scheduler never mistakes silence for a pass. When the
report folder's disk is full, the report goes to a fallback folder in the system temp dir instead.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from restore_drill.fixtures import binaries
from restore_drill.fixtures.infra import Infra
from restore_drill.fixtures.postgres import registry as pg_registry
from restore_drill.fixtures.s3 import registry as s3_registry
from restore_drill.foundation import utcnow
from restore_drill.reports.environment import capture_environment, probe_tool_versions
from restore_drill.reports.model import DrillReport, ErrorInfo, PostgresInfo, RunReport, S3Info
from restore_drill.reports.writers import new_run_dir, write_run

from . import runfolder
from .catalog import DrillSpec
from .config import DrillConfig
from .engine import Drill, load_procedure, procedure_files
from .errors import DrillError, HarnessFault
from .events import Event, EventBus, LogSink, ProgressSink
from .interrupts import describe, note_run_dir
from .pitr.matrix import upgrade_matrix
from .redact import Redactor
from .runfolder import HISTORY_NAME
from .systems import SystemDef, resolve_system


def _environment(config: DrillConfig, infra: Infra | None) -> Any:
    pg = s3 = None
    tools: dict[str, str] = {}
    with contextlib.suppress(DrillError):
        b = binaries.select(config.pg_version)
        pg = PostgresInfo(config.pg_backend, b.version, b.version, b.source)
        probes: dict[str, Path] = {t: b.tool(t) for t in ("pg_dump", "pg_restore", "psql") if b.has(t)}
        aws = Path(sys.executable).parent / "aws"
        if aws.exists():
            probes["aws"] = aws
        tools = probe_tool_versions(probes)  # concurrently, each once per process (issue 19)
    if infra is not None and infra._s3 is not None:
        s3 = S3Info(config.s3_backend, infra._s3.endpoint.url)
    elif config.s3_backend:
        s3 = S3Info(config.s3_backend, config.s3_endpoint or "")
    return capture_environment(pg, s3, tools)


class _SafeLog:
    """drill.log must never break a drill: on a full disk (or any write error) logging stops, the drill
    goes on, and the report says the log is incomplete."""

    def __init__(self, sink: LogSink) -> None:
        self.sink = sink
        self.failed: str | None = None

    def __call__(self, e: Event) -> None:
        if self.failed is not None:
            return
        try:
            self.sink(e)
        except OSError as err:
            self.failed = f"{self.sink.path}: {err.strerror or err}"


def preflight(specs: Sequence[DrillSpec], config: DrillConfig, infra: Infra, *, system: SystemDef | None = None,
              runbook_path: Path | None = None, binding_path: Path | None = None) -> None:
    """Everything that can be wrong with the input, checked before a run folder or a server exists: each
    drill's runbook and binding (readable, parsed, fitted), each physical drill's requirements (its PostgreSQL
    major, tools, disaster: ``pitr.requirements.check``, so a later drill's refusal does not wait for the
    earlier drills), and for an external Postgres or an S3 endpoint that it answers and the credentials work.
    Raises BadInput / InfraUnavailable."""
    from .pitr import requirements

    for spec in specs:
        requirements.check(spec, config)
    storage = False
    for spec in specs:
        sysdef = system or resolve_system(spec.system)
        storage = storage or sysdef.has_storage
        load_procedure(*procedure_files(spec, sysdef, runbook_path, binding_path))
    if pg_registry.get(config.pg_backend).user_given:
        infra.postgres(config.pg_version)  # wrong credentials: BadInput; unreachable: InfraUnavailable
    if s3_registry.get(config.s3_backend).user_given and storage:
        _ = infra.s3


def run(
    specs: Sequence[DrillSpec],
    config: DrillConfig,
    argv: Sequence[str],
    *,
    system: SystemDef | None = None,
    runbook_path: Path | None = None,
    binding_path: Path | None = None,
    progress: bool | None = None,
    infra: Infra | None = None,
) -> tuple[RunReport, Path]:
    """Run ``specs`` and write the run folder, returning (report, the folder it was written to).

    Bad input and an unreachable external server or endpoint are raised (BadInput, InfraUnavailable) by
    the pre-flight, before any run folder or infrastructure exists; from then on nothing raises a
    DrillError: it becomes the report's error (Ctrl-C is re-raised after tear-down and the report)."""
    redact = Redactor([config.pg_url or "", config.s3_secret_key or "", config.s3_access_key or ""])
    own_infra = infra is None
    infra = infra or Infra.from_config(config)
    try:
        preflight(specs, config, infra, system=system, runbook_path=runbook_path, binding_path=binding_path)
    except BaseException:
        if own_infra:
            infra.close()
        raise
    run_dir = runfolder.create(config.report_dir)
    log = _SafeLog(LogSink(run_dir / "drill.log", redact))
    bus = EventBus(ProgressSink(progress), log)
    # The tool-version probes (0.65-0.87 s, `aws --version` most of it) run while the first drill starts
    # its servers; each answer is kept for the process, so the environment filled in at the end (always,
    # in the finally below) reads them instead of asking again. The drill waits for them (Infra.settle)
    # before its procedure's first step.
    report = RunReport(run_id=run_dir.name or uuid.uuid4().hex[:8], command=[redact(a) for a in argv],
                       environment=capture_environment(), started_at=utcnow())
    infra.background(lambda: _environment(config, None), "restore-drill-tool-versions")
    drill: Drill | None = None
    interrupt: KeyboardInterrupt | None = None
    try:
        for spec in specs:
            drill = Drill(spec, config, infra, bus, run_dir, system=system, runbook_path=runbook_path,
                          binding_path=binding_path)
            rep: DrillReport = drill.run()
            report.drills.append(rep)
    except DrillError as e:
        report.error = ErrorInfo.from_exception(e, redact)
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (interrupts.Terminated)
        interrupt = e
        kind, why = describe(e)
        report.error = ErrorInfo(kind, f"{why}; infrastructure was torn down", "errored")
        interrupted = getattr(drill, "report", None)
        if interrupted is not None and interrupted not in report.drills:
            report.drills.append(interrupted)  # the drill that was running, errored, with what it had done
        raise
    except Exception as e:  # never let a harness bug look like a verdict
        report.error = ErrorInfo.from_exception(HarnessFault(f"{type(e).__name__}: {e}"), redact)
    finally:
        infra.settle()
        report.environment = _environment(config, infra)
        if report.matrix is None:  # physical drills' pg_upgrade --check of the restored base backup (issue 17)
            report.matrix = upgrade_matrix(report.drills)
        # The servers stop (postgres, moto; the data directory removed) while the report is written: the
        # report holds nothing the stop could change (issue 19). The run returns only once both are done.
        closing = _Closing(infra) if own_infra else None
        try:
            run_dir = finish(report, run_dir, config, log.failed)
        finally:
            if closing is not None:
                closing.wait()
        if interrupt is not None:
            note_run_dir(interrupt, run_dir)  # the CLI prints where the errored report is
    return report, run_dir


class _Closing:
    """``infra.close()`` in a thread started now; ``wait()`` returns once it finished, also when a Ctrl-C
    lands while waiting (re-raised after: every server is stopped by pid before the program goes on)."""

    def __init__(self, infra: Infra) -> None:
        self._thread = threading.Thread(target=infra.close, name="restore-drill-close", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        interrupted: KeyboardInterrupt | None = None
        while self._thread.is_alive():
            try:
                self._thread.join()
            except KeyboardInterrupt as e:  # the stop is under way: let it finish, then stop the program
                interrupted = e
        if interrupted is not None:
            raise interrupted


def finish(report: RunReport, run_dir: Path, config: DrillConfig, log_failed: str | None = None) -> Path:
    """Write the run folder (``runfolder.write``: pages, disk-full fallback, history at
    ``config.history_file`` or ``<report dir>/history.jsonl``); returns the folder written."""
    history = config.history_file or (config.report_dir / HISTORY_NAME)
    return runfolder.write(report, run_dir, history=history, log_failed=log_failed)


def errored_report(config: DrillConfig | None, argv: Sequence[str], err: BaseException,
                   report_dir: Path | None = None, *, info: ErrorInfo | None = None) -> tuple[RunReport, Path | None]:
    """A report for a run that could not start (bad input, or Ctrl-C/SIGTERM before its run folder existed):
    status errored, the error named (``info`` when given, else taken from ``err``). Returns (report, run
    folder), the folder None when it could not be written (OSError)."""
    from .config import DEFAULT_REPORT_DIR

    base = report_dir or (config.report_dir if config is not None else DEFAULT_REPORT_DIR)
    redact = Redactor()
    report = RunReport(run_id=uuid.uuid4().hex[:8], command=[redact(a) for a in argv],
                       environment=capture_environment(), started_at=utcnow())
    report.error = info or ErrorInfo.from_exception(err, redact)
    try:
        run_dir = new_run_dir(base)
        report.run_id = run_dir.name  # the name a merge or a user finds on disk
        report.finish()
        write_run(report, run_dir)
        return report, run_dir
    except OSError:
        return report, None
