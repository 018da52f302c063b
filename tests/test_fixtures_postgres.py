"""Disposable PostgreSQL: every version found starts and answers, as a non-root user, and leaves nothing."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from restore_drill.errors import BadInput, InfraUnavailable
from restore_drill.fixtures import binaries
from restore_drill.fixtures.binaries import PgBinaries
from restore_drill.fixtures.postgres import EmbeddedPostgres
from tests.helpers import alive, postgres_pids_under

SERVERS = binaries.servers()


@pytest.mark.parametrize("bins", SERVERS, ids=[f"pg{b.major}" for b in SERVERS])
def test_each_embedded_version_starts_answers_and_stops_clean(bins: PgBinaries) -> None:
    pg = EmbeddedPostgres(bins)
    pg.start()
    tmp = pg.tmpdir
    pid = pg.pid
    assert tmp is not None and pid is not None
    try:
        db = pg.create_database()
        with db.connect() as c:
            version = c.execute("SHOW server_version").fetchone()[0]
        assert version.startswith(f"{bins.major}.")
        uid_line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:"))
        assert int(uid_line.split()[1]) != 0, "PostgreSQL must never run as root"
        clone = pg.create_database(template=db.name)
        assert clone.name != db.name
    finally:
        pg.stop()
    assert not alive(pid)
    assert not tmp.exists()
    assert postgres_pids_under(str(tmp)) == []


def test_unknown_version_is_a_clear_error_listing_what_was_found() -> None:
    with pytest.raises(BadInput) as e:
        binaries.select(9)
    msg = str(e.value)
    assert "PostgreSQL 9 not found" in msg
    for b in SERVERS:
        assert str(b.major) in msg
    assert "--pg-version" in msg and "looked in" in msg


def test_missing_binary_names_the_tool_and_where(tmp_path: Path) -> None:
    bins = PgBinaries(16, "16.0", tmp_path, "test bindir")
    with pytest.raises(InfraUnavailable, match=r"initdb is missing from PostgreSQL 16\.0 at .*test bindir"):
        EmbeddedPostgres(bins).start()


def test_failed_start_leaves_no_process_or_temp_dir() -> None:
    """A server binary that dies at start: clear error, temp dir removed."""
    real = binaries.select(16)
    # Outside pytest's 0700 tmp tree: the unprivileged server user must be able to run it.
    tmp_path = Path(tempfile.mkdtemp(prefix="rdtest-bin-"))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(real.tool("initdb"), bindir / "initdb")
    (bindir / "postgres").write_text("#!/bin/sh\necho 'FATAL: simulated broken server' >&2\nexit 3\n")
    (bindir / "postgres").chmod(0o755)
    os.chmod(tmp_path, 0o755)
    pg = EmbeddedPostgres(PgBinaries(16, real.version, bindir, "broken test bindir"))
    try:
        with pytest.raises(InfraUnavailable, match="exited during start"):
            pg.start()
        assert pg.tmpdir is None and pg.proc is None
    finally:
        shutil.rmtree(tmp_path)


def test_client_tools_are_at_least_the_server_major() -> None:
    for b in SERVERS:
        client = binaries.client_for(b.major)
        assert client.major >= b.major
        assert client.has("pg_dump") and client.has("pg_restore")


def test_a_server_started_from_a_worker_thread_outlives_the_thread() -> None:
    """The kernel's parent-death signal is per thread: arming it there would kill the server when the
    starting thread ends (seen when verify-backup started servers in parallel)."""
    import threading
    import time

    box: dict[str, EmbeddedPostgres] = {}

    def start() -> None:
        pg = EmbeddedPostgres(binaries.select(16))
        pg.start()
        box["pg"] = pg

    t = threading.Thread(target=start)
    t.start()
    t.join()
    pg = box["pg"]
    try:
        time.sleep(0.5)
        assert pg.alive()
        with pg.create_database().connect() as c:
            assert c.execute("SELECT 1").fetchone()[0] == 1
    finally:
        pg.stop()
