"""Wrappers a runbook puts around its database commands: sudo, docker/podman exec, compose exec, kubectl exec.

In production ``docker exec -i immich_postgres psql …`` means "run psql inside the database's
container"; in a drill the binding says which containers, compose services and pods *are* the drill's
database (``[names] containers``), and the wrapper runs the wrapped command here, against the drill's
server (the libpq environment is already exported). ``sudo -u USER cmd`` means "as the database's OS
user" and always runs ``cmd`` (as the drill's user; ``PGUSER`` becomes USER when the binding declares
that role). Anything else (``docker start``, ``kubectl delete``, a container the binding does not name)
is refused: it would reach a real Docker engine, cluster or host; so is ``systemctl``/``service``.

This file is stdlib-only and runs as a script (``python wrappers.py docker "$@"``) from the shims
:func:`write_shims` puts first on the runbook's PATH, so each wrapped call costs one interpreter start,
not an import of the whole package.

Environment read by the shims:
  ``RESTORE_DRILL_DB_TARGETS``  comma-separated names meaning the drill's database
  ``RESTORE_DRILL_ROLES``       comma-separated roles the drill created (for ``sudo -u``)
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

REFUSED_EXIT = 126  # "command found but not executable": what a shell reports for a command it cannot run
TOOLS = ("sudo", "docker", "podman", "docker-compose", "kubectl", "systemctl", "service")
TARGETS_VAR = "RESTORE_DRILL_DB_TARGETS"
ROLES_VAR = "RESTORE_DRILL_ROLES"

# Options that take a value, per wrapper (docs: `docker exec --help`, `docker compose exec --help`,
# `kubectl exec --help`, sudo(8)); flags not listed take none.
_SUDO_VALUE = {"-u", "--user", "-g", "--group", "-C", "--close-from", "-D", "--chdir", "-h", "--host",
               "-p", "--prompt", "-r", "--role", "-t", "--type", "-T", "--command-timeout", "-U", "--other-user"}
_DOCKER_EXEC_VALUE = {"-e", "--env", "--env-file", "-u", "--user", "-w", "--workdir", "--detach-keys"}
_COMPOSE_GLOBAL_VALUE = {"-f", "--file", "-p", "--project-name", "--profile", "--env-file", "--project-directory",
                         "--ansi", "--parallel", "--progress"}
_COMPOSE_EXEC_VALUE = {"-e", "--env", "-u", "--user", "-w", "--workdir", "--index"}
_KUBECTL_VALUE = {"-n", "--namespace", "-c", "--container", "--context", "--kubeconfig", "--cluster", "--user",
                  "-f", "--filename", "--pod-running-timeout", "-s", "--server", "--token", "--as", "--as-group"}


@dataclass(frozen=True)
class Unwrapped:
    """The command to run here instead: ``command`` (argv), ``via`` (what was unwrapped, for the record),
    ``env`` (variables to set, e.g. PGUSER for ``sudo -u postgres``)."""

    command: list[str]
    via: str
    env: dict[str, str]


@dataclass(frozen=True)
class Refusal:
    """Why the call is not run: one line naming what to declare in the binding."""

    reason: str


def _options(args: list[str], valued: set[str]) -> tuple[dict[str, str], list[str]]:
    """Leading options (``-x v``, ``--x=v``, bundled short flags ``-it``) and the rest of ``args``."""
    opts: dict[str, str] = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return opts, args[i + 1:]
        if not a.startswith("-") or a == "-":
            break
        if a.startswith("--") and "=" in a:
            k, v = a.split("=", 1)
            opts[k] = v
        elif a in valued:
            opts[a] = args[i + 1] if i + 1 < len(args) else ""
            i += 1
        elif not a.startswith("--") and len(a) > 2 and f"-{a[-1]}" in valued:
            opts[f"-{a[-1]}"] = args[i + 1] if i + 1 < len(args) else ""  # -iu postgres
            i += 1
        elif not a.startswith("--") and len(a) > 2 and f"-{a[1]}" in valued:
            opts[f"-{a[1]}"] = a[2:]  # -upostgres
        else:
            opts[a] = ""
        i += 1
    return opts, args[i:]


def _target_ok(name: str, targets: set[str]) -> bool:
    return name in targets or name.split("/", 1)[-1] in targets


def unwrap(tool: str, args: list[str], targets: set[str], roles: set[str] | None = None) -> Unwrapped | Refusal:
    """What ``tool args…`` runs in the drill: the wrapped command, or a refusal.

    ``targets``: container/service/pod names the binding declares as the drill's database.
    ``roles``: roles the drill created; ``sudo -u R`` sets ``PGUSER=R`` only for those.
    """
    name = os.path.basename(tool)
    roles = roles or set()
    declare = "declare it in the binding's [names] containers (it is the drill's database) or mark the step not_run"
    if name == "sudo":
        opts, rest = _options(args, _SUDO_VALUE)
        if not rest:
            return Refusal("sudo without a command (a login shell) cannot run in a drill")
        user = opts.get("-u") or opts.get("--user") or ""
        env = {"PGUSER": user} if user in roles else {}
        return Unwrapped(rest, f"sudo -u {user}" if user else "sudo", env)
    if name in ("docker", "podman"):
        gl, rest = _options(args, {"-H", "--host", "--context", "-c", "--config", "-l", "--log-level"})
        if rest[:1] == ["compose"]:
            return _compose(rest[1:], targets, f"{name} compose", declare)
        if rest[:1] == ["container"]:
            rest = rest[1:]
        if rest[:1] != ["exec"]:
            return Refusal(f"`{name} {' '.join(rest[:2])}` would act on a real container engine; "
                           "only `exec` into a container the binding declares runs in a drill")
        return _exec_into(rest[1:], _DOCKER_EXEC_VALUE, name, "container", targets, declare)
    if name == "docker-compose":
        return _compose(args, targets, "docker-compose", declare)
    if name == "kubectl":
        gl, rest = _options(args, _KUBECTL_VALUE)
        if rest[:1] != ["exec"]:
            return Refusal(f"`kubectl {' '.join(rest[:2])}` would act on a real cluster; only `exec` into a pod "
                           "the binding declares runs in a drill")
        tail = rest[1:]
        # `kubectl exec [opts] POD [opts] -- cmd`: options may come after the pod; the command follows `--`.
        head, cmd = (tail[:tail.index("--")], tail[tail.index("--") + 1:]) if "--" in tail else (tail, [])
        pod, i = "", 0
        while i < len(head):
            a = head[i]
            if a.startswith("-"):
                i += 2 if (a in _KUBECTL_VALUE and "=" not in a) else 1
                continue
            if not pod:
                pod = a
            else:
                cmd = head[i:] + cmd  # deprecated form without `--`
                break
            i += 1
        if not pod or not cmd:
            return Refusal("`kubectl exec` needs a pod and a command after `--`")
        if not _target_ok(pod, targets):
            return Refusal(f"pod {pod!r} is not the drill's database: {declare}")
        return Unwrapped(cmd, f"kubectl exec {pod}", {})
    if name in ("systemctl", "service"):
        return Refusal(f"`{name} {' '.join(args[:2])}` would act on this host's services; the drill has none of the "
                       "application's processes: mark the step not_run (or phase never) in the binding")
    return Refusal(f"{name} is not a wrapper restore-drill knows")


def _compose(args: list[str], targets: set[str], label: str, declare: str) -> Unwrapped | Refusal:
    gl, rest = _options(args, _COMPOSE_GLOBAL_VALUE)
    if rest[:1] != ["exec"]:
        return Refusal(f"`{label} {' '.join(rest[:1])}` would act on real containers; only `exec` into a service "
                       "the binding declares runs in a drill")
    return _exec_into(rest[1:], _COMPOSE_EXEC_VALUE, label, "service", targets, declare)


def _exec_into(args: list[str], valued: set[str], label: str, noun: str, targets: set[str],
               declare: str) -> Unwrapped | Refusal:
    """The words after `<label> exec` (docker/podman exec, docker compose exec): ``[options] TARGET command...``.
    ``valued``: the options that take a value; ``noun``: what TARGET is ("container", "service"). Unwrapped
    runs the command with the -e/--env variables when TARGET is one the binding declares; else a Refusal."""
    opts, rest = _options(args, valued)
    if len(rest) < 2:
        return Refusal(f"`{label} exec` needs a {noun} and a command")
    if not _target_ok(rest[0], targets):
        return Refusal(f"{noun} {rest[0]!r} is not the drill's database: {declare}")
    return Unwrapped(rest[1:], f"{label} exec {rest[0]}", _env_opts(opts))


def _env_opts(opts: dict[str, str]) -> dict[str, str]:
    out = {}
    for k in ("-e", "--env"):
        if "=" in opts.get(k, ""):
            n, v = opts[k].split("=", 1)
            out[n] = v
    return out


def _csv(var: str) -> set[str]:
    return {x.strip() for x in os.environ.get(var, "").split(",") if x.strip()}


def write_shims(bindir: Path, python: str = sys.executable) -> Path:
    """Write one shim per wrapper tool (sudo, docker, podman, docker-compose, kubectl) into ``bindir``.

    Each is ``exec <python> <this file> <tool> "$@"``; put ``bindir`` first on the runbook's PATH.
    Returns ``bindir``. Raises OSError when the folder cannot be written.
    """
    bindir.mkdir(parents=True, exist_ok=True)
    me = Path(__file__).resolve()
    for tool in TOOLS:
        p = bindir / tool
        p.write_text(f'#!/bin/sh\nexec "{python}" -I "{me}" {tool} "$@"\n')
        p.chmod(0o755)
    return bindir


def main(argv: list[str]) -> int:
    """Shim entry point: ``wrappers.py TOOL ARGS…``; execs the wrapped command or exits 126."""
    if not argv:
        print("restore-drill wrapper: usage: wrappers.py TOOL ARGS...", file=sys.stderr)
        return 2
    tool, args = argv[0], argv[1:]
    got = unwrap(tool, args, _csv(TARGETS_VAR), _csv(ROLES_VAR))
    if isinstance(got, Refusal):
        print(f"restore-drill: not run: {got.reason}", file=sys.stderr)
        return REFUSED_EXIT
    # One line on stderr so the step's record shows the unwrap (stdout may be a dump being redirected).
    print(f"restore-drill: `{got.via}` runs `{' '.join(got.command[:3])}` against the drill's database",
          file=sys.stderr)
    env = {**os.environ, **got.env}
    # The wrapped command must not find our shim again for itself (sudo sudo ...) is fine: PATH is kept.
    try:
        os.execvpe(got.command[0], got.command, env)
    except OSError as e:
        print(f"restore-drill: {got.command[0]}: {e.strerror}", file=sys.stderr)
        return 127
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
