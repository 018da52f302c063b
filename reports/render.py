"""Jinja2 rendering of a RunReport into the pages people read: report.md/.html and compliance.md/.html.

Writers never redact: records arrive redacted (StepRecord.command, Database.safe_url). HTML templates
autoescape; Markdown cells go through ``md`` so a message with a pipe or newline cannot break a table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from restore_drill.checks.objectives import window_text
from restore_drill.checks.result import Status
from restore_drill.foundation import seconds_text

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


# The controls a restore drill evidences; wording kept to what each control asks for. The evidence column is
# never fixed text: ``controls_for`` writes it from what report.json says the run did (EVIDENCE holds the
# function that writes each control's sentence).
CONTROLS = (
    Control("ISO/IEC 27001:2022", "Annex A 8.13 Information backup",
            "Backup copies of information, software and systems are maintained and regularly tested in "
            "accordance with the agreed backup policy.", "{backup}"),
    Control("SOC 2 (Trust Services Criteria)", "A1.3",
            "The entity tests recovery plan procedures supporting system recovery to meet its objectives.",
            "{procedure}; RTO/RPO are judged from the checks below (met only where the rto/rpo check passed)."),
    Control("NIST SP 800-53 Rev. 5", "CP-4 Contingency Plan Testing",
            "Test the contingency plan to determine its effectiveness and readiness; review results and "
            "initiate corrective actions.", "{disaster}"),
    Control("NIST SP 800-53 Rev. 5", "CP-9(1) System Backup | Testing for Reliability and Integrity",
            "Test backup information to verify media reliability and information integrity.", "{integrity}"),
    Control("HIPAA Security Rule", "45 CFR 164.308(a)(7)(ii)(D) Testing and revision procedures",
            "Implement procedures for periodic testing and revision of contingency plans.", "{periodic}"),
)


def dur(v: Any) -> str:
    """Seconds for people: 0.42 s, 12.3 s, 2m 05s (foundation.seconds_text, the rounding check messages
    use too); "–" for no value."""
    if v is None or v == "":
        return "–"
    return seconds_text(float(v))


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
        return window_text(ms / 1000) + (f" ({lost} ledger write(s) lost)" if isinstance(lost, int) else "")
    s = m.get("rpo_s")
    if isinstance(s, int | float) and not isinstance(s, bool):
        return dur(s)
    return "not measured"


# Step statuses that mean the step never ran at all (not the same as "ran, but not as written").
_NEVER_RAN = frozenset({"not_run", "manual"})


def _made_backup(d: DrillReport) -> bool:
    """This drill made its own backup: a backup phase ran and a backup step ran in it (report.json's
    ``phases`` and ``steps``). verify-backup has neither: it restores a file somebody else made."""
    return (any(p.name == "backup" for p in d.phases)
            and any(s.phase == "backup" and s.status not in _NEVER_RAN for s in d.steps))


def procedure_name(d: DrillReport) -> str:
    """Which procedure drill ``d`` ran, from report.json's ``drills[].procedure`` and ``runbook``: the
    operators' runbook as written, or the project's corrected procedure (with its file when recorded)."""
    where = f" (`{d.runbook}`)" if d.runbook else ""
    if d.procedure == "runbook":
        return f"the operators' runbook as written{where}"
    return f"the project's corrected procedure{where}"


def _tests_a_given_file(d: DrillReport) -> bool:
    """verify-backup's shape in report.json: no backup made, no runbook, no disaster (a given file restored by
    the harness's own pg_restore)."""
    return not _made_backup(d) and d.runbook is None and not d.disasters


def _drill_procedure(d: DrillReport) -> str:
    """One clause saying what drill ``d`` did of its procedure, derived from its steps and error."""
    ran = [s for s in d.steps if s.status not in _NEVER_RAN]
    if _tests_a_given_file(d):
        # verify-backup: the harness's own pg_restore of a given file, no documented procedure.
        return (f"{d.id}: no documented restore procedure was run; the harness restored an existing backup file "
                f"with pg_restore ({len(ran)} step(s))")
    name = procedure_name(d)
    if not ran:
        why = f" ({d.error.type})" if d.error is not None else ""
        return f"{d.id}: {name} was not run: the drill stopped before its first step{why}"
    if d.executed_as_written:
        return f"{d.id}: {name} was executed end to end, every step as written"
    n = sum(1 for dev in d.deviations() if dev.kind == "step")
    return (f"{d.id}: {name} was NOT executed end to end as written: {n} step(s) were not run, replaced, "
            f"rewritten or failed (listed under deviations)")


def procedure_statement(run: RunReport) -> str:
    """Per drill, which procedure ran (``procedure_name``) and whether it was "executed end to end" (only when
    every runbook step ran as written), "NOT executed end to end" (how many steps deviated; each is listed
    under "Deviations and follow-up"), not run at all (stopped before its first step), or that no documented
    procedure ran (verify-backup). With no drill: nothing was executed, and why when the run errored."""
    if not run.drills:
        why = f": the run stopped before any drill started ({run.error.type})" if run.error is not None else ""
        return f"No restore procedure was executed{why}"
    return "; ".join(_drill_procedure(d) for d in run.drills)


def _nothing(run: RunReport) -> str:
    why = f" ({run.error.type}: {short(run.error.message, 160)})" if run.error is not None else ""
    return f"Not evidenced by this run: no drill started, so nothing was backed up, restored or checked{why}."


def _backup_evidence(d: DrillReport) -> str:
    """ISO 27001 A 8.13 for one drill: who made the backup, where it was restored, what it was compared with."""
    restored = any(s.phase == "restore" and s.status not in _NEVER_RAN for s in d.steps)
    compared = ("a manifest of the source recorded before the backup" if any(p.name == "seed" for p in d.phases)
                else "the archive's own table of contents" + (
                    " and the manifest given" if (c := d.check("table_checksums")) is not None
                    and c.status is not Status.SKIPPED else ""))
    judged = [c for c in d.checks if c.status in (Status.PASSED, Status.FAILED)]
    if _made_backup(d):
        head = f"{d.id}: a backup was taken with {procedure_name(d)}"
    elif d.backups:
        head = f"{d.id}: no backup was taken by this run; an existing backup file (`{d.backups[0].path}`) was tested"
    else:
        return f"{d.id}: no backup was taken or tested ({d.status_reason})"
    if not restored:
        return f"{head}; it was not restored ({d.status_reason})"
    return (f"{head}, restored into disposable infrastructure and its content checked against {compared} "
            f"({len(judged)} check(s) judged it)")


def _disaster_evidence(d: DrillReport) -> str:
    """NIST CP-4 for one drill: the disaster actually injected (report.json ``disasters``) and whether
    recovery steps ran and were timed."""
    restore = [s for s in d.steps if s.phase == "restore" and s.status not in _NEVER_RAN]
    if d.disasters:
        x = d.disasters[0]
        summary = x.details.get("summary") if isinstance(x.details, dict) else None
        head = f"{d.id}: disaster {x.name} was injected" + (f" ({summary})" if summary else "")
    else:
        head = f"{d.id}: no disaster was injected"
    if not restore:
        return f"{head}; no recovery step ran"
    took = d.metrics.get("rto_s") if d.metrics.get("rto_s") is not None else d.metrics.get("restore_s")
    timed = f", {dur(took)}" if isinstance(took, int | float) and not isinstance(took, bool) else ""
    if _tests_a_given_file(d):
        return f"{head}; the harness's pg_restore of the given file was run and timed{timed or ''}"
    return f"{head}; {len(restore)} recovery step(s) were run and timed{timed}"


def _integrity_evidence(d: DrillReport) -> str:
    """NIST CP-9(1) for one drill: a sha256 recorded at creation only where this run made the backup and
    the record holds one; the content checks that ran, by status."""
    hashed = [b for b in d.backups if b.sha256]
    if hashed and _made_backup(d):
        head = f"{d.id}: backup file sha256 recorded at creation"
    elif hashed:
        head = f"{d.id}: backup file sha256 computed when this run read the file (not recorded at its creation)"
    else:
        head = f"{d.id}: no backup file sha256 recorded"
    counts = {st: sum(c.status is st for c in d.checks) for st in (Status.PASSED, Status.FAILED, Status.ERRORED)}
    if not any(counts.values()):
        return f"{head}; no check compared the restore"
    parts = ", ".join(f"{n} {st.value}" for st, n in counts.items() if n)
    return f"{head}; restored content checked by {sum(counts.values())} check(s): {parts} (listed under Checks)"


def _join(run: RunReport, each: Callable[[DrillReport], str]) -> str:
    return "; ".join(each(d) for d in run.drills) + "."


def controls_for(run: RunReport) -> tuple[Control, ...]:
    """CONTROLS with every evidence sentence written from this run's report (never a fixed claim): what
    backup was taken or tested (ISO 27001), which procedure ran and how (SOC 2, ``procedure_statement``),
    which disaster was injected and whether recovery steps ran (CP-4), where a sha256 comes from and which
    checks judged the content (CP-9(1)). A run with no drill evidences nothing and says so."""
    if not run.drills:
        nothing = _nothing(run)
        fill = {"backup": nothing, "procedure": procedure_statement(run), "disaster": nothing,
                "integrity": nothing, "periodic": nothing}
    else:
        fill = {
            "backup": _join(run, _backup_evidence),
            "procedure": procedure_statement(run),
            "disaster": _join(run, _disaster_evidence) + (" Deviations carry follow-ups." if any(
                d.deviations() for d in run.drills) else ""),
            "integrity": _join(run, _integrity_evidence),
            "periodic": "This run is one periodic test; the run history records the series; deviations feed "
                        + ("revisions of the runbook." if any(d.runbook for d in run.drills)
                           else "revisions of the backup process."),
        }
    return tuple(Control(c.framework, c.control, c.requirement, c.evidence.format(**fill)) for c in CONTROLS)


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
