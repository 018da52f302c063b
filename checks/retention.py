"""retention: the backup history meets the policy (daily coverage, paired snapshots, versioning)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from restore_drill.objectstore import S3Client, iter_pages

from ._util import timed
from .result import CheckResult

# 2026-02-20, 20260220, 20260220T101500Z: the date forms the runbooks' `date` commands produce.
_DATE = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)|(?<!\d)(\d{4})(\d{2})(\d{2})T\d{6}Z?")
RECOMMENDED_DAYS = 30


@dataclass(frozen=True)
class S3Location:
    """Backups under ``s3://bucket/prefix*``; ``prefix`` is a name prefix (``pegasus-``), not only a folder."""

    client: S3Client = field(repr=False)
    bucket: str
    prefix: str = ""


Location = Path | S3Location


def date_in(name: str) -> date | None:
    m = _DATE.search(name)
    if not m:
        return None
    y, mo, d = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(4), m.group(5), m.group(6))
    try:
        return date(int(y), int(mo), int(d))
    except ValueError:
        return None


def _names(loc: Location, pattern: re.Pattern[str] | None) -> Iterator[str]:
    """Entry names in a folder, or keys and first-level "folders" under an S3 name prefix."""
    if isinstance(loc, Path):
        for p in sorted(loc.iterdir()):
            if (p.is_dir() or p.stat().st_size > 0) and (pattern is None or pattern.search(p.name)):
                yield p.name
        return
    for page in iter_pages(loc.client, loc.bucket, loc.prefix, delimiter="/"):
        for o in page.get("Contents", []):
            if int(o.get("Size", 0)) > 0 and (pattern is None or pattern.search(o["Key"])):
                yield o["Key"]
        for cp in page.get("CommonPrefixes", []):
            if pattern is None or pattern.search(cp["Prefix"]):
                yield cp["Prefix"]


def _dated(loc: Location, pattern: str | None) -> dict[date, list[str]]:
    pat = re.compile(pattern) if pattern else None
    out: dict[date, list[str]] = {}
    for n in _names(loc, pat):
        d = date_in(n.rsplit("/", 2)[-2] if n.endswith("/") else n.rsplit("/", 1)[-1])
        if d is not None:
            out.setdefault(d, []).append(n)
    return out


def _where(loc: Location) -> str:
    return str(loc) if isinstance(loc, Path) else f"s3://{loc.bucket}/{loc.prefix}"


@timed("retention")
def retention(
    db_backups: Location | None,
    days_required: int = 7,
    *,
    snapshots: Location | None = None,
    versioned_bucket: S3Location | None = None,
    db_pattern: str | None = None,
    snapshot_pattern: str | None = None,
    today: date | None = None,
) -> CheckResult:
    """Daily database backups cover the last ``days_required`` days (7 minimum, 30 recommended by the
    Pegasus policy); with ``snapshots``, every database backup day has a storage snapshot of the same
    day; with ``versioned_bucket``, that bucket has versioning enabled.

    Days come from the dates in names (``pegasus_2026-02-20.dump``, ``…_20260220T101500Z.dump``,
    ``s3://backup/pegasus-2026-02-20/``). The window ends today (UTC), or yesterday when today's
    backup has not run yet. Skipped when no backup location is configured.
    """
    name = "retention"
    if db_backups is None:
        return CheckResult.skipped(name, "no backup history location configured (point the drill at the backup "
                                   "folder or bucket prefix to check retention)")
    if isinstance(db_backups, Path) and not db_backups.is_dir():
        return CheckResult.failed(name, f"backup history folder {db_backups} does not exist")
    today = today or datetime.now(UTC).date()
    db_days = _dated(db_backups, db_pattern)
    end = today if today in db_days else today - timedelta(days=1)
    window = [end - timedelta(days=i) for i in range(days_required)]
    missing = [d.isoformat() for d in window if d not in db_days]
    problems: list[str] = []
    ev: dict[str, Any] = {"location": _where(db_backups), "days_required": days_required,
                          "window": [window[-1].isoformat(), end.isoformat()] if window else [],
                          "backup_days": len(db_days), "missing_days": missing[:60],
                          "newest": max(db_days).isoformat() if db_days else None,
                          "oldest": min(db_days).isoformat() if db_days else None}
    if not db_days:
        problems.append(f"no dated backups in {_where(db_backups)}")
    elif missing:
        problems.append(f"{len(missing)} of the last {days_required} days have no backup in {_where(db_backups)}: "
                        f"{', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
    if snapshots is not None:
        snap_days = _dated(snapshots, snapshot_pattern)
        unpaired = sorted(d.isoformat() for d in db_days if d not in snap_days and d >= window[-1])
        ev |= {"snapshot_location": _where(snapshots), "snapshot_days": len(snap_days), "unpaired_days": unpaired[:60]}
        if unpaired:
            examples = [f"{d} ({db_days[date.fromisoformat(d)][0]})" for d in unpaired[:3]]
            problems.append(f"{len(unpaired)} database backup day(s) without a storage snapshot of the same day in "
                            f"{_where(snapshots)}: {', '.join(examples)}")
    if versioned_bucket is not None:
        status = versioned_bucket.client.get_bucket_versioning(Bucket=versioned_bucket.bucket).get("Status", "")
        ev["versioning"] = {versioned_bucket.bucket: status or "never enabled"}
        if status != "Enabled":
            problems.append(f"bucket {versioned_bucket.bucket} versioning is {status or 'off'}, the policy asks for it")
    covered = days_required - len(missing)
    if problems:
        return CheckResult.failed(name, "; ".join(problems), expected=days_required, observed=covered, evidence=ev)
    note = "" if days_required >= RECOMMENDED_DAYS else f" (policy recommends {RECOMMENDED_DAYS})"
    return CheckResult.passed(name, f"daily backups cover the last {days_required} days{note}"
                              + (", each with a same-day storage snapshot" if snapshots is not None else "")
                              + (", versioning on" if versioned_bucket is not None else ""),
                              expected=days_required, observed=covered, evidence=ev)
