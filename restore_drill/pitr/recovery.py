"""Recovery targets, and what the restored server's log says recovery did.

The restore procedure writes the target into postgresql.auto.conf from the variables the drill binds
(RECOVERY_TARGET_KIND / _VALUE / _INCLUSIVE / _ACTION); the drill starts the server and watches its
log for the end of recovery. Log lines read are PostgreSQL's own (xlogrecovery.c, PG 16 and 18):
"recovery stopping before commit of transaction N, time T", "recovery stopping after ...",
"recovery stopping at restore point \"NAME\", time T", "last completed transaction was at log time T",
"selected new timeline ID: N", "archive recovery complete", "pausing at the end of recovery",
"recovery ended before configured recovery target was reached",
"requested recovery stop point is before consistent recovery point".
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .server import ServerProcess

TARGET_KINDS = ("time", "xid", "lsn", "name", "immediate")
ACTIONS = ("promote", "pause", "shutdown")


@dataclass(frozen=True)
class RecoveryTarget:
    """A recovery target: kind (time | xid | lsn | name | immediate), its value as PostgreSQL reads it,
    whether the target itself is kept (recovery_target_inclusive), and recovery_target_action."""

    kind: str
    value: str = ""
    inclusive: bool = True
    action: str = "promote"

    def variables(self) -> dict[str, str]:
        """The runbook variables the restore procedure writes into postgresql.auto.conf."""
        return {"RECOVERY_TARGET_KIND": self.kind, "RECOVERY_TARGET_VALUE": self.value,
                "RECOVERY_TARGET_INCLUSIVE": "on" if self.inclusive else "off", "RECOVERY_TARGET_ACTION": self.action}

    def describe(self) -> str:
        if self.kind == "immediate":
            return "recovery_target = 'immediate'"
        return f"recovery_target_{self.kind} = '{self.value}' (inclusive {'on' if self.inclusive else 'off'})"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "inclusive": self.inclusive, "action": self.action}


_TS = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?[+-]\d\d(?::?\d\d)?)"
_STOP = re.compile(r"LOG:\s+recovery stopping (?P<how>before|after|at) (?P<what>.*?)(?:, time " + _TS + r")?\s*$", re.M)
_LAST = re.compile(r"last completed transaction was at log time " + _TS)
_TIMELINE = re.compile(r"selected new timeline ID: (\d+)")
_CONSISTENT = re.compile(r"consistent recovery state reached at ([0-9A-F]+/[0-9A-F]+)")
_REDO_DONE = re.compile(r"redo done at ([0-9A-F]+/[0-9A-F]+)")
_FATAL = re.compile(r"(?:FATAL|PANIC):\s+(?!the database system is (?:starting up|not yet accepting))(.*)$", re.M)
_PAUSED = ("pausing at the end of recovery", "recovery has paused")
_READY = "database system is ready to accept connections"


def pg_time(text: str) -> datetime:
    """A PostgreSQL log timestamp ('2026-11-30 18:05:05.203354+00') as an aware datetime."""
    t = text.strip()
    if re.search(r"[+-]\d\d$", t):
        t += ":00"
    return datetime.fromisoformat(t)


@dataclass
class RecoveryOutcome:
    """How recovery ended, read from the restored server's log.

    state: promoted | paused | shut_down | failed | timeout. stop_line: the "recovery stopping ..." line;
    stop_time / last_commit_time: the times those lines give; new_timeline: from "selected new timeline
    ID"; fatal: the first FATAL/PANIC line that ended recovery; duration_s: start to end of recovery.
    """

    state: str
    duration_s: float
    stop_line: str = ""
    stop_how: str = ""
    stop_time: datetime | None = None
    last_commit_time: datetime | None = None
    new_timeline: int | None = None
    consistent_at: str | None = None
    redo_done_at: str | None = None
    fatal: str = ""
    ended_at: datetime | None = None  # the log time of the line that ended recovery (ready / paused / FATAL)
    log_tail: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "duration_s": round(self.duration_s, 3), "stop_line": self.stop_line,
                "stop_time": self.stop_time.isoformat() if self.stop_time else None,
                "last_commit_time": self.last_commit_time.isoformat() if self.last_commit_time else None,
                "new_timeline": self.new_timeline, "consistent_at": self.consistent_at,
                "redo_done_at": self.redo_done_at, "fatal": self.fatal,
                "ended_at": self.ended_at.isoformat() if self.ended_at else None}


def read_log(text: str, state: str, duration_s: float) -> RecoveryOutcome:
    """Parse a restored server's log into a RecoveryOutcome (the state is the caller's observation)."""
    out = RecoveryOutcome(state, duration_s, log_tail=text[-3000:])
    if m := _STOP.search(text):
        out.stop_line = m.group(0).split("LOG:", 1)[1].strip()
        out.stop_how = m["how"]
        if m.group(3):
            out.stop_time = pg_time(m.group(3))
    if m := _LAST.search(text):
        out.last_commit_time = pg_time(m.group(1))
    if m := _TIMELINE.search(text):
        out.new_timeline = int(m.group(1))
    if m := _CONSISTENT.search(text):
        out.consistent_at = m.group(1)
    if m := _REDO_DONE.search(text):
        out.redo_done_at = m.group(1)
    if m := _FATAL.search(text):
        out.fatal = m.group(1).strip()
        out.ended_at = _line_time(text, m.group(0))
    elif state in ("failed", "shut_down"):
        # e.g. "postgres: could not access directory ...": the postmaster died before logging a FATAL line
        out.fatal = next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), "")
    for marker in (_READY, *_PAUSED):
        if marker in text:
            out.ended_at = _line_time(text, marker)
            break
    return out


_LINE_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC")


def _line_time(text: str, needle: str) -> datetime | None:
    """The log_line_prefix time (the servers run with TZ=UTC: '2026-11-30 18:05:14.950 UTC') of the first
    line holding ``needle``."""
    for line in text.splitlines():
        if needle in line and (m := _LINE_TIME.match(line)):
            return datetime.fromisoformat(m.group(1) + "+00:00")
    return None


def watch(server: ServerProcess, timeout_s: float = 300.0) -> RecoveryOutcome:
    """Wait for recovery on ``server`` to end: promoted (ready for read-write connections), paused
    (recovery_target_action = pause), shut down (action shutdown, or a FATAL that stops the postmaster)
    or ``timeout_s`` passed. Reads only the log and the process state: connection attempts during
    recovery would fill the log with "the database system is starting up"."""
    t0 = time.monotonic()
    state = "timeout"
    while time.monotonic() - t0 < timeout_s:
        text = server.log_text()
        if _READY in text:
            state = "promoted"
            break
        if any(p in text for p in _PAUSED):
            state = "paused"
            break
        if not server.alive():
            state = "failed" if _FATAL.search(text) else "shut_down"
            break
        time.sleep(0.05)
    return read_log(server.log_text(), state, time.monotonic() - t0)
