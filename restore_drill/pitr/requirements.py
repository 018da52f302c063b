"""What a physical (point-in-time recovery) drill needs from the run's settings and this machine, checked before
anything starts: by ``session.preflight`` (a real run) and ``sandbox.drills_plan`` (``--dry-run``), so a run of
several drills refuses a drill it cannot run before the first one spends its time, and a dry run refuses what
the real run would refuse. ``pitr.drill.run_physical`` repeats the checks when a drill starts (library callers)."""

from __future__ import annotations

from typing import Any

from restore_drill.errors import BadInput


def check(spec: Any, config: Any) -> int | None:
    """Refuse ``spec`` (catalog.DrillSpec with ``physical``) under ``config`` (config.DrillConfig) when the real run
    would: a disaster other than bad-statement, a --pg-backend other than embedded, a PostgreSQL major the variant
    cannot use (pgBackRest 2.45: <= 15, ``pitr.pgbackrest.require``; the incremental variant: 17+, where
    ``pg_basebackup --incremental`` and ``pg_combinebackup`` exist, PostgreSQL 17 release notes), or a major
    this machine has no server for. Returns the major the drill runs on (None for a logical ``spec``: nothing
    checked). Raises BadInput naming the fix; InfraUnavailable when pgBackRest or its PostgreSQL is not installed."""
    if not spec.physical:
        return None
    from restore_drill.fixtures import binaries

    if spec.disaster not in (None, "bad-statement"):
        raise BadInput(f"--disaster {spec.disaster}: {spec.name} is a point-in-time recovery drill, whose disaster "
                       "is bad-statement (an errant statement while writes go on); drop --disaster or pick a "
                       "logical drill")
    if config.pg_backend != "embedded":
        raise BadInput(f"--pg-backend {config.pg_backend}: {spec.name} starts its own archiving server from the "
                       "PostgreSQL binaries here; use --pg-backend embedded")
    wanted = config.pg_version or spec.pg_major
    if spec.variant == "pgbackrest":
        from . import pgbackrest

        return pgbackrest.require(wanted, pgbackrest.installed_version(), tuple(b.major for b in binaries.servers()))
    bins = binaries.select(wanted)
    if spec.variant == "incremental" and not bins.has("pg_combinebackup"):
        newer = sorted(b.major for b in binaries.servers() if b.has("pg_combinebackup"))
        fix = f"run it with --pg-version {newer[-1]}" if newer else "install PostgreSQL 17 or newer"
        raise BadInput(f"{spec.name} takes incremental backups (summarize_wal, pg_basebackup --incremental, "
                       f"pg_combinebackup: PostgreSQL 17+), which {bins.label} does not have; {fix}")
    return bins.major
