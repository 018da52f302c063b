"""rto and rpo judged from outcomes: RTO is achieved only by a restore that restored; RPO is the data-loss
window between the newest write before the disaster and the newest write present after the restore."""

from __future__ import annotations

from restore_drill.checks import rpo, rto
from restore_drill.checks.result import CheckResult, Status


def test_rto_within_and_over_target():
    assert rto(42.0, 60).status is Status.PASSED
    over = rto(75.5, 60)
    assert over.status is Status.FAILED and "75.5 s, over the RTO target of 60 s" in over.message
    assert over.evidence["rto_s"] == 75.5
    assert rto(1.0, None).status is Status.SKIPPED


def test_rto_message_rounds_like_the_report_tables():
    """Tester finding 15: the message said "0.1 s" where the tables said "0.06 s"; one rounding now."""
    from restore_drill.reports.render import dur

    fast = rto(0.0613, 600)
    assert fast.message == f"restore took {dur(0.0613)}, within the RTO target of 600 s" == (
        "restore took 0.06 s, within the RTO target of 600 s")
    for s in (0.0613, 9.999, 75.5, 125.4, 3725.0):
        assert rto(s, 0.01).message.startswith(f"restore took {dur(s)}, over")


def test_rto_is_not_achieved_by_a_fast_restore_that_restored_nothing():
    """shared/cases/byo-sudo-wrapper and the ArqonBus runbook as written: 0.0 s, nothing restored."""
    ok = [CheckResult.passed("row_counts", "equal"), CheckResult.passed("table_checksums", "equal")]
    assert rto(0.5, 60, fidelity=ok).status is Status.PASSED
    bad = [CheckResult.failed("row_counts", "3 tables differ"), CheckResult.passed("table_checksums", "equal")]
    r = rto(0.0, 60, fidelity=bad)
    assert r.status is Status.FAILED and "not achieved" in r.message and "row_counts failed" in r.message
    assert r.evidence["achieved"] is False and r.evidence["restored"] is False
    errored = rto(0.0, 60, fidelity=[CheckResult.errored("row_counts", "no manifest")])
    assert errored.status is Status.FAILED and "row_counts errored" in errored.message
    nothing = rto(0.0, 60, fidelity=[CheckResult.skipped("object_integrity", "nothing to check")])
    assert nothing.status is Status.FAILED and "no data-fidelity check passed" in nothing.message
    # Without a target the restore still has to have restored before a time is reported.
    assert rto(0.0, None, fidelity=bad).status is Status.FAILED


def test_rpo_is_newest_write_before_the_disaster_minus_newest_write_restored():
    ok = rpo("2026-02-20T02:30:00Z", "2026-02-20T02:00:00Z", 3600)
    assert ok.status is Status.PASSED and ok.observed == 1800
    late = rpo("2026-02-20T05:00:00+00:00", "2026-02-20T02:00:00Z", 3600)
    assert late.status is Status.FAILED and late.evidence["rpo_s"] == 10800
    assert "data-loss window 10800.0 s" in late.message
    assert rpo("2026-02-20T02:00:00Z", "2026-02-20T02:00:00Z", 60).observed == 0.0  # everything came back
    assert rpo("2026-02-20T02:00:00Z", "2026-02-20T02:00:01Z", 60).observed == 0.0  # never negative
    assert rpo("2026-02-20T02:30:00Z", "2026-02-20T02:00:00Z", None).status is Status.SKIPPED


def test_rpo_with_nothing_restored_is_not_measured_never_zero():
    """shared/cases/byo-sudo-wrapper: a 0-byte dump restores nothing; the window is not 0 s."""
    r = rpo("2026-02-20T02:30:00Z", None, 3600, note="the write ledger is not in the restore")
    assert r.status is Status.ERRORED and r.message.startswith("not measured")
    assert r.observed is None and r.evidence["rpo_s"] is None and "ledger" in r.message
    assert rpo(None, "2026-02-20T02:00:00Z", 3600).status is Status.ERRORED
