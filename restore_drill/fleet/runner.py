"""Run a slice of a plan in this process: drill jobs through ``session.run`` (one run folder per Postgres
major, seed and scale, sharing one set of servers), verify-backup jobs through ``verify_backup`` (one run
folder each). Each run folder gets ``fleet-jobs.json`` (which plan jobs it holds, and which drill report
each became) before its compliance report and evidence.sha256 are rendered, so the evidence covers it.

One job's bad input does not stop the slice: that job gets an errored run folder and the rest run.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from restore_drill.config import DrillConfig
from restore_drill.errors import DrillError
from restore_drill.fixtures.infra import Infra
from restore_drill.reports.model import RunReport
from restore_drill.reports.writers import render_run

from .destination import download_file, is_s3, parse_s3
from .plan import Job, spec_for

JOBS_FILE = "fleet-jobs.json"
JOBS_SCHEMA_VERSION = 1


@dataclass
class RunFolder:
    """A run folder this slice wrote: its report, where it is, and the plan jobs it holds."""

    report: RunReport
    path: Path
    jobs: list[Job]


def _job_drills(job: Job, report: RunReport) -> list[str]:
    """The drill ids in ``report`` that came from ``job`` (by drill name and system; verify-backup:
    every drill, since such a run holds one job)."""
    if job.kind == "verify-backup":
        return [d.id for d in report.drills]
    return [d.id for d in report.drills if d.name == job.drill and d.system == job.system]


def stamp(folder: RunFolder, plan_id: str, shard: str) -> None:
    """Write ``fleet-jobs.json`` into the run folder and re-render its pages, compliance report and
    evidence.sha256 so they list it. Shape: {schema_version, plan_id, shard, jobs: [{id, kind, system,
    label, drill_ids}]}."""
    doc = {"schema_version": JOBS_SCHEMA_VERSION, "plan_id": plan_id, "shard": shard,
           "jobs": [{**j.to_dict(), "label": j.label, "drill_ids": _job_drills(j, folder.report)}
                    for j in folder.jobs]}
    (folder.path / JOBS_FILE).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    render_run(folder.path)


def _errored(jobs: Sequence[Job], argv: Sequence[str], err: DrillError, base: Path) -> RunFolder | None:
    from restore_drill import session

    report, path = session.errored_report(None, argv, err, base)
    return RunFolder(report, path, list(jobs)) if path is not None else None


def run_jobs(jobs: Sequence[Job], config: DrillConfig, argv: Sequence[str], base: Path, *, plan_id: str,
             shard: str, endpoint: str | None = None, progress: bool | None = False) -> list[RunFolder]:
    """Run ``jobs`` writing run folders under ``base`` (a local folder); returns them in run order.

    ``config`` is the resolved command-line configuration; a job's Postgres major, seed and scale
    override it. ``endpoint`` is for verify-backup jobs whose backup is on ``s3://``. Ctrl-C propagates
    after the servers are stopped."""
    from restore_drill import session
    from restore_drill.verify import verify_backup

    out: list[RunFolder] = []
    infra = Infra.from_config(config)  # the one owner of config -> backends (S3 keys and region included)
    try:
        groups: dict[tuple[Any, ...], list[Job]] = {}
        for j in jobs:
            if j.kind == "drill":
                key = (j.pg_version or config.pg_version or 0, j.seed if j.seed is not None else config.seed,
                       j.scale if j.scale is not None else config.scale)
                groups.setdefault(key, []).append(j)
        for (major, seed, scale), group in groups.items():
            from_job = {k: f"by:the plan's job {group[0].id}" for k, v in
                        (("pg_version", group[0].pg_version), ("seed", group[0].seed), ("scale", group[0].scale))
                        if v is not None}  # so a bad value is blamed on the plan, not on a flag never given
            cfg = replace(config, pg_version=major or None, seed=seed, scale=scale, report_dir=base,
                          sources={**config.sources, **from_job})
            try:
                specs = [spec_for(j) for j in group]
                report, path = session.run(specs, cfg, argv, progress=progress, infra=infra)
                out.append(RunFolder(report, path, group))
            except DrillError as e:
                folder = _errored(group, argv, e, base)
                out += [folder] if folder else []
        for j in (j for j in jobs if j.kind == "verify-backup"):
            assert j.backup is not None
            try:
                with tempfile.TemporaryDirectory(prefix="rd-fleet-") as tmp:
                    dump = download_file(parse_s3(j.backup), Path(tmp), endpoint) if is_s3(j.backup) else Path(j.backup)
                    report, path = verify_backup(dump, versions=[j.pg_version] if j.pg_version else None,
                                                 storage_snapshot=None, manifest=None, system=j.system_ref,
                                                 report_dir=base, argv=list(argv), infra=infra,
                                                 timeout_s=config.step_timeout_s)
                out.append(RunFolder(report, path, [j]))
            except DrillError as e:
                folder = _errored([j], argv, e, base)
                out += [folder] if folder else []
    finally:
        infra.close()
    return out
