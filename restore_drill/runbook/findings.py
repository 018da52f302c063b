"""What the runner notices about a step beyond its exit status: the first failing line of a block and its
first error line, aws s3 copies that moved nothing, curl without --fail."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from restore_drill.seeds.ledger import SCHEMA as LEDGER_SCHEMA

_TRANSFER = re.compile(r"^(copy|upload|download|move|delete):", re.M)
_CURL = re.compile(r"(?:^|[\s;&|(])curl\s")
_CURL_FAIL = re.compile(r"\s(?:--fail(?:-with-body)?|-[A-Za-z]*f[A-Za-z]*)(?=\s|$)")


# Notes each failing command's line (LINENO counts this line too, hence -1) and status; the runbook's own
# `trap ... ERR`, if any, replaces it, which only costs the line number.
_ERR_TRAP = ('trap \'rd_s=$?; printf "%s %s\\n" "$((LINENO-1))" "$rd_s" >> "$RESTORE_DRILL_ERRLOG" 2>/dev/null\' ERR\n')
# What a line of a tool's error output looks like (pg_*, psql, aws, s3cmd, bash), to skip progress/verbose lines.
_ERROR_LINE = re.compile(r"error|fatal|failed|denied|not found|no such|cannot|could not|invalid|refused|"
                         r"does not exist|not run:", re.I)
def first_error_line(stderr: str) -> str:
    """The first line of ``stderr`` that reads as an error (else its first non-empty line). An error about the
    harness's own write ledger (schema restore_drill_ledger, seeds/ledger.py) is shown only when there is no
    other: the first error a step names is about the user's data."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if _ERROR_LINE.search(ln)]
    users = [ln for ln in errors if LEDGER_SCHEMA not in ln]
    return ((users or errors or lines or [""])[0])[:500]


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


# -- files the backup phase wrote that backup_globs do not match ----------------------------------------------

_WALK_DEPTH = 3  # folders below the working folder looked into: a backup lands near where the runbook works
_WALK_MAX = 5000  # entries examined at most, so a runbook that syncs a large tree locally stays cheap


def workdir_files(workdir: Path) -> dict[str, tuple[int, int]]:
    """{path relative to ``workdir``: (mtime_ns, size)} of the regular files under it, at most ``_WALK_DEPTH``
    folders deep and ``_WALK_MAX`` entries, skipping hidden names (the harness's private .home/.tmp and the
    runner's .rd-err-* notes)."""
    out: dict[str, tuple[int, int]] = {}
    seen = 0
    stack = [(workdir, 0)]
    while stack and seen < _WALK_MAX:
        folder, depth = stack.pop()
        with contextlib.suppress(OSError), os.scandir(folder) as it:
            for e in it:
                seen += 1
                if e.name.startswith("."):
                    continue
                if e.is_dir(follow_symlinks=False):
                    if depth < _WALK_DEPTH:
                        stack.append((Path(e.path), depth + 1))
                elif e.is_file(follow_symlinks=False):
                    st = e.stat(follow_symlinks=False)
                    out[str(Path(e.path).relative_to(workdir))] = (st.st_mtime_ns, st.st_size)
    return out


def written_between(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """The files of ``after`` that are new or changed since ``before`` (both from :func:`workdir_files`), sorted."""
    return sorted(p for p, sig in after.items() if before.get(p) != sig)


def unmatched_backup_note(written: list[str], globs: list[str] | tuple[str, ...]) -> str:
    """The finding for a backup phase that wrote ``written`` (paths relative to the working folder) while no
    file matched ``globs`` (the binding's backup_globs): the drill cannot tell which file is the backup, so it
    names them and the line to change. Empty when nothing was written."""
    if not written:
        return ""
    shown = ", ".join(written[:5]) + (f" (+{len(written) - 5} more)" if len(written) > 5 else "")
    one = len(written) == 1
    return (f"the backup step wrote {shown}, which backup_globs {list(globs)} do not match: "
            f"add {'it' if one else 'the backup file'} to backup_globs in the binding")


# -- libpq errors that mean "the binding does not declare the names the runbook uses" ---------------------------

# The server's wording (PostgreSQL's auth.c / postinit.c / acl.c messages), as psql, pg_dump and pg_restore print it.
_PASSWORD = re.compile(r'password authentication failed for user "([^"]+)"')
_NO_DATABASE = re.compile(r'database "([^"]+)" does not exist')
_NO_ROLE = re.compile(r'(FATAL:\s+)?role "([^"]+)" does not exist')
_INIT = "or run `restore-drill init` to write it"


def names_hint(stderr: str, user: str = "", database: str = "", roles: tuple[str, ...] = ()) -> str:
    """The finding for a step whose ``stderr`` shows it connected as a user / to a database / named a role the
    drill's server does not have because the binding's ``[names]`` (``user``, ``database``, ``roles``: what it
    declares today) does not declare it. Empty when the error is not one of those, or the name is declared
    (then the cause is elsewhere and a hint to declare it would mislead)."""
    m = _PASSWORD.search(stderr)
    if m and m[1] != user:
        return (f"the runbook connects as user '{m[1]}': declare [names] user = \"{m[1]}\" in the binding, {_INIT}")
    m = _NO_ROLE.search(stderr)
    if m and m[2] != user and m[2] not in roles:
        if m[1]:  # FATAL at connection time: the role it logs in as
            return (f"the runbook connects as user '{m[2]}': declare [names] user = \"{m[2]}\" in the binding, "
                    f"{_INIT}")
        return f"the runbook names role '{m[2]}': declare [names] roles = [\"{m[2]}\"] in the binding, {_INIT}"
    m = _NO_DATABASE.search(stderr)
    if m and m[1] != database:
        return (f"the runbook uses database '{m[1]}': declare [names] database = \"{m[1]}\" in the binding, "
                f"{_INIT}")
    return ""


# bash: "bash: line 3: cd: /srv/app: No such file or directory" (a folder) / "bash: line 4: /usr/local/bin/aws:
# No such file or directory" (a command); other tools: "... /srv/app/backups/x.dump: No such file or directory".
_NO_PATH = re.compile(r"(?:line \d+: (?P<cd>cd: )?)?(?P<path>/[^\s:'\"]+)[\"']?: (?:No such file or directory|Permission denied)")


def host_path_hints(stderr: str, script: str, folders: dict[str, str], tools: dict[str, str]) -> list[str]:
    """The findings (one per path, in stderr order) for a step that failed on a host path the runbook spells
    literally (present in ``script``) and the binding's ``[names] folders``/``tools`` does not declare: each
    names the path and the [names] line that shows it to the step (a folder after `cd` or holding the path:
    ``folders``; a command by absolute path: ``tools``). Nothing for a declared path (the cause is elsewhere)."""
    out: list[str] = []
    for m in _NO_PATH.finditer(stderr):
        path = m["path"].rstrip("/")
        if path not in script or any(path == k or path.startswith(k + "/") for k in (*folders, *tools)):
            continue
        hint = ""
        if m["cd"]:
            hint = (f"the runbook uses the host folder {path}, which the drill does not provide: declare "
                    f"[names] folders = {{ \"{path}\" = \".\" }} in the binding (a folder inside the drill's working "
                    f"folder, shown to each step at {path}; the host's {path} is never touched), {_INIT}")
        elif re.search(rf"(?:^|[\s;&|(`]){re.escape(path)}(?:\s|$)", script, re.M) and m.group(0).startswith("line"):
            tool = os.path.basename(path)
            hint = (f"the runbook calls the tool {path}, which the drill does not provide: declare "
                    f"[names] tools = {{ \"{path}\" = \"{tool}\" }} in the binding (the name of the drill's tool "
                    f"it stands for, shown read-only to each step at {path}), {_INIT}")
        elif (folder := os.path.dirname(path)) not in ("", "/"):
            hint = (f"the runbook uses the host path {path}, which the drill does not provide: declare its folder, "
                    f"[names] folders = {{ \"{folder}\" = \".\" }} in the binding, {_INIT}")
        if hint and hint not in out:
            out.append(hint)
    return out
