"""referential_integrity: orphans found by join, also when the restore lost the foreign key itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from restore_drill.checks import Relation, referential_integrity
from restore_drill.checks._util import libpq_env
from restore_drill.checks.references import relations_from_catalog
from restore_drill.checks.result import Status
from restore_drill.fixtures import binaries
from restore_drill.procs import run
from restore_drill.seeds.manifest import take_manifest

SCHEMA = """
CREATE SCHEMA media;
CREATE TABLE courses (id int PRIMARY KEY, name text);
CREATE TABLE "Lectures" (id int PRIMARY KEY, course_id int REFERENCES courses(id), "Org" text, ref int,
                         UNIQUE ("Org", ref));
CREATE TABLE media.clips (id int PRIMARY KEY, org text, lecture_ref int,
                          FOREIGN KEY (org, lecture_ref) REFERENCES "Lectures"("Org", ref));
CREATE TABLE jobs (id int PRIMARY KEY, lecture_id int);  -- no FK declared: an undeclared relation
INSERT INTO courses VALUES (1, 'a'), (2, 'b');
INSERT INTO "Lectures" VALUES (10, 1, 'o', 1), (11, 2, 'o', 2), (12, NULL, 'o', 3);
INSERT INTO media.clips VALUES (100, 'o', 1), (101, NULL, 2);
INSERT INTO jobs VALUES (1000, 10), (1001, 11);
"""
JOBS = ("public.jobs", "lecture_id", "public.Lectures", "id", "jobs_lecture")


@pytest.fixture
def restored(pg_database, drill_infra, tmp_path: Path):
    with pg_database.connect(autocommit=True) as c:
        c.execute(SCHEMA)
    with pg_database.connect() as c:
        manifest = take_manifest(c, system="test", schemas=("public", "media"))
    bins = binaries.select(16)
    dump = tmp_path / "src.dump"
    run([bins.tool("pg_dump"), "-Fc", "-f", dump], env=libpq_env(pg_database), timeout_s=60, check=True)
    target = drill_infra.database()
    yield manifest, target, lambda *a: run([bins.tool("pg_restore"), "--no-owner", "-d", target.name, *a, dump],
                                           env=libpq_env(target), timeout_s=60)
    drill_infra.drop(target)


def test_relations_parsed_from_the_manifest_catalog(restored):
    manifest, *_ = restored
    rels = {r.describe() for r in relations_from_catalog(manifest.catalog)}
    assert rels == {"public.Lectures(course_id) -> public.courses(id)",
                    "media.clips(org, lecture_ref) -> public.Lectures(Org, ref)"}


def test_clean_restore_passes(restored):
    manifest, target, restore = restored
    assert restore().exit_code == 0
    with target.connect(autocommit=True) as c:
        res = referential_integrity(c, manifest, extra_relations=[JOBS])
    assert res.status is Status.PASSED, res.message
    assert res.evidence["relations"]["count"] == 3


def test_orphans_found_when_the_restore_lost_the_foreign_key(restored):
    manifest, target, restore = restored
    assert restore("--section=pre-data", "--section=data").exit_code == 0  # no post-data: FKs lost
    with target.connect(autocommit=True) as c:
        c.execute("DELETE FROM courses WHERE id = 2")  # possible only because the FK is gone
        res = referential_integrity(c, manifest)
    assert res.status is Status.FAILED
    assert "public.Lectures(course_id) -> public.courses(id): 1 orphan row(s), e.g. course_id=2" in res.message
    assert res.observed == 1


def test_composite_and_undeclared_relations(restored):
    manifest, target, restore = restored
    restore("--section=pre-data", "--section=data")
    with target.connect(autocommit=True) as c:
        c.execute("""DELETE FROM "Lectures" WHERE id = 10""")
        res = referential_integrity(c, manifest, extra_relations=[JOBS])
    assert res.status is Status.FAILED
    broken = {b["relation"]: b for b in res.evidence["broken"]["items"]}
    assert broken["media.clips(org, lecture_ref) -> public.Lectures(Org, ref)"]["sample_keys"] == [
        {"org": "o", "lecture_ref": 1}]  # the NULL org row (MATCH SIMPLE) is not an orphan
    assert broken["public.jobs(lecture_id) -> public.Lectures(id)"]["sample_keys"] == [{"lecture_id": 10}]


def test_missing_parent_table_fails(restored):
    manifest, target, restore = restored
    restore()
    with target.connect(autocommit=True) as c:
        c.execute("DROP TABLE courses CASCADE")
        res = referential_integrity(c, manifest)
    assert res.status is Status.FAILED and "table missing: public.courses" in res.message


def test_nothing_to_check_is_skipped(pg_database):
    with pg_database.connect() as c:
        assert referential_integrity(c, None).status is Status.SKIPPED
        rel = Relation("public.a", ("x",), "public.b", ("y",))
        assert referential_integrity(c, None, [rel]).status is Status.FAILED  # both tables missing
