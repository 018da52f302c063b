"""Jinja2 rendering of a RunReport into the pages people read: report.md/.html and compliance.md/.html.

Writers never redact: records arrive redacted (StepRecord.command, Database.safe_url). HTML templates
autoescape; Markdown cells go through ``md`` so a message with a pipe or newline cannot break a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from .charts import PHASE_COLOURS, STATUS_COLOURS, phase_timeline_svg
from .model import PHASE_NAMES, DrillReport, RunReport

TEMPLATES = Path(__file__).parent / "templates"

# Plain Unicode symbols (not emoji): they render with the DejaVu fonts a headless CI browser has.
VERDICT_ICON = {"passed": "✔", "failed": "✘", "errored": "⚠"}
CHECK_ICON = {"passed": "✔", "failed": "✘", "errored": "⚠", "skipped": "○"}
STEP_ICON = {"passed": "✔", "failed": "✘", "errored": "⚠", "not_run": "○", "manual": "✎", "replaced": "↻"}


@dataclass(frozen=True)
class Control:
    framework: str
    control: str
    requirement: str
    evidence: str


# The controls a restore drill evidences; wording kept to what each control asks for.
CONTROLS = (
    Control("ISO/IEC 27001:2022", "Annex A 8.13 Information backup",
            "Backup copies of information, software and systems are maintained and regularly tested in "
            "accordance with the agreed backup policy.",
            "A real backup was taken with the operators' procedure, restored into disposable infrastructure "
            "and its content verified against a pre-backup manifest."),
    Control("SOC 2 (Trust Services Criteria)", "A1.3",
            "The entity tests recovery plan procedures supporting system recovery to meet its objectives.",
            "{procedure}; RTO/RPO are judged from the checks below (met only where the rto/rpo check passed)."),
    Control("NIST SP 800-53 Rev. 5", "CP-4 Contingency Plan Testing",
            "Test the contingency plan to determine its effectiveness and readiness; review results and "
            "initiate corrective actions.",
            "A disaster was injected and the recovery steps were run and timed; deviations carry follow-ups."),
    Control("NIST SP 800-53 Rev. 5", "CP-9(1) System Backup | Testing for Reliability and Integrity",
            "Test backup information to verify media reliability and information integrity.",
            "Backup file sha256 recorded at creation; restored rows, checksums, schema and objects compared "
            "with the source."),
    Control("HIPAA Security Rule", "45 CFR 164.308(a)(7)(ii)(D) Testing and revision procedures",
            "Implement procedures for periodic testing and revision of contingency plans.",
            "This run is one periodic test; the run history records the series; deviations feed revisions "
            "of the runbook."),
)


def dur(v: Any) -> str:
    """Seconds for people: 0.42 s, 12.3 s, 2m 05s."""
    if v is None or v == "":
        return "–"
    s = float(v)
    if s < 10:
        return f"{s:.2f} s"
    if s < 120:
        return f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    return f"{m}m {sec:02d}s" if m < 60 else f"{m // 60}h {m % 60:02d}m"


def nbytes(v: Any) -> str:
    if v is None:
        return "–"
    n = float(v)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def md(v: Any) -> str:
    """A value safe inside a Markdown table cell (one line, pipes escaped)."""
    text = "" if v is None else str(v)
    return " ".join(text.split()).replace("|", "\\|")


def short(v: Any, n: int = 160) -> str:
    text = "" if v is None else " ".join(str(v).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def snapshot_bytes(snapshot: Any) -> int:
    return sum(int(o.get("size") or 0) for o in snapshot.objects.values())


def objective(drill: DrillReport, name: str) -> str:
    """The objective's verdict, taken from the drill's rto/rpo check only (``DrillReport.objective``):
    a page can never say "met" where report.json's check did not pass."""
    return drill.objective(name)  # type: ignore[arg-type]


OBJECTIVE_CLASS = {"met": "passed", "not achieved": "failed", "not measured": "errored", "no target": "skipped"}


def _instant(v: Any) -> datetime | None:
    """An ISO-8601 instant as an aware UTC datetime (naive taken as UTC); None when absent or unreadable."""
    try:
        t = datetime.fromisoformat(str(v).replace("Z", "+00:00")) if v else None
    except ValueError:
        return None
    return None if t is None else (t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC))


def pitr_timeline(drill: DrillReport) -> list[dict[str, str]]:
    """A physical drill's instants, read from report.json's ``metrics.pitr.timeline`` only (written by
    restore_drill.pitr.drill.timeline: base backup start/end, WAL archived, disaster, recovery target, last
    transaction kept, recovery end). Each row: ``event``, ``at`` (ISO-8601 UTC as recorded) and ``since``
    ("+1.234 s" from the first instant, to the millisecond), in time order; [] for a logical drill or one
    that stopped before its timeline was recorded. An instant that does not parse is left out."""
    pitr = drill.metrics.get("pitr")
    rows = pitr.get("timeline") if isinstance(pitr, dict) else None
    timed = [(t, e) for e in rows or () if isinstance(e, dict) and (t := _instant(e.get("at"))) is not None]
    timed.sort(key=lambda p: p[0])
    if not timed:
        return []
    first = timed[0][0]
    return [{"event": str(e.get("event", "")), "at": str(e["at"]), "since": f"+{(t - first).total_seconds():.3f} s"}
            for t, e in timed]


def data_loss_window(drill: DrillReport) -> str:
    """The data-loss window report.json holds for ``drill``, for the pages: a physical drill's
    ``metrics.data_loss_window_ms`` (disaster instant minus the last transaction kept, from the write ledger)
    with ``rows_lost``; else ``metrics.rpo_s`` (the rpo check's measured window, seconds); "not measured" when
    neither is a number (never 0 s for a window nobody measured)."""
    m = drill.metrics
    ms = m.get("data_loss_window_ms")
    if isinstance(ms, int | float) and not isinstance(ms, bool):
        lost = m.get("rows_lost")
        return f"{ms:.3f} ms" + (f" ({lost} ledger write(s) lost)" if isinstance(lost, int) else "")
    s = m.get("rpo_s")
    if isinstance(s, int | float) and not isinstance(s, bool):
        return dur(s)
    return "not measured"


def procedure_statement(run: RunReport) -> str:
    """"executed end to end" only when every drill ran every runbook step as written; otherwise how many
    steps deviated (each is listed under "Deviations and follow-up")."""
    if not run.drills:
        return "No restore procedure was executed"
    off = [(d, sum(1 for dev in d.deviations() if dev.kind == "step")) for d in run.drills
           if not d.executed_as_written]
    if not off:
        return "The documented restore procedure was executed end to end, every step as written"
    n = sum(k for _, k in off)
    return (f"The documented restore procedure was NOT executed end to end as written: {n} step(s) in "
            f"{len(off)} drill(s) were not run, replaced, rewritten or failed (listed under deviations)")


def controls_for(run: RunReport) -> tuple[Control, ...]:
    """CONTROLS with the evidence sentences filled in from this run's report (never a fixed claim)."""
    stmt = procedure_statement(run)
    return tuple(Control(c.framework, c.control, c.requirement, c.evidence.replace("{procedure}", stmt))
                 for c in CONTROLS)


@lru_cache(maxsize=1)
def jinja_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(dur=dur, nbytes=nbytes, md=md, short=short)
    env.globals.update(
        VERDICT_ICON=VERDICT_ICON, CHECK_ICON=CHECK_ICON, STEP_ICON=STEP_ICON, STATUS_COLOURS=STATUS_COLOURS,
        PHASE_COLOURS=PHASE_COLOURS, PHASE_NAMES=PHASE_NAMES, objective=objective, OBJECTIVE_CLASS=OBJECTIVE_CLASS,
        snapshot_bytes=snapshot_bytes, pitr_timeline=pitr_timeline, data_loss_window=data_loss_window,
    )
    return env


def _summary(run: RunReport) -> str:
    n = len(run.drills)
    counts = {s: sum(d.status == s for d in run.drills) for s in ("passed", "failed", "errored")}
    if run.error is not None and not n:
        return f"the run stopped before any drill ({run.error.type})"
    if n == 0:
        return "no drill ran, so nothing was proven"
    parts = [f"{c} {s}" for s, c in counts.items() if c]
    return f"{n} drill{'s' if n != 1 else ''}: " + ", ".join(parts)


def _context(run: RunReport, **extra: Any) -> dict[str, Any]:
    bad: list[DrillReport] = [d for d in run.drills if d.status != "passed"]
    return {
        "run": run, "status": run.status, "summary": _summary(run), "bad_drills": bad,
        "exit_code": run.exit_code, **extra,
    }


def render_markdown(run: RunReport) -> str:
    return jinja_env().get_template("report.md.j2").render(_context(run))


def render_html(run: RunReport) -> str:
    return jinja_env().get_template("report.html.j2").render(
        _context(run, timeline=Markup(phase_timeline_svg(run))))


def render_compliance(run: RunReport, evidence: list[tuple[str, int, str]], fmt: str) -> str:
    """``evidence`` is (relative path, size, sha256) of every file the compliance report vouches for."""
    name = {"md": "compliance.md.j2", "html": "compliance.html.j2"}[fmt]
    return jinja_env().get_template(name).render(_context(run, evidence=evidence, controls=controls_for(run),
                                                                procedure=procedure_statement(run)))
