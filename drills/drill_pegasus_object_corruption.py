"""Pegasus: objects overwritten in place with the same size after the backup. The corrected procedure
repairs them; the runbook's `aws s3 sync` skips them (same size, newer), and the drill says so."""

import pytest

from restore_drill import catalog
from restore_drill.drills.helpers import assert_passed, check

pytestmark = [pytest.mark.drill, pytest.mark.pegasus]


def test_pegasus_object_corruption_repaired(run_drill, drill_target: str) -> None:
    assert_passed(run_drill("pegasus-object-corruption"))


def test_pegasus_object_corruption_survives_the_runbooks_sync(run_drill, drill_target: str) -> None:
    spec = catalog.get("pegasus-object-corruption")
    rep = run_drill(catalog.DrillSpec(spec.name + "-runbook", "pegasus", spec.disaster, spec.description,
                                      procedure="runbook"))
    assert check(rep, "object_integrity").value == "failed"
    msg = next(c.message for c in rep.checks if c.name == "object_integrity")
    assert "changed" in msg
