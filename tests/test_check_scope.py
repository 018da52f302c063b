"""blast_radius after real table-scoped pg_restore --clean --if-exists --table runs (the ArqonBus runbook)."""

from __future__ import annotations

import pytest

from restore_drill.checks import blast_radius
from restore_drill.checks._util import libpq_env
from restore_drill.checks.result import Status
from restore_drill.fixtures import binaries
from restore_drill.procs import run
from restore_drill.seeds.manifest import take_manifest

SCHEMA = """
CREATE TABLE projection (id int PRIMARY KEY, v int);
CREATE TABLE customers (id serial PRIMARY KEY, name text);  -- another app's table in the same database
INSERT INTO projection SELECT g, g FROM generate_series(1, 20) g;
INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 10) g;
"""
SCOPE = ["public.projection"]
B16 = binaries.select(16)


@pytest.fixture
def scenario(pg_database, tmp_path):
    """Backup, then legitimate writes to the other app, then a disaster in scope."""
    with pg_database.connect(autocommit=True) as c:
        c.execute(SCHEMA)
    dump = tmp_path / "all.dump"
    run([B16.tool("pg_dump"), "-Fc", "--no-owner", "-f", dump], env=libpq_env(pg_database), timeout_s=60, check=True)
    with pg_database.connect(autocommit=True) as c:
        c.execute("INSERT INTO customers (name) VALUES ('after backup')")
        c.execute("TRUNCATE projection")  # the disaster
        before = take_manifest(c, system="t")

    def restore(*tables: str):
        args = [a for t in tables for a in ("--table", t.split(".")[-1])]
        return run([B16.tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "-d", pg_database.name,
                    *args, dump], env=libpq_env(pg_database), timeout_s=60)
    return pg_database, before, restore


def test_scoped_restore_leaves_the_rest_alone(scenario):
    db, before, restore = scenario
    assert restore(*SCOPE).exit_code == 0
    with db.connect(autocommit=True) as c:
        res = blast_radius(c, before, SCOPE)
        assert c.execute("SELECT count(*) FROM projection").fetchone()[0] == 20
    assert res.status is Status.PASSED, res.message
    assert res.evidence["tables_outside_scope"] == 1


def test_restore_that_also_rolled_back_another_table_fails(scenario):
    db, before, restore = scenario
    restore(*SCOPE, "public.customers")  # one --table too many: the other app loses its new row
    with db.connect(autocommit=True) as c:
        res = blast_radius(c, before, SCOPE)
    assert res.status is Status.FAILED
    assert "public.customers: content changed (11 -> 10 rows)" in res.message


def test_sequence_moved_and_table_appearing_outside_scope_fail(scenario):
    db, before, restore = scenario
    restore(*SCOPE)
    with db.connect(autocommit=True) as c:
        c.execute("SELECT setval('customers_id_seq', 500)")
        c.execute("CREATE TABLE stray (x int)")
        res = blast_radius(c, before, SCOPE)
    assert res.status is Status.FAILED
    assert "public.stray: table appeared" in res.message
    assert "~ sequence public.customers_id_seq: last_value 11 -> 500" in res.evidence["catalog"]["diff"]["items"]


def test_dropped_table_outside_scope_fails(scenario):
    db, before, restore = scenario
    restore(*SCOPE)
    with db.connect(autocommit=True) as c:
        c.execute("DROP TABLE customers")
        res = blast_radius(c, before, SCOPE)
    assert res.status is Status.FAILED and "public.customers: table dropped" in res.message
