"""Restore into the next Postgres major: dump on the oldest server found, restore into the newest."""

import pytest

from restore_drill.drills.helpers import assert_passed
from restore_drill.fixtures import binaries

pytestmark = [pytest.mark.drill, pytest.mark.pegasus, pytest.mark.upgrade]


def test_pegasus_upgrade_restore(run_drill) -> None:
    majors = sorted(b.major for b in binaries.servers())
    if len(majors) < 2:
        pytest.skip(f"the upgrade drill needs two Postgres majors; found {majors}")
    rep = run_drill("pegasus-upgrade-restore")
    assert_passed(rep)
    assert rep.id == f"pegasus-upgrade-restore[pg{majors[0]}-to-pg{majors[-1]}-moto]"
    assert f"(PostgreSQL) {binaries.select(majors[0]).version}" in rep.backups[0].tool_version
