"""ArqonBus Continuum projector: the runbook's migration, deterministic data, invariants, live writes."""

from .generate import ArqonbusDataset, EventGenerator, load_dataset, seed
from .invariants import INVARIANTS
from .schema import (
    DLQ,
    EVENTS,
    MIGRATION_FILE,
    MIGRATION_RELPATH,
    OTHER_TABLES,
    PROJECTION,
    PROJECTOR_TABLES,
    apply_migration,
    create_other_app,
)
from .writes import smoke_cleanup, smoke_flow, write_event

__all__ = [
    "DLQ", "EVENTS", "INVARIANTS", "MIGRATION_FILE", "MIGRATION_RELPATH", "OTHER_TABLES", "PROJECTION",
    "PROJECTOR_TABLES", "ArqonbusDataset", "EventGenerator", "load_dataset", "apply_migration", "create_other_app", "seed", "smoke_cleanup",
    "smoke_flow", "write_event",
]
