"""The CLI's verdict table names a failed step with its exit status, and an errored hook (which has none)
without a meaningless "(exit None)" (tester finding 15)."""

from __future__ import annotations

from typing import Any

from restore_drill.cli._common import finish
from restore_drill.reports.model import DrillReport, ErrorInfo, RunReport, StepRecord


def test_errored_hook_has_no_exit_none_and_a_failed_step_keeps_its_exit(capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # rich sizes the table to the terminal: no wrapped cells
    d = DrillReport(name="shop-restore", id="shop-restore[pg16-moto]", system="shop")
    d.error = ErrorInfo("BadInput", "the disaster could not run", "errored")
    d.steps = [StepRecord("[restore-drill] disaster", "restore", "disaster hook", "errored"),
               StepRecord("Restore #1", "restore", "pg_restore shop.dump", "failed", exit_code=1)]
    report = RunReport(run_id="r1", command=["restore-drill", "run"], environment={})
    report.drills.append(d)
    finish(report, None)
    out = capsys.readouterr().out
    assert "step '[restore-drill] disaster' errored" in out and "exit None" not in out
    assert "step 'Restore #1' failed (exit 1)" in out
