"""seeds._copy.bulk_load (issue 19): TRUNCATE + COPY FREEZE with secondary indexes built after the load
leaves the catalog exactly as declared, and never empties a table that holds rows."""

from __future__ import annotations

import pytest

from restore_drill.seeds._copy import bulk_load, copy_rows

SCHEMA = """
CREATE TABLE t (id int PRIMARY KEY, a text NOT NULL, b int NOT NULL);
CREATE INDEX t_a ON t (a);
CREATE UNIQUE INDEX t_b ON t (b);
CREATE INDEX t_c ON t (lower(a)) WHERE b > 3;
COMMENT ON INDEX t_c IS 'kept';
ALTER TABLE t REPLICA IDENTITY USING INDEX t_b;
CREATE INDEX t_d ON t (b, a) WITH (fillfactor = 70);
"""
INDEXES = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 't' ORDER BY 1"


def test_bulk_load_rebuilds_the_declared_indexes_and_freezes_the_rows(pg_database) -> None:
    with pg_database.connect() as c:
        c.execute(SCHEMA)  # type: ignore[arg-type]
        c.commit()
        before = c.execute(INDEXES).fetchall()
        with bulk_load(c, ["public.t"]) as freeze:
            assert freeze
            assert c.execute(INDEXES).fetchall() == [r for r in before if r[0] in ("t_b", "t_c", "t_pkey")]
            copy_rows(c, "public.t", ("id", "a", "b"), [(i, f"x{i}", i) for i in range(500)], freeze=freeze)
        assert c.execute(INDEXES).fetchall() == before
        assert c.execute("SELECT count(*) FROM t").fetchone() == (500,)
        assert c.execute("SELECT obj_description('t_c'::regclass, 'pg_class')").fetchone() == ("kept",)


def test_freeze_is_really_asked_for_and_needs_the_truncate(pg_database) -> None:
    """PostgreSQL refuses COPY FREEZE on a table not created or truncated in the same transaction: the
    flag reaches the server, and bulk_load's TRUNCATE is what makes it legal."""
    import psycopg

    with pg_database.connect() as c:
        c.execute("CREATE TABLE f (id int PRIMARY KEY)")
        c.commit()
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="FREEZE"):
            copy_rows(c, "public.f", ("id",), [(1,)], freeze=True)
        c.rollback()


def test_bulk_load_refuses_a_table_that_holds_rows_and_rolls_back(pg_database) -> None:
    with pg_database.connect() as c:
        c.execute("CREATE TABLE full_t (id int PRIMARY KEY, v text); CREATE INDEX full_v ON full_t (v)")
        c.execute("INSERT INTO full_t VALUES (1, 'keep me')")
        c.commit()
        with pytest.raises(ValueError, match="public.full_t already holds rows"), bulk_load(c, ["public.full_t"]):
            pass
        assert c.execute("SELECT v FROM full_t").fetchall() == [("keep me",)]
        assert c.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'full_v'").fetchone() == (1,)


def test_copy_binary_adds_header_and_trailer_and_the_server_checks_the_tuples(pg_database) -> None:
    """copy_binary (issue 19): blocks of bare binary tuples load as written (psycopg passes write() blocks
    through; the header and trailer are ours); a malformed tuple is refused by the server, not loaded."""
    import struct
    from datetime import UTC, datetime

    import psycopg

    from restore_drill.seeds._copy import copy_binary

    def tup(i: int, text: str, js: str, us: int) -> bytes:
        t, j = text.encode(), js.encode()
        return (struct.pack("!hiq", 4, 8, i) + struct.pack("!i", len(t)) + t + struct.pack("!ib", len(j) + 1, 1)
                + j + struct.pack("!iq", 8, us))

    with pg_database.connect() as c:
        c.execute("CREATE TABLE b (id bigint PRIMARY KEY, t text NOT NULL, j jsonb NOT NULL, at timestamptz)")
        copy_binary(c, "public.b", ("id", "t", "j", "at"),
                    [tup(1, "a\tb\\c", '{"k": "日本"}', 0), tup(2, "", "[1,2]", 86_400_000_000)])
        assert c.execute("SELECT id, t, j, at FROM b ORDER BY id").fetchall() == [
            (1, "a\tb\\c", {"k": "日本"}, datetime(2000, 1, 1, tzinfo=UTC)),
            (2, "", [1, 2], datetime(2000, 1, 2, tzinfo=UTC))]
        c.commit()
        with pytest.raises(psycopg.errors.BadCopyFileFormat):
            copy_binary(c, "public.b", ("id", "t", "j", "at"), [tup(3, "x", "{}", 0)[:-3]])
        c.rollback()
        assert c.execute("SELECT count(*) FROM b").fetchone() == (2,)
