"""ArqonBus domain invariants: SQL returning the violating rows (empty result = invariant holds).

The queries are declared in the system definition (drills/systems/arqonbus.toml), one copy for the
checks, the drills and users. They use built-in functions only, so they run on a restored database
even when a table-scoped restore left the migration's functions behind.
"""

from __future__ import annotations

from ..definitions import invariants

INVARIANTS: dict[str, tuple[str, str]] = invariants("arqonbus")
