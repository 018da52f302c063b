"""Named drill scenarios: a system, a procedure, a disaster. `restore-drill run NAME` picks from here."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .disasters.registry import NAMES as DISASTERS  # the disasters package owns the names
from .errors import BadInput

# What a drill runs between the hooks: the project's corrected procedure, or the operators' runbook as written.
PROCEDURES: tuple[str, ...] = ("corrected", "runbook")


@dataclass(frozen=True)
class DrillSpec:
    """One named drill: which system, which disaster (``disasters.registry`` name), which procedure
    (one of ``PROCEDURES``), and whether ``restore-drill run`` runs it by default."""

    name: str
    system: str  # built-in system name or a definition path
    disaster: str | None
    description: str
    procedure: str = "corrected"  # one of PROCEDURES
    upgrade: bool = False  # dump on the oldest server found, restore on the newest
    default: bool = False  # part of `restore-drill run` with no names
    physical: bool = False  # base backup + WAL archive + point-in-time recovery (restore_drill/pitr)
    variant: str = ""  # physical: procedure <system>-pitr-<variant>.md + binding <system>-pitr-<variant>.toml
    pg_major: int | None = None  # the PostgreSQL major it runs on when --pg-version is not given (None: the default)

    def with_disaster(self, disaster: str | None) -> DrillSpec:
        """This drill with ``disaster`` instead (None: unchanged); ``BadInput`` for an unknown name."""
        if disaster is None:
            return self
        validate_disaster(disaster)
        return replace(self, disaster=disaster)


DRILLS: tuple[DrillSpec, ...] = (
    DrillSpec("arqonbus-table-restore", "arqonbus", "truncate",
              "Every ArqonBus projector table in scope truncated; table-scoped restore from the custom-format dump", default=True),
    DrillSpec("arqonbus-corruption-restore", "arqonbus", "corrupt-rows",
              "One column of a fraction of ArqonBus projector rows changed in place (same count); "
              "table-scoped restore", default=True),
    DrillSpec("pegasus-full-restore", "pegasus", "drop-table",
              "One Pegasus table dropped (DROP TABLE ... CASCADE, with the foreign keys into it); whole-database "
              "restore + storage restore", default=True),
    DrillSpec("pegasus-storage-loss", "pegasus", "delete-prefix",
              "Pegasus object storage prefix deleted; restored from the dated backup prefix", default=True),
    DrillSpec("pegasus-object-corruption", "pegasus", "overwrite-objects",
              "A fraction of Pegasus objects overwritten in place with the same size; restored from the backup prefix"),
    DrillSpec("pegasus-late-writes", "pegasus", "late-writes",
              "Writes after the backup are lost by the restore: measures the data-loss window (RPO)"),
    DrillSpec("pegasus-mismatched-snapshots", "pegasus", "mismatched-snapshots",
              "Database and storage restored from different days: snapshot_pairing must catch it"),
    DrillSpec("pegasus-upgrade-restore", "pegasus", "drop-table",
              "One Pegasus table dropped; dump on the oldest Postgres found, restore into the newest "
              "(the upgrade drill)",
              upgrade=True),
    DrillSpec("arqonbus-pitr", "arqonbus", "bad-statement",
              "Errant DELETE while writes go on; base backup + archived WAL restored to just before it", physical=True),
    DrillSpec("pegasus-pitr", "pegasus", "bad-statement",
              "Errant DELETE + object clean-up; base backup + WAL and the versioned bucket restored to just before it",
              physical=True),
    DrillSpec("arqonbus-pitr-barman", "arqonbus", "bad-statement",
              "Errant DELETE while writes go on; Barman cloud base backup + WAL restored to just before it",
              physical=True, variant="barman"),
    DrillSpec("pegasus-pitr-barman", "pegasus", "bad-statement",
              "Errant DELETE + object clean-up; Barman cloud base backup + WAL and the versioned bucket restored to "
              "just before it", physical=True, variant="barman"),
    DrillSpec("arqonbus-pitr-pgbackrest", "arqonbus", "bad-statement",
              "Errant DELETE while writes go on; pgBackRest full backup + WAL (S3 over TLS) restored to just before it "
              "(pgBackRest 2.45: PostgreSQL 15)", physical=True, variant="pgbackrest", pg_major=15),
    DrillSpec("pegasus-pitr-pgbackrest", "pegasus", "bad-statement",
              "Errant DELETE + object clean-up; pgBackRest full backup + WAL (S3 over TLS) and the versioned bucket "
              "restored to just before it (pgBackRest 2.45: PostgreSQL 15)", physical=True, variant="pgbackrest",
              pg_major=15),
    DrillSpec("arqonbus-pitr-incremental", "arqonbus", "bad-statement",
              "Errant DELETE while writes go on; a full + two incremental base backups (PostgreSQL 17+) combined with "
              "pg_combinebackup, then archived WAL to just before it", physical=True, variant="incremental"),
)


def validate_disaster(name: str) -> str:
    """``name`` when it is a registered disaster; ``BadInput`` listing the names otherwise."""
    if name not in DISASTERS:
        raise BadInput(f"unknown disaster {name!r}; use one of {', '.join(DISASTERS)}")
    return name


def get(name: str) -> DrillSpec:
    """The drill called ``name``; ``BadInput`` listing the drills otherwise."""
    for d in DRILLS:
        if d.name == name:
            return d
    raise BadInput(f"unknown drill {name!r}; `restore-drill list` shows them: {', '.join(d.name for d in DRILLS)}")


def defaults() -> list[DrillSpec]:
    """The drills ``restore-drill run`` runs when given no names."""
    return [d for d in DRILLS if d.default]
