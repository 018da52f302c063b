"""ArqonBus: rows corrupted in place (same row count), table-scoped restore repairs them."""

import pytest

from restore_drill.drills.helpers import assert_passed

pytestmark = [pytest.mark.drill, pytest.mark.arqonbus]


def test_arqonbus_corruption_restore(run_drill, drill_target: str) -> None:
    rep = run_drill("arqonbus-corruption-restore")
    assert_passed(rep)
    corrupted = rep.disasters[0].details
    assert corrupted["digest_before"] != corrupted["digest_after"], "the disaster must really change content"
