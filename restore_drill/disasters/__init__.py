"""Disasters: what goes wrong between the backup and the restore.

Each disaster is one module of this package declaring ``DISASTER = Disaster(name, kind, injector, summary)``,
listed once in ``registry.DISASTERS``. An injector takes a DisasterContext, refuses targets the harness
did not create (unless the user named them with --allow-destructive) as its first line, does one kind
of damage, and returns a DisasterRecord saying exactly what it did (tables, row ids, counts, digests,
object keys and hashes), so a report can show the damage and the checks can be judged against it.
Choices are drawn from ``seed``: the same seed on the same data does the same damage. An injector that
finds nothing to damage raises HarnessFault: a drill whose disaster did nothing must not pass.
"""

from __future__ import annotations

from .hook import as_hook, restore_prefix
from .interface import Disaster, DisasterContext, DisasterRecord, Injector, Kind
from .registry import DISASTERS, NAMES, get, inject, of_kind

__all__ = [
    "DISASTERS", "NAMES", "Disaster", "DisasterContext", "DisasterRecord", "Injector", "Kind", "as_hook", "get",
    "inject", "of_kind", "restore_prefix",
]
