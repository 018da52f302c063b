"""What ``verify-backup`` decides before restoring anything: which system the archive belongs to, which
target versions to try (and which can read the archive at all), and the inputs every version shares."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence

from restore_drill.checks.result import CheckResult
from restore_drill.fixtures import binaries
from restore_drill.fixtures.binaries import PgBinaries
from restore_drill.fixtures.postgres import PostgresBackend
from restore_drill.seeds.manifest import Manifest, ObjectSnapshot

from ..errors import BadInput, DrillError
from ..events import EventBus
from ..redact import Redactor
from ..systems import SystemDef, builtin_systems, load_system, resolve_system
from .archive import ArchiveInfo, dotted, readable_by
from .snapshot import Snapshot


@dataclasses.dataclass
class Inputs:
    """What every target version's restore and checks share (the archive is read once)."""


    archive: ArchiveInfo
    manifest: Manifest | None
    system: SystemDef | None
    system_how: str
    snapshot: Snapshot | None
    objects: CheckResult | None  # object_integrity is the same for every version: computed once
    timeout_s: float
    redact: Redactor
    events: EventBus



def choose_system(system: str | None, manifest: Manifest | None, archive: ArchiveInfo) -> tuple[SystemDef | None, str]:
    """The system whose reference columns and allowlist apply: named, from the manifest, or the built-in
    one whose reference columns all live in tables the archive holds, or (a system without reference
    columns, like arqonbus, Postgres-only) whose ``[database] tables`` list is all in the archive."""
    if system is not None:
        return resolve_system(system), "given"
    if manifest is not None and manifest.system:
        with contextlib.suppress(DrillError):
            return resolve_system(manifest.system), "from the manifest"
    tables = set(archive.data_tables) | {dotted(e.key) for e in archive.entries if e.desc == "TABLE"}
    for p in builtin_systems().values():
        with contextlib.suppress(DrillError):
            s = load_system(p)
            owned = {r.rsplit(".", 1)[0] for r in s.references} or set(s.tables or ())
            if owned and owned <= tables:
                return s, "recognised from the archive's tables"
    return None, "none"


def choose_targets(versions: Sequence[int] | None, archive: ArchiveInfo,
                   given: PostgresBackend | None = None) -> tuple[list[PgBinaries], list[str]]:
    """Target binary sets (pg_restore of each), plus notes on versions found but left out by default.
    ``given``: a server the user gives (``--pg-backend external``) is the only target, restored with
    client tools at least as new as it; a ``--pg-version`` it does not run is ``BadInput``.

    A version older than the archive is left out by default; its note offers ``--pg-version N`` (a
    downgrade: ``newer_than`` lets that version try when its pg_restore reads the archive) only when its
    pg_restore does read the archive's table of contents. pg_restore refuses an archive whose format
    version is newer than its own ("unsupported version (1.15) in file header": pg_restore 15 on a
    pg_dump 16 custom archive, seen here; the format changes with some majors, e.g. 1.15 came with 16, see
    K_VERS_* in PostgreSQL's src/bin/pg_dump/pg_backup_archiver.h), so for those the note says what does
    work: a plain-SQL dump loaded with psql (PostgreSQL docs, pg_dump: output "is not guaranteed" to load
    into an older major version, so even that is a manual downgrade)."""
    if given is not None:
        wrong = sorted(set(versions or ()) - {given.major})
        if wrong:
            raise BadInput(f"--pg-backend {given.kind} runs PostgreSQL {given.server_version}, not "
                           f"{', '.join(map(str, wrong))}: drop --pg-version or pass --pg-version {given.major}")
        return [given.client_bins], []
    if versions:
        return [binaries.select(v) for v in dict.fromkeys(versions)], []
    found = sorted(binaries.servers(), key=lambda b: b.major)
    floor = max(m for m in (archive.dumped_from_major, archive.dumped_by_major, 0) if m is not None)
    chosen = [b for b in found if b.major >= floor]
    notes = [_older_note(b, archive) for b in found if b.major < floor]
    return chosen, notes


def _older_note(tool: PgBinaries, archive: ArchiveInfo) -> str:
    """Why ``tool``'s version was not tried (it is older than the archive) and what the user can do."""
    why = (f"PostgreSQL {tool.major} not tried: older than the archive (pg_dump {archive.dumped_by or '?'} "
           f"from {archive.dumped_from or '?'})")
    err = readable_by(tool, archive.path)
    if err is None:
        return f"{why}; pass --pg-version {tool.major} to try a downgrade"
    return (f"{why}, and its pg_restore {tool.version} cannot read this archive ({err}), so --pg-version "
            f"{tool.major} cannot restore it; to move this data to PostgreSQL {tool.major}, dump it as plain SQL "
            f"(pg_dump --format=plain) and load that with psql")


def newer_than(archive: ArchiveInfo, tool: PgBinaries, timeout_s: float) -> str | None:
    """None when ``tool``'s pg_restore reads ``archive``'s table of contents, else one line saying why not
    and what to do. An archive from a newer pg_dump that this pg_restore still reads (same archive format
    version) is tried: a downgrade the user asked for with ``--pg-version``, judged by the restore and the
    checks like any other (the default targets are never older than the archive)."""
    err = readable_by(tool, archive.path, min(timeout_s, 600.0))
    if err is None:
        return None
    by = archive.dumped_by_major
    return (f"pg_restore {tool.version} cannot restore {archive.path.name}: written by pg_dump "
            f"{archive.dumped_by or '?'} ({err}); restore it into PostgreSQL {by or 'newer'} or later, or "
            "take the backup with the older pg_dump")


def snapshot_manifest(manifest: Manifest, snap: Snapshot) -> dict[str, ObjectSnapshot]:
    """The manifest's objects as ``snap`` can show them (key -> expected object)."""
    if snap.keeps_metadata:
        return dict(manifest.objects)
    # A folder copy has bytes only: compare size and sha256, not content type or user metadata.
    return {k: dataclasses.replace(o, content_type="", metadata={}) for k, o in manifest.objects.items()}
