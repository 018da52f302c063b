"""One internal event stream for phases, steps and check results. The progress display, the drill log
and allure are consumers; the report model is built from the same records."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .redact import Redactor


@dataclass(frozen=True)
class Event:
    kind: str  # drill_start | phase_start | phase_end | step | check | disaster | backup | note | drill_end
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


def interactive() -> bool:
    """Progress on a terminal; quiet in CI (CI=true) or when output is not a TTY."""
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true", "yes")


class ProgressSink:
    """Human progress on stderr: one line per phase/step/check, spinner while a phase runs."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = interactive() if enabled is None else enabled
        self._status: Any = None
        if self.enabled:
            from rich.console import Console

            self.console = Console(stderr=True, highlight=False)

    def __call__(self, e: Event) -> None:
        if not self.enabled:
            return
        c = self.console
        if e.kind == "drill_start":
            c.rule(f"[bold]{e.drill}[/bold]")
        elif e.kind == "phase_start":
            self._stop_spinner()
            self._status = c.status(f"[{e.drill}] {e.name} …")
            self._status.start()
        elif e.kind == "phase_end":
            self._stop_spinner()
            colour = "green" if e.status == "passed" else "red"
            c.print(f"  {e.name:<9} [{colour}]{e.status}[/{colour}] {e.detail.get('duration_s', 0):.2f}s")
        elif e.kind == "step":
            mark = {"passed": "green", "failed": "red", "errored": "red"}.get(e.status, "yellow")
            c.print(f"    step [{mark}]{e.status:<8}[/{mark}] {e.name}")
        elif e.kind == "check":
            mark = {"passed": "green", "failed": "red", "errored": "red"}.get(e.status, "yellow")
            c.print(f"    check [{mark}]{e.status:<8}[/{mark}] {e.name}: {e.detail.get('message', '')}")
        elif e.kind == "note":
            c.print(f"    {e.name}")
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
