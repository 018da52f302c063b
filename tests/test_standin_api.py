"""The stand-in integrity API over real HTTP on loopback, reading a real database and a moto bucket."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from restore_drill.fixtures.database import Database
from restore_drill.fixtures.s3 import Bucket
from restore_drill.runbook import builtin_binding
from restore_drill.standin_api import STANDIN_HEADER, StandinApi

SCHEMA = """
CREATE TABLE lectures (id bigint PRIMARY KEY, audio_key text NOT NULL, transcript_key text);
CREATE TABLE artifacts (id serial PRIMARY KEY, lecture_id bigint NOT NULL REFERENCES lectures(id), storage_key text);
CREATE TABLE exports (id serial PRIMARY KEY, lecture_id bigint NOT NULL REFERENCES lectures(id), storage_key text);
INSERT INTO lectures VALUES (1, 'audio/1.wav', 'transcripts/1.vtt'), (2, 'audio/2.wav', NULL);
INSERT INTO artifacts (lecture_id, storage_key) VALUES (1, 'artifacts/1-notes.md'), (2, 'artifacts/2-notes.md');
INSERT INTO exports (lecture_id, storage_key) VALUES (1, 'exports/1.pdf');
"""
KEYS = ["audio/1.wav", "transcripts/1.vtt", "artifacts/1-notes.md", "exports/1.pdf", "audio/2.wav",
        "artifacts/2-notes.md"]


@pytest.fixture
def api(pg_database: Database, s3_bucket: Bucket):  # noqa: ANN201
    with pg_database.connect() as c:
        c.execute(SCHEMA)
        c.commit()
    client = s3_bucket.endpoint.client()
    for k in KEYS:
        client.put_object(Bucket=s3_bucket.name, Key=f"pegasus/{k}", Body=k.encode())
    spec = builtin_binding("pegasus").standin  # the SQL the built-in Pegasus binding ships
    assert spec is not None
    srv = StandinApi(pg_database.url, client, s3_bucket.name, "pegasus", lecture_sql=spec.lecture_sql,
                     key_sql=spec.key_sql)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_ready_and_healthy_lecture_over_http(api: StandinApi) -> None:
    assert api.base_url.startswith("http://127.0.0.1:") and not api.base_url.endswith(":0")
    r = httpx.get(f"{api.base_url}/health/ready")
    assert (r.status_code, r.text) == (200, "ready") and "stand-in" in r.headers[STANDIN_HEADER]
    r = httpx.get(f"{api.base_url}/lectures/1/integrity")
    body = r.json()
    assert r.status_code == 200 and body["status"] == "healthy" and body["missing"] == []
    assert sorted(body["checked"]) == sorted(f"pegasus/{k}" for k in KEYS[:4])
    assert "stand-in" in body["standin"] and "stand-in" in r.headers[STANDIN_HEADER]


def test_missing_object_makes_the_lecture_unhealthy(api: StandinApi, s3_bucket: Bucket) -> None:
    s3_bucket.endpoint.client().delete_object(Bucket=s3_bucket.name, Key="pegasus/exports/1.pdf")
    r = httpx.get(f"{api.base_url}/lectures/1/integrity")
    assert r.status_code == 503
    assert r.json()["status"] == "unhealthy" and r.json()["missing"] == ["pegasus/exports/1.pdf"]
    # another lecture that does not reference the key stays healthy (NULL transcript is not a key)
    assert httpx.get(f"{api.base_url}/lectures/2/integrity").json()["status"] == "healthy"


def test_missing_lecture_row_and_unknown_route(api: StandinApi, pg_database: Database) -> None:
    with pg_database.connect() as c:
        c.execute("DELETE FROM artifacts WHERE lecture_id = 2")
        c.execute("DELETE FROM lectures WHERE id = 2")
        c.commit()
    r = httpx.get(f"{api.base_url}/lectures/2/integrity")
    assert r.status_code == 404 and r.json()["status"] == "unhealthy" and r.json()["lecture_found"] is False
    assert httpx.get(f"{api.base_url}/lectures/abc/integrity").json()["status"] == "unhealthy"
    assert httpx.get(f"{api.base_url}/nope").status_code == 404


def test_not_ready_when_the_database_is_gone_and_no_password_leaks(pg_database: Database,
                                                                   s3_bucket: Bucket) -> None:
    gone = dataclasses.replace(pg_database, name="no_such_database_here")
    with StandinApi(gone.url, s3_bucket.endpoint.client(), s3_bucket.name, "pegasus",
                    lecture_sql="SELECT 1 WHERE %(id)s = '1'", key_sql=[]) as srv:
        r = httpx.get(f"{srv.base_url}/health/ready")
        assert r.status_code == 503 and r.text.startswith("not ready: database:")
        assert pg_database.password not in r.text
        r = httpx.get(f"{srv.base_url}/lectures/1/integrity")
        assert r.status_code == 503 and r.json()["status"] == "unhealthy" and pg_database.password not in r.text
    with StandinApi(pg_database.url, s3_bucket.endpoint.client(), "rd-no-such-bucket", "p",
                    lecture_sql="SELECT 1", key_sql=[]) as srv:
        r = httpx.get(f"{srv.base_url}/health/ready")
        assert r.status_code == 503 and "bucket rd-no-such-bucket" in r.text


def test_stop_closes_the_port(api: StandinApi) -> None:
    url = api.base_url
    api.stop()
    assert not api.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health/ready", timeout=2)
