"""pgBackRest for the physical drills (``*-pitr-pgbackrest``): what this machine's pgBackRest can do, the folder
and TLS front it needs, and its base backup read back from the drill's S3.

Facts this module relies on (pgBackRest 2.45, Debian bookworm's package, measured here):

- 2.45 supports PostgreSQL up to 15 (its release notes: PostgreSQL 16 support came with a later release).
- Its S3 driver speaks only TLS (there is no plain-HTTP option), and it checks the host it connects to against
  the certificate's DNS names / common name, not an IP address SAN. moto's server speaks plain HTTP, so the
  drill puts a :class:`restore_drill.fixtures.s3.tls.TlsFront` before it and hands its CA file to pgBackRest
  (``repo1-storage-ca-file``); the endpoint is ``localhost``.
- ``archive-push`` (archive_command) and ``archive-get`` (restore_command) run as the PostgreSQL server's
  user, in the server's environment, and read the configuration file, the CA file and the lock folder. So
  those live in one folder the drill makes (:class:`Site`) that both the server and the runbook's confined
  steps reach (runbook.run_runbook's ``shared_folders``). Keys are never written to it: pgBackRest reads
  ``PGBACKREST_REPO1_S3_KEY`` / ``PGBACKREST_REPO1_S3_KEY_SECRET`` from the environment (pgBackRest
  configuration reference: every option may be given as ``PGBACKREST_<OPTION>``).
- Each backup is ``<repo1-path>/backup/<stanza>/<label>/``: ``backup.manifest`` (+ ``.copy``, written last)
  and ``pg_data/...`` files; WAL goes to ``<repo1-path>/archive/<stanza>/<pg>-<id>/<timeline+log>/
  <segment>-<sha1>.gz`` (restore_drill.pitr.wal reads those names). ``backup.manifest`` is pgBackRest's own
  INI manifest, not PostgreSQL's ``backup_manifest``: pg_verifybackup cannot check it.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from restore_drill.errors import BadInput, InfraUnavailable
from restore_drill.objectstore import S3Client, sizes_by_folder
from restore_drill.records import BackupRecord

from . import wal

if TYPE_CHECKING:
    from restore_drill.fixtures.s3 import S3Endpoint
    from restore_drill.fixtures.s3.tls import TlsFront
    from restore_drill.reports.model import DrillReport

    from .server import PitrHost

VARIANT = "pgbackrest"
MANIFEST = "backup.manifest"
# The PostgreSQL major a pgBackRest drill runs on when --pg-version is not given: the newest 2.45 supports.
DEFAULT_MAJOR = 15
# Newest PostgreSQL major each pgBackRest release supports, for releases known here (2.45: the and
# Debian bookworm's). A newer pgBackRest is not second-guessed: it refuses an unsupported server itself.
SUPPORTED_MAX: dict[tuple[int, int], int] = {(2, 45): 15}
INSTALL_HINT = "`make tools` installs it as root (apt-get install pgbackrest)"
_VERSION = re.compile(r"pgBackRest (\d+)\.(\d+)")


def installed_version(exe: str | None = None) -> tuple[int, int] | None:
    """(major, minor) of the ``pgbackrest`` on PATH (or ``exe``), from ``pgbackrest version``
    ("pgBackRest 2.45"); None when there is none or it does not answer."""
    exe = exe or shutil.which("pgbackrest")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = _VERSION.search(out)
    return (int(m[1]), int(m[2])) if m else None


def max_major(version: tuple[int, int]) -> int | None:
    """Newest PostgreSQL major pgBackRest ``version`` supports, when known: 15 for 2.45 (older releases support
    no more than that); None for newer releases (unknown here)."""
    known = [v for v in SUPPORTED_MAX if v >= version]
    return SUPPORTED_MAX[min(known)] if known else None


def unavailable_reason(major: int, version: tuple[int, int] | None, servers: tuple[int, ...] | None = None) -> str | None:
    """Why a pgBackRest drill cannot run on PostgreSQL ``major`` with pgBackRest ``version`` (None: not
    installed) on a machine with PostgreSQL servers ``servers`` (majors; None: not checked), as one line
    naming the fix; None when it can."""
    if version is None:
        return f"pgBackRest is not installed on this machine: {INSTALL_HINT}"
    top = max_major(version)
    v = f"{version[0]}.{version[1]}"
    if top is not None and major > top:
        return (f"pgBackRest {v} supports PostgreSQL up to {top}, not {major}: run this drill with --pg-version {top} "
                f"(or install a pgBackRest release that supports PostgreSQL {major})")
    if servers is not None and major not in servers:
        return (f"pgBackRest {v} runs on PostgreSQL {major}, and this machine has no PostgreSQL {major} server "
                f"(found: {', '.join(map(str, servers)) or 'none'}): apt-get install postgresql-{major}, or pass "
                f"--pg-version with a found major pgBackRest supports")
    return None


def require(requested_major: int | None, version: tuple[int, int] | None, servers: tuple[int, ...] | None = None) -> int:
    """The PostgreSQL major a pgBackRest drill runs on: ``requested_major`` (--pg-version) or DEFAULT_MAJOR.
    ``version``: the installed pgBackRest (:func:`installed_version`); ``servers``: the PostgreSQL server majors
    found. Raises, with :func:`unavailable_reason` as the message: BadInput when --pg-version asks for a major
    this pgBackRest does not support; InfraUnavailable when pgBackRest or that PostgreSQL is not installed."""
    major = requested_major or DEFAULT_MAJOR
    why = unavailable_reason(major, version, servers)
    if why:
        top = max_major(version) if version is not None else None
        raise (BadInput if top is not None and major > top else InfraUnavailable)(why)
    return major


@dataclass
class Site:
    """The database host's pgBackRest folder (``folder``: configuration, CA file, lock/log/spool folders, owned
    by the server user, 0700, inside the PitrHost's private folder) and the TLS front before the drill's S3.

    ``variables()`` gives the binding's values for it. ``close()`` stops the front (the folder goes with the
    PitrHost)."""

    folder: Path
    front: TlsFront
    data_directory: Path

    def variables(self) -> dict[str, str]:
        """PGBR_HOME (this folder), S3_TLS_URL / S3_TLS_HOST / S3_TLS_PORT (the TLS front: the URL is what lets
        a confined step connect to it, restore_drill/sandbox/endpoints), S3_CA_FILE (its CA), PGDATA (the drill
        server's data directory: pgBackRest's pg1-path)."""
        return {"PGBR_HOME": str(self.folder), "S3_TLS_URL": self.front.url, "S3_TLS_HOST": self.front.host,
                "S3_TLS_PORT": str(self.front.port),
                "S3_CA_FILE": str(self.front.ca_file), "PGDATA": str(self.data_directory)}

    def close(self) -> None:
        """Stop the TLS front."""
        self.front.close()


def start_site(host: PitrHost, s3: S3Endpoint) -> Site:
    """Make the pgBackRest folder under ``host.root`` (after ``host.start_primary``) and start a TLS front for
    ``s3`` with its CA file there; give the server (archive-push, archive-get) the repository keys through its
    environment (PitrHost gives every server PGBACKREST_REPO1_S3_KEY / _KEY_SECRET). Raises InfraUnavailable
    when the front cannot listen."""
    from restore_drill.fixtures.s3.tls import TlsFront

    assert host.primary is not None, "start the primary first"
    folder = host.root / "pgbackrest"
    for d in (folder, folder / "lock", folder / "log", folder / "spool"):
        d.mkdir(mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)
        host.user.chown(str(d))
    front = TlsFront(s3.url, folder=folder / "tls").start()
    assert front.ca_file is not None
    host.user.chown(str(folder / "tls"))
    host.user.chown(str(front.ca_file))
    return Site(folder, front, host.primary.data)


# -- the repository read back from S3 --------------------------------------------------------------------------


def parse_manifest(text: str) -> dict[str, dict[str, Any]]:
    """backup.manifest (INI; each value JSON: '"0/2000028"', 1234, true) -> {section: {key: value}}.
    Values that are not JSON stay strings."""
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive paths
    cp.read_string(text)
    out: dict[str, dict[str, Any]] = {}
    for section in cp.sections():
        vals: dict[str, Any] = {}
        for k, v in cp.items(section):
            try:
                vals[k] = json.loads(v)
            except json.JSONDecodeError:
                vals[k] = v
        out[section] = vals
    return out


def wal_range(manifest: dict[str, dict[str, Any]]) -> tuple[int, int, int]:
    """(timeline, start LSN, end LSN) of the backup, from its manifest's [backup] section
    (backup-archive-start's timeline, backup-lsn-start, backup-lsn-stop); KeyError/ValueError when absent."""
    b = manifest["backup"]
    return int(str(b["backup-archive-start"])[:8], 16), wal.parse_lsn(b["backup-lsn-start"]), wal.parse_lsn(b["backup-lsn-stop"])


def newest_backup(client: S3Client, bucket: str, base_prefix: str,
                  rep: DrillReport | None = None) -> tuple[BackupRecord, dict[str, dict[str, Any]]] | None:
    """The newest pgBackRest backup under ``s3://bucket/base_prefix/`` (``<repo1-path>/backup/<stanza>``) whose
    backup.manifest exists (pgBackRest writes it last), as a BackupRecord (path = its s3:// folder, size =
    every file of the backup in bytes as stored, sha256 = of backup.manifest as S3 holds it, which lists
    each file's SHA-1) and the parsed manifest; None when there is none. ``rep``: the drill's report, whose
    "Base Backup" step gives started_at."""
    base = base_prefix.strip("/") + "/"
    files = sizes_by_folder(client, bucket, base)
    done = sorted(lb for lb, names in files.items() if MANIFEST in names)
    if not done:
        return None
    label = done[-1]  # labels are YYYYMMDD-HHMMSSF[_...]: the newest sorts last
    raw = client.get_object(Bucket=bucket, Key=f"{base}{label}/{MANIFEST}")["Body"].read()
    manifest = parse_manifest(raw.decode())
    b = manifest.get("backup", {})
    step = wal.base_backup_step(rep) if rep is not None else None
    record = BackupRecord(
        path=f"s3://{bucket}/{base}{label}/", size_bytes=sum(files[label].values()),
        sha256=hashlib.sha256(raw).hexdigest(),
        started_at=getattr(step, "started_at", "") or _iso(b.get("backup-timestamp-start")),
        finished_at=_iso(b.get("backup-timestamp-stop")),
        tool_version=_tool_version(manifest),
        archive_header={"format": "pgBackRest", "label": label, "type": b.get("backup-type", ""),
                        "files": len([n for n in files[label] if n.startswith("pg_data/")]),
                        "archive_start": b.get("backup-archive-start", ""),
                        "archive_stop": b.get("backup-archive-stop", "")})
    return record, manifest


def _tool_version(manifest: dict[str, dict[str, Any]]) -> str:
    """'pgBackRest 2.45 (PostgreSQL 15)': the release the manifest records and the server version it backed up."""
    v = manifest.get("backrest", {}).get("backrest-version", "")
    pg = manifest.get("backup:db", {}).get("db-version", "")
    return f"pgBackRest {v or '(version unknown)'}" + (f" (PostgreSQL {pg})" if pg else "")


def _iso(epoch: Any) -> str:
    """A manifest's Unix time (seconds) as ISO-8601 UTC ('' when absent)."""
    from datetime import UTC, datetime

    try:
        return datetime.fromtimestamp(int(epoch), UTC).isoformat() if epoch not in (None, "") else ""
    except (TypeError, ValueError, OverflowError):
        return ""


MANIFEST_SKIP_REASON = ("pgBackRest keeps its own backup.manifest (file list with SHA-1 checksums), not PostgreSQL's "
                        "backup_manifest, so pg_verifybackup cannot verify this backup; its content is judged by "
                        "row_counts/table_checksums after recovery (pgBackRest itself checks each file's SHA-1 "
                        "during restore)")

__all__ = ["DEFAULT_MAJOR", "INSTALL_HINT", "MANIFEST", "MANIFEST_SKIP_REASON", "SUPPORTED_MAX", "VARIANT", "Site",
           "installed_version", "max_major", "newest_backup", "parse_manifest", "require", "start_site",
           "unavailable_reason", "wal_range"]
