"""backup_chain: an incremental backup chain (PostgreSQL 17+) is complete: pg_combinebackup can rebuild it.

Each incremental backup's manifest names the backup it was taken against (``pg_basebackup --incremental
=<manifest>``); ``pg_combinebackup`` refuses a chain with a missing or misplaced link (PostgreSQL docs,
pg_combinebackup: "the backups must be specified from oldest to newest"; a gap is reported as the LSN
a backup starts at versus the one its predecessor ended at). ``--dry-run`` checks without writing.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from restore_drill.fixtures.binaries import PgBinaries

from .result import CheckResult


def backup_chain(bins: PgBinaries, chain: Sequence[Path], timeout_s: float = 300.0) -> CheckResult:
    """``pg_combinebackup --dry-run`` over ``chain`` (full backup first, then incrementals oldest to newest).

    Passed when it accepts the chain; failed with its own error line (naming the backup and LSNs) when a
    link is missing or out of order; skipped when ``bins`` has no pg_combinebackup (PostgreSQL < 17).
    """
    name = "backup_chain"
    if not bins.has("pg_combinebackup"):
        return CheckResult.skipped(name, f"{bins.label} has no pg_combinebackup (incremental backups need PG 17+)")
    if not chain:
        return CheckResult.failed(name, "no backup given: an empty chain restores nothing")
    with tempfile.TemporaryDirectory(prefix="rd-combine-") as tmp:  # --dry-run still wants -o; nothing is written
        done = subprocess.run([str(bins.tool("pg_combinebackup")), "--dry-run", "-o", str(Path(tmp) / "out"),
                               *map(str, chain)], capture_output=True, text=True, timeout=timeout_s,
                              env={"LANG": "C", "LC_ALL": "C", "PATH": "/usr/bin:/bin"})
    ev = {"chain": [str(p) for p in chain], "exit_code": done.returncode, "stderr": done.stderr.strip()[-1500:]}
    if done.returncode != 0:
        err = next((ln.strip() for ln in done.stderr.splitlines() if "error" in ln), done.stderr.strip()[-300:])
        return CheckResult.failed(name, f"the incremental chain of {len(chain)} backup(s) cannot be combined: {err}",
                                  observed=done.returncode, evidence=ev)
    return CheckResult.passed(name, f"pg_combinebackup accepts the chain of {len(chain)} backup(s) "
                                    f"({', '.join(p.name for p in chain)})", observed=0, evidence=ev)
