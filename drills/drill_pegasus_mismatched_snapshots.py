"""Pegasus: the database comes from one day's dump, storage from another day's snapshot.
snapshot_pairing must catch it, naming which side is newer and what dangles."""

import pytest

from restore_drill.drills.helpers import check

pytestmark = [pytest.mark.drill, pytest.mark.pegasus]


def test_pegasus_mismatched_snapshot_pair_is_caught(run_drill, drill_target: str) -> None:
    rep = run_drill("pegasus-mismatched-snapshots")
    pairing = next(c for c in rep.checks if c.name == "snapshot_pairing")
    assert pairing.status.value == "failed", pairing.message
    assert "newer" in pairing.message
    assert check(rep, "object_integrity").value == "failed"
    assert rep.status == "failed"
