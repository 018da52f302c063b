"""The check registry (checks/registry.py) is the one list of checks: CHECK_NAMES, the README's list and the
report schema agree with it; and no check passes on nothing (issue 13: "a check that examined zero items
while the manifest expected some fails")."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from restore_drill.checkplan import run_checks
from restore_drill.checks import CHECK_NAMES
from restore_drill.checks.context import CheckContext
from restore_drill.checks.registry import REGISTRY, REUSE_PROVES, fidelity_names, names, reused_result, source_findings
from restore_drill.checks.result import CheckResult, Status
from restore_drill.fixtures import binaries
from restore_drill.records import BackupRecord, StepRecord
from restore_drill.seeds.manifest import take_manifest
from restore_drill.systems import Invariant, SystemDef

ROOT = Path(__file__).resolve().parents[1]


def test_every_registered_check_is_a_stable_name_and_every_stable_name_is_registered() -> None:
    got = names()
    assert len(got) == len(set(got)), "a check is registered twice"
    assert set(got) == set(CHECK_NAMES)
    assert all(s.summary and s.name == s.name.strip() for s in REGISTRY)


def test_readme_check_list_is_the_registry() -> None:
    text = (ROOT / "README.md").read_text()
    block = text[text.index("Checks (stable names):"):]
    block = block[: block.index("\n\n")]
    listed = re.findall(r"`([a-z][a-z0-9_]*)`", block.split("Each is declared")[0])
    assert set(listed) == set(names()), set(listed) ^ set(names())


def test_schema_accepts_every_registered_name() -> None:
    schema = json.loads((ROOT / "reports" / "schema" / "report.schema.json").read_text())
    pattern = schema["$defs"]["check_name"]["pattern"]
    assert all(re.fullmatch(pattern, n) for n in names())


def test_the_data_fidelity_checks_are_the_ones_that_prove_content() -> None:
    """write_smoke too: a restore that cannot take the next insert has not recovered the service (finding 11)."""
    assert {"row_counts", "table_checksums", "schema_fidelity", "object_integrity",
            "artifact_paths_exist", "write_smoke"} == fidelity_names()


def test_a_failed_write_smoke_makes_rto_not_achieved() -> None:
    """shared/cases/03-sequence-data-only-table: every content check passed, the insert failed: RTO is "not
    achieved", not "met"; with write_smoke passing the same restore meets it (the check can fail and pass)."""
    from types import SimpleNamespace

    from restore_drill.checks.registry import _rto

    content = [CheckResult.passed(n, "equal") for n in ("row_counts", "table_checksums", "schema_fidelity")]
    smoke_bad = CheckResult.failed("write_smoke", "INSERT INTO tickets: duplicate key value violates unique "
                                   "constraint tickets_pkey (a sequence behind its data)")
    ctx = SimpleNamespace(restore_steps=[StepRecord("restore", "restore", "pg_restore", "passed", 0, 0.2)],
                          restore_s=0.2, rto_s=60, results=[*content, smoke_bad])
    r = _rto(ctx)  # type: ignore[arg-type]
    assert r.status is Status.FAILED and "not achieved" in r.message and "write_smoke failed" in r.message
    ctx.results = [*content, CheckResult.passed("write_smoke", "insert accepted, rolled back")]
    assert _rto(ctx).status is Status.PASSED  # type: ignore[arg-type]


SOURCE = """
CREATE TABLE lectures (id serial PRIMARY KEY, title text NOT NULL, audio_key text);
CREATE TABLE jobs (id serial PRIMARY KEY, lecture_id int NOT NULL REFERENCES lectures(id), state text NOT NULL);
INSERT INTO lectures (title, audio_key) SELECT 'l' || g, 'audio/' || g || '.wav' FROM generate_series(1, 5) g;
INSERT INTO jobs (lecture_id, state) SELECT 1 + g % 5, 'done' FROM generate_series(1, 8) g;
"""


def _system(prefix: str) -> SystemDef:
    return SystemDef(
        name="emptytest", path=ROOT / "emptytest.toml", tables=("public.lectures", "public.jobs"),
        storage_prefix=prefix, references={"public.lectures.audio_key": "audio"}, rto_s=60, rpo_s=60,
        invariants=(Invariant("jobs_done", "SELECT id FROM jobs WHERE state <> 'done'", "job not done"),),
    )


def _context(system: SystemDef, restored, manifest, s3_bucket, prefix: str, backup=None,
             steps=None) -> CheckContext:
    bins = binaries.client_for(restored.major)

    def smoke_flow():
        with restored.connect(autocommit=True) as c:
            c.execute("INSERT INTO lectures (title) VALUES ('smoke') RETURNING id")
        return {}

    return CheckContext(
        system=system, db=restored, client_bins=bins, manifest=manifest, backup=backup,
        restore_steps=steps or [], restore_s=None if steps is None else 0.01,
        s3_client=s3_bucket.endpoint.client(), bucket=s3_bucket.name, prefix=prefix,
        newest_write_before="2026-01-01T00:00:10Z", newest_write_restored=None,
        ledger_note="the write ledger is not in the restore", smoke=(smoke_flow, lambda info: None),
        rto_s=60, rpo_s=60,
    )


@pytest.fixture
def source(pg_database, s3_bucket):
    """A non-empty source: 5 lectures, 8 jobs, 5 objects, and its manifest."""
    client = s3_bucket.endpoint.client()
    with pg_database.connect(autocommit=True) as c:
        c.execute(SOURCE)
        for i in range(1, 6):
            client.put_object(Bucket=s3_bucket.name, Key=f"src/audio/{i}.wav", Body=b"x" * i)
        m = take_manifest(c, system="emptytest", s3_client=client, bucket=s3_bucket.name, prefix="src")
    assert m.tables and m.objects
    return m


def test_every_check_over_an_empty_restore_of_a_non_empty_manifest_passes_none(source, drill_infra, s3_bucket):
    """An empty database and an empty prefix (what the ArqonBus runbook as written and a 0-byte dump from
    shared/cases/byo-sudo-wrapper leave behind): no registered check may pass."""
    restored = drill_infra.database(None)
    try:
        empty = BackupRecord(path="/nonexistent/empty.dump", size_bytes=0, sha256="0" * 64,
                             started_at="2026-01-01T00:00:00Z", finished_at="2026-01-01T00:00:01Z")
        ctx = _context(_system("restored"), restored, source, s3_bucket, "restored", backup=empty,
                       steps=[StepRecord("restore", "restore", "pg_restore -d x empty.dump", "passed", 0, 0.01)])
        results = run_checks(ctx)
    finally:
        drill_infra.drop(restored)
    ran = {r.name: r for r in results}
    assert {"row_counts", "table_checksums", "schema_fidelity", "sequence_health", "referential_integrity",
            "domain_invariants", "artifact_paths_exist", "object_integrity", "rto",
            "rpo", "write_smoke", "backup_artifact", "restore_exit_status"} <= set(ran)
    passed = {n: r.message for n, r in ran.items() if r.status is Status.PASSED}
    assert passed == {}
    assert ran["rto"].status is Status.FAILED and "not achieved" in ran["rto"].message
    assert ran["rpo"].status is Status.ERRORED and "not measured" in ran["rpo"].message


def test_tables_restored_without_rows_are_not_a_pass_for_checks_that_judge_rows(source, drill_infra, s3_bucket):
    """The schema came back but no row did (pg_restore --table matching nothing, as the ArqonBus runbook as
    written does): sequence_health, referential_integrity and the invariants examined zero rows."""
    restored = drill_infra.database(None)
    try:
        with restored.connect(autocommit=True) as c:
            c.execute(SOURCE.split("INSERT")[0])
        ctx = _context(_system("restored"), restored, source, s3_bucket, "restored",
                       steps=[StepRecord("restore", "restore", "pg_restore -d x d.dump", "passed", 0, 0.01)])
        results = {r.name: r for r in run_checks(ctx)}
    finally:
        drill_infra.drop(restored)
    for name in ("sequence_health", "referential_integrity", "domain_invariants"):
        assert results[name].status is Status.FAILED, (name, results[name].message)
        assert "examined 0 rows" in results[name].message
    assert results["row_counts"].status is Status.FAILED
    assert results["rto"].status is Status.FAILED


def test_a_sound_restore_passes_the_row_judging_checks(source, pg_database, s3_bucket):
    """The clean run of the same guard: the source itself, judged as its own restore, passes."""
    client = s3_bucket.endpoint.client()
    for i in range(1, 6):
        client.copy_object(Bucket=s3_bucket.name, Key=f"restored/audio/{i}.wav",
                           CopySource={"Bucket": s3_bucket.name, "Key": f"src/audio/{i}.wav"})
    made = BackupRecord(path="/nonexistent/d.dump", size_bytes=1, sha256="0" * 64,
                        started_at="2026-01-01T00:00:00Z", finished_at="2026-01-01T00:00:01Z")
    ctx = _context(_system("restored"), pg_database, source, s3_bucket, "restored", backup=made,
                   steps=[StepRecord("restore", "restore", "pg_restore -d x d.dump", "passed", 0, 0.01)])
    ctx.newest_write_restored = "2026-01-01T00:00:09Z"
    results = {r.name: r for r in run_checks(ctx)}
    for name in ("row_counts", "table_checksums", "sequence_health", "referential_integrity",
                 "domain_invariants", "artifact_paths_exist", "object_integrity", "rto", "rpo"):
        assert results[name].status is Status.PASSED, (name, results[name].message)
    assert results["rpo"].observed == 1.0


def test_verify_backup_matrix_columns_are_registered_checks() -> None:
    """verify-backup runs its checks through checks.registry.run_plan, which refuses an unregistered name;
    its matrix column order names only registered checks too."""
    from restore_drill.checks.registry import run_plan
    from restore_drill.verify import CHECK_ORDER

    assert set(CHECK_ORDER) <= set(names())
    with pytest.raises(KeyError, match="not registered"):
        run_plan([("no_such_check", lambda: None)])  # type: ignore[list-item]
    boom = run_plan([("row_counts", lambda: 1 / 0)])  # type: ignore[list-item]
    assert boom[0].status is Status.ERRORED and "ZeroDivisionError" in boom[0].message


def _projector_system(prefix: str) -> SystemDef:
    return replace(_system(prefix), invariants=(
        Invariant("jobs_done", "SELECT id FROM jobs WHERE state <> 'done'", "job not done",
                  check="projector_consistency"),))


def _source_results(source_db, manifest, s3_bucket) -> None:
    """What the engine does right before the backup: the invariants run on the source (source_findings)."""
    ctx = _context(_projector_system("src"), source_db, manifest, s3_bucket, "src")
    assert source_findings(ctx) == {}
    rec = manifest.source_results["projector_consistency"]
    assert rec["result"]["status"] == "passed" and rec["tables"] == {"public.jobs": manifest.tables["public.jobs"].digest}


def test_an_invariant_over_tables_whose_digests_equal_the_sources_is_reused_not_evaluated(source, pg_database,
                                                                                        s3_bucket):
    """Clean restore (the source judged as its own restore): projector_consistency gives the source's result,
    and its evidence says what the reuse proves and over which table digests."""
    _source_results(pg_database, source, s3_bucket)
    ctx = _context(_projector_system("src"), pg_database, source, s3_bucket, "src")
    ran = {r.name: r for r in run_checks(ctx)}
    r = ran["projector_consistency"]
    assert ran["table_checksums"].status is Status.PASSED and ran["schema_fidelity"].status is Status.PASSED
    assert r.status is Status.PASSED, r.message
    assert r.message.startswith(REUSE_PROVES) and "not evaluated again" in r.message
    reuse = r.evidence["reused_from_source"]
    assert reuse["tables"] == {"public.jobs": source.tables["public.jobs"].digest}
    assert "byte-identical to the source's by digest" in reuse["proves"]


def test_an_invariant_over_a_table_restored_with_one_row_changed_is_evaluated_and_fails(source, pg_database,
                                                                                      drill_infra, s3_bucket):
    """Fault: the restore changed one row of the table the invariant reads (jobs): its digest differs from the
    source's, so the invariant is evaluated on the restore (no reuse) and fails on that row."""
    _source_results(pg_database, source, s3_bucket)
    restored = drill_infra.database(None)
    try:
        with restored.connect(autocommit=True) as c:
            c.execute(SOURCE)
            c.execute("UPDATE jobs SET state = 'lost' WHERE id = 3")
        ran = {r.name: r for r in run_checks(_context(_projector_system("src"), restored, source, s3_bucket, "src"))}
    finally:
        drill_infra.drop(restored)
    r = ran["projector_consistency"]
    assert ran["table_checksums"].status is Status.FAILED
    assert r.status is Status.FAILED and "jobs_done: 1 row(s)" in r.message, r.message
    assert "reused_from_source" not in r.evidence and not r.message.startswith(REUSE_PROVES)
    assert r.evidence["violated"]["items"][0]["sample"] == [{"id": 3}]


def test_an_invariant_is_evaluated_when_the_schema_differs_though_digests_are_equal(source, pg_database, s3_bucket):
    """Equal digests prove nothing about the schema the SQL reads through (a dropped constraint leaves every
    digest equal): with schema_fidelity failed, or a table's digest unknown, there is no reuse."""
    _source_results(pg_database, source, s3_bucket)
    ctx = _context(_projector_system("src"), pg_database, source, s3_bucket, "src")
    ctx.results = [CheckResult.passed("table_checksums", "equal",
                                      observed={t: s.digest for t, s in source.tables.items()}),
                   CheckResult.failed("schema_fidelity", "constraint jobs_lecture_id_fkey missing")]
    assert reused_result("projector_consistency", ctx) is None
    ctx.results[1] = CheckResult.passed("schema_fidelity", "equal")
    assert reused_result("projector_consistency", ctx) is not None
    ctx.results[0] = CheckResult.passed("table_checksums", "equal",
                                        observed={**{t: s.digest for t, s in source.tables.items()}, "public.jobs": None})
    assert reused_result("projector_consistency", ctx) is None
