"""The default report dir (reports/runs) is relative: a drill started from any folder still gives its steps
an absolute private HOME (aws, s3cmd configs) and removes it at tear-down (tester finding 2)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_runbook_byo import CLI, failed_checks, make, steps

RUNBOOK = """\
    # Shop media

    ## Backup

    ```bash
    pg_dump -Fc "$DATABASE_URL" -f shop.dump
    aws configure set default.s3.max_concurrent_requests 4
    aws s3 ls s3://$S3_BUCKET/$S3_PREFIX/
    s3cmd sync s3://$S3_BUCKET/$S3_PREFIX/ media-backup/
    ```

    ## Restore

    ```bash
    pg_restore --clean --if-exists -d "$DATABASE_URL" shop.dump
    s3cmd sync media-backup/ s3://$S3_BUCKET/$S3_PREFIX/
    ```
"""


@pytest.mark.skipif(shutil.which("s3cmd", path=str(Path(sys.executable).parent)) is None,
                    reason="s3cmd is not in the venv (make installs it)")
def test_default_relative_report_dir_gives_steps_absolute_configs_and_leaves_no_home(tmp_path: Path) -> None:
    """shared/cases/byo-s3cmd, run from a scratch folder with no --report-dir (so reports/runs, relative):
    aws and s3cmd reach the drill's endpoint, and no .home/.aws/.s3cfg stays anywhere in the run folder."""
    system = make(tmp_path / "shop", RUNBOOK, """\
        backup_globs = ["*.dump"]
        [phases]
        backup = ["Backup"]
        restore = ["Restore"]
    """, objects={"a/readme.txt": b"how to restore\n" * 40, "b/notes.txt": b"notes\n"})
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    r = subprocess.run([CLI, "run", "--system", str(system), "--procedure", "runbook", "--disaster",
                        "delete-objects", "--quiet"], capture_output=True, text=True, timeout=300, cwd=cwd)
    reports = sorted((cwd / "reports" / "runs").glob("*/report.json"))
    assert reports, r.stdout + r.stderr
    d = json.loads(reports[-1].read_text())["drills"][0]
    ran = steps(d, "backup") + steps(d, "restore")
    assert [s["status"] for s in ran] == ["passed", "passed"], [(s["command"], s["stderr_tail"]) for s in ran]
    assert r.returncode == 0 and d["status"] == "passed", failed_checks(d)
    private = [str(p.relative_to(cwd)) for p in cwd.rglob("*")
               if p.name in (".home", ".aws", ".s3cfg", "credentials", "rclone.conf")]
    assert private == []
