"""Point-in-time recovery (issue 17): the PITR checks on hand-built evidence (each fault fails, the clean
case passes), the WAL and log readers, and one real physical drill in the default suite: arqonbus-pitr on
the default PostgreSQL with moto, whose data-loss window must equal the ledger's to the millisecond.
The other faults, target kinds and PostgreSQL 18 run as slow tests (tests/test_pitr_faults.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from restore_drill.checks import base_backup, recovery, upgrade_check, wal_archive
from restore_drill.checks.result import Status
from restore_drill.fixtures import binaries
from restore_drill.pitr import wal
from restore_drill.pitr.ledger import LedgerEntry
from restore_drill.pitr.recovery import RecoveryOutcome, RecoveryTarget, read_log
from restore_drill.pitr.upgrade import UpgradeCheckRun
from tests.pitr_support import check, run_pitr, window_from_ledger

T0 = datetime(2026, 11, 30, 18, 0, 0, tzinfo=UTC)
SEG = wal.DEFAULT_SEGMENT_BYTES


def _ledger(n: int = 10, step_ms: int = 10) -> list[LedgerEntry]:
    return [LedgerEntry(i, 700 + i, T0 + timedelta(milliseconds=step_ms * i)) for i in range(1, n + 1)]


# -- WAL names and the server log ---------------------------------------------------------------------

def test_segment_names_follow_postgresql():
    assert wal.segment_name(wal.parse_lsn("0/3019170")) == "000000010000000000000003"
    assert wal.segment_name(wal.parse_lsn("1/FF000000"), timeline=2) == "0000000200000001000000FF"
    assert wal.segments_between(wal.parse_lsn("0/20000E0"), wal.parse_lsn("0/4000000")) == [
        "000000010000000000000002", "000000010000000000000003", "000000010000000000000004"]
    assert wal.format_lsn(wal.parse_lsn("0/302D868")) == "0/302D868"


LOG = """\
2026-11-30 18:05:11.580 UTC [1] LOG:  consistent recovery state reached at 0/2000120
2026-11-30 18:05:12.197 UTC [1] LOG:  recovery stopping before commit of transaction 775, time 2026-11-30 18:05:05.203354+00
2026-11-30 18:05:12.197 UTC [1] LOG:  redo done at 0/30191D0 system usage: CPU: user: 0.00 s
2026-11-30 18:05:12.197 UTC [1] LOG:  last completed transaction was at log time 2026-11-30 18:05:05.150609+00
2026-11-30 18:05:14.122 UTC [1] LOG:  selected new timeline ID: 2
2026-11-30 18:05:14.947 UTC [1] LOG:  archive recovery complete
"""


def test_read_log_finds_stop_last_commit_and_timeline():
    o = read_log(LOG + "2026-11-30 18:05:14.950 UTC [1] LOG:  database system is ready to accept connections\n",
                 "promoted", 3.0)
    assert o.ended_at == datetime(2026, 11, 30, 18, 5, 14, 950000, tzinfo=UTC)
    assert o.stop_how == "before" and "transaction 775" in o.stop_line
    assert o.stop_time == datetime(2026, 11, 30, 18, 5, 5, 203354, tzinfo=UTC)
    assert o.last_commit_time == datetime(2026, 11, 30, 18, 5, 5, 150609, tzinfo=UTC)
    assert (o.new_timeline, o.consistent_at, o.redo_done_at) == (2, "0/2000120", "0/30191D0")


# -- recovery_target ------------------------------------------------------------------------------------

TARGET = RecoveryTarget("time", "2026-11-30T18:05:05.2+00:00")


def test_recovery_target_passes_when_stopped_promoted_on_new_timeline():
    r = recovery.recovery_target(read_log(LOG, "promoted", 3.0), TARGET, in_recovery=False, timeline=2)
    assert r.status is Status.PASSED and "transaction 775" in r.message and "timeline 2" in r.message


@pytest.mark.parametrize(("fatal", "words"), [
    ("recovery ended before configured recovery target was reached", "target beyond the archive"),
    ("requested recovery stop point is before consistent recovery point", "target before the base backup ended"),
])
def test_recovery_target_names_a_fatal_end(fatal, words):
    o = read_log(f"2026-11-30 18:05:12.197 UTC [1] FATAL:  {fatal}\n", "failed", 2.0)
    r = recovery.recovery_target(o, TARGET, in_recovery=None, timeline=None)
    assert r.status is Status.FAILED and r.message.startswith(words)


def test_recovery_target_fails_when_left_paused():
    o = read_log(LOG.replace("selected new timeline ID: 2", "pausing at the end of recovery"), "paused", 2.0)
    r = recovery.recovery_target(o, TARGET, in_recovery=True, timeline=1)
    assert r.status is Status.FAILED and "recovery left paused" in r.message and "read-only" in r.message


def test_recovery_target_fails_without_new_timeline_or_stop():
    o = read_log(LOG, "promoted", 3.0)
    assert recovery.recovery_target(o, TARGET, in_recovery=False, timeline=1).status is Status.FAILED
    nostop = read_log(LOG.replace("recovery stopping", "recovery going"), "promoted", 3.0)
    r = recovery.recovery_target(nostop, TARGET, in_recovery=False, timeline=2)
    assert r.status is Status.FAILED and "without stopping at the target" in r.message
    assert recovery.recovery_target(None, TARGET, in_recovery=None, timeline=None).status is Status.FAILED


# -- pitr_exactness / data_loss_window ------------------------------------------------------------------

def test_pitr_exactness_pass_missing_and_extra():
    led = _ledger()
    boundary = T0 + timedelta(milliseconds=55)  # seqs 1..5 committed at or before it
    ok = recovery.pitr_exactness(led, {1, 2, 3, 4, 5}, boundary)
    assert ok.status is Status.PASSED and ok.expected == 5
    missing = recovery.pitr_exactness(led, {1, 2, 4, 5}, boundary)
    assert missing.status is Status.FAILED and "seq 3" in missing.message
    extra = recovery.pitr_exactness(led, {1, 2, 3, 4, 5, 6}, boundary)
    assert extra.status is Status.FAILED and "seq 6" in extra.message and "after" in extra.message
    assert recovery.pitr_exactness(led, None, boundary).status is Status.FAILED
    assert recovery.pitr_exactness(led, {1}, T0 - timedelta(seconds=1)).status is Status.FAILED  # judges nothing
    assert recovery.pitr_exactness(led, {1}, None).status is Status.SKIPPED


def test_data_loss_window_measures_from_the_ledger_and_judges_the_rpo():
    led = _ledger()
    disaster = T0 + timedelta(milliseconds=75)
    target = T0 + timedelta(milliseconds=55)
    r = recovery.data_loss_window(led, {1, 2, 3, 4, 5}, target, disaster, rpo_s=1.0)
    assert r.status is Status.PASSED
    assert r.evidence["window_ms"] == 25.0 and r.evidence["target_gap_ms"] == 5.0
    assert r.evidence["rows_lost"] == 2  # seqs 6 and 7 committed before the disaster, not restored
    assert r.evidence["written_after_disaster"] == 3
    over = recovery.data_loss_window(led, {1, 2, 3, 4, 5}, target, disaster, rpo_s=0.01)
    assert over.status is Status.FAILED and "exceeds the RPO" in over.message
    assert recovery.data_loss_window(led, set(), target, disaster, rpo_s=1.0).status is Status.FAILED


# -- wal_continuity / recoverable_window / backup_manifest -----------------------------------------------

def _scan(end: str, commits: list[tuple[str, datetime]], stopped: str = "") -> wal.WalScan:
    return wal.WalScan(wal.parse_lsn("0/2000028"), wal.parse_lsn(end),
                       [(wal.parse_lsn(lsn), t) for lsn, t in commits], stopped, 1)


def test_wal_continuity_names_the_first_gap():
    start, end = wal.parse_lsn("0/2000028"), wal.parse_lsn("0/4000100")
    full = {n: SEG for n in wal.segments_between(start, end)}
    clean = wal_archive.wal_continuity(full, _scan("0/4000200", []), start, end)
    assert clean.status is Status.PASSED
    gap = dict(full)
    del gap["000000010000000000000003"]
    r = wal_archive.wal_continuity(gap, _scan("0/4000200", []), start, end)
    assert r.status is Status.FAILED and "000000010000000000000003 is missing" in r.message
    short = {**full, "000000010000000000000004": 8192}
    assert "partial upload" in wal_archive.wal_continuity(short, None, start, end).message
    bad = _scan("0/3000F00", [], "pg_waldump: error: error in WAL record at 0/3001000: invalid record length")
    r = wal_archive.wal_continuity(full, bad, start, end)
    assert r.status is Status.FAILED and "000000010000000000000003" in r.message and "invalid record" in r.message


def test_recoverable_window_reports_and_judges_the_target():
    commits = [("0/2000100", T0), ("0/2100000", T0 + timedelta(seconds=1)), ("0/3000000", T0 + timedelta(seconds=5))]
    sc = _scan("0/3000100", commits)
    end = wal.parse_lsn("0/2200000")
    ok = wal_archive.recoverable_window(sc, end, target=T0 + timedelta(seconds=3))
    assert ok.status is Status.PASSED and ok.evidence["earliest"] == (T0 + timedelta(seconds=1)).isoformat()
    assert ok.evidence["latest"] == (T0 + timedelta(seconds=5)).isoformat()
    late = wal_archive.recoverable_window(sc, end, target=T0 + timedelta(hours=1))
    assert late.status is Status.FAILED and "after the latest restorable time" in late.message
    early = wal_archive.recoverable_window(sc, end, target=T0)
    assert early.status is Status.FAILED and "before the earliest restorable time" in early.message
    assert wal_archive.recoverable_window(_scan("0/2100000", commits), end).status is Status.FAILED


def test_backup_manifest_without_manifest_fails(tmp_path):
    r = base_backup.backup_manifest(tmp_path, 16, [])
    assert r.status is Status.FAILED and "no backup_manifest" in r.message
    (tmp_path / "backup_manifest").write_text(json.dumps({"PostgreSQL-Backup-Manifest-Version": 1}))
    r = base_backup.backup_manifest(tmp_path, 16, [])
    assert r.status is Status.SKIPPED and "no working pg_verifybackup" in r.message


def test_upgrade_check_reads_pg_upgrade():
    ok = upgrade_check.upgrade_check(UpgradeCheckRun(16, 18, 0, "Checking cluster versions  ok\n*Clusters are compatible*"))
    assert ok.status is Status.PASSED and "16 -> 18" in ok.message
    bad = upgrade_check.upgrade_check(UpgradeCheckRun(16, 18, 1, "Checking cluster versions  ok\n"
                                                                "old cluster does not use data checksums but the new one does\n"
                                                                "Failure, exiting"))
    assert bad.status is Status.FAILED and "exited 1" in bad.message
    assert upgrade_check.upgrade_check(None, reason="no newer major").status is Status.SKIPPED


def test_backup_chain_without_backups_or_tool(tmp_path):
    from restore_drill.checks.backup_chain import backup_chain

    for b in binaries.servers():
        r = backup_chain(b, [])
        if b.has("pg_combinebackup"):
            assert r.status is Status.FAILED and "empty chain" in r.message
        else:
            assert r.status is Status.SKIPPED and "PG 17+" in r.message


def test_storage_at_target_judges_objects_and_the_instant():
    from restore_drill.checks.storage_pitr import storage_at_target
    from restore_drill.seeds.manifest import ObjectSnapshot

    then = {k: ObjectSnapshot(k, 3, f"sha-{k}") for k in ("a", "b", "c")}
    t = T0
    ok = storage_at_target(then, dict(then), storage_target=t, db_target=t, changed=["b"])
    assert ok.status is Status.PASSED and "the 1 the disaster changed are back" in ok.message
    lost = {k: v for k, v in then.items() if k != "b"}
    assert "1 missing (first b)" in storage_at_target(then, lost, storage_target=t, db_target=t).message
    other = {**then, "c": ObjectSnapshot("c", 3, "sha-x")}
    assert "with other content (first c)" in storage_at_target(then, other, storage_target=t, db_target=t).message
    new = {**then, "d": ObjectSnapshot("d", 1, "sha-d")}
    assert "did not exist then" in storage_at_target(then, new, storage_target=t, db_target=t).message
    apart = storage_at_target(then, then, storage_target=t, db_target=t + timedelta(seconds=1))
    assert apart.status is Status.FAILED and "not the same instant" in apart.message
    same = storage_at_target(then, then, storage_target=t, db_target=t, same_second=["a"])
    assert same.status is Status.FAILED and "own second" in same.message
    assert storage_at_target({}, {}, storage_target=t, db_target=t).status is Status.FAILED


# -- one real physical drill -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_drill(drill_infra, tmp_path_factory):
    """The module's one real physical drill (arqonbus-pitr, default PostgreSQL, moto), written as a run folder
    like `restore-drill run` writes it: (DrillReport, PitrRun, run folder holding report.json and its pages)."""
    from restore_drill.reports.environment import capture_environment
    from restore_drill.reports.model import RunReport
    from restore_drill.reports.writers import write_run

    tmp = tmp_path_factory.mktemp("pitr-drill")
    # The recovery target comes from the config, as `restore-drill run arqonbus-pitr --recovery-target time
    # --recovery-target-offset 0.05` gives it (PitrOptions' default offset is 0.1 s).
    rep, run = run_pitr(drill_infra, tmp, recovery_target="time", recovery_target_offset_s=0.05)
    report = RunReport(run_id="pitr-drill", command=["pytest"], environment=capture_environment(),
                       started_at=rep.started_at, drills=[rep])
    report.finish()
    write_run(report, tmp / "run")
    return rep, run, tmp / "run"


def test_arqonbus_pitr_drill_passes_and_its_loss_window_matches_the_ledger(real_drill):
    """restore-drill run arqonbus-pitr: base backup + WAL archive in moto, errant DELETE, restore to 100 ms
    before it. Every PITR check passes, the errant DELETE is undone (row_counts/table_checksums), and the
    reported data-loss window equals the one the ledger alone shows, to the millisecond."""
    rep, run, run_dir = real_drill
    failing = [(c.name, c.message) for c in rep.checks if c.status in (Status.FAILED, Status.ERRORED)]
    assert rep.error is None, rep.error
    assert not failing, failing
    for name in ("recovery_target", "pitr_exactness", "data_loss_window", "wal_continuity", "recoverable_window",
                 "row_counts", "table_checksums", "rto", "rpo"):
        assert check(rep, name).status is Status.PASSED, check(rep, name).message
    # The registry's plan over the restored database (CheckContext.physical): every check that applies to a
    # restored database ran and passed; those of a pg_dump archive / table-scoped restore did not run.
    for name in ("schema_fidelity", "sequence_health", "referential_integrity", "projector_consistency",
                 "migration_applied", "migration_idempotent", "write_smoke"):
        assert check(rep, name).status is Status.PASSED, check(rep, name).message
    ran = {c.name for c in rep.checks}
    assert not ran & {"backup_artifact", "restore_exit_status", "blast_radius", "snapshot_pairing"}, ran
    # ... judged against the state right before the errant statement, not the seed-time manifest
    from restore_drill.checks._util import parse_time

    seeded = json.loads((run_dir.parent / "arqonbus-pitr.manifest.json").read_text())
    assert run.expected is not None
    assert parse_time(seeded["taken_at"]) < parse_time(run.expected.taken_at) < parse_time(run.disaster["began_at"])
    assert run.expected.tables and all(t.startswith("public.") for t in run.expected.tables)  # no ledger table
    if any(b.major > run.host.binaries.major for b in binaries.servers()):
        assert check(rep, "upgrade_check").status is Status.PASSED, check(rep, "upgrade_check").message
    assert rep.status == "passed"
    assert isinstance(run.outcome, RecoveryOutcome) and run.outcome.new_timeline == 2
    began = datetime.fromisoformat(run.disaster["began_at"])
    assert run.boundary == began - timedelta(milliseconds=50)  # --recovery-target-offset 0.05 reached the drill
    assert rep.metrics["pitr"]["target"]["kind"] == "time"
    assert rep.disasters and rep.disasters[0].name == "bad-statement"
    want = window_from_ledger(run)
    assert rep.metrics["data_loss_window_ms"] == want
    assert check(rep, "data_loss_window").evidence["window_ms"] == want
    assert rep.metrics["rows_lost"] == check(rep, "data_loss_window").evidence["rows_lost"] > 0
    events = [e["event"] for e in rep.metrics["pitr"]["timeline"]]
    assert events[0] == "base backup started" and events[-1] == "recovery ended (promoted)", events
    assert events.index("recovery target (time)") < events.index("disaster (errant statement began)"), events
    # the restored server and its data directory are gone; the base backup stays as evidence
    assert not run.host.root.exists() and not run.host.restore_dir.exists()
    assert Path(rep.backups[0].path).name == "base.tar"


def test_a_logical_disaster_on_a_physical_drill_is_bad_input(drill_infra, tmp_path):
    """One clear line, errored, before anything is started."""
    from dataclasses import replace

    from restore_drill import catalog
    from restore_drill.config import DrillConfig
    from restore_drill.engine import Drill
    from restore_drill.events import EventBus

    spec = replace(catalog.get("arqonbus-pitr"), disaster="truncate")
    rep = Drill(spec, DrillConfig(report_dir=tmp_path), drill_infra, EventBus(), tmp_path).run()
    assert rep.status == "errored" and rep.error is not None and rep.error.type == "BadInput"
    assert "bad-statement" in rep.error.message
    assert not (tmp_path / "work" / "arqonbus-pitr" / "pgdata-restore").exists()


def test_physical_rto_is_the_sum_of_the_restore_steps_durations(real_drill):
    """As in the logical drills (tests/test_rto_timing.py): report.json's rto_s/restore_s and the rto check's
    observed value equal, as floats, the sum of the restore steps' recorded durations (the restored server's
    start and WAL replay being one of them); the harness's observation is kept apart as observe_s."""
    _, _, run_dir = real_drill
    drill = json.loads((run_dir / "report.json").read_text())["drills"][0]
    restore = [s for s in drill["steps"] if s["phase"] == "restore"]
    assert any(s["name"].startswith("Start the Restored Server") for s in restore), [s["name"] for s in restore]
    # the start is "replaced" (the drill starts the server as its unprivileged user and watches recovery)
    assert all(s["status"] in ("passed", "replaced") for s in restore), [(s["name"], s["status"]) for s in restore]
    expected = 0.0
    for s in restore:  # the recorded order, as restore_steps_s sums them
        expected += s["duration_s"]
    m = drill["metrics"]
    # rounded as the steps record them (4 decimals), so no float-sum artefact reaches report.json
    assert m["rto_s"] == round(expected, 4) and m["restore_s"] == round(expected, 4)
    assert len(repr(m["rto_s"]).split(".")[-1]) <= 4
    (rto,) = [c for c in drill["checks"] if c["name"] == "rto"]
    assert rto["status"] == "passed" and rto["observed"] == round(expected, 4)
    assert isinstance(m["observe_s"], float) and m["observe_s"] >= 0
    assert m["restore_phase_s"] >= m["rto_s"]


def _rerender(run_dir: Path, dest: Path, edit: Any = None) -> dict[str, str]:
    """Copy only report.json of ``run_dir`` into ``dest`` (optionally edited), render every page from it,
    and return page name -> text: the pages can hold nothing report.json does not."""
    from restore_drill.reports.writers import render_run

    data = json.loads((run_dir / "report.json").read_text())
    if edit is not None:
        edit(data)
    dest.mkdir(parents=True)
    (dest / "report.json").write_text(json.dumps(data))
    paths = render_run(dest, allow_modified=True)
    return {name: Path(p).read_text() for name, p in paths.items()}


def test_report_pages_show_the_pitr_timeline_and_the_measured_loss_window(real_drill, tmp_path):
    """The real drill's report.json alone renders a point-in-time timeline (every recorded instant, in time
    order) in report.md/.html, and the compliance pages state the measured data-loss window, equal to the
    ledger's to the millisecond."""
    rep, run, run_dir = real_drill
    pages = _rerender(run_dir, tmp_path / "again")
    timeline = json.loads((run_dir / "report.json").read_text())["drills"][0]["metrics"]["pitr"]["timeline"]
    assert len(timeline) >= 6, timeline
    window = f"{window_from_ledger(run):.3f} ms"
    for name in ("report.md", "report.html"):
        text = pages[name]
        assert "Point-in-time recovery timeline" in text, name
        section = text[text.index("Point-in-time recovery timeline"):]
        positions = [section.index(e["at"]) for e in timeline]
        assert positions == sorted(positions), (name, timeline)  # listed in time order
        for e in timeline:
            assert e["event"] in section, (name, e)
        assert "Data-loss window (disaster minus the last transaction kept): " in section
        assert window in section, (name, window)
    md = pages["compliance.md"]
    assert f"Measured data-loss window of {rep.id}: {window} ({rep.metrics['rows_lost']} ledger write(s) lost)" in md
    row = next(line for line in md.splitlines() if line.startswith(f"| {rep.id} |") and "ms" in line)
    assert f"| {window} (" in row, row  # the objectives table's data-loss window column
    assert f"Measured data-loss window of {rep.id}: <strong>{window}" in pages["compliance.html"]
    # the page written by the drill's own run folder says the same
    assert window in (run_dir / "compliance.md").read_text()


def test_compliance_says_not_measured_when_report_json_holds_no_window(real_drill, tmp_path):
    """A drill whose report.json carries no data-loss window (no data_loss_window_ms, no rpo_s): the compliance
    pages say "not measured", never a number, and no timeline section appears without a timeline."""
    rep, _, run_dir = real_drill

    def drop(data: dict[str, Any]) -> None:
        m = data["drills"][0]["metrics"]
        m["data_loss_window_ms"] = m["rpo_s"] = m["rows_lost"] = None
        m["pitr"]["timeline"] = []

    pages = _rerender(run_dir, tmp_path / "none", drop)
    md = pages["compliance.md"]
    row = next(line for line in md.splitlines() if line.startswith(f"| {rep.id} |") and "| not measured |" in line)
    assert " ms" not in row, row
    assert "not measured" in pages["compliance.html"].split("Recovery objectives", 1)[1].split("<h2>Checks", 1)[0]
    assert "Measured data-loss window of" not in md
    assert "Point-in-time recovery timeline" not in pages["report.md"]


def test_upgrade_check_is_reported_in_the_version_matrix(tmp_path: Path) -> None:
    """Issue 17: "pg_upgrade --check into the next major ... reported in the version matrix". Each physical
    drill whose upgrade_check ran is a row "<new> (pg_upgrade --check from <old>, <drill>)" of the run's matrix
    (the same Matrix verify-backup fills), its cell the check's status with the failing reason; a skipped check
    (no newer major here) has no version and no row; no row at all leaves report.json's matrix null."""
    from restore_drill.foundation import utcnow
    from restore_drill.pitr.matrix import row_label, upgrade_matrix
    from restore_drill.reports.environment import capture_environment
    from restore_drill.reports.model import DrillReport, RunReport
    from restore_drill.reports.writers import write_run

    def drill(name: str, run: UpgradeCheckRun | None) -> DrillReport:
        d = DrillReport(name=name, id=name, system="arqonbus")
        d.checks = [upgrade_check.upgrade_check(run, reason="no PostgreSQL newer than 18 with pg_upgrade here")]
        return d

    ok = drill("arqonbus-pitr", UpgradeCheckRun(16, 18, 0, "Checking cluster versions  ok\n*Clusters are compatible*"))
    bad = drill("pegasus-pitr", UpgradeCheckRun(16, 18, 1, "Checking for incompatible polymorphic functions  fatal\n"))
    newest = drill("arqonbus-pitr-barman", None)
    assert upgrade_matrix([newest]) is None
    m = upgrade_matrix([ok, bad, newest])
    assert m is not None and m.checks == ["upgrade_check"]
    good, failed = row_label("arqonbus-pitr", 16, 18), row_label("pegasus-pitr", 16, 18)
    assert m.versions == [good, failed] and good == "18 (pg_upgrade --check from 16, arqonbus-pitr)"
    assert m.cells == {good: {"upgrade_check": "passed"}, failed: {"upgrade_check": "failed"}}
    assert "polymorphic functions" in m.reasons[failed]["upgrade_check"]
    report = RunReport(run_id="matrix", command=["pytest"], environment=capture_environment(),
                       started_at=utcnow(), drills=[ok, bad, newest], matrix=m)
    report.finish()
    paths = write_run(report, tmp_path)
    md = paths["report.md"].read_text()
    assert "## Version matrix" in md and "| version | upgrade_check |" in md
    assert f"| {good} | ✔ passed |" in md and f"| {failed} | ✘ failed: pg_upgrade --check 16 -> 18 exited 1" in md, md
    data = json.loads(paths["report.json"].read_text())
    assert data["matrix"]["cells"][failed] == {"upgrade_check": "failed"}


# -- the recovery target from the command line ------------------------------------------------------------

def test_recovery_target_choices_are_the_kinds_postgresql_has():
    """`restore-drill run --recovery-target` offers exactly pitr.recovery.TARGET_KINDS (PostgreSQL's
    recovery_target_time/_xid/_lsn/_name and recovery_target = 'immediate'), and --help documents both flags."""
    from click.testing import CliRunner

    from restore_drill.cli import cli
    from restore_drill.pitr.recovery import TARGET_KINDS
    from tests.test_registries import cli_choices

    assert cli_choices("recovery_target") == {"run": TARGET_KINDS}
    out = CliRunner().invoke(cli, ["run", "--help"], terminal_width=200).output
    assert "--recovery-target [time|xid|lsn|name|immediate]" in out and "--recovery-target-offset S" in out


@pytest.mark.parametrize(("kind", "offset", "want"), [
    (None, None, ("time", 100.0)),
    ("xid", None, ("xid", 100.0)),
    ("immediate", None, ("immediate", 100.0)),
    ("time", 0.25, ("time", 250.0)),
    (None, 0.0, ("time", 0.0)),
])
def test_recovery_target_config_reaches_the_drill_options(kind, offset, want):
    from restore_drill.config import DrillConfig
    from restore_drill.pitr.drill import options_from_config

    o = options_from_config(DrillConfig(recovery_target=kind, recovery_target_offset_s=offset))
    assert (o.target_kind, o.target_offset_ms) == want


@pytest.mark.parametrize(("args", "words"), [
    (["run", "arqonbus-table-restore", "--recovery-target", "xid"],
     "--recovery-target applies only to point-in-time recovery drills (arqonbus-pitr"),
    (["run", "--recovery-target-offset", "0.5"], "--recovery-target-offset applies only to point-in-time recovery"),
    (["run", "arqonbus-pitr", "pegasus-full-restore", "--recovery-target", "lsn"], "pegasus-full-restore restores a pg_dump"),
    (["run", "arqonbus-pitr", "--recovery-target", "yesterday"], "Invalid value for '--recovery-target': 'yesterday'"),
    (["run", "arqonbus-pitr", "--recovery-target-offset", "-1"], "--recovery-target-offset must be a number of seconds >= 0"),
    (["run", "arqonbus-pitr", "--recovery-target-offset", "nan"], "--recovery-target-offset must be a number of seconds"),
    (["run", "arqonbus-pitr", "--recovery-target-offset", "soon"], "'soon' is not a valid float"),
    (["run", "arqonbus-pitr", "--recovery-target", "xid", "--recovery-target-offset", "1"],
     "--recovery-target-offset applies to --recovery-target time only, not xid"),
])
def test_bad_recovery_target_is_one_line_exit_2_and_an_errored_report(tmp_path, capsys, args, words):
    """Bad --recovery-target input is found before anything starts: one line naming the fix, exit 2, and a
    report.json whose status is errored."""
    from restore_drill.cli import main

    with pytest.raises(SystemExit) as e:
        main([*args, "--report-dir", str(tmp_path)])
    assert e.value.code == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert err[0].startswith("restore-drill: error: ") and words in err[0], err
    (report,) = tmp_path.glob("*/report.json")
    data = json.loads(report.read_text())
    assert data["status"] == "errored" and data["drills"] == [], data["status"]
    assert not list(tmp_path.glob("*/work"))  # nothing was started


def test_recovery_target_from_the_environment_is_validated(tmp_path, monkeypatch):
    from restore_drill.config import resolve
    from restore_drill.errors import BadInput

    monkeypatch.setenv("RESTORE_DRILL_RECOVERY_TARGET", "lsn")
    assert resolve({}, cwd=tmp_path).recovery_target == "lsn"
    monkeypatch.setenv("RESTORE_DRILL_RECOVERY_TARGET", "tomorrow")
    with pytest.raises(BadInput, match="RESTORE_DRILL_RECOVERY_TARGET 'tomorrow': use one of time, xid"):
        resolve({}, cwd=tmp_path)
    monkeypatch.setenv("RESTORE_DRILL_RECOVERY_TARGET", "time")
    monkeypatch.setenv("RESTORE_DRILL_RECOVERY_TARGET_OFFSET_S", "later")
    with pytest.raises(BadInput, match="^RESTORE_DRILL_RECOVERY_TARGET_OFFSET_S must be a number"):
        resolve({}, cwd=tmp_path)


def test_recovery_target_cannot_be_combined_with_a_plan(tmp_path, capsys):
    """A plan's jobs say what to drill (restore-drill plan holds no PITR drill): the flag is refused."""
    from restore_drill.cli import main

    plan = tmp_path / "plan.json"
    main(["plan", "--system", "arqonbus", "-o", str(plan)])
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["run", "--plan", str(plan), "--recovery-target", "xid", "--report-dir", str(tmp_path / "r")])
    assert e.value.code == 2
    assert "--recovery-target cannot be combined with --plan" in capsys.readouterr().err


# -- the registry's plan on a physical restore ----------------------------------------------------------------

def test_registry_plan_of_a_physical_restore_leaves_out_the_pg_dump_checks():
    """CheckContext.physical: backup_artifact / restore_exit_status (a pg_dump archive and its pg_restore steps),
    blast_radius (a table-scoped restore) and snapshot_pairing (a dump paired with a storage snapshot; a
    physical restore's pairing is storage_at_target) leave the plan; every other applicable check stays, and
    rto counts the physical fidelity checks (a failed pitr_exactness means not restored, however fast)."""
    from restore_drill.checks.context import CheckContext
    from restore_drill.checks.registry import plan
    from restore_drill.checks.result import CheckResult
    from restore_drill.records import StepRecord
    from restore_drill.systems import resolve_system

    def ctx(physical: bool, name: str) -> CheckContext:
        return CheckContext(system=resolve_system(name), db=None, client_bins=None, manifest=None,  # type: ignore[arg-type]
                            backup=None, restore_s=1.0, s3_client=object(), bucket="b", rto_s=900.0, physical=physical,
                            restore_steps=[StepRecord("Restore", "restore", "tar -x", "passed", 0, 1.0)])

    logical = [n for n, _ in plan(ctx(False, "pegasus"))]
    physical = [n for n, _ in plan(ctx(True, "pegasus"))]
    assert {"backup_artifact", "restore_exit_status", "snapshot_pairing"} <= set(logical)
    assert set(logical) - set(physical) == {"backup_artifact", "restore_exit_status", "snapshot_pairing"}
    assert "blast_radius" in [n for n, _ in plan(ctx(False, "arqonbus"))]
    assert "blast_radius" not in [n for n, _ in plan(ctx(True, "arqonbus"))]
    c = ctx(True, "arqonbus")
    c.results = [CheckResult.passed("recovery_target", "ok"), CheckResult.failed("pitr_exactness", "seq 3 missing"),
                 CheckResult.passed("row_counts", "3 tables equal")]
    rto = dict(plan(c))["rto"]()
    assert rto.status is Status.FAILED, rto.message
    c.physical = False  # the same results on a logical restore: PITR checks are not its fidelity
    assert dict(plan(c))["rto"]().status is Status.PASSED


def test_incremental_drill_on_postgresql_16_is_not_run(drill_infra, tmp_path):
    """arqonbus-pitr-incremental needs PostgreSQL 17+ (summarize_wal, pg_basebackup --incremental,
    pg_combinebackup): on 16 it is not run, errored with one line naming --pg-version 18, before any server."""
    from restore_drill import catalog

    spec = catalog.get("arqonbus-pitr-incremental")
    assert spec.physical and spec.variant == "incremental" and not spec.default
    old = [b for b in binaries.servers() if not b.has("pg_combinebackup")]
    if not old:
        pytest.skip("every PostgreSQL here has pg_combinebackup")
    rep, _ = run_pitr(drill_infra, tmp_path, "arqonbus-pitr-incremental", major=old[0].major)
    assert rep.status == "errored" and rep.error is not None and rep.error.type == "BadInput"
    assert "run it with --pg-version 18" in rep.error.message and "pg_combinebackup" in rep.error.message
    assert not rep.steps and not (tmp_path / "work").exists()


# -- restore-drill plan --pitr ------------------------------------------------------------------------------

def test_plan_with_pitr_adds_the_builtin_systems_pitr_drills(tmp_path, capsys):
    """`restore-drill plan` leaves PITR drills out unless --pitr; with it, each built-in system gets its
    <name>-pitr job (not the tool/major-dependent variants), which the runner resolves to the physical drill.
    A system without a PITR drill, or --pitr with --no-drills, is bad input (exit 2, one line)."""
    from restore_drill import catalog
    from restore_drill.cli import main
    from restore_drill.fleet.plan import load_plan, spec_for

    def plan(*args: str) -> Any:
        out = tmp_path / f"plan{len(list(tmp_path.iterdir()))}.json"
        main(["plan", *args, "-o", str(out)])
        return load_plan(out)

    without = plan("--system", "arqonbus", "--system", "pegasus")
    assert not [j for j in without.jobs if catalog.get(str(j.drill)).physical]
    with_pitr = plan("--system", "arqonbus", "--system", "pegasus", "--pitr")
    physical = sorted(str(j.drill) for j in with_pitr.jobs if catalog.get(str(j.drill)).physical)
    assert physical == ["arqonbus-pitr", "pegasus-pitr"]
    assert {str(j.drill) for j in without.jobs} < {str(j.drill) for j in with_pitr.jobs}
    job = next(j for j in with_pitr.jobs if j.drill == "arqonbus-pitr")
    assert spec_for(job) == catalog.get("arqonbus-pitr") and job.disaster == "bad-statement"
    assert with_pitr.inventory["pitr"] is True and "pitr" not in without.inventory
    capsys.readouterr()
    for args, words in ((["--system", "examples/mastodon/mastodon.toml", "--pitr"],
                         "--pitr: system 'mastodon' (examples/mastodon/mastodon.toml) has no point-in-time recovery"),
                        (["--system", "arqonbus", "--no-drills", "--backups", str(tmp_path), "--pitr"],
                         "--pitr plans drills")):
        with pytest.raises(SystemExit) as e:
            main(["plan", *args])
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("restore-drill: error: ") and words in err[0], err


# -- evidence faults a fresh user found (issue 17, wave 3): the functions that compute the values -------------

HISTORY = """\
START WAL LOCATION: 0/2000028 (file 000000010000000000000002)
STOP WAL LOCATION: 0/2000158 (file 000000010000000000000002)
CHECKPOINT LOCATION: 0/2000080
BACKUP METHOD: streamed
BACKUP FROM: primary
START TIME: 2026-11-30 21:58:37 UTC
LABEL: pg_basebackup base backup
START TIMELINE: 1
STOP TIME: 2026-11-30 21:58:38 UTC
STOP TIMELINE: 1
"""


def _history(stop_s: int = 38, start_lsn: str = "0/2000028") -> wal.BackupHistory:
    text = HISTORY.replace("START WAL LOCATION: 0/2000028", f"START WAL LOCATION: {start_lsn}").replace(
        "STOP TIME: 2026-11-30 21:58:38", f"STOP TIME: 2026-11-30 21:58:{stop_s:02d}")
    return wal.parse_backup_history("000000010000000000000002.00000028.backup", text)


def test_backup_history_file_gives_the_backups_own_start_and_consistency_point(tmp_path):
    h = _history()
    assert (wal.format_lsn(h.start_lsn), h.stop_lsn_text) == ("0/2000028", "0/2000158")
    assert h.started_at == datetime(2026, 11, 30, 21, 58, 37, tzinfo=UTC)
    assert h.stopped_at == datetime(2026, 11, 30, 21, 58, 38, tzinfo=UTC)
    pg_wal = tmp_path / "pg_wal"
    pg_wal.mkdir()
    (pg_wal / "000000010000000000000002.00000028.backup").write_text(HISTORY)
    (pg_wal / "000000010000000000000002").write_bytes(b"")  # a segment, not a history file
    assert [x.name for x in wal.local_backup_histories(pg_wal)] == ["000000010000000000000002.00000028.backup"]
    with pytest.raises(ValueError, match="STOP TIME"):
        wal.parse_backup_history("x.backup", HISTORY.replace("STOP TIME", "NOPE"))


def _run_for(kind: str, ledger: list[LedgerEntry], *, boundary: datetime | None = None,
             histories: list[wal.BackupHistory] | None = None) -> Any:
    from restore_drill.pitr.drill import PitrRun

    run = PitrRun(host=None, dbname="d", wal_bucket="b")  # type: ignore[arg-type]
    run.ledger, run.boundary, run.histories = ledger, boundary, histories or []
    run.target = RecoveryTarget(kind, "x" if kind != "immediate" else "")
    run.disaster = {"began_at": (T0 + timedelta(milliseconds=75)).isoformat()}
    return run


@pytest.mark.parametrize("kind", ["time", "xid", "lsn", "name", "immediate"])
def test_storage_is_restored_to_the_instant_the_database_reaches(kind):
    """pegasus-pitr --recovery-target immediate restored storage to the disaster's instant while the database
    stopped at the backup's consistency point (storage_at_target failed, blaming the procedure). The storage
    instant is now the commit time of the newest ledger transaction the target keeps, for every kind."""
    from restore_drill.pitr.drill import db_instant, db_reached

    led = _ledger()  # commits at T0+10ms .. T0+100ms; the disaster began at T0+75ms
    stop = T0 + timedelta(milliseconds=45)
    hist = [dataclass_replace(_history(), stopped_at=stop)]
    run = _run_for(kind, led, boundary=T0 + timedelta(milliseconds=55) if kind == "time" else
                   (T0 + timedelta(milliseconds=75) if kind != "immediate" else None), histories=hist)
    want = {"time": 50, "xid": 70, "lsn": 70, "name": 70, "immediate": 40}[kind]
    assert db_instant(run) == T0 + timedelta(milliseconds=want)
    run.present = {e.seq for e in led if e.committed_at <= T0 + timedelta(milliseconds=want)}
    assert db_reached(run) == db_instant(run)  # what storage_at_target compares against
    run.present = None
    run.outcome = RecoveryOutcome("failed", 1.0, last_commit_time=T0)
    assert db_reached(run) == T0  # the log's last completed transaction when the ledger is unreadable


def dataclass_replace(obj: Any, **kw: Any) -> Any:
    from dataclasses import replace

    return replace(obj, **kw)


def test_storage_at_target_judges_the_database_instant_not_an_equal_timestamp():
    from restore_drill.checks.storage_pitr import storage_at_target
    from restore_drill.seeds.manifest import ObjectSnapshot

    objs = {"a": ObjectSnapshot("a", 3, "00" * 32)}
    t1, t2 = T0, T0 + timedelta(milliseconds=3)
    same = storage_at_target(objs, objs, storage_target=t1, db_target=t1)
    assert same.status is Status.PASSED
    quiet = storage_at_target(objs, objs, storage_target=t1, db_target=t2, between=[])
    assert quiet.status is Status.PASSED and quiet.evidence["no_version_between"]
    moved = storage_at_target(objs, objs, storage_target=t1, db_target=t2, between=["k"])
    assert moved.status is Status.FAILED and "1 object version(s) written in between" in moved.message
    assert storage_at_target(objs, objs, storage_target=t1, db_target=t2).status is Status.FAILED
    assert storage_at_target(objs, objs, storage_target=t1, db_target=None).status is Status.FAILED


@pytest.mark.parametrize("offset_s", [1e9, -1e9, float("nan"), float("inf"), 301.0])
def test_an_offset_the_drill_cannot_honour_is_bad_input(offset_s):
    """--recovery-target-offset 1e9 is a target in 1995: refused up front, one line naming the bound."""
    from types import SimpleNamespace

    from restore_drill.errors import BadInput
    from restore_drill.pitr.drill import MAX_TARGET_OFFSET_S, PitrOptions, options_from_config

    with pytest.raises(BadInput, match="--recovery-target-offset .*between") as e:
        options_from_config(SimpleNamespace(recovery_target="time", recovery_target_offset_s=offset_s))
    assert "\n" not in str(e.value)
    with pytest.raises(BadInput):
        PitrOptions(target_offset_ms=offset_s * 1000)
    ok = options_from_config(SimpleNamespace(recovery_target="time", recovery_target_offset_s=MAX_TARGET_OFFSET_S))
    assert ok.target_offset_ms == MAX_TARGET_OFFSET_S * 1000


def test_the_drill_leaves_room_for_the_offset_after_the_backup_ended(monkeypatch):
    """--recovery-target-offset 3 put the target before the base backup ended (the disaster fired ~2 s after
    it): the drill now waits until backup end (STOP TIME, rounded up) + offset + margin before the statement."""
    from restore_drill.pitr import drill as drill_mod

    slept: list[float] = []
    monkeypatch.setattr(drill_mod.time, "sleep", slept.append)
    run = _run_for("time", _ledger())
    now = datetime.now(UTC)
    run.histories = [dataclass_replace(_history(), stopped_at=now.replace(microsecond=0))]
    drill_mod._leave_room(run, 3.0)
    end = now.replace(microsecond=0) + timedelta(seconds=1 + 3.0 + drill_mod.OFFSET_MARGIN_S)
    assert len(slept) == 1 and abs(slept[0] - (end - now).total_seconds()) < 0.5
    slept.clear()
    run.histories = [dataclass_replace(_history(), stopped_at=now - timedelta(minutes=10))]
    drill_mod._leave_room(run, 3.0)
    assert slept == []  # the backup ended long enough ago


def test_recovery_target_before_the_backup_names_the_consistency_point():
    out = RecoveryOutcome("failed", 1.0, fatal="FATAL:  requested recovery stop point is before consistent "
                                                 "recovery point")
    r = recovery.recovery_target(out, RecoveryTarget("time", T0.isoformat()), in_recovery=None, timeline=None,
                                 backup_end=_history())
    assert r.status is Status.FAILED and r.message.startswith("target before the base backup ended")
    assert "consistent at 0/2000158, STOP TIME 2026-11-30T21:58:38+00:00" in r.message


def test_the_timeline_shows_each_backups_consistency_point_and_the_immediate_target():
    """The timeline's "base backup ended" was the backup step's end; with offset 0.5 it listed the target
    before it although recovery succeeded. It is now each backup's STOP TIME (history file); an immediate
    target gets its own row; an incremental chain shows each link."""
    from types import SimpleNamespace

    from restore_drill.pitr.drill import timeline

    run = _run_for("immediate", _ledger(), histories=[_history()])
    run.disaster = {"began_at": "2026-11-30T21:58:45+00:00"}
    run.outcome = RecoveryOutcome("promoted", 1.0, ended_at=T0 + timedelta(hours=4))
    events = [e["event"] for e in timeline(SimpleNamespace(steps=[]), run)]  # type: ignore[arg-type]
    assert events[:2] == ["base backup started", "base backup ended (consistent at 0/2000158; to the second)"]
    assert "recovery target (immediate: the backup's consistency point)" in events
    run.histories = [_history(38), _history(40, start_lsn="0/4000028"), _history(42, start_lsn="0/6000028")]
    run.chain_recorded = [("1-full", "0/2000028"), ("2-incr", "0/4000028"), ("3-incr", "0/6000028")]
    events = [e["event"] for e in timeline(SimpleNamespace(steps=[]), run)]  # type: ignore[arg-type]
    for link in ("1-full", "2-incr", "3-incr"):
        assert f"base backup {link} started" in events and any(e.startswith(f"base backup {link} ended")
                                                                 for e in events), events


def test_rpo_and_data_loss_window_state_one_window():
    """--recovery-target xid: data_loss_window said 3.473 ms, rpo "data-loss window 0.0 s". One definition:
    the disaster instant minus the newest transaction kept, the same number and unit in both checks."""
    from restore_drill.checks import objectives

    led = _ledger()
    disaster = T0 + timedelta(milliseconds=53, microseconds=473)
    dlw = recovery.data_loss_window(led, {1, 2, 3, 4, 5}, None, disaster, rpo_s=1.0)
    kept = max(e.committed_at for e in led if e.seq in {1, 2, 3, 4, 5})
    rpo = objectives.rpo(disaster, kept, 1.0)
    assert dlw.observed == rpo.observed == 0.003473
    assert "data-loss window 3.473 ms" in dlw.message and "data-loss window 3.473 ms" in rpo.message


def test_the_pitr_summary_line_gives_rows_and_objects_or_leaves_them_out(real_drill, tmp_path):
    """report.md read "– rows, – objects" for a physical drill: report.json now carries the expected state's
    rows/objects, and a page without them leaves the parts out."""
    rep, _, run_dir = real_drill
    assert rep.metrics["rows"] > 0 and rep.metrics["objects"] >= 0
    md = (run_dir / "report.md").read_text()
    assert f"; {rep.metrics['rows']} rows, {rep.metrics['objects']} objects." in md and "– rows" not in md

    def drop(data: dict[str, Any]) -> None:
        m = data["drills"][0]["metrics"]
        m.pop("rows"), m.pop("objects")

    assert "rows" not in _rerender(run_dir, tmp_path / "none", drop)["report.md"].split("Restored into")[0][-60:]


def test_the_cli_says_what_a_failed_start_of_the_restored_server_did():
    """The verdict table printed "step 'Start the Restored Server #1' failed (exit None)": a hook has no exit
    status, so the line now carries the hook's own words (the binding's replacement reason left out)."""
    from restore_drill.cli._common import _hook_said

    reason = ("PostgreSQL refuses to run as root: restore-drill starts the restored server; the replacement failed: "
              "the restored server did not reach the recovery target (time 2026-11-30T21:58:39+00:00): recovery "
              "ended failed: FATAL:  requested recovery stop point is before consistent recovery point")
    said = _hook_said(reason)
    assert said.startswith(": the restored server did not reach the recovery target") and "refuses" not in said
    assert _hook_said("") == ""
