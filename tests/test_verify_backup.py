"""verify-backup on real archives: made with each available pg_dump (15, 16, 18), restored with each
target's own pg_restore into disposable databases, with faults injected into the dumps themselves."""

from __future__ import annotations

import contextlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from restore_drill.checks._util import libpq_env
from restore_drill.checks.result import Status
from restore_drill.errors import BadInput
from restore_drill.fixtures import binaries
from restore_drill.procs import run
from restore_drill.verify import VERDICT_FILE, archive_row_counts, inspect_archive, restored_objects, verify_backup
from tests.helpers import scratch_database

MAJORS = sorted(b.major for b in binaries.servers())
# A small schema with every kind the archive-vs-restore comparison covers: FK, sequences, trigger,
# function, index, unique constraint, and a quoted table name with a space.
SCHEMA = """
CREATE TABLE authors (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE "Book Notes" (id bigserial PRIMARY KEY, author_id int NOT NULL REFERENCES authors(id),
                           body text, updated_at timestamptz);
CREATE INDEX book_notes_body_idx ON "Book Notes" (body);
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN NEW.updated_at := '2026-01-01 00:00:00+00'; RETURN NEW; END$$;
CREATE TRIGGER book_notes_stamp BEFORE INSERT OR UPDATE ON "Book Notes" FOR EACH ROW EXECUTE FUNCTION stamp();
INSERT INTO authors (name) SELECT 'author ' || g FROM generate_series(1, 40) g;
INSERT INTO "Book Notes" (author_id, body) SELECT 1 + g % 40, md5(g::text) FROM generate_series(1, 2000) g;
"""
ROWS = {"public.authors": 40, "public.Book Notes": 2000}


def dump(db, path: Path, major: int | None = None, *args: str) -> Path:
    """pg_dump --format=custom with the server's own client tools (TZ=UTC: the header's time is UTC)."""
    bins = binaries.select(major if major is not None else db.major)
    run([bins.tool("pg_dump"), "--format=custom", *args, "--file", path], env={**libpq_env(db), "TZ": "UTC"},
        timeout_s=60, check=True)
    return path


def source(infra, major: int, sql: str = SCHEMA) -> contextlib.AbstractContextManager[Any]:
    """A scratch database of ``major`` loaded with ``sql``, dropped on leaving the block."""
    return scratch_database(infra, major, sql)


def verify(path: Path, tmp_path: Path, infra, versions, **kw):
    return verify_backup(path, versions=versions, storage_snapshot=kw.pop("storage_snapshot", None),
                         manifest=kw.pop("manifest", None), system=kw.pop("system", None),
                         report_dir=tmp_path / "runs", argv=["test"], infra=infra, **kw)


def checks_of(report, version: int) -> dict:
    drill = next(d for d in report.drills if d.id == f"verify-backup[pg{version}]")
    return {c.name: c for c in drill.checks}


@pytest.fixture(scope="module")
def archives(drill_infra, tmp_path_factory) -> dict[int, Path]:
    """One archive per available major, each made by that major's pg_dump from that major's server."""
    out_dir = tmp_path_factory.mktemp("archives")
    out: dict[int, Path] = {}
    for major in MAJORS:
        with source(drill_infra, major) as db:
            out[major] = dump(db, out_dir / f"books_pg{major}.dump")
    return out


# -- across versions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("made_by", MAJORS, ids=[f"archive-pg{m}" for m in MAJORS])
def test_archive_verifies_into_same_and_newer_versions(archives, drill_infra, tmp_path, made_by):
    targets = [m for m in MAJORS if m >= made_by]
    report, run_dir = verify(archives[made_by], tmp_path, drill_infra, targets)
    assert report.status == "passed", [d.status_reason for d in report.drills]
    assert report.matrix is not None and report.matrix.versions == [f"pg{m}" for m in targets]
    for m in targets:
        c = checks_of(report, m)
        for name in ("backup_artifact", "restore_exit_status", "restored_objects", "row_counts",
                     "sequence_health", "referential_integrity"):
            assert c[name].status is Status.PASSED, (m, name, c[name].message)
            assert report.matrix.cells[f"pg{m}"][name] == "passed"
        kinds = c["restored_objects"].evidence["per_kind"]
        assert {"TABLE", "INDEX", "CONSTRAINT", "FK CONSTRAINT", "SEQUENCE", "TRIGGER", "FUNCTION"} <= set(kinds)
        assert c["row_counts"].observed == ROWS
        # amcheck ships with the system's PostgreSQL 15, not with the wheel's 16/18.
        assert c["physical_integrity"].status in (Status.PASSED, Status.SKIPPED)
        if m == 15:
            assert c["physical_integrity"].status is Status.PASSED, c["physical_integrity"].message
    verdict = (run_dir / VERDICT_FILE).read_text()
    assert "safe to restore into PostgreSQL: " + ", ".join(binaries.select(m).version for m in targets) in verdict
    data = json.loads((run_dir / "report.json").read_text())
    assert data["status"] == "passed" and data["matrix"]["versions"] == [f"pg{m}" for m in targets]
    assert [d["id"] for d in data["drills"]] == [f"verify-backup[pg{m}]" for m in targets]


@pytest.mark.parametrize("fmt", ["directory", "tar"])
def test_directory_and_tar_archives_verify_and_stay_unchanged(drill_infra, tmp_path, fmt):
    from restore_drill.verify.archive import _tree_sha256

    major = MAJORS[-1]
    with source(drill_infra, major) as db:
        path = dump(db, tmp_path / f"books.{fmt}", major, f"--format={fmt}")
    before = _tree_sha256(path)
    report, _ = verify(path, tmp_path, drill_infra, [major])
    assert report.status == "passed", report.drills[0].status_reason
    c = checks_of(report, major)
    assert c["backup_artifact"].evidence["kind"] == fmt
    assert c["row_counts"].observed == ROWS
    assert _tree_sha256(path) == before  # verifying reads the archive, never writes it


def test_default_targets_leave_out_versions_older_than_the_archive(archives, drill_infra, tmp_path):
    made_by = MAJORS[-1] if len(MAJORS) == 1 else MAJORS[1]
    report, run_dir = verify(archives[made_by], tmp_path, drill_infra, None)
    assert report.matrix is not None
    assert report.matrix.versions == [f"pg{m}" for m in MAJORS if m >= made_by]
    verdict = (run_dir / VERDICT_FILE).read_text()
    for older in (m for m in MAJORS if m < made_by):
        assert f"PostgreSQL {older} not tried: older than the archive" in verdict


@pytest.mark.skipif(len(MAJORS) < 2, reason="needs two PostgreSQL majors")
def test_newer_archive_on_older_tools_is_a_clear_failure(archives, drill_infra, tmp_path):
    old, new = MAJORS[0], MAJORS[-1]
    report, run_dir = verify(archives[new], tmp_path, drill_infra, [old, new])
    assert report.status == "failed"
    bad = checks_of(report, old)["backup_artifact"]
    assert bad.status is Status.FAILED
    assert f"pg_restore {binaries.select(old).version} cannot restore books_pg{new}.dump" in bad.message
    assert f"restore it into PostgreSQL {new} or later" in bad.message
    assert checks_of(report, new)["restore_exit_status"].status is Status.PASSED
    verdict = (run_dir / VERDICT_FILE).read_text()
    assert f"safe to restore into PostgreSQL: {binaries.select(new).version}" in verdict
    assert f"NOT safe: PostgreSQL {binaries.select(old).version} (backup_artifact" in verdict
    # Only older tools requested: nothing can be verified, which is bad input, not a verdict.
    with pytest.raises(BadInput, match=rf"newer than every requested version's pg_restore.*--pg-version {new}"):
        verify(archives[new], tmp_path, drill_infra, [m for m in MAJORS if m < new])


@pytest.mark.skipif(15 not in MAJORS or len(MAJORS) < 2, reason="needs the system PostgreSQL 15 (contrib) and a wheel")
def test_extension_missing_on_a_target_makes_that_upgrade_unsafe(drill_infra, tmp_path):
    """citext ships with the system's 15 (postgresql-contrib) but not with the wheel: the matrix shows
    the archive restores into 15 and not into the others, and says why."""
    sql = ("CREATE EXTENSION citext; CREATE TABLE users (id int PRIMARY KEY, email citext NOT NULL); "
           "INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 10) g;")
    with source(drill_infra, 15, sql) as db:
        path = dump(db, tmp_path / "citext.dump")
    report, run_dir = verify(path, tmp_path, drill_infra, MAJORS)
    assert report.status == "failed"
    assert report.drills[0].status == "passed"
    assert not [k for k, v in report.matrix.cells["pg15"].items() if v in ("failed", "errored")]
    for m in MAJORS[1:]:
        c = checks_of(report, m)
        assert c["restore_exit_status"].status is Status.FAILED and "citext" in c["restore_exit_status"].message
        assert c["restored_objects"].status is Status.FAILED
        assert "EXTENSION - citext" in c["restored_objects"].evidence["missing"]["items"]
        assert "TABLE public users" in c["restored_objects"].evidence["missing"]["items"]
        assert c["row_counts"].status is Status.FAILED and "public.users: table missing" in c["row_counts"].message
    assert "safe to restore into PostgreSQL: 15." in (run_dir / VERDICT_FILE).read_text()


# -- faults in the dump --------------------------------------------------------------------------------

ORPHANS = """
CREATE TABLE parents (id int PRIMARY KEY);
CREATE TABLE kids (id int PRIMARY KEY, parent_id int REFERENCES parents(id) {not_valid});
INSERT INTO parents SELECT g FROM generate_series(1, 10) g;
INSERT INTO kids SELECT g, 1 + g % 10 FROM generate_series(1, 50) g;
"""


def test_foreign_key_orphans_in_the_dump_fail_referential_integrity(drill_infra, tmp_path):
    """Orphans loaded past the FK (replica role skips FK triggers): the restore cannot re-create the
    FK, and the join-based check still finds and names the orphan rows."""
    with source(drill_infra, 16, ORPHANS.format(not_valid="")) as db:
        with db.connect(autocommit=True) as c:
            c.execute("SET session_replication_role = replica")
            c.execute("INSERT INTO kids VALUES (900, 77), (901, 78)")
        path = dump(db, tmp_path / "orphans.dump")
    report, _ = verify(path, tmp_path, drill_infra, [16])
    c = checks_of(report, 16)
    ri = c["referential_integrity"]
    assert ri.status is Status.FAILED and ri.observed == 2, ri.message
    assert "public.kids(parent_id) -> public.parents(id): 2 orphan row(s)" in ri.message
    assert c["restore_exit_status"].status is Status.FAILED  # ADD CONSTRAINT ... FOREIGN KEY failed
    assert "FK CONSTRAINT public kids kids_parent_id_fkey" in c["restored_objects"].evidence["missing"]["items"]
    assert report.status == "failed"


def test_not_valid_foreign_key_orphans_restore_cleanly_but_fail_referential_integrity(drill_infra, tmp_path):
    """A NOT VALID FK restores without an error over orphan rows: only the join finds them."""
    sql = (ORPHANS.format(not_valid="").replace("REFERENCES parents(id) ", "") + "INSERT INTO kids VALUES (900, 77);"
           "ALTER TABLE kids ADD CONSTRAINT kids_parent_fk FOREIGN KEY (parent_id) REFERENCES parents(id) NOT VALID;")
    with source(drill_infra, 16, sql) as db:
        path = dump(db, tmp_path / "notvalid.dump")
    report, _ = verify(path, tmp_path, drill_infra, [16])
    c = checks_of(report, 16)
    assert c["restore_exit_status"].status is Status.PASSED
    assert c["restored_objects"].status is Status.PASSED
    assert c["referential_integrity"].status is Status.FAILED and c["referential_integrity"].observed == 1
    assert c["referential_integrity"].evidence["broken"]["items"][0]["sample_keys"] == [{"parent_id": 77}]


def test_sequence_behind_its_data_fails_sequence_health(drill_infra, tmp_path):
    with source(drill_infra, 16, SCHEMA + "SELECT setval('\"Book Notes_id_seq\"', 5);") as db:
        path = dump(db, tmp_path / "seq.dump")
    report, run_dir = verify(path, tmp_path, drill_infra, [16])
    c = checks_of(report, 16)
    sh = c["sequence_health"]
    assert sh.status is Status.FAILED
    assert 'public.Book Notes.id next value 6 <= data 2000' in sh.message
    assert all(c[n].status is Status.PASSED for n in ("restore_exit_status", "restored_objects", "row_counts"))
    assert report.status == "failed" and report.matrix.cells["pg16"]["sequence_health"] == "failed"
    assert 'public.Book Notes.id next value 6 <= data 2000' in report.matrix.reasons["pg16"]["sequence_health"]
    md = (run_dir / "report.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| pg16 |"))
    assert "✘ failed: 1 column(s) would collide" in row and "public.Book Notes.id next value 6 <= data 2000" in row, row
    assert "NOT safe: PostgreSQL 16" in (run_dir / VERDICT_FILE).read_text()


def test_restore_side_faults_fail_restored_objects_and_row_counts(archives, drill_infra, tmp_path):
    """The archive-vs-restore checks on their own: a clean restore passes, then lost rows and a lost
    index / trigger are each seen."""
    made_by = MAJORS[0]
    path = archives[made_by]
    archive = inspect_archive(path, binaries.discover())
    assert archive.row_counts == ROWS
    target = binaries.select(MAJORS[-1])
    db = drill_infra.database(target.major)
    try:
        run([target.tool("pg_restore"), "--no-owner", "--dbname", db.name, path], env=libpq_env(db), timeout_s=60,
            check=True)
        with db.connect() as conn:
            assert restored_objects(conn, archive).status is Status.PASSED
            assert archive_row_counts(conn, archive).status is Status.PASSED
        with db.connect(autocommit=True) as c:
            c.execute('DELETE FROM "Book Notes" WHERE id > 1990')
            c.execute("DROP INDEX book_notes_body_idx")
            c.execute('DROP TRIGGER book_notes_stamp ON "Book Notes"')
        with db.connect() as conn:
            rc = archive_row_counts(conn, archive)
            ro = restored_objects(conn, archive)
    finally:
        drill_infra.drop(db)
    assert rc.status is Status.FAILED and "public.Book Notes: 1990 rows, archive 2000" in rc.message
    assert ro.status is Status.FAILED
    assert set(ro.evidence["missing"]["items"]) == {"INDEX public book_notes_body_idx",
                                                    "TRIGGER public Book Notes book_notes_stamp"}


# -- manifest ------------------------------------------------------------------------------------------

def test_manifest_checks_pass_then_catch_writes_the_dump_missed(drill_infra, tmp_path):
    from restore_drill.seeds.manifest import take_manifest

    with source(drill_infra, 16) as db:
        with db.connect() as conn:
            take_manifest(conn, system="books").save(tmp_path / "books.manifest.json")
        good = dump(db, tmp_path / "good.dump")
        with db.connect(autocommit=True) as c:  # after the manifest: the next dump no longer matches it
            c.execute("UPDATE authors SET name = name || '!' WHERE id = 3")
            c.execute("DELETE FROM \"Book Notes\" WHERE id = 7")
            c.execute("ALTER TABLE authors ADD COLUMN email text")
        drifted = dump(db, tmp_path / "drifted.dump")
    report, _ = verify(good, tmp_path, drill_infra, [16], manifest=tmp_path / "books.manifest.json")
    c = checks_of(report, 16)
    for name in ("row_counts", "table_checksums", "schema_fidelity"):
        assert c[name].status is Status.PASSED, (name, c[name].message)
    assert report.status == "passed"
    report, _ = verify(drifted, tmp_path, drill_infra, [16], manifest=tmp_path / "books.manifest.json")
    c = checks_of(report, 16)
    assert c["row_counts"].status is Status.FAILED and "public.Book Notes: 1999 rows, manifest 2000" in c["row_counts"].message
    assert c["table_checksums"].status is Status.FAILED and "public.authors" in c["table_checksums"].message
    assert c["schema_fidelity"].status is Status.FAILED and "public.authors.email" in c["schema_fidelity"].message


# -- storage snapshot ---------------------------------------------------------------------------------

DOCS_SQL = """
CREATE TABLE docs (id serial PRIMARY KEY, title text NOT NULL, file_key text UNIQUE);
INSERT INTO docs (title, file_key) SELECT 'doc ' || g, 'files/' || g || '.txt' FROM generate_series(1, 12) g;
INSERT INTO docs (title, file_key) VALUES ('no file', NULL);
"""


def docs_system(tmp_path: Path) -> Path:
    """A system definition of our own (systems are data): docs.file_key holds keys under the prefix."""
    (tmp_path / "docs.sql").write_text(DOCS_SQL)
    p = tmp_path / "docs.toml"
    p.write_text('name = "docs"\n[database]\ntables = ["public.docs"]\n[storage]\nprefix = "docs"\n'
                 '[storage.references]\n"public.docs.file_key" = "document file"\n[data]\nsql = "docs.sql"\n')
    return p


def objects() -> dict[str, bytes]:
    return {f"files/{g}.txt": f"document {g}\n".encode() * g for g in range(1, 13)}


def fingerprint_dir(root: Path) -> list[tuple[str, int, int, str]]:
    from restore_drill.checks.backup import sha256_file

    return sorted((p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns, sha256_file(p))
                  for p in root.rglob("*") if p.is_file())


@pytest.fixture
def docs_dump(drill_infra, tmp_path):
    import hashlib

    from restore_drill.seeds.manifest import ObjectSnapshot, take_manifest

    with source(drill_infra, 16, DOCS_SQL) as db:
        with db.connect() as conn:
            m = take_manifest(conn, system="docs")
        m.objects = {k: ObjectSnapshot(k, len(v), hashlib.sha256(v).hexdigest(), "text/plain", {"origin": "test"})
                     for k, v in objects().items()}
        m.save(tmp_path / "docs.manifest.json")
        path = dump(db, tmp_path / "docs.dump")
    return path


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def test_directory_snapshot_pairs_and_is_never_changed(docs_dump, drill_infra, tmp_path):
    system = docs_system(tmp_path)
    snap = tmp_path / f"docs-{today()}"
    for k, v in objects().items():
        (snap / k).parent.mkdir(parents=True, exist_ok=True)
        (snap / k).write_bytes(v)
    before = fingerprint_dir(snap)
    report, _ = verify(docs_dump, tmp_path, drill_infra, [16], storage_snapshot=str(snap), system=str(system),
                       manifest=tmp_path / "docs.manifest.json")
    c = checks_of(report, 16)
    assert c["artifact_paths_exist"].status is Status.PASSED, c["artifact_paths_exist"].message
    assert c["artifact_paths_exist"].evidence["referenced_keys"] == 12
    assert c["object_integrity"].status is Status.PASSED and "sha256 and size" in c["object_integrity"].message
    assert c["snapshot_pairing"].status is Status.PASSED, c["snapshot_pairing"].message
    assert report.status == "passed"
    assert fingerprint_dir(snap) == before

    # A snapshot from the day before that lost a file and changed another: each check names its fault.
    old = tmp_path / "docs-2020-01-01"
    shutil.copytree(snap, old)
    (old / "files/5.txt").unlink()
    (old / "files/6.txt").write_bytes(b"overwritten\n")
    before = fingerprint_dir(old)
    report, _ = verify(docs_dump, tmp_path, drill_infra, [16], storage_snapshot=str(old), system=str(system),
                       manifest=tmp_path / "docs.manifest.json")
    c = checks_of(report, 16)
    assert c["artifact_paths_exist"].status is Status.FAILED and "files/5.txt" in c["artifact_paths_exist"].message
    assert c["object_integrity"].status is Status.FAILED
    assert "missing files/5.txt" in c["object_integrity"].message and "changed files/6.txt" in c["object_integrity"].message
    sp = c["snapshot_pairing"]
    assert sp.status is Status.FAILED and "database backup is" in sp.message and "days newer" in sp.message
    assert sp.evidence["dangling"]["count"] == 1
    assert fingerprint_dir(old) == before


def test_s3_snapshot_through_the_cli_is_read_only(docs_dump, s3_bucket, tmp_path):
    system = docs_system(tmp_path)
    client = s3_bucket.endpoint.client()
    prefix = f"docs-{today()}"
    for k, v in objects().items():
        client.put_object(Bucket=s3_bucket.name, Key=f"{prefix}/{k}", Body=v, ContentType="text/plain",
                          Metadata={"origin": "test"})
    client.put_object(Bucket=s3_bucket.name, Key="docs-live/other.txt", Body=b"not in the snapshot")

    def listing() -> list[tuple[str, int, str, str]]:
        out = []
        for o in client.list_objects_v2(Bucket=s3_bucket.name)["Contents"]:
            body = client.get_object(Bucket=s3_bucket.name, Key=o["Key"])["Body"].read()
            out.append((o["Key"], o["Size"], str(o["LastModified"]), __import__("hashlib").sha256(body).hexdigest()))
        return out

    before = listing()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "RESTORE_DRILL_S3_ACCESS_KEY": s3_bucket.endpoint.access_key,
           "RESTORE_DRILL_S3_SECRET_KEY": s3_bucket.endpoint.secret_key}
    cli = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "restore-drill"
    res = run([cli, "verify-backup", docs_dump, "--pg-version", "16", "--system", system,
               "--storage-snapshot", f"s3://{s3_bucket.name}/{prefix}", "--s3-endpoint", s3_bucket.endpoint.url,
               "--manifest", tmp_path / "docs.manifest.json", "--report-dir", tmp_path / "cli-runs"],
              env=env, timeout_s=120)
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "safe to restore into PostgreSQL: 16." in res.stdout
    assert listing() == before
    run_dir = next((tmp_path / "cli-runs").glob("2*"))
    text = (run_dir / "report.json").read_text()
    assert s3_bucket.endpoint.secret_key not in text
    data = json.loads(text)
    checks = {c["name"]: c for c in data["drills"][0]["checks"]}
    assert checks["object_integrity"]["status"] == "passed"  # content type and metadata compared too
    assert "content type" in checks["object_integrity"]["message"]
    assert checks["artifact_paths_exist"]["status"] == "passed"
    assert checks["snapshot_pairing"]["status"] == "passed"

    client.delete_object(Bucket=s3_bucket.name, Key=f"{prefix}/files/3.txt")
    res = run([cli, "verify-backup", docs_dump, "--pg-version", "16", "--system", system,
               "--storage-snapshot", f"s3://{s3_bucket.name}/{prefix}", "--s3-endpoint", s3_bucket.endpoint.url,
               "--report-dir", tmp_path / "cli-runs"], env=env, timeout_s=120)
    assert res.exit_code == 1, res.stdout + res.stderr
    assert "artifact_paths_exist" in res.stdout and "files/3.txt" in res.stdout


# -- progress ------------------------------------------------------------------------------------------

def test_progress_events_follow_the_work(archives, drill_infra, tmp_path):
    """What the progress display is fed: the archive read, then per version its phases as they start
    and end and every check the report holds, in that order."""
    from restore_drill.events import EventBus

    seen: list = []
    targets = MAJORS[-2:]
    report, _ = verify(archives[MAJORS[0]], tmp_path, drill_infra, targets, events=EventBus(seen.append))
    assert [(e.kind, e.name, e.status) for e in seen[:2]] == [("phase_start", "read", ""), ("phase_end", "read", "passed")]
    for d in report.drills:
        mine = [(e.kind, e.name) for e in seen if e.drill == d.id]
        assert mine == [("drill_start", ""),
                        ("phase_start", "infra"), ("phase_end", "infra"),
                        ("phase_start", "restore"), ("phase_end", "restore"),
                        ("phase_start", "checks"), ("phase_end", "checks"),
                        *[("check", c.name) for c in d.checks], ("drill_end", "")]
        ends = [e for e in seen if e.drill == d.id and e.kind == "drill_end"]
        assert ends[0].status == d.status == "passed"


def test_progress_stops_on_a_bad_file(tmp_path):
    from restore_drill.events import EventBus

    bad = tmp_path / "garbage.dump"
    bad.write_bytes(b"PGDMP" + b"\x00" * 64)
    seen: list = []
    with pytest.raises(BadInput):
        verify_backup(bad, versions=None, storage_snapshot=None, manifest=None, system=None,
                      report_dir=tmp_path / "runs", argv=["test"], events=EventBus(seen.append))
    assert [(e.kind, e.name, e.status) for e in seen] == [("phase_start", "read", ""), ("phase_end", "read", "errored")]
