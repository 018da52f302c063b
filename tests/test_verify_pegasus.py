"""verify-backup on a Pegasus backup pair as the operators make it: a pg_dump of the oldest Postgres
here plus a dated s3 snapshot, checked for an upgrade into every newer version found."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from restore_drill.checks._util import libpq_env
from restore_drill.checks.result import Status
from restore_drill.fixtures import binaries
from restore_drill.procs import run
from restore_drill.seeds import pegasus
from restore_drill.seeds.manifest import take_manifest
from restore_drill.verify import VERDICT_FILE, verify_backup

MAJORS = sorted(b.major for b in binaries.servers())


@pytest.fixture
def pegasus_pair(drill_infra, s3_bucket, tmp_path, monkeypatch):
    """Pegasus seeded on the oldest major, its objects under pegasus-<today>, the manifest and the dump."""
    prefix = f"pegasus-{datetime.now(UTC).date().isoformat()}"
    client = s3_bucket.endpoint.client()
    db = drill_infra.database(MAJORS[0])
    try:
        with db.connect() as conn:
            pegasus.apply_schema(conn)
            pegasus.seed(conn, client, s3_bucket.name, prefix, seed=7)
            conn.commit()
            take_manifest(conn, system="pegasus", s3_client=client, bucket=s3_bucket.name,
                          prefix=prefix).save(tmp_path / "pegasus.manifest.json")
        path = tmp_path / f"pegasus_{prefix[8:]}.dump"
        run([binaries.select(MAJORS[0]).tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
             "--file", path], env={**libpq_env(db), "TZ": "UTC"}, timeout_s=60, check=True)
    finally:
        drill_infra.drop(db)
    monkeypatch.setenv("RESTORE_DRILL_S3_ACCESS_KEY", s3_bucket.endpoint.access_key)
    monkeypatch.setenv("RESTORE_DRILL_S3_SECRET_KEY", s3_bucket.endpoint.secret_key)
    return path, f"s3://{s3_bucket.name}/{prefix}", tmp_path / "pegasus.manifest.json", client, s3_bucket, prefix


def test_pegasus_pair_is_safe_to_upgrade_and_loses_nothing(pegasus_pair, drill_infra, tmp_path):
    path, snap, manifest, client, bucket, prefix = pegasus_pair
    report, run_dir = verify_backup(path, versions=MAJORS, storage_snapshot=snap, manifest=manifest, system=None,
                                    report_dir=tmp_path / "runs", argv=["test"], s3_endpoint=bucket.endpoint.url,
                                    infra=drill_infra)
    assert report.status == "passed", [d.status_reason for d in report.drills]
    for d in report.drills:
        checks = {c.name: c for c in d.checks}
        for name in ("restore_exit_status", "restored_objects", "row_counts", "table_checksums", "schema_fidelity",
                     "sequence_health", "referential_integrity", "artifact_paths_exist", "object_integrity",
                     "snapshot_pairing"):
            assert checks[name].status is Status.PASSED, (d.id, name, checks[name].message)
        assert checks["artifact_paths_exist"].evidence["referenced_keys"] > 50
        assert d.system == "pegasus"
    verdict = (run_dir / VERDICT_FILE).read_text()
    assert "system: pegasus (from the manifest)" in verdict
    assert "safe to restore into PostgreSQL: " + ", ".join(binaries.select(m).version for m in MAJORS) in verdict

    # The snapshot loses one lecture's audio: every version shows it, naming the key and its column.
    key = next(o["Key"] for o in client.list_objects_v2(Bucket=bucket.name, Prefix=prefix + "/")["Contents"]
               if o["Key"].endswith(".wav"))
    client.delete_object(Bucket=bucket.name, Key=key)
    report, _ = verify_backup(path, versions=[MAJORS[-1]], storage_snapshot=snap, manifest=None, system=None,
                              report_dir=tmp_path / "runs", argv=["test"], s3_endpoint=bucket.endpoint.url,
                              infra=drill_infra)
    checks = {c.name: c for c in report.drills[0].checks}
    ap = checks["artifact_paths_exist"]
    assert ap.status is Status.FAILED, ap.message
    assert key[len(prefix) + 1:] in ap.message and "public.lectures.audio_key" in ap.message
    assert checks["snapshot_pairing"].status is Status.PASSED  # same day: the pair belongs together
    assert checks["object_integrity"].status is Status.SKIPPED  # no manifest given this time
    assert report.drills[0].system == "pegasus"  # recognised from the archive's tables
