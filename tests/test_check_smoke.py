"""write_smoke with a Pegasus-shaped ingest + generate + export flow of our own (column defaults, a job
claimed with FOR UPDATE SKIP LOCKED, objects in the bucket), on a real restore and on faulty ones."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from restore_drill.checks import write_smoke
from restore_drill.checks._util import libpq_env
from restore_drill.checks.result import Status
from restore_drill.fixtures import binaries
from restore_drill.procs import run

SCHEMA = """
CREATE TABLE lectures (id bigserial PRIMARY KEY, title text NOT NULL, status text NOT NULL DEFAULT 'new',
                       created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE jobs (id bigserial PRIMARY KEY, lecture_id bigint NOT NULL REFERENCES lectures(id),
                   kind text NOT NULL, state text NOT NULL DEFAULT 'queued');
CREATE TABLE artifacts (id bigserial PRIMARY KEY, lecture_id bigint NOT NULL REFERENCES lectures(id),
                        path text NOT NULL);
CREATE TABLE exports (id bigserial PRIMARY KEY, lecture_id bigint NOT NULL REFERENCES lectures(id),
                      path text NOT NULL);
INSERT INTO lectures (title) SELECT 'l' || g FROM generate_series(1, 5) g;
"""


def flow_for(conn, client, bucket: str):
    def flow() -> dict[str, Any]:
        with conn.transaction():
            lecture = conn.execute("INSERT INTO lectures (title) VALUES ('smoke') RETURNING id").fetchone()[0]
            conn.execute("INSERT INTO jobs (lecture_id, kind) VALUES (%s, 'generate')", (lecture,))
        with conn.transaction():  # the worker's claim
            job = conn.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1 "
                               "FOR UPDATE SKIP LOCKED").fetchone()[0]
            conn.execute("UPDATE jobs SET state = 'done' WHERE id = %s", (job,))
            art, exp = f"artifacts/{lecture}/summary.md", f"exports/{lecture}.pdf"
            client.put_object(Bucket=bucket, Key=art, Body=b"# summary")
            client.put_object(Bucket=bucket, Key=exp, Body=b"%PDF")
            conn.execute("INSERT INTO artifacts (lecture_id, path) VALUES (%s, %s)", (lecture, art))
            conn.execute("INSERT INTO exports (lecture_id, path) VALUES (%s, %s)", (lecture, exp))
        return {"lecture_id": lecture, "job_id": job, "keys": [art, exp]}

    def cleanup(info) -> None:
        with conn.transaction():
            for t in ("artifacts", "exports", "jobs"):
                conn.execute(f"DELETE FROM {t} WHERE lecture_id = %s", (info["lecture_id"],))
            conn.execute("DELETE FROM lectures WHERE id = %s", (info["lecture_id"],))
        for k in info["keys"]:
            client.delete_object(Bucket=bucket, Key=k)
    return flow, cleanup


@pytest.fixture
def restored(pg_database, drill_infra, s3_bucket, tmp_path):
    with pg_database.connect(autocommit=True) as c:
        c.execute(SCHEMA)
    bins = binaries.select(16)
    dump = tmp_path / "p.dump"
    run([bins.tool("pg_dump"), "-Fc", "--no-owner", "-f", dump], env=libpq_env(pg_database), timeout_s=60, check=True)
    target = drill_infra.database()
    run([bins.tool("pg_restore"), "--no-owner", "-d", target.name, dump], env=libpq_env(target), timeout_s=60,
        check=True)
    with target.connect(autocommit=True) as conn:
        yield conn, s3_bucket.endpoint.client(), s3_bucket.name
    drill_infra.drop(target)


def test_flow_on_a_good_restore_passes_and_cleans_up(restored):
    conn, client, bucket = restored
    res = write_smoke(*flow_for(conn, client, bucket), label="ingest + generate + export")
    assert res.status is Status.PASSED, res.message
    assert res.evidence["written"]["lecture_id"] == 6
    assert conn.execute("SELECT count(*) FROM lectures").fetchone()[0] == 5
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def test_lost_default_fails_naming_the_table(restored):
    conn, client, bucket = restored
    conn.execute("ALTER TABLE jobs ALTER COLUMN id DROP DEFAULT")
    res = write_smoke(*flow_for(conn, client, bucket))
    assert res.status is Status.FAILED
    assert 'null value in column "id" of relation "jobs"' in res.message


def test_sequence_behind_the_data_fails(restored):
    conn, client, bucket = restored
    conn.execute("SELECT setval('lectures_id_seq', 2)")
    res = write_smoke(*flow_for(conn, client, bucket))
    assert res.status is Status.FAILED and "lectures_pkey" in res.message


def test_missing_bucket_fails_and_failed_cleanup_fails(restored):
    conn, client, _ = restored
    res = write_smoke(*flow_for(conn, client, "rd-no-such-bucket"))
    assert res.status is Status.FAILED and "NoSuchBucket" in res.message

    def bad_cleanup(_info) -> None:
        raise RuntimeError("could not delete lecture 6")
    res = write_smoke(lambda: {"lecture_id": 6}, bad_cleanup)
    assert res.status is Status.FAILED and "cleanup failed" in res.message


@pytest.mark.skipif(importlib.util.find_spec("restore_drill.seeds.arqonbus") is None,
                    reason="seeds.arqonbus not built yet")
def test_arqonbus_projector_event_smoke(pg_database):
    from restore_drill.seeds import arqonbus

    with pg_database.connect(autocommit=True) as c:
        arqonbus.apply_migration(c)
        arqonbus.seed(c, seed=3, scale=1)
        ok = write_smoke(lambda: arqonbus.smoke_flow(c), lambda info: arqonbus.smoke_cleanup(c, info))
        assert ok.status is Status.PASSED, ok.message
        c.execute(f"ALTER TABLE {arqonbus.EVENTS} ALTER COLUMN event_id DROP IDENTITY")
        bad = write_smoke(lambda: arqonbus.smoke_flow(c), lambda info: arqonbus.smoke_cleanup(c, info))
    assert bad.status is Status.FAILED and "arqonbus_continuum_projection_events" in bad.message
