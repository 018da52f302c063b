"""A run: one or more drills on shared disposable infrastructure, one run folder, one verdict.

Infrastructure is always torn down (success, failure, Ctrl-C); the report is always written, also when
the run errored before any drill started, so a scheduler never mistakes silence for a pass.
"""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from restore_drill.fixtures import binaries
from restore_drill.fixtures.infra import Infra
from restore_drill.reports.environment import capture_environment, probe_tool_versions
from restore_drill.reports.history import append_history
from restore_drill.reports.model import DrillReport, ErrorInfo, PostgresInfo, RunReport, S3Info, utcnow
from restore_drill.reports.writers import new_run_dir, write_run

from .catalog import DrillSpec
from .config import DrillConfig
from .engine import Drill
from .errors import DrillError, HarnessFault
from .events import EventBus, LogSink, ProgressSink
from .redact import Redactor
from .systems import SystemDef

HISTORY_NAME = "history.jsonl"


def _environment(config: DrillConfig, infra: Infra | None) -> Any:
    pg = s3 = None
    tools: dict[str, str] = {}
    with contextlib.suppress(DrillError):
        b = binaries.select(config.pg_version)
        pg = PostgresInfo(config.pg_backend, b.version, b.version, b.source)
        tools = probe_tool_versions({t: b.tool(t) for t in ("pg_dump", "pg_restore", "psql") if b.has(t)})
        aws = Path(sys.executable).parent / "aws"
        if aws.exists():
            tools.update(probe_tool_versions({"aws": aws}))
    if infra is not None and infra._s3 is not None:
        s3 = S3Info(config.s3_backend, infra._s3.endpoint.url)
    elif config.s3_backend:
        s3 = S3Info(config.s3_backend, config.s3_endpoint or "")
    return capture_environment(pg, s3, tools)


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
    """Run ``specs`` and write the run folder. Never raises DrillError: it becomes the report's error."""
    redact = Redactor([config.pg_url or ""])
    run_dir = new_run_dir(config.report_dir)
    bus = EventBus(ProgressSink(progress), LogSink(run_dir / "drill.log", redact))
    report = RunReport(run_id=run_dir.name or uuid.uuid4().hex[:8], command=[redact(a) for a in argv],
                       environment=_environment(config, None), started_at=utcnow())
    own_infra = infra is None
    infra = infra or Infra(pg_backend=config.pg_backend, s3_backend=config.s3_backend, pg_url=config.pg_url,
                           s3_endpoint=config.s3_endpoint)
    try:
        for spec in specs:
            drill = Drill(spec, config, infra, bus, run_dir, system=system, runbook_path=runbook_path,
                          binding_path=binding_path)
            rep: DrillReport = drill.run()
            report.drills.append(rep)
    except DrillError as e:
        report.error = ErrorInfo.from_exception(e, redact)
    except KeyboardInterrupt:
        report.error = ErrorInfo("KeyboardInterrupt", "interrupted (Ctrl-C); infrastructure was torn down", "errored")
        raise
    except Exception as e:  # never let a harness bug look like a verdict
        report.error = ErrorInfo.from_exception(HarnessFault(f"{type(e).__name__}: {e}"), redact)
    finally:
        report.environment = _environment(config, infra)
        if own_infra:
            infra.close()
        finish(report, run_dir, config)
    return report, run_dir


def finish(report: RunReport, run_dir: Path, config: DrillConfig) -> None:
    """Stamp the end, write every report file and append to the history."""
    report.finish()
    write_run(report, run_dir)
    history = config.history_file or (config.report_dir / HISTORY_NAME)
    with contextlib.suppress(OSError):
        append_history(report, history, run_dir)


def errored_report(config: DrillConfig | None, argv: Sequence[str], err: BaseException,
                   report_dir: Path | None = None) -> tuple[RunReport, Path | None]:
    """A report for a run that could not start (bad input): status errored, the error named."""
    from .config import DEFAULT_REPORT_DIR

    base = report_dir or (config.report_dir if config is not None else DEFAULT_REPORT_DIR)
    redact = Redactor()
    report = RunReport(run_id=uuid.uuid4().hex[:8], command=[redact(a) for a in argv],
                       environment=capture_environment(), started_at=utcnow())
    report.error = ErrorInfo.from_exception(err, redact)
    try:
        run_dir = new_run_dir(base)
        report.finish()
        write_run(report, run_dir)
        return report, run_dir
    except OSError:
        return report, None
