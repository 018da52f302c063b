"""Find the backups under a folder or an ``s3://bucket/prefix`` and pick which ones to verify.

A backup is a ``pg_dump`` archive: a file ending in .dump, .backup, .pgdump or .tar, or (folders only)
a directory-format archive (a folder holding ``toc.dat``, pg_dump's table of contents; PostgreSQL docs,
pg_dump "-F d"). Its system is the first folder below the root when it is nested
(``root/pegasus/2026-11-30.dump``), else the file name before its date (``pegasus_2026-11-30.dump``,
``arqonbus-20261130T0300.dump``), else the whole stem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from restore_drill.errors import BadInput

from .destination import is_s3, list_keys, parse_s3

SUFFIXES = (".dump", ".backup", ".pgdump", ".tar")
_DATED = re.compile(r"^(?P<system>.+?)[_.-]+\d{4}-?\d{2}-?\d{2}")


@dataclass(frozen=True)
class FoundBackup:
    """One backup: where (a path or ``s3://bucket/key``), whose, how big (bytes), when last modified
    (ISO-8601 UTC, seconds)."""

    uri: str
    system: str
    size_bytes: int
    modified_at: str


def system_of(relative: str) -> str:
    """The system a backup belongs to, from its path relative to the inventory root (see module doc)."""
    parts = [p for p in relative.split("/") if p]
    if len(parts) > 1:
        return parts[0]
    stem = parts[-1]
    for suffix in SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    m = _DATED.match(stem)
    return m.group("system") if m else stem


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _local(root: Path) -> list[FoundBackup]:
    if not root.is_dir():
        raise BadInput(f"--backups {root} is not a folder; pass the folder holding the dumps or s3://bucket/prefix")
    found: list[FoundBackup] = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and p.suffix in SUFFIXES and not any(
                (q / "toc.dat").is_file() for q in p.parents if q != root and root in q.parents):
            st = p.stat()
            found.append(FoundBackup(str(p), system_of(rel), st.st_size,
                                     _iso(datetime.fromtimestamp(st.st_mtime, UTC))))
        elif p.is_dir() and (p / "toc.dat").is_file():
            files = [f for f in p.rglob("*") if f.is_file()]
            mtime = max(f.stat().st_mtime for f in files)
            found.append(FoundBackup(str(p), system_of(rel), sum(f.stat().st_size for f in files),
                                     _iso(datetime.fromtimestamp(mtime, UTC))))
    return found


def _s3(root: str, endpoint: str | None) -> list[FoundBackup]:
    url = parse_s3(root)
    found: list[FoundBackup] = []
    for o in list_keys(url, endpoint):
        key: str = o["Key"]
        if not key.endswith(SUFFIXES):
            continue
        rel = key[len(url.prefix):].lstrip("/") if url.prefix else key
        found.append(FoundBackup(f"s3://{url.bucket}/{key}", system_of(rel), int(o["Size"]), _iso(o["LastModified"])))
    return found


def find_backups(roots: Sequence[str], endpoint: str | None = None) -> list[FoundBackup]:
    """Every backup under each root (a folder or ``s3://bucket/prefix``). Raises BadInput for a root that
    is not a folder, InfraUnavailable when a bucket cannot be listed."""
    found: list[FoundBackup] = []
    for root in roots:
        found += _s3(root, endpoint) if is_s3(root) else _local(Path(root))
    return found


def select(backups: Iterable[FoundBackup], *, within_days: float | None = None, now: datetime | None = None,
           systems: Sequence[str] = ()) -> list[FoundBackup]:
    """Newest backup per system (``within_days`` None), or every backup modified in the last
    ``within_days`` days before ``now``. ``systems`` non-empty keeps only those systems."""
    items = [b for b in backups if not systems or b.system in systems]
    if within_days is not None:
        if within_days <= 0:
            raise BadInput(f"--within-days must be > 0, got {within_days:g}")
        cutoff = _iso((now or datetime.now(UTC)) - timedelta(days=within_days))
        return sorted((b for b in items if b.modified_at >= cutoff), key=lambda b: b.uri)
    newest: dict[str, FoundBackup] = {}
    for b in items:
        cur = newest.get(b.system)
        if cur is None or (b.modified_at, b.uri) > (cur.modified_at, cur.uri):
            newest[b.system] = b
    return [newest[s] for s in sorted(newest)]
