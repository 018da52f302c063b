"""backup_artifact and restore_exit_status on real pg_dump archives and real pg_restore runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from restore_drill.checks import backup_artifact, restore_exit_status
from restore_drill.checks._util import libpq_env
from restore_drill.checks.backup import parse_errors, read_custom_header
from restore_drill.checks.result import Status
from restore_drill.fixtures import binaries
from restore_drill.foundation import sha256_file, utcnow
from restore_drill.procs import run
from restore_drill.records import BackupRecord

SCHEMA = """
CREATE TABLE events (id bigserial PRIMARY KEY, body text);
CREATE TABLE projection (id int PRIMARY KEY, state text);
CREATE TABLE other_app (id int);
INSERT INTO events (body) SELECT md5(g::text) || repeat('x', g % 50) FROM generate_series(1, 5000) g;
INSERT INTO projection SELECT g, 's' FROM generate_series(1, 100) g;
"""
SCOPE = ["public.events", "public.projection"]
B16 = binaries.select(16)


def record_for(path: Path, intended=SCOPE) -> BackupRecord:
    return BackupRecord(path=str(path), size_bytes=path.stat().st_size, sha256=sha256_file(path),
                        started_at=utcnow(), finished_at=utcnow(), intended_tables=list(intended))


@pytest.fixture
def source(pg_database):
    with pg_database.connect(autocommit=True) as c:
        c.execute(SCHEMA)
    return pg_database


def dump(db, path: Path, bins=B16, *args: str) -> Path:
    tables = [a for t in SCOPE for a in ("--table", t)]
    run([bins.tool("pg_dump"), "--format=custom", "--no-owner", *tables, *args, "--file", path],
        env=libpq_env(db), timeout_s=60, check=True)
    return path


def test_good_archive_passes(source, tmp_path):
    f = dump(source, tmp_path / "good.dump")
    rec = record_for(f)
    res = backup_artifact(rec, B16.tool("pg_restore"))
    assert res.status is Status.PASSED, res.message
    assert res.evidence["data_tables"]["items"] == SCOPE
    assert res.evidence["dumped_by"].startswith("16.")
    assert read_custom_header(f)["Dumped by pg_dump version"] == res.evidence["dumped_by"]


def test_truncated_archive_fails(source, tmp_path):
    good = dump(source, tmp_path / "good.dump")
    rec = record_for(good)
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    res = backup_artifact(rec, B16.tool("pg_restore"))
    assert res.status is Status.FAILED
    assert "good.dump sha256" in res.message and "differs from the recorded" in res.message
    # Even with a record made from the truncated file, reading it end to end fails.
    res2 = backup_artifact(record_for(good), B16.tool("pg_restore"))
    assert res2.status is Status.FAILED and "does not read end to end" in res2.message, res2.message


def test_bit_flipped_archive_fails(source, tmp_path):
    good = dump(source, tmp_path / "good.dump")
    rec = record_for(good)
    data = bytearray(good.read_bytes())
    data[len(data) * 2 // 3] ^= 0x10
    good.write_bytes(bytes(data))
    assert good.stat().st_size == rec.size_bytes  # same size: only the digest can tell
    res = backup_artifact(rec, B16.tool("pg_restore"))
    assert res.status is Status.FAILED and "differs from the recorded" in res.message


def test_missing_and_empty_files_fail(tmp_path):
    rec = BackupRecord(path=str(tmp_path / "none.dump"), size_bytes=10, sha256="ab", started_at="", finished_at="")
    res = backup_artifact(rec, B16.tool("pg_restore"))
    assert res.status is Status.FAILED and "none.dump does not exist" in res.message
    (tmp_path / "none.dump").write_bytes(b"")
    res = backup_artifact(rec, B16.tool("pg_restore"))
    assert res.status is Status.FAILED and "is empty" in res.message
    (tmp_path / "none.dump").write_bytes(b"not an archive")
    res = backup_artifact(record_for(tmp_path / "none.dump"), B16.tool("pg_restore"))
    assert res.status is Status.FAILED and "cannot read none.dump" in res.message


def test_archive_missing_an_intended_table_fails(source, tmp_path):
    f = tmp_path / "partial.dump"
    run([B16.tool("pg_dump"), "-Fc", "--table", "public.events", "--table", "public.other_app", "-f", f],
        env=libpq_env(source), timeout_s=60, check=True)
    res = backup_artifact(record_for(f), B16.tool("pg_restore"))
    assert res.status is Status.FAILED
    assert "archive has no data for public.projection" in res.message
    assert "outside the procedure's scope: public.other_app" in res.message


def test_archive_dumped_by_a_newer_pg_dump_fails(source, tmp_path):
    newer = next((b for b in binaries.discover() if b.major > 16 and b.has("pg_dump")), None)
    if newer is None:
        pytest.skip("no pg_dump newer than 16 on this machine")
    rec = record_for(dump(source, tmp_path / "new.dump", newer))
    res = backup_artifact(rec, B16.tool("pg_restore"))
    assert res.status is Status.FAILED
    assert f"dumped by pg_dump {newer.major}." in res.message and "cannot restore it" in res.message


# -- restore_exit_status ----------------------------------------------------------------------------

def test_clean_restore_exit_status_passes(source, drill_infra, tmp_path):
    f = dump(source, tmp_path / "good.dump")
    target = drill_infra.database()
    try:
        done = run([B16.tool("pg_restore"), "--no-owner", "-d", target.name, f], env=libpq_env(target), timeout_s=60)
    finally:
        drill_infra.drop(target)
    res = restore_exit_status(done.exit_code, done.stderr)
    assert res.status is Status.PASSED, res.message


def test_restore_exiting_non_zero_with_ignored_errors(source, tmp_path):
    f = dump(source, tmp_path / "good.dump")
    # Restoring over the live source without --clean: every CREATE collides, pg_restore carries on.
    done = run([B16.tool("pg_restore"), "--no-owner", "-d", source.name, f], env=libpq_env(source), timeout_s=60)
    assert done.exit_code == 1 and "errors ignored on restore" in done.stderr
    res = restore_exit_status(done.exit_code, done.stderr)
    assert res.status is Status.FAILED
    assert 'relation "events" already exists' in res.message
    assert res.evidence["errors_ignored"] == res.evidence["unexpected_errors"]["count"]
    # Allowlisting one kind of error is not enough while others remain ...
    part = restore_exit_status(done.exit_code, done.stderr, allowlist=[r"already exists"])
    assert part.status is Status.FAILED
    assert "duplicate key" in part.message or "multiple primary" in part.message
    # ... allowlisting every kind the drill expects passes, and says so.
    every = restore_exit_status(done.exit_code, done.stderr,
                                allowlist=[r"already exists", r"duplicate key", r"multiple primary keys"])
    assert every.status is Status.PASSED, every.message
    assert "allowlisted" in every.message


def test_non_zero_exit_without_errors_fails_and_errors_with_exit_0_fail():
    assert restore_exit_status(1, "").status is Status.FAILED
    res = restore_exit_status(0, "psql:mig.sql:3: ERROR:  relation \"x\" does not exist\n")
    assert res.status is Status.FAILED and 'relation "x" does not exist' in res.message


def test_parse_errors_keeps_toc_context_and_command():
    stderr = ("pg_restore: while PROCESSING TOC:\n"
              "pg_restore: from TOC entry 215; 1259 16386 TABLE public events drill\n"
              "pg_restore: error: could not execute query: ERROR:  relation \"events\" already exists\n"
              "Command was: CREATE TABLE public.events (\n    id bigint NOT NULL\n);\n"
              "pg_restore: warning: errors ignored on restore: 1\n")
    entries, ignored = parse_errors(stderr)
    assert ignored == 1 and len(entries) == 1
    assert "TABLE public events" in entries[0] and "Command was: CREATE TABLE public.events" in entries[0]
    assert restore_exit_status(1, stderr, allowlist=[r"TABLE public events"]).status is Status.PASSED


def test_copy_keeps_names_stable(tmp_path, source):
    # Names of results are stable identifiers reports and alerts key on.
    f = dump(source, tmp_path / "a.dump")
    shutil.copy(f, tmp_path / "b.dump")
    assert backup_artifact(record_for(tmp_path / "b.dump"), B16.tool("pg_restore")).name == "backup_artifact"
    assert restore_exit_status(0, "").name == "restore_exit_status"
