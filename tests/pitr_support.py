"""Shared by the PITR tests: run a physical drill with options and read what it learned."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from restore_drill import catalog
from restore_drill.config import DrillConfig
from restore_drill.engine import Drill
from restore_drill.events import EventBus
from restore_drill.pitr.drill import PitrOptions, PitrRun


def run_pitr(infra: Any, tmp_path: Path, name: str = "arqonbus-pitr", *, major: int | None = None,
             opts: PitrOptions | None = None, runbook: Path | None = None, binding: Path | None = None,
             **config: Any) -> tuple[Any, PitrRun]:
    """Run drill ``name`` (a physical one from the catalog) and return (DrillReport, PitrRun). ``opts`` given:
    the drill runs with them; else with the options the DrillConfig (``config``, e.g. recovery_target="xid")
    gives, as `restore-drill run --recovery-target` does."""
    spec = catalog.get(name)
    cfg = replace(DrillConfig(pg_version=major, report_dir=tmp_path), **config)
    drill = Drill(spec, cfg, infra, EventBus(), tmp_path, runbook_path=runbook, binding_path=binding)
    if opts is not None:  # else the drill takes them from the config (recovery_target*), as `restore-drill run`
        drill.pitr_options = opts  # type: ignore[attr-defined]
    rep = drill.run()
    return rep, getattr(drill, "pitr_run", None)  # None when the drill stopped before it started its servers


def check(rep: Any, name: str) -> Any:
    """The drill's result for check ``name`` (AssertionError naming the checks it has when absent)."""
    for c in rep.checks:
        if c.name == name:
            return c
    raise AssertionError(f"no check {name!r} in {[c.name for c in rep.checks]}; error: {rep.error}")


def window_from_ledger(run: PitrRun) -> float:
    """The data-loss window the ledger alone shows (ms): the disaster instant minus the newest ledger
    commit at or before the recovery target, computed without the restored server."""
    assert run.target is not None and run.target.kind == "time"
    target = datetime.fromisoformat(run.target.value)
    kept = [e.committed_at for e in run.ledger if e.committed_at <= target]
    began = datetime.fromisoformat(run.disaster["began_at"])
    return round((began - max(kept)).total_seconds() * 1000, 3)


CORE_PITR_CHECKS = ("recovery_target", "pitr_exactness", "data_loss_window", "wal_continuity", "recoverable_window",
                    "row_counts", "table_checksums", "rto", "rpo")


def assert_tool_drill_passed(rep: Any, run: PitrRun, manifest_skip: str) -> None:
    """A backup tool's PITR drill (Barman, pgBackRest) passed on its evidence: no error, no failed check, the
    core PITR checks passed, backup_manifest skipped saying ``manifest_skip`` (the tool writes no manifest
    pg_verifybackup reads), and the reported data-loss window equals the ledger's."""
    from restore_drill.checks.result import Status

    assert rep.error is None, rep.error
    failing = [(c.name, c.message) for c in rep.checks if c.status in (Status.FAILED, Status.ERRORED)]
    assert not failing, failing
    for name in CORE_PITR_CHECKS:
        assert check(rep, name).status is Status.PASSED, (name, check(rep, name).message)
    bm = check(rep, "backup_manifest")
    assert bm.status is Status.SKIPPED and manifest_skip in bm.message, bm.message
    assert rep.status == "passed"
    assert rep.metrics["data_loss_window_ms"] == window_from_ledger(run)


def assert_wal_gap_named(rep: Any, deleted: list[str]) -> None:
    """The WAL segment ``deleted`` from the archive before the restored server started is named by
    wal_continuity, recovery could not reach the target, and the drill failed."""
    from restore_drill.checks.result import Status

    wc = check(rep, "wal_continuity")
    assert deleted and wc.status is Status.FAILED and deleted[0] in wc.message, wc.message
    assert check(rep, "recovery_target").status is Status.FAILED
    assert rep.status == "failed"
