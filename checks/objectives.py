"""rto and rpo: recovery time and data-loss window judged from outcomes, against the system's targets.

RTO is *achieved* only by a restore that really restored: every data-fidelity check of the drill passed
(``checks/registry.py`` marks them). RPO is the data-loss window measured from restored data (the write
ledger, ``seeds/ledger.py``): the newest write committed before the disaster minus the newest write
present after the restore. Nothing to measure gives "not measured" (errored), never 0 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from restore_drill.foundation import seconds_text

from ._util import human_duration, parse_time, timed
from .result import CheckResult, Status


@timed("rto")
def rto(measured_s: float, target_s: float | None, *, fidelity: Sequence[CheckResult] | None = None) -> CheckResult:
    """The restore restored and took no longer than the recovery-time objective.

    ``measured_s``: seconds the restore phase took. ``fidelity``: the drill's data-fidelity check results;
    when given, any that failed or errored (or none that passed) makes the objective "not achieved",
    whatever the time, with the reason. ``target_s`` None: skipped (no target declared).
    """
    name = "rto"
    ev: dict[str, object] = {"rto_s": round(measured_s, 3), "target_s": target_s, "achieved": False}
    if fidelity is not None:
        bad = [r for r in fidelity if r.status in (Status.FAILED, Status.ERRORED)]
        passed = [r for r in fidelity if r.status is Status.PASSED]
        ev["fidelity_checks"] = {r.name: r.status.value for r in fidelity}
        if bad or not passed:
            ev["restored"] = False  # no recovery happened, so there is no recovery time (metrics rto_s: null)
            why = ("; ".join(f"{r.name} {r.status.value}" for r in bad) if bad
                   else "no data-fidelity check passed")
            return CheckResult.failed(name, f"not achieved: the restore took {seconds_text(measured_s)} but did not restore "
                                      f"the data ({why})", expected=target_s, observed=None, evidence=ev)
    if target_s is None:
        return CheckResult.skipped(name, f"restore took {human_duration(measured_s)}; no RTO target configured",
                                   observed=measured_s, evidence=ev)
    if measured_s > target_s:
        return CheckResult.failed(name, f"restore took {seconds_text(measured_s)}, over the RTO target of {target_s:g} s",
                                  expected=target_s, observed=measured_s, evidence=ev)
    ev["achieved"] = True
    return CheckResult.passed(name, f"restore took {seconds_text(measured_s)}, within the RTO target of {target_s:g} s",
                              expected=target_s, observed=measured_s, evidence=ev)


def window_text(seconds: float) -> str:
    """A data-loss window (seconds) for messages and pages, the one format rpo, data_loss_window and the report
    pages share: under a minute in milliseconds to the microsecond ("104.336 ms", "3002.615 ms"; the write
    ledger times commits to the microsecond), else seconds to a tenth ("10800.0 s")."""
    return f"{seconds * 1000:.3f} ms" if seconds < 60 else f"{seconds:.1f} s"


@timed("rpo")
def rpo(newest_before: str | datetime | None, newest_restored: str | datetime | None, target_s: float | None,
        *, note: str = "") -> CheckResult:
    """The data-loss window is within the recovery-point objective.

    ``newest_before``: commit time of the newest write made before the disaster (write ledger or the
    late writes); ``newest_restored``: commit time of the newest write present in the restored data.
    Window = newest_before - newest_restored, in seconds (never negative). Either missing: errored
    "not measured" (``note`` says why), never a 0 s window.
    """
    name = "rpo"
    if newest_before is None or newest_restored is None:
        missing = ("no write was recorded before the disaster" if newest_before is None
                   else "the restored data holds no write to measure from")
        return CheckResult.errored(name, f"not measured: {missing}" + (f" ({note})" if note else ""),
                                   evidence={"rpo_s": None, "target_s": target_s, "note": note,
                                             "newest_write_before_disaster": str(newest_before) if newest_before else None,
                                             "newest_write_restored": str(newest_restored) if newest_restored else None})
    before, restored = parse_time(newest_before), parse_time(newest_restored)
    window = max(0.0, (before - restored).total_seconds())
    window = round(window, 6)  # timestamps are to the microsecond: no float artefacts in report.json
    ev = {"rpo_s": window, "target_s": target_s, "newest_write_before_disaster": before.isoformat(),
          "newest_write_restored": restored.isoformat(), "note": note}
    if target_s is None:
        shown = window_text(window) if window < 60 else human_duration(window)
        return CheckResult.skipped(name, f"data-loss window {shown}; no RPO target configured",
                                   observed=window, evidence=ev)
    if window > target_s:
        return CheckResult.failed(name, f"data-loss window {window_text(window)} (newest write before the disaster "
                                  f"{before.isoformat()}, newest write restored {restored.isoformat()}) is over the "
                                  f"RPO target of {target_s:g} s", expected=target_s, observed=window, evidence=ev)
    return CheckResult.passed(name, f"data-loss window {window_text(window)} (newest write restored {restored.isoformat()}), "
                              f"within the RPO target of {target_s:g} s", expected=target_s, observed=window,
                              evidence=ev)
