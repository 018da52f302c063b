"""The one list of disasters. `--disaster` choices, ``catalog.DISASTERS`` and the safety tests read it.

To add a disaster: write ``restore_drill/disasters/<name>.py`` whose injector's first line is a guard
from ``interface`` and which ends with ``DISASTER = Disaster("<name>", Kind.<KIND>, <injector>, "<summary>")``,
then import the module here and add ``<module>.DISASTER`` to ``DISASTERS``.
"""

from __future__ import annotations

from restore_drill.errors import BadInput

from . import (
    bad_statement,
    corrupt_rows,
    database_lost,
    delete_objects,
    delete_prefix,
    delete_rows,
    drop_table,
    host_lost,
    late_writes,
    mismatched_snapshots,
    overwrite_objects,
    truncate,
)
from .interface import Disaster, DisasterContext, DisasterRecord, Kind

# In the order `restore-drill list` and `--disaster` show them.
DISASTERS: tuple[Disaster, ...] = (
    truncate.DISASTER,
    drop_table.DISASTER,
    delete_rows.DISASTER,
    corrupt_rows.DISASTER,
    late_writes.DISASTER,
    delete_objects.DISASTER,
    overwrite_objects.DISASTER,
    delete_prefix.DISASTER,
    mismatched_snapshots.DISASTER,
    bad_statement.DISASTER,
    database_lost.DISASTER,
    host_lost.DISASTER,
)

NAMES: tuple[str, ...] = tuple(d.name for d in DISASTERS)
if len(set(NAMES)) != len(NAMES):  # two modules claiming one name would silently shadow each other
    raise RuntimeError(f"disaster registered twice: {sorted(n for n in NAMES if NAMES.count(n) > 1)}")


def get(name: str) -> Disaster:
    """The registered disaster called ``name``; BadInput naming the choices otherwise."""
    for d in DISASTERS:
        if d.name == name:
            return d
    raise BadInput(f"unknown disaster {name!r}; choose one of {', '.join(NAMES)} (--disaster NAME)")


def of_kind(kind: Kind) -> tuple[Disaster, ...]:
    """The registered disasters that damage ``kind``."""
    return tuple(d for d in DISASTERS if d.kind is kind)


def inject(name: str, ctx: DisasterContext) -> DisasterRecord:
    """Run the disaster ``name`` on ``ctx``; see ``interface.Injector`` for what it raises."""
    return get(name).inject(ctx)
