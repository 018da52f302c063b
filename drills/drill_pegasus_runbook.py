"""Pegasus: the operators' runbook as written. RESTORE_PREFIX is never defined, so its storage restore
syncs the whole backup bucket under the live prefix; the drill must report the orphans, not pass."""

import pytest

from restore_drill import catalog
from restore_drill.drills.helpers import check

pytestmark = [pytest.mark.drill, pytest.mark.pegasus]


def test_pegasus_runbook_as_written(run_drill, drill_target: str) -> None:
    rep = run_drill(catalog.DrillSpec("pegasus-runbook", "pegasus", "drop-table", "as written", procedure="runbook"))
    integrity = next(c for c in rep.checks if c.name == "object_integrity")
    assert integrity.status.value == "failed" and "orphan" in integrity.message
    assert check(rep, "row_counts").value == "passed"  # the database half of the runbook works
    manual = [s for s in rep.steps if s.status == "manual"]
    assert manual, "numbered checklist lines are recorded as manual steps"
    assert rep.status == "failed"
