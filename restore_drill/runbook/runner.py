"""Run an operator's runbook as written, phase by phase, against disposable infrastructure.

Each shell block runs with bash exactly as the operator wrote it (placeholders substituted and
recorded), in the drill's working folder, with the bound environment. Nothing is fixed: a wrong
command fails or does nothing here the way it would on the bad day, and the record shows it.
The drill's own actions (seeding, the disaster, the stand-in API, replacements) appear in the
same step stream, labelled as restore-drill's, never as the runbook's.

The run is split by concern (issue 12): ``results`` (step records, the result, hook types),
``values`` (variables, placeholders, operator inputs), ``findings`` (first failing line, copies that
moved nothing), ``effects`` (what a restore step changed), ``backups`` (backup and snapshot records),
``tools`` (wrapper shims, rclone remotes); this module sequences the plan.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from restore_drill import procs, sandbox
from restore_drill.disasters.host_lost import WORKDIR_MARKER
from restore_drill.errors import BadInput, DrillError, StepTimeout
from restore_drill.fixtures.environment import RUNBOOK_VARIABLES, RunbookEnvironment
from restore_drill.foundation import utcnow
from restore_drill.interrupts import describe
from restore_drill.redact import Redactor
from restore_drill.standin_api import STANDIN_LABEL, StandinApi

from . import preflight
from .backups import _Backups, archive_listing
from .binding import Binding, HookPoint, PlannedStep, StepRule, plan
from .effects import _Effects
from .findings import (
    _CURL,
    _CURL_FAIL,
    _ERR_TRAP,
    _TRANSFER,
    _read_errlog,
    first_error_line,
    host_path_hints,
    names_hint,
    workdir_files,
    written_between,
)
from .names import ensure_database
from .parser import Runbook, Section, Step
from .results import Hook, HookContext, HookOutcome, RunbookResult, RunbookStepRecord, RunHooks
from .tools import rclone_remotes, wrapper_env, wrapper_map
from .values import _ASSIGNED, _SOURCE_WORDS, _VAR_REF, OPERATOR_VARIABLES, is_operator_input, operator_input

__all__ = [  # the runner's public names; each lives in the module named for what it holds
    "OPERATOR_VARIABLES", "HookContext", "HookOutcome", "RunHooks", "RunbookResult", "RunbookStepRecord",
    "archive_listing", "first_error_line", "is_operator_input", "operator_input", "rclone_remotes", "run_runbook",
    "wrapper_env", "wrapper_map",
]

# Where each hook's time is booked in the phase timings.
HOOK_PHASE = {"seed": "seed", "disaster": "disaster", "after_backup": "backup", "after_restore": "restore"}
BUILTIN_REPLACEMENTS = ("standin-api",)


class _Run(_Backups, _Effects):
    """State of one run; ``run_runbook`` is the public entry point."""

    def __init__(self, book: Runbook, binding: Binding, env: RunbookEnvironment, workdir: Path, hooks: RunHooks,
                 step_timeout_s: float, placeholders: dict[str, str], observe: bool,
                 data_directory: Path | None = None, shared_folders: tuple[Path, ...] = ()) -> None:
        self.book, self.binding, self.env, self.hooks = book, binding, env, hooks
        self.data_directory = data_directory
        self.shared_folders = shared_folders
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
        except KeyboardInterrupt as e:  # the caller's report keeps the steps run so far (filled below)
            attach_partial(e, self.res)
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
        except KeyboardInterrupt as e:  # Ctrl-C/SIGTERM mid-step: the report names the step it stopped
            rec.status, rec.duration_s = "errored", round(time.monotonic() - started, 4)
            rec.reason = f"{describe(e)[1]} while this step ran"
            self.record(rec)
            raise
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
        files_before = workdir_files(self.workdir) if ps.phase == "backup" else None
        observe = ps.phase == "restore" and self.observe
        t_obs = time.monotonic()
        state_before = self._state() if observe else None
        self.res.observe_s += time.monotonic() - t_obs
        self._exec(text, env, rec, locate=True)
        if rec.status == "failed" and rec.failed_line:
            rec.failed_line += ps.step.line  # block line -> runbook file line (the fence is step.line)
        if rec.status == "failed":
            names = self.binding.names
            hint = names_hint(rec.stderr_tail, names.user, names.database, names.all_roles)
            if hint and hint not in rec.findings:
                rec.findings.append(hint)
            rec.findings += [h for h in host_path_hints(rec.stderr_tail, text, names.folders, names.tools)
                             if h not in rec.findings]
        if state_before is not None:
            t_obs = time.monotonic()
            self._effects(rec, state_before, self._state())
            self.res.observe_s += time.monotonic() - t_obs
        if watch:
            after = self._backup_candidates()
            for p, sig in after.items():
                if before.get(p) != sig:
                    self.backup_files[p] = rec.started_at or utcnow()
                    self.backup_finished[p] = utcnow()
        if files_before is not None:  # what the backup wrote, matched or not: named when no glob matches it
            self.res.backup_written += [p for p in written_between(files_before, workdir_files(self.workdir))
                                        if p not in self.res.backup_written]
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
        mounts: tuple[sandbox.PathMount, ...] = ()
        names = self.binding.names
        if names.folders or names.tools:
            # The runbook's own host paths are shown to the step, never rewritten in its text and never
            # touched on the host: without a private mount namespace the step does not run at all.
            try:
                if why := sandbox.mounts_unavailable():
                    raise BadInput(why)
                mounts = sandbox.path_mounts(names.folders, names.tools, self.workdir, env)
            except BadInput as e:
                rec.status, rec.reason = "not_run", f"not run: {e}"
                return
        t = time.monotonic()
        errlog = None
        if locate:
            # Inside the working folder, which a confined step may write anyway.
            fd, errlog = tempfile.mkstemp(prefix=".rd-err-", dir=self.workdir)
            os.close(fd)
            env = {**env, "RESTORE_DRILL_ERRLOG": errlog}
            script = _ERR_TRAP + script
        reads: tuple[str, ...] = ()
        if self.binding.sandbox.read_data_directory and rec.phase == "backup" and self.data_directory is not None:
            reads = (str(self.data_directory),)
            allowance = (f"declared allowance: read-only access to the drill server's data directory "
                         f"{self.data_directory} (binding [sandbox] read_data_directory = true)")
            rec.allowances.append(allowance)
            rec.findings.append(allowance)
        for folder in self.shared_folders:
            rec.findings.append(f"read-write access to {folder}, a folder the drill made and shares with its database "
                                "server (the server's own commands, e.g. archive_command, use it too)")
        try:
            done = sandbox.run_step(script, env=env, cwd=self.workdir, timeout_s=self.timeout,
                                    redactor=self.redact, record=rec, runbook_env=self.env,
                                    wrapper_map=self.wrapper_map, read_paths=reads, drill_variables=self.hook_vars,
                                    mounts=mounts, shared=tuple(str(f) for f in self.shared_folders))
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


def attach_partial(e: BaseException, result: RunbookResult) -> None:
    """Attach the steps run before an interrupt to the KeyboardInterrupt ``e`` (see ``partial_of``)."""
    with contextlib.suppress(AttributeError):
        e.runbook_result = result  # type: ignore[attr-defined]


def partial_of(e: BaseException) -> RunbookResult | None:
    """The RunbookResult of a runbook interrupted by ``e`` (its steps so far, the interrupted one
    last and errored), or None when ``e`` did not come through run_runbook."""
    got = getattr(e, "runbook_result", None)
    return got if isinstance(got, RunbookResult) else None


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
    data_directory: Path | None = None,
    shared_folders: tuple[Path, ...] = (),
) -> RunbookResult:
    """Run ``runbook`` as written under ``binding``; never raises for a failing step (the result says so).

    ``observe_effects`` records what each restore-phase step changed (table digests, objects under
    the live prefix), so a restore that exits 0 and does nothing is visible. ``data_directory``: the
    drill server's data directory on this machine (physical drills), which backup steps may read when the
    binding declares ``[sandbox] read_data_directory`` (each such step lists it in ``allowances``).
    ``shared_folders``: folders outside the working folder, made by the drill, that every step may read and
    write because the drill's database server uses them too (a physical drill's pgBackRest folder: its
    configuration, CA file, lock and log folders, read by archive_command); each step notes them in its findings.
    Raises BadInput for a binding that does not fit the runbook (before anything runs), for a binding
    declaring read_data_directory when the drill has no local data directory, and for BadInput from a
    hook (e.g. a destructive step refused on a non-harness target).
    """
    if binding.sandbox.read_data_directory and data_directory is None:
        raise BadInput(f"binding {binding.label}: [sandbox] read_data_directory = true, but this drill's database "
                       "server has no data directory on this machine (only a physical drill starts its own); "
                       "drop the key or run the procedure as a physical drill")
    return _Run(runbook, binding, env, Path(workdir).resolve(), hooks or RunHooks(), step_timeout_s,
                placeholders or {}, observe_effects, data_directory, tuple(shared_folders)).run()


