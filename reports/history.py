"""Run history: one JSON line per run appended to a history file, rendered as a trend page
(RTO, RPO and verdicts over time) for `restore-drill report --history`."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from markupsafe import Markup

from restore_drill.errors import BadInput

from .charts import Point, trend_svg, verdict_strip_svg
from .model import RunReport

HISTORY_VERSION = 1
HISTORY_FILE = "history.jsonl"


def history_entry(report: RunReport, run_dir: Path | None = None) -> dict[str, Any]:
    return {
        "history_version": HISTORY_VERSION,
        "run_id": report.run_id,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "status": report.status,
        "tool_version": report.tool.version,
        "run_dir": str(run_dir) if run_dir is not None else None,
        "drills": [
            {"id": d.id, "name": d.name, "system": d.system, "disaster": d.disaster, "status": d.status,
             "rto_s": d.metrics.get("rto_s"), "rpo_s": d.metrics.get("rpo_s"),
             "rto_target_s": d.targets.rto_s, "rpo_target_s": d.targets.rpo_s, "duration_s": d.duration_s}
            for d in report.drills
        ],
    }


def append_history(report: RunReport, history_file: Path, run_dir: Path | None = None) -> None:
    """Append this run as one line. Two runs finishing at once each hold an exclusive lock for their
    single write, so lines never interleave."""
    history_file.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(history_entry(report, run_dir), separators=(",", ":"), default=str) + "\n"
    with open(history_file, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_history(history_file: Path) -> tuple[list[dict[str, Any]], int]:
    """(entries oldest first, number of unreadable lines). A line cut short by a crash is skipped, not fatal."""
    if not history_file.exists():
        raise BadInput(f"no run history at {history_file}: runs append to it when they finish; "
                       "pass the history file of your --report-dir")
    entries: list[dict[str, Any]] = []
    bad = 0
    for line in history_file.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if not isinstance(e, dict) or "run_id" not in e or "status" not in e:
            bad += 1
            continue
        entries.append(e)
    entries.sort(key=lambda e: e.get("started_at") or "")
    return entries, bad


def render_history(history_file: Path, out_html: Path) -> Path:
    """A single self-contained HTML page: verdict strip, RTO and RPO trends per drill, recent runs."""
    from .render import jinja_env

    entries, bad = read_history(history_file)
    n = len(entries)
    series: dict[str, dict[str, list[Point]]] = {"rto_s": {}, "rpo_s": {}}
    targets: dict[str, dict[str, float | None]] = {"rto_s": {}, "rpo_s": {}}
    for i, e in enumerate(entries):
        for d in e.get("drills") or []:
            for key in ("rto_s", "rpo_s"):
                v = d.get(key)
                series[key].setdefault(d["id"], []).append(
                    Point(i, f"{e.get('started_at', '')} {e['run_id']}",
                          float(v) if isinstance(v, int | float) else None, d.get("status", "errored")))
                targets[key][d["id"]] = d.get(f"{key[:3]}_target_s")  # newest target wins
    x_labels = [(e.get("started_at") or "")[:10] for e in entries]  # the run's UTC date
    counts = {s: sum(e["status"] == s for e in entries) for s in ("passed", "failed", "errored")}
    html = jinja_env().get_template("history.html.j2").render(
        entries=entries, recent=list(reversed(entries))[:50], n=n, bad=bad, counts=counts,
        history_file=str(history_file),
        verdicts=Markup(verdict_strip_svg([(f"{e.get('started_at', '')} {e['run_id']}", e["status"])
                                           for e in entries])),
        rto_chart=Markup(trend_svg("RTO per run (seconds; dashed: target)", series["rto_s"], n,
                                   targets["rto_s"], "rto", x_labels)),
        rpo_chart=Markup(trend_svg("RPO per run (seconds; dashed: target)", series["rpo_s"], n,
                                   targets["rpo_s"], "rpo", x_labels)),
    )
    out_html.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_html.with_suffix(".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out_html)
    return out_html
