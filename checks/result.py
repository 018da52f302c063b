"""The typed result every check returns. Names are stable identifiers users alert on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

CHECK_NAMES = (
    "backup_artifact", "restore_exit_status", "migration_applied", "migration_idempotent", "row_counts",
    "table_checksums", "schema_fidelity", "sequence_health", "referential_integrity", "blast_radius",
    "projector_consistency", "physical_integrity", "artifact_paths_exist", "object_integrity",
    "snapshot_pairing", "write_smoke", "api_probe", "rto", "rpo", "retention", "restored_objects",
    "domain_invariants", "archive_coverage",
    # physical (point-in-time recovery) drills only: checks.registry.PHYSICAL_ONLY
    "recovery_target", "pitr_exactness", "data_loss_window", "wal_continuity", "recoverable_window",
    "backup_manifest", "storage_at_target", "upgrade_check", "backup_chain",
)


class Status(str, Enum):  # noqa: UP042 - str(Status.X) and f-strings must stay as they are
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERRORED = "errored"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    message: str
    expected: Any = None
    observed: Any = None
    evidence: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is Status.PASSED

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        return d

    @classmethod
    def passed(cls, name: str, message: str, **kw: Any) -> CheckResult:
        return cls(name, Status.PASSED, message, **kw)

    @classmethod
    def failed(cls, name: str, message: str, **kw: Any) -> CheckResult:
        return cls(name, Status.FAILED, message, **kw)

    @classmethod
    def skipped(cls, name: str, message: str, **kw: Any) -> CheckResult:
        return cls(name, Status.SKIPPED, message, **kw)

    @classmethod
    def errored(cls, name: str, message: str, **kw: Any) -> CheckResult:
        return cls(name, Status.ERRORED, message, **kw)
