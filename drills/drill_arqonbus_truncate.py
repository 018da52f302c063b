"""ArqonBus: projector tables truncated, table-scoped restore from the custom-format dump."""

import pytest

from restore_drill.drills.helpers import assert_passed

pytestmark = [pytest.mark.drill, pytest.mark.arqonbus]


def test_arqonbus_table_restore(run_drill, drill_target: str) -> None:
    rep = run_drill("arqonbus-table-restore")
    assert_passed(rep)
    names = {c.name for c in rep.checks}
    assert {"blast_radius", "projector_consistency", "table_checksums", "write_smoke"} <= names
