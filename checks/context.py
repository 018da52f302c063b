"""The one context every registered check runs over: what the drill (or verify-backup) collected, and
the connection to the restored database, opened lazily by the first check that needs it and closed
once by :meth:`CheckContext.close`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psycopg import sql

from restore_drill.objectstore import ObjectStore, S3Client

from ._util import ident, quote_qualified
from .result import CheckResult

if TYPE_CHECKING:
    from restore_drill.fixtures.binaries import PgBinaries
    from restore_drill.fixtures.database import Database
    from restore_drill.records import BackupRecord, SnapshotRecord, StepRecord
    from restore_drill.seeds.manifest import Manifest
    from restore_drill.systems import SystemDef


@dataclass
class CheckContext:
    """Everything a check may need, collected as the drill ran.

    ``results`` holds the results of the checks that already ran in this plan (in order), so a check
    judged from outcomes (``rto``: achieved only when every data-fidelity check passed) reads them
    instead of re-deriving them. ``newest_write_before`` / ``newest_write_restored`` are the write
    ledger's readings (ISO-8601 UTC; see ``seeds/ledger.py``) from which ``rpo`` measures the
    data-loss window.
    """

    system: SystemDef
    db: Database  # the restored database
    client_bins: PgBinaries
    manifest: Manifest | None  # taken when the backup was made
    backup: BackupRecord | None
    restore_steps: list[StepRecord]
    restore_s: float | None
    s3_client: S3Client | ObjectStore | None = None  # an ObjectStore for a folder snapshot (verify-backup)
    bucket: str | None = None
    prefix: str | None = None
    snapshot: SnapshotRecord | None = None  # the storage snapshot that was restored
    last_write_at: str | None = None  # newest write lost by the restore (late-writes)
    newest_write_before: str | None = None  # ledger: newest write committed before the disaster
    newest_write_restored: str | None = None  # ledger: newest write present after the restore
    ledger_note: str = ""  # how newest_write_restored was read (or why it could not be)
    ledger_manifest_mark: str | None = None  # ledger beat written right before the manifest was taken
    api_base_url: str | None = None
    sample_ids: Sequence[Any] = ()
    migration_apply: Callable[[], Any] | None = None
    smoke: tuple[Callable[[], Any], Callable[[Any], Any]] | None = None
    rto_s: float | None = None
    rpo_s: float | None = None
    backup_note: str = ""  # no backup file identified: which files the backup wrote that backup_globs miss
    retention: Any = None  # a folder or S3Location holding the backup history, when the user gave one
    # Restored from a physical backup (base backup + WAL, restore_drill/pitr): the checks of a pg_dump archive
    # and its pg_restore steps do not apply, and the PITR checks already in ``results`` count for rto.
    physical: bool = False
    results: list[CheckResult] = field(default_factory=list)
    _conn: Any = field(default=None, repr=False)
    _rows_present: int | None = field(default=None, repr=False)

    def conn(self) -> Any:
        """The autocommit connection to the restored database, opened on first use (reopened if closed)."""
        if self._conn is None or self._conn.closed:
            self._conn = self.db.connect(autocommit=True)
        return self._conn

    def close(self) -> None:
        """Close the connection if a check opened it; safe to call twice."""
        c, self._conn = self._conn, None
        if c is not None:
            c.close()

    @property
    def scope_tables(self) -> list[str] | None:
        """The tables under test: the definition's, else every table in the manifest, else None (all)."""
        if self.system.tables:
            return list(self.system.tables)
        return sorted(self.manifest.tables) if self.manifest else None

    @property
    def declared_tables(self) -> list[str]:
        return list(self.system.tables or ())

    def restored_tables_with_rows(self) -> int:
        """How many tables under test hold at least one row in the restore (missing tables count as empty);
        read once per context. Used to refuse a pass over nothing (``CheckSpec.examines_rows``)."""
        if self._rows_present is None:
            n = 0
            conn = self.conn()
            for t in self.scope_tables or []:
                reg = conn.execute("SELECT to_regclass(%s)", (quote_qualified(t),)).fetchone()
                if reg and reg[0] is not None and conn.execute(
                        sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(ident(t))).fetchone()[0]:
                    n += 1
            self._rows_present = n
        return self._rows_present

    def manifest_rows(self) -> int:
        """Rows the manifest recorded in the tables under test (0 without a manifest)."""
        if self.manifest is None:
            return 0
        scope = set(self.scope_tables or self.manifest.tables)
        return sum(t.row_count for n, t in self.manifest.tables.items() if n in scope)

    def result(self, name: str) -> CheckResult | None:
        """The result of an earlier check of this plan, or None when it did not run (yet)."""
        return next((r for r in self.results if r.name == name), None)
