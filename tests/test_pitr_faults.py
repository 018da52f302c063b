"""Point-in-time recovery faults, each a real physical drill (slow): the fault is injected into the real
archive, procedure or recovery settings, and the right check fails naming its cause. Also every
recovery target kind (xid, lsn, name, immediate) and both drills on PostgreSQL 18."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from restore_drill.checks.result import Status
from restore_drill.fixtures import binaries
from restore_drill.pitr import wal
from restore_drill.pitr.drill import PitrOptions, PitrRun, procedure_files
from restore_drill.pitr.recovery import RecoveryTarget
from tests.pitr_support import check, run_pitr, window_from_ledger

pytestmark = pytest.mark.slow


def _target_segment(run: PitrRun) -> str:
    """The archived segment holding the disaster's WAL position (the one recovery needs last)."""
    return wal.segment_name(wal.parse_lsn(run.disaster["lsn_before"]))


def _key(run: PitrRun, name: str) -> str:
    return f"{run.wal_prefix.strip('/')}/{name}"


def test_deleted_wal_segment_fails_wal_continuity_and_recovery(drill_infra, tmp_path):
    deleted: list[str] = []

    def delete(run: PitrRun) -> None:
        seg = _target_segment(run)
        run.s3_client.delete_object(Bucket=run.wal_bucket, Key=_key(run, seg))
        deleted.append(seg)

    rep, _ = run_pitr(drill_infra, tmp_path, opts=PitrOptions(before_start=delete))
    wc = check(rep, "wal_continuity")
    assert wc.status is Status.FAILED and f"WAL segment {deleted[0]} is missing from the archive" in wc.message
    assert check(rep, "recovery_target").status is Status.FAILED
    assert rep.status == "failed"


def test_corrupted_wal_segment_fails_wal_continuity_naming_it(drill_infra, tmp_path):
    damaged: list[str] = []

    def corrupt(run: PitrRun) -> None:
        seg = _target_segment(run)
        body = bytearray(run.s3_client.get_object(Bucket=run.wal_bucket, Key=_key(run, seg))["Body"].read())
        off = wal.parse_lsn(run.disaster["lsn_before"]) % wal.DEFAULT_SEGMENT_BYTES
        at = max(8192, (off // 2) // 8192 * 8192) + 200  # inside a page of records before the target
        body[at:at + 256] = b"\xab" * 256
        run.s3_client.put_object(Bucket=run.wal_bucket, Key=_key(run, seg), Body=bytes(body))
        damaged.append(seg)

    rep, _ = run_pitr(drill_infra, tmp_path, opts=PitrOptions(before_start=corrupt))
    wc = check(rep, "wal_continuity")
    assert wc.status is Status.FAILED and f"WAL segment {damaged[0]} in the archive is unreadable" in wc.message
    rt = check(rep, "recovery_target")
    assert rt.status is Status.FAILED
    assert rep.status == "failed"


def test_archive_command_that_uploads_nothing_fails_wal_continuity(drill_infra, tmp_path):
    """An archive_command that exits 0 without uploading (aws s3 cp --dryrun): PostgreSQL marks every segment
    archived and recycles it; only the archive's contents show the loss."""
    rb, bd = procedure_files("arqonbus")
    text = rb.read_text()
    assert "aws s3 cp --only-show-errors %p" in text
    bad = tmp_path / "arqonbus-pitr-dryrun.md"
    bad.write_text(text.replace("aws s3 cp --only-show-errors %p", "aws s3 cp --dryrun --only-show-errors %p"))
    (tmp_path / "run").mkdir()
    rep, _ = run_pitr(drill_infra, tmp_path / "run", runbook=bad, binding=bd)
    wc = check(rep, "wal_continuity")
    assert wc.status is Status.FAILED and "is missing from the archive" in wc.message
    assert check(rep, "recovery_target").status is Status.FAILED
    assert rep.status == "failed"


def test_target_after_the_last_archived_wal_is_a_named_failure(drill_infra, tmp_path):
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    rep, _ = run_pitr(drill_infra, tmp_path, opts=PitrOptions(target=lambda run: RecoveryTarget("time", later)))
    rt = check(rep, "recovery_target")
    assert rt.status is Status.FAILED and rt.message.startswith("target beyond the archive")
    rw = check(rep, "recoverable_window")
    assert rw.status is Status.FAILED and "after the latest restorable time" in rw.message


def test_target_before_the_base_backup_ended_is_a_named_failure(drill_infra, tmp_path):
    """The first ledger commit happened before pg_basebackup started: stopping there is before the backup is
    consistent, which PostgreSQL refuses."""
    def first_ledger_commit(run: PitrRun) -> RecoveryTarget:
        return RecoveryTarget("time", run.ledger[0].committed_at.isoformat())

    rep, _ = run_pitr(drill_infra, tmp_path, opts=PitrOptions(target=first_ledger_commit))
    rt = check(rep, "recovery_target")
    assert rt.status is Status.FAILED and rt.message.startswith("target before the base backup ended")
    rw = check(rep, "recoverable_window")
    assert rw.status is Status.FAILED and "before the earliest restorable time" in rw.message


def test_recovery_left_paused_fails_recovery_target(drill_infra, tmp_path):
    rep, run = run_pitr(drill_infra, tmp_path, opts=PitrOptions(action="pause"))
    rt = check(rep, "recovery_target")
    assert rt.status is Status.FAILED and "recovery left paused" in rt.message
    assert run.outcome is not None and run.outcome.state == "paused"
    # a paused server is readable (hot standby): the data it holds is still exactly the target's
    assert check(rep, "pitr_exactness").status is Status.PASSED


@pytest.mark.parametrize("kind", ["xid", "lsn", "name", "immediate"])
def test_every_recovery_target_kind_restores(drill_infra, tmp_path, kind):
    """Each kind as `restore-drill run arqonbus-pitr --recovery-target KIND` gives it (DrillConfig)."""
    rep, run = run_pitr(drill_infra, tmp_path, recovery_target=kind)
    assert run.target is not None and run.target.kind == kind
    rt = check(rep, "recovery_target")
    assert rt.status is Status.PASSED, rt.message
    ex = check(rep, "pitr_exactness")
    if kind == "immediate":
        assert ex.status is Status.SKIPPED
        assert "consistency" in rt.message
    else:
        assert ex.status is Status.PASSED, ex.message
        assert check(rep, "row_counts").status is Status.PASSED  # the errant DELETE is undone
        assert check(rep, "data_loss_window").evidence["rows_lost"] == 0  # the ledger was held at the boundary


@pytest.mark.parametrize("name", ["arqonbus-pitr", "pegasus-pitr"])
def test_pitr_drills_pass_on_postgresql_18(drill_infra, tmp_path, name):
    if not any(b.major == 18 for b in binaries.servers()):
        pytest.skip("no PostgreSQL 18 binaries on this machine")
    rep, run = run_pitr(drill_infra, tmp_path, name, major=18)
    assert rep.error is None, rep.error
    bad = [(c.name, c.message) for c in rep.checks if c.status in (Status.FAILED, Status.ERRORED)]
    assert not bad, bad
    skipped = {c.name for c in rep.checks if c.status is Status.SKIPPED}
    # 18 is the newest major here (upgrade_check); the wheel's servers have no amcheck (physical_integrity);
    # no --backup-history was given (retention)
    assert skipped <= {"backup_manifest", "upgrade_check", "physical_integrity", "retention"}, skipped
    if "physical_integrity" in skipped:
        assert "amcheck" in check(rep, "physical_integrity").message
    bm = check(rep, "backup_manifest")
    # the wheel's PG 18 pg_verifybackup crashes (SIGSEGV); the PG 16 one cannot read a PG 18 manifest
    assert bm.status in (Status.PASSED, Status.SKIPPED)
    if bm.status is Status.SKIPPED:
        assert "pg_verifybackup" in bm.message
    assert rep.metrics["data_loss_window_ms"] == window_from_ledger(run)


def test_pegasus_pitr_passes_on_the_default_postgresql(drill_infra, tmp_path):
    rep, run = run_pitr(drill_infra, tmp_path, "pegasus-pitr")
    assert rep.status == "passed", [(c.name, c.message) for c in rep.checks if c.status is not Status.PASSED]
    assert check(rep, "backup_manifest").status is Status.PASSED
    for name in ("schema_fidelity", "sequence_health", "referential_integrity", "artifact_paths_exist",
                 "object_integrity", "domain_invariants"):
        assert check(rep, name).status is Status.PASSED, (name, check(rep, name).message)
    st = check(rep, "storage_at_target")  # the versioned bucket restored to the database's instant
    assert st.status is Status.PASSED and len(run.storage_changed) == 4 and "are back" in st.message
    assert rep.metrics["data_loss_window_ms"] == window_from_ledger(run)


def test_storage_left_at_the_disaster_fails_storage_at_target(drill_infra, tmp_path):
    """The procedure restores the database to the target but leaves the bucket as the disaster left it."""
    rb, bd = procedure_files("pegasus")
    text = rb.read_text()
    start = text.index("## Restore Object Storage to the Target Time")
    end = text.index("## Start the Restored Server")
    body = "## Restore Object Storage to the Target Time\n\n```bash\necho storage left as it is\n```\n\n"
    (tmp_path / "p.md").write_text(text[:start] + body + text[end:])
    (tmp_path / "run").mkdir()
    rep, run = run_pitr(drill_infra, tmp_path / "run", "pegasus-pitr", runbook=tmp_path / "p.md", binding=bd,
                        opts=PitrOptions(upgrade_check=False))
    st = check(rep, "storage_at_target")
    assert st.status is Status.FAILED and "storage is not as it was at" in st.message
    assert check(rep, "recovery_target").status is Status.PASSED  # the database part was right
    # the registry's storage checks over the physical restore see it too (they pass in the clean pegasus drill)
    oi = check(rep, "object_integrity")
    assert oi.status is Status.FAILED, oi.message
    ap = check(rep, "artifact_paths_exist")
    assert ap.status is Status.FAILED and "missing" in ap.message, ap.message


def test_bad_statement_kinds_are_undone(drill_infra, tmp_path):
    for kind in ("update", "drop"):
        sub = tmp_path / kind
        sub.mkdir()
        rep, run = run_pitr(drill_infra, sub, opts=PitrOptions(statement=kind))
        assert run.disaster["kind"] == kind
        assert rep.status == "passed", [(c.name, c.message) for c in rep.checks if c.status is not Status.PASSED]
        assert Path(rep.backups[0].path).exists()


def test_incremental_chain_lacking_a_link_fails_backup_chain(tmp_path):
    """PG 18 incremental backups (summarize_wal = on, pg_basebackup --incremental): full <- incr1 <- incr2.
    The whole chain combines; full + incr2 (incr1 lost) fails backup_chain naming the LSN gap. Taken with
    pg_basebackup against a disposable server directly, not through a runbook procedure."""
    import subprocess

    import psycopg

    from restore_drill.checks.backup_chain import backup_chain
    from restore_drill.pitr.server import PitrHost

    new = [b for b in binaries.servers() if b.has("pg_combinebackup")]
    if not new:
        pytest.skip("no PostgreSQL 17+ with pg_combinebackup on this machine")
    bins = new[-1]
    with PitrHost(bins, None) as host:
        url = host.start_primary({"summarize_wal": "on", "archive_mode": "off"}).database().url

        def backup(name: str, base: str | None = None) -> Path:
            args = [str(bins.tool("pg_basebackup")), "-d", url, "-D", str(tmp_path / name), "--checkpoint=fast"]
            if base:
                args += ["--incremental", str(tmp_path / base / "backup_manifest")]
            subprocess.run(args, check=True, capture_output=True, timeout=300)
            return tmp_path / name

        with psycopg.connect(url, autocommit=True) as c:
            c.execute("CREATE TABLE t (i int); INSERT INTO t SELECT generate_series(1, 1000)")
        full = backup("full")
        for name, base in (("incr1", "full"), ("incr2", "incr1")):
            with psycopg.connect(url, autocommit=True) as c:
                c.execute("INSERT INTO t SELECT generate_series(1, 1000)")
            backup(name, base)
    assert backup_chain(bins, [full, tmp_path / "incr1", tmp_path / "incr2"]).status is Status.PASSED
    r = backup_chain(bins, [full, tmp_path / "incr2"])
    assert r.status is Status.FAILED and "starts at LSN" in r.message and "but expected" in r.message


def test_recovery_target_flag_through_the_cli(tmp_path):
    """`restore-drill run arqonbus-pitr --recovery-target name` end to end in a child process: the restore
    stops at the restore point created right before the errant statement, and report.json says so."""
    import json
    import subprocess
    import sys

    cli = Path(sys.executable).parent / "restore-drill"
    done = subprocess.run([str(cli), "run", "arqonbus-pitr", "--recovery-target", "name",
                           "--quiet", "--report-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    (report,) = tmp_path.glob("*/report.json")
    data = json.loads(report.read_text())
    assert done.returncode == 0 and data["status"] == "passed", (done.returncode, done.stderr[-2000:])
    (drill,) = data["drills"]
    assert drill["metrics"]["pitr"]["target"]["kind"] == "name"
    rt = next(c for c in drill["checks"] if c["name"] == "recovery_target")
    assert rt["status"] == "passed" and "restore point" in rt["message"], rt["message"]


EVENTS = "public.arqonbus_continuum_projection_events"
DLQ = "public.arqonbus_continuum_projection_dlq"


def _damage_restored(run: PitrRun) -> None:
    """What a careless hand does to a freshly restored database, one fault per check the physical drill now
    runs from the registry: an index dropped, the events' identity sequence set back, a dead-letter row whose
    event does not exist (foreign key triggers off), a column dropped."""
    import psycopg

    srv = run.host.restored
    assert srv is not None
    with psycopg.connect(srv.database(run.dbname).url, autocommit=True) as c:
        c.execute("DROP INDEX public.arqonbus_continuum_projection_events_type_idx")
        c.execute(f"SELECT setval(pg_get_serial_sequence('{EVENTS}', 'event_id'), 1)")
        c.execute("SET session_replication_role = replica")  # no FK trigger: the orphan gets in
        c.execute(f"INSERT INTO {DLQ} (event_id, projection_name, stream_id, sequence, error, payload) "
                  "VALUES (987654321, 'balances', 'no-such-stream', 1, 'boom', '{}')")
        c.execute(f"ALTER TABLE {DLQ} DROP COLUMN attempts")


def test_damaged_physical_restore_fails_the_registry_checks(drill_infra, tmp_path):
    """The physical drill runs the registry's checks over the restored database (they all pass in the default
    suite's clean arqonbus-pitr drill): each fault done to the restored server fails the check that owns it,
    naming it, while the point-in-time checks still pass (the recovery itself was right). retention, given an
    empty backup history, fails too."""
    history = tmp_path / "history"
    history.mkdir()
    (tmp_path / "run").mkdir()
    rep, _ = run_pitr(drill_infra, tmp_path / "run", opts=PitrOptions(after_restore=_damage_restored, upgrade_check=False),
                      backup_history=str(history))
    assert check(rep, "recovery_target").status is Status.PASSED
    sf = check(rep, "schema_fidelity")
    assert sf.status is Status.FAILED and "attempts: not restored" in sf.message, sf.message
    assert "arqonbus_continuum_projection_events_type_idx" in str(sf.evidence), sf.evidence  # the message shows 3
    sh = check(rep, "sequence_health")
    assert sh.status is Status.FAILED and "event_id" in sh.message, sh.message
    ri = check(rep, "referential_integrity")
    assert ri.status is Status.FAILED and "arqonbus_continuum_projection_dlq" in ri.message, ri.message
    pc = check(rep, "projector_consistency")
    assert pc.status is Status.FAILED and "dlq_references_event" in pc.message, pc.message
    ma = check(rep, "migration_applied")
    assert ma.status is Status.FAILED and "attempts" in ma.message, ma.message
    mi = check(rep, "migration_idempotent")
    assert mi.status is Status.FAILED, mi.message  # the second apply re-creates the dropped index
    ws = check(rep, "write_smoke")
    assert ws.status is Status.FAILED, ws.message  # the next event id collides with a restored one
    assert check(rep, "retention").status is Status.FAILED
    rto = check(rep, "rto")
    assert rto.status is Status.FAILED and "not achieved" in rto.message  # fidelity failed: not restored
    assert rep.status == "failed"


def _pg18_or_skip() -> None:
    if not any(b.major >= 17 and b.has("pg_combinebackup") for b in binaries.servers()):
        pytest.skip("no PostgreSQL 17+ with pg_combinebackup on this machine")


def test_incremental_chain_drill_passes_on_postgresql_18(drill_infra, tmp_path):
    """arqonbus-pitr-incremental: a full + two incremental pg_basebackups through the procedure, combined with
    pg_combinebackup by its restore, then archived WAL to just before the errant DELETE. backup_chain passes
    over the three links the restore combined, every other check as in arqonbus-pitr."""
    _pg18_or_skip()
    rep, run = run_pitr(drill_infra, tmp_path, "arqonbus-pitr-incremental", major=18)
    assert rep.error is None, rep.error
    bad = [(c.name, c.message) for c in rep.checks if c.status in (Status.FAILED, Status.ERRORED)]
    assert not bad, bad
    bc = check(rep, "backup_chain")
    assert bc.status is Status.PASSED and "(1-full, 2-incr, 3-incr)" in bc.message, bc.message
    assert [Path(b.path).parent.name for b in rep.backups] == ["1-full", "2-incr", "3-incr"]
    assert [name for name, _ in run.chain_recorded] == ["1-full", "2-incr", "3-incr"]
    combine = next(s for s in rep.steps if s.name.startswith("Combine the Backup Chain"))
    assert combine.status == "passed" and "combining 3 backup(s)" in combine.stdout_tail, combine.stdout_tail
    assert rep.metrics["data_loss_window_ms"] == window_from_ledger(run)
    assert rep.status == "passed"
    assert bc.observed == bc.expected == 3  # the links, not pg_combinebackup's exit status
    # each link dated by its own backup history file: the full one finished before the first incremental began
    assert len(run.histories) == 3
    assert [(b.started_at, b.finished_at) for b in rep.backups] == [
        (h.started_at.isoformat(), h.stopped_at.isoformat()) for h in run.histories]
    assert rep.backups[0].finished_at <= rep.backups[1].started_at <= rep.backups[1].finished_at
    events = [e["event"] for e in rep.metrics["pitr"]["timeline"]]
    for link in ("1-full", "2-incr", "3-incr"):
        assert f"base backup {link} started" in events, events


def test_incremental_chain_lacking_its_middle_link_fails_backup_chain(drill_infra, tmp_path):
    """The middle link (2-incr) is deleted from the bucket after the backup phase: the procedure's restore
    combines 1-full + 3-incr, pg_combinebackup refuses, and backup_chain fails naming the missing link."""
    _pg18_or_skip()

    def lose_middle_link(run: PitrRun) -> None:
        prefix = f"{run.base_prefix.strip('/')}/2-incr/"
        keys = [o["Key"] for o in run.s3_client.list_objects_v2(Bucket=run.wal_bucket, Prefix=prefix)["Contents"]]
        for k in keys:
            run.s3_client.delete_object(Bucket=run.wal_bucket, Key=k)

    rep, _ = run_pitr(drill_infra, tmp_path, "arqonbus-pitr-incremental", major=18,
                      opts=PitrOptions(before_restore=lose_middle_link, upgrade_check=False))
    bc = check(rep, "backup_chain")
    assert bc.status is Status.FAILED, bc.message
    assert bc.message.startswith("link 2-incr of the chain the backup phase wrote (1-full, 2-incr, 3-incr) is missing")
    assert "but expected" in bc.message and bc.evidence["missing_links"] == ["2-incr"]
    combine = next(s for s in rep.steps if s.name.startswith("Combine the Backup Chain"))
    assert combine.status == "failed"
    assert check(rep, "recovery_target").status is Status.FAILED
    assert rep.status == "failed"


def test_a_planned_pitr_job_runs_through_run_plan(tmp_path):
    """`restore-drill plan --system arqonbus --pitr` job arqonbus-pitr, run by `restore-drill run --plan` in a
    child process (the fleet runner's path): the physical drill passes and its run folder says so."""
    import json
    import subprocess
    import sys

    from restore_drill.fleet.plan import Job, Plan

    plan = tmp_path / "plan.json"
    plan.write_text(Plan([Job("drill", "arqonbus", "arqonbus", None, drill="arqonbus-pitr", disaster="bad-statement",
                              procedure="corrected")], {"systems": ["arqonbus"], "pitr": True}).to_json())
    cli = Path(sys.executable).parent / "restore-drill"
    done = subprocess.run([str(cli), "run", "--plan", str(plan), "--quiet", "--report-dir", str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=600)
    (report,) = (tmp_path / "runs").glob("*/report.json")
    data = json.loads(report.read_text())
    assert done.returncode == 0 and data["status"] == "passed", (done.returncode, done.stderr[-2000:])
    assert [d["name"] for d in data["drills"]] == ["arqonbus-pitr"]
    assert any(c["name"] == "pitr_exactness" and c["status"] == "passed" for c in data["drills"][0]["checks"])


def test_physical_integrity_over_a_physical_restore_on_postgresql_15(drill_infra, tmp_path):
    """physical_integrity (pg_amcheck) needs the amcheck extension, which the wheel's 16/18 lack and the system
    PostgreSQL 15 has: there, the clean arqonbus-pitr restore passes it, and an index made to disagree with its
    heap in the restored server (an IMMUTABLE function whose result changes, as tests/test_check_physical.py
    does) fails it naming the index."""
    if not any(b.major == 15 and b.can_serve for b in binaries.discover()):
        pytest.skip("no PostgreSQL 15 server binaries on this machine")

    def out_of_step_index(run: PitrRun) -> None:
        import psycopg

        assert run.host.restored is not None
        with psycopg.connect(run.host.restored.database(run.dbname).url, autocommit=True) as c:
            if c.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck'").fetchone() is None:
                pytest.skip("PostgreSQL 15 here has no amcheck extension (postgresql-contrib)")
            c.execute("CREATE FUNCTION norm(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x';"
                      "CREATE TABLE items (id int PRIMARY KEY, v int); CREATE INDEX items_norm_idx ON items (norm(v));"
                      "INSERT INTO items SELECT g, g FROM generate_series(1, 2000) g;"
                      "CREATE OR REPLACE FUNCTION norm(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT -x'")

    (tmp_path / "clean").mkdir()
    clean, _ = run_pitr(drill_infra, tmp_path / "clean", major=15, opts=PitrOptions(upgrade_check=False))
    pi = check(clean, "physical_integrity")
    if pi.status is Status.SKIPPED:
        pytest.skip(pi.message)
    assert pi.status is Status.PASSED and "found no corruption" in pi.message, pi.message
    assert clean.status == "passed"
    (tmp_path / "bad").mkdir()
    bad, _ = run_pitr(drill_infra, tmp_path / "bad", major=15,
                      opts=PitrOptions(after_restore=out_of_step_index, upgrade_check=False))
    pi = check(bad, "physical_integrity")
    assert pi.status is Status.FAILED and "items_norm_idx" in pi.message, pi.message


# -- evidence faults a fresh user found (issue 17, wave 3) -------------------------------------------------

@pytest.mark.parametrize("kind", ["immediate", "xid", "lsn", "name"])
def test_pegasus_storage_follows_the_database_for_every_target_kind(drill_infra, tmp_path, kind):
    """`restore-drill run pegasus-pitr --recovery-target immediate` failed storage_at_target ("not restored
    to a point in time"): the harness restored storage to the disaster's instant while the database stopped
    at the backup's consistency point. Storage now follows the instant the database reaches, for every kind."""
    rep, run = run_pitr(drill_infra, tmp_path, "pegasus-pitr", recovery_target=kind)
    st = check(rep, "storage_at_target")
    assert st.status is Status.PASSED, st.message
    assert st.evidence["db_target"] is not None and st.evidence["storage_target"] is not None
    assert check(rep, "recovery_target").status is Status.PASSED
    events = [e["event"] for e in rep.metrics["pitr"]["timeline"]]
    if kind == "immediate":
        assert "recovery target (immediate: the backup's consistency point)" in events, events
    ended = next(e for e in events if e.startswith("base backup ended"))
    assert "consistent at" in ended  # the backup history file's STOP WAL LOCATION, not the step's end
    rec_end = next(e["at"] for e in rep.metrics["pitr"]["timeline"] if e["event"].startswith("recovery ended"))
    assert all(b.finished_at < rec_end for b in rep.backups)  # a backup finished when it did, not when recorded


def test_a_target_offset_of_seconds_leaves_room_after_the_backup(drill_infra, tmp_path):
    """--recovery-target-offset 3 used to put the target before the base backup ended (the disaster fired
    ~2 s after it) and 19 checks failed: the drill now keeps the ledger writing offset + margin past the
    backup's end, so the target is after the backup's consistency point and the drill passes."""
    rep, run = run_pitr(drill_infra, tmp_path, recovery_target="time", recovery_target_offset_s=3.0)
    bad = [(c.name, c.message) for c in rep.checks if c.status in (Status.FAILED, Status.ERRORED)]
    assert not bad, bad
    assert run.boundary is not None and run.histories
    assert run.boundary > run.histories[-1].stopped_at
    assert rep.metrics["data_loss_window_ms"] == window_from_ledger(run)
    rpo = check(rep, "rpo")  # one data-loss window: the rpo check says the same number as data_loss_window
    assert f"{rep.metrics['data_loss_window_ms']:.3f} ms" in rpo.message
    assert rpo.observed == check(rep, "data_loss_window").observed == rep.metrics["rpo_s"]


def test_an_unreachable_restore_skips_the_knock_on_checks(drill_infra, tmp_path):
    """A target before the backup ended: recovery_target fails; the checks that read the restored server are
    not run (skipped, naming recovery_target as the root cause) instead of 18 knock-on failures."""
    def first_ledger_commit(run: PitrRun) -> RecoveryTarget:
        return RecoveryTarget("time", run.ledger[0].committed_at.isoformat())

    rep, _ = run_pitr(drill_infra, tmp_path, opts=PitrOptions(target=first_ledger_commit, upgrade_check=False))
    assert rep.status == "failed"
    failed = [c.name for c in rep.checks if c.status in (Status.FAILED, Status.ERRORED)]
    assert "recovery_target" in failed and "row_counts" not in failed and "pitr_exactness" not in failed, failed
    for name in ("pitr_exactness", "data_loss_window", "row_counts", "rto", "rpo"):
        c = check(rep, name)
        assert c.status is Status.SKIPPED and "root cause: recovery_target failed" in c.message, (name, c.message)
    step = next(s for s in rep.steps if s.name.startswith("Start the Restored Server"))
    assert step.status == "failed" and "did not reach the recovery target" in step.reason, step.reason
