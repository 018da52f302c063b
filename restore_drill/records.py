"""What a drill records as it goes: steps, backups, disasters. Report writers consume these."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

StepStatus = Literal["passed", "failed", "errored", "not_run", "manual", "replaced"]


@dataclass
class StepRecord:
    """One procedure step. ``command`` is always stored redacted."""

    name: str
    phase: str
    command: str
    status: StepStatus
    exit_code: int | None = None
    duration_s: float = 0.0
    started_at: str | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    reason: str = ""  # why not run / replaced / failed
    section: str = ""  # runbook heading the step came from
    findings: list[str] = field(default_factory=list)  # what the runner noticed (unset variable, copied nothing)
    blocked: list[str] = field(default_factory=list)  # reaches the sandbox refused ("blocked: reached for ...")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BackupRecord:
    """A database backup artifact, recorded the moment it was made."""

    path: str
    size_bytes: int
    sha256: str
    started_at: str  # ISO-8601 UTC when the dump started
    finished_at: str
    tool_version: str = ""  # pg_dump --version
    archive_header: dict[str, Any] = field(default_factory=dict)
    data_tables: list[str] = field(default_factory=list)  # tables whose TABLE DATA the archive holds
    intended_tables: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SnapshotRecord:
    """A storage snapshot (e.g. aws s3 sync to a dated prefix)."""

    bucket: str
    prefix: str
    listed_at: str
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {size, sha256}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DisasterRecord:
    """Exactly what a disaster injector did."""

    name: str
    at: str
    target: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
