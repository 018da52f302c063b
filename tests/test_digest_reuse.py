"""A table digest is computed once per snapshot (issue 19): a second digest of the same table under an
equal MVCC snapshot reuses the first; any write (another session's, the transaction's own, an unlogged
table's) makes the next digest scan again and see it."""

from __future__ import annotations

from typing import Any

import pytest

from restore_drill import foundation
from restore_drill.foundation import table_digest


class _Counting(dict):  # type: ignore[type-arg]
    hits = 0

    def __getitem__(self, key: Any) -> Any:
        type(self).hits += 1
        return super().__getitem__(key)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> type[_Counting]:
    _Counting.hits = 0
    monkeypatch.setattr(foundation, "_DIGESTS", _Counting())
    return _Counting


def test_unchanged_table_is_scanned_once_and_a_same_count_update_is_seen(pg_database, counting) -> None:
    with pg_database.connect(autocommit=True) as c, pg_database.connect(autocommit=True) as other:
        # autovacuum off: its ANALYZE would take a transaction id and (rightly) change the snapshot
        c.execute("CREATE TABLE t (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off)")
        c.execute("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g")
        first = table_digest(c, "public.t")
        assert table_digest(c, "public.t") == first and counting.hits == 1
        assert table_digest(other, "public.t") == first and counting.hits == 2  # another session, same snapshot
        other.execute("UPDATE t SET v = 'changed' WHERE id = 7")  # same count, other content
        after = table_digest(c, "public.t")
        assert after[0] == 100 and after != first and counting.hits == 2


def test_the_transactions_own_writes_are_never_served_from_the_cache(pg_database, counting) -> None:
    with pg_database.connect() as c:
        c.execute("CREATE TABLE u (id int PRIMARY KEY, v text)")
        c.execute("INSERT INTO u SELECT g, 'v' || g FROM generate_series(1, 50) g")
        before = table_digest(c, "public.u")
        c.execute("UPDATE u SET v = 'mine' WHERE id = 3")  # same transaction, snapshot text unchanged
        assert table_digest(c, "public.u") != before and counting.hits == 0
        c.rollback()


def test_an_unlogged_table_write_is_seen(pg_database, counting) -> None:
    with pg_database.connect(autocommit=True) as c:
        c.execute("CREATE UNLOGGED TABLE w (id int PRIMARY KEY, v text)")
        c.execute("INSERT INTO w SELECT g, 'v' || g FROM generate_series(1, 20) g")
        first = table_digest(c, "public.w")
        c.execute("UPDATE w SET v = 'x' WHERE id = 1")
        assert table_digest(c, "public.w") != first


def test_a_missing_table_still_raises(pg_database) -> None:
    import psycopg

    with pg_database.connect(autocommit=True) as c, pytest.raises(psycopg.errors.UndefinedTable):
        table_digest(c, "public.no_such_table")


def test_another_role_under_row_level_security_is_never_served_the_owners_digest(pg_database, counting) -> None:
    """shared/cases/04-rls-table-restore: the same snapshot, another role: RLS shows it other rows."""
    import secrets

    import psycopg

    role, pw = f"rd_reader_{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    with pg_database.connect(autocommit=True) as c:
        c.execute("CREATE TABLE r (id int PRIMARY KEY, tenant text) WITH (autovacuum_enabled = off)")
        c.execute("INSERT INTO r SELECT g, CASE WHEN g % 2 = 0 THEN 'even' ELSE 'odd' END FROM generate_series(1, 40) g")
        c.execute("ALTER TABLE r ENABLE ROW LEVEL SECURITY")
        c.execute("CREATE POLICY even_only ON r USING (tenant = 'even')")
        c.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{pw}'")
        c.execute(f"GRANT SELECT ON r TO {role}")
        try:
            owner = table_digest(c, "public.r")
            url = psycopg.conninfo.make_conninfo(pg_database.url, user=role, password=pw)
            with psycopg.connect(url, autocommit=True) as rc:
                seen = table_digest(rc, "public.r")
            assert owner[0] == 40 and seen[0] == 20 and counting.hits == 0, (owner, seen)
        finally:
            c.execute("DROP TABLE r")
            c.execute(f"DROP ROLE {role}")
