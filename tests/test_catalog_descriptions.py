"""`restore-drill list` describes each drill by its disaster: the words must say what the injector does
(restore_drill/disasters/<name>.py), never another disaster (a fresh-user tester read "database lost (every
table dropped)" for drop-table, which drops one table)."""

from __future__ import annotations

import re

import pytest

from restore_drill import catalog
from restore_drill.disasters import registry

# Phrases that claim a particular kind of damage -> the disasters that really do it.
CLAIMS: dict[str, frozenset[str]] = {
    r"database (is )?lost|whole database dropped": frozenset({"database-lost"}),
    r"every table dropped|all tables dropped": frozenset(),  # no injector drops every table
    r"host (is )?lost|working folder wiped": frozenset({"host-lost"}),
    r"table dropped|drop table": frozenset({"drop-table", "bad-statement"}),
    r"truncat": frozenset({"truncate"}),
    r"changed in place|corrupt": frozenset({"corrupt-rows"}),
    r"overwritten": frozenset({"overwrite-objects"}),
    r"prefix deleted": frozenset({"delete-prefix"}),
    r"different days|another day": frozenset({"mismatched-snapshots"}),
    r"errant delete": frozenset({"bad-statement"}),
    r"after the backup": frozenset({"late-writes"}),
}

# What each disaster's injector does, in words a description of a drill using it must contain.
SAYS: dict[str, str] = {
    "drop-table": r"one \w+ table dropped",
    "truncate": r"truncated",
    "corrupt-rows": r"fraction of .* rows changed in place",
    "overwrite-objects": r"fraction of .* objects overwritten",
    "delete-prefix": r"prefix deleted",
    "late-writes": r"writes after the backup",
    "mismatched-snapshots": r"different days",
    "bad-statement": r"errant delete",
    "database-lost": r"database lost",
    "host-lost": r"host lost",
}


@pytest.mark.parametrize("spec", catalog.DRILLS, ids=lambda s: s.name)
def test_description_claims_only_its_own_disaster(spec: catalog.DrillSpec) -> None:
    text = spec.description.lower()
    wrong = [p for p, allowed in CLAIMS.items() if re.search(p, text) and spec.disaster not in allowed]
    assert wrong == [], f"{spec.name} ({spec.disaster}) describes another disaster: {wrong}"
    assert spec.disaster is not None and re.search(SAYS[spec.disaster], text), \
        f"{spec.name}: {spec.description!r} does not say what {spec.disaster} does"


def test_every_catalog_disaster_has_its_wording() -> None:
    """A new disaster used by the catalog needs its wording here (so the test above cannot pass on nothing)."""
    used = {s.disaster for s in catalog.DRILLS}
    assert used <= set(SAYS) and set(SAYS) <= set(registry.NAMES)


def test_the_old_drop_table_wording_is_caught() -> None:
    """The check fails on the wording the tester found (so it is not a test that cannot fail)."""
    old = "pegasus database lost (every table dropped); whole-database restore + storage restore"
    assert [p for p, allowed in CLAIMS.items() if re.search(p, old) and "drop-table" not in allowed]
