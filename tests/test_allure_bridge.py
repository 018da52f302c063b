"""allure results: a step per procedure step with its log, the check table attached, only with --alluredir.

Each case runs pytest in a subprocess on a tiny test that emits a hand-made failed drill, so the real
allure-pytest plugin writes (or does not write) real result files."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from restore_drill.reports.allure_bridge import allure_active, emit_drill
from tests.report_samples import failed_drill

ROOT = Path(__file__).resolve().parent.parent

TINY_TEST = '''
import os
from restore_drill.reports.allure_bridge import emit_drill
from tests.report_samples import failed_drill

def test_drill(pytestconfig):
    emitted = emit_drill(failed_drill(), pytestconfig)
    assert emitted is (os.environ["EXPECT_ALLURE"] == "1")
'''


def _run_pytest(tmp_path: Path, *args: str, expect: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_tiny_drill.py").write_text(TINY_TEST)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EXPECT_ALLURE": "1" if expect else "0"}
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--rootdir",
         str(tmp_path), "test_tiny_drill.py", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def test_alluredir_gets_steps_and_attachments(tmp_path: Path) -> None:
    out = tmp_path / "allure-results"
    _run_pytest(tmp_path, f"--alluredir={out}", expect=True)
    results = [json.loads(p.read_text()) for p in out.glob("*-result.json")]
    assert len(results) == 1
    result = results[0]
    drill = failed_drill()
    steps = result["steps"]
    assert [s["name"] for s in steps] == [f"{i}. [{s.phase}] {s.name} — {s.status}"
                                         for i, s in enumerate(drill.steps, 1)]
    assert [s["status"] for s in steps] == ["passed", "passed", "failed", "skipped"]
    assert steps[2]["statusDetails"]["message"].startswith("AssertionError: pg_restore exited 1")
    # times are the recorded ones, not the moment of emission
    assert steps[2]["stop"] - steps[2]["start"] == int(drill.steps[2].duration_s * 1000)
    params = {p["name"]: p["value"] for p in steps[2]["parameters"]}
    assert "continuum.dump" in params["command"] and params["exit_code"] == "1"
    # every step carries its log; the failing step's log has the real stderr
    for s in steps:
        assert len(s["attachments"]) == 1 and s["attachments"][0]["type"] == "text/plain"
    log = (out / steps[2]["attachments"][0]["source"]).read_text()
    assert "cannot drop table continuum_nodes" in log and "exit code: 1" in log
    # the check table, on the test itself
    (table,) = [a for a in result["attachments"] if a["type"] == "text/csv"]
    rows = list(csv.DictReader(io.StringIO((out / table["source"]).read_text())))
    assert [(r["check"], r["status"]) for r in rows] == [(c.name, c.status.value) for c in drill.checks]
    assert json.loads(rows[2]["observed"]) == {"public.continuum_nodes": 0}


def test_without_alluredir_nothing_is_written(tmp_path: Path) -> None:
    _run_pytest(tmp_path, expect=False)
    assert not list(tmp_path.rglob("*-result.json"))
    assert not list(tmp_path.rglob("*-attachment*"))


def test_bridge_imports_no_allure_and_is_inert_outside_pytest() -> None:
    code = ("import sys\n"
            "from restore_drill.reports.allure_bridge import emit_drill\n"
            "from tests.report_samples import failed_drill\n"
            "assert emit_drill(failed_drill()) is False\n"
            "heavy = sorted(m for m in sys.modules if m.startswith(('allure', 'jinja2', 'pytest', '_pytest')))\n"
            "print(heavy)\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_inactive_in_this_session_without_alluredir(pytestconfig: pytest.Config) -> None:
    # make test runs without --alluredir: the bridge must see that and do nothing.
    if pytestconfig.getoption("allure_report_dir", default=None):
        pytest.skip("this session has --alluredir; the subprocess tests cover both cases")
    assert allure_active(pytestconfig) is False
    assert emit_drill(failed_drill(), pytestconfig) is False
