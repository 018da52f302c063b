"""Runbook steps in a sandbox: a step can reach only what its drill created.

Public API (see the README's Safety section for what it covers and what it cannot):

- ``prepare(workdir, allowed_endpoints, wrapper_map) -> StepSandbox``: a confinement for one drill's
  steps; ``StepSandbox.env(base)`` is the environment (shims first on PATH, private TMPDIR) and
  ``StepSandbox.run(script, env=, timeout_s=)`` runs one step, returning (Completed, StepOutcome).
- ``run_step(script, env=, cwd=, timeout_s=, redactor=, record=, runbook_env=)``: what the runbook
  runner calls for each shell step; records blocks on the step record.
- ``allow_unconfined(True)`` / RESTORE_DRILL_UNCONFINED=1: the user's explicit opt-in (``--unconfined``)
  where the machine cannot confine steps; ``unavailable_reason()`` says why it cannot.
- ``path_mounts(folders, tools, workdir, env)`` -> PathMounts for ``run_step(..., mounts=)``: the host folders
  and tool paths a runbook spells (binding ``[names] folders``/``tools``) shown to the step by bind mounts in
  its private mount namespace; ``mounts_unavailable()`` says why they cannot be (unconfined / not root).
- ``dry_run`` (plan.py): the commands a drill would run, their bindings and what they may reach.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from restore_drill import procs
from restore_drill.errors import BadInput, InfraUnavailable, StepTimeout
from restore_drill.fixtures import binaries
from restore_drill.redact import Redactor

from .confine import UNCONFINED_ENV, Block, PathMount, StepOutcome, StepSandbox, mounts_reason, python_paths, unavailable_reason
from .endpoints import Endpoint, Endpoints, from_variables
from .plan import drills_plan, dry_run
from .shims import HOST_TOOLS

__all__ = ["HOST_TOOLS", "Block", "Endpoint", "Endpoints", "PathMount", "StepOutcome", "StepSandbox", "allow_unconfined",
           "drills_plan", "dry_run", "endpoints_for", "mounts_unavailable", "path_mounts", "preflight", "prepare",
           "run_step", "unavailable_reason", "unconfined"]

ERRLOG_VARIABLE = "RESTORE_DRILL_ERRLOG"
_sandboxes: dict[tuple[Any, ...], StepSandbox] = {}


def allow_unconfined(yes: bool = True) -> None:
    """Record the user's --unconfined opt-in for this process and the processes it starts."""
    if yes:
        os.environ[UNCONFINED_ENV] = "1"
    else:
        os.environ.pop(UNCONFINED_ENV, None)


def unconfined() -> bool:
    """Whether the user opted in to unconfined steps (--unconfined or RESTORE_DRILL_UNCONFINED=1)."""
    return os.environ.get(UNCONFINED_ENV, "") not in ("", "0")


def _run_as() -> tuple[int, int] | None:
    from restore_drill.fixtures.runtime_user import server_user

    u = server_user()
    return None if u.uid is None else (u.uid, u.gid if u.gid is not None else u.uid)


def preflight() -> None:
    """Before any server starts: raise InfraUnavailable (one line naming --unconfined) when this machine
    cannot confine runbook steps and the user did not opt in."""
    if not unconfined() and (why := unavailable_reason()):
        raise InfraUnavailable(why)


def prepare(workdir: Path, allowed_endpoints: Endpoints, wrapper_map: Mapping[str, str] | None = None,
            read_paths: tuple[str, ...] = ()) -> StepSandbox:
    """A StepSandbox for one drill's working folder (cached: same arguments, same object).

    ``allowed_endpoints``: ``Endpoints.of([Endpoint(...)])`` or ``endpoints_for(...)``.
    ``wrapper_map``: host tool -> bash body run in its place ("$@" = the tool's arguments), e.g.
    ``{"docker": 'shift 3; exec "$@"'}``; tools not mapped are refused with a finding.
    ``read_paths``: folders to read besides the system ones, the venv's Python and the PostgreSQL bindir.
    """
    key = (str(Path(workdir).resolve()), allowed_endpoints, tuple(sorted((wrapper_map or {}).items())), read_paths)
    sb = _sandboxes.get(key)
    if sb is None:
        if len(_sandboxes) > 64:
            _sandboxes.clear()
        sb = StepSandbox(Path(workdir), allowed_endpoints, wrapper_map, _run_as(),
                         (*python_paths(), *read_paths))
        _sandboxes[key] = sb
    return sb


def mounts_unavailable() -> str:
    """Why this run cannot show a binding's [names] folders/tools to its steps ('' when it can): steps run
    unconfined (--unconfined), or the harness is not root (no private mount namespace without it)."""
    return mounts_reason(not unconfined(), _run_as())


def path_mounts(folders: Mapping[str, str], tools: Mapping[str, str], workdir: Path,
                env: Mapping[str, str]) -> tuple[PathMount, ...]:
    """The PathMounts for a binding's ``[names] folders`` ({host folder: relative folder in ``workdir``},
    read-write; the inner folder is created) and ``tools`` ({absolute tool path: tool name}, read-only; the
    name is looked up on the step's PATH as the step will see it, shims first). Raises BadInput naming the
    [names] entry when a tool is not found or a folder leaves the working folder (a symlink out of it)."""
    root = Path(workdir).resolve()
    out: list[PathMount] = []
    for host, rel in folders.items():
        inner = root / rel
        inner.mkdir(parents=True, exist_ok=True)
        real = inner.resolve()
        if real != root and root not in real.parents:
            raise BadInput(f"[names] folders {host!r} = {rel!r}: {inner} leads out of the working folder (to {real}); "
                           "map it to a folder inside it")
        out.append(PathMount(host, str(real), True))
    path_value = os.pathsep.join([str(root / ".sandbox" / "bin"), env.get("PATH", "/usr/bin:/bin")])
    for host, name in tools.items():
        found = shutil.which(name, path=path_value)
        if found is None:
            raise BadInput(f"[names] tools {host!r} = {name!r}: the drill has no tool {name!r} on its PATH; "
                           "install it or map the path to a tool it has")
        out.append(PathMount(host, os.path.realpath(found), False))
    return tuple(out)


def endpoints_for(runbook_env: Any, step_env: Mapping[str, str],
                  drill_variables: Mapping[str, str] | None = None) -> Endpoints:
    """What a step may reach: the drill's database URLs, its S3 endpoint and the API URL in the step's
    environment (the stand-in's, or one the user bound). ``runbook_env``: fixtures.environment.RunbookEnvironment.
    ``drill_variables``: variables the harness itself bound while the drill ran (its hooks' outcomes, e.g.
    the upgrade drill's new server's ``DATABASE_URL``): servers the drill created later, allowed too."""
    s3 = getattr(runbook_env, "s3", None)
    variables = {**step_env, **getattr(runbook_env, "variables", {})}
    allowed = from_variables(variables, s3.url if s3 is not None else None)
    if drill_variables:
        allowed = Endpoints.of((*allowed.items, *from_variables(drill_variables).items))
    return allowed


def _postgres_install_dirs(path_value: str) -> tuple[str, ...]:
    """Installation folders of the PostgreSQL bindirs on a PATH the harness bound (a later server's client
    tools, e.g. the upgrade drill's newer major), which confined steps must be able to read."""
    out: list[str] = []
    for d in (Path(p) for p in path_value.split(":") if p):
        if (d / "pg_restore").is_file():
            out += [str(x) for x in binaries.install_dirs_of(d)]
    return tuple(out)


def run_step(script: str, *, env: Mapping[str, str], cwd: Path, timeout_s: float, redactor: Redactor | None,
             record: Any, runbook_env: Any, wrapper_map: Mapping[str, str] | None = None,
             read_paths: tuple[str, ...] = (), drill_variables: Mapping[str, str] | None = None,
             mounts: tuple[PathMount, ...] = (), shared: tuple[str, ...] = ()) -> procs.Completed:
    """Run one runbook shell step confined (drop-in for ``procs.run([script], shell=True, ...)``).

    Blocked reaches go to ``record.blocked`` (list of str) and ``record.findings``; tools the wrapper_map
    ran go to the findings. ``read_paths``: folders this step alone may also read (read-only, Landlock
    READ_EXEC), granted by the caller from a binding's declared allowance (e.g. ``[sandbox]
    read_data_directory``: the drill server's own data directory); the caller records the allowance.
    ``drill_variables``: what the harness bound during the drill (see :func:`endpoints_for`); the
    PostgreSQL installations on its PATH are readable too. ``mounts``: from :func:`path_mounts`, shown to
    this step only (its mount namespace is made fresh for it). ``shared``: folders outside the working folder
    the step may read and write (the caller's: folders the drill made for its server and its steps alike).
    Raises StepTimeout as procs.run does (blocks still recorded) and InfraUnavailable when the machine
    cannot confine steps and the user did not pass --unconfined.
    """
    bins = getattr(runbook_env, "client_bins", None)
    reads = tuple(str(d) for d in binaries.install_dirs(bins)) if bins is not None else ()
    reads += _postgres_install_dirs((drill_variables or {}).get("PATH", ""))
    sb = prepare(Path(cwd), endpoints_for(runbook_env, env, drill_variables), wrapper_map, reads + tuple(read_paths))
    # The runner's ERR trap appends failing line numbers to this file (runbook/runner.py, _ERR_TRAP).
    writable = tuple(v for v in (env.get(ERRLOG_VARIABLE),) if v) + tuple(shared)
    try:
        done, outcome = sb.run(script, env=env, timeout_s=timeout_s, redactor=redactor, confined=not unconfined(),
                               writable=writable, mounts=mounts)
    except StepTimeout as e:
        _note(record, getattr(e, "outcome", None), redactor)
        raise
    _note(record, outcome, redactor)
    return done


def _note(record: Any, outcome: StepOutcome | None, redactor: Redactor | None) -> None:
    if outcome is None or record is None:
        return
    red = redactor or Redactor()
    msgs = [red(b.message) for b in outcome.blocks]
    blocked = getattr(record, "blocked", None)
    if isinstance(blocked, list):
        blocked.extend(msgs)
    findings = getattr(record, "findings", None)
    if isinstance(findings, list):
        findings.extend(msgs)
        findings.extend(red(f"mapped by the binding: `{m}` ran on the drill's infrastructure") for m in outcome.mapped)
        if not outcome.confined:
            findings.append("ran unconfined (--unconfined): this step had the host's network, sockets and tools")
