"""Disposable S3: the real `aws` CLI reaches moto, never a user's real AWS profile; buckets are isolated."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from restore_drill.fixtures import binaries
from restore_drill.fixtures.database import Database
from restore_drill.fixtures.environment import bind
from restore_drill.fixtures.infra import Infra
from restore_drill.fixtures.s3 import Bucket


def test_aws_cli_sync_reaches_moto_and_ignores_a_poisoned_user_profile(
    s3_bucket: Bucket, pg_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A user's real-looking profile and environment: if any of it were used, the CLI would go elsewhere.
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(
        "[default]\naws_access_key_id = AKIAPOISONPOISON\naws_secret_access_key = poison\n"
        "[prod]\naws_access_key_id = AKIAPOISONPROD\naws_secret_access_key = poison\n"
    )
    (home / ".aws" / "config").write_text("[default]\nendpoint_url = http://127.0.0.2:9\n[profile prod]\nregion = eu-west-1\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_PROFILE", "prod")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPOISONENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "poison-env")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.2:9")

    client = s3_bucket.endpoint.client()
    client.put_object(Bucket=s3_bucket.name, Key="live/a b/ü.txt", Body=b"payload")
    env = bind(db=pg_database, client_bins=binaries.select(16), workdir=tmp_path / "work",
               s3=s3_bucket.endpoint, bucket=s3_bucket.name).as_env()
    assert "AWS_PROFILE" not in env and "poison" not in json.dumps(env)
    r = subprocess.run(["aws", "s3", "sync", f"s3://{s3_bucket.name}/live", f"s3://{s3_bucket.name}/backup-2026-01-01"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    body = client.get_object(Bucket=s3_bucket.name, Key="backup-2026-01-01/a b/ü.txt")["Body"].read()
    assert body == b"payload"
    who = subprocess.run(["aws", "configure", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert "POISON" not in who.stdout and "prod" not in who.stdout


def test_two_drills_get_isolated_databases_and_buckets(drill_infra: Infra) -> None:
    a_db, b_db = drill_infra.database(), drill_infra.database()
    a_b, b_b = drill_infra.bucket("a"), drill_infra.bucket("a")
    try:
        assert a_db.name != b_db.name and a_b.name != b_b.name
        with a_db.connect(autocommit=True) as c:
            c.execute("CREATE TABLE t AS SELECT 1 AS x")
        with b_db.connect() as c:
            assert c.execute("SELECT to_regclass('public.t')").fetchone()[0] is None
        a_b.endpoint.client().put_object(Bucket=a_b.name, Key="k", Body=b"1")
        assert b_b.endpoint.client().list_objects_v2(Bucket=b_b.name).get("KeyCount", 0) == 0
    finally:
        drill_infra.drop(a_db)
        drill_infra.drop(b_db)
        drill_infra.s3.delete_bucket(a_b)
        drill_infra.s3.delete_bucket(b_b)


def test_deleting_a_bucket_with_more_than_1000_objects(drill_infra: Infra) -> None:
    from concurrent.futures import ThreadPoolExecutor

    b = drill_infra.bucket("many")
    client = b.endpoint.client()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: client.put_object(Bucket=b.name, Key=f"k/{i:05d}", Body=b"x"), range(1234)))
    drill_infra.s3.delete_bucket(b)
    names = [x["Name"] for x in client.list_buckets()["Buckets"]]
    assert b.name not in names
