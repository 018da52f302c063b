"""backup_chain: an incremental backup chain (PostgreSQL 17+) is complete: pg_combinebackup can rebuild it.

Each incremental backup's manifest names the backup it was taken against (``pg_basebackup --incremental
=<manifest>``); ``pg_combinebackup`` refuses a chain with a missing or misplaced link (PostgreSQL docs,
pg_combinebackup: "the backups must be specified from oldest to newest"; a gap is reported as the LSN
a backup starts at versus the one its predecessor ended at). ``--dry-run`` checks without writing.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from restore_drill.fixtures.binaries import PgBinaries

from .result import CheckResult

_EXPECTED = re.compile(r"but expected ([0-9A-F]+/[0-9A-F]+)")


def backup_chain(bins: PgBinaries, chain: Sequence[Path], timeout_s: float = 300.0, *,
                 recorded: Sequence[tuple[str, str]] = ()) -> CheckResult:
    """``pg_combinebackup --dry-run`` over ``chain`` (full backup first, then incrementals oldest to newest).

    Passed when it accepts the chain; failed with its own error line (naming the backup and LSNs) when a
    link is missing or out of order; skipped when ``bins`` has no pg_combinebackup (PostgreSQL < 17).
    ``recorded``: (link name, start LSN 'X/Y') of every link the backup phase wrote, oldest first: a link
    recorded but absent from ``chain`` (by folder name), or the one whose start LSN pg_combinebackup says it
    expected ("backup at ... starts at LSN A, but expected B": B is the missing predecessor's start), is
    named in the failure. Observed: the number of links in ``chain``; expected: the number recorded (when
    given); pg_combinebackup's exit status is in the evidence.
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
    have = {p.name for p in chain}
    missing = [link for link, _ in recorded if link not in have]
    if done.returncode != 0:
        err = next((ln.strip() for ln in done.stderr.splitlines() if "error" in ln), done.stderr.strip()[-300:])
        m = _EXPECTED.search(err)
        expected = [link for link, lsn in recorded if m and lsn == m.group(1)]
        named = sorted(set(missing) | set(expected), key=[link for link, _ in recorded].index)
        ev["missing_links"] = named
        lead = (f"link {', '.join(named)} of the chain the backup phase wrote "
                f"({', '.join(link for link, _ in recorded)}) is missing; " if named else "")
        return CheckResult.failed(name, f"{lead}the incremental chain of {len(chain)} backup(s) cannot be combined: "
                                  f"{err}", expected=len(recorded) or None, observed=len(chain), evidence=ev)
    if missing:  # combinable without them (e.g. the newest links lost): the restore reaches less than was backed up
        ev["missing_links"] = missing
        return CheckResult.failed(name, f"link {', '.join(missing)} the backup phase wrote is not in the chain "
                                  f"restored ({', '.join(p.name for p in chain)}): the restore starts from an older "
                                  "backup than the newest one taken", expected=len(recorded), observed=len(chain),
                                  evidence=ev)
    return CheckResult.passed(name, f"pg_combinebackup accepts the chain of {len(chain)} backup(s) "
                                    f"({', '.join(p.name for p in chain)})", expected=len(recorded) or None,
                              observed=len(chain), evidence=ev)
