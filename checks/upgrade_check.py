"""upgrade_check: could this restored physical backup be upgraded to the next major? (``pg_upgrade --check``)"""

from __future__ import annotations

from restore_drill.pitr.upgrade import UpgradeCheckRun

from .result import CheckResult


def upgrade_check(run: UpgradeCheckRun | None, *, reason: str = "") -> CheckResult:
    """Passed when ``pg_upgrade --check`` from the restored cluster into a fresh newer one exits 0 and says
    "Clusters are compatible"; failed with its failing lines otherwise; skipped (``reason``) when the
    machine has no newer major or it was not run."""
    name = "upgrade_check"
    if run is None:
        return CheckResult.skipped(name, reason or "pg_upgrade --check was not run")
    what = f"pg_upgrade --check {run.old_major} -> {run.new_major}"
    ev = {"old_major": run.old_major, "new_major": run.new_major, "exit_code": run.exit_code,
          "output": run.output[-2000:]}
    if run.exit_code == 0 and "Clusters are compatible" in run.output:
        return CheckResult.passed(name, f"{what}: clusters are compatible", expected=0, observed=0, evidence=ev)
    bad = [ln.strip() for ln in run.output.splitlines() if "fatal" in ln.lower() or ln.strip().endswith("failed")
           or "could not" in ln or "error" in ln.lower()]
    return CheckResult.failed(name, f"{what} exited {run.exit_code}: {bad[0] if bad else run.output[-200:]}",
                              expected=0, observed=run.exit_code, evidence=ev)
