"""retention over real folders and a real (moto) bucket of dated backups and snapshot prefixes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from restore_drill.checks import S3Location, retention
from restore_drill.checks.result import Status
from restore_drill.checks.retention import date_in

TODAY = date(2026, 2, 20)


def days(n: int, skip: tuple[int, ...] = ()) -> list[date]:
    return [TODAY - timedelta(days=i) for i in range(n) if i not in skip]


def dumps_folder(tmp_path, ds: list[date], fmt=lambda d: f"pegasus_{d.isoformat()}.dump"):
    folder = tmp_path / "backups"
    folder.mkdir()
    for d in ds:
        (folder / fmt(d)).write_bytes(b"PGDMP")
    return folder


def test_date_forms_of_the_runbooks():
    assert date_in("pegasus_2026-02-20.dump") == TODAY
    assert date_in("arqonbus_continuum_projector_20260220T101500Z.dump") == TODAY
    assert date_in("backup/pegasus-2026-02-20/") == TODAY
    assert date_in("notes.txt") is None


def test_seven_daily_backups_pass(tmp_path):
    res = retention(dumps_folder(tmp_path, days(8)), 7, today=TODAY)
    assert res.status is Status.PASSED, res.message
    assert "policy recommends 30" in res.message


def test_missing_day_fails_naming_it(tmp_path):
    res = retention(dumps_folder(tmp_path, days(10, skip=(3,))), 7, today=TODAY)
    assert res.status is Status.FAILED
    assert "1 of the last 7 days have no backup" in res.message and "2026-02-17" in res.message


def test_todays_backup_not_yet_run_shifts_the_window(tmp_path):
    folder = dumps_folder(tmp_path, days(8, skip=(0,)),
                          fmt=lambda d: f"arqonbus_continuum_projector_{d:%Y%m%d}T020000Z.dump")
    assert retention(folder, 7, today=TODAY).status is Status.PASSED
    assert retention(folder, 30, today=TODAY).status is Status.FAILED


def test_empty_files_do_not_count(tmp_path):
    folder = dumps_folder(tmp_path, days(7))
    (folder / f"pegasus_{(TODAY - timedelta(days=2)).isoformat()}.dump").write_bytes(b"")
    res = retention(folder, 7, today=TODAY)
    assert res.status is Status.FAILED and "2026-02-18" in res.message


@pytest.fixture
def history(s3_bucket):
    """Dumps and `aws s3 sync` snapshot prefixes as the Pegasus runbook leaves them in a backup bucket."""
    c = s3_bucket.endpoint.client()
    for d in days(7):
        c.put_object(Bucket=s3_bucket.name, Key=f"db/pegasus_{d.isoformat()}.dump", Body=b"PGDMP")
        if d != TODAY - timedelta(days=4):  # one day's storage snapshot is missing
            c.put_object(Bucket=s3_bucket.name, Key=f"pegasus-{d.isoformat()}/audio/a.wav", Body=b"x")
    return c, s3_bucket.name


def test_bucket_history_with_a_mismatched_snapshot_day_fails(history):
    c, b = history
    res = retention(S3Location(c, b, "db/"), 7, snapshots=S3Location(c, b, "pegasus-"), today=TODAY)
    assert res.status is Status.FAILED
    assert "1 database backup day(s) without a storage snapshot of the same day" in res.message
    assert "2026-02-16 (db/pegasus_2026-02-16.dump)" in res.message


def test_versioning_required_by_the_policy(history):
    c, b = history
    res = retention(S3Location(c, b, "db/"), 7, versioned_bucket=S3Location(c, b), today=TODAY)
    assert res.status is Status.FAILED and f"bucket {b} versioning is off" in res.message
    c.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    res = retention(S3Location(c, b, "db/"), 7, versioned_bucket=S3Location(c, b), today=TODAY)
    assert res.status is Status.PASSED, res.message


def test_no_location_is_skipped_and_missing_folder_fails(tmp_path):
    assert retention(None).status is Status.SKIPPED
    res = retention(tmp_path / "nope", today=TODAY)
    assert res.status is Status.FAILED and "does not exist" in res.message
