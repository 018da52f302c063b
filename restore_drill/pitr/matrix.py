"""The version matrix of physical drills: issue 17's "before an upgrade" (``pg_upgrade --check`` of the restored
base backup into the next major the machine has) reported in the run's version matrix, the same
``reports.model.Matrix`` verify-backup fills with the versions a dump was restored into."""

from __future__ import annotations

from collections.abc import Sequence

from restore_drill.reports.model import DrillReport, Matrix

CHECK = "upgrade_check"


def row_label(drill_id: str, old_major: int, new_major: int) -> str:
    """The matrix row of one drill's upgrade check, e.g. ``"18 (pg_upgrade --check from 16, arqonbus-pitr)"``:
    the version is the one checked against, and the label says it was a check, not a restore into it."""
    return f"{new_major} (pg_upgrade --check from {old_major}, {drill_id})"


def upgrade_matrix(drills: Sequence[DrillReport]) -> Matrix | None:
    """One row per drill whose ``upgrade_check`` ran (its evidence names ``old_major`` and ``new_major``, see
    checks/upgrade_check.py), one column ``upgrade_check``; the cell is that check's status, the reason its
    message. A skipped check (no newer major on this machine, recovery not promoted) has no version to show:
    it stays in the drill's checks only. None when no drill has a row (report.json "matrix" stays null)."""
    versions: list[str] = []
    cells: dict[str, dict[str, str]] = {}
    reasons: dict[str, dict[str, str]] = {}
    for d in drills:
        for c in d.checks:
            old, new = c.evidence.get("old_major"), c.evidence.get("new_major")
            if c.name != CHECK or not isinstance(old, int) or not isinstance(new, int):
                continue
            row = row_label(d.id, old, new)
            versions.append(row)
            cells[row] = {CHECK: c.status.value}
            reasons[row] = {CHECK: c.message}
    return Matrix(versions, [CHECK], cells, reasons) if versions else None
