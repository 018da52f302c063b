"""The tools a runbook's steps reach through: wrapper shims (sudo, docker, kubectl) and rclone remotes."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from .binding import Binding
from .parser import Runbook
from .wrappers import ROLES_VAR, TARGETS_VAR, write_shims
from .wrappers import __file__ as wrappers_file

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
    out = {
        "PATH": os.pathsep.join([str(shims), env.get("PATH", "")]),
        TARGETS_VAR: ",".join(binding.names.containers),
        ROLES_VAR: ",".join(binding.names.all_roles),
    }
    # [names] hosts: `-h db.internal` sets libpq's host, PGHOSTADDR the address it connects to, so the name the
    # runbook spells reaches the drill's TCP listener without DNS or a rewrite. Source: libpq docs,
    # "Parameter Key Words" (hostaddr: "if hostaddr is specified, the host name lookup is not done").
    addr = env.get("PGHOST", "")
    if binding.names.hosts and re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]+", addr):
        out["PGHOSTADDR"] = addr
    return out
