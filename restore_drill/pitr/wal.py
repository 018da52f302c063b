"""WAL names, the archive in S3, and a pg_waldump read of it.

Segment file names are ``TTTTTTTTXXXXXXXXYYYYYYYY``: timeline, then the segment number split into
"log" and "seg" parts (PostgreSQL source, xlog_internal.h XLogFileName). ``scan`` downloads the archived
segments of one timeline and lets pg_waldump walk the records from a start LSN: where it stops (a missing
file, an invalid record) is where recovery from this archive would stop too.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from restore_drill.fixtures.binaries import PgBinaries
from restore_drill.objectstore import S3Client, S3Store

SEGMENT = re.compile(r"^[0-9A-F]{24}$")
# pgBackRest names each archived WAL file "<WAL file name>-<SHA-1 of the segment>" plus the compression's
# extension (compress-type: gz is the default, also lz4, zst, bz2) (pgBackRest user guide, "Archive": the
# archive/<stanza>/<pg version>-<history id>/<timeline + log>/ folders; measured with pgBackRest 2.45).
_PGBACKREST_NAME = re.compile(r"^(?P<wal>[0-9A-F]{24}(?:\.partial)?)-[0-9a-f]{40}(?P<ext>\.gz|\.lz4|\.zst|\.bz2)?$")
DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024
_RECORD = re.compile(r"lsn: (?P<lsn>[0-9A-F]+/[0-9A-F]+),.*?desc: (?P<desc>\S+)(?: (?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \w+))?")


def parse_lsn(text: str) -> int:
    """'0/3019170' -> 50434416. Raises ValueError on anything else."""
    hi, lo = text.strip().split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def format_lsn(lsn: int) -> str:
    """50434416 -> '0/3019170' (PostgreSQL's X/X form)."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def segment_name(lsn: int, timeline: int = 1, seg_bytes: int = DEFAULT_SEGMENT_BYTES) -> str:
    """The WAL file holding byte ``lsn`` on ``timeline``."""
    segno = lsn // seg_bytes
    per_log = 0x100000000 // seg_bytes
    return f"{timeline:08X}{segno // per_log:08X}{segno % per_log:08X}"


def segments_between(start: int, end: int, timeline: int = 1, seg_bytes: int = DEFAULT_SEGMENT_BYTES) -> list[str]:
    """Every segment from the one holding ``start`` to the one holding ``end`` (inclusive)."""
    return [segment_name(n * seg_bytes, timeline, seg_bytes) for n in range(start // seg_bytes, end // seg_bytes + 1)]


def archive_listing(client: S3Client, bucket: str, prefix: str) -> dict[str, int]:
    """{file name: size in bytes} of everything under ``s3://bucket/prefix/``. Names are the file names
    without folders: Barman cloud files each segment under a folder named for its timeline and log
    (``<server>/wals/0000000100000000/000000010000000000000003``); a flat archive is unchanged. pgBackRest's
    ``<segment>-<sha1>[.gz]`` names (:func:`wal_file_name`) are listed under the segment's own name; a
    gzip-compressed one with the uncompressed size its gzip trailer records (RFC 1952 ISIZE, read with a
    4-byte ranged GET), so a partial upload is still seen; other compressions keep the stored size."""
    out = {}
    for name, (key, size) in _archive_keys(client, bucket, prefix).items():
        if key.endswith(".gz") and size >= 18:  # the smallest gzip member: 10-byte header + 8-byte trailer
            tail = client.get_object(Bucket=bucket, Key=prefix.strip("/") + "/" + key, Range="bytes=-4")["Body"].read()
            size = int.from_bytes(tail, "little") if len(tail) == 4 else size
        out[name] = size
    return out


def wal_file_name(base: str) -> str:
    """The WAL file name an archived file stands for: pgBackRest's ``<segment>-<sha1>[.gz|.lz4|.zst|.bz2]``
    -> ``<segment>``; any other name unchanged."""
    m = _PGBACKREST_NAME.match(base)
    return m["wal"] if m else base


def _archive_keys(client: S3Client, bucket: str, prefix: str) -> dict[str, tuple[str, int]]:
    """{WAL file name: (key relative to the prefix, size)} under ``s3://bucket/prefix/``."""
    return {wal_file_name(o.key.rsplit("/", 1)[-1]): (o.key, o.size) for o in S3Store(client, bucket, prefix).list()}


def backup_wal_range(manifest: dict[str, Any]) -> tuple[int, int, int]:
    """(timeline, start LSN, end LSN) of a base backup from its backup_manifest (the "WAL-Ranges" entry)."""
    r = manifest["WAL-Ranges"][0]
    return int(r["Timeline"]), parse_lsn(r["Start-LSN"]), parse_lsn(r["End-LSN"])


@dataclass
class WalScan:
    """What pg_waldump read from the archive, starting at ``start``.

    ``commits``: (lsn, commit time) of every COMMIT record read, in WAL order. ``end_lsn``: the last
    record read. ``stopped``: pg_waldump's own words for why it stopped (its last error line).
    """

    start: int
    end_lsn: int | None = None
    commits: list[tuple[int, datetime]] = field(default_factory=list)
    stopped: str = ""
    exit_code: int = 0
    downloaded: list[str] = field(default_factory=list)


def download_segments(client: S3Client, bucket: str, prefix: str, names: list[str], dest: Path) -> list[str]:
    """Download the named archive files into ``dest`` (as ``dest/<name>``, a gzip-compressed pgBackRest file
    uncompressed); returns those that existed."""
    got = []
    base = prefix.strip("/") + "/"
    keys = _archive_keys(client, bucket, prefix)
    for n in names:
        try:
            key = keys.get(n, (n, 0))[0]
            client.download_file(bucket, base + key, str(dest / (n + ".gz" if key.endswith(".gz") else n)))
            if key.endswith(".gz"):
                _gunzip(dest / (n + ".gz"), dest / n)
            got.append(n)
        except Exception as e:  # a missing key: the caller names the gap
            if "404" not in str(e) and "Not Found" not in str(e) and "NoSuchKey" not in str(e):
                raise
    return got


def _gunzip(src: Path, dst: Path) -> None:
    """Uncompress ``src`` to ``dst``. A file that is not valid gzip is put there as stored: pg_waldump then
    stops at it ("invalid magic number"), so the scan names that segment instead of the drill erroring."""
    import gzip
    import shutil
    import zlib

    try:
        with gzip.open(src, "rb") as f, open(dst, "wb") as out:
            shutil.copyfileobj(f, out, 1 << 20)
    except (OSError, EOFError, zlib.error):
        src.replace(dst)
        return
    src.unlink()


def scan(bins: PgBinaries, client: S3Client, bucket: str, prefix: str, start: int, timeline: int = 1,
         end: int | None = None, seg_bytes: int = DEFAULT_SEGMENT_BYTES, timeout_s: float = 120.0) -> WalScan:
    """pg_waldump the archived segments of ``timeline`` from ``start`` (to ``end`` when given).

    Downloads the consecutive archived segments from the one holding ``start`` on (to the first one
    absent), then runs ``pg_waldump -p DIR -s START [-e END]``. A COMMIT record's time is read from
    its description ("COMMIT 2026-11-30 18:05:05.203354 UTC").
    """
    listing = archive_listing(client, bucket, prefix)
    first = start // seg_bytes
    names = []
    n = first
    while (name := segment_name(n * seg_bytes, timeline, seg_bytes)) in listing:
        names.append(name)
        n += 1
        if end is not None and n * seg_bytes > end:
            break
    out = WalScan(start)
    if not names:
        out.stopped = f"archive holds no segment {segment_name(start, timeline, seg_bytes)}"
        out.exit_code = 1
        return out
    with tempfile.TemporaryDirectory(prefix="rd-waldump-") as tmp:
        out.downloaded = download_segments(client, bucket, prefix, names, Path(tmp))
        args = [str(bins.tool("pg_waldump")), "-p", tmp, "-t", str(timeline), "-s", format_lsn(start)]
        if end is not None:
            args += ["-e", format_lsn(end)]
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s,
                              env={"TZ": "UTC", "LANG": "C", "PATH": "/usr/bin:/bin"})  # commit times in UTC
    out.exit_code = done.returncode
    for line in done.stdout.splitlines():
        m = _RECORD.search(line)
        if not m:
            continue
        lsn = parse_lsn(m["lsn"])
        out.end_lsn = lsn
        if m["desc"] == "COMMIT" and m["ts"]:
            out.commits.append((lsn, _pg_time(m["ts"])))
    errs = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
    out.stopped = errs[-1] if errs else ""
    return out


def _pg_time(text: str) -> datetime:
    """'2026-11-30 18:05:05.203354 UTC' (pg_waldump prints the server's UTC) -> aware datetime."""
    from datetime import UTC

    stamp = text.rsplit(" ", 1)[0]
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in stamp else "%Y-%m-%d %H:%M:%S"
    return datetime.strptime(stamp, fmt).replace(tzinfo=UTC)


# A backup history file, "<WAL file name>.<start offset, 8 hex>.backup", is written by pg_backup_stop into
# pg_wal and archived like a segment (PostgreSQL docs, "Continuous Archiving and Point-in-Time Recovery",
# "Making a Base Backup": "the backup history file ... contains the starting and ending times, and WAL
# segments of the backup"). Lines "START WAL LOCATION: 0/2000028 (file ...)", "STOP WAL LOCATION: ...",
# "START TIME: 2026-11-30 21:58:37 UTC", "STOP TIME: ...", "LABEL: ...".
HISTORY_NAME = re.compile(r"^[0-9A-F]{24}\.[0-9A-F]{8}\.backup$")
_HISTORY_LINE = re.compile(r"^(?P<key>[A-Z][A-Z ]+): (?P<value>.*)$")


@dataclass(frozen=True)
class BackupHistory:
    """One base backup's backup history file: ``start_lsn``/``stop_lsn`` (WAL positions; the stop one is the
    backup's consistency point), ``started_at``/``stopped_at`` (aware datetimes; PostgreSQL writes them to the
    whole second), ``label``, ``name`` (the history file's name)."""

    name: str
    start_lsn: int
    stop_lsn: int
    started_at: datetime
    stopped_at: datetime
    label: str = ""

    @property
    def stop_lsn_text(self) -> str:
        """STOP WAL LOCATION as PostgreSQL prints it (0/2000100)."""
        return format_lsn(self.stop_lsn)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (LSNs as PostgreSQL prints them, times ISO-8601)."""
        return {"name": self.name, "start_lsn": format_lsn(self.start_lsn), "stop_lsn": format_lsn(self.stop_lsn),
                "started_at": self.started_at.isoformat(), "stopped_at": self.stopped_at.isoformat(),
                "label": self.label}


def parse_backup_history(name: str, text: str) -> BackupHistory:
    """A :class:`BackupHistory` from a history file's ``text``; ValueError when a field is missing."""
    f: dict[str, str] = {}
    for line in text.splitlines():
        m = _HISTORY_LINE.match(line.strip())
        if m:
            f[m["key"]] = m["value"].strip()
    try:
        return BackupHistory(name, parse_lsn(f["START WAL LOCATION"].split()[0]),
                             parse_lsn(f["STOP WAL LOCATION"].split()[0]), _pg_time(f["START TIME"]),
                             _pg_time(f["STOP TIME"]), f.get("LABEL", ""))
    except KeyError as e:
        raise ValueError(f"backup history file {name} lacks {e.args[0]}") from None


def local_backup_histories(pg_wal: Path) -> list[BackupHistory]:
    """The backup history files in a server's ``pg_wal`` folder, oldest stop first (pg_backup_stop removes
    the older ones already archived, so this is often just the newest)."""
    out = []
    for p in sorted(pg_wal.glob("*.backup")) if pg_wal.is_dir() else []:
        if HISTORY_NAME.match(p.name):
            with contextlib.suppress(OSError, ValueError):
                out.append(parse_backup_history(p.name, p.read_text()))
    return sorted(out, key=lambda h: h.stop_lsn)


def archived_backup_histories(client: S3Client, bucket: str, prefix: str) -> list[BackupHistory]:
    """The backup history files archived under ``s3://bucket/prefix/`` (uncompressed ones: an archive_command
    copying ``%p`` as is), oldest stop first; unreadable ones left out."""
    out = []
    for name, (key, _) in _archive_keys(client, bucket, prefix).items():
        if HISTORY_NAME.match(name):
            with contextlib.suppress(Exception):
                body = client.get_object(Bucket=bucket, Key=prefix.strip("/") + "/" + key)["Body"].read()
                out.append(parse_backup_history(name, body.decode()))
    return sorted(out, key=lambda h: h.stop_lsn)


BASE_BACKUP_STEP = "Base Backup"  # the section every PITR procedure takes its base backup in


def base_backup_step(rep: Any) -> Any | None:
    """The first step of ``rep`` (a DrillReport) from the procedure's Base Backup section, or None: its
    started_at is when the base backup began, for the tools (Barman, pgBackRest) whose records lack it."""
    return next((s for s in rep.steps if BASE_BACKUP_STEP in s.name), None)
