"""Run an operator's runbook as written, phase by phase, against disposable infrastructure.

Each shell block runs with bash exactly as the operator wrote it (placeholders substituted and
recorded), in the drill's working folder, with the bound environment. Nothing is fixed: a wrong
command fails or does nothing here the way it would on the bad day, and the record shows it.
The drill's own actions (seeding, the disaster, the stand-in API, replacements) appear in the
same step stream, labelled as restore-drill's, never as the runbook's.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from restore_drill import procs, sandbox
from restore_drill.checks.backup import parse_toc, read_plain_dump
from restore_drill.checks.retention import date_in
from restore_drill.disasters.host_lost import WORKDIR_MARKER
from restore_drill.errors import BadInput, DrillError, StepTimeout
from restore_drill.fixtures.environment import RUNBOOK_VARIABLES, RunbookEnvironment
from restore_drill.foundation import sha256_file, table_digest, utcnow
from restore_drill.objectstore import list_objects
from restore_drill.records import BackupRecord, SnapshotRecord, StepRecord
from restore_drill.redact import Redactor
from restore_drill.seeds.manifest import list_tables, object_snapshots
from restore_drill.standin_api import STANDIN_LABEL, StandinApi

from . import preflight
from .binding import PLACEHOLDER_TOKEN, Binding, HookPoint, PlannedStep, StepRule, plan
from .names import ensure_database
from .parser import Runbook, Section, Step
from .wrappers import ROLES_VAR, TARGETS_VAR, write_shims
from .wrappers import __file__ as wrappers_file

# Where each hook's time is booked in the phase timings.
HOOK_PHASE = {"seed": "seed", "disaster": "disaster", "after_backup": "backup", "after_restore": "restore"}
BUILTIN_REPLACEMENTS = ("standin-api",)
_VAR_REF = re.compile(r"(?<![\\$])\$(?:\{(?P<b>[A-Za-z_]\w*)[}:#%/^,]|(?P<n>[A-Za-z_]\w*))")
_ASSIGNED = re.compile(r"(?:^|[\s;&|(])(?:export\s+|local\s+|declare\s+(?:-\w+\s+)*)?([A-Za-z_]\w*)=|\bfor\s+([A-Za-z_]\w*)\s+in\b")
_TEMPLATE = re.compile(r"\{([A-Za-z_]\w*)\}")
_TRANSFER = re.compile(r"^(copy|upload|download|move|delete):", re.M)
_CURL = re.compile(r"(?:^|[\s;&|(])curl\s")
_CURL_FAIL = re.compile(r"\s(?:--fail(?:-with-body)?|-[A-Za-z]*f[A-Za-z]*)(?=\s|$)")


@dataclass
class HookContext:
    """What a hook may look at. ``variables`` hold real values (URLs with passwords): never print them."""

    workdir: Path
    variables: dict[str, str]
    backup_paths: list[Path]
    backups: list[BackupRecord]
    snapshots: list[SnapshotRecord]
    backup_date: str | None
    placeholders: dict[str, str]


@dataclass
class HookOutcome:
    """What a hook did: a one-line summary for the report, and values later steps see."""

    summary: str = ""
    ok: bool = True
    placeholders: dict[str, str] = field(default_factory=dict)  # e.g. {"<lecture-id>": "42"}
    variables: dict[str, str] = field(default_factory=dict)  # e.g. {"RESTORE_PREFIX": "pegasus-2026-03-01"}
    records: list[Any] = field(default_factory=list)  # DisasterRecord etc. (anything with to_dict())


Hook = Callable[[HookContext], "HookOutcome | None"]


@dataclass
class RunHooks:
    """The drill's callables, invoked where the binding places them."""

    seed: Hook | None = None
    disaster: Hook | None = None
    after_backup: Hook | None = None
    after_restore: Hook | None = None
    replacements: dict[str, Hook] = field(default_factory=dict)  # names used by binding rules' hook = "..."
    on_step: Callable[[StepRecord], None] | None = None  # each recorded step, as it finishes (progress)
    on_step_start: Callable[[str, str], None] | None = None  # (step name, phase) as a step or hook starts

    def get(self, name: str) -> Hook | None:
        fn: Hook | None = getattr(self, name)
        return fn


@dataclass
class RunbookStepRecord(StepRecord):
    """A StepRecord with where the step came from and what the runner did to it before running."""

    kind: str = ""  # shell | manual | other | hook
    line: int = 0
    original: str = ""  # the text as written in the runbook (redacted)
    substitutions: dict[str, str] = field(default_factory=dict)  # placeholder -> value used
    replaced_by: str = ""
    findings: list[str] = field(default_factory=list)
    effects: dict[str, Any] = field(default_factory=dict)  # what a restore step changed (tables, objects)
    # A failed block: the first line that failed (runbook file line), its text and first error line.
    failed_line: int = 0
    failed_command: str = ""
    first_error: str = ""
    # Text the runner changed before running (old [placeholders] of source "value"): each a deviation.
    deviations: list[str] = field(default_factory=list)
    # Values the runbook leaves to the operator at incident time (<backup-file>, YYYY-MM-DD, RESTORE_PREFIX)
    # that the drill chose like an operator would: {"name", "value", "origin", "note"}.
    operator_inputs: list[dict[str, str]] = field(default_factory=list)


@dataclass
class RunbookResult:
    runbook: str
    binding: str
    workdir: str
    started_at: str
    finished_at: str = ""
    duration_s: float = 0.0
    steps: list[RunbookStepRecord] = field(default_factory=list)
    backups: list[BackupRecord] = field(default_factory=list)
    snapshots: list[SnapshotRecord] = field(default_factory=list)
    hook_records: list[dict[str, Any]] = field(default_factory=list)
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> {value (redacted), origin}
    placeholders: dict[str, str] = field(default_factory=dict)
    prepared: list[str] = field(default_factory=list)  # project files put where the runbook expects them
    findings: list[str] = field(default_factory=list)
    error: str = ""
    deviations: list[str] = field(default_factory=list)  # "<step>: rewritten ..." for every text rewrite
    operator_inputs: list[dict[str, str]] = field(default_factory=list)  # each with its "step"

    @property
    def backup_paths(self) -> list[Path]:
        return [Path(b.path) for b in self.backups]

    @property
    def failed_steps(self) -> list[RunbookStepRecord]:
        return [s for s in self.steps if s.status in ("failed", "errored")]

    @property
    def not_run_steps(self) -> list[RunbookStepRecord]:
        return [s for s in self.steps if s.status == "not_run"]

    @property
    def status(self) -> str:
        if self.error:
            return "errored"
        return "failed" if self.failed_steps else "passed"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status
        d["failed_steps"] = [s.name for s in self.failed_steps]
        d["not_run_steps"] = [s.name for s in self.not_run_steps]
        return d


class _Run:
    """State of one run; ``run_runbook`` is the public entry point."""

    def __init__(self, book: Runbook, binding: Binding, env: RunbookEnvironment, workdir: Path, hooks: RunHooks,
                 step_timeout_s: float, placeholders: dict[str, str], observe: bool) -> None:
        self.book, self.binding, self.env, self.hooks = book, binding, env, hooks
        self.workdir = workdir
        self.timeout = step_timeout_s
        self.observe = observe
        self.redact: Redactor = env.redactor()
        self.base_env = env.as_env()
        self.base_env.update(wrapper_env(binding, self.base_env))
        self.wrapper_map = wrapper_map(binding)
        # Variables the runbook reads and those it sets itself (for the operator's selection variables).
        texts = [st.text for _, st in book.steps() if st.kind == "shell"]
        self.referenced = {m["b"] or m["n"] for t in texts for m in _VAR_REF.finditer(t)}
        self.assigned = {a or b for t in texts for a, b in _ASSIGNED.findall(t)}
        self.missing_tools: dict[int, list[str]] = {}  # id(step) -> tools the pre-flight did not find
        if env.s3 is not None:  # rclone remotes / mc aliases the runbook names, pointed at the drill's endpoint
            env.s3_tool_configs(Path(self.base_env["HOME"]), rclone_remotes(book) + binding.names.remotes)
        self.given = dict(placeholders)
        self.hook_placeholders: dict[str, str] = {}
        self.sql_values: dict[str, str] = {}
        self.hook_vars: dict[str, str] = {}
        self.backup_files: dict[Path, str] = {}  # path -> started_at of the step that wrote it
        self.backup_finished: dict[Path, str] = {}
        self.backup_phase_started: float | None = None
        self.standin: StandinApi | None = None
        self.stopped_by: str = ""
        self.res = RunbookResult(book.source, binding.label, str(workdir), utcnow())

    # -- values ----------------------------------------------------------------------------------
    def newest_backup(self) -> Path | None:
        live = [p for p in self.backup_files if p.exists()]
        return max(live, key=lambda p: (p.stat().st_mtime_ns, str(p))) if live else None

    def backup_date(self) -> str | None:
        newest = self.newest_backup()
        if newest is not None and (day := date_in(newest.name)) is not None:
            return day.isoformat()
        if self.backup_phase_started is not None:
            # `date +%F` in the child: local time in the same TZ we pass through.
            return time.strftime("%Y-%m-%d", time.localtime(self.backup_phase_started))
        return None

    def derived(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if (d := self.backup_date()) is not None:
            out["backup_date"] = d
        if (b := self.newest_backup()) is not None:
            out["backup_stem"] = b.stem
        elif self.res.backups:  # recorded, then lost (host-lost): its name is what an operator would still use
            out["backup_stem"] = Path(self.res.backups[-1].path).stem
        return out

    def variables(self) -> tuple[dict[str, str], dict[str, str]]:
        """(child env, origin of each runbook variable)."""
        env = dict(self.base_env)
        origin = {k: "environment" for k in self.env.variables}
        known = {**env, **self.derived()}
        for name, template in self.binding.variables.items():
            if name in self.env.variables:
                continue  # the caller bound it explicitly; that wins over the binding's default
            refs = _TEMPLATE.findall(template)
            if all(r in known for r in refs):
                env[name] = _TEMPLATE.sub(lambda m: known[m[1]], template)
                origin[name] = f"binding ({template})"
        for name, value in self.operator_choices(env, known).items():
            env[name] = value
            origin[name] = "restore-drill: the drill's own backup"
        for name, value in self.hook_vars.items():
            env[name] = value
            origin[name] = "restore-drill hook"
        return env, origin

    def operator_choices(self, env: dict[str, str], known: dict[str, str]) -> dict[str, str]:
        """Values for the selection variables the runbook uses but leaves to the operator (RESTORE_PREFIX:
        the snapshot the backup phase wrote; BACKUP_FILE: its newest dump; BACKUP_DATE: its date), once the
        backup made them. Never overrides a value bound by the caller, the binding or the runbook itself."""
        out: dict[str, str] = {}
        unset = [v for v in OPERATOR_VARIABLES if v in self.referenced and v not in env and v not in self.assigned]
        if not unset:
            return out
        snap = self.binding.snapshot
        if "RESTORE_PREFIX" in unset and snap is not None and all(r in known for r in _TEMPLATE.findall(snap.prefix)):
            out["RESTORE_PREFIX"] = _TEMPLATE.sub(lambda m: known[m[1]], snap.prefix)
        if "BACKUP_FILE" in unset and (b := self.newest_backup()) is not None:
            out["BACKUP_FILE"] = str(b.relative_to(self.workdir)) if b.is_relative_to(self.workdir) else str(b)
        if "BACKUP_DATE" in unset and "backup_date" in known:
            out["BACKUP_DATE"] = known["backup_date"]
        return out

    def placeholder(self, token: str) -> tuple[str | None, str]:
        """(value, why not) for one placeholder."""
        if token in self.given:
            return self.given[token], ""
        if token in self.hook_placeholders:
            return self.hook_placeholders[token], ""
        spec = self.binding.placeholders.get(token)
        if spec is None:
            return None, "the binding does not bind it"
        if spec.source == "value":
            return spec.value, ""
        if spec.source in ("backup_stem", "backup_date"):
            v = self.derived().get(spec.source)
            globs = ", ".join(self.binding.backup_globs) or "(no backup_globs in the binding)"
            return v, "" if v is not None else f"no backup file matching {globs} was made by the backup phase"
        if spec.source == "sql":
            if token not in self.sql_values:
                self.eval_sql_placeholders()
            if token in self.sql_values:
                return self.sql_values[token], ""
            return None, f"query {spec.value!r} returned no value"
        return None, "no value was given (pass it in placeholders or from a hook)"

    def eval_sql_placeholders(self) -> None:
        url = self.env.variables.get("DATABASE_URL")  # bind() always sets it (a system's own names too)
        specs = [s for s in self.binding.placeholders.values() if s.source == "sql" and s.token not in self.sql_values]
        if not specs or not url:
            return
        try:
            with psycopg.connect(url, connect_timeout=10) as conn:
                for s in specs:
                    row = conn.execute(s.value).fetchone()
                    if row is not None and row[0] is not None:
                        self.sql_values[s.token] = str(row[0])
        except psycopg.Error as e:
            self.res.findings.append(self.redact(f"placeholder query failed: {type(e).__name__}: {str(e).strip()}"))

    # -- records ---------------------------------------------------------------------------------
    def book_time(self, phase: str, started: float, started_at: str) -> None:
        p = self.res.phases.setdefault(phase, {"started_at": started_at, "duration_s": 0.0})
        p["duration_s"] = round(p["duration_s"] + (time.monotonic() - started), 4)

    def record(self, rec: RunbookStepRecord) -> None:
        rec.command = self.redact(rec.command)
        rec.original = self.redact(rec.original)
        rec.stdout_tail = self.redact(rec.stdout_tail)
        rec.stderr_tail = self.redact(rec.stderr_tail)
        rec.reason = self.redact(rec.reason)
        rec.findings = [self.redact(f) for f in rec.findings]
        rec.substitutions = {k: self.redact(v) for k, v in rec.substitutions.items()}
        rec.replaced_by = self.redact(rec.replaced_by)
        rec.failed_command = self.redact(rec.failed_command)
        rec.first_error = self.redact(rec.first_error)
        rec.deviations = [self.redact(d) for d in rec.deviations]
        rec.operator_inputs = [{k: self.redact(v) for k, v in oi.items()} for oi in rec.operator_inputs]
        self.res.steps.append(rec)
        if self.hooks.on_step is not None:
            self.hooks.on_step(rec)

    def started(self, name: str, phase: str) -> None:
        if self.hooks.on_step_start is not None:
            self.hooks.on_step_start(name, phase)

    @staticmethod
    def step_name(sec: Section, st: Step) -> str:
        return f"{sec.heading or '(preamble)'} #{st.index}"

    # -- execution -------------------------------------------------------------------------------
    def prepare(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Marks the folder as one restore-drill prepared: the host-lost disaster wipes only such a folder.
        (self.workdir / WORKDIR_MARKER).write_text("restore-drill working folder\n")
        for d in self.binding.dirs:
            (self.workdir / d).mkdir(parents=True, exist_ok=True)
            self.res.prepared.append(f"{d}/ (empty folder)")
        for f in self.binding.files:
            dest = self.workdir / f.path
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f.source, dest)
            self.res.prepared.append(f"{f.path} <- {f.source}")

    def run(self) -> RunbookResult:
        t0 = time.monotonic()
        steps_plan = plan(self.binding, self.book)  # a binding that does not fit fails before anything runs
        self.preflight(steps_plan)
        try:
            self.prepare()
            for item in steps_plan.items:
                if isinstance(item, HookPoint):
                    self.run_hook(item)
                else:
                    self.run_planned(item)
        except DrillError:
            raise
        except Exception as e:  # e.g. the S3 endpoint died under a backup listing: keep the steps run so far
            self.res.error = self.redact(f"the runner stopped: {type(e).__name__}: {e}")
        finally:
            if self.standin is not None:
                self.standin.stop()
            env, origin = self.variables()
            for name in sorted(set(RUNBOOK_VARIABLES) | set(origin)):
                if name in env and name in origin:
                    self.res.variables[name] = {"value": self.redact(env[name]), "origin": origin[name]}
                elif name in RUNBOOK_VARIABLES:
                    self.res.variables[name] = {"value": "", "origin": "unset"}
            self.res.placeholders = {k: self.redact(v) for k, v in self._used_placeholders().items()}
            self.res.findings += [f"{s.name}: {f}" for s in self.res.steps for f in s.findings]
            self.res.deviations += [f"{s.name}: {d}" for s in self.res.steps for d in s.deviations]
            self.res.operator_inputs += [{"step": s.name, **oi} for s in self.res.steps for oi in s.operator_inputs]
            self.res.finished_at = utcnow()
            self.res.duration_s = round(time.monotonic() - t0, 4)
        return self.res

    def preflight(self, steps_plan: Any) -> None:
        """Tools the steps to run call that this machine lacks: those steps become not_run naming the tool."""
        path = self.base_env.get("PATH", "")
        for item in steps_plan.items:
            if not isinstance(item, PlannedStep) or item.phase == "never" or item.step.kind != "shell":
                continue
            if item.rule is not None and item.rule.action != "run":
                continue
            gone = preflight.missing_tools(item.step.text, path)
            if gone:
                self.missing_tools[id(item.step)] = gone
                self.res.findings.append(f"pre-flight: {self.step_name(item.section, item.step)} calls "
                                         f"{', '.join(gone)}, not installed here: that step is not run")

    def _used_placeholders(self) -> dict[str, str]:
        used: dict[str, str] = {}
        for s in self.res.steps:
            used.update(s.substitutions)
        return used

    def run_hook(self, hp: HookPoint) -> None:
        started, started_at = time.monotonic(), utcnow()
        if hp.hook == "after_backup":
            self.record_backups()
        fn = self.hooks.get(hp.hook)
        if fn is not None and not self.stopped_by:
            self.call_hook(fn, f"[restore-drill] {hp.hook}", f"(restore-drill {hp.hook} hook at {hp})",
                           HOOK_PHASE[hp.hook], kind="hook")
        if hp.hook == "after_restore":
            self.ensure_restore_target()
        if hp.hook == "seed":
            self.eval_sql_placeholders()  # values drawn from data (a sampled lecture) are drawn once seeded
        self.book_time(HOOK_PHASE[hp.hook], started, started_at)

    def ensure_restore_target(self) -> None:
        """A restore that left no database (lost with ``database-lost`` and never recreated): an empty one
        is created, recorded as restore-drill's action, so the checks judge the restore (nothing came
        back: failed) instead of failing to connect (errored)."""
        url = self.env.variables.get("DATABASE_URL")
        created = ensure_database(url) if url else None
        if created:
            self.record(RunbookStepRecord(
                name="[restore-drill] restore target", phase="restore", kind="hook", status="passed",
                command="(restore-drill: CREATE DATABASE after the restore phase)", started_at=utcnow(),
                reason=f"the restore left no database {created!r}; restore-drill created an empty one so the "
                       "checks judge what the restore gave back (nothing)"))

    def context(self) -> HookContext:
        env, _ = self.variables()
        return HookContext(
            self.workdir, {k: env[k] for k in env if k in RUNBOOK_VARIABLES or k in self.env.variables},
            [Path(b.path) for b in self.res.backups], list(self.res.backups), list(self.res.snapshots),
            self.backup_date(), {**self.hook_placeholders, **self.given},
        )

    def call_hook(self, fn: Hook, name: str, command: str, phase: str, *, kind: str,
                  base: RunbookStepRecord | None = None) -> HookOutcome | None:
        """Run a drill callable and record it (``base``: the caller records it); BadInput propagates,
        other errors stop the run."""
        if base is None:  # a planned step (base) was announced by run_planned
            self.started(name, phase)
        rec = base or RunbookStepRecord(name=name, phase=phase, command=command, status="passed", kind=kind)
        rec.started_at = utcnow()
        t = time.monotonic()
        try:
            out = fn(self.context())
        except BadInput:
            raise
        except Exception as e:  # noqa: BLE001 - a hook's failure is recorded, then the run stops
            rec.status, rec.duration_s = "errored", round(time.monotonic() - t, 4)
            rec.reason = f"{type(e).__name__}: {e}"
            if base is None:
                self.record(rec)
            self.res.error = self.redact(f"{name} errored: {rec.reason}")
            self.stopped_by = f"{name} errored"
            return None
        rec.duration_s = round(time.monotonic() - t, 4)
        out = out or HookOutcome()
        self.hook_placeholders.update(out.placeholders)
        self.hook_vars.update(out.variables)
        self.res.hook_records += [r.to_dict() if hasattr(r, "to_dict") else dict(r) for r in out.records]
        if base is None:
            rec.status = "passed" if out.ok else "failed"
            rec.reason = out.summary
        elif not out.ok:
            rec.status, rec.reason = "failed", f"{rec.reason}; the replacement failed: {out.summary}"
        else:
            rec.reason = f"{rec.reason}; {out.summary}" if out.summary else rec.reason
        if base is None:
            self.record(rec)
        return out

    def run_planned(self, ps: PlannedStep) -> None:
        sec, st, rule = ps.section, ps.step, ps.rule
        started, started_at = time.monotonic(), utcnow()
        if ps.phase == "backup" and self.backup_phase_started is None:
            self.backup_phase_started = time.time()
        rec = RunbookStepRecord(
            name=self.step_name(sec, st), phase=ps.phase, command=st.text, status="not_run", kind=st.kind,
            line=st.line, original=st.text, section=sec.heading, started_at=started_at,
        )
        if rule is not None and rule.note:
            rec.findings.append(rule.note)
        if ps.phase != "never" and not self.stopped_by:
            self.started(rec.name, ps.phase)
        try:
            self._dispatch(ps, rec, rule)
        finally:
            if ps.phase != "never":
                self.book_time(ps.phase, started, started_at)

    def _dispatch(self, ps: PlannedStep, rec: RunbookStepRecord, rule: StepRule | None) -> None:
        st = ps.step
        if self.stopped_by:
            rec.reason = f"not run: {self.stopped_by}"
        elif ps.phase == "never":
            rec.status = "manual" if st.kind == "manual" else "not_run"
            rec.reason = ("manual step (recorded, not run)" if st.kind == "manual"
                          else "not run: the binding assigns this section to phase 'never'")
        elif rule is not None and rule.action == "not_run":
            rec.reason = f"not run: {rule.reason}"
        elif rule is not None and rule.action == "replace":
            self.replace(rec, rule)
        elif id(st) in self.missing_tools:
            rec.reason = preflight.reason(self.missing_tools[id(st)])
        elif st.kind == "manual":
            rec.status, rec.reason = "manual", "manual step (recorded, not run)"
        elif st.kind == "other":
            rec.reason = (f"not run: ```{st.language} block (only bash/sh/shell blocks run)" if st.language
                          else "not run: untagged code block (tag it ```bash to run it)")
        else:
            self.run_shell(ps, rec)
            if rec.status in ("failed", "errored") and rule is not None and rule.on_failure == "stop":
                self.stopped_by = f"step {rec.name!r} failed and the binding says the operator stops there"
        self.record(rec)

    def replace(self, rec: RunbookStepRecord, rule: StepRule) -> None:
        rec.status = "replaced"
        rec.reason = f"replaced by the project's equivalent: {rule.reason}"
        if rule.run is not None:
            rec.replaced_by = rule.run
            env, _ = self.variables()
            self._exec(rule.run, env, rec)
            if rec.status == "passed":
                rec.status = "replaced"
            else:
                rec.reason += f"; the replacement exited {rec.exit_code}"
            return
        assert rule.hook is not None
        rec.replaced_by = f"restore-drill {rule.hook}"
        fn = self.hooks.replacements.get(rule.hook)
        if fn is None and rule.hook == "standin-api":
            fn = self.start_standin
        if fn is None:
            rec.status = "not_run"
            rec.reason = f"not run: {rule.reason}; no replacement {rule.hook!r} was supplied to this run"
            return
        self.call_hook(fn, rec.name, rec.command, rec.phase, kind=rec.kind, base=rec)

    def start_standin(self, ctx: HookContext) -> HookOutcome:
        if "API_BASE_URL" in self.env.variables:
            return HookOutcome(summary="API_BASE_URL is given, so the probes reach that API; no stand-in started")
        spec = self.binding.standin
        url = ctx.variables.get("DATABASE_URL")
        bucket, prefix = ctx.variables.get("S3_BUCKET"), ctx.variables.get("S3_PREFIX", "")
        if spec is None or self.env.s3 is None or not url or not bucket:
            return HookOutcome(ok=False, summary="stand-in API needs [standin_api] in the binding, DATABASE_URL, "
                                                 "S3_BUCKET and an S3 endpoint")
        self.standin = StandinApi(url, self.env.s3.client(), bucket, prefix, lecture_sql=spec.lecture_sql,
                                  key_sql=spec.key_sql, redactor=self.redact)
        base = self.standin.start()
        return HookOutcome(summary=f"started the {STANDIN_LABEL} at {base}; API_BASE_URL points at it",
                           variables={"API_BASE_URL": base})

    def run_shell(self, ps: PlannedStep, rec: RunbookStepRecord) -> None:
        text = ps.step.text
        for token in self.binding.placeholders:
            if token not in text:
                continue
            value, why = self.placeholder(token)
            if value is None:
                rec.status = "failed"
                rec.reason = f"not run: placeholder {token} has no value: {why}"
                return
            text = text.replace(token, value)
            rec.substitutions[token] = value
            spec = self.binding.placeholders.get(token)
            if is_operator_input(token):
                src = _SOURCE_WORDS.get(spec.source if spec is not None else "given", "bound")
                rec.operator_inputs.append(operator_input(token, value, src, ps.step.text))
                rec.findings.append(rec.operator_inputs[-1]["note"])
            else:
                rec.deviations.append(f"rewritten: the runbook's text {token!r} was replaced by {value!r} before "
                                      "running (declare the name under [names] instead)")
        rec.command = text
        env, origin = self.variables()
        assigned = {a or b for a, b in _ASSIGNED.findall(text)}
        seen_vars: set[str] = set()
        for m in _VAR_REF.finditer(text):
            var = m["b"] or m["n"]
            if var not in env and var not in assigned:
                note = f"${var} is not set: bash expands it to an empty string"
                if note not in rec.findings:
                    rec.findings.append(note)
            elif (var not in assigned and var not in seen_vars and var in env
                  and (var in OPERATOR_VARIABLES or origin.get(var, "").startswith(("binding", "restore-drill")))
                  and var not in self.env.variables):
                seen_vars.add(var)
                oi = operator_input(f"${var}", env[var], origin.get(var, ""), ps.step.text)
                rec.operator_inputs.append(oi)
                rec.findings.append(oi["note"])
        watch = ps.phase == "backup" and bool(self.binding.backup_globs)
        before = self._backup_candidates() if watch else {}
        observe = ps.phase == "restore" and self.observe
        state_before = self._state() if observe else None
        self._exec(text, env, rec, locate=True)
        if rec.status == "failed" and rec.failed_line:
            rec.failed_line += ps.step.line  # block line -> runbook file line (the fence is step.line)
        if state_before is not None:
            self._effects(rec, state_before, self._state())
        if watch:
            after = self._backup_candidates()
            for p, sig in after.items():
                if before.get(p) != sig:
                    self.backup_files[p] = rec.started_at or utcnow()
                    self.backup_finished[p] = utcnow()
        quiet = re.search(r"--(?:quiet|only-show-errors)\b", text)
        if (rec.exit_code == 0 and re.search(r"\baws\s+s3\s+(sync|cp|mv)\b", text) and not quiet
                and not _TRANSFER.search(rec.stdout_tail)):
            rec.findings.append("aws s3 exited 0 but transferred nothing (no copy/upload/download lines)")
        if any(_CURL.search(ln) and not _CURL_FAIL.search(ln) for ln in text.replace("\\\n", " ").splitlines()):
            rec.findings.append("curl runs without --fail: it exits 0 on HTTP error statuses, so this step's exit "
                                "status does not say whether the probe succeeded (read its output)")

    def _exec(self, script: str, env: dict[str, str], rec: RunbookStepRecord, *, locate: bool = False) -> None:
        """Run ``script`` with bash. ``locate``: an ERR trap (one line put before the script, which stays as
        written) notes each failing command's line, so a failed block names its first failing line."""
        t = time.monotonic()
        errlog = None
        if locate:
            # Inside the working folder, which a confined step may write anyway.
            fd, errlog = tempfile.mkstemp(prefix=".rd-err-", dir=self.workdir)
            os.close(fd)
            env = {**env, "RESTORE_DRILL_ERRLOG": errlog}
            script = _ERR_TRAP + script
        try:
            done = sandbox.run_step(script, env=env, cwd=self.workdir, timeout_s=self.timeout,
                                    redactor=self.redact, record=rec, runbook_env=self.env,
                                    wrapper_map=self.wrapper_map)
        except StepTimeout:
            rec.status, rec.exit_code = "failed", None
            rec.reason = f"timed out after {self.timeout:g}s and was killed"
            rec.duration_s = round(time.monotonic() - t, 4)
            return
        except OSError as e:
            rec.status, rec.reason = "errored", f"could not start bash: {e}"
            return
        finally:
            failures = _read_errlog(errlog)
        rec.exit_code, rec.duration_s = done.exit_code, round(done.duration_s, 4)
        rec.stdout_tail, rec.stderr_tail = procs.tail(done.stdout), procs.tail(done.stderr)
        rec.status = "passed" if done.exit_code == 0 else "failed"
        if done.exit_code != 0:
            last = (done.stderr.strip().splitlines() or [""])[-1]
            rec.reason = f"exited {done.exit_code}: {last[:300]}"
            rec.first_error = first_error_line(done.stderr)
            lines = script.splitlines()[1:] if locate else []
            if failures and lines:
                n, status = failures[0]
                text = lines[n - 1].strip() if 0 < n <= len(lines) else ""
                rec.failed_line, rec.failed_command = n, text[:300]
                more = f"; later failing lines: {', '.join(str(f[0]) for f in failures[1:4])}" if failures[1:] else ""
                rec.reason = (f"exited {done.exit_code}: line {n} of the block `{text[:200]}` failed first "
                              f"(exit {status}): {rec.first_error[:300]}{more}")

    # -- what restore steps really change -------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        """Digests of the tables in scope and (size, etag, mtime) of every object under the live prefix."""
        state: dict[str, Any] = {"tables": {}, "objects": None}
        url = self.env.variables.get("DATABASE_URL")  # bind() always sets it (a system's own names too)
        if url:
            try:
                with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
                    for t in self.binding.tables or list_tables(conn):
                        exists = conn.execute("SELECT to_regclass(%s)", (t,)).fetchone()
                        state["tables"][t] = table_digest(conn, t) if exists and exists[0] else None
            except psycopg.Error as e:
                state["tables"] = {"error": self.redact(f"{type(e).__name__}: {str(e).strip()}")}
        bucket, prefix = self.env.variables.get("S3_BUCKET"), self.env.variables.get("S3_PREFIX", "")
        if self.env.s3 is not None and bucket:
            base = prefix.strip("/") + "/" if prefix.strip("/") else ""
            objs: dict[str, tuple[int, str, str]] = {}
            client = self.env.s3.client()
            try:
                for o in list_objects(client, bucket, base):
                    objs[o.key] = (o.size, o.etag, str(o.last_modified or ""))
            except Exception as e:  # noqa: BLE001 - botocore raises many kinds; the step's record says so
                state["objects_error"] = self.redact(f"{type(e).__name__}: {e}")
                return state
            state["objects"] = {"where": f"s3://{bucket}/{base}", "keys": objs}
        return state

    def _effects(self, rec: RunbookStepRecord, before: dict[str, Any], after: dict[str, Any]) -> None:
        tables: dict[str, Any] = {}
        changed_tables = 0
        for t in sorted(set(before["tables"]) | set(after["tables"])):
            b, a = before["tables"].get(t), after["tables"].get(t)
            if t == "error" or b == a:
                tables[t] = {"changed": False, "rows": a[0] if isinstance(a, tuple) else a}
                continue
            changed_tables += 1
            tables[t] = {"changed": True, "rows_before": b[0] if b else None, "rows_after": a[0] if a else None}
        rec.effects["tables"] = tables
        for when, st in (("before", before), ("after", after)):
            if st.get("objects_error"):
                rec.findings.append(f"objects could not be listed {when} this step: {st['objects_error']}")
        obj_changes = 0
        if before["objects"] is not None and after["objects"] is not None:
            bk, ak = before["objects"]["keys"], after["objects"]["keys"]
            added = sorted(set(ak) - set(bk))
            removed = sorted(set(bk) - set(ak))
            changed = sorted(k for k in set(ak) & set(bk) if ak[k][:2] != bk[k][:2])
            rewritten = sorted(k for k in set(ak) & set(bk) if ak[k][:2] == bk[k][:2] and ak[k][2] != bk[k][2])
            obj_changes = len(added) + len(removed) + len(changed)
            rec.effects["objects"] = {
                "where": after["objects"]["where"], "before": len(bk), "after": len(ak),
                "added": len(added), "removed": len(removed), "content_changed": len(changed),
                "rewritten_same_content": len(rewritten), "sample_added": added[:10],
                "sample_changed": changed[:10],
            }
        listed = not (before.get("objects_error") or after.get("objects_error"))
        if rec.exit_code == 0 and changed_tables == 0 and obj_changes == 0 and listed:
            where = rec.effects.get("objects", {}).get("where")
            rec.findings.append(
                f"exited 0 but changed nothing: the {len(tables)} table(s) in scope"
                + (f" and the objects under {where}" if where else "") + " are exactly as before this step")

    # -- backups ---------------------------------------------------------------------------------
    def _backup_candidates(self) -> dict[Path, tuple[int, int]]:
        out: dict[Path, tuple[int, int]] = {}
        for g in self.binding.backup_globs:
            for name in glob.glob(g, root_dir=self.workdir):
                p = (self.workdir / name).resolve()
                if p.is_file():
                    st = p.stat()
                    out[p] = (st.st_mtime_ns, st.st_size)
        return out

    def record_backups(self) -> None:
        for path in sorted(self.backup_files, key=lambda p: str(p)):
            if path.exists():
                self.res.backups.append(self.backup_record(path))
        if not self.backup_files and self.binding.backup_globs:
            self.res.findings.append(
                f"the backup phase made no file matching {', '.join(self.binding.backup_globs)}")
        for b in self.res.backups:
            if b.size_bytes == 0:
                self.res.findings.append(f"backup {b.path} is empty (0 bytes)")
            elif not b.data_tables:
                self.res.findings.append(f"backup {b.path} holds no table data (pg_restore -l lists no TABLE DATA)")
        snap = self.binding.snapshot
        if snap is None:
            return
        env, _ = self.variables()
        known = {**env, **self.derived()}
        refs = _TEMPLATE.findall(snap.bucket) + _TEMPLATE.findall(snap.prefix)
        if self.env.s3 is None or not all(r in known for r in refs):
            self.res.findings.append("storage snapshot not recorded: no S3 endpoint or unbound template values")
            return
        bucket = _TEMPLATE.sub(lambda m: known[m[1]], snap.bucket)
        prefix = _TEMPLATE.sub(lambda m: known[m[1]], snap.prefix)
        listed_at = utcnow()
        objs = object_snapshots(self.env.s3.client(), bucket, prefix)
        rec = SnapshotRecord(bucket, prefix, listed_at,
                             {k: {"size": o.size, "sha256": o.sha256} for k, o in sorted(objs.items())})
        self.res.snapshots.append(rec)
        if not objs:
            self.res.findings.append(f"storage snapshot s3://{bucket}/{prefix}/ holds no objects")

    def backup_record(self, path: Path) -> BackupRecord:
        version = ""
        try:
            version = procs.run([self.env.client_bins.tool("pg_dump"), "--version"], env=self.base_env,
                                timeout_s=30).stdout.strip()
        except DrillError:
            version = ""
        header, data_tables = archive_listing(self.env, path, self.base_env)
        return BackupRecord(
            path=str(path), size_bytes=path.stat().st_size, sha256=sha256_file(path),
            started_at=self.backup_files.get(path, ""), finished_at=self.backup_finished.get(path, ""),
            tool_version=version, archive_header=header, data_tables=data_tables,
            intended_tables=list(self.binding.tables),
        )


# Notes each failing command's line (LINENO counts this line too, hence -1) and status; the runbook's own
# `trap ... ERR`, if any, replaces it, which only costs the line number.
_ERR_TRAP = ('trap \'rd_s=$?; printf "%s %s\\n" "$((LINENO-1))" "$rd_s" >> "$RESTORE_DRILL_ERRLOG" 2>/dev/null\' ERR\n')
# What a line of a tool's error output looks like (pg_*, psql, aws, s3cmd, bash), to skip progress/verbose lines.
_ERROR_LINE = re.compile(r"error|fatal|failed|denied|not found|no such|cannot|could not|invalid|refused|"
                         r"does not exist|not run:", re.I)
_SOURCE_WORDS = {"backup_stem": "the dump the backup phase wrote", "backup_date": "the date of the backup",
                 "given": "given to this run", "value": "the binding's value", "sql": "drawn from the seeded data"}
# Runbook variables that select what to restore: the operator's choice at incident time.
OPERATOR_VARIABLES = ("RESTORE_PREFIX", "BACKUP_FILE", "BACKUP_DATE", "SNAPSHOT", "RESTORE_DATE")
_DATE_TOKEN = re.compile(r"^(?:YYYY[-_/]?MM[-_/]?DD|YYYYMMDD|DD[-_/]MM[-_/]YYYY)(?:[-_T]?HH(?:[-:]?MM(?:[-:]?SS)?)?)?$")
_BULK_COPY = re.compile(r"\b(?:aws\s+s3\s+(?:sync|cp\b[^\n]*--recursive)|s3cmd\s+(?:sync|get\b[^\n]*--recursive)|"
                        r"rclone\s+(?:sync|copy)|mc\s+(?:mirror|cp\b[^\n]*--recursive))")


def is_operator_input(token: str) -> bool:
    """A fill-in the runbook leaves to the operator (``<backup-file>``, ``YYYY-MM-DD``), not a name to rewrite."""
    return bool(PLACEHOLDER_TOKEN.fullmatch(token) or _DATE_TOKEN.match(token))


def operator_input(name: str, value: str, origin: str, text: str) -> dict[str, str]:
    """The record of one operator input the drill bound, with the finding's wording."""
    note = (f"{name} is left to the operator at incident time; the drill bound it to {value!r} as an operator "
            f"would ({origin or 'bound'})")
    bare = name.lstrip("$")
    if _BULK_COPY.search(text) and re.search(rf"s3://[^\s\"']*\$\{{?{re.escape(bare)}\b", text):
        note += "; if empty this command copies the whole backup bucket"
    return {"name": name, "value": value, "origin": origin, "note": note}


def first_error_line(stderr: str) -> str:
    """The first line of ``stderr`` that reads as an error (else its first non-empty line)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return next((ln for ln in lines if _ERROR_LINE.search(ln)), lines[0] if lines else "")[:500]


def _read_errlog(path: str | None) -> list[tuple[int, int]]:
    """(block line, exit status) of each command the ERR trap saw fail, in order; removes the file."""
    if path is None:
        return []
    out = []
    with contextlib.suppress(OSError):
        for ln in Path(path).read_text().splitlines():
            a, _, b = ln.partition(" ")
            if a.lstrip("-").isdigit() and b.isdigit():
                out.append((int(a), int(b)))
    with contextlib.suppress(OSError):
        os.unlink(path)
    return out


_RCLONE_REMOTE = re.compile(r"(?<![\w/:$-])([A-Za-z0-9_][\w-]*):(?!//)")


def rclone_remotes(book: Runbook) -> tuple[str, ...]:
    """Remote names (``backup:`` in ``rclone sync backup:bucket/x ./y``) the runbook's rclone lines use."""
    found: list[str] = []
    for _, st in book.steps():
        for ln in st.text.splitlines():
            if re.search(r"(?<![\w-])rclone\s", ln):
                found += [m for m in _RCLONE_REMOTE.findall(ln.split("rclone", 1)[1]) if m not in found]
    return tuple(found)


def wrapper_map(binding: Binding) -> dict[str, str]:
    """The sandbox's map (tool -> bash body) for the wrappers the binding makes mean the drill's database:
    sudo always, docker/podman/docker-compose/kubectl when ``[names] containers`` names any. Each body hands
    the call to ``wrappers.py``, which runs the wrapped command or refuses a target the binding does not name."""
    me = Path(wrappers_file).resolve()
    tools = ("sudo", *(("docker", "podman", "docker-compose", "kubectl") if binding.names.containers else ()))
    return {t: f'exec "{sys.executable}" -I "{me}" {t} "$@"' for t in tools}


def wrapper_env(binding: Binding, env: dict[str, str]) -> dict[str, str]:
    """Shims for sudo/docker/podman/docker-compose/kubectl first on PATH, and what they may enter.

    The shims (``wrappers.write_shims``) live in the runbook's private HOME; ``[names] containers``
    become RESTORE_DRILL_DB_TARGETS and the roles the drill created RESTORE_DRILL_ROLES, so
    ``docker exec -i <declared container> psql …`` runs ``psql …`` against the drill's server and every
    other container-engine, cluster or sudo use is refused or unwrapped, never sent to the host's.
    """
    shims = write_shims(Path(env["HOME"]) / ".restore-drill-bin")
    return {
        "PATH": os.pathsep.join([str(shims), env.get("PATH", "")]),
        TARGETS_VAR: ",".join(binding.names.containers),
        ROLES_VAR: ",".join(binding.names.all_roles),
    }


def archive_listing(env: RunbookEnvironment, path: Path, child_env: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """(header fields, schema-qualified tables with data) from ``pg_restore -l``, or for a plain-format
    dump (a SQL script pg_restore cannot list) from its own header and TABLE DATA comments."""
    plain = read_plain_dump(path) if path.is_file() else None
    if plain is not None:
        return {**plain.header, "complete": plain.complete}, sorted(set(plain.data_tables))
    try:
        done = procs.run([env.client_bins.tool("pg_restore"), "-l", path], env=child_env, timeout_s=120)
    except DrillError as e:
        return {"error": str(e)}, []
    if done.exit_code != 0:
        return {"error": procs.tail(done.stderr.strip(), 500)}, []
    toc = parse_toc(done.stdout)
    header: dict[str, Any] = dict(toc.header)
    if "Archive created at" in header:
        header["created_at_iso"] = _iso(header["Archive created at"])
    return header, sorted(set(toc.data_tables))


def _iso(created: str) -> str:
    # "2026-03-01 12:00:00 UTC" -> ISO when the zone is UTC; other zones stay as written.
    try:
        return datetime.strptime(created, "%Y-%m-%d %H:%M:%S UTC").isoformat() + "Z"
    except ValueError:
        return ""


def run_runbook(
    runbook: Runbook,
    binding: Binding,
    env: RunbookEnvironment,
    workdir: Path,
    hooks: RunHooks | None = None,
    *,
    step_timeout_s: float = 600,
    placeholders: dict[str, str] | None = None,
    observe_effects: bool = True,
) -> RunbookResult:
    """Run ``runbook`` as written under ``binding``; never raises for a failing step (the result says so).

    ``observe_effects`` records what each restore-phase step changed (table digests, objects under
    the live prefix), so a restore that exits 0 and does nothing is visible.
    Raises BadInput for a binding that does not fit the runbook (before anything runs) and for
    BadInput from a hook (e.g. a destructive step refused on a non-harness target).
    """
    return _Run(runbook, binding, env, Path(workdir).resolve(), hooks or RunHooks(), step_timeout_s,
                placeholders or {}, observe_effects).run()


