"""The backup artifact itself and the restore command's exit status: never trust an exit code of 0."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from restore_drill.foundation import sha256_file
from restore_drill.procs import kill_group, run
from restore_drill.records import BackupRecord, StepRecord
from restore_drill.seeds.ledger import SCHEMA as _LEDGER  # the harness's write ledger, not the user's data

from ._util import capped, qualified, sample, timed
from .result import CheckResult

# "; Archive created at 2026-03-01 12:00:00 UTC" has no colon after its key; every other header line does.
_HEADER = re.compile(r"^;\s+(?:(?P<k1>Archive created at)\s+|(?P<k2>[A-Za-z][A-Za-z_ ]*?):\s*)(?P<v>.*)$")
_VERSION = re.compile(r"(\d+)(?:\.(\d+))?")


@dataclass
class ArchiveToc:
    """What ``pg_restore -l`` says about an archive."""

    header: dict[str, str] = field(default_factory=dict)
    data_tables: list[str] = field(default_factory=list)  # schema-qualified, TABLE DATA entries
    entries: int = 0


def parse_header_line(line: str) -> tuple[str, str] | None:
    """(key, value) of a ``pg_restore -l`` header line ("; Dumped by pg_dump version: 16.14"), or None."""
    m = _HEADER.match(line)
    if m is None or not m["v"].strip():
        return None
    return (m["k1"] or m["k2"]).strip(), m["v"].strip()


def parse_toc(listing: str) -> ArchiveToc:
    """Header fields and the tables whose data the archive holds: the one reader of ``pg_restore -l``
    headers (the runner's backup records and verify-backup use it too)."""
    toc = ArchiveToc()
    for line in listing.splitlines():
        if line.startswith(";"):
            kv = parse_header_line(line)
            if kv is not None:
                toc.header.setdefault(*kv)
            continue
        if not line.strip():
            continue
        toc.entries += 1
        # "<id>; <catalog oid> <oid> TABLE DATA <schema> <name> <owner>"
        _, _, rest = line.partition(";")
        parts = rest.split(" TABLE DATA ", 1)
        if len(parts) != 2:
            continue
        tokens = parts[1].strip().split(" ")
        if len(tokens) >= 3:
            schema, name = tokens[0], " ".join(tokens[1:-1])
        elif len(tokens) == 2:
            schema, name = tokens
        else:
            continue
        toc.data_tables.append(f"{schema}.{name}")
    return toc


def read_custom_header(path: Path) -> dict[str, str]:
    """Archive and pg_dump versions straight from a custom-format header (WriteHead in
    pg_backup_archiver.c), for archives this pg_restore is too old to list. Empty if not custom."""
    with path.open("rb") as f:
        head = f.read(4096)
    if not head.startswith(b"PGDMP") or len(head) < 11:
        return {}
    vmaj, vmin, vrev, int_size = head[5], head[6], head[7], head[8]
    pos = 11  # magic, 3 version bytes, int size, offset size, format

    def read_int() -> int:
        nonlocal pos
        sign, raw = head[pos], head[pos + 1: pos + 1 + int_size]
        pos += 1 + int_size
        v = int.from_bytes(raw, "little")
        return -v if sign else v

    def read_str() -> str:
        nonlocal pos
        n = read_int()
        if n < 0:
            return ""
        v = head[pos: pos + n].decode("utf-8", "replace")
        pos += n
        return v

    try:
        if (vmaj, vmin) >= (1, 15):
            pos += 1  # compression algorithm byte
        else:
            read_int()  # compression level
        for _ in range(7):  # creation time: sec, min, hour, mday, mon, year, isdst
            read_int()
        read_str()  # database name
        server = read_str()
        dumped_by = read_str()
    except IndexError:
        return {"Dump Version": f"{vmaj}.{vmin}-{vrev}"}
    return {"Dump Version": f"{vmaj}.{vmin}-{vrev}", "Dumped from database version": server,
            "Dumped by pg_dump version": dumped_by}


# Plain-format dumps (pg_dump's default, a psql script) open with this comment and, when pg_dump finished,
# end with the trailer (dumpDatabase/CloseArchive in pg_dump.c / pg_backup_archiver.c). Since 17.6/16.10
# pg_dump wraps the script in \restrict / \unrestrict lines, so both are looked for near the ends.
PLAIN_HEADER = "-- PostgreSQL database dump"
PLAIN_TRAILER = "-- PostgreSQL database dump complete"
_PLAIN_DATA = re.compile(r"^-- (?:Data for )?Name: (?P<name>.+?); Type: TABLE DATA; Schema: (?P<schema>[^;]+);")
_PLAIN_VERSION = re.compile(r"^-- (?P<k>Dumped from database version|Dumped by pg_dump version) (?P<v>.+)$")


@dataclass
class PlainDump:
    """What a plain-format (SQL script) dump says about itself."""

    header: dict[str, str] = field(default_factory=dict)  # "Dumped by pg_dump version" ... and "format": "plain"
    data_tables: list[str] = field(default_factory=list)  # schema-qualified, from "Type: TABLE DATA" comments
    complete: bool = False  # the completion trailer is there: pg_dump finished writing
    entries: int = 0  # "-- Name: ...; Type: ..." object comments


def read_plain_dump(path: Path, head_lines: int = 40) -> PlainDump | None:
    """A plain-format dump's header fields, data tables and completion trailer, streamed line by line;
    None when ``path`` is not one (a custom/tar archive, or any other file)."""
    with path.open("rb") as f:
        start = f.read(8192)
    if start.startswith(b"PGDMP") or PLAIN_HEADER.encode() not in b"\n".join(start.splitlines()[:head_lines]):
        return None
    out = PlainDump(header={"format": "plain"})
    last: list[str] = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("-- "):
                if m := _PLAIN_VERSION.match(line):
                    out.header.setdefault(m["k"], m["v"].strip())
                elif "; Type: " in line:
                    out.entries += 1
                    if m := _PLAIN_DATA.match(line):
                        out.data_tables.append(f"{m['schema'].strip()}.{m['name'].strip()}")
            if line.strip():
                last = [*last[-9:], line]
    out.complete = any(ln.strip() == PLAIN_TRAILER for ln in last)
    return out


def _major_minor(version: str) -> tuple[int, int] | None:
    m = _VERSION.search(version or "")
    return (int(m.group(1)), int(m.group(2) or 0)) if m else None


def _child_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


@timed("backup_artifact")
def backup_artifact(
    record: BackupRecord,
    pg_restore: Path,
    intended_tables: Sequence[str] | None = None,
    *,
    full_read: bool = True,
    timeout_s: float = 600.0,
    partitioned: Sequence[str] = (),
) -> CheckResult:
    """The dump exists, is non-empty, matches its recorded sha256, reads end to end, holds data for
    exactly the intended tables, and was written by a pg_dump no newer than ``pg_restore``.

    ``intended_tables`` defaults to ``record.intended_tables``; an empty list skips the coverage part
    (a whole-database dump: there is no list to compare against). ``full_read`` also decodes every
    data block (``pg_restore -f /dev/null``), which is what catches a truncated or bit-flipped archive
    whose table of contents is still intact.

    ``partitioned`` names partitioned parents: pg_dump writes their rows under the partitions (a
    partitioned table has no storage of its own, PostgreSQL docs "Table Partitioning"), so no data
    entry is expected for them; their partitions are still demanded.
    """
    name = "backup_artifact"
    path = Path(record.path)
    ev: dict[str, object] = {"path": str(path), "recorded_sha256": record.sha256,
                             "recorded_size": record.size_bytes}
    if not path.is_file():
        return CheckResult.failed(name, f"backup file {path} does not exist", expected="a file",
                                  observed="missing", evidence=ev)
    size = path.stat().st_size
    ev["size"] = size
    if size == 0:
        return CheckResult.failed(name, f"backup file {path} is empty (0 bytes)", expected=record.size_bytes,
                                  observed=0, evidence=ev)
    problems: list[str] = []
    # The archive's reads are independent of each other: its sha256 (hashlib releases the GIL), pg_restore -l,
    # --version and the full read run at once instead of one after another (issue 19: 1.0-1.4 s of an ArqonBus
    # scale 200 drill's checks); the verdict reads their results in the order it always did. A plain script
    # is never given to pg_restore (it cannot read one), as before.
    children: list[Any] = []  # a Ctrl-C (or an error) here stops them at once, as run() does its own
    with ThreadPoolExecutor(max_workers=4) as pool:
        hashed = pool.submit(sha256_file, path)

        def pg_restore_run(*args: str, limit: float = timeout_s) -> Any:
            return pool.submit(run, [str(pg_restore), *args], env=_child_env(), timeout_s=limit,
                               on_start=children.append)

        try:
            plain = read_plain_dump(path)
            reads = {} if plain is not None else {
                "listed": pg_restore_run("-l", str(path)),
                "version": pg_restore_run("--version", limit=30),
                # --data-only to a null script: reads and decompresses every data block, writes nothing.
                **({"full": pg_restore_run("--data-only", "-f", os.devnull, str(path))} if full_read else {}),
            }
            got = {k: f.result() for k, f in reads.items()}
            digest = hashed.result()
        except BaseException:
            for child in children:
                kill_group(child)
            raise
    return _backup_artifact_verdict(name, path, record, intended_tables, partitioned, ev, size, problems,
                                    digest, plain, got)


def _backup_artifact_verdict(name: str, path: Path, record: BackupRecord, intended_tables: Sequence[str] | None,
                             partitioned: Sequence[str], ev: dict[str, object], size: int, problems: list[str],
                             digest: str, plain: PlainDump | None, reads: dict[str, Any]) -> CheckResult:
    """backup_artifact's verdict from the archive's reads (``reads``: procs.run results by "listed",
    "version" and, when the full read was asked for, "full"; empty for a plain script)."""
    ev["sha256"] = digest
    if not record.sha256:
        problems.append(f"no sha256 was recorded for {path.name} at backup time, so it cannot be verified")
    elif digest != record.sha256:
        problems.append(f"{path.name} sha256 {digest[:12]}… differs from the recorded {record.sha256[:12]}… "
                        f"(size {size}, recorded {record.size_bytes})")
    elif record.size_bytes and size != record.size_bytes:
        problems.append(f"{path.name} is {size} bytes, recorded {record.size_bytes}")

    if plain is not None:
        return _plain_artifact(name, path, plain, problems, ev, record, intended_tables, partitioned, size, digest)
    listed = reads["listed"]
    ev["toc_exit_code"] = listed.exit_code
    restore_ver = reads["version"].stdout.strip()
    ev["restore_tool"] = restore_ver
    if listed.exit_code != 0:
        header = read_custom_header(path)
        ev["archive_header"] = header
        dumped_by = header.get("Dumped by pg_dump version", "")
        dv, rv = _major_minor(dumped_by), _major_minor(restore_ver)
        if dv and rv and dv[0] > rv[0]:
            problems.append(f"{path.name} was dumped by pg_dump {dumped_by}, newer than {restore_ver}: "
                            "it cannot restore it")
        problems.append(f"pg_restore -l cannot read {path.name}: {listed.stderr.strip()[:200]}")
        return CheckResult.failed(name, "; ".join(problems), expected="a readable archive",
                                  observed="unreadable", evidence=ev)
    toc = parse_toc(listed.stdout)
    ev["archive_header"] = toc.header
    ev["toc_entries"] = toc.entries
    toc.data_tables, ledger_tables = _without_ledger(toc.data_tables)
    ev["data_tables"] = capped(sorted(toc.data_tables))
    if ledger_tables:
        ev["harness_ledger_tables"] = ledger_tables

    if "full" in reads:
        read = reads["full"]
        ev["full_read_exit_code"] = read.exit_code
        if read.exit_code != 0:
            problems.append(f"{path.name} does not read end to end: {read.stderr.strip()[:200]}")

    intended = list(intended_tables) if intended_tables is not None else list(record.intended_tables)
    intended = _without_ledger(intended)[0]
    if intended:
        want = {qualified(t) for t in intended} - {qualified(t) for t in partitioned}
        have = set(toc.data_tables)
        ev["partitioned_parents"] = sorted(qualified(t) for t in partitioned)
        missing, extra = sorted(want - have), sorted(have - want)
        ev["missing_tables"] = capped(missing)
        ev["unexpected_tables"] = capped(extra)
        if missing:
            problems.append(f"archive has no data for {sample(missing)}")
        if extra:
            problems.append(f"archive has data for tables outside the procedure's scope: {sample(extra)}")

    dumped_by = toc.header.get("Dumped by pg_dump version", "")
    ev["dumped_by"] = dumped_by
    dv, rv = _major_minor(dumped_by), _major_minor(restore_ver)
    # Archive formats change with majors only, so minors are compared for the record, not the verdict.
    if dv and rv and dv[0] > rv[0]:
        problems.append(f"{path.name} was dumped by pg_dump {dumped_by}, newer than {restore_ver}: "
                        "it cannot restore it")

    return _artifact_verdict(
        name, problems, record, digest, ev,
        f"{path.name}: {size} bytes, sha256 matches, {toc.entries} TOC entries, "
        f"data for {len(toc.data_tables)} tables, dumped by {dumped_by or '?'}")


def _without_ledger(tables: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the user's tables, the harness ledger's tables): the ledger measures RPO and rides along in a
    whole-database dump, but counting it as the user's data would overstate what the backup holds."""
    ours = [t for t in tables if t.split(".", 1)[0].strip('"') == _LEDGER]
    return [t for t in tables if t not in ours], ours


def _plain_artifact(name: str, path: Path, plain: PlainDump, problems: list[str], ev: dict[str, object],
                    record: BackupRecord, intended_tables: Sequence[str] | None, partitioned: Sequence[str],
                    size: int, digest: str) -> CheckResult:
    """backup_artifact for a plain-format dump: pg_restore cannot read a SQL script, so the script is
    judged by its own header, its completion trailer (absent: pg_dump did not finish, the file is cut)
    and its "TABLE DATA" comments."""
    plain.data_tables, ledger_tables = _without_ledger(plain.data_tables)
    if ledger_tables:
        ev["harness_ledger_tables"] = ledger_tables
    ev.update({"format": "plain", "archive_header": plain.header, "toc_entries": plain.entries,
               "data_tables": capped(sorted(plain.data_tables)), "complete": plain.complete})
    if not plain.complete:
        problems.append(f"{path.name} has no completion trailer ({PLAIN_TRAILER!r}): pg_dump did not finish "
                        "writing it, or it was cut")
    intended = list(intended_tables) if intended_tables is not None else list(record.intended_tables)
    intended = _without_ledger(intended)[0]
    if intended:
        want = {qualified(t) for t in intended} - {qualified(t) for t in partitioned}
        missing = sorted(want - set(plain.data_tables))
        ev["missing_tables"] = capped(missing)
        if missing:
            problems.append(f"script has no data for {sample(missing)}")
    dumped_by = plain.header.get("Dumped by pg_dump version", "")
    ev["dumped_by"] = dumped_by
    return _artifact_verdict(
        name, problems, record, digest, ev,
        f"{path.name}: plain-format SQL script, {size} bytes, sha256 matches, complete (trailer present), "
        f"{plain.entries} objects, data for {len(plain.data_tables)} tables, dumped by {dumped_by or '?'}")


def _artifact_verdict(name: str, problems: list[str], record: BackupRecord, digest: str, ev: dict[str, object],
                      summary: str) -> CheckResult:
    """backup_artifact's verdict for either format: failed naming every problem (``; ``-joined) against the
    recorded sha256, else passed with ``summary``; ``digest`` (the file's sha256 now) is what was observed."""
    if problems:
        return CheckResult.failed(name, "; ".join(problems), expected=record.sha256 or "recorded sha256",
                                  observed=digest, evidence=ev)
    return CheckResult.passed(name, summary, expected=record.sha256, observed=digest, evidence=ev)


# -- restore exit status ------------------------------------------------------------------------

_IGNORED = re.compile(r"errors ignored on restore:\s*(\d+)")
_ERROR = re.compile(r"\berror:", re.IGNORECASE)
_CONTEXT = re.compile(r"^pg_restore: (?:from TOC entry|while PROCESSING TOC)")


def parse_errors(stderr: str) -> tuple[list[str], int | None]:
    """Error entries and pg_restore's "errors ignored" count.

    An entry is the ``error:`` line, preceded by pg_restore's "from TOC entry ..." context line (which
    names the object) and followed by its ``Command was:`` lines, so allowlists can match any of them.
    """
    entries: list[str] = []
    ignored: int | None = None
    context = ""
    in_entry = False
    for line in stderr.splitlines():
        m = _IGNORED.search(line)
        if m:
            ignored = int(m.group(1))
            in_entry = False
        elif _CONTEXT.match(line):
            context = line.strip() if "from TOC entry" in line else context
            in_entry = False
        elif _ERROR.search(line):
            entries.append((context + "\n" if context else "") + line.strip())
            context = ""
            in_entry = True
        elif in_entry and not line.startswith(("pg_restore:", "psql:")):
            entries[-1] += "\n" + line.rstrip()
        else:
            in_entry = False
    return entries, ignored


@timed("restore_exit_status")
def restore_exit_status(exit_code: int, stderr: str, allowlist: Sequence[str] = ()) -> CheckResult:
    """The restore's exit status and every error it printed (also the ones it "ignored").

    ``allowlist`` holds regular expressions (searched in each error entry, including its
    ``Command was:`` line) for errors the drill expects and accepts, e.g. ``schema "public" already
    exists``. A non-zero exit passes only when every error it reported is allowlisted.
    """
    name = "restore_exit_status"
    entries, ignored = parse_errors(stderr)
    pats = [re.compile(p) for p in allowlist]
    allowed = [e for e in entries if any(p.search(e) for p in pats)]
    unexpected = [e for e in entries if not any(p.search(e) for p in pats)]
    # Errors about the harness's own write ledger (seeds/ledger.py) go after the user's, labelled, so the
    # first error shown is always about the user's data.
    harness = [f"harness ledger: {e}" for e in unexpected if _LEDGER in e]
    unexpected = [e for e in unexpected if _LEDGER not in e] + harness
    ev = {"exit_code": exit_code, "errors_ignored": ignored, "allowlist": list(allowlist),
          "allowed_errors": capped(allowed), "unexpected_errors": capped(unexpected)}
    first = next((ln for ln in unexpected[0].splitlines() if _ERROR.search(ln)), "") if unexpected else ""
    if unexpected:
        return CheckResult.failed(
            name, f"restore exited {exit_code} with {len(unexpected)} unexpected error(s)"
            + (f" ({len(harness)} about the harness ledger)" if harness else "")
            + (f" ({ignored} ignored by pg_restore)" if ignored is not None else "") + f": {first[:300]}",
            expected="exit 0 or only allowlisted errors", observed=exit_code, evidence=ev)
    if ignored is not None and ignored > len(allowed):
        return CheckResult.failed(
            name, f"pg_restore ignored {ignored} errors but only {len(allowed)} are visible and allowlisted",
            expected=len(allowed), observed=ignored, evidence=ev)
    if exit_code != 0 and not allowed:
        return CheckResult.failed(name, f"restore exited {exit_code} without reporting an error it could be "
                                  "excused for", expected=0, observed=exit_code, evidence=ev)
    msg = f"restore exited {exit_code}"
    if allowed:
        msg += f"; {len(allowed)} allowlisted error(s) only"
    return CheckResult.passed(name, msg, expected="exit 0 or only allowlisted errors", observed=exit_code,
                              evidence=ev)


# Known harmless restore errors: (pattern searched in the error entry, why it is harmless). A -n public
# dump carries CREATE SCHEMA public, which every new database already has (pg_dump docs, -n: "the
# public schema ... is included"; the error is reported by pg_restore and changes nothing).
HARMLESS_PUBLIC_SCHEMA = (r'schema "public" already exists',
                          "a -n public dump re-creates the public schema every database already has")


def excuse_known(result: CheckResult, known: Sequence[tuple[str, str]]) -> CheckResult:
    """``result`` (restore_exit_status run with the ``known`` patterns allowlisted) with every error
    excused by one of them named in its message and evidence, so an excuse is never silent."""
    allowed = result.evidence.get("allowed_errors", {}).get("items", [])
    named = [(pat, why) for pat, why in known if any(re.search(pat, e) for e in allowed)]
    if not named:
        return result
    ev = {**result.evidence, "excused": [{"error": pat, "why": why} for pat, why in named]}
    note = "; ".join(f"excused: {pat.replace(chr(92), '')} ({why})" for pat, why in named)
    return replace(result, message=f"{result.message}; {note}", evidence=ev)


# -- which restore step to judge ------------------------------------------------------------------

# psql loading a script: -f FILE, --file=FILE, or FILE on stdin (psql ... < FILE).
_PSQL_SCRIPT = re.compile(r"\bpsql\b[^\n|;&]*?(?:\s-f\s*\S|\s--file[=\s]\S|<\s*\S)")
# ON_ERROR_STOP set on the command line (-v ON_ERROR_STOP=1, --set=ON_ERROR_STOP=on ...); psql's
# boolean spellings per its docs ("on", "true", "1", "yes", any unambiguous prefix).
_ON_ERROR_STOP = re.compile(r"ON_ERROR_STOP\s*=\s*['\"]?(?:1|on|t(?:rue?)?|y(?:es?)?)\b", re.IGNORECASE)


_STOPS = re.compile(r"(?:--exit-on-error|\s-e\b|ON_ERROR_STOP\s*=\s*['\"]?(?:1|on|t|y))", re.IGNORECASE)


def restore_steps_status(steps: Sequence[StepRecord], allowlist: Sequence[str] = ()) -> CheckResult:
    """restore_exit_status over a drill's restore steps: the pg_restore steps, or, when the restore
    loads a plain-format dump, the psql steps that run a script (``psql -f x.sql``, ``psql < x.sql``).

    psql keeps going after an error and exits 0 unless ON_ERROR_STOP is set (psql docs, "Variables"), so
    a psql restore is judged by the errors it printed (``psql:x.sql:12: ERROR: ...``), and a restore
    without ON_ERROR_STOP carries a warning in its message and evidence. The worst step is judged:
    the first with a non-zero exit or an error line, else the last. Steps not run or manual are ignored.
    ``schema "public" already exists`` (a ``-n public`` dump into any database) is excused and named,
    unless the step stops at its first error (then nothing after it was restored).
    """
    name = "restore_exit_status"
    ran = [s for s in steps if s.status not in ("not_run", "manual")]
    pg = [s for s in ran if "pg_restore" in s.command]
    psql = [s for s in ran if _PSQL_SCRIPT.search(s.command)] if not pg else []
    chosen = pg or psql
    if not chosen:
        return CheckResult.failed(name, "no pg_restore step (nor psql step running a plain-format dump) ran in the "
                                  "restore phase")
    worst = next((s for s in chosen if s.exit_code != 0 or parse_errors(s.stderr_tail)[0]), chosen[-1])
    # With --exit-on-error (-e) the restore stopped at that error, so nothing after it ran: not harmless.
    known = [] if _STOPS.search(worst.command) else [HARMLESS_PUBLIC_SCHEMA]
    r = excuse_known(restore_exit_status(worst.exit_code if worst.exit_code is not None else -1, worst.stderr_tail,
                                         [*allowlist, *(p for p, _ in known)]), known)
    ev: dict[str, object] = {**r.evidence, "step": worst.name, "command": worst.command,
                             "tool": "pg_restore" if pg else "psql"}
    message = r.message
    if psql:
        warnings = [f"step {s.name!r} runs psql without ON_ERROR_STOP: psql carries on after an error and "
                    "exits 0, so only the errors it printed tell" for s in psql if not _ON_ERROR_STOP.search(s.command)]
        if worst.stderr_tail.startswith("…"):
            warnings.append("psql's error output was longer than the kept tail: earlier errors may not be visible")
        ev["warnings"] = warnings
        message = f"psql {message.removeprefix('restore ')}" + (f" (warning: {warnings[0]})" if warnings else "")
    return CheckResult(r.name, r.status, message, r.expected, r.observed, ev, r.duration_s)
