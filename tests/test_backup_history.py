"""--backup-history: the retention check runs against a folder of dated backups (7 days for Pegasus'
policy) and names the missing day; without it the check is skipped with the reason, never passed."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

CLI = str(Path(sys.executable).parent / "restore-drill")


def history(folder: Path, days: int, skip: int | None = None) -> Path:
    folder.mkdir()
    today = datetime.now(UTC).date()
    for i in range(days):
        if i != skip:
            (folder / f"arqonbus_continuum_projector_{(today - timedelta(days=i)):%Y%m%d}T030000Z.dump").write_bytes(b"x" * 64)
    return folder


def retention_of(tmp: Path, *args: str) -> tuple[int, dict]:
    r = subprocess.run([CLI, "run", "arqonbus-table-restore", "--report-dir", str(tmp / "runs"), "--quiet", *args],
                       capture_output=True, text=True, timeout=300)
    rep = json.loads(sorted((tmp / "runs").glob("*/report.json"))[-1].read_text())
    return r.returncode, next(c for c in rep["drills"][0]["checks"] if c["name"] == "retention")


def test_seven_days_of_backups_pass_and_a_missing_day_fails_naming_it(tmp_path: Path) -> None:
    code, ok = retention_of(tmp_path, "--backup-history", str(history(tmp_path / "full", 7)))
    assert code == 0 and ok["status"] == "passed", ok
    missing_day = (datetime.now(UTC).date() - timedelta(days=3)).isoformat()
    code, bad = retention_of(tmp_path, "--backup-history", str(history(tmp_path / "gap", 7, skip=3)))
    assert code == 1 and bad["status"] == "failed" and missing_day in bad["message"], bad


def test_without_a_history_retention_is_skipped_with_the_reason(tmp_path: Path) -> None:
    code, skipped = retention_of(tmp_path)
    assert code == 0 and skipped["status"] == "skipped" and "--backup-history" in skipped["message"]
