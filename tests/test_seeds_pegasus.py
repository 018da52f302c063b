"""Pegasus seeds: rows + objects pass the domain invariants and catch injected faults; every object is
referenced; edge-case keys; determinism and sensitivity of the manifest; scale; write smoke."""

from __future__ import annotations

from typing import Any

import pytest

from restore_drill.errors import ProcedureFailed
from restore_drill.fixtures.database import Database
from restore_drill.fixtures.s3 import Bucket
from restore_drill.seeds import SeedSummary, pegasus
from restore_drill.seeds.manifest import Manifest, take_manifest

PREFIX = "pegasus"


def _seed(db: Database, bucket: Bucket, prefix: str = PREFIX, **kw: Any) -> SeedSummary:
    with db.connect() as c:
        pegasus.apply_schema(c)
        return pegasus.seed(c, bucket.endpoint.client(), bucket.name, prefix, **kw)


def _manifest(db: Database, bucket: Bucket, prefix: str = PREFIX) -> Manifest:
    with db.connect() as c:
        return take_manifest(c, system="pegasus", s3_client=bucket.endpoint.client(), bucket=bucket.name,
                             prefix=prefix)


def _violations(db: Database) -> dict[str, int]:
    with db.connect() as c:
        return {name: len(c.execute(q).fetchall()) for name, (q, _) in pegasus.INVARIANTS.items()}


def test_seed_passes_invariants_and_every_object_is_referenced(pg_database: Database, s3_bucket: Bucket) -> None:
    s = _seed(pg_database, s3_bucket)
    assert s.system == "pegasus" and s.duration_s < 2 and 100 <= s.objects <= 300
    assert all(s.rows[t] > 0 for t in pegasus.TABLES), s.rows
    assert _violations(pg_database) == {name: 0 for name in pegasus.INVARIANTS}
    client = s3_bucket.endpoint.client()
    with pg_database.connect() as c:
        assert pegasus.object_violations(c, client, s3_bucket.name, PREFIX) == []
        keys = pegasus.referenced_keys(c)
    m = _manifest(pg_database, s3_bucket)
    assert set(m.objects) == keys  # every key is referenced by a row, every reference exists
    assert [k for k, o in m.objects.items() if o.size == 0]  # a zero-byte object
    assert any(" " in k for k in keys) and any(not k.isascii() for k in keys)
    assert all(k.count("/") >= 2 for k in keys)  # nested folders
    audio = [o for k, o in m.objects.items() if k.startswith("audio/")]
    assert audio and all(o.content_type == "audio/wav" and o.metadata.get("lecture-id") for o in audio)
    body = client.get_object(Bucket=s3_bucket.name, Key=f"{PREFIX}/{sorted(audio, key=lambda o: o.key)[0].key}")
    head = body["Body"].read()
    assert head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def test_invariants_catch_injected_faults(drill_infra, s3_bucket: Bucket) -> None:  # type: ignore[no-untyped-def]
    faults = {
        "succeeded_export_has_file": "DELETE FROM public.exports WHERE id = 1",
        "ready_lecture_transcribed": "DELETE FROM public.jobs WHERE kind = 'transcribe' AND lecture_id = "
                                     "(SELECT min(id) FROM public.lectures WHERE status = 'ready')",
        "outputs_match_their_job": "UPDATE public.artifacts SET job_id = (SELECT min(id) FROM public.jobs "
                                   "WHERE kind = 'transcribe') WHERE id = 1",
        "job_lifecycle": "UPDATE public.jobs SET worker_id = NULL WHERE id = (SELECT min(id) FROM public.jobs "
                         "WHERE status = 'succeeded')",
        "rows_reference_parents": "ALTER TABLE public.threads DROP CONSTRAINT threads_lecture_id_fkey; "
                                  "UPDATE public.threads SET lecture_id = 999999 WHERE id = 1",
    }
    template = drill_infra.database()
    try:
        _seed(template, s3_bucket)
        for name, fault in faults.items():
            db = drill_infra.database(template=template.name)
            try:
                assert _violations(db)[name] == 0
                with db.connect() as c:
                    c.execute(fault)  # type: ignore[arg-type]
                    c.commit()
                assert _violations(db)[name] >= 1, name
            finally:
                drill_infra.drop(db)
    finally:
        drill_infra.drop(template)


def test_object_violations_catch_missing_and_corrupt_objects(pg_database: Database, s3_bucket: Bucket) -> None:
    _seed(pg_database, s3_bucket)
    client = s3_bucket.endpoint.client()
    m = _manifest(pg_database, s3_bucket)
    missing = sorted(k for k in m.objects if k.startswith("exports/"))[0]
    corrupt_key = sorted(k for k in m.objects if k.startswith("artifacts/") and m.objects[k].size > 0)[0]
    client.delete_object(Bucket=s3_bucket.name, Key=f"{PREFIX}/{missing}")
    body = bytearray(client.get_object(Bucket=s3_bucket.name, Key=f"{PREFIX}/{corrupt_key}")["Body"].read())
    body[len(body) // 2] ^= 0x01  # one bit, same size
    client.put_object(Bucket=s3_bucket.name, Key=f"{PREFIX}/{corrupt_key}", Body=bytes(body))
    with pg_database.connect() as c:
        found = {v["key"]: v["problem"] for v in pegasus.object_violations(c, client, s3_bucket.name, PREFIX)}
    assert found.keys() == {missing, corrupt_key}
    assert found[missing] == "missing" and found[corrupt_key].startswith("sha256")


def test_same_seed_same_manifest_other_seed_differs(drill_infra, s3_bucket: Bucket) -> None:  # type: ignore[no-untyped-def]
    manifests = []
    for i, seed in enumerate((3, 3, 4)):
        db = drill_infra.database()
        try:
            _seed(db, s3_bucket, prefix=f"run{i}/pegasus", seed=seed)
            manifests.append(_manifest(db, s3_bucket, prefix=f"run{i}/pegasus"))
        finally:
            drill_infra.drop(db)
    a, b, other = manifests
    assert a.tables == b.tables and a.catalog == b.catalog and a.objects == b.objects
    assert all(other.tables[t].digest != a.tables[t].digest for t in pegasus.TABLES)
    assert set(other.objects) != set(a.objects)


def test_manifest_sees_one_row_and_one_object_byte(pg_database: Database, s3_bucket: Bucket) -> None:
    _seed(pg_database, s3_bucket)
    before = _manifest(pg_database, s3_bucket)
    with pg_database.connect() as c:
        c.execute("UPDATE public.threads SET title = title || '.' WHERE id = 2")
        c.commit()
    after_row = _manifest(pg_database, s3_bucket)
    assert [t for t in before.tables if before.tables[t] != after_row.tables[t]] == ["public.threads"]
    assert after_row.objects == before.objects
    client = s3_bucket.endpoint.client()
    key = sorted(k for k, o in before.objects.items() if k.startswith("transcripts/"))[0]
    full = f"{PREFIX}/{key}"
    obj = client.get_object(Bucket=s3_bucket.name, Key=full)
    body = bytearray(obj["Body"].read())
    body[-2] ^= 0x20
    client.put_object(Bucket=s3_bucket.name, Key=full, Body=bytes(body), ContentType=obj["ContentType"],
                      Metadata=obj["Metadata"])
    after_obj = _manifest(pg_database, s3_bucket)
    assert [k for k in before.objects if before.objects[k] != after_obj.objects[k]] == [key]
    assert after_obj.objects[key].size == before.objects[key].size


def test_scale_grows_rows_and_objects(pg_database: Database, s3_bucket: Bucket) -> None:
    one = pegasus.build(seed=1234, scale=1)
    s = _seed(pg_database, s3_bucket, scale=2)
    assert s.rows["public.courses"] == 2 * len(one.rows["public.courses"])
    assert s.rows["public.lectures"] == 2 * len(one.rows["public.lectures"])
    for t in ("public.jobs", "public.artifacts", "public.threads", "public.exports"):
        assert s.rows[t] > 1.4 * len(one.rows[t]), t
    assert s.objects > 1.6 * len(one.objects)
    assert _violations(pg_database) == {name: 0 for name in pegasus.INVARIANTS}


def test_large_objects_exceed_multipart_threshold(pg_database: Database, s3_bucket: Bucket) -> None:
    _seed(pg_database, s3_bucket, large_objects=True)
    client = s3_bucket.endpoint.client()
    listed = {o["Key"][len(PREFIX) + 1:]: o["Size"]
              for o in client.list_objects_v2(Bucket=s3_bucket.name, Prefix=PREFIX + "/")["Contents"]}
    large = {k for k, size in listed.items() if size > 8 * 1024 * 1024}
    assert len(large) == 3
    with pg_database.connect() as c:
        assert large <= pegasus.referenced_keys(c)
        assert pegasus.object_violations(c, client, s3_bucket.name, PREFIX, verify_content=False) == []


def test_sample_lecture_ids_is_deterministic(pg_database: Database, s3_bucket: Bucket) -> None:
    _seed(pg_database, s3_bucket)
    with pg_database.connect() as c:
        a = pegasus.sample_lecture_ids(c, 4, seed=9)
        assert a == pegasus.sample_lecture_ids(c, 4, seed=9) and len(a) == 4
        assert pegasus.sample_lecture_ids(c, 4, seed=10) != a
        ready = c.execute("SELECT array_agg(id) FROM public.lectures WHERE status = 'ready'").fetchone()
        assert set(a) <= set(ready[0])  # type: ignore[index]


def test_smoke_flow_then_cleanup_restores_manifest(pg_database: Database, s3_bucket: Bucket) -> None:
    _seed(pg_database, s3_bucket)
    before = _manifest(pg_database, s3_bucket)
    client = s3_bucket.endpoint.client()
    with pg_database.connect() as c:
        info = pegasus.smoke_flow(c, client, s3_bucket.name, PREFIX)
        assert info["artifact_id"] and info["export_id"] and len(info["keys"]) == 4
        assert _violations(pg_database) == {name: 0 for name in pegasus.INVARIANTS}
        assert pegasus.object_violations(c, client, s3_bucket.name, PREFIX) == []
        pegasus.smoke_cleanup(c, client, s3_bucket.name, PREFIX, info)
    after = _manifest(pg_database, s3_bucket)
    assert after.tables == before.tables and after.objects == before.objects


def test_smoke_flow_fails_when_sequence_is_behind(pg_database: Database, s3_bucket: Bucket) -> None:
    _seed(pg_database, s3_bucket)
    before = _manifest(pg_database, s3_bucket)
    with pg_database.connect() as c:
        c.execute("SELECT setval('public.lectures_id_seq', 1)")  # a restore that lost sequence state
        c.commit()
        with pytest.raises(ProcedureFailed, match="UniqueViolation"):
            pegasus.smoke_flow(c, s3_bucket.endpoint.client(), s3_bucket.name, PREFIX)
    after = _manifest(pg_database, s3_bucket)
    assert after.objects == before.objects and after.tables == before.tables  # nothing left behind


def test_streamed_upload_writes_exactly_the_built_objects(pg_database: Database, s3_bucket: Bucket) -> None:
    """Issue 19: seed() PUTs objects while it generates (bounded memory) instead of after building them all;
    the bucket must hold exactly the pure build()'s objects, byte for byte, with large_objects too (the
    audio it replaces is never uploaded), and a reseed fails before writing any object."""
    import hashlib

    from restore_drill.errors import BadInput

    _seed(pg_database, s3_bucket, large_objects=True)
    client = s3_bucket.endpoint.client()
    listed = {o["Key"][len(PREFIX) + 1:]: o["Size"] for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=s3_bucket.name, Prefix=PREFIX + "/") for o in page.get("Contents", [])}
    built = pegasus.build(seed=1234, scale=1, large_objects=True).objects
    assert listed == {o.key: len(o.body) for o in built}
    some = sorted(built, key=lambda o: o.key)[::40]
    for o in some:
        got = client.get_object(Bucket=s3_bucket.name, Key=f"{PREFIX}/{o.key}")["Body"].read()
        assert hashlib.sha256(got).hexdigest() == o.sha256, o.key
    with pg_database.connect() as c, pytest.raises(BadInput, match="already holds rows"):
        pegasus.seed(c, client, s3_bucket.name, "again")
    assert "Contents" not in client.list_objects_v2(Bucket=s3_bucket.name, Prefix="again/")
