"""junit.xml for CI systems that ingest JUnit: one testcase per drill x check, derived from the RunReport
(report.json) only, so it can never say more than the report does.

Format: the de-facto JUnit XML schema as Jenkins/GitLab/GitHub consume it (testsuites > testsuite >
testcase with failure / error / skipped children; see the "JUnit XML format" notes of the
testmoapp/junitxml repository). A drill with no check, or one stopped by an error, gets one testcase
named after the drill that carries the error, so an errored drill never shows as an empty green suite.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .model import DrillReport, RunReport

JUNIT_FILE = "junit.xml"


def _case(suite: ET.Element, drill: DrillReport, name: str, status: str, message: str, time_s: float) -> None:
    case = ET.SubElement(suite, "testcase", classname=drill.id, name=name, time=f"{max(0.0, time_s):.3f}")
    if status == "failed":
        ET.SubElement(case, "failure", message=message, type="failed").text = message
    elif status == "errored":
        ET.SubElement(case, "error", message=message, type="errored").text = message
    elif status == "skipped":
        ET.SubElement(case, "skipped", message=message)


def junit_xml(run: RunReport) -> str:
    """The junit.xml text for ``run``: one ``testsuite`` per drill (named by its id), one ``testcase`` per
    check (``name`` = the check's stable name, ``classname`` = the drill id); failed checks carry a
    ``<failure>``, errored ones an ``<error>``, skipped ones ``<skipped>``, each with the check's message.
    A drill error (or a drill with no check) adds a testcase ``drill`` carrying it; failed/errored
    procedure steps add one testcase ``step: <name>`` each."""
    root = ET.Element("testsuites", name=f"restore-drill {run.run_id}")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for d in run.drills:
        suite = ET.SubElement(root, "testsuite", name=d.id, timestamp=d.started_at or run.started_at)
        for c in d.checks:
            _case(suite, d, c.name, c.status.value, c.message, c.duration_s)
        for s in d.steps:
            if s.status in ("failed", "errored"):
                why = s.reason or next((ln for ln in s.stderr_tail.splitlines() if ln.strip()), "")
                _case(suite, d, f"step: {s.name}", s.status, f"exit {s.exit_code}: {why} ({s.command})", s.duration_s)
        if d.error is not None or not d.checks:
            msg = f"{d.error.type}: {d.error.message}" if d.error else "no check produced evidence"
            _case(suite, d, "drill", d.error.status if d.error else "errored", msg, d.duration_s)
        counts = {"tests": len(suite), "failures": len(suite.findall("testcase/failure")),
                  "errors": len(suite.findall("testcase/error")), "skipped": len(suite.findall("testcase/skipped"))}
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("time", f"{d.duration_s:.3f}")
    if run.error is not None and not run.drills:
        suite = ET.SubElement(root, "testsuite", name="run", tests="1")
        case = ET.SubElement(suite, "testcase", classname="run", name="run", time="0.000")
        tag = "failure" if run.error.status == "failed" else "error"
        msg = f"{run.error.type}: {run.error.message}"
        ET.SubElement(case, tag, message=msg, type=run.error.status).text = msg
        suite.set("failures" if tag == "failure" else "errors", "1")
        totals["tests"] += 1
        totals["failures" if tag == "failure" else "errors"] += 1
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", f"{run.duration_s:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(run: RunReport, run_dir: Path) -> Path:
    """Write ``run_dir/junit.xml`` (atomically: a temp file renamed); returns its path. Raises OSError
    when the folder cannot be written."""
    path = run_dir / JUNIT_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(junit_xml(run), encoding="utf-8")
    tmp.replace(path)
    return path
