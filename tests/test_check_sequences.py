"""sequence_health: serial, identity and nextval-default columns against their data, after real restores."""

from __future__ import annotations

from pathlib import Path

import pytest

from restore_drill.checks import sequence_health
from restore_drill.checks._util import libpq_env
from restore_drill.checks.result import Status
from restore_drill.fixtures import binaries
from restore_drill.procs import run
from tests.helpers import seeded_dump_and_target

SCHEMA = """
CREATE TABLE courses (id serial PRIMARY KEY, name text);
CREATE TABLE lectures (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, title text);
CREATE SEQUENCE ticket_seq;
CREATE TABLE tickets (no bigint DEFAULT nextval('ticket_seq') PRIMARY KEY);
CREATE TABLE countdown (id int PRIMARY KEY);
CREATE SEQUENCE countdown_seq INCREMENT -1 MINVALUE -1000 MAXVALUE 100 START 100 OWNED BY countdown.id;
ALTER TABLE countdown ALTER COLUMN id SET DEFAULT nextval('countdown_seq');
INSERT INTO courses (name) SELECT 'c' || g FROM generate_series(1, 30) g;
INSERT INTO lectures (title) SELECT 'l' || g FROM generate_series(1, 30) g;
INSERT INTO tickets DEFAULT VALUES; INSERT INTO tickets DEFAULT VALUES;
INSERT INTO countdown DEFAULT VALUES; INSERT INTO countdown DEFAULT VALUES;
"""


@pytest.fixture
def restored(pg_database, drill_infra, tmp_path: Path):
    manifest, target, dump = seeded_dump_and_target(pg_database, drill_infra, tmp_path, SCHEMA)
    bins = binaries.select(16)
    run([bins.tool("pg_restore"), "--no-owner", "-d", target.name, dump], env=libpq_env(target), timeout_s=60,
        check=True)
    yield manifest, target
    drill_infra.drop(target)


def test_clean_restore_passes(restored):
    manifest, target = restored
    with target.connect(autocommit=True) as c:
        res = sequence_health(c, manifest=manifest)
    assert res.status is Status.PASSED, res.message
    cols = {e["column"] for e in res.evidence["checked"]["items"]}
    assert cols == {"public.courses.id", "public.lectures.id", "public.tickets.no", "public.countdown.id"}


@pytest.mark.parametrize("fault, column", [
    ("SELECT setval('courses_id_seq', 3)", "public.courses.id"),
    ("ALTER TABLE lectures ALTER COLUMN id RESTART WITH 1", "public.lectures.id"),
    ("SELECT setval('ticket_seq', 1, false)", "public.tickets.no"),
    ("SELECT setval('countdown_seq', 100)", "public.countdown.id"),  # descending: must stay below the min
])
def test_sequence_behind_the_data_fails(restored, fault, column):
    manifest, target = restored
    with target.connect(autocommit=True) as c:
        c.execute(fault)
        res = sequence_health(c, manifest=manifest)
    assert res.status is Status.FAILED
    assert column in res.message
    assert [b["column"] for b in res.evidence["behind"]["items"]] == [column]


def test_lost_sequence_fails_with_manifest(restored):
    manifest, target = restored
    with target.connect(autocommit=True) as c:
        c.execute("ALTER TABLE courses ALTER COLUMN id DROP DEFAULT; DROP SEQUENCE courses_id_seq")
        assert sequence_health(c).status is Status.PASSED  # the restored catalog alone cannot know ...
        res = sequence_health(c, manifest=manifest)  # ... the manifest does
    assert res.status is Status.FAILED
    assert "public.courses.id has no sequence (manifest: public.courses_id_seq)" in res.message


def test_scope_limits_columns(restored):
    manifest, target = restored
    with target.connect(autocommit=True) as c:
        c.execute("SELECT setval('courses_id_seq', 3)")
        assert sequence_health(c, ["public.lectures"], manifest=manifest).status is Status.PASSED
        assert sequence_health(c, ["public.courses"], manifest=manifest).status is Status.FAILED
