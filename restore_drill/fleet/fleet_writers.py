"""Write a fleet report folder: report.json (validated against fleet-report.schema.json), report.html
(verdict, then a row per system/backup job, then freshness per system), compliance.md and compliance.html
(every merged run's evidence hashes; the HTML is the Markdown rendered, so both say the same), junit.xml
(a testcase per row and per system's freshness) and evidence.sha256. Every page is rendered from the
report.json dict, never from anything else.
"""

from __future__ import annotations

import json
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from jsonschema import Draft202012Validator
from markdown_it import MarkdownIt

from restore_drill.errors import HarnessFault
from restore_drill.reports.evidence import write_evidence

from .merge import FleetReport

SCHEMA_PATH = Path(__file__).with_name("fleet-report.schema.json")
FILES = ("report.json", "report.html", "compliance.md", "compliance.html", "junit.xml", "evidence.sha256")


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validate(doc: dict[str, Any]) -> None:
    """Raise HarnessFault listing the first schema violations of a fleet report.json dict."""
    errs = sorted(_validator().iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    if errs:
        raise HarnessFault(f"fleet report does not match {SCHEMA_PATH.name}: "
                           + "; ".join(f"{e.json_path}: {e.message}" for e in errs[:5]))


_COLOUR = {"passed": "#1a7f37", "failed": "#cf222e", "errored": "#9a6700", "skipped": "#6e7781"}


def _badge(status: str) -> str:
    return f'<b style="color:{_COLOUR.get(status, "#000")}">{escape(status.upper())}</b>'


def render_html(doc: dict[str, Any]) -> str:
    """The fleet page: verdict and reasons, a row per job (system, drill or backup, Postgres, status,
    why), then each system's freshness."""
    rows = "".join(
        f"<tr><td>{escape(r['system'])}</td><td>{escape(r['kind'])}</td>"
        f"<td>{escape(r['backup']['path'] if r['backup'] else r['label'])}</td>"
        f"<td>{escape(r['drill_id'] or '-')}</td><td>{_badge(r['status'])}</td>"
        f"<td>{escape(r['status_reason'])}</td><td>{escape(r['finished_at'] or '')}</td>"
        f"<td>{escape(r['run_id'])}</td></tr>" for r in doc["rows"])
    systems = "".join(
        f"<tr><td>{escape(s['system'])}</td><td>{escape(s['last_passed_at'] or 'never')}</td>"
        f"<td>{escape(s['newest_backup_at'] or 'not evidenced')}</td>"
        f"<td>{escape(str(s['backup_policy_s']) + ' s (' + s['policy_source'] + ')' if s['policy_source'] else '-')}</td>"
        f"<td>{'; '.join(escape(x['reason'] + ': ' + x['message']) for x in s['stale']) or 'fresh'}</td></tr>"
        for s in doc["systems"])
    reasons = "".join(f"<li>{escape(x)}</li>" for x in doc["reasons"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>restore-drill fleet report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}}</style></head><body>
<h1>Fleet verdict: {_badge(doc['status'])}</h1>
<p>{len(doc['rows'])} jobs from {len(doc['runs'])} run folders; ages as of {escape(doc['as_of'])};
drills must have passed within {doc['policy']['max_age_days']:g} days.</p>
<ul>{reasons}</ul>
<h2>Jobs (a row per system and backup)</h2>
<table><tr><th>system</th><th>kind</th><th>drill / backup</th><th>drill id</th><th>status</th><th>why</th>
<th>finished</th><th>run</th></tr>{rows}</table>
<h2>Freshness</h2>
<table><tr><th>system</th><th>last passing drill</th><th>newest backup taken</th><th>backup policy</th>
<th>stale</th></tr>{systems}</table>
<p>Evidence: <a href="compliance.html">compliance.html</a> (and compliance.md) lists every run folder's
evidence.sha256 and its files' hashes.</p>
</body></html>
"""


OBJECTIVE_CHECKS = ("rto", "rpo", "data_loss_window")  # the checks whose measurement an auditor files


def _cell(text: str) -> str:
    """``text`` fit for one Markdown table cell (pipes escaped, one line)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def render_compliance(doc: dict[str, Any]) -> str:
    """Markdown for an auditor: the verdict, then per merged run its source, status, the sha256 of its
    evidence.sha256, whether it still matches, and every file hash it lists."""
    out = ["# restore-drill fleet compliance report", "",
           f"- verdict: **{doc['status'].upper()}** (as of {doc['as_of']}, generated {doc['generated_at']})",
           f"- tool: {doc['tool']['name']} {doc['tool']['version']}; plan: {doc['plan_id'] or '-'}",
           f"- runs merged: {len(doc['runs'])}; jobs: {len(doc['rows'])}; stale systems: "
           f"{len({s['system'] for s in doc['stale']})}", ""]
    if doc["reasons"]:
        out += ["## Findings", ""] + [f"- {r}" for r in doc["reasons"]] + [""]
    out += ["## Recovery objectives per job", "",
            "What each job's own checks measured (rto, rpo, data_loss_window), as its run recorded them.", "",
            "| system | job | status | " + " | ".join(OBJECTIVE_CHECKS) + " |",
            "|---|---|---|" + "---|" * len(OBJECTIVE_CHECKS)]
    for r in doc["rows"]:
        said = {c["name"]: f"{c['status']}: {c['message']}" for c in r["checks"] if c["name"] in OBJECTIVE_CHECKS}
        cells = [r["system"], r["label"], r["status"], *(said.get(n, "not measured") for n in OBJECTIVE_CHECKS)]
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    out += ["", "## Evidence per run", ""]
    for r in doc["runs"]:
        state = "matches" if not r["evidence_problems"] else "DOES NOT MATCH: " + "; ".join(r["evidence_problems"])
        out += [f"### {r['run_id']} ({r['status']})", "", f"- source: {r['source']}",
                f"- shard: {r['shard'] or '-'}; plan: {r['plan_id'] or '-'}",
                f"- evidence.sha256 sha256: `{r['evidence_sha256'] or 'missing'}` ({state})", "", "```"]
        out += [f"{digest}  {rel}" for rel, digest in sorted(r["evidence"].items())] + ["```", ""]
    return "\n".join(out) + "\n"


def render_compliance_html(doc: dict[str, Any]) -> str:
    """compliance.md rendered to one HTML page (markdown-it-py, CommonMark with tables; raw HTML in the
    Markdown is escaped, so a run's text cannot inject markup) for an auditor who files pages, not Markdown."""
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(render_compliance(doc))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>restore-drill fleet compliance report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:70em}}pre{{background:#f6f8fa;padding:8px;
overflow-x:auto}}</style></head><body>
{body}</body></html>
"""


def render_junit(doc: dict[str, Any]) -> str:
    """JUnit XML: suite ``restore-drill fleet``, a testcase per row (classname = system) and one
    ``freshness`` testcase per system."""
    cases: list[ET.Element] = []
    failures = errors = 0
    for r in doc["rows"]:
        tc = ET.Element("testcase", classname=r["system"], name=r["label"])
        if r["status"] == "failed":
            failures += 1
            ET.SubElement(tc, "failure", message=r["status_reason"][:500]).text = r["status_reason"]
        elif r["status"] == "errored":
            errors += 1
            ET.SubElement(tc, "error", message=r["status_reason"][:500]).text = r["status_reason"]
        cases.append(tc)
    for s in doc["systems"]:
        tc = ET.Element("testcase", classname=s["system"], name="freshness")
        if s["stale"]:
            failures += 1
            text = "; ".join(f"{x['reason']}: {x['message']}" for x in s["stale"])
            ET.SubElement(tc, "failure", message=text[:500], type=s["stale"][0]["reason"]).text = text
        cases.append(tc)
    suite = ET.Element("testsuite", name="restore-drill fleet", tests=str(len(cases)), failures=str(failures),
                       errors=str(errors), timestamp=doc["generated_at"])
    suite.extend(cases)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_fleet(fleet: FleetReport, out: Path) -> Path:
    """Write the fleet folder ``out`` (created); returns it. Raises HarnessFault for an invalid report."""
    doc = fleet.to_dict()
    text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    validate(json.loads(text))
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(text, encoding="utf-8")
    (out / "report.html").write_text(render_html(doc), encoding="utf-8")
    (out / "compliance.md").write_text(render_compliance(doc), encoding="utf-8")
    (out / "compliance.html").write_text(render_compliance_html(doc), encoding="utf-8")
    (out / "junit.xml").write_text(render_junit(doc), encoding="utf-8")
    write_evidence(out)
    return out
