"""Issue 19, the drill's own overhead: parallel digest scans, background work on the infrastructure,
one boto3 session per S3 keys, and a moto that stops at once. No timings here (bench/ measures them)."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest

from restore_drill import foundation
from restore_drill.fixtures.infra import Infra
from restore_drill.fixtures.s3 import MotoS3
from restore_drill.fixtures.s3 import interface as s3_interface

_PARALLEL = ("SET parallel_setup_cost = 0", "SET parallel_tuple_cost = 0", "SET min_parallel_table_scan_size = 0",
             "SET max_parallel_workers_per_gather = 2")


def _table(conn: Any, name: str, rows: int = 2000) -> None:
    conn.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, v text, at timestamptz) WITH (autovacuum_enabled = off)")
    conn.execute(f"INSERT INTO {name} SELECT g, md5(g::text), now() FROM generate_series(1, %s) g", (rows,))
    conn.execute(f"ANALYZE {name}")


def test_the_digest_scan_may_run_with_parallel_workers(pg_database) -> None:
    """The scan statement holds nothing PARALLEL UNSAFE: with parallel plans made cheap the planner gathers
    workers. The scan keyed with the transaction's own-writes test (as before issue 19) never does."""
    from psycopg import sql

    with pg_database.connect(autocommit=True) as c:
        _table(c, "par")
        for s in _PARALLEL:
            c.execute(s)
        plan = "\n".join(r[0] for r in c.execute(sql.SQL("EXPLAIN ") + foundation._digest_scan_sql(c, "public.par")))
        assert "Gather" in plan and "Parallel Seq Scan" in plan
        serial = sql.SQL("EXPLAIN SELECT count(*), {} FROM {} AS t").format(
            foundation._digest_key_sql(c, "public.par"), foundation.ident("public.par"))
        assert "Gather" not in "\n".join(r[0] for r in c.execute(serial))


def test_a_parallel_digest_equals_the_serial_one_and_sees_a_same_count_change(pg_database, monkeypatch) -> None:
    monkeypatch.setattr(foundation, "_DIGESTS", {})
    with pg_database.connect(autocommit=True) as c:
        _table(c, "eq")
        for s in _PARALLEL:
            c.execute(s)
        parallel = foundation.table_digest(c, "public.eq")
        foundation._DIGESTS.clear()
        c.execute("SET max_parallel_workers_per_gather = 0")
        assert foundation.table_digest(c, "public.eq") == parallel
        c.execute("SET max_parallel_workers_per_gather = 2")
        c.execute("UPDATE eq SET v = 'changed' WHERE id = 1500")
        changed = foundation.table_digest(c, "public.eq")
        assert changed[0] == parallel[0] == 2000 and changed[1] != parallel[1]


def test_a_digest_taken_after_the_transaction_wrote_is_never_kept(pg_database, monkeypatch) -> None:
    """The own-writes test moved out of the scan: a transaction that has written still keeps nothing."""
    monkeypatch.setattr(foundation, "_DIGESTS", {})
    with pg_database.connect() as c:
        _table(c, "mine", 50)
        foundation.table_digest(c, "public.mine")
        assert foundation._DIGESTS == {}
        c.rollback()
    with pg_database.connect(autocommit=True) as c:
        _table(c, "theirs", 50)
        foundation.table_digest(c, "public.theirs")
        assert len(foundation._DIGESTS) == 1  # the same digest in autocommit is kept: the test above can fail


def test_background_work_is_waited_for_by_settle_and_close_and_its_errors_are_dropped() -> None:
    infra = Infra()
    release = threading.Event()
    done: list[str] = []

    def slow() -> None:
        release.wait(5)
        done.append("slow")

    def broken() -> None:
        raise RuntimeError("dropped")

    infra.background(slow)
    infra.background(broken)
    threading.Timer(0.2, release.set).start()
    infra.settle()
    assert done == ["slow"] and infra._pending == []
    release.clear()
    infra.background(slow)
    threading.Timer(0.2, release.set).start()
    infra.close()
    assert done == ["slow", "slow"] and infra._pending == []


def test_clients_share_one_session_per_keys_and_files_but_never_their_event_handlers(monkeypatch) -> None:
    ep = s3_interface.S3Endpoint("http://127.0.0.1:9", "AKIDEXAMPLE", "secret")
    a, b = ep.client(), ep.client()
    assert a is not b
    seen: list[str] = []
    a.meta.events.register("before-call.s3", lambda model, **_: seen.append(model.name))
    assert seen == [] and b.meta.events is not a.meta.events
    key = ("AKIDEXAMPLE", "secret", "us-east-1")
    files = tuple(os.environ.get(v) for v in s3_interface._CONFIG_FILE_VARIABLES)
    assert s3_interface._session(*key, files) is s3_interface._session(*key, files)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")  # another file: a session that reads it
    other = tuple(os.environ.get(v) for v in s3_interface._CONFIG_FILE_VARIABLES)
    assert s3_interface._session(*key, other) is not s3_interface._session(*key, files)


def test_moto_serves_after_remembering_its_service_and_stops_at_once_by_pid() -> None:
    m = MotoS3()
    m.start()
    try:
        c = m.endpoint.client()
        c.create_bucket(Bucket="rd-overhead-test")
        for i in range(3):  # the same host name, answered from the remembered service each time
            c.put_object(Bucket="rd-overhead-test", Key=f"k{i}", Body=b"x" * (i + 1))
        assert [o["Size"] for o in c.list_objects_v2(Bucket="rd-overhead-test")["Contents"]] == [1, 2, 3]
        pid = m.pid
        assert pid is not None
    finally:
        m.stop()
    assert not m.alive() and m.pid is None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"moto (pid {pid}) still exists after stop()")


def test_retired_buckets_are_gone_before_the_s3_server_is_used_again() -> None:
    """A drill's tear-down hands its buckets to Infra.retire_buckets: the next use of Infra.s3 (the next
    drill's bucket, a fixed [names] bucket name included) waits until they are deleted."""
    with Infra() as infra:
        s3 = infra.s3
        b = infra.bucket("retire")
        s3.endpoint.client().put_object(Bucket=b.name, Key="k", Body=b"x")
        release = threading.Event()
        real = s3.delete_bucket

        def held(bucket: Any) -> None:
            release.wait(10)
            real(bucket)

        s3.delete_bucket = held  # type: ignore[method-assign]
        infra.retire_buckets([b])
        got: list[Any] = []
        user = threading.Thread(target=lambda: got.append(infra.s3))
        user.start()
        user.join(0.3)
        assert user.is_alive() and got == []  # still deleting: the next user waits
        release.set()
        user.join(10)
        assert got == [s3] and infra._retiring == []
        assert b.name not in {x["Name"] for x in s3.endpoint.client().list_buckets()["Buckets"]}


def test_backup_artifact_stops_its_concurrent_pg_restore_reads_when_interrupted(tmp_path, monkeypatch) -> None:
    """backup_artifact runs pg_restore -l, --version and the full read at once: a Ctrl-C while they run
    stops each of them by its process group, as a single run() does its own child."""
    from checks import backup
    from restore_drill.records import BackupRecord

    pids = tmp_path / "pids"
    pids.mkdir()
    fake = tmp_path / "pg_restore"
    fake.write_text(f"#!/bin/sh\necho $$ > {pids}/$$\nsleep 30\necho finished > {tmp_path}/finished.$$\n")
    fake.chmod(0o755)
    archive = tmp_path / "a.dump"
    archive.write_bytes(b"PGDMP" + b"\0" * 100)

    def ctrl_c_once_all_run() -> None:
        deadline = time.monotonic() + 20
        while len(list(pids.iterdir())) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)  # to the main thread, waiting on the three reads

    threading.Thread(target=ctrl_c_once_all_run, daemon=True).start()
    rec = BackupRecord(path=str(archive), size_bytes=105, sha256="00", started_at="", finished_at="")
    with pytest.raises(KeyboardInterrupt):
        backup.backup_artifact(rec, fake)
    started = [int(p.name) for p in pids.iterdir()]
    assert len(started) == 3 and list(tmp_path.glob("finished.*")) == []  # killed, not run to their end
    for pid in started:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_remove_tree_removes_a_folder_and_nothing_beside_it(tmp_path) -> None:
    from restore_drill.fixtures.postgres.embedded import remove_tree

    target, beside = tmp_path / "data", tmp_path / "keep"
    (target / "base" / "1").mkdir(parents=True)
    (target / "base" / "1" / "16384").write_bytes(b"x" * 10)
    (target / "PG_VERSION").write_text("16\n")
    beside.mkdir()
    (beside / "f").write_text("mine")
    remove_tree(target)
    assert not target.exists() and (beside / "f").read_text() == "mine"
    remove_tree(target)  # gone already: nothing to do, nothing raised


def test_a_snapshot_record_reads_no_headers_where_s3_proves_the_content(s3_bucket) -> None:
    """headers=False (the backup's snapshot record keeps size and sha256 only): an object whose single-part
    ETag and size are those of a content already hashed costs no request beyond the listing; any other is
    still read in full, and the sha256 values are those of the contents."""
    import hashlib

    from restore_drill.seeds.manifest import object_snapshots

    client = s3_bucket.endpoint.client()
    for key, body in (("live/a", b"alpha"), ("live/b", b"bravo"), ("copy/a", b"alpha"), ("copy/c", b"new")):
        client.put_object(Bucket=s3_bucket.name, Key=key, Body=body, ContentType="text/plain")
    object_snapshots(client, s3_bucket.name, "live")  # hashes a and b, as the manifest does
    calls: list[str] = []
    client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    reused: list[str] = []
    got = object_snapshots(client, s3_bucket.name, "copy", reused=reused, headers=False)
    assert {k: o.sha256 for k, o in got.items()} == {"a": hashlib.sha256(b"alpha").hexdigest(),
                                                    "c": hashlib.sha256(b"new").hexdigest()}
    assert reused == ["a"] and "HeadObject" not in calls and calls.count("GetObject") == 1
    assert got["a"].content_type == "" and got["c"].content_type == "text/plain"
    calls.clear()
    with_headers = object_snapshots(client, s3_bucket.name, "copy")  # the default still reads them
    assert with_headers["a"].content_type == "text/plain" and "HeadObject" in calls
