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
from .archive import ArchiveInfo, readable_by
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
    one whose reference columns all live in tables the archive holds."""
    if system is not None:
        return resolve_system(system), "given"
    if manifest is not None and manifest.system:
        with contextlib.suppress(DrillError):
            return resolve_system(manifest.system), "from the manifest"
    tables = set(archive.data_tables)
    for p in builtin_systems().values():
        with contextlib.suppress(DrillError):
            s = load_system(p)
            refs = {r.rsplit(".", 1)[0] for r in s.references}
            if refs and refs <= tables:
                return s, "recognised from the archive's tables"
    return None, "none"


def choose_targets(versions: Sequence[int] | None, archive: ArchiveInfo,
                   given: PostgresBackend | None = None) -> tuple[list[PgBinaries], list[str]]:
    """Target binary sets (pg_restore of each), plus notes on versions found but left out by default.
    ``given``: a server the user gives (``--pg-backend external``) is the only target, restored with
    client tools at least as new as it; a ``--pg-version`` it does not run is ``BadInput``."""
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
    notes = [f"PostgreSQL {b.major} not tried: older than the archive (pg_dump {archive.dumped_by or '?'} "
             f"from {archive.dumped_from or '?'}); pass --pg-version {b.major} to try a downgrade"
             for b in found if b.major < floor]
    return chosen, notes


def newer_than(archive: ArchiveInfo, tool: PgBinaries, timeout_s: float) -> str | None:
    """None when ``tool``'s pg_restore can restore ``archive``, else one line saying why not and what to do."""
    err = readable_by(tool, archive.path, min(timeout_s, 600.0))
    by = archive.dumped_by_major
    if err is None and (by is None or by <= tool.major):
        return None
    why = err or f"its pg_dump {archive.dumped_by} is newer than pg_restore {tool.version}"
    return (f"pg_restore {tool.version} cannot restore {archive.path.name}: written by pg_dump "
            f"{archive.dumped_by or '?'} ({why}); restore it into PostgreSQL {by or 'newer'} or later, or "
            "take the backup with the older pg_dump")


def snapshot_manifest(manifest: Manifest, snap: Snapshot) -> dict[str, ObjectSnapshot]:
    """The manifest's objects as ``snap`` can show them (key -> expected object)."""
    if snap.keeps_metadata:
        return dict(manifest.objects)
    # A folder copy has bytes only: compare size and sha256, not content type or user metadata.
    return {k: dataclasses.replace(o, content_type="", metadata={}) for k, o in manifest.objects.items()}
