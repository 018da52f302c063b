"""One internal event stream for phases, steps and check results. The progress display, the drill log
and allure are consumers; the report model is built from the same records."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .redact import Redactor


@dataclass(frozen=True)
class Event:
    kind: str  # drill_start | phase_start | phase_end | step_start | step | check | note | drill_end
    drill: str
    name: str = ""
    status: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


class Sink(Protocol):
    def __call__(self, event: Event, /) -> None: ...


class EventBus:
    def __init__(self, *sinks: Sink) -> None:
        self.sinks: list[Sink] = list(sinks)
        self._lock = threading.Lock()

    def emit(self, kind: str, drill: str, name: str = "", status: str = "", **detail: Any) -> None:
        ev = Event(kind, drill, name, status, detail)
        with self._lock:
            for s in self.sinks:
                s(ev)


class _Phased(Protocol):
    id: str

    def phase(self, name: str) -> contextlib.AbstractContextManager[Any]: ...


@contextlib.contextmanager
def phase(bus: EventBus, report: _Phased, name: str) -> Iterator[Any]:
    """``report.phase(name)`` (timed, marked errored/failed by an exception), announced on ``bus`` as it
    starts and as it ends, with its status and duration."""
    bus.emit("phase_start", report.id, name)
    rec: Any = None
    try:
        with report.phase(name) as rec:
            yield rec
    finally:
        if rec is not None:
            bus.emit("phase_end", report.id, name, rec.status, duration_s=rec.duration_s)


def interactive() -> bool:
    """Progress on a terminal; quiet in CI (CI=true) or when output is not a TTY."""
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true", "yes")


_MARK = {"passed": "green", "failed": "red", "errored": "red"}  # anything else (skipped, not_run…) is yellow


class ProgressSink:
    """Human progress on stderr: one line per phase/step/check, spinner while a phase runs."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = interactive() if enabled is None else enabled
        self._status: Any = None
        self._phase = ""  # the runbook phase whose steps are being shown
        if self.enabled:
            from rich.console import Console

            self.console = Console(stderr=True, highlight=False)

    def __call__(self, e: Event) -> None:
        if not self.enabled:
            return
        from rich.markup import escape  # ids like x[pg16-moto] and messages are text, not markup

        c = self.console
        drill, name = escape(e.drill), escape(e.name)
        if e.kind == "drill_start":
            self._phase = ""
            c.rule(f"[bold]{drill}[/bold]")
        elif e.kind == "phase_start":
            self._stop_spinner()
            self._status = c.status(f"{drill}: {name} …")
            self._status.start()
        elif e.kind == "phase_end":
            self._stop_spinner()
            colour = "green" if e.status == "passed" else "red"
            c.print(f"  {name:<9} [{colour}]{e.status}[/{colour}] {e.detail.get('duration_s', 0):.2f}s")
        elif e.kind == "step_start":  # a runbook step: a long pg_restore shows as a live spinner
            self._stop_spinner()
            ph = escape(str(e.detail.get("phase", "")))
            if ph != self._phase:
                c.print(f"  {ph}")
                self._phase = ph
            self._status = c.status(f"{drill}: {ph} › {name} …")
            self._status.start()
        elif e.kind == "step":
            self._stop_spinner()
            mark = _MARK.get(e.status, "yellow")
            took = e.detail.get("duration_s")
            c.print(f"    step [{mark}]{e.status:<8}[/{mark}] {name}" + (f" ({took:.2f}s)" if took else ""))
        elif e.kind == "check":
            mark = _MARK.get(e.status, "yellow")
            c.print(f"    check [{mark}]{e.status:<8}[/{mark}] {name}: {escape(str(e.detail.get('message', '')))}")
        elif e.kind == "note":
            c.print(f"    {name}")
        elif e.kind == "drill_end":
            self._stop_spinner()

    def _stop_spinner(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


class LogSink:
    """Appends every event, redacted, to the run's drill.log (what happened, in order)."""

    def __init__(self, path: Path, redactor: Redactor | Callable[[str], str]) -> None:
        self.path, self.redact = path, redactor
        self._lock = threading.Lock()

    def __call__(self, e: Event) -> None:
        from datetime import UTC, datetime

        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        detail = " ".join(f"{k}={v}" for k, v in e.detail.items() if k not in ("stdout", "stderr"))
        line = self.redact(f"{ts} {e.drill} {e.kind} {e.name} {e.status} {detail}".rstrip())
        with self._lock, self.path.open("a") as f:
            f.write(line + "\n")
