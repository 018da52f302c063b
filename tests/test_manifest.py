"""The manifest's digests are properties of the data, not of the session that reads it."""

from __future__ import annotations

from restore_drill.fixtures.database import Database
from restore_drill.foundation import table_digest


def test_digest_ignores_session_timezone_and_float_settings(pg_database: Database) -> None:
    with pg_database.connect(autocommit=True) as c:
        c.execute("CREATE TABLE t (id int, at timestamptz, x float8, d interval)")
        c.execute("INSERT INTO t VALUES (1, '2026-03-29 01:30:00+00', 0.1, '1 day 2 hours')")
        c.execute("SET TIME ZONE 'Europe/Berlin'; SET extra_float_digits = 0; SET IntervalStyle = 'iso_8601'")
        berlin = table_digest(c, "t")
        c.execute("SET TIME ZONE 'America/New_York'; SET extra_float_digits = 1; SET IntervalStyle = 'sql_standard'")
        ny = table_digest(c, "t")
        assert berlin == ny
        assert c.execute("SHOW TimeZone").fetchone()[0] == "America/New_York", "the caller's session is left as it was"
        c.execute("UPDATE t SET at = at + interval '1 microsecond'")
        assert table_digest(c, "t") != ny, "one microsecond is a different row"
