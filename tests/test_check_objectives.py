"""rto and rpo against their targets."""

from __future__ import annotations

from restore_drill.checks import rpo, rto
from restore_drill.checks.result import Status


def test_rto_within_and_over_target():
    assert rto(42.0, 60).status is Status.PASSED
    over = rto(75.5, 60)
    assert over.status is Status.FAILED and "75.5 s, over the RTO target of 60 s" in over.message
    assert over.evidence["rto_s"] == 75.5
    assert rto(1.0, None).status is Status.SKIPPED


def test_rpo_is_the_time_between_backup_start_and_last_write_lost():
    ok = rpo("2026-02-20T02:00:00Z", "2026-02-20T02:30:00Z", 3600)
    assert ok.status is Status.PASSED and ok.observed == 1800
    late = rpo("2026-02-20T02:00:00Z", "2026-02-20T05:00:00+00:00", 3600)
    assert late.status is Status.FAILED and late.evidence["rpo_s"] == 10800
    assert "data-loss window 10800.0 s" in late.message
    assert rpo("2026-02-20T02:00:00Z", None, 60).observed == 0.0  # nothing written after the backup
    assert rpo("2026-02-20T02:00:00Z", "2026-02-20T01:00:00Z", 60).observed == 0.0  # written before: kept
    assert rpo("2026-02-20T02:00:00Z", None, None).status is Status.SKIPPED
