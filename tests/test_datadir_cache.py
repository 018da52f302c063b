"""The cached initialised data directory (issue 19): servers start from a copy of a cluster initdb made
once per binary set and options, each with its own superuser password; the cache is built atomically
by concurrent processes and can be switched off."""

from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from restore_drill.fixtures import binaries
from restore_drill.fixtures.postgres import EmbeddedPostgres, datadir_cache
from restore_drill.fixtures.postgres.embedded import INITDB_OPTIONS
from restore_drill.fixtures.runtime_user import server_user


@pytest.fixture
def cache_root(monkeypatch: pytest.MonkeyPatch):
    # Outside pytest's 0700 tmp tree: the unprivileged server user must reach it.
    root = Path(tempfile.mkdtemp(prefix="rdtest-initdb-cache-"))
    monkeypatch.setenv(binaries.CACHE_ENV, str(root))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _env(b: binaries.PgBinaries) -> dict[str, str]:
    return {"PATH": f"{b.bindir}:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def test_servers_from_the_cache_each_take_their_own_password(cache_root: Path) -> None:
    b = binaries.select(None)
    a, c = EmbeddedPostgres(b), EmbeddedPostgres(b)
    try:
        a.start()
        c.start()
        (built,) = cache_root.glob(f"initdb-pg{b.major}-*")
        assert (built / "data" / "PG_VERSION").is_file()
        for srv, other in ((a, c), (c, a)):
            assert srv.tmpdir is not None
            hba = (srv.tmpdir / "data" / "pg_hba.conf").read_text()
            assert "trust" not in [w for ln in hba.splitlines() if not ln.startswith("#") for w in ln.split()]
            with psycopg.connect(srv.admin_db().url) as conn:
                assert conn.execute("SELECT current_user").fetchone() == ("drill",)
            wrong = srv.admin_db()
            with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
                psycopg.connect(wrong.url.replace(srv.password, other.password), connect_timeout=5).close()
    finally:
        a.stop()
        c.stop()


def test_concurrent_builders_get_one_complete_cluster_and_leave_no_temp(cache_root: Path) -> None:
    b = binaries.select(None)
    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(lambda _: datadir_cache.cached_datadir(b, INITDB_OPTIONS, _env(b), server_user()),
                            range(3)))
    assert got[0] is not None and len(set(got)) == 1
    assert (got[0] / "PG_VERSION").is_file()
    assert [p.name for p in cache_root.iterdir()] == [got[0].parent.name]  # no .tmp-initdb-* left behind


def test_the_cache_can_be_switched_off(cache_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(datadir_cache.ENV, "0")
    b = binaries.select(None)
    assert not datadir_cache.copy_cached(b, INITDB_OPTIONS, tmp_path / "data", _env(b), server_user())
    assert not (tmp_path / "data").exists() and list(cache_root.iterdir()) == []


def test_entries_of_binaries_that_no_longer_exist_are_pruned_when_a_new_one_is_made(
        cache_root: Path, tmp_path: Path) -> None:
    """The key hashes the binaries' folder, so a deleted copy of the binaries leaves an entry nobody can use:
    making a new entry removes those, and keeps entries whose binaries exist or that record none."""
    orphan, alive, unknown = (cache_root / f"initdb-pg16-{k}" for k in ("0" * 16, "1" * 16, "2" * 16))
    for entry in (orphan, alive, unknown):
        (entry / "data").mkdir(parents=True)
        (entry / "data" / "PG_VERSION").write_text("16\n")
    (orphan / datadir_cache.BINDIR_FILE).write_text(str(tmp_path / "deleted-bin") + "\n")
    (alive / datadir_cache.BINDIR_FILE).write_text(str(tmp_path) + "\n")
    b = binaries.select(None)
    built = datadir_cache.cached_datadir(b, INITDB_OPTIONS, _env(b), server_user())
    assert built is not None and (built.parent / datadir_cache.BINDIR_FILE).read_text().strip() == str(b.bindir)
    assert not orphan.exists() and alive.is_dir() and unknown.is_dir()
