"""ArqonBus: the operators' runbook as written. Its restore command is wrong (pg_restore takes the URL
as a second archive name), so this drill proves the report says so instead of passing."""

import pytest

from restore_drill import catalog
from restore_drill.drills.helpers import check

pytestmark = [pytest.mark.drill, pytest.mark.arqonbus]


def test_arqonbus_runbook_as_written(run_drill, drill_target: str) -> None:
    spec = catalog.DrillSpec("arqonbus-runbook", "arqonbus", "truncate", "operators' runbook", procedure="runbook")
    rep = run_drill(spec)
    assert rep.status == "failed"
    restore = [s for s in rep.steps if s.phase == "restore"]
    assert restore and restore[0].status == "failed" and "too many command-line arguments" in restore[0].stderr_tail
    assert check(rep, "row_counts").value == "failed"
    assert check(rep, "rto").value == "failed"
    conda = [s for s in rep.steps if "conda run" in s.command]
    assert conda and conda[0].status == "not_run"
