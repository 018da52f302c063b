"""hypothesis strategies: they reach the edge cases they promise, their datasets satisfy each system's
invariants, and (property drill) backup then restore with the real tools preserves the manifest."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import find as _find

from restore_drill import procs
from restore_drill.fixtures import binaries
from restore_drill.fixtures.database import Database
from restore_drill.fixtures.environment import bind
from restore_drill.seeds import arqonbus, pegasus
from restore_drill.seeds.manifest import take_manifest
from restore_drill.seeds.pegasus.dataset import load_rows, upload_objects
from restore_drill.seeds.strategies import EDGE_TIMES, arqonbus_datasets, pegasus_datasets

PROPERTY = settings(max_examples=4, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])
_n = itertools.count()
# Reaching an edge case is the point; shrinking the example that shows it would only cost time.
_FIND = settings(phases=(Phase.generate,), max_examples=2000, database=None, deadline=None)


def find(strategy: Any, condition: Any) -> Any:
    return _find(strategy, condition, settings=_FIND)


def _strings(v: Any) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, dict):
        return [s for k, x in v.items() for s in [k, *_strings(x)]]
    if isinstance(v, list | tuple):
        return [s for x in v for s in _strings(x)]
    return []


def _events_have(pred: Any) -> Any:
    return lambda ds: any(pred(s) for s in _strings(ds.events))


def test_arqonbus_strategy_reaches_edge_cases() -> None:
    find(arqonbus_datasets(), _events_have(lambda s: any(0x1F300 <= ord(c) <= 0x1FAFF for c in s)))  # emoji
    find(arqonbus_datasets(), _events_have(lambda s: any("\u0590" <= c <= "\u06ff" for c in s)))  # RTL
    find(arqonbus_datasets(), _events_have(lambda s: s == ""))
    find(arqonbus_datasets(), _events_have(lambda s: len(s) > 60_000))  # very large JSONB
    find(arqonbus_datasets(), lambda ds: len(ds.dlq) > 0)
    find(arqonbus_datasets(), lambda ds: any(e[6] == datetime(1970, 1, 1, tzinfo=UTC) for e in ds.events))
    find(arqonbus_datasets(), lambda ds: any(e[6] in EDGE_TIMES[3:9] for e in ds.events))  # DST changes


def test_pegasus_strategy_reaches_edge_cases() -> None:
    find(pegasus_datasets(), lambda ds: any(o.body == b"" for o in ds.objects))
    find(pegasus_datasets(), lambda ds: any(set(o.key) & set(" +%#?&=") for o in ds.objects))
    find(pegasus_datasets(), lambda ds: any(not o.key.isascii() for o in ds.objects))
    find(pegasus_datasets(), lambda ds: any(r[3] is None for r in ds.rows["public.courses"]))  # NULL description
    find(pegasus_datasets(), lambda ds: any(r[12] is None for r in ds.rows["public.lectures"]))  # NULL recorded_at


def _dump_restore(src: Database, dst: Database, workdir: Path) -> None:
    """The operators' tools: pg_dump -Fc of the source, pg_restore into a fresh database."""
    client = binaries.client_for(src.major)
    env = bind(db=src, client_bins=client, workdir=workdir).as_env()
    dump = workdir / "db.dump"
    done = procs.run([client.tool("pg_dump"), "--format=custom", "--no-owner", f"--file={dump}", "-d", src.url],
                     env=env, timeout_s=120)
    assert done.exit_code == 0, done.stderr
    done = procs.run([client.tool("pg_restore"), "--no-owner", "--exit-on-error", "-d", dst.url, str(dump)],
                     env=env, timeout_s=120)
    assert done.exit_code == 0, done.stderr


@PROPERTY
@given(ds=arqonbus_datasets())
def test_property_arqonbus_backup_restore_preserves_manifest(drill_infra, tmp_path: Path, ds) -> None:  # type: ignore[no-untyped-def]
    src, dst = drill_infra.database(), drill_infra.database()
    try:
        with src.connect() as c:
            arqonbus.apply_migration(c)
            arqonbus.load_dataset(c, ds)
            assert all(not c.execute(q).fetchall() for q, _ in arqonbus.INVARIANTS.values())
            before = take_manifest(c, system="arqonbus")
        _dump_restore(src, dst, tmp_path)
        with dst.connect() as c:
            after = take_manifest(c, system="arqonbus")
        assert after.tables == before.tables and after.catalog == before.catalog
    finally:
        drill_infra.drop(src)
        drill_infra.drop(dst)


@PROPERTY
@given(ds=pegasus_datasets())
def test_property_pegasus_backup_restore_preserves_manifest(drill_infra, s3_bucket, tmp_path: Path, ds) -> None:  # type: ignore[no-untyped-def]
    src, dst = drill_infra.database(), drill_infra.database()
    n = next(_n)
    live, backup = f"live{n}/pegasus", f"backup{n}/pegasus-snap"
    client = s3_bucket.endpoint.client()
    try:
        with src.connect() as c:
            pegasus.apply_schema(c)
            load_rows(c, ds)
            upload_objects(client, s3_bucket.name, live, ds.objects)
            assert all(not c.execute(q).fetchall() for q, _ in pegasus.INVARIANTS.values())
            assert pegasus.object_violations(c, client, s3_bucket.name, live) == []
            before = take_manifest(c, system="pegasus", s3_client=client, bucket=s3_bucket.name, prefix=live)
        _dump_restore(src, dst, tmp_path)
        # The runbook's object backup and restore: aws s3 sync to a snapshot prefix, lose the live
        # prefix, sync back.
        env = bind(db=src, client_bins=binaries.client_for(src.major), workdir=tmp_path, s3=s3_bucket.endpoint,
                   bucket=s3_bucket.name).as_env()
        for a, b in ((live, backup), (None, None), (backup, live)):
            if a is None:
                for o in ds.objects:
                    client.delete_object(Bucket=s3_bucket.name, Key=f"{live}/{o.key}")
                continue
            done = procs.run(["aws", "s3", "sync", f"s3://{s3_bucket.name}/{a}", f"s3://{s3_bucket.name}/{b}",
                              "--endpoint-url", s3_bucket.endpoint.url, "--only-show-errors"],
                             env=env, timeout_s=120)
            assert done.exit_code == 0, done.stderr
        with dst.connect() as c:
            after = take_manifest(c, system="pegasus", s3_client=client, bucket=s3_bucket.name, prefix=live)
            assert pegasus.object_violations(c, client, s3_bucket.name, live) == []
        assert after.tables == before.tables and after.catalog == before.catalog
        assert after.objects.keys() == before.objects.keys()
        # sha256 and size survive a sync; content type and user metadata are what sync copies
        assert {k: (o.size, o.sha256) for k, o in after.objects.items()} == \
               {k: (o.size, o.sha256) for k, o in before.objects.items()}
    finally:
        drill_infra.drop(src)
        drill_infra.drop(dst)
