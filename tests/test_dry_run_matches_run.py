"""``--dry-run`` says what the real run does (tester finding 14): a step the binding replaces (the stand-in
API, the write smoke) is shown replaced, not "not run (manual block)", and an operator input the runbook
reads but never defines (RESTORE_PREFIX) is shown as left to the operator and bound to the drill's backup."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from restore_drill.runbook.values import OPERATOR_VARIABLES

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "restore-drill")
_LINE = re.compile(r"^\s*\d+\. \w+\s+(?P<name>.+? #\d+) \(line \d+\):(?P<rest>.*)$")


def _pegasus(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, "runbook", str(ROOT / "drills/runbooks/pegasus.md"), "--system", "pegasus",
                           "--report-dir", str(tmp_path / "runs"), "--quiet", *extra],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)


def test_pegasus_dry_run_shows_what_the_real_run_replaces_and_binds(tmp_path: Path) -> None:
    """Pegasus runbook (drills/runbooks/pegasus.md): every step's dry-run line agrees with the real run's
    record, step by step."""
    dry = _pegasus(tmp_path, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    lines = {m["name"]: m["rest"] for ln in dry.stdout.splitlines() if (m := _LINE.match(ln))}
    # the operator input line follows its step's commands
    restore_prefix = [ln for ln in dry.stdout.splitlines() if "$RESTORE_PREFIX <-" in ln]
    assert restore_prefix and all("$RESTORE_PREFIX <- left to the operator; bound to the drill's backup" in ln
                                  for ln in restore_prefix), restore_prefix

    real = _pegasus(tmp_path)
    assert real.returncode == 0, real.stdout + real.stderr
    report = json.loads(sorted((tmp_path / "runs").glob("*/report.json"))[-1].read_text())
    steps = [s for s in report["drills"][0]["steps"] if s.get("kind") != "hook"]
    assert {s["name"] for s in steps} <= set(lines), (sorted(lines), [s["name"] for s in steps])
    replaced = [s["name"] for s in steps if s["status"] == "replaced"]
    assert replaced == ["Restore workflow #3", "Restore workflow #5"]
    for s in steps:
        shown = lines[s["name"]]
        if s["status"] == "replaced":
            assert shown.strip().startswith("replaced by restore-drill "), (s["name"], shown)
        elif s["status"] == "manual":
            assert shown == " not run (manual block)", (s["name"], shown)
        else:
            assert shown == "", (s["name"], shown)  # its commands follow on the next lines
    bound = {oi["name"].lstrip("$") for s in steps for oi in s.get("operator_inputs", [])}
    assert "RESTORE_PREFIX" in bound and all(v in dry.stdout for v in bound & set(OPERATOR_VARIABLES))
