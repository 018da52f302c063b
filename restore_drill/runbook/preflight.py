"""Pre-flight: the backup and copy tools a runbook's steps call that are not installed here.

Found before anything runs, so a step that would die with ``command not found`` (exit 127) is
recorded ``not_run`` naming the tool, and the drill does not blame the procedure for the machine.
Only well-known tools are looked for (a word match on the block's text, outside comments): the
PostgreSQL clients, object-storage CLIs and backup tools a restore runbook uses.
"""

from __future__ import annotations

import re
import shutil

KNOWN_TOOLS = (
    "pg_dump", "pg_restore", "psql", "pg_dumpall", "createdb", "dropdb", "createuser", "pg_basebackup",
    "aws", "s3cmd", "rclone", "mc", "gsutil", "az", "pgbackrest", "barman", "wal-g", "restic", "borg",
)
# How each tool gets onto this machine (for the one line that names the fix).
INSTALL_HINT = {
    "s3cmd": "it comes with the project's venv (make)",
    "rclone": "`make tools` installs the Debian package",
    "pgbackrest": "`make tools` installs the Debian package as root (apt-get install pgbackrest)",
    "mc": "the MinIO client is not packaged for this machine: put `mc` on PATH or mark the step not_run",
}
_WORD = {t: re.compile(rf"(?<![\w./$-]){re.escape(t)}(?![\w.=/-])") for t in KNOWN_TOOLS}


def tools_used(text: str) -> list[str]:
    """Known tools the block's text calls, in KNOWN_TOOLS order (comment lines ignored)."""
    body = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    return [t for t, rx in _WORD.items() if rx.search(body)]


def missing_tools(text: str, path: str) -> list[str]:
    """Tools ``text`` calls that ``path`` (a PATH value) does not hold."""
    return [t for t in tools_used(text) if shutil.which(t, path=path) is None]


def reason(tools: list[str]) -> str:
    """The not_run reason for a step whose tools are missing."""
    hints = "; ".join(f"{t}: {INSTALL_HINT[t]}" for t in tools if t in INSTALL_HINT)
    return (f"not run: {', '.join(tools)} {'is' if len(tools) == 1 else 'are'} not installed on this machine "
            f"(pre-flight){'; ' + hints if hints else ''}")
