"""A Barman cloud base backup as the drill reads it back from S3 (the procedure writes it there directly).

``barman-cloud-backup`` stores each base backup under ``<prefix>/<server>/base/<backup id>/``: ``data.tar``
(``.gz``/``.bz2``/... when compressed; one more tar per tablespace) and ``backup.info``, key=value lines
holding ``begin_xlog``/``end_xlog``/``timeline`` (Barman's BackupInfo fields; barman 3.19.1,
barman/cloud.py CloudBackupUploader). It writes no ``backup_manifest``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from restore_drill.objectstore import S3Client, sizes_by_folder
from restore_drill.records import BackupRecord

from . import wal

if TYPE_CHECKING:
    from restore_drill.reports.model import DrillReport

INFO = "backup.info"


def parse_info(text: str) -> dict[str, str]:
    """backup.info's key=value lines -> dict (values as written; 'None' kept as the string)."""
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k.strip()] = v.strip()
    return out


def wal_range(info: dict[str, str]) -> tuple[int, int, int]:
    """(timeline, start LSN, end LSN) of the base backup, from backup.info; KeyError/ValueError when absent."""
    return int(info["timeline"]), wal.parse_lsn(info["begin_xlog"]), wal.parse_lsn(info["end_xlog"])


def barman_backup(client: S3Client, bucket: str, base_prefix: str,
                  rep: DrillReport | None = None) -> tuple[BackupRecord, dict[str, str]] | None:
    """The newest Barman cloud base backup under ``s3://bucket/base_prefix/`` as a BackupRecord (path = the
    s3:// URL of its data tar, size = every file of the backup in bytes, sha256 of the data tar read back)
    and its backup.info; None when there is none. ``rep``: the drill's report, whose "Base Backup" step
    gives started_at."""
    base = base_prefix.strip("/") + "/"
    files = sizes_by_folder(client, bucket, base)
    done = sorted(b for b, names in files.items() if INFO in names and any(n.startswith("data.tar") for n in names))
    if not done:
        return None
    backup_id = done[-1]  # Barman backup ids are timestamps (YYYYMMDDTHHMMSS): the newest sorts last
    info = parse_info(client.get_object(Bucket=bucket, Key=f"{base}{backup_id}/{INFO}")["Body"].read().decode())
    data = min(n for n in files[backup_id] if n.startswith("data.tar"))
    h = hashlib.sha256()
    for chunk in client.get_object(Bucket=bucket, Key=f"{base}{backup_id}/{data}")["Body"].iter_chunks(1 << 20):
        h.update(chunk)
    step = wal.base_backup_step(rep) if rep is not None else None
    record = BackupRecord(path=f"s3://{bucket}/{base}{backup_id}/{data}", size_bytes=sum(files[backup_id].values()),
                          sha256=h.hexdigest(), started_at=getattr(step, "started_at", "") or _iso(info.get("begin_time", "")),
                          finished_at=_iso(info.get("end_time", "")),
                          tool_version=_tool_version(info),
                          archive_header={"format": "Barman cloud", "backup_id": backup_id,
                                          "files": sorted(files[backup_id]), "begin_wal": info.get("begin_wal", ""),
                                          "end_wal": info.get("end_wal", "")})
    return record, info


def _tool_version(info: dict[str, str]) -> str:
    """'barman-cloud-backup 3.19.1 (PostgreSQL 160014)': barman's installed version (the tool wrote the backup
    in this process's environment) and the server version backup.info records."""
    from importlib import metadata

    try:
        v = metadata.version("barman")
    except metadata.PackageNotFoundError:
        v = "(version unknown)"
    pg = info.get("version", "")
    return f"barman-cloud-backup {v}" + (f" (PostgreSQL {pg})" if pg else "")


def _iso(text: str) -> str:
    """backup.info's '2026-11-30 19:20:00.123456+00:00' as ISO-8601 ('' when absent or unreadable)."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(text).isoformat() if text and text != "None" else ""
    except ValueError:
        return ""


__all__ = ["INFO", "barman_backup", "parse_info", "wal_range"]
