"""The run report: one typed model that every writer reads (JSON, Markdown, HTML, compliance, history,
allure). ``report.json`` is ``RunReport.to_dict()``; its shape is fixed by ``schema/report.schema.json``.

Statuses are derived from the evidence, never stored by hand, so a report cannot say "passed" while
holding a failed check (see ``DrillReport.status`` and ``RunReport.status`` for the rules).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Literal, TypeVar

from restore_drill import __version__
from restore_drill.checks.result import CheckResult, Status
from restore_drill.errors import DrillError
from restore_drill.foundation import utcnow
from restore_drill.records import BackupRecord, DisasterRecord, SnapshotRecord, StepRecord

SCHEMA_VERSION = 1
TOOL_NAME = "restore-drill"
# The process exit status of each verdict (DESIGN): 0 every drill passed, 1 a check or procedure failed, 2 errored.
EXIT_CODES: dict[str, int] = {"passed": 0, "failed": 1, "errored": 2}

RunStatus = Literal["passed", "failed", "errored"]
PHASE_NAMES = ("infra", "setup", "seed", "backup", "disaster", "restore", "verify", "checks", "report")
PhaseStatus = Literal["passed", "failed", "errored", "skipped", "not_run"]
# Step statuses that mean "the procedure as executed did not work".
FAILED_STEP_STATUSES = frozenset({"failed", "errored"})

T = TypeVar("T")


def parse_ts(ts: str | None) -> datetime | None:
    return datetime.fromisoformat(ts) if ts else None


def _known(cls: type[T], d: dict[str, Any]) -> T:
    """Build a dataclass from a dict, ignoring keys a newer writer may have added."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class ErrorInfo:
    """Why a run or drill could not be judged (errored) or stopped on a procedure failure (failed)."""

    type: str
    message: str
    status: Literal["failed", "errored"] = "errored"

    @classmethod
    def from_exception(cls, exc: BaseException, redactor: Callable[[str], str] | None = None) -> ErrorInfo:
        # DrillError subclasses carry their report status (ProcedureFailed -> failed); anything else is
        # a harness bug and the run errored.
        status = exc.status if isinstance(exc, DrillError) else "errored"
        msg = str(exc) or type(exc).__name__
        return cls(type(exc).__name__, redactor(msg) if redactor else msg,
                   "failed" if status == "failed" else "errored")

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "status": self.status}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> ErrorInfo | None:
        return None if d is None else _known(cls, d)


@dataclass
class CIInfo:
    provider: str
    job_id: str | None = None
    run_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "job_id": self.job_id, "run_url": self.run_url}


@dataclass
class PostgresInfo:
    backend: str  # embedded | container | external
    server_version: str = ""
    client_version: str = ""
    binaries_source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "server_version": self.server_version,
                "client_version": self.client_version, "binaries_source": self.binaries_source}


@dataclass
class S3Info:
    backend: str  # moto | endpoint
    endpoint: str = ""  # URL without credentials

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "endpoint": self.endpoint}


@dataclass
class Environment:
    host: str
    platform: str
    python: str
    user: str
    ci: CIInfo | None = None
    postgres: PostgresInfo | None = None
    s3: S3Info | None = None
    tools: dict[str, str] = field(default_factory=dict)  # tool -> first line of `tool --version`

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host, "platform": self.platform, "python": self.python, "user": self.user,
            "ci": self.ci.to_dict() if self.ci else None,
            "postgres": self.postgres.to_dict() if self.postgres else None,
            "s3": self.s3.to_dict() if self.s3 else None,
            "tools": dict(self.tools),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Environment:
        return cls(
            host=d["host"], platform=d["platform"], python=d["python"], user=d["user"],
            ci=_known(CIInfo, d["ci"]) if d.get("ci") else None,
            postgres=_known(PostgresInfo, d["postgres"]) if d.get("postgres") else None,
            s3=_known(S3Info, d["s3"]) if d.get("s3") else None,
            tools=dict(d.get("tools") or {}),
        )


@dataclass
class PhaseRecord:
    name: str  # one of PHASE_NAMES
    started_at: str
    duration_s: float
    status: PhaseStatus = "passed"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "started_at": self.started_at, "duration_s": self.duration_s,
                "status": self.status}


@dataclass
class Targets:
    """Recovery objectives the drill is judged against (from the system definition)."""

    rto_s: float | None = None
    rpo_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rto_s": self.rto_s, "rpo_s": self.rpo_s}


@dataclass
class RestoreTarget:
    """Where the backup was restored. ``database`` is a name or safe URL, never one with a password."""

    database: str = ""
    bucket: str = ""
    prefix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"database": self.database, "bucket": self.bucket, "prefix": self.prefix}


@dataclass
class ReportStep(StepRecord):
    """A step as read back from report.json: the StepRecord fields plus every other key the runbook
    runner wrote (``original`` text, ``substitutions`` placeholder -> value, ``replaced_by``, ...), kept
    as they were so a re-rendered page lists the same deviations and report.json round-trips."""

    more: dict[str, Any] = field(default_factory=dict)

    @property
    def substitutions(self) -> dict[str, str]:
        return dict(self.more.get("substitutions") or {})

    @property
    def operator_inputs(self) -> list[dict[str, str]]:
        return list(self.more.get("operator_inputs") or [])

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in super().to_dict().items() if k != "more"}
        return {**d, **self.more}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReportStep:
        names = {f.name for f in fields(StepRecord)}
        return cls(**{k: v for k, v in d.items() if k in names},
                   more={k: v for k, v in d.items() if k not in names})


# Step statuses that mean "this step did not run as the runbook wrote it".
NOT_AS_WRITTEN_STATUSES = frozenset({"failed", "errored", "not_run", "manual", "replaced"})


def step_deviation(s: StepRecord) -> str | None:
    """Why step ``s`` did not run as written (one line), or None when it did: failed, errored, not run,
    left to a person (manual), replaced by the harness, or rewritten (placeholders substituted)."""
    if s.status in NOT_AS_WRITTEN_STATUSES:
        tail = (s.stderr_tail.strip().splitlines() or [""])
        first_err = next((ln for ln in tail if ln.strip()), "")
        why = s.reason or first_err
        label = {"not_run": "not run", "manual": "not run (left to a person)"}.get(s.status, s.status)
        return "; ".join([f"{label}: {why}" if why else label, *s.blocked])
    subs = getattr(s, "substitutions", None) or {}
    inputs = getattr(s, "operator_inputs", None) or []
    parts = list(s.blocked)  # reaches the sandbox refused (restore_drill/sandbox)
    if subs:
        parts.append("rewritten before it ran: " + ", ".join(f"{k} -> {v}" for k, v in sorted(subs.items())))
    parts += [str(oi.get("note") or f"{oi.get('name')} bound by the drill") for oi in inputs if isinstance(oi, dict)]
    return "; ".join(parts) if parts else None


@dataclass
class Deviation:
    """Something that kept the drill from being clean evidence, and what is to be done about it."""

    kind: Literal["check", "step", "drill", "objective"]
    name: str
    status: str
    message: str
    follow_up: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "status": self.status, "message": self.message,
                "follow_up": self.follow_up}


_DEFAULT_FOLLOW_UP = {
    "failed": "Fix the backup/restore procedure or the data defect, then re-run the drill.",
    "errored": "The drill could not judge this: fix the harness or infrastructure and re-run.",
    "skipped": "Not evidenced by this run: enable the check or record why it does not apply.",
    "replaced": "The runbook step was replaced by a corrected one: update the runbook.",
    "not_run": "The runbook step did not run in this drill: make it runnable or record why it is out of scope.",
    "manual": "The step needs a person: script it, or evidence it separately.",
    "rewritten": "The runbook leaves this value to the operator: write it into the runbook or confirm it at restore.",
    "blocked": "The step reached for something this drill did not create (on the bad day: production): point it at "
               "the runbook's variables, or map the tool onto the drill in the binding.",
}


@dataclass
class DrillReport:
    name: str
    id: str
    system: str
    procedure: Literal["corrected", "runbook"] = "corrected"
    runbook: str | None = None
    disaster: str | None = None
    seed: int | None = None
    scale: float | None = None
    started_at: str = ""
    finished_at: str = ""
    duration_s: float = 0.0
    error: ErrorInfo | None = None
    phases: list[PhaseRecord] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    backups: list[BackupRecord] = field(default_factory=list)
    snapshots: list[SnapshotRecord] = field(default_factory=list)
    disasters: list[DisasterRecord] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    targets: Targets = field(default_factory=Targets)
    target: RestoreTarget = field(default_factory=RestoreTarget)
    follow_ups: dict[str, str] = field(default_factory=dict)  # check/step name -> agreed follow-up

    @property
    def status(self) -> RunStatus:
        """errored  if the harness failed (error not caused by the procedure) or a check errored and
                    nothing failed outright, or no check produced passed/failed evidence;
        failed   if any check failed, any procedure step failed/errored, or a ProcedureFailed stopped it;
        passed   otherwise. A definite failure outranks an errored check: it is a finding about the
        backup, while "errored" only says the drill could not tell. Skipped checks and not_run steps
        are never evidence of passing."""
        if self.error is not None and self.error.status == "errored":
            return "errored"
        if (
            any(c.status is Status.FAILED for c in self.checks)
            or any(s.status in FAILED_STEP_STATUSES for s in self.steps)
            or (self.error is not None and self.error.status == "failed")
        ):
            return "failed"
        if any(c.status is Status.ERRORED for c in self.checks):
            return "errored"
        if not any(c.status is Status.PASSED for c in self.checks):
            return "errored"
        return "passed"

    @property
    def status_reason(self) -> str:
        """One line saying why the drill has its status (the report's "what failed and why" lead)."""
        st = self.status
        if self.error is not None:
            return f"{self.error.type}: {self.error.message}"
        if st == "passed":
            n = sum(c.status is Status.PASSED for c in self.checks)
            skipped = sum(c.status is Status.SKIPPED for c in self.checks)
            return f"all {n} checks that ran passed" + (f" ({skipped} skipped)" if skipped else "")
        bad_checks = [c for c in self.checks if c.status in (Status.FAILED, Status.ERRORED)]
        bad_steps = [s for s in self.steps if s.status in FAILED_STEP_STATUSES]
        parts = [f"check {c.name} {c.status.value}: {c.message}" for c in bad_checks]
        parts += [f"step {s.name!r} {s.status} (exit {s.exit_code})" for s in bad_steps]
        if not parts:
            return "no check produced passed/failed evidence"
        return "; ".join(parts)

    def deviations(self) -> list[Deviation]:
        """Everything an auditor must see followed up, derived from the evidence so none can be left out."""
        out: list[Deviation] = []

        def follow(name: str, status: str) -> str:
            return self.follow_ups.get(name) or _DEFAULT_FOLLOW_UP.get(status, _DEFAULT_FOLLOW_UP["failed"])

        if self.error is not None:
            out.append(Deviation("drill", self.name, self.error.status, f"{self.error.type}: {self.error.message}",
                                 follow(self.name, self.error.status)))
        for s in self.steps:
            why = step_deviation(s)
            if why is not None:
                status = s.status if s.status in NOT_AS_WRITTEN_STATUSES else "blocked" if s.blocked else "rewritten"
                out.append(Deviation("step", s.name, status, why, follow(s.name, status)))
        for c in self.checks:
            if c.status is not Status.PASSED:
                out.append(Deviation("check", c.name, c.status.value, c.message, follow(c.name, c.status.value)))
        checked = {c.name for c in self.checks}
        for key, metric in (("rto_s", "rto"), ("rpo_s", "rpo")):
            target, got = getattr(self.targets, key), self.metrics.get(key)
            # Only when no rto/rpo check already judged it, so a miss is reported once.
            if metric not in checked and target is not None and got is not None and got > target:
                out.append(Deviation("objective", metric, "failed",
                                     f"{metric.upper()} {got:.1f}s exceeds target {target:.1f}s",
                                     follow(metric, "failed")))
        return out

    @property
    def executed_as_written(self) -> bool:
        """True only when the drill ran at least one step and every step ran as the runbook wrote it
        (none failed, errored, not run, manual, replaced or rewritten). Compliance says "executed end to
        end" only then."""
        return bool(self.steps) and self.error is None and all(step_deviation(s) is None for s in self.steps)

    def source_findings(self) -> list[tuple[str, str]]:
        """(check name, finding) for defects the source already had at backup time, as the checks recorded
        them in their evidence (``source_findings``): reported about the source, not as restore failures."""
        out = []
        for c in self.checks:
            f = c.evidence.get("source_findings") if isinstance(c.evidence, dict) else None
            if f:
                items = ", ".join(map(str, f.get("items") or []))
                out.append((c.name, f"{items}: {f.get('message', '')}" if items else str(f.get("message", ""))))
        return out

    def check(self, name: str) -> CheckResult | None:
        """The result of check ``name`` in this drill, or None when it did not run."""
        return next((c for c in self.checks if c.name == name), None)

    def objective(self, name: Literal["rto", "rpo"]) -> str:
        """The objective's verdict for people, derived from the check of that name only: "met" when it
        passed, "not achieved" when it failed, "not measured" when it errored or did not run, "no target"
        when it was skipped."""
        c = self.check(name)
        if c is None or c.status is Status.ERRORED:
            return "not measured"
        return {Status.PASSED: "met", Status.FAILED: "not achieved", Status.SKIPPED: "no target"}[c.status]

    def finish(self) -> None:
        """Stamp the end of the drill (call once, after the report phase's data is in)."""
        self.finished_at = utcnow()
        start, end = parse_ts(self.started_at), parse_ts(self.finished_at)
        if start is not None and end is not None:
            self.duration_s = round((end - start).total_seconds(), 3)

    @contextmanager
    def phase(self, name: str) -> Iterator[PhaseRecord]:
        """Time one phase; an exception marks it errored (failed for ProcedureFailed) and propagates."""
        if name not in PHASE_NAMES:
            raise ValueError(f"unknown phase {name!r}; expected one of {PHASE_NAMES}")
        rec = PhaseRecord(name, utcnow(), 0.0, "passed")
        if not self.started_at:
            self.started_at = rec.started_at
        self.phases.append(rec)
        t0 = time.monotonic()
        try:
            yield rec
        except BaseException as exc:
            rec.status = "failed" if isinstance(exc, DrillError) and exc.status == "failed" else "errored"
            raise
        finally:
            rec.duration_s = round(time.monotonic() - t0, 3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "id": self.id, "system": self.system, "procedure": self.procedure,
            "runbook": self.runbook, "disaster": self.disaster, "status": self.status,
            "status_reason": self.status_reason,
            "seed": self.seed, "scale": self.scale, "started_at": self.started_at,
            "finished_at": self.finished_at, "duration_s": self.duration_s,
            "error": self.error.to_dict() if self.error else None,
            "phases": [p.to_dict() for p in self.phases],
            "steps": [s.to_dict() for s in self.steps],
            "checks": [c.to_dict() for c in self.checks],
            "backups": [b.to_dict() for b in self.backups],
            "snapshots": [s.to_dict() for s in self.snapshots],
            "disasters": [d.to_dict() for d in self.disasters],
            "metrics": {"rto_s": None, "rpo_s": None, **self.metrics},
            "targets": self.targets.to_dict(),
            "target": self.target.to_dict(),
            "follow_ups": dict(self.follow_ups),
            "deviations": [d.to_dict() for d in self.deviations()],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DrillReport:
        # status, status_reason and deviations are derived: recomputed, never trusted from the file.
        return cls(
            name=d["name"], id=d["id"], system=d["system"], procedure=d.get("procedure", "corrected"),
            runbook=d.get("runbook"), disaster=d.get("disaster"), seed=d.get("seed"), scale=d.get("scale"),
            started_at=d.get("started_at", ""), finished_at=d.get("finished_at", ""),
            duration_s=d.get("duration_s", 0.0), error=ErrorInfo.from_dict(d.get("error")),
            phases=[_known(PhaseRecord, p) for p in d.get("phases", [])],
            steps=[ReportStep.from_dict(s) for s in d.get("steps", [])],
            checks=[_check_from_dict(c) for c in d.get("checks", [])],
            backups=[_known(BackupRecord, b) for b in d.get("backups", [])],
            snapshots=[_known(SnapshotRecord, s) for s in d.get("snapshots", [])],
            disasters=[_known(DisasterRecord, x) for x in d.get("disasters", [])],
            metrics=dict(d.get("metrics") or {}),
            targets=_known(Targets, d.get("targets") or {}),
            target=_known(RestoreTarget, d.get("target") or {}),
            follow_ups=dict(d.get("follow_ups") or {}),
        )


def _check_from_dict(d: dict[str, Any]) -> CheckResult:
    kw = {k: v for k, v in d.items() if k in {f.name for f in fields(CheckResult)}}
    kw["status"] = Status(kw["status"])
    return CheckResult(**kw)


@dataclass
class Matrix:
    """verify-backup: one backup restored into several Postgres versions; cells[version][check] = status
    and reasons[version][check] = that check's one-line message on that version."""

    versions: list[str]
    checks: list[str]
    cells: dict[str, dict[str, str]]
    reasons: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"versions": list(self.versions), "checks": list(self.checks),
                "cells": {v: dict(c) for v, c in self.cells.items()},
                "reasons": {v: dict(r) for v, r in self.reasons.items()}}


@dataclass
class ToolInfo:
    name: str = TOOL_NAME
    version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}


@dataclass
class RunReport:
    run_id: str
    command: list[str]  # argv, already redacted
    environment: Environment
    started_at: str = ""
    finished_at: str = ""
    duration_s: float = 0.0
    error: ErrorInfo | None = None
    drills: list[DrillReport] = field(default_factory=list)
    matrix: Matrix | None = None
    tool: ToolInfo = field(default_factory=ToolInfo)
    schema_version: int = SCHEMA_VERSION

    @property
    def status(self) -> RunStatus:
        """errored if the run itself errored, any drill errored, or there were no drills (nothing was
        proven); else failed if the run stopped on a procedure failure or any drill failed; else passed."""
        if self.error is not None and self.error.status == "errored":
            return "errored"
        statuses = [d.status for d in self.drills]
        if not statuses or "errored" in statuses:
            return "errored"
        if "failed" in statuses or self.error is not None:
            return "failed"
        return "passed"

    @property
    def exit_code(self) -> int:
        """DESIGN: 0 every drill passed, 1 a check or procedure failed, 2 errored."""
        return EXIT_CODES[self.status]

    def finish(self) -> None:
        self.finished_at = utcnow()
        start, end = parse_ts(self.started_at), parse_ts(self.finished_at)
        if start is not None and end is not None:
            self.duration_s = round((end - start).total_seconds(), 3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "tool": self.tool.to_dict(),
            "run_id": self.run_id,
            "command": list(self.command),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_s": self.duration_s,
            "status": self.status,
            "error": self.error.to_dict() if self.error else None,
            "environment": self.environment.to_dict(),
            "drills": [d.to_dict() for d in self.drills],
            "matrix": self.matrix.to_dict() if self.matrix else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunReport:
        m = d.get("matrix")
        return cls(
            schema_version=d["schema_version"],
            tool=_known(ToolInfo, d.get("tool") or {}),
            run_id=d["run_id"], command=list(d.get("command") or []),
            started_at=d.get("started_at", ""), finished_at=d.get("finished_at", ""),
            duration_s=d.get("duration_s", 0.0), error=ErrorInfo.from_dict(d.get("error")),
            environment=Environment.from_dict(d["environment"]),
            drills=[DrillReport.from_dict(x) for x in d.get("drills", [])],
            matrix=_known(Matrix, m) if m else None,
        )
