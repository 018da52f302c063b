"""Point-in-time recovery checks: did recovery reach its target, is the restore exact, what was lost.

``recovery_target`` reads the restored server's log (restore_drill.pitr.recovery.RecoveryOutcome) and its
state; ``pitr_exactness`` and ``data_loss_window`` compare the write ledger (restore_drill.pitr.ledger)
with the ledger rows the restored server holds. Plain functions returning frozen CheckResults.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from restore_drill.pitr.ledger import LedgerEntry
from restore_drill.pitr.recovery import RecoveryOutcome, RecoveryTarget

from .objectives import window_text
from .result import CheckResult

BEYOND_ARCHIVE = "recovery ended before configured recovery target was reached"
BEFORE_CONSISTENT = "requested recovery stop point is before consistent recovery point"


def recovery_target(outcome: RecoveryOutcome | None, target: RecoveryTarget, *, in_recovery: bool | None,
                    timeline: int | None, base_timeline: int = 1, backup_end: Any = None) -> CheckResult:
    """The restored server reached ``target``, left recovery and runs on a new timeline.

    ``outcome``: what the log said (None: the server was never started). ``in_recovery`` /
    ``timeline``: pg_is_in_recovery() and pg_control_checkpoint().timeline_id read from the restored
    server (None: it could not be queried). Named failures: target beyond the archive (PostgreSQL:
    "recovery ended before configured recovery target was reached"), target before the base backup
    reached consistency ("requested recovery stop point is before consistent recovery point"), recovery
    left paused (read-only), no stop at the target, no new timeline. ``backup_end``: the base backup's
    restore_drill.pitr.wal.BackupHistory (its STOP WAL LOCATION and STOP TIME, the consistency point the
    report's timeline shows as "base backup ended"), named in the "before the base backup ended" failure.
    """
    name = "recovery_target"
    want = target.describe()
    if outcome is None:
        return CheckResult.failed(name, "the restored server was never started (an earlier restore step failed)",
                                  expected=want)
    ev: dict[str, Any] = {"outcome": outcome.to_dict(), "target": target.to_dict(), "in_recovery": in_recovery,
                          "timeline": timeline, "log_tail": outcome.log_tail[-1500:]}
    if BEYOND_ARCHIVE in outcome.fatal:
        return CheckResult.failed(name, f"target beyond the archive: {outcome.fatal} ({want}); the archived WAL ends "
                                        "before the target (see recoverable_window)", expected=want,
                                  observed=outcome.fatal, evidence=ev)
    if BEFORE_CONSISTENT in outcome.fatal:
        end = (f" (the backup is consistent at {backup_end.stop_lsn_text}, STOP TIME "
               f"{backup_end.stopped_at.isoformat()})" if backup_end is not None else "")
        return CheckResult.failed(name, f"target before the base backup ended: {outcome.fatal} ({want}){end}; "
                                        "choose a target after the backup's end (see recoverable_window)",
                                  expected=want,
                                  observed=outcome.fatal, evidence=ev)
    if outcome.state in ("failed", "shut_down"):
        return CheckResult.failed(name, f"the restored server stopped during recovery: "
                                        f"{outcome.fatal or 'no FATAL line in its log'}", expected=want,
                                  observed=outcome.state, evidence=ev)
    if outcome.state == "timeout":
        return CheckResult.failed(name, f"recovery did not end within {outcome.duration_s:.0f}s", expected=want,
                                  observed=outcome.state, evidence=ev)
    if outcome.state == "paused" or in_recovery:
        return CheckResult.failed(name, "recovery left paused: the server is still in recovery (read-only, "
                                        f"pg_is_in_recovery() = true) at {outcome.stop_line or 'the target'}; "
                                        "recovery_target_action must be 'promote' (or run pg_promote())",
                                  expected=want, observed="paused", evidence=ev)
    if in_recovery is None or timeline is None:
        return CheckResult.failed(name, "the restored server could not be queried after recovery", expected=want,
                                  evidence=ev)
    if target.kind != "immediate" and not outcome.stop_line:
        return CheckResult.failed(name, f"recovery ended without stopping at the target ({want}): no 'recovery "
                                        "stopping' line in the log", expected=want, evidence=ev)
    if outcome.new_timeline is None or timeline <= base_timeline or timeline != outcome.new_timeline:
        return CheckResult.failed(name, f"no new timeline after promotion (server on timeline {timeline}, log says "
                                        f"{outcome.new_timeline})", expected=f"timeline > {base_timeline}",
                                  observed=timeline, evidence=ev)
    last = outcome.last_commit_time.isoformat() if outcome.last_commit_time else "none"
    stop = outcome.stop_line or f"consistent at {outcome.consistent_at}"
    return CheckResult.passed(name, f"{stop}; last completed transaction at {last}; promoted on timeline {timeline} "
                                    f"in {outcome.duration_s:.2f}s", expected=want, observed=outcome.stop_line or
                              outcome.consistent_at, evidence=ev)


def expected_seqs(ledger: Sequence[LedgerEntry], boundary: datetime) -> set[int]:
    """Ledger transactions a restore to ``boundary`` must hold: those committed at or before it."""
    return {e.seq for e in ledger if e.committed_at <= boundary}


def pitr_exactness(ledger: Sequence[LedgerEntry], present: set[int] | None, boundary: datetime | None,
                   *, what: str = "the target") -> CheckResult:
    """Every ledger transaction committed at or before ``boundary`` is in the restore, and none after.

    ``ledger``: every transaction the live server committed (read before the restore). ``present``: the
    ledger seqs on the restored server (None: the ledger table is not there). ``boundary``: the commit
    time the target stands for (None: skipped, the target kind gives no time, e.g. immediate).
    """
    name = "pitr_exactness"
    if boundary is None:
        return CheckResult.skipped(name, f"{what} gives no commit time to judge the ledger against")
    if not ledger:
        return CheckResult.failed(name, "the write ledger is empty: nothing to judge exactness on")
    if present is None:
        return CheckResult.failed(name, "the restored server has no ledger table", expected=len(ledger))
    want = expected_seqs(ledger, boundary)
    after = {e.seq for e in ledger} - want
    missing, extra = sorted(want - present), sorted(present & after)
    ev = {"boundary": boundary.isoformat(), "ledger": len(ledger), "expected": len(want), "present": len(present),
          "missing": missing[:20], "extra": extra[:20]}
    if not want:
        return CheckResult.failed(name, f"no ledger transaction committed before {what} ({boundary.isoformat()}): "
                                        "the drill cannot judge the restore", evidence=ev)
    if missing or extra:
        by_seq = {e.seq: e for e in ledger}
        parts = []
        if missing:
            parts.append(f"{len(missing)} transaction(s) committed at or before {what} are missing (first: seq "
                         f"{missing[0]} committed {by_seq[missing[0]].committed_at.isoformat()})")
        if extra:
            parts.append(f"{len(extra)} committed after it are present (first: seq {extra[0]} committed "
                         f"{by_seq[extra[0]].committed_at.isoformat()})")
        return CheckResult.failed(name, "; ".join(parts), expected=len(want), observed=len(present & want),
                                  evidence=ev)
    return CheckResult.passed(name, f"all {len(want)} ledger transactions committed at or before {what} "
                                    f"({boundary.isoformat()}) are present, none of the {len(after)} after it",
                              expected=len(want), observed=len(present), evidence=ev)


def loss_figures(ledger: Sequence[LedgerEntry], present: set[int], target: datetime | None,
                 disaster_at: datetime) -> dict[str, Any]:
    """The data-loss figures, from the ledger alone: last kept transaction, window (ms), rows lost.

    window_ms = disaster_at - commit time of the newest ledger transaction in the restore; target_gap_ms =
    target - that commit time; lost = ledger transactions committed before the disaster but not restored.
    """
    kept = [e for e in ledger if e.seq in present]
    last = max(kept, key=lambda e: e.committed_at) if kept else None
    lost = [e for e in ledger if e.seq not in present and e.committed_at <= disaster_at]
    after = [e for e in ledger if e.committed_at > disaster_at]
    out: dict[str, Any] = {
        "disaster_at": disaster_at.isoformat(), "target": target.isoformat() if target else None,
        "last_kept": last.to_dict() if last else None,
        "window_ms": round((disaster_at - last.committed_at).total_seconds() * 1000, 3) if last else None,
        "target_gap_ms": round((target - last.committed_at).total_seconds() * 1000, 3) if last and target else None,
        "rows_lost": len(lost), "lost_first": [e.to_dict() for e in lost[:5]],
        "written_after_disaster": len(after),
    }
    return out


def data_loss_window(ledger: Sequence[LedgerEntry], present: set[int] | None, target: datetime | None,
                     disaster_at: datetime, rpo_s: float | None) -> CheckResult:
    """The measured data-loss window of this point-in-time restore, against the RPO. The one definition the
    rpo check, report.json (metrics.data_loss_window_ms, metrics.rpo_s) and the pages share.

    Window = disaster instant - commit time of the newest ledger transaction the restore holds (seconds,
    to the microsecond; reported in ms); also the target minus that commit, and the ledger rows committed
    before the disaster that the restore lacks. Fails when the window exceeds ``rpo_s`` or nothing of the
    ledger was restored; passes with the figures when no RPO is set.
    """
    name = "data_loss_window"
    if present is None:
        return CheckResult.failed(name, "the restored server has no ledger table: the loss cannot be measured")
    f = loss_figures(ledger, present, target, disaster_at)
    if f["last_kept"] is None:
        return CheckResult.failed(name, "no ledger transaction survived the restore: everything written since the "
                                        "ledger started is lost", evidence=f)
    window_s = round(f["window_ms"] / 1000, 6)  # the same figure the rpo check reports (microseconds)
    msg = (f"data-loss window {window_text(window_s)} (disaster at {f['disaster_at']} minus the last transaction "
           f"kept, committed {f['last_kept']['committed_at']}; {f['rows_lost']} ledger transaction(s) lost between "
           "them)")
    if rpo_s is not None and window_s > rpo_s:
        return CheckResult.failed(name, f"{msg}: exceeds the RPO of {rpo_s:g}s", expected=rpo_s, observed=window_s,
                                  evidence=f)
    return CheckResult.passed(name, msg + (f"; within the RPO of {rpo_s:g}s" if rpo_s is not None else ""),
                              expected=rpo_s, observed=window_s, evidence=f)
