"""``verify-backup`` as a library: restore a real pg_dump archive into each target Postgres version and
check it (and its object-storage snapshot). Public surface: ``verify_backup`` and the names below; the
modules are ``archive`` (reading the dump), ``snapshot`` (the storage snapshot), ``inputs`` (system and
targets), ``version`` (one target version), ``checks`` (the checks on one restore), ``verdict`` (matrix
and verdict text) and ``run`` (the whole run and its run folder)."""

from .archive import ArchiveInfo, inspect_archive
from .checks import archive_row_counts, restored_objects
from .run import HISTORY_NAME, VERDICT_FILE, verify_backup
from .snapshot import Snapshot, open_snapshot
from .verdict import CHECK_ORDER, build_matrix, safe_targets, verdict_text
from .version import DRILL_NAME, RESTORE_FLAGS

__all__ = ["CHECK_ORDER", "DRILL_NAME", "HISTORY_NAME", "RESTORE_FLAGS", "VERDICT_FILE", "ArchiveInfo", "Snapshot",
           "archive_row_counts", "build_matrix", "inspect_archive", "open_snapshot", "restored_objects",
           "safe_targets", "verdict_text", "verify_backup"]
