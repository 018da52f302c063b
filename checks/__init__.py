"""Integrity invariants: plain typed functions over connections and clients, returning CheckResult.

No pytest here: the drill engine, the CLI and the tests all call these.
"""

from .api import api_probe
from .backup import backup_artifact, restore_exit_status
from .data import row_counts, table_checksums
from .invariants import domain_invariants, projector_consistency
from .migration import migration_applied, migration_idempotent
from .objectives import rpo, rto
from .physical import physical_integrity
from .references import Relation, referential_integrity
from .result import CHECK_NAMES, CheckResult, Status
from .retention import S3Location, retention
from .schema import schema_fidelity
from .scope import blast_radius
from .sequences import sequence_health
from .smoke import write_smoke
from .storage import ReferenceDiff, artifact_paths_exist, object_integrity, reference_diff, snapshot_pairing

__all__ = [
    "CHECK_NAMES", "CheckResult", "ReferenceDiff", "Relation", "S3Location", "Status", "api_probe",
    "artifact_paths_exist", "backup_artifact", "blast_radius", "domain_invariants", "migration_applied",
    "migration_idempotent", "object_integrity", "physical_integrity", "projector_consistency",
    "reference_diff", "referential_integrity", "restore_exit_status", "retention", "row_counts", "rpo", "rto",
    "schema_fidelity", "sequence_health", "snapshot_pairing", "table_checksums", "write_smoke",
]
