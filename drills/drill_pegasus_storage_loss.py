"""Pegasus: the whole storage prefix is deleted; restored from the dated backup prefix."""

import pytest

from restore_drill.drills.helpers import assert_passed

pytestmark = [pytest.mark.drill, pytest.mark.pegasus]


def test_pegasus_storage_loss(run_drill, drill_target: str) -> None:
    rep = run_drill("pegasus-storage-loss")
    assert_passed(rep)
    assert rep.disasters[0].details["deleted_count"] > 0
