"""Writers: the run folder (JSON, Markdown, HTML), re-rendering, history, and secrets kept out."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from restore_drill.checks.result import CheckResult
from restore_drill.errors import BadInput, HarnessFault, ProcedureFailed
from restore_drill.records import StepRecord
from restore_drill.redact import Redactor, redact_url
from restore_drill.reports.evidence import verify_evidence
from restore_drill.reports.history import read_history
from restore_drill.reports.model import ErrorInfo, Matrix
from restore_drill.reports.validation import SCHEMA_PATH
from restore_drill.reports.writers import (
    REPORT_FILES,
    append_history,
    load_run,
    render_history,
    render_run,
    write_run,
)
from tests.report_samples import errored_run, failed_run, passed_run


def _written(run_dir: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(run_dir.iterdir()) if p.is_file())


def test_write_run_writes_every_file_and_json_matches_the_schema_file(tmp_path: Path) -> None:
    run = failed_run()
    paths = write_run(run, tmp_path / "run")
    assert sorted(paths) == sorted(REPORT_FILES)
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths.values())
    data = json.loads(paths["report.json"].read_text())
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()), cls=jsonschema.Draft202012Validator)
    assert data["status"] == "failed" and data["drills"][1]["status"] == "failed"
    assert data["drills"][1]["steps"][2]["exit_code"] == 1
    assert {c["name"]: c["status"] for c in data["drills"][1]["checks"]}["row_counts"] == "failed"
    assert data["drills"][0]["metrics"]["rto_s"] == 4.3
    assert verify_evidence(tmp_path / "run") == []


def test_markdown_puts_verdict_first_then_what_failed(tmp_path: Path) -> None:
    md = write_run(failed_run(), tmp_path / "f")["report.md"].read_text()
    assert md.splitlines()[0].startswith("# ✘ FAILED")
    why, drills = md.index("## What failed and why"), md.index("## Drills")
    assert why < drills
    section = md[why:drills]
    assert "row_counts" in section and "table-scoped restore" in section and "OPS-412" in section
    assert "pegasus-full-restore" not in section  # the passed drill is not in the failure list
    ok = write_run(passed_run(), tmp_path / "p")["report.md"].read_text()
    assert ok.splitlines()[0].startswith("# ✔ PASSED") and "What failed" not in ok
    err = write_run(errored_run(), tmp_path / "e")["report.md"].read_text()
    assert err.splitlines()[0].startswith("# ⚠ ERRORED")
    assert "InfraUnavailable" in err[: err.index("## Drills")]


def test_markdown_tables_survive_pipes_and_newlines_in_messages(tmp_path: Path) -> None:
    run = passed_run()
    run.drills[0].checks[0] = CheckResult.passed("backup_artifact", "tables a|b\nand c | d")
    md = write_run(run, tmp_path)["report.md"].read_text()
    row = next(line for line in md.splitlines() if line.startswith("| backup_artifact"))
    assert len(re.findall(r"(?<!\\)\|", row)) == 4  # 3 cells -> 4 unescaped pipes
    assert r"a\|b and c \| d" in row


def test_html_is_self_contained_with_a_phase_timeline(tmp_path: Path) -> None:
    run = failed_run()
    html = write_run(run, tmp_path)["report.html"].read_text()
    assert "<style>" in html
    assert not re.search(r"""(?i)<(script|link|img|iframe)\b""", html)
    assert not re.search(r"""(?i)(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "url(" not in html and "@import" not in html
    n_phases = sum(len(d.phases) for d in run.drills)
    assert html.count('<rect class="phase ') == n_phases == 14
    assert 'class="phase phase-restore status-failed"' in html
    assert re.search(r'<header class="verdict failed" id="verdict">\s*<div class="big">✘ FAILED', html)


def test_html_escapes_markup_from_records(tmp_path: Path) -> None:
    run = passed_run()
    run.drills[0].checks[0] = CheckResult.passed("backup_artifact", "<script>alert(1)</script>")
    html = write_run(run, tmp_path)["report.html"].read_text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


def test_matrix_is_rendered(tmp_path: Path) -> None:
    """Rows are target versions, columns checks; a cell carries its status and, where it did not pass,
    the reason (the issue's "cells pass/fail with the reason")."""
    run = passed_run()
    run.matrix = Matrix(["15.13", "16.4", "18.0"], ["row_counts", "schema_fidelity"],
                        {"15.13": {"row_counts": "failed", "schema_fidelity": "errored"},
                         "16.4": {"row_counts": "passed", "schema_fidelity": "passed"},
                         "18.0": {"row_counts": "passed", "schema_fidelity": "passed"}},
                        {"15.13": {"row_counts": "public.events: 9 rows, expected 10", "schema_fidelity": "x|y"},
                         "16.4": {"row_counts": "2 tables match", "schema_fidelity": "identical"}})
    paths = write_run(run, tmp_path)
    md, html = paths["report.md"].read_text(), paths["report.html"].read_text()
    assert "## Version matrix" in md and "| version | row_counts | schema_fidelity |" in md
    assert "| 15.13 | ✘ failed: public.events: 9 rows, expected 10 | ⚠ errored: x\\|y |" in md, md
    assert "| 16.4 | ✔ passed | ✔ passed |" in md and "| 18.0 | ✔ passed | ✔ passed |" in md
    assert '<table id="matrix">' in html and html.count('<td class="st failed">') == 1
    assert '<th>15.13</th><td class="st failed">✘ failed<div class="reason">public.events: 9 rows, expected 10</div>' in html
    data = json.loads(paths["report.json"].read_text())
    assert data["matrix"]["reasons"]["15.13"]["row_counts"] == "public.events: 9 rows, expected 10"


def test_write_run_refuses_an_invalid_report_and_writes_nothing(tmp_path: Path) -> None:
    run = passed_run()
    run.drills[0].checks[0] = CheckResult.passed("Backup Artifact!", "bad name")
    with pytest.raises(HarnessFault, match="checks\\[0\\].name"):
        write_run(run, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    run = passed_run()
    run.drills[0].metrics["rto_s"] = float("nan")
    with pytest.raises(HarnessFault, match="cannot be written as JSON"):
        write_run(run, tmp_path / "nan")


def test_evidence_values_json_cannot_encode_are_kept_readable(tmp_path: Path) -> None:
    from decimal import Decimal

    run = passed_run()
    big = Decimal("-123456789012345678901234")  # a digest sum: must stay exact
    run.drills[0].checks[3] = CheckResult.passed("table_checksums", "equal", evidence={
        "digest": big, "tables": {"public.b", "public.a"}, "path": tmp_path, "raw": b"\x01\x02"})
    data = json.loads(write_run(run, tmp_path / "r")["report.json"].read_text())
    ev = data["drills"][0]["checks"][3]["evidence"]
    assert ev == {"digest": -123456789012345678901234, "tables": ["public.a", "public.b"],
                  "path": str(tmp_path), "raw": "0102"}


def test_load_run_round_trips_and_rejects_bad_folders(tmp_path: Path) -> None:
    run = failed_run()
    write_run(run, tmp_path / "ok")
    assert load_run(tmp_path / "ok").to_dict() == json.loads(json.dumps(run.to_dict()))
    with pytest.raises(BadInput, match="no report.json"):
        load_run(tmp_path / "missing")
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "report.json").write_text('{"schema_version": 1, "status": ')
    with pytest.raises(BadInput, match="not valid JSON"):
        load_run(tmp_path / "corrupt")
    data = json.loads((tmp_path / "ok" / "report.json").read_text())
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "report.json").write_text(json.dumps({**data, "schema_version": 2}))
    with pytest.raises(BadInput, match="schema_version 2"):
        load_run(tmp_path / "v2")
    data["drills"][1]["status"] = "passed"  # someone edits a failure into a pass
    (tmp_path / "edited").mkdir()
    (tmp_path / "edited" / "report.json").write_text(json.dumps(data))
    with pytest.raises(HarnessFault, match="evidence gives 'failed'"):
        load_run(tmp_path / "edited")


def test_render_run_rebuilds_pages_but_not_over_a_changed_report(tmp_path: Path) -> None:
    d = tmp_path / "run"
    write_run(failed_run(), d)
    before = (d / "report.html").read_text()
    (d / "report.html").unlink()
    (d / "report.md").write_text("stale")
    render_run(d)
    assert (d / "report.html").read_text() == before
    assert (d / "report.md").read_text().startswith("# ✘ FAILED")
    assert verify_evidence(d) == []
    # report.json changed after the run: re-hashing would launder it
    data = json.loads((d / "report.json").read_text())
    data["command"] = ["restore-drill", "run", "--something-else"]
    (d / "report.json").write_text(json.dumps(data))
    with pytest.raises(BadInput, match="changed since the run"):
        render_run(d)
    render_run(d, allow_modified=True)
    assert "--something-else" in (d / "report.md").read_text() and verify_evidence(d) == []


# --- secrets --------------------------------------------------------------------------------------

def test_reports_built_from_redacted_records_contain_no_password(tmp_path: Path) -> None:
    password = "Pg-s3cr3t-Passw0rd"
    aws_secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
    url = f"postgresql://pegasus:{password}@127.0.0.1:5432/pegasus"
    red = Redactor([password, aws_secret])
    run = failed_run()
    d = run.drills[1]
    d.steps.append(StepRecord(
        "restore with URL", "restore", red(f'pg_restore --dbname "{url}" x.dump'), "failed", 1, 0.2,
        stderr_tail=red(f"connection to {url} failed: AWS_SECRET_ACCESS_KEY={aws_secret}"),
        reason=red(f"PGPASSWORD={password} pg_restore exited 1")))
    d.checks.append(CheckResult.failed("write_smoke", red(f"INSERT via {url} failed"),
                                       evidence={"url": red(url)}))
    d.target.database = redact_url(url)
    d.error = ErrorInfo.from_exception(ProcedureFailed(f"restore failed against {url}"), red)
    run.command = [red(a) for a in ["restore-drill", "run", "--pg-url", url]]
    write_run(run, tmp_path)
    text = _written(tmp_path)
    assert password not in text and aws_secret not in text
    assert "postgresql://pegasus:***@127.0.0.1:5432/pegasus" in text  # redacted, not dropped
    # control: the same folder scan does find a secret when one is written (the scan is not blind)
    (tmp_path / "leak.txt").write_text(url)
    assert password in _written(tmp_path)


def test_unredacted_restore_target_is_refused(tmp_path: Path) -> None:
    run = passed_run()
    run.drills[0].target.database = "postgresql://pegasus:Pg-s3cr3t@127.0.0.1/pegasus"
    with pytest.raises(HarnessFault, match="target.database"):
        write_run(run, tmp_path / "x")
    assert not (tmp_path / "x").exists()


# --- history --------------------------------------------------------------------------------------

def test_history_appends_one_line_per_run_and_renders_trends(tmp_path: Path) -> None:
    hist = tmp_path / "runs" / "history.jsonl"
    runs = [passed_run(), failed_run(), errored_run(), passed_run()]
    runs[3].run_id = "20250315T020000Z-ffffff"
    runs[3].started_at = "2025-03-15T02:00:00.000Z"
    runs[3].drills[0].metrics["rto_s"] = 610.0  # a slow restore: the 900 s target is now in reach
    for r in runs:
        append_history(r, hist, tmp_path / r.run_id)
    lines = hist.read_text().splitlines()
    assert len(lines) == 4 and [json.loads(x)["status"] for x in lines] == ["passed", "failed", "errored", "passed"]
    with open(hist, "a") as fh:
        fh.write('{"run_id": "cut-sho')  # a line cut short by a crash
    entries, bad = read_history(hist)
    assert len(entries) == 4 and bad == 1
    html = render_history(hist, tmp_path / "history.html").read_text()
    assert html.count('<rect class="verdict ') == 4
    assert html.count('class="verdict status-passed"') == 2
    assert '<svg class="trend rto"' in html and '<svg class="trend rpo"' in html
    # pegasus appears in 3 runs -> a polyline through its 3 RTO points; continuum in 1 -> a lone point
    assert 'data-series="pegasus-full-restore[pg16-moto]"' in html
    assert "610.00s" in html and "4.30s" in html
    rto, rpo = html.split('<svg class="trend rpo"')
    assert 'class="target"' in rto and "pegasus-full-restore[pg16-moto] target 900s" in rto  # dashed line
    # RPO values are all 0: the 24 h target would flatten them, so it is named in the legend instead
    assert 'class="target"' not in rpo and "pegasus-full-restore[pg16-moto] (target 24h)" in rpo
    assert "1 unreadable line skipped" in html
    assert not re.search(r"""(?i)<(script|link|img)\b""", html)


def test_history_lines_never_interleave_between_processes(tmp_path: Path) -> None:
    hist = tmp_path / "history.jsonl"
    code = ("import sys; from pathlib import Path; from tests.report_samples import failed_run;"
            "from restore_drill.reports.history import append_history\n"
            "r = failed_run()\n"
            "for i in range(40):\n"
            "    r.run_id = f'{sys.argv[2]}-{i}'; append_history(r, Path(sys.argv[1]))\n")
    root = Path(__file__).resolve().parent.parent
    procs = [subprocess.Popen([sys.executable, "-c", code, str(hist), tag], cwd=root) for tag in ("a", "b")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    entries, bad = read_history(hist)
    assert bad == 0 and len(entries) == 80
    assert len({e["run_id"] for e in entries}) == 80


def test_render_history_without_a_history_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no run history"):
        render_history(tmp_path / "nope.jsonl", tmp_path / "h.html")
    (tmp_path / "empty.jsonl").write_text("")
    assert "No runs recorded yet." in render_history(tmp_path / "empty.jsonl", tmp_path / "h.html").read_text()
