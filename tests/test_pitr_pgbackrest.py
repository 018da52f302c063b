"""Point-in-time recovery with pgBackRest (issue 17's "pgBackRest where installed (PG 15, skipped with the reason
elsewhere)"): the drill arqonbus-pitr-pgbackrest (drills/procedures/arqonbus-pitr-pgbackrest.md) runs the real
pgBackRest (archive-push as archive_command, stanza-create, check, a full backup, restore to a recovery target)
against moto through a TLS front (fixtures/s3/tls.py) whose per-run CA pgBackRest verifies.

Fast (default suite): the TLS front, pgBackRest's archive names and backup.manifest as the checks read them, the
one-line reasons a machine without pgBackRest (or a too-new --pg-version) gets. Slow: the real drill, and a
WAL segment deleted from pgBackRest's archive failing wal_continuity by name."""

from __future__ import annotations

import gzip
import hashlib
import ssl
import urllib.error
import urllib.request

import pytest

from restore_drill import catalog
from restore_drill.checks.result import Status
from restore_drill.errors import BadInput, InfraUnavailable
from restore_drill.fixtures.s3 import MotoS3
from restore_drill.fixtures.s3.tls import TlsFront
from restore_drill.pitr import pgbackrest, wal
from restore_drill.pitr.drill import PitrOptions, PitrRun, procedure_files

DRILL = "arqonbus-pitr-pgbackrest"
HAVE = pgbackrest.installed_version()
needs_pgbackrest = pytest.mark.skipif(
    HAVE is None or pgbackrest.unavailable_reason(15, HAVE) is not None,
    reason=f"pgBackRest is not installed: {pgbackrest.INSTALL_HINT}")


# -- the TLS front ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def moto():
    m = MotoS3()
    m.start()
    try:
        yield m
    finally:
        m.stop()


def test_tls_front_forwards_to_moto_and_is_trusted_only_with_its_ca(moto, tmp_path):
    """An HTTPS request through the front reaches moto (the bucket made there is listed) when the client trusts
    the front's per-run CA; without that CA the handshake fails certificate verification."""
    moto.endpoint.client().create_bucket(Bucket="tls-front-probe")
    with TlsFront(moto.endpoint.url, folder=tmp_path / "tls") as front:
        assert front.url.startswith("https://localhost:") and front.port > 0 and front.ca_file is not None
        trusted = ssl.create_default_context(cafile=str(front.ca_file))
        with urllib.request.urlopen(front.url + "/", context=trusted, timeout=30) as r:
            assert r.status in (200, 403)  # unsigned ListBuckets: moto answers either way; TLS is what is tested
        with urllib.request.urlopen(front.url + "/tls-front-probe", context=trusted, timeout=30) as r:
            assert r.status == 200 and b"tls-front-probe" in r.read()
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(front.url + "/", context=ssl.create_default_context(), timeout=30)
        port = front.port
    # stopped by whoever started it: nothing listens any more
    import socket

    with pytest.raises(OSError), socket.create_connection((front.address, port), timeout=5):
        pass


def test_tls_front_refuses_to_front_anything_but_a_loopback_http_endpoint():
    for bad in ("https://127.0.0.1:9000", "http://example.com:80", "http://127.0.0.1"):
        with pytest.raises(BadInput, match="plain-HTTP loopback"):
            TlsFront(bad)


# -- pgBackRest's repository as the checks read it ---------------------------------------------------------------

SHA = "4a3f1b9c2d7e8f0a1b2c3d4e5f60718293a4b5c6"


def test_wal_file_names_of_pgbackrests_archive():
    """Real pgBackRest 2.45 names (archive/<stanza>/15-1/0000000100000000/...): segment-sha1 with or without a
    compression extension -> the segment's own name; anything else unchanged."""
    seg = "000000010000000000000003"
    for ext in ("", ".gz", ".lz4", ".zst", ".bz2"):
        assert wal.wal_file_name(f"{seg}-{SHA}{ext}") == seg
    assert wal.wal_file_name(f"00000002.history-{SHA}") == f"00000002.history-{SHA}"  # not a segment
    assert wal.wal_file_name("archive.info") == "archive.info"
    assert wal.wal_file_name(seg) == seg  # a flat archive (aws s3 cp) is unchanged
    assert wal.wal_file_name(f"{seg}-{SHA[:-1]}.gz") == f"{seg}-{SHA[:-1]}.gz"  # not a SHA-1


def test_archive_listing_reads_pgbackrests_layout_with_uncompressed_sizes(moto, tmp_path):
    """archive_listing over pgBackRest's nested folders: each segment under its own name, a gzip-compressed
    one with the size it has uncompressed (gzip trailer), a truncated one with its real (short) size, so
    wal_continuity still sees a partial upload; download_segments hands pg_waldump the uncompressed bytes."""
    c = moto.endpoint.client()
    bucket = "pgbackrest-layout"
    c.create_bucket(Bucket=bucket)
    prefix = "repo/archive/arqonbus"
    full = bytes(range(256)) * (wal.DEFAULT_SEGMENT_BYTES // 256)
    short = full[: 1 << 20]
    segs = {"000000010000000000000002": full, "000000010000000000000003": short}
    for name, body in segs.items():
        key = f"{prefix}/15-1/{name[:16]}/{name}-{hashlib.sha1(body).hexdigest()}.gz"
        c.put_object(Bucket=bucket, Key=key, Body=gzip.compress(body, compresslevel=1))
    c.put_object(Bucket=bucket, Key=f"{prefix}/archive.info", Body=b"[db]\n")
    listing = wal.archive_listing(c, bucket, prefix)
    assert listing["000000010000000000000002"] == wal.DEFAULT_SEGMENT_BYTES
    assert listing["000000010000000000000003"] == len(short)
    assert "archive.info" in listing
    got = wal.download_segments(c, bucket, prefix, ["000000010000000000000002", "000000010000000000000009"], tmp_path)
    assert got == ["000000010000000000000002"]
    assert (tmp_path / "000000010000000000000002").read_bytes() == full
    assert not list(tmp_path.glob("*.gz"))
    from restore_drill.checks.wal_archive import wal_continuity

    r = wal_continuity(listing, None, 0x2000028, 0x3000100, timeline=1)
    assert r.status is Status.FAILED and "000000010000000000000003" in r.message and "partial" in r.message


MANIFEST = """[backrest]
backrest-format=5
backrest-version="2.45"

[backup]
backup-archive-start="000000010000000000000004"
backup-archive-stop="000000010000000000000004"
backup-label="20261130-210501F"
backup-lsn-start="0/4000028"
backup-lsn-stop="0/4000138"
backup-timestamp-start=1796072701
backup-timestamp-stop=1796072703
backup-type="full"

[backup:db]
db-id=1
db-system-id=7443461392101486613
db-version="15"

[target:file]
pg_data/PG_VERSION={"checksum":"dd71038f3463f511ee7403dbcbc87195302d891c","size":3,"timestamp":1796072690}
"""


def test_backup_manifest_gives_the_wal_range_and_the_backup_record(moto):
    """pgBackRest's backup.manifest (INI, JSON values) -> the WAL range the checks scan; newest_backup reads the
    newest complete backup's folder from S3 (a folder without backup.manifest is unfinished and skipped)."""
    m = pgbackrest.parse_manifest(MANIFEST)
    assert pgbackrest.wal_range(m) == (1, 0x4000028, 0x4000138)
    c = moto.endpoint.client()
    bucket = "pgbackrest-backup"
    c.create_bucket(Bucket=bucket)
    base = "repo/backup/arqonbus"
    c.put_object(Bucket=bucket, Key=f"{base}/backup.info", Body=b"[backup:current]\n")
    c.put_object(Bucket=bucket, Key=f"{base}/20261130-210501F/backup.manifest", Body=MANIFEST.encode())
    c.put_object(Bucket=bucket, Key=f"{base}/20261130-210501F/pg_data/PG_VERSION.gz", Body=gzip.compress(b"15\n"))
    c.put_object(Bucket=bucket, Key=f"{base}/20261130-220000F/pg_data/PG_VERSION.gz", Body=b"unfinished")
    rec, man = pgbackrest.newest_backup(c, bucket, base)  # type: ignore[misc]
    assert rec.path == f"s3://{bucket}/{base}/20261130-210501F/"
    assert rec.sha256 == hashlib.sha256(MANIFEST.encode()).hexdigest()
    assert rec.tool_version == "pgBackRest 2.45 (PostgreSQL 15)"
    assert rec.archive_header["files"] == 1 and rec.finished_at.startswith("2026-")
    assert man["backup"]["backup-label"] == "20261130-210501F"
    assert pgbackrest.newest_backup(c, bucket, "repo/backup/none") is None


# -- when the drill cannot run: one line naming the fix ----------------------------------------------------------

def test_without_pgbackrest_the_drill_is_refused_naming_the_install():
    with pytest.raises(InfraUnavailable, match=r"pgBackRest is not installed.*apt-get install pgbackrest"):
        pgbackrest.require(None, None, (15, 16, 18))


def test_a_postgresql_newer_than_pgbackrest_supports_names_pg_version_15():
    with pytest.raises(BadInput, match=r"pgBackRest 2\.45 supports PostgreSQL up to 15, not 16: .*--pg-version 15"):
        pgbackrest.require(16, (2, 45), (15, 16, 18))
    assert pgbackrest.require(None, (2, 45), (15, 16)) == 15  # no --pg-version: 15
    assert pgbackrest.require(14, (2, 45), (14,)) == 14
    assert pgbackrest.max_major((2, 40)) == 15 and pgbackrest.max_major((2, 55)) is None  # newer: its own refusal
    with pytest.raises(InfraUnavailable, match=r"no PostgreSQL 15 server.*apt-get install postgresql-15"):
        pgbackrest.require(None, (2, 45), (16, 18))


def test_the_drill_is_catalogued_on_postgresql_15_and_not_default():
    spec = catalog.get(DRILL)
    assert spec.physical and spec.variant == "pgbackrest" and spec.pg_major == 15 and not spec.default
    assert catalog.get("pegasus-pitr-pgbackrest").pg_major == 15 and not catalog.get("pegasus-pitr-pgbackrest").default
    rb, bd = procedure_files("pegasus", "pgbackrest")
    assert "STORAGE_TARGET_TIME" in rb.read_text() and "archive-push %p" in rb.read_text()
    rb, bd = procedure_files("arqonbus", "pgbackrest")
    text = rb.read_text()
    assert rb.name == "arqonbus-pitr-pgbackrest.md" and bd.name == "arqonbus-pitr-pgbackrest.toml"
    for needed in ("stanza-create", "archive-push %p", "backup --type=full", "restore", "--target-action",
                   "repo1-storage-ca-file"):
        assert needed in text, needed
    assert "verify-tls=n" not in text.replace("`repo1-storage-verify-tls=n`", "")  # TLS is verified


def test_a_drill_run_without_pgbackrest_errors_with_the_reason(drill_infra, tmp_path, monkeypatch):
    """The real drill on a machine without pgBackRest: errored before any server starts, the report's one line
    naming `apt-get install pgbackrest`."""
    from restore_drill.config import DrillConfig
    from restore_drill.engine import Drill
    from restore_drill.events import EventBus

    monkeypatch.setattr(pgbackrest, "installed_version", lambda exe=None: None)
    rep = Drill(catalog.get(DRILL), DrillConfig(report_dir=tmp_path), drill_infra, EventBus(), tmp_path).run()
    assert rep.status == "errored"
    assert rep.error is not None and rep.error.type == "InfraUnavailable"
    assert "apt-get install pgbackrest" in rep.error.message
    assert rep.id.startswith(f"{DRILL}[pg15-")


# -- the real drill (slow) -----------------------------------------------------------------------------------------

@pytest.mark.slow
@needs_pgbackrest
def test_pgbackrest_drill_passes_end_to_end(drill_infra, tmp_path):
    """Every PITR check passes on pgBackRest's layout (WAL under archive/<stanza>/15-1/<tli+log>/<seg>-<sha1>.gz,
    the backup under backup/<stanza>/<label>/ with backup.manifest); backup_manifest is skipped with its reason
    (pgBackRest keeps its own manifest); the data-loss window equals the ledger's; the keys appear in no step
    output or report."""
    from tests.pitr_support import assert_tool_drill_passed, run_pitr

    seen: dict[str, object] = {}

    def look(run: PitrRun) -> None:
        c = run.s3_client
        seen["wal"] = [o["Key"] for o in c.list_objects_v2(Bucket=run.wal_bucket, Prefix=run.wal_prefix + "/")["Contents"]]

    rep, run = run_pitr(drill_infra, tmp_path, DRILL, opts=PitrOptions(before_start=look))
    bad_steps = [(s.name, s.reason, s.stdout_tail[-1500:], s.stderr_tail[-600:]) for s in rep.steps
                 if s.status in ("failed", "errored")]
    assert not bad_steps, bad_steps  # first: a failed step explains the failed checks
    assert_tool_drill_passed(rep, run, "pg_verifybackup cannot verify")
    assert run.host.binaries.major == 15 and rep.id.startswith(f"{DRILL}[pg15-")
    keys = seen["wal"]
    assert isinstance(keys, list) and any(k.endswith(".gz") and "/15-1/" in k for k in keys), keys[:5]
    (b,) = rep.backups
    assert b.path.startswith(f"s3://{run.wal_bucket}/{run.base_prefix}/") and b.tool_version.startswith("pgBackRest 2.")
    secret = drill_infra.s3.endpoint.secret_key
    for s in rep.steps:
        assert secret not in (s.stdout_tail or "") + (s.stderr_tail or "") + s.command
    (restore,) = [s for s in rep.steps if s.name.startswith("Restore the Base Backup")]
    assert restore.status == "passed" and "archive-get" in restore.stdout_tail


@pytest.mark.slow
@needs_pgbackrest
def test_deleted_wal_segment_in_pgbackrests_archive_fails_wal_continuity(drill_infra, tmp_path):
    """The segment holding the disaster's WAL position is deleted from pgBackRest's archive before the restored
    server starts: wal_continuity names it, and recovery cannot reach the target."""
    from tests.pitr_support import assert_wal_gap_named, run_pitr

    deleted: list[str] = []

    def delete(run: PitrRun) -> None:
        seg = wal.segment_name(wal.parse_lsn(run.disaster["lsn_before"]))
        for o in run.s3_client.list_objects_v2(Bucket=run.wal_bucket, Prefix=run.wal_prefix + "/")["Contents"]:
            if o["Key"].rsplit("/", 1)[-1].startswith(seg + "-"):
                run.s3_client.delete_object(Bucket=run.wal_bucket, Key=o["Key"])
                deleted.append(seg)

    rep, _ = run_pitr(drill_infra, tmp_path, DRILL, opts=PitrOptions(before_start=delete))
    assert_wal_gap_named(rep, deleted)


@pytest.mark.slow
@needs_pgbackrest
def test_pegasus_pgbackrest_drill_restores_database_and_storage_to_one_instant(drill_infra, tmp_path):
    """pegasus-pitr-pgbackrest (drills/procedures/pegasus-pitr-pgbackrest.md): Pegasus's database through pgBackRest
    as arqonbus-pitr-pgbackrest does, its versioned bucket restored to the versions current at the same target
    time as pegasus-pitr does. Every PITR check passes, storage_at_target proves the objects the disaster
    overwrote or deleted are back as they were at the database's recovery target, and the data-loss window
    equals the ledger's."""
    from tests.pitr_support import assert_tool_drill_passed, check, run_pitr, window_from_ledger

    rep, run = run_pitr(drill_infra, tmp_path, "pegasus-pitr-pgbackrest")
    assert_tool_drill_passed(rep, run, "pg_verifybackup cannot verify")
    st = check(rep, "storage_at_target")
    assert st.status is Status.PASSED and len(run.storage_changed) == 4 and "are back" in st.message, st.message
    assert run.storage_target == max(e.committed_at for e in run.ledger if e.committed_at <= run.boundary)
    assert rep.status == "passed" and run.host.binaries.major == 15
    assert rep.metrics["data_loss_window_ms"] == window_from_ledger(run)
