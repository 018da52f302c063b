"""Assertions drills share: a verdict with its reason, and 'this check caught its fault'."""

from __future__ import annotations

from restore_drill.checks.result import Status
from restore_drill.reports.model import DrillReport


def assert_passed(rep: DrillReport) -> None:
    assert rep.status == "passed", f"{rep.id} {rep.status}: {rep.status_reason}"


def assert_caught(rep: DrillReport, *check_names: str) -> None:
    """The drill's planted fault is caught by exactly these checks; everything else held."""
    by_name = {c.name: c for c in rep.checks}
    for name in check_names:
        assert name in by_name, f"{rep.id}: check {name} did not run"
        assert by_name[name].status is Status.FAILED, f"{rep.id}: {name} should have failed: {by_name[name].message}"
    others = [c for c in rep.checks if c.name not in check_names and c.status in (Status.FAILED, Status.ERRORED)]
    assert not others, f"{rep.id}: unexpected failures: " + "; ".join(f"{c.name}: {c.message}" for c in others)
    assert rep.status == "failed"


def check(rep: DrillReport, name: str) -> Status:
    return next(c.status for c in rep.checks if c.name == name)
