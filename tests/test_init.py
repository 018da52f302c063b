"""`restore-drill init`: the README's walkthrough from a runbook to a passing drill, as a new user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.test_byo_system import RUNBOOK

CLI = str(Path(sys.executable).parent / "restore-drill")


def test_init_then_run_passes(tmp_path: Path) -> None:
    (tmp_path / "runbook.md").write_text(RUNBOOK)
    r = subprocess.run([CLI, "init", "myapp", "--runbook", "runbook.md"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    binding = (tmp_path / "myapp.binding.toml").read_text()
    assert 'backup = ["Backup"]' in binding and 'restore = ["Restore"]' in binding
    r = subprocess.run([CLI, "run", "--system", "myapp.toml", "--report-dir", "runs", "--quiet"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    rep = json.loads(next((tmp_path / "runs").glob("*/report.json")).read_text())
    assert r.returncode == 0 and rep["status"] == "passed", r.stdout + r.stderr
    assert "myapp-restore[pg" in r.stdout


def test_init_refuses_to_overwrite_and_bad_names(tmp_path: Path) -> None:
    assert subprocess.run([CLI, "init", "a"], cwd=tmp_path, capture_output=True).returncode == 0
    again = subprocess.run([CLI, "init", "a"], cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 2 and "already exists; pass --force" in again.stderr
    bad = subprocess.run([CLI, "init", "no spaces"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 2 and "use letters, digits" in bad.stderr
