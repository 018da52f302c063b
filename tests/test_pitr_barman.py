"""Point-in-time recovery with Barman cloud (issue 17's "corrected procedure using Barman cloud"), slow: the
real barman-cloud-wal-archive / -backup / -restore / -wal-restore against moto, in the drills
arqonbus-pitr-barman (drills/procedures/arqonbus-pitr-barman.md) and pegasus-pitr-barman (the same, plus
Pegasus's versioned bucket restored to the recovery target's instant). barman-cloud-backup reads the server's
data directory itself, which a confined step may do only under the binding's declared allowance
([sandbox] read_data_directory): with it the drill passes and says so, without it the backup step is refused."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pytest

from restore_drill.checks.result import Status
from restore_drill.pitr import wal
from restore_drill.pitr.drill import PitrOptions, PitrRun, procedure_files
from restore_drill.reports.model import step_deviation
from tests.pitr_support import assert_tool_drill_passed, assert_wal_gap_named, check, run_pitr, window_from_ledger

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    importlib.util.find_spec("barman") is None,
    reason="barman is not installed: `make` installs it (pip install --no-deps -c constraints.txt barman psycopg2-binary)")]

DRILL = "arqonbus-pitr-barman"


def test_barman_cloud_drill_passes_under_its_declared_allowance(drill_infra, tmp_path):
    """Every PITR check passes on Barman's own layout (WAL under <server>/wals/<tli+log>/, base backup +
    backup.info under <server>/base/<id>/); backup_manifest is skipped with its reason (Barman writes none);
    the data-loss window equals the ledger's; the base backup recorded is Barman's data.tar with the sha256
    of what S3 holds; the backup step carries the declared allowance, and it is no deviation."""
    seen: dict[str, object] = {}

    def look(run: PitrRun) -> None:  # while the drill's bucket exists (it is removed with the drill)
        c, bucket = run.s3_client, run.wal_bucket
        seen["wal"] = [o["Key"] for o in c.list_objects_v2(Bucket=bucket, Prefix=run.wal_prefix + "/")["Contents"]]
        tars = [o["Key"] for o in c.list_objects_v2(Bucket=bucket, Prefix=run.base_prefix + "/")["Contents"]
                if o["Key"].endswith("/data.tar")]
        seen["tars"] = {k: hashlib.sha256(c.get_object(Bucket=bucket, Key=k)["Body"].read()).hexdigest() for k in tars}

    rep, run = run_pitr(drill_infra, tmp_path, DRILL, opts=PitrOptions(before_start=look))
    assert_tool_drill_passed(rep, run, "barman-cloud-backup writes no backup_manifest")
    # the WAL really is in Barman's layout, and the checks read it there
    keys = seen["wal"]
    assert isinstance(keys, list) and keys
    seg = keys[0].rsplit("/", 1)[-1]
    assert keys[0] == f"{run.wal_prefix}/{seg[:16]}/{seg}", keys[:3]
    (b,) = rep.backups
    assert b.path.startswith(f"s3://{run.wal_bucket}/{run.base_prefix}/") and b.path.endswith("/data.tar")
    assert seen["tars"] == {b.path.split("/", 3)[3]: b.sha256}  # the one base backup, hashed as S3 held it
    assert b.tool_version.startswith("barman-cloud-backup 3.19.1")
    (backup_step,) = [s for s in rep.steps if s.name.startswith("Base Backup")]
    assert backup_step.status == "passed"
    assert backup_step.allowances == [f"declared allowance: read-only access to the drill server's data directory "
                                      f"{run.host.primary.data} (binding [sandbox] read_data_directory = true)"]
    assert "data directory" not in (step_deviation(backup_step) or "")
    assert not any("data directory" in d.message for d in rep.deviations())
    # granted to the backup phase only
    assert not any(getattr(s, "allowances", None) for s in rep.steps if s.phase != "backup")


def test_without_the_allowance_barman_cloud_backup_is_refused_the_data_directory(drill_infra, tmp_path):
    """The same procedure with the binding's [sandbox] read_data_directory = false: the confined backup step
    cannot read the server's data directory, so barman-cloud-backup fails and the drill fails on it."""
    rb, bd = procedure_files("arqonbus", "barman")
    text = bd.read_text()
    assert "read_data_directory = true" in text
    bad = tmp_path / "no-allowance.toml"
    bad.write_text(text.replace("read_data_directory = true", "read_data_directory = false"))
    (tmp_path / "run").mkdir()
    rep, _ = run_pitr(drill_infra, tmp_path / "run", DRILL, runbook=rb, binding=bad)
    (backup_step,) = [s for s in rep.steps if s.name.startswith("Base Backup")]
    assert backup_step.status == "failed" and backup_step.exit_code not in (0, None), backup_step
    assert not getattr(backup_step, "allowances", None)
    assert "ermission denied" in backup_step.stderr_tail or "EACCES" in backup_step.stderr_tail, backup_step.stderr_tail
    assert rep.status in ("failed", "errored")


def test_deleted_wal_segment_in_barmans_layout_fails_wal_continuity(drill_infra, tmp_path):
    """The fault of tests/test_pitr_faults.py on Barman's nested WAL layout: the segment holding the disaster's
    WAL position is deleted before the restored server starts; wal_continuity names it."""
    deleted: list[str] = []

    def delete(run: PitrRun) -> None:
        seg = wal.segment_name(wal.parse_lsn(run.disaster["lsn_before"]))
        run.s3_client.delete_object(Bucket=run.wal_bucket, Key=f"{run.wal_prefix}/{seg[:16]}/{seg}")
        deleted.append(seg)

    rep, _ = run_pitr(drill_infra, tmp_path, DRILL, opts=PitrOptions(before_start=delete))
    assert_wal_gap_named(rep, deleted)


def test_the_barman_procedure_is_the_drills_own(tmp_path: Path) -> None:
    rb, bd = procedure_files("arqonbus", "barman")
    assert rb.name == "arqonbus-pitr-barman.md" and bd.name == "arqonbus-pitr-barman.toml"
    assert "barman-cloud-backup" in rb.read_text()
    rb, bd = procedure_files("pegasus", "barman")
    assert rb.name == "pegasus-pitr-barman.md" and bd.name == "pegasus-pitr-barman.toml"
    assert "barman-cloud-backup" in rb.read_text() and "STORAGE_TARGET_TIME" in rb.read_text()


def test_pegasus_barman_cloud_drill_restores_database_and_storage_to_one_instant(drill_infra, tmp_path):
    """pegasus-pitr-barman (drills/procedures/pegasus-pitr-barman.md): Pegasus's database through Barman cloud as
    arqonbus-pitr-barman does, its versioned bucket restored to the versions current at the same target time as
    pegasus-pitr does. Every PITR check passes on Barman's layout, storage_at_target proves the objects the
    disaster overwrote or deleted are back as they were at the database's recovery target, and the data-loss
    window equals the ledger's."""
    rep, run = run_pitr(drill_infra, tmp_path, "pegasus-pitr-barman")
    assert_tool_drill_passed(rep, run, "barman-cloud-backup writes no backup_manifest")
    st = check(rep, "storage_at_target")
    assert st.status is Status.PASSED and len(run.storage_changed) == 4 and "are back" in st.message, st.message
    # one instant for both: the newest ledger commit the target keeps (the database's instant)
    assert run.storage_target == max(e.committed_at for e in run.ledger if e.committed_at <= run.boundary)
    assert rep.status == "passed"
    assert rep.metrics["data_loss_window_ms"] == window_from_ledger(run)
    (b,) = rep.backups
    assert b.path.startswith(f"s3://{run.wal_bucket}/{run.base_prefix}/") and b.path.endswith("/data.tar")
    (backup_step,) = [s for s in rep.steps if s.name.startswith("Base Backup")]
    assert backup_step.status == "passed" and backup_step.allowances
    (storage_step,) = [s for s in rep.steps if s.name.startswith("Restore Object Storage")]
    assert storage_step.status == "passed" and storage_step.phase == "restore"


def test_restore_drill_run_reports_the_upgrade_check_in_the_version_matrix(drill_infra, tmp_path):
    """`restore-drill run pegasus-pitr-barman` (restore_drill.session.run, as the CLI runs it): the drill's
    pg_upgrade --check of the restored base backup (issue 17's "before an upgrade") is a row of report.json's
    version matrix and of report.md's "Version matrix", with the same status as the drill's upgrade_check."""
    import json

    from restore_drill import catalog, session
    from restore_drill.config import DrillConfig
    from restore_drill.pitr.matrix import row_label

    report, run_dir = session.run([catalog.get("pegasus-pitr-barman")], DrillConfig(report_dir=tmp_path),
                                  ["restore-drill", "run", "pegasus-pitr-barman"], infra=drill_infra, progress=False)
    (d,) = report.drills
    uc = check(d, "upgrade_check")
    data = json.loads((run_dir / "report.json").read_text())
    if uc.status is Status.SKIPPED:  # no newer major on this machine: nothing to put in a row
        assert data["matrix"] is None
        return
    row = row_label(d.id, uc.evidence["old_major"], uc.evidence["new_major"])
    assert data["matrix"]["versions"] == [row] and data["matrix"]["checks"] == ["upgrade_check"]
    assert data["matrix"]["cells"][row] == {"upgrade_check": uc.status.value}
    assert uc.status is Status.PASSED, uc.message
    assert f"| {row} | ✔ passed |" in (run_dir / "report.md").read_text()
