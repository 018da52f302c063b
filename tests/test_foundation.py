"""restore_drill.foundation: the one definition of SQL identifiers, digests and timestamps every layer uses."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from psycopg import sql

from restore_drill import foundation as f
from restore_drill.fixtures.database import Database


def test_identifiers_default_to_public_and_quote_every_part(pg_database: Database) -> None:
    assert f.qualified("lectures") == "public.lectures" and f.qualified("app.t") == "app.t"
    assert f.split_qualified("a.b.c") == ("a", "b.c")
    assert f.quote_qualified('we"ird.Mixed Case') == '"we""ird"."Mixed Case"'
    with pg_database.connect() as c:
        c.execute('CREATE SCHEMA "we""ird"; CREATE TABLE "we""ird"."Mixed Case" (id int)')
        assert sql.SQL("SELECT count(*) FROM {}").format(f.ident('we"ird.Mixed Case')).as_string(c) == \
            'SELECT count(*) FROM "we""ird"."Mixed Case"'
        assert c.execute("SELECT to_regclass(%s) IS NOT NULL", (f.quote_qualified('we"ird.Mixed Case'),)).fetchone() == (True,)


def test_table_digest_ignores_row_order_and_session_settings(pg_database: Database) -> None:
    with pg_database.connect() as c:
        c.execute("CREATE TABLE a (id int, at timestamptz, x float8); CREATE TABLE b (LIKE a)")
        c.execute("INSERT INTO a VALUES (1, '2026-01-01 10:00+00', 0.1), (2, NULL, 1e-300)")
        c.execute("INSERT INTO b SELECT * FROM a ORDER BY id DESC")
        c.execute("SET TIME ZONE 'Asia/Kolkata'; SET extra_float_digits = 0")
        da = f.table_digest(c, "a")
        c.execute("RESET ALL")
        assert da == f.table_digest(c, "public.b") and da[0] == 2
        c.execute("UPDATE b SET x = 0.2 WHERE id = 1")
        assert f.table_digest(c, "b") != da


def test_sha256_of_bytes_and_of_a_file_read_in_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    (tmp_path / "x").write_bytes(data)
    assert f.sha256_bytes(data) == f.sha256_file(tmp_path / "x", chunk=4096) == hashlib.sha256(data).hexdigest()


def test_one_timestamp_format_and_its_parser() -> None:
    now = f.utcnow()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", now), now
    assert abs(f.parse_time(now) - datetime.now(UTC)) < timedelta(minutes=1)
    assert f.parse_time("2026-03-01T02:00:00") == datetime(2026, 3, 1, 2, tzinfo=UTC)  # naive means UTC
    assert f.parse_time("2026-03-01T04:00:00+02:00") == datetime(2026, 3, 1, 2, tzinfo=UTC)
    assert f.parse_time(datetime(2026, 3, 1, 2, tzinfo=timezone(timedelta(hours=1)))).tzinfo is not None
    with pytest.raises(ValueError):
        f.parse_time("yesterday")
