"""The verdict of ``verify-backup``: the version x check matrix and which target versions are safe to
restore (upgrade) into, and why the others are not; ``verdict.txt`` is ``verdict_text``."""

from __future__ import annotations

from collections.abc import Sequence

from restore_drill.checks.result import Status
from restore_drill.reports.model import DrillReport, Matrix, RunReport

from ..systems import SystemDef
from .archive import ArchiveInfo

# Matrix columns, in the order an operator reads them: can it be read, restored, is it complete, sound.
CHECK_ORDER = (
    "backup_artifact", "restore_exit_status", "restored_objects", "archive_coverage", "row_counts", "sequence_health",
    "referential_integrity", "physical_integrity", "table_checksums", "schema_fidelity",
    "artifact_paths_exist", "object_integrity", "snapshot_pairing",
)


def build_matrix(drills: Sequence[DrillReport]) -> Matrix:
    """Rows: target versions; columns: checks; cells: each check's status on that version."""
    versions = [d.id.split("[", 1)[1].rstrip("]") for d in drills]
    seen = {c.name for d in drills for c in d.checks}
    checks = [c for c in CHECK_ORDER if c in seen] + sorted(seen - set(CHECK_ORDER))
    cells = {v: {c.name: c.status.value for c in d.checks} for v, d in zip(versions, drills, strict=True)}
    reasons = {v: {c.name: c.message for c in d.checks} for v, d in zip(versions, drills, strict=True)}
    return Matrix(versions, checks, cells, reasons)


def safe_targets(report: RunReport) -> tuple[list[str], list[str], list[str]]:
    """(safe, not safe with the reason, undecided with the reason) target versions."""
    safe, unsafe, undecided = [], [], []
    for d in report.drills:
        v = d.metrics.get("target_version") or d.id
        if d.status == "passed":
            safe.append(str(v))
        elif d.status == "failed":
            bad = [c for c in d.checks if c.status is Status.FAILED]
            unsafe.append(f"{v} ({'; '.join(f'{c.name}: {c.message}' for c in bad[:2])})")
        else:
            undecided.append(f"{v} ({d.status_reason})")
    return safe, unsafe, undecided


def verdict_text(report: RunReport, notes: Sequence[str] = (), archive: ArchiveInfo | None = None,
                 system: SystemDef | None = None, how: str = "") -> str:
    """The verdict: which target versions are safe to restore (upgrade) into, and why the others are not."""
    safe, unsafe, undecided = safe_targets(report)
    lines = []
    if archive is not None:
        lines.append(archive.summary())
    if system is not None:
        lines.append(f"system: {system.name} ({how})")
    lines.append("safe to restore into PostgreSQL: " + (", ".join(safe) if safe else "none"))
    lines += [f"NOT safe: PostgreSQL {u}" for u in unsafe]
    lines += [f"undecided (errored): PostgreSQL {u}" for u in undecided]
    lines += list(notes)
    return "\n".join(lines)
