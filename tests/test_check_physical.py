"""physical_integrity: pg_amcheck where the amcheck extension exists (system PostgreSQL 15 here),
skipped with the reason where it does not (the pip wheel's 16 and 18)."""

from __future__ import annotations

import pytest

from restore_drill.checks import physical_integrity
from restore_drill.checks.result import Status
from restore_drill.fixtures import binaries

HAS_15 = any(b.major == 15 and b.can_serve for b in binaries.discover())

SCHEMA = """
CREATE FUNCTION norm(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x';
CREATE TABLE items (id int PRIMARY KEY, v int);
CREATE INDEX items_norm_idx ON items (norm(v));
INSERT INTO items SELECT g, g FROM generate_series(1, 2000) g;
"""


@pytest.fixture
def db15(drill_infra):
    if not HAS_15:
        pytest.skip("no PostgreSQL 15 server binaries with amcheck on this machine")
    db = drill_infra.database(15)
    with db.connect(autocommit=True) as c:
        if c.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck'").fetchone() is None:
            pytest.skip("PostgreSQL 15 here has no amcheck extension (postgresql-contrib)")
        c.execute(SCHEMA)
    yield db
    drill_infra.drop(db)


def _amcheck_installed(db) -> bool:
    with db.connect() as c:
        return c.execute("SELECT 1 FROM pg_extension WHERE extname = 'amcheck'").fetchone() is not None


def test_healthy_database_passes_and_leaves_no_trace(db15):
    res = physical_integrity(db15)
    assert res.status is Status.PASSED, res.message
    assert res.evidence["exit_code"] == 0
    assert not _amcheck_installed(db15)  # the extension we installed for the check is gone again


def test_index_out_of_step_with_heap_fails(db15):
    # An "immutable" function whose result changes makes the index disagree with the heap: exactly
    # what --heapallindexed detects, without touching files under the server's feet.
    with db15.connect(autocommit=True) as c:
        c.execute("CREATE OR REPLACE FUNCTION norm(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT -x'")
    res = physical_integrity(db15)
    assert res.status is Status.FAILED, res.message
    assert "items_norm_idx" in res.message
    assert "password" not in str(res.to_dict()).lower()
    assert not _amcheck_installed(db15)


def test_server_without_amcheck_is_skipped_with_the_reason(pg_database):
    with pg_database.connect() as c:
        available = c.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck'").fetchone()
    res = physical_integrity(pg_database)
    if available:
        assert res.status is Status.PASSED, res.message
    else:
        assert res.status is Status.SKIPPED
        assert "amcheck extension is not available on PostgreSQL 16" in res.message
        if "wheel" in pg_database.server.source:  # the fix is another binary set, not a package install
            assert "ships no contrib modules; point RESTORE_DRILL_PG_BINDIRS" in res.message, res.message
