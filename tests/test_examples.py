"""examples/: public open-source runbooks (paraphrased, sources in each SOURCE.md) drilled as a new user would:
`restore-drill init` on the runbook finds the names the commands use, the committed binding only declares
(phases, [names], a snapshot), and the drill passes under the disaster the procedure is written for and fails
under one it cannot handle."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "restore-drill")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytestmark = pytest.mark.slow

CASES = [  # (example, disaster it passes under, disaster it fails under, a check or step that fails)
    ("mastodon", "database-lost", "truncate", "restore_exit_status"),
    ("mattermost", "delete-prefix", "overwrite-objects", "object_integrity"),
    ("mattermost", "host-lost", "overwrite-objects", "object_integrity"),
    ("peertube", "drop-table", "host-lost", "restore_exit_status"),
]


def _copy(name: str, tmp: Path) -> Path:
    dest = tmp / name
    shutil.copytree(EXAMPLES / name, dest)
    return dest


def _drill(folder: Path, name: str, disaster: str) -> tuple[int, dict]:
    runs = folder / "runs"
    r = subprocess.run([CLI, "run", "--system", f"{name}.toml", "--procedure", "runbook", "--disaster", disaster,
                        "--report-dir", str(runs), "--quiet"], cwd=folder, capture_output=True, text=True, timeout=600)
    reports = sorted(runs.glob("*/report.json"))
    assert reports, r.stdout + r.stderr
    return r.returncode, json.loads(reports[-1].read_text())["drills"][0]


@pytest.mark.parametrize("name", sorted({c[0] for c in CASES}))
def test_init_finds_the_names_the_committed_binding_declares(tmp_path: Path, name: str) -> None:
    folder = _copy(name, tmp_path)
    committed = tomllib.loads((folder / f"{name}.binding.toml").read_text())
    (folder / f"{name}.binding.toml").unlink()
    (folder / f"{name}.toml").unlink()
    r = subprocess.run([CLI, "init", name, "--runbook", "runbook.md"], cwd=folder, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    fresh = tomllib.loads((folder / f"{name}.binding.toml").read_text())
    assert fresh["names"] == committed["names"]
    assert fresh["phases"] == committed["phases"]
    assert fresh.get("snapshot") == committed.get("snapshot")


@pytest.mark.parametrize("name, passes, fails, failing", CASES, ids=lambda v: str(v))
def test_example_passes_and_fails_under_the_right_disasters(tmp_path: Path, name: str, passes: str, fails: str,
                                                             failing: str) -> None:
    folder = _copy(name, tmp_path)
    code, d = _drill(folder, name, passes)
    bad = {c["name"]: c["message"] for c in d["checks"] if c["status"] in ("failed", "errored")}
    assert code == 0 and d["status"] == "passed", bad
    assert all(s["command"] == s["original"] for s in d["steps"] if s.get("kind") == "shell")
    code, d = _drill(folder, name, fails)
    bad = {c["name"]: c["message"] for c in d["checks"] if c["status"] in ("failed", "errored")}
    assert code == 1 and d["status"] == "failed" and failing in bad, bad
