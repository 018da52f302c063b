"""The CLI's contract: exit 0 passed, 1 failed, 2 errored; every run writes a report that validates
against the shipped JSON Schema; bad input is one line naming the fix; every command's --help has an
example."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

import restore_drill.reports as reports_pkg

CLI = str(Path(sys.executable).parent / "restore-drill")
SCHEMA = json.loads((Path(reports_pkg.__file__).parent / "schema" / "report.schema.json").read_text())


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={"PATH": "/usr/bin:/bin", "CI": "true", "HOME": str(cwd)})


def last_report(base: Path) -> dict:
    reports = sorted(base.glob("*/report.json"))
    assert reports, f"no report under {base}"
    rep = json.loads(reports[-1].read_text())
    jsonschema.validate(rep, SCHEMA)
    return rep


def test_passing_drill_exits_0_with_a_valid_report(tmp_path: Path) -> None:
    r = cli("run", "arqonbus-table-restore", "--report-dir", "runs", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    rep = last_report(tmp_path / "runs")
    assert rep["status"] == "passed" and rep["drills"][0]["status"] == "passed"
    assert "verdict: PASSED" in r.stdout and "report: " in r.stdout
    [line] = [ln for ln in r.stdout.splitlines() if ln.startswith("report: ")]  # one line, never wrapped
    assert line.endswith("compliance.html, evidence.sha256)") and "junit.xml" in line, r.stdout
    assert (tmp_path / "runs" / "history.jsonl").is_file()
    assert rep["drills"][0]["id"] == "arqonbus-table-restore[pg16-moto]"


def test_failing_check_exits_1(tmp_path: Path) -> None:
    # The operators' ArqonBus runbook as written: its restore never runs, so the data checks fail.
    r = cli("run", "arqonbus-table-restore", "--procedure", "runbook", "--report-dir", "runs", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    rep = last_report(tmp_path / "runs")
    assert rep["status"] == "failed"
    assert any(c["name"] == "row_counts" and c["status"] == "failed" for c in rep["drills"][0]["checks"])


@pytest.mark.parametrize("args, words", [
    (["run", "no-such-drill"], "unknown drill 'no-such-drill'"),
    (["run", "arqonbus-table-restore", "--scale", "-1"], "--scale must be a whole number >= 1"),
    (["run", "arqonbus-table-restore", "--step-timeout", "0"], "--step-timeout must be > 0"),
    (["run", "arqonbus-table-restore", "--pg-version", "11"], "PostgreSQL 11 not found"),
    (["run", "--disaster", "flood"], "Invalid value for '--disaster'"),
    (["runbook", "missing.md"], "runbook missing.md does not exist"),
    (["run", "arqonbus-table-restore", "--system", "pegasus"],
     "--system pegasus does not apply to arqonbus-table-restore (a drill of arqonbus)"),
])
def test_bad_input_is_one_line_exit_2_and_an_errored_report(tmp_path: Path, args: list[str], words: str) -> None:
    r = cli(*args, "--report-dir", "runs", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    first = r.stderr.strip().splitlines()[0]
    assert first.startswith("restore-drill: error:") and words in first, r.stderr
    assert "Traceback" not in r.stderr
    rep = last_report(tmp_path / "runs")
    assert rep["status"] == "errored" and rep["error"]["message"]


@pytest.mark.parametrize("command", ["run", "runbook", "verify-backup", "report", "list", "init"])
def test_every_command_help_explains_with_an_example(tmp_path: Path, command: str) -> None:
    r = cli(command, "--help", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Example" in r.stdout and "restore-drill " + command.split()[0] in r.stdout


def test_list_names_drills_systems_and_disasters(tmp_path: Path) -> None:
    r = cli("list", cwd=tmp_path)
    assert r.returncode == 0
    for word in ("pegasus-full-restore", "arqonbus-table-restore", "arqonbus", "pegasus", "mismatched-snapshots"):
        assert word in r.stdout


def test_list_columns_stay_aligned_for_long_names(tmp_path: Path) -> None:
    """Tester finding 15: each column starts at the same place on every row, also for a long system name."""
    from restore_drill import catalog

    long_name = "a-system-with-a-rather-long-name"
    (tmp_path / "seed.sql").write_text("CREATE TABLE public.t (id int PRIMARY KEY);\n")
    (tmp_path / "long.toml").write_text(f'name = "{long_name}"\ndescription = "a test system"\n[database]\ntables = ["public.t"]\n'
                                        '[data]\nsql = "seed.sql"\n')
    r = cli("list", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    drills = [ln for ln in lines if any(ln[4:].startswith(d.name + " ") for d in catalog.DRILLS)]
    assert len(drills) == len(catalog.DRILLS)
    for d, ln in zip(catalog.DRILLS, drills, strict=True):
        assert ln.index(d.description) == drills[0].index(catalog.DRILLS[0].description), lines
    first = lines.index("systems:") + 1
    systems = lines[first:lines.index("", first)]
    assert len(systems) == 3 and systems[-1].strip().startswith(long_name), r.stdout
    # where the description starts: after the (padded) name column
    assert len({re.match(r"\s+\S+\s+", ln).end() for ln in systems}) == 1, systems  # type: ignore[union-attr]


def test_report_rerenders_a_run_and_keeps_its_exit_status(tmp_path: Path) -> None:
    cli("run", "arqonbus-table-restore", "--report-dir", "runs", cwd=tmp_path)
    run_dir = next((tmp_path / "runs").glob("*/report.json")).parent
    (run_dir / "report.html").unlink()
    r = cli("report", str(run_dir), cwd=tmp_path)
    assert r.returncode == 0 and (run_dir / "report.html").is_file(), r.stderr
    h = cli("report", "--history", "--history-file", str(tmp_path / "runs" / "history.jsonl"), cwd=tmp_path)
    assert h.returncode == 0 and (tmp_path / "runs" / "history.html").is_file(), h.stderr
