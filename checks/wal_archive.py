"""WAL archive checks: is every segment recovery needs in the archive and readable, and what time range
can this backup set restore to. Inputs come from restore_drill.pitr.wal (archive listing, pg_waldump scan).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from restore_drill.pitr.wal import (
    DEFAULT_SEGMENT_BYTES,
    WalScan,
    format_lsn,
    parse_lsn,
    segment_name,
    segments_between,
)

from .result import CheckResult

_ERR_LSN = re.compile(r"at ([0-9A-F]+/[0-9A-F]+)")


def wal_continuity(listing: dict[str, int], scan: WalScan | None, start_lsn: int, end_lsn: int, *, timeline: int = 1,
                   seg_bytes: int = DEFAULT_SEGMENT_BYTES) -> CheckResult:
    """Every WAL segment from the base backup's start (``start_lsn``) to the target (``end_lsn``) is in the
    archive, whole (``seg_bytes`` long), and pg_waldump reads its records through ``end_lsn``.

    ``listing``: {archived file name: size}. ``scan``: pg_waldump over those segments from ``start_lsn`` to
    ``end_lsn`` (None: not run). The first gap is named: a missing segment, a short one, or the segment
    where pg_waldump stopped (with its words: e.g. "invalid record length", "incorrect resource manager
    data checksum").
    """
    name = "wal_continuity"
    needed = segments_between(start_lsn, end_lsn, timeline, seg_bytes)
    ev: dict[str, Any] = {"from": format_lsn(start_lsn), "to": format_lsn(end_lsn), "needed": needed,
                          "archived": sorted(k for k in listing if len(k) == 24)}
    missing = [n for n in needed if n not in listing]
    if missing:
        return CheckResult.failed(name, f"WAL segment {missing[0]} is missing from the archive ({len(missing)} of "
                                        f"{len(needed)} needed from {format_lsn(start_lsn)} to {format_lsn(end_lsn)} "
                                        "missing): recovery stops there", expected=needed, observed=missing,
                                  evidence=ev)
    short = [n for n in needed if listing[n] != seg_bytes]
    if short:
        return CheckResult.failed(name, f"WAL segment {short[0]} in the archive is {listing[short[0]]} bytes, not "
                                        f"{seg_bytes}: a partial upload", expected=seg_bytes, observed=listing[short[0]],
                                  evidence=ev)
    if scan is None:
        return CheckResult.errored(name, "pg_waldump was not run over the archive", evidence=ev)
    ev.update({"waldump_exit": scan.exit_code, "waldump_stopped": scan.stopped,
               "read_to": format_lsn(scan.end_lsn) if scan.end_lsn is not None else None})
    if scan.end_lsn is None or scan.end_lsn < end_lsn:
        # pg_waldump stops at the first record it cannot read; past end_lsn that is the archive's end (fine).
        m = _ERR_LSN.search(scan.stopped)
        at = parse_lsn(m.group(1)) if m else (scan.end_lsn or start_lsn)
        seg = segment_name(at, timeline, seg_bytes)
        return CheckResult.failed(name, f"WAL segment {seg} in the archive is unreadable before the target "
                                        f"({format_lsn(end_lsn)}): {scan.stopped or 'pg_waldump read no record'}",
                                  expected=format_lsn(end_lsn), observed=ev["read_to"], evidence=ev)
    return CheckResult.passed(name, f"{len(needed)} segment(s) {needed[0]}..{needed[-1]} archived whole; pg_waldump "
                                    f"read every record from {format_lsn(start_lsn)} to {format_lsn(end_lsn)}",
                              expected=len(needed), observed=len(needed), evidence=ev)


def recoverable_window(scan: WalScan | None, backup_end_lsn: int, *, target: datetime | None = None) -> CheckResult:
    """Earliest and latest time this backup set (base backup + archive) can restore to, for operators.

    Earliest: the commit time of the last transaction before the backup's end LSN (a target before it
    stops recovery before the backup is consistent); latest: the last commit pg_waldump reads in the
    continuous archive. Fails when no WAL past the backup's end is readable, or when ``target`` lies
    outside the window.
    """
    name = "recoverable_window"
    if scan is None or scan.end_lsn is None or scan.end_lsn < backup_end_lsn:
        read = format_lsn(scan.end_lsn) if scan and scan.end_lsn is not None else "nothing"
        return CheckResult.failed(name, f"the archive does not reach the base backup's end ({format_lsn(backup_end_lsn)};"
                                        f" read to {read}): this backup set cannot be restored",
                                  evidence={"stopped": scan.stopped if scan else ""})
    before = [t for lsn, t in scan.commits if lsn < backup_end_lsn]
    earliest = before[-1] if before else None
    latest = scan.commits[-1][1] if scan.commits else None
    ev = {"earliest": earliest.isoformat() if earliest else None, "latest": latest.isoformat() if latest else None,
          "backup_end_lsn": format_lsn(backup_end_lsn), "archive_read_to": format_lsn(scan.end_lsn),
          "stopped": scan.stopped, "commits": len(scan.commits), "target": target.isoformat() if target else None}
    span = f"{ev['earliest'] or 'the backup end (' + format_lsn(backup_end_lsn) + ')'} .. {ev['latest'] or 'n/a'}"
    if target is not None and latest is not None and target > latest:
        return CheckResult.failed(name, f"target {target.isoformat()} is after the latest restorable time "
                                        f"{latest.isoformat()} (archive read to {format_lsn(scan.end_lsn)})",
                                  expected=span, observed=ev["target"], evidence=ev)
    if target is not None and earliest is not None and target < earliest:
        return CheckResult.failed(name, f"target {target.isoformat()} is before the earliest restorable time "
                                        f"{earliest.isoformat()} (the base backup ends at {format_lsn(backup_end_lsn)})",
                                  expected=span, observed=ev["target"], evidence=ev)
    return CheckResult.passed(name, f"this backup set restores to any time in {span}", observed=span, evidence=ev)
