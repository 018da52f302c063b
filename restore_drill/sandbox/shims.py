"""Shims for host-reaching tools, placed first on a step's PATH: refused with a finding, or mapped.

A shim never calls the real tool. Each invocation is written as one line to the file descriptor
named by RESTORE_DRILL_SHIM_FD (``<refused|mapped>\\t<tool>\\t<shell-quoted args>``) so the harness
can report it even when the step hides the shim's stderr. A mapped tool runs the binding's bash
body instead (it gets the original arguments as "$@"; see ``write_shims``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# tool -> what it would act on (for the finding)
HOST_TOOLS: dict[str, str] = {
    "docker": "the host's Docker daemon and its containers",
    "docker-compose": "the host's Docker daemon and its containers",
    "podman": "the host's Podman containers",
    "kubectl": "a Kubernetes cluster",
    "systemctl": "the host's systemd services",
    "service": "the host's services",
    "ssh": "another machine over SSH",
    "scp": "another machine over SSH",
    "sudo": "the host as another user (root)",
}
FD_VAR = "RESTORE_DRILL_SHIM_FD"

_LOG = ('{ printf "%s\\t%s\\t" KIND TOOL; printf "%q " "$@"; printf "\\n"; } >&"${' + FD_VAR
        + ':-2}" 2>/dev/null || true\n')


def _log_line(kind: str, tool: str) -> str:
    return _LOG.replace("KIND", kind).replace("TOOL", tool)


def _refused(tool: str) -> str:
    what = HOST_TOOLS[tool]
    return (
        "#!/bin/bash\n"
        f"# restore-drill shim: {tool} would act on {what}, which this drill did not create.\n"
        + _log_line("refused", tool)
        + f'echo "restore-drill: blocked: {tool} $* would act on {what}, which this drill did not create '
        f'(map {tool} onto the drill in the binding to run it)" >&2\n'
        "exit 126\n"
    )


def _mapped(tool: str, body: str) -> str:
    return (
        "#!/bin/bash\n"
        f"# restore-drill shim: {tool} mapped onto the drill's infrastructure by the binding.\n"
        + _log_line("mapped", tool)
        + body.rstrip("\n") + "\n"
    )


def write_shims(bindir: Path, wrapper_map: Mapping[str, str] | None = None) -> list[str]:
    """Write one executable shim per host tool into ``bindir`` (created 0755); returns the tool names.

    ``wrapper_map``: tool name -> bash body run in place of the tool, with the original arguments in
    "$@" and the step's environment (DATABASE_URL, PATH with the real client tools after the shims).
    A tool not in HOST_TOOLS may be mapped too. Raises OSError when ``bindir`` cannot be written.
    """
    bindir.mkdir(parents=True, exist_ok=True)
    os.chmod(bindir, 0o755)
    wrapper_map = dict(wrapper_map or {})
    names = sorted(set(HOST_TOOLS) | set(wrapper_map))
    for tool in names:
        text = _mapped(tool, wrapper_map[tool]) if tool in wrapper_map else _refused(tool)
        p = bindir / tool
        p.write_text(text)
        os.chmod(p, 0o755)
    return names


def parse_log(text: str) -> list[tuple[str, str, str]]:
    """(kind, tool, args) per line the shims wrote; malformed lines (a step writing there) are kept as-is."""
    out: list[tuple[str, str, str]] = []
    for line in text.splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3 and parts[0] in ("refused", "mapped"):
            out.append((parts[0], parts[1], parts[2].strip()))
        elif line.strip():
            out.append(("refused", "?", line.strip()[:200]))
    return out
