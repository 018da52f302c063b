"""Every page derives from report.json (issue 13): with each check passed, failed, errored or skipped, no page
(report.md/html, compliance.md/html, junit.xml) shows "met" or "passed" where report.json does not, and
compliance says "executed end to end" only when every step ran as written."""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from restore_drill.checks.result import CheckResult, Status
from restore_drill.records import StepRecord
from restore_drill.reports.model import RunReport
from restore_drill.reports.writers import render_run, write_run
from tests.report_samples import passed_run

STATUSES = (Status.PASSED, Status.FAILED, Status.ERRORED, Status.SKIPPED)
OBJECTIVE = {"passed": "met", "failed": "not achieved", "errored": "not measured", "skipped": "no target"}


def _run_with(statuses: dict[str, Status]) -> RunReport:
    run = passed_run()
    d = run.drills[0]
    d.checks = [dataclasses.replace(c, status=statuses.get(c.name, c.status),
                                    message=f"{c.name} is {statuses.get(c.name, c.status).value}")
                for c in d.checks]
    return run


def _objective_cells(md: str) -> list[list[str]]:
    sec = md[md.index("## Recovery objectives"):md.index("## Checks")]
    rows = [r for r in sec.splitlines() if r.startswith("| ") and "[pg" in r]
    return [[c.strip() for c in r.strip("|").split("|")] for r in rows]


def _pages(tmp: Path, run: RunReport) -> dict[str, str]:
    write_run(run, tmp)
    return {p.name: p.read_text() for p in tmp.iterdir() if p.suffix in (".md", ".html", ".xml", ".json")}


@pytest.mark.parametrize("rto", STATUSES, ids=lambda s: f"rto-{s.value}")
@pytest.mark.parametrize("rpo", STATUSES, ids=lambda s: f"rpo-{s.value}")
def test_objectives_on_every_page_are_the_checks_own(tmp_path: Path, rto: Status, rpo: Status) -> None:
    pages = _pages(tmp_path, _run_with({"rto": rto, "rpo": rpo}))
    report = json.loads(pages["report.json"])
    checks = {c["name"]: c["status"] for c in report["drills"][0]["checks"]}
    (cells,) = _objective_cells(pages["compliance.md"])
    assert cells[3] == OBJECTIVE[checks["rto"]] and cells[6] == OBJECTIVE[checks["rpo"]]
    html = pages["compliance.html"]
    objectives = html[html.index('id="objectives"'):html.index("</table>", html.index('id="objectives"'))]
    met = objectives.count(">met<")
    assert met == [checks["rto"], checks["rpo"]].count("passed")


@pytest.mark.parametrize("status", STATUSES, ids=lambda s: s.value)
def test_every_check_shows_its_json_status_on_every_page(tmp_path: Path, status: Status) -> None:
    run = _run_with({n: status for n in ("row_counts", "table_checksums", "object_integrity", "rto", "rpo",
                                         "backup_artifact")})
    pages = _pages(tmp_path, run)
    report = json.loads(pages["report.json"])
    d = report["drills"][0]
    for c in d["checks"]:
        want = c["status"].upper()
        assert re.search(rf"\| {re.escape(d['id'])} \| {c['name']} \| {want} \|", pages["compliance.md"]), c["name"]
        assert f'<code>{c["name"]}</code></td><td class="st {c["status"]}">{want}</td>' in pages["compliance.html"]
    # JUnit: one testcase per check, failure/error/skipped exactly where report.json says so.
    root = ET.fromstring(pages["junit.xml"])
    cases = {tc.get("name"): tc for tc in root.iter("testcase")}
    for c in d["checks"]:
        tc = cases[c["name"]]
        kinds = {child.tag for child in tc}
        assert kinds == {"failed": {"failure"}, "errored": {"error"}, "skipped": {"skipped"}, "passed": set()}[
            c["status"]], (c["name"], kinds)
        if c["status"] in ("failed", "errored"):
            assert c["message"] in next(iter(tc)).get("message", "")
    # The verdict line of every page is the report's.
    assert f"**{report['status'].upper()}**" in pages["compliance.md"]
    drills_table = pages["report.md"].split("## Drills")[1].split("\n\n")[1]
    row = next(r for r in drills_table.splitlines() if r.startswith(f"| {d['id']} |"))
    assert f" {d['status']} |" in row
    if report["status"] != "passed":
        assert "**PASSED**" not in pages["compliance.md"] and " passed |" not in row


def test_compliance_says_end_to_end_only_when_every_step_ran_as_written(tmp_path: Path) -> None:
    run = passed_run()
    assert "executed end to end, every step as written" in _pages(tmp_path / "clean", run)["compliance.md"]
    rewritten = passed_run()
    s = rewritten.drills[0].steps[3]
    rewritten.drills[0].steps[3] = dataclasses.replace(s, status="not_run", reason="RESTORE_PREFIX left to the operator")
    rewritten.drills[0].steps.append(StepRecord("app tests", "verify", "pytest", "manual", reason="needs a person"))
    doc = _pages(tmp_path / "dev", rewritten)["compliance.md"]
    assert "executed end to end, every step as written" not in doc and "NOT executed end to end" in doc
    assert "RESTORE_PREFIX left to the operator" in doc and "app tests" in doc


def test_a_rewritten_step_is_a_deviation_that_survives_re_rendering(tmp_path: Path) -> None:
    """[placeholders] substitutions appear on the compliance page, not only in report.json."""
    run = passed_run()
    write_run(run, tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    data["drills"][0]["steps"][2]["substitutions"] = {"<backup-file>": "pegasus_2025-03-14.dump"}
    data["drills"][0]["steps"][2]["original"] = "pg_restore ... <backup-file>"
    (tmp_path / "report.json").write_text(json.dumps(data))
    render_run(tmp_path, allow_modified=True)
    doc = (tmp_path / "compliance.md").read_text()
    assert "rewritten" in doc and "<backup-file> -> pegasus_2025-03-14.dump" in doc
    assert "NOT executed end to end" in doc


def test_no_retention_policy_is_claimed_that_the_definition_does_not_declare(tmp_path: Path) -> None:
    run = passed_run()
    run.drills[0].checks.append(CheckResult.skipped(
        "retention", "no backup history given: pass --backup-history DIR or s3://bucket/prefix to check a "
        "retention policy (none is declared in the system definition: [retention] days_required)"))
    pages = _pages(tmp_path, run)
    assert all("7-day" not in text for text in pages.values())


def test_source_findings_are_reported_about_the_source(tmp_path: Path) -> None:
    """shared/cases/17-control-explicit-ids: the finding is listed as the source's, not as a restore failure."""
    run = passed_run()
    run.drills[0].checks.append(CheckResult.passed(
        "sequence_health", "the restore reproduced the source faithfully; source finding: ...",
        evidence={"source_findings": {"items": ["public.customers.id"],
                                      "message": "public.customers.id next value 1 <= data 50"}}))
    pages = _pages(tmp_path, run)
    assert run.status == "passed"
    for name in ("compliance.md", "report.md"):
        assert "public.customers.id" in pages[name] and "source" in pages[name]


def test_an_operator_input_the_drill_bound_is_a_listed_deviation(tmp_path: Path) -> None:
    """Pegasus as written: RESTORE_PREFIX is left to the operator; the drill binds it, and compliance lists it
    (the restore may still pass: a finding, not a failure)."""
    run = passed_run()
    write_run(run, tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    data["drills"][0]["steps"][3]["operator_inputs"] = [{
        "name": "$RESTORE_PREFIX", "value": "media-2025-03-14", "origin": "the drill's snapshot",
        "note": "$RESTORE_PREFIX is left to the operator at incident time; the drill bound it to 'media-2025-03-14' "
                "as an operator would; if empty this command copies the whole backup bucket"}]
    (tmp_path / "report.json").write_text(json.dumps(data))
    render_run(tmp_path, allow_modified=True)
    doc = (tmp_path / "compliance.md").read_text()
    assert "if empty this command copies the whole backup bucket" in doc and "NOT executed end to end" in doc
    assert "**PASSED**" in doc  # a finding, not a failed restore

