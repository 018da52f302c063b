"""rto and rpo: measured recovery time and data-loss window against the system's targets."""

from __future__ import annotations

from datetime import datetime

from ._util import human_duration, parse_time, timed
from .result import CheckResult


@timed("rto")
def rto(measured_s: float, target_s: float | None) -> CheckResult:
    """The restore took no longer than the recovery-time objective."""
    name = "rto"
    ev = {"rto_s": round(measured_s, 3), "target_s": target_s}
    if target_s is None:
        return CheckResult.skipped(name, f"restore took {human_duration(measured_s)}; no RTO target configured",
                                   observed=measured_s, evidence=ev)
    if measured_s > target_s:
        return CheckResult.failed(name, f"restore took {measured_s:.1f} s, over the RTO target of {target_s:g} s",
                                  expected=target_s, observed=measured_s, evidence=ev)
    return CheckResult.passed(name, f"restore took {measured_s:.1f} s, within the RTO target of {target_s:g} s",
                              expected=target_s, observed=measured_s, evidence=ev)


@timed("rpo")
def rpo(backup_started_at: str | datetime, last_write_at: str | datetime | None, target_s: float | None) -> CheckResult:
    """The data-loss window (last write before the disaster minus the backup's start: what the backup
    cannot contain) is within the recovery-point objective. No write after the backup: window 0."""
    name = "rpo"
    start = parse_time(backup_started_at)
    last = parse_time(last_write_at) if last_write_at is not None else None
    window = max(0.0, (last - start).total_seconds()) if last is not None else 0.0
    ev = {"rpo_s": round(window, 3), "target_s": target_s, "backup_started_at": start.isoformat(),
          "last_write_at": last.isoformat() if last else None}
    if target_s is None:
        return CheckResult.skipped(name, f"data-loss window {human_duration(window)}; no RPO target configured",
                                   observed=window, evidence=ev)
    if window > target_s:
        return CheckResult.failed(name, f"data-loss window {window:.1f} s (backup started {start.isoformat()}, "
                                  f"last write {last.isoformat() if last else '-'}) is over the RPO target of "
                                  f"{target_s:g} s", expected=target_s, observed=window, evidence=ev)
    return CheckResult.passed(name, f"data-loss window {window:.1f} s, within the RPO target of {target_s:g} s",
                              expected=target_s, observed=window, evidence=ev)
