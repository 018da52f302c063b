"""Allure output for a drill: one allure step per procedure step (with its log attached) and the check
table attached as CSV, on the pytest test that ran the drill.

Costs nothing unless allure is active, i.e. pytest ran with ``--alluredir``: this module imports no
allure code at import time, and ``emit_drill`` returns at once when no allure results writer is
registered. Call it from inside the drill's test (its call phase), after the drill finished, so the
steps land on that test's result.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from restore_drill.records import StepRecord

    from .model import DrillReport


def allure_active(config: Any | None = None) -> bool:
    """True when allure results are being written (pytest --alluredir)."""
    if config is not None and not config.getoption("allure_report_dir", default=None):
        return False
    mod = sys.modules.get("allure_commons")
    if mod is None:  # nobody loaded allure, so nobody can be collecting results
        return False
    # Only a results writer (AllureFileLogger, registered for --alluredir) implements report_result.
    return any(hasattr(p, "report_result") for p in mod.plugin_manager.get_plugins())


def step_log(step: StepRecord) -> str:
    """The text attached to an allure step: what ran, how it ended, and its output tails."""
    lines = [f"$ {step.command}", f"status: {step.status}   exit code: {step.exit_code}   "
             f"duration: {step.duration_s:.3f}s   phase: {step.phase}"]
    if step.section:
        lines.append(f"runbook section: {step.section}")
    if step.reason:
        lines.append(f"reason: {step.reason}")
    if step.stdout_tail:
        lines += ["", "--- stdout (tail) ---", step.stdout_tail]
    if step.stderr_tail:
        lines += ["", "--- stderr (tail) ---", step.stderr_tail]
    return "\n".join(lines) + "\n"


def check_table_csv(drill: DrillReport) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["check", "status", "message", "expected", "observed", "duration_s"])
    for c in drill.checks:
        w.writerow([c.name, c.status.value, c.message,
                    "" if c.expected is None else json.dumps(c.expected, default=str),
                    "" if c.observed is None else json.dumps(c.observed, default=str), f"{c.duration_s:.3f}"])
    return buf.getvalue()


def _outcome(step: StepRecord) -> BaseException | None:
    """The exception allure maps to the step's status: AssertionError -> failed, Skipped -> skipped,
    anything else -> broken (our "errored")."""
    if step.status in ("passed", "replaced", "manual"):
        return None
    if step.status == "failed":
        return AssertionError(step.reason or f"exit code {step.exit_code}")
    if step.status == "not_run":
        from _pytest.outcomes import Skipped  # allure active => pytest is running

        return Skipped(step.reason or "not run")
    return RuntimeError(step.reason or step.status)


def _epoch_ms(ts: str | None) -> int | None:
    from .model import parse_ts

    dt = parse_ts(ts)
    return int(dt.timestamp() * 1000) if dt is not None else None


def _find_step(mod: Any, uuid: str) -> Any:
    for p in mod.plugin_manager.get_plugins():
        logger = getattr(p, "allure_logger", None)
        if logger is not None and hasattr(logger, "get_item"):
            item = logger.get_item(uuid)
            if item is not None:
                return item
    return None


def emit_drill(drill: DrillReport, config: Any | None = None) -> bool:
    """Emit the drill's steps and attachments to allure; returns False (having done nothing) when
    allure is not active."""
    if not allure_active(config):
        return False
    import allure_commons
    from allure_commons.types import AttachmentType
    from allure_commons.utils import uuid4

    hook = allure_commons.plugin_manager.hook
    for i, step in enumerate(drill.steps, 1):
        uuid = uuid4()
        params = {"phase": step.phase, "command": step.command, "exit_code": str(step.exit_code)}
        hook.start_step(uuid=uuid, title=f"{i}. [{step.phase}] {step.name} — {step.status}", params=params)
        allure_step = _find_step(allure_commons, uuid)
        hook.attach_data(body=step_log(step), name=f"{step.name} log", attachment_type=AttachmentType.TEXT,
                         extension="txt")
        exc = _outcome(step)
        hook.stop_step(uuid=uuid, exc_type=type(exc) if exc else None, exc_val=exc, exc_tb=None)
        start = _epoch_ms(step.started_at)
        if allure_step is not None and start is not None:
            # Steps are emitted after the fact: give them the times they really ran.
            allure_step.start, allure_step.stop = start, start + int(step.duration_s * 1000)
    hook.attach_data(body=check_table_csv(drill), name=f"checks: {drill.id}", attachment_type=AttachmentType.CSV,
                     extension="csv")
    return True
