"""``report merge``: many run folders (from shards, nights, clusters) -> one fleet report.

Each run folder is read through ``load_run`` (validated report.json) and re-hashed against its
evidence.sha256; its ``fleet-jobs.json`` (when a plan slice wrote it) ties its drills to plan jobs.
A row is one plan job (or, for a folder run without a plan, one drill); when a job ran more than once
the newest run is the row and the older ones are counted as superseded (they still count for
freshness). Every figure in the fleet report derives from the run folders' report.json files.

Status: errored when a run errored, a row errored, a run folder's evidence does not match, or a
planned job has no run (the fleet could not be judged); else failed when a row failed or a system is
stale; else passed. Exit status 0/1/2 as for every command.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from restore_drill import __version__
from restore_drill.errors import BadInput, HarnessFault
from restore_drill.reports.evidence import EVIDENCE_FILE, read_evidence, verify_evidence
from restore_drill.reports.model import EXIT_CODES, RunReport
from restore_drill.reports.writers import load_run

from . import freshness
from .destination import download_runs, is_s3, parse_s3
from .plan import Plan
from .runner import JOBS_FILE

FLEET_SCHEMA_VERSION = 1
FLEET_KIND = "restore-drill-fleet-report"
DEFAULT_MAX_AGE_DAYS = 7.0


@dataclass
class Source:
    """A run folder to merge: where it is now (local) and where it came from (a path or s3:// URL)."""

    path: Path
    origin: str


def _is_fleet_report(folder: Path) -> bool:
    """A folder ``report merge`` wrote (its report.json is a fleet report, not a run report)."""
    try:
        return json.loads((folder / "report.json").read_text(encoding="utf-8")).get("kind") == FLEET_KIND
    except (OSError, ValueError, AttributeError):
        return False


def _run_folders(root: Path) -> list[Path]:
    if (root / "report.json").is_file():
        return [] if _is_fleet_report(root) else [root]
    found = sorted(p.parent for p in root.rglob("report.json"))
    found = [p for p in found if not any(q in p.parents for q in found)]
    return [p for p in found if not _is_fleet_report(p)]  # earlier fleet reports beside the runs


@contextlib.contextmanager
def gather(locations: Sequence[str], endpoint: str | None = None) -> Iterator[list[Source]]:
    """Every run folder under each location (a run folder, a folder of run folders, or an s3:// prefix
    of uploaded run folders; s3 ones are downloaded to a temporary folder removed on exit). Raises
    BadInput when a location holds no run folder, InfraUnavailable when a bucket cannot be read."""
    with tempfile.TemporaryDirectory(prefix="rd-merge-") as tmp:
        out: list[Source] = []
        for i, loc in enumerate(locations):
            if is_s3(loc):
                url = parse_s3(loc)
                found = [Source(p, f"{url}/{p.name.rsplit('__', 1)[-1]}")
                         for p in download_runs(url, Path(tmp) / str(i), endpoint)]
            else:
                root = Path(loc)
                if not root.exists():
                    raise BadInput(f"{loc} does not exist: pass run folders, a folder of them, or s3://bucket/prefix")
                found = [Source(p, str(p)) for p in _run_folders(root)]
            if not found:
                raise BadInput(f"{loc} holds no run folder (no report.json): pass where the shards wrote them")
            out += found
        yield out


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _jobs_doc(path: Path) -> dict[str, Any] | None:
    p = path / JOBS_FILE
    if not p.is_file():
        return None
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadInput(f"{p} is not JSON ({e}); the run folder was damaged after the run") from None
    return doc if isinstance(doc, dict) else None


def _row(report: RunReport, src: Source, drill: Any, job: dict[str, Any] | None) -> dict[str, Any]:
    backup = None
    if drill.name == "verify-backup" and drill.backups:
        b = drill.backups[0]
        backup = {"path": (job or {}).get("backup") or b.path, "sha256": b.sha256, "started_at": b.started_at}
    return {
        "key": job["id"] if job else f"{report.run_id}:{drill.id}",
        "job_id": job["id"] if job else None,
        "kind": "verify-backup" if drill.name == "verify-backup" else "drill",
        "system": drill.system, "label": (job or {}).get("label") or drill.id, "drill": drill.name,
        "drill_id": drill.id, "status": drill.status, "status_reason": drill.status_reason,
        "checks": [{"name": c.name, "status": c.status.value, "message": c.message} for c in drill.checks],
        "finished_at": drill.finished_at or report.finished_at, "run_id": report.run_id, "source": src.origin,
        "backup": backup, "rpo_s": drill.targets.rpo_s, "superseded": 0,
    }


def _job_row(report: RunReport, src: Source, job: dict[str, Any], why: str) -> dict[str, Any]:
    return {"key": job["id"], "job_id": job["id"], "kind": job.get("kind", "drill"), "system": job.get("system", "?"),
            "label": job.get("label", job["id"]), "drill": job.get("drill") or job.get("kind"), "drill_id": None,
            "status": "errored", "status_reason": why, "checks": [], "finished_at": report.finished_at,
            "run_id": report.run_id, "source": src.origin, "backup": None, "rpo_s": None, "superseded": 0}


@dataclass
class FleetReport:
    """The merged report (``to_dict`` is report.json; shape fixed by ``fleet-report.schema.json``)."""

    generated_at: str
    as_of: str
    max_age_days: float
    backup_max_age_s: float | None
    runs: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    systems: list[freshness.SystemFreshness] = field(default_factory=list)
    missing_jobs: list[dict[str, Any]] = field(default_factory=list)
    plan_id: str | None = None
    error: str | None = None  # bad input that stopped the merge (the report then says errored)

    @property
    def stale(self) -> list[dict[str, str]]:
        """Every stale finding: {system, reason (stale_backup|stale_drill|never_passed), message}."""
        return [{"system": s.system, "reason": r, "message": m} for s in self.systems for r, m in s.stale]

    @property
    def reasons(self) -> list[str]:
        """Why the fleet has its status, one line each (empty when passed)."""
        out = [f"merge errored: {self.error}"] if self.error else []
        out += [f"run {r['run_id']} ({r['source']}): evidence does not match: {'; '.join(r['evidence_problems'][:3])}"
               for r in self.runs if r["evidence_problems"]]
        out += [f"run {r['run_id']} errored: {r['error']}" for r in self.runs if r["status"] == "errored" and r["error"]]
        out += [f"planned job {j['id']} ({j['label']}) has no run folder" for j in self.missing_jobs]
        out += [f"{r['label']} {r['status']}: {r['status_reason']}" for r in self.rows if r["status"] != "passed"]
        out += [f"{s['reason']}: {s['message']}" for s in self.stale]
        return out

    @property
    def status(self) -> str:
        """passed | failed | errored, by the rules in the module docstring."""
        if (self.error or not self.rows or self.missing_jobs or any(r["evidence_problems"] for r in self.runs)
                or any(r["status"] == "errored" for r in self.rows)
                or any(r["status"] == "errored" for r in self.runs)):
            return "errored"
        if any(r["status"] == "failed" for r in self.rows) or self.stale:
            return "failed"
        return "passed"

    @property
    def exit_code(self) -> int:
        """0 passed, 1 failed (a job failed or a system is stale), 2 errored."""
        return EXIT_CODES[self.status]  # the CLI's one verdict -> exit status mapping

    def to_dict(self) -> dict[str, Any]:
        """The fleet report.json (validated by ``fleet_writers.write_fleet`` before it is written)."""
        return {
            "schema_version": FLEET_SCHEMA_VERSION, "kind": FLEET_KIND,
            "tool": {"name": "restore-drill", "version": __version__},
            "generated_at": self.generated_at, "as_of": self.as_of, "status": self.status,
            "reasons": self.reasons, "error": self.error, "plan_id": self.plan_id,
            "policy": {"max_age_days": self.max_age_days, "backup_max_age_s": self.backup_max_age_s},
            "runs": self.runs, "rows": self.rows, "systems": [s.to_dict() for s in self.systems],
            "stale": self.stale, "missing_jobs": self.missing_jobs,
        }


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def merge(sources: Sequence[Source], *, plan: Plan | None = None, as_of: datetime | None = None,
          max_age_days: float = DEFAULT_MAX_AGE_DAYS, backup_max_age_s: float | None = None) -> FleetReport:
    """Merge run folders into a FleetReport. ``plan`` (optional) names the jobs that must be present;
    ``as_of`` (aware, default now) is when ages are measured to; ``max_age_days`` in days (> 0);
    ``backup_max_age_s`` in seconds overrides each system's RPO target as its backup policy. Raises
    BadInput for a damaged or foreign report.json, or a non-positive age."""
    if max_age_days <= 0:
        raise BadInput(f"--max-age must be > 0 days, got {max_age_days:g}")
    if backup_max_age_s is not None and backup_max_age_s <= 0:
        raise BadInput(f"--backup-max-age must be > 0 hours, got {backup_max_age_s / 3600:g}")
    now = datetime.now(UTC)
    as_of = as_of or now
    fleet = FleetReport(_iso(now), _iso(as_of), max_age_days, backup_max_age_s,
                        plan_id=plan.id if plan else None)
    seen_runs: set[str] = set()
    rows: list[dict[str, Any]] = []
    for src in sources:
        try:
            report = load_run(src.path)
        except HarnessFault as e:  # a report.json, but not a valid run report
            raise BadInput(f"{src.origin}: report.json is not a valid restore-drill run report ({e}); "
                           "pass run folders written by restore-drill run / verify-backup") from None
        if report.run_id in seen_runs:
            continue  # the same folder given twice (a local copy and its upload)
        seen_runs.add(report.run_id)
        doc = _jobs_doc(src.path)
        fleet.runs.append({
            "run_id": report.run_id, "source": src.origin, "status": report.status,
            "error": report.error.message if report.error else None,
            "finished_at": report.finished_at, "plan_id": (doc or {}).get("plan_id"), "shard": (doc or {}).get("shard"),
            "evidence_sha256": _sha256(src.path / EVIDENCE_FILE), "evidence": read_evidence(src.path),
            "evidence_problems": verify_evidence(src.path),
        })
        by_id = {d.id: d for d in report.drills}
        claimed: set[str] = set()
        for job in (doc or {}).get("jobs", []):
            drills = [by_id[i] for i in job.get("drill_ids", []) if i in by_id]
            claimed.update(d.id for d in drills)
            if not drills:
                why = report.error.message if report.error else "the run holds no drill report for this job"
                rows.append(_job_row(report, src, job, why))
            for d in drills:
                rows.append(_row(report, src, d, job if len(drills) == 1 else {**job, "label": d.id}))
        for d in report.drills:
            if d.id not in claimed:
                rows.append(_row(report, src, d, None))
    fleet.rows = _newest(rows)
    if plan is not None:
        have = {r["job_id"] for r in rows}
        fleet.missing_jobs = [{"id": j.id, "label": j.label, "system": j.system} for j in plan.jobs if j.id not in have]
    fleet.systems = freshness.assess(rows, as_of=as_of, max_age_days=max_age_days, backup_max_age_s=backup_max_age_s,
                                     systems=sorted({j.system for j in plan.jobs}) if plan else ())
    return fleet


def _newest(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per key (a job, or a drill of a run): the one that finished last; older ones counted."""
    best: dict[tuple[str, str | None], dict[str, Any]] = {}
    counts: dict[tuple[str, str | None], int] = {}
    for r in rows:
        k = (r["key"], r["drill_id"] if r["job_id"] and r["kind"] == "verify-backup" else None)
        counts[k] = counts.get(k, 0) + 1
        if k not in best or (r["finished_at"] or "") > (best[k]["finished_at"] or ""):
            best[k] = r
    # A job that errored before any drill (no drill id) and later ran is judged by its later run.
    ran = {(r["job_id"], r["finished_at"] or "") for r in best.values() if r["job_id"] and r["drill_id"]}
    out = []
    for k, r in best.items():
        if r["job_id"] and not r["drill_id"] and any(j == r["job_id"] and t > (r["finished_at"] or "") for j, t in ran):
            continue
        out.append({**r, "superseded": counts[k] - 1})
    return sorted(out, key=lambda r: (r["system"], r["kind"], r["label"], r["key"]))


def comparable(fleet: FleetReport) -> list[tuple[Any, ...]]:
    """What must agree between a merged fleet and the same jobs run in one process: per row the job,
    drill, system, status and every check's (name, status), sorted."""
    return sorted((r["job_id"], r["drill_id"], r["system"], r["status"],
                   tuple(sorted((c["name"], c["status"]) for c in r["checks"]))) for r in fleet.rows)
