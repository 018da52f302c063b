"""Pegasus: schema, deterministic rows + objects, domain invariants, the post-restore write smoke."""

from .dataset import COLUMNS, SCHEMA_FILE, TABLES, ObjectSpec, PegasusDataset, apply_schema, full_key
from .flows import REFERENCE_COLUMNS, referenced_keys, sample_lecture_ids, smoke_cleanup, smoke_flow
from .generate import build, seed
from .invariants import INVARIANTS, object_violations

__all__ = [
    "COLUMNS", "INVARIANTS", "REFERENCE_COLUMNS", "SCHEMA_FILE", "TABLES", "ObjectSpec", "PegasusDataset",
    "apply_schema", "build", "full_key", "object_violations", "referenced_keys", "sample_lecture_ids", "seed",
    "smoke_cleanup", "smoke_flow",
]
