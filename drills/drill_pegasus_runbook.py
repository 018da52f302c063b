"""Pegasus: the operators' runbook as written. RESTORE_PREFIX (which snapshot to restore) is never defined:
it is the operator's choice at incident time. The drill binds it to its own backup's snapshot as an
operator would and reports that as a finding (empty, the sync would copy the whole backup bucket)."""

import pytest

from restore_drill import catalog
from restore_drill.drills.helpers import check

pytestmark = [pytest.mark.drill, pytest.mark.pegasus]


def test_pegasus_runbook_as_written(run_drill, drill_target: str) -> None:
    rep = run_drill(catalog.DrillSpec("pegasus-runbook", "pegasus", "drop-table", "as written", procedure="runbook"))
    integrity = next(c for c in rep.checks if c.name == "object_integrity")
    assert integrity.status.value == "passed", integrity.message
    sync_back = next(s for s in rep.steps if s.name == "Restore from snapshot prefix #1")
    oi = next(o for o in sync_back.operator_inputs if o["name"] == "$RESTORE_PREFIX")
    assert "if empty this command copies the whole backup bucket" in oi["note"]
    assert check(rep, "row_counts").value == "passed"  # the database half of the runbook works
    manual = [s for s in rep.steps if s.status == "manual"]
    assert manual, "numbered checklist lines are recorded as manual steps"
    assert rep.status == "passed"  # the operator input is a finding (warning), not a failed restore
