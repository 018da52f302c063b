"""A plan: the independent jobs of a fleet run, as JSON any engine can fan out.

A job is either a drill (one drill of one system definition on one Postgres major) or a
verify-backup (one real backup restored into one Postgres major). Its id is the first 16 hex digits
of the sha256 of its canonical JSON (sorted keys, no whitespace), so the same inventory gives the same
ids in any order, on any machine, and adding a system does not renumber the others.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from restore_drill import catalog
from restore_drill.errors import BadInput
from restore_drill.systems import SystemDef, builtin_systems, resolve_system

PLAN_SCHEMA_VERSION = 1
PLAN_KIND = "restore-drill-plan"
JobKind = Literal["drill", "verify-backup"]


@dataclass(frozen=True)
class Job:
    """One independent unit of fleet work.

    ``system_ref`` is how the job finds its system at run time: a built-in name or a definition path
    as the user gave it (relative paths resolve where the job runs: check the definitions out there).
    ``system`` is the definition's name, for reports. Drill jobs carry ``drill``/``disaster``/
    ``procedure``; verify-backup jobs carry ``backup`` (a local path or ``s3://bucket/key``), its size
    in bytes and modification time (ISO-8601 UTC), which make a re-uploaded file a new job."""

    kind: JobKind
    system: str
    system_ref: str | None
    pg_version: int | None
    drill: str | None = None
    disaster: str | None = None
    procedure: str | None = None
    seed: int | None = None
    scale: int | None = None
    backup: str | None = None
    backup_size_bytes: int | None = None
    backup_modified_at: str | None = None

    @property
    def id(self) -> str:
        """Content-derived: sha256 of the canonical JSON of every field, 16 hex digits."""
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        """A human name: ``docs-restore[pg16]`` or ``verify-backup[pg16] s3://b/docs_2026-11-30.dump``."""
        pg = f"[pg{self.pg_version}]" if self.pg_version else ""
        if self.kind == "drill":
            return f"{self.drill}{pg}"
        return f"verify-backup{pg} {self.backup}"

    def to_dict(self) -> dict[str, Any]:
        """The job as stored in a plan: its id, then every field."""
        return {"id": self.id, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        """Raises BadInput when a field is missing, unknown, or the id does not match the content."""
        names = set(cls.__dataclass_fields__)
        extra = sorted(set(d) - names - {"id"})
        if extra:
            raise BadInput(f"plan job {d.get('id', '?')}: unknown field {extra[0]!r}; make the plan with this "
                           "restore-drill version (restore-drill plan)")
        try:
            job = cls(**{k: v for k, v in d.items() if k != "id"})
        except TypeError as e:
            raise BadInput(f"plan job {d.get('id', '?')} is incomplete ({e}); re-make the plan") from None
        if job.kind not in ("drill", "verify-backup"):
            raise BadInput(f"plan job {d.get('id', '?')}: kind must be drill or verify-backup, got {job.kind!r}")
        if "id" in d and d["id"] != job.id:
            raise BadInput(f"plan job {d['id']} was edited after planning (its content hashes to {job.id}); "
                           "re-make the plan with restore-drill plan")
        return job


@dataclass
class Plan:
    """The jobs in plan order: by Postgres major, kind, then id (content, so the order is stable and a
    shard's contiguous block mostly shares one major); and what they were planned from."""

    jobs: list[Job]
    inventory: dict[str, Any] = field(default_factory=dict)
    shards: int | None = None

    def __post_init__(self) -> None:
        unique = {j.id: j for j in self.jobs}
        self.jobs = sorted(unique.values(), key=lambda j: (j.pg_version or 0, j.kind, j.id))

    @property
    def id(self) -> str:
        """sha256 over the sorted job ids, 16 hex digits: two shards of one plan share it."""
        return hashlib.sha256("\n".join(sorted(j.id for j in self.jobs)).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """plan.json: {schema_version, kind, plan_id, inventory, jobs, shards (when N was given)}."""
        d: dict[str, Any] = {"schema_version": PLAN_SCHEMA_VERSION, "kind": PLAN_KIND, "plan_id": self.id,
                             "inventory": self.inventory, "jobs": [j.to_dict() for j in self.jobs]}
        if self.shards is not None:
            d["shards"] = [f"{k}/{self.shards}" for k in range(1, self.shards + 1)]
        return d

    def to_json(self) -> str:
        """``to_dict`` as indented JSON text ending in a newline."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, d: Any, source: str = "plan") -> Plan:
        """Parse plan.json content; raises BadInput naming ``source`` when it is not a plan of this version."""
        if not isinstance(d, dict) or d.get("kind") != PLAN_KIND:
            raise BadInput(f"{source} is not a restore-drill plan (no \"kind\": \"{PLAN_KIND}\"); make one with "
                           "restore-drill plan --system NAME -o plan.json")
        if d.get("schema_version") != PLAN_SCHEMA_VERSION:
            raise BadInput(f"{source} has plan schema_version {d.get('schema_version')!r}; this restore-drill "
                           f"reads {PLAN_SCHEMA_VERSION}: re-make the plan with this version")
        jobs = d.get("jobs")
        if not isinstance(jobs, list) or not all(isinstance(j, dict) for j in jobs):
            raise BadInput(f"{source}: \"jobs\" must be a list of job objects")
        shards = d.get("shards")
        return cls([Job.from_dict(j) for j in jobs], dict(d.get("inventory") or {}),
                   len(shards) if isinstance(shards, list) and shards else None)


def load_plan(path: Path) -> Plan:
    """Read a plan file written by ``restore-drill plan``. Raises BadInput naming the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"plan {path} does not exist; make it with restore-drill plan ... -o {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadInput(f"plan {path} is not JSON ({e}); make it with restore-drill plan") from None
    return Plan.from_dict(data, str(path))


def _is_builtin(system_ref: str) -> bool:
    """A built-in system, by name (``pegasus``) or by the path of its definition."""
    builtins = builtin_systems()
    return system_ref in builtins or Path(system_ref).resolve() in {p.resolve() for p in builtins.values()}


def drill_specs(sysdef: SystemDef, system_ref: str, *, pitr: bool = False) -> list[catalog.DrillSpec]:
    """The drills of a system: a built-in system's default drills, else ``<name>-restore`` (tables
    truncated, restored from the backup) with the definition's own procedure, as ``restore-drill run
    --system`` does. ``pitr``: also the built-in system's point-in-time recovery drill (``<name>-pitr``; its
    Barman/pgBackRest/incremental variants need tools or majors a fleet host may lack, so they are run by
    name); BadInput for a system that has none."""
    builtin = [d for d in catalog.DRILLS if d.system == sysdef.name and d.default]
    physical = [d for d in catalog.DRILLS if d.system == sysdef.name and d.physical and not d.variant]
    if pitr and not (physical and _is_builtin(system_ref)):
        raise BadInput(f"--pitr: system {sysdef.name!r} ({system_ref}) has no point-in-time recovery drill (the "
                       f"built-in {', '.join(sorted({d.system for d in catalog.DRILLS if d.physical}))} have one); "
                       "drop --pitr or plan that system without it")
    if builtin and _is_builtin(system_ref):
        return builtin + (physical if pitr else [])
    return [catalog.DrillSpec(f"{sysdef.name}-restore", system_ref, "truncate",
                              f"{sysdef.name}: tables truncated, restored from the backup",
                              procedure="corrected" if sysdef.corrected else "runbook")]


def spec_for(job: Job) -> catalog.DrillSpec:
    """The DrillSpec a drill job runs. Raises BadInput when the job is not a drill or names an unknown
    built-in drill."""
    if job.kind != "drill" or job.drill is None or job.system_ref is None:
        raise BadInput(f"job {job.id} is not a drill job")
    if _is_builtin(job.system_ref):
        spec = catalog.get(job.drill)
    else:
        spec = catalog.DrillSpec(job.drill, job.system_ref, job.disaster,
                                 f"{job.system}: tables truncated, restored from the backup",
                                 procedure=job.procedure or "runbook")
    return spec.with_disaster(job.disaster)


def check_versions(versions: Sequence[int]) -> None:
    """Refuse a --pg-version this machine has no PostgreSQL server for, as ``restore-drill run --pg-version``
    does (``fixtures.binaries.select``: BadInput listing the majors found; InfraUnavailable when none is
    installed), so a plan never holds jobs no host like this one can run."""
    from restore_drill.fixtures import binaries

    for v in dict.fromkeys(versions):
        binaries.select(v)


def _majors(versions: Sequence[int]) -> list[int | None]:
    return list(versions) if versions else [None]


def drill_jobs(system_refs: Sequence[str], versions: Sequence[int], *, seed: int | None = None,
               scale: int | None = None, pitr: bool = False) -> list[Job]:
    """system definitions x Postgres majors (``versions`` empty: the default major). Each system is
    loaded and validated now, so a bad definition fails the plan, not a shard at 3 a.m. ``pitr``: with
    the built-in systems' point-in-time recovery drills (``drill_specs``)."""
    jobs: list[Job] = []
    for ref in system_refs:
        sysdef = resolve_system(ref)
        for spec in drill_specs(sysdef, ref, pitr=pitr):
            for v in _majors(versions):
                jobs.append(Job("drill", sysdef.name, ref, v, drill=spec.name, disaster=spec.disaster,
                                procedure=spec.procedure, seed=seed, scale=scale))
    return jobs


def backup_jobs(backups: Iterable[Any], versions: Sequence[int], system_refs: dict[str, str]) -> list[Job]:
    """One verify-backup job per found backup x Postgres major (``versions`` empty: every major not
    older than the archive, decided at run time). ``backups`` are ``inventory.FoundBackup``s;
    ``system_refs`` maps a system name to the definition to verify it with (when the user gave it)."""
    jobs: list[Job] = []
    for b in backups:
        for v in _majors(versions):
            jobs.append(Job("verify-backup", b.system, system_refs.get(b.system), v, backup=b.uri,
                            backup_size_bytes=b.size_bytes, backup_modified_at=b.modified_at))
    return jobs
