"""What a runbook run records and what the drill's hooks see: step records, the run's result, hook types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from restore_drill.records import BackupRecord, SnapshotRecord, StepRecord


@dataclass
class HookContext:
    """What a hook may look at. ``variables`` hold real values (URLs with passwords): never print them."""

    workdir: Path
    variables: dict[str, str]
    backup_paths: list[Path]
    backups: list[BackupRecord]
    snapshots: list[SnapshotRecord]
    backup_date: str | None
    placeholders: dict[str, str]


@dataclass
class HookOutcome:
    """What a hook did: a one-line summary for the report, and values later steps see."""

    summary: str = ""
    ok: bool = True
    placeholders: dict[str, str] = field(default_factory=dict)  # e.g. {"<lecture-id>": "42"}
    variables: dict[str, str] = field(default_factory=dict)  # e.g. {"RESTORE_PREFIX": "pegasus-2026-03-01"}
    records: list[Any] = field(default_factory=list)  # DisasterRecord etc. (anything with to_dict())


Hook = Callable[[HookContext], "HookOutcome | None"]


@dataclass
class RunHooks:
    """The drill's callables, invoked where the binding places them."""

    seed: Hook | None = None
    disaster: Hook | None = None
    after_backup: Hook | None = None
    after_restore: Hook | None = None
    replacements: dict[str, Hook] = field(default_factory=dict)  # names used by binding rules' hook = "..."
    on_step: Callable[[StepRecord], None] | None = None  # each recorded step, as it finishes (progress)
    on_step_start: Callable[[str, str], None] | None = None  # (step name, phase) as a step or hook starts

    def get(self, name: str) -> Hook | None:
        fn: Hook | None = getattr(self, name)
        return fn


@dataclass
class RunbookStepRecord(StepRecord):
    """A StepRecord with where the step came from and what the runner did to it before running."""

    kind: str = ""  # shell | manual | other | hook
    line: int = 0
    original: str = ""  # the text as written in the runbook (redacted)
    substitutions: dict[str, str] = field(default_factory=dict)  # placeholder -> value used
    replaced_by: str = ""
    findings: list[str] = field(default_factory=list)
    effects: dict[str, Any] = field(default_factory=dict)  # what a restore step changed (tables, objects)
    # A failed block: the first line that failed (runbook file line), its text and first error line.
    failed_line: int = 0
    failed_command: str = ""
    first_error: str = ""
    # Text the runner changed before running (old [placeholders] of source "value"): each a deviation.
    deviations: list[str] = field(default_factory=list)
    # Values the runbook leaves to the operator at incident time (<backup-file>, YYYY-MM-DD, RESTORE_PREFIX)
    # that the drill chose like an operator would: {"name", "value", "origin", "note"}.
    operator_inputs: list[dict[str, str]] = field(default_factory=list)
    # Declared allowances the sandbox granted this step (binding [sandbox]): each one line naming what and
    # why. Declared, so not a deviation: the step still ran exactly as written.
    allowances: list[str] = field(default_factory=list)


@dataclass
class RunbookResult:
    runbook: str
    binding: str
    workdir: str
    started_at: str
    finished_at: str = ""
    duration_s: float = 0.0
    steps: list[RunbookStepRecord] = field(default_factory=list)
    backups: list[BackupRecord] = field(default_factory=list)
    snapshots: list[SnapshotRecord] = field(default_factory=list)
    hook_records: list[dict[str, Any]] = field(default_factory=list)
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> {value (redacted), origin}
    placeholders: dict[str, str] = field(default_factory=dict)
    prepared: list[str] = field(default_factory=list)  # project files put where the runbook expects them
    findings: list[str] = field(default_factory=list)
    error: str = ""
    deviations: list[str] = field(default_factory=list)  # "<step>: rewritten ..." for every text rewrite
    operator_inputs: list[dict[str, str]] = field(default_factory=list)  # each with its "step"
    # Seconds the harness spent observing restore steps (table digests, object listings before/after each):
    # inside the restore phase's wall time but not the procedure's, so never part of the RTO (issue 19).
    observe_s: float = 0.0
    # Files (relative to the working folder) the backup phase wrote, whether backup_globs match them or not, and
    # the finding when none matched: which file the drill could not identify as the backup and how to fix it.
    backup_written: list[str] = field(default_factory=list)
    backup_note: str = ""

    @property
    def backup_paths(self) -> list[Path]:
        return [Path(b.path) for b in self.backups]

    @property
    def failed_steps(self) -> list[RunbookStepRecord]:
        return [s for s in self.steps if s.status in ("failed", "errored")]

    @property
    def not_run_steps(self) -> list[RunbookStepRecord]:
        return [s for s in self.steps if s.status == "not_run"]

    @property
    def status(self) -> str:
        if self.error:
            return "errored"
        return "failed" if self.failed_steps else "passed"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status
        d["failed_steps"] = [s.name for s in self.failed_steps]
        d["not_run_steps"] = [s.name for s in self.not_run_steps]
        return d
