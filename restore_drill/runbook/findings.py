"""What the runner notices about a step beyond its exit status: the first failing line of a block and its
first error line, aws s3 copies that moved nothing, curl without --fail."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

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
