"""A disaster as a runbook-runner hook, and what the restore must use after it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .interface import DisasterContext, DisasterRecord
from .registry import inject


def restore_prefix(record: DisasterRecord) -> str | None:
    """The storage prefix the restore must use after this disaster (mismatched-snapshots), if any."""
    v = record.details.get("restore_prefix")
    return str(v) if v else None


def as_hook(name: str, make_context: Callable[[Any], DisasterContext]) -> Callable[[Any], Any]:
    """A runbook-runner hook that injects ``name``; ``make_context(HookContext)`` builds its context.

    The outcome carries the record and, for mismatched-snapshots, RESTORE_PREFIX for the restore.
    """
    from restore_drill.runbook.runner import HookOutcome  # the runner imports drills' hooks: import late

    def hook(hctx: Any) -> HookOutcome:
        rec = inject(name, make_context(hctx))
        prefix = restore_prefix(rec)
        return HookOutcome(summary=f"{name}: {rec.details.get('summary', '')}", records=[rec],
                           variables={"RESTORE_PREFIX": prefix} if prefix else {})

    return hook
