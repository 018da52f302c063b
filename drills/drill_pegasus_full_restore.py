"""Pegasus: one table dropped (drop-table: DROP TABLE ... CASCADE); whole-database restore plus storage restore."""

import pytest

from restore_drill.drills.helpers import assert_passed

pytestmark = [pytest.mark.drill, pytest.mark.pegasus]


def test_pegasus_full_restore(run_drill, drill_target: str) -> None:
    rep = run_drill("pegasus-full-restore")
    assert_passed(rep)
    assert {c.name for c in rep.checks} >= {"artifact_paths_exist", "object_integrity", "snapshot_pairing",
                                           "api_probe", "write_smoke", "domain_invariants"}
    assert rep.disasters[0].name == "drop-table"
