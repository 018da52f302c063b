"""What a pg_dump archive is and holds, read before anything is restored (``verify-backup``).

The file is classified from its first bytes and ``pg_restore -l`` (header and table of contents), then
read end to end once (``pg_restore --data-only -f -``), counting the rows of every table's COPY block as
they stream by. That one pass proves the file is complete and gives the row counts a restore must
reproduce, so ``row_counts`` can fail without a manifest. Anything that makes the file unusable raises
``BadInput`` with one line that says what the file is and what to do.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from restore_drill.checks.backup import parse_header_line, read_custom_header
from restore_drill.checks.references import Relation, relations_from_catalog
from restore_drill.fixtures.binaries import PgBinaries
from restore_drill.foundation import sha256_file

from ..errors import BadInput, StepTimeout
from ..procs import kill_group, run
from .coverage import ArchiveShape, read_shape

# TOC descriptions that name restorable objects, longest first so "FK CONSTRAINT" wins over "CONSTRAINT".
_DESCS = sorted((
    "TABLE", "TABLE DATA", "TABLE ATTACH", "VIEW", "MATERIALIZED VIEW", "MATERIALIZED VIEW DATA", "SEQUENCE",
    "SEQUENCE SET", "SEQUENCE OWNED BY", "INDEX", "INDEX ATTACH", "CONSTRAINT", "FK CONSTRAINT",
    "CHECK CONSTRAINT", "TRIGGER", "FUNCTION", "PROCEDURE", "EXTENSION", "SCHEMA", "DEFAULT", "COMMENT", "ACL",
    "TYPE", "DOMAIN", "ENCODING", "STDSTRINGS", "SEARCHPATH", "DATABASE", "RULE", "POLICY", "ROW SECURITY",
    "PUBLICATION", "PUBLICATION TABLE", "SUBSCRIPTION", "EVENT TRIGGER", "AGGREGATE", "COLLATION", "OPERATOR",
    "CAST", "FOREIGN TABLE", "STATISTICS", "BLOB", "BLOBS", "LARGE OBJECT", "DEFAULT ACL",
), key=len, reverse=True)
_TOC_LINE = re.compile(r"^(\d+);\s+(\d+)\s+(\d+)\s+(.*)$")
_VERSION = re.compile(r"(\d+)(?:\.(\d+))?")
_IDENT = r'(?:"(?:[^"]|"")+"|[^\s.,()"]+)'
_COPY = re.compile(rb"^COPY (" + _IDENT.encode() + rb"(?:\." + _IDENT.encode() + rb")?)[ ]")
_FK_STMT = re.compile(
    r"ALTER TABLE (?:ONLY )?(?P<tbl>" + _IDENT + r"(?:\." + _IDENT + r")?)\s+ADD CONSTRAINT (?P<name>" + _IDENT
    + r") (?P<def>FOREIGN KEY .*?);\s*$", re.MULTILINE | re.DOTALL)
_SQL_START = re.compile(rb"^\s*(--|/\*|SET |CREATE |BEGIN|SELECT |\\connect|ALTER |COPY |INSERT )", re.IGNORECASE)


@dataclass(frozen=True)
class TocEntry:
    """One ``pg_restore -l`` line: ``key`` is "<schema> <tag>" (schema "-" for schemas/extensions)."""

    dump_id: int
    desc: str
    key: str
    owner: str

    @property
    def schema(self) -> str:
        return self.key.split(" ", 1)[0]


@dataclass
class ArchiveInfo:
    """A usable archive: header, table of contents, rows per table, foreign keys."""

    path: Path
    kind: str  # custom | directory | tar
    size_bytes: int
    sha256: str
    header: dict[str, str] = field(default_factory=dict)
    entries: list[TocEntry] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)  # "schema.table" -> rows in its COPY block
    foreign_keys: list[Relation] = field(default_factory=list)
    reader: str = ""  # `pg_restore --version` of the tool that read it
    shape: ArchiveShape | None = None  # tables' kinds, partitions, large objects (from the pre-data script)
    read_s: float = 0.0
    mtime: str = ""

    @property
    def dumped_by(self) -> str:
        return self.header.get("Dumped by pg_dump version", "")

    @property
    def dumped_from(self) -> str:
        return self.header.get("Dumped from database version", "")

    @property
    def dumped_by_major(self) -> int | None:
        return major_of(self.dumped_by)

    @property
    def dumped_from_major(self) -> int | None:
        return major_of(self.dumped_from)

    @property
    def created_at(self) -> str | None:
        """When pg_dump started (``Archive created at``), ISO-8601. pg_dump stores local time without a
        zone; it is read as UTC, which is what the header says when the dump ran with TZ=UTC."""
        raw = self.header.get("Archive created at", "")
        m = re.match(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})", raw)
        if not m:
            return None
        return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).isoformat().replace(
            "+00:00", "Z")

    @property
    def data_tables(self) -> list[str]:
        return sorted(dotted(e.key) for e in self.entries if e.desc == "TABLE DATA")

    @property
    def schemas(self) -> tuple[str, ...]:
        found = {e.schema for e in self.entries if e.desc in ("TABLE", "SEQUENCE", "VIEW", "MATERIALIZED VIEW")}
        return tuple(sorted(found)) or ("public",)

    def summary(self) -> str:
        return (f"{self.path.name}: {self.kind} archive, {self.size_bytes} bytes, {len(self.entries)} TOC entries, "
                f"data for {len(self.row_counts)} tables ({sum(self.row_counts.values())} rows), database "
                f"{self.header.get('dbname', '?')}, dumped by pg_dump {self.dumped_by or '?'} from "
                f"PostgreSQL {self.dumped_from or '?'}")


def major_of(version: str) -> int | None:
    m = _VERSION.search(version or "")
    return int(m.group(1)) if m else None


def unquote(ident: str) -> str:
    ident = ident.strip()
    return ident[1:-1].replace('""', '"') if ident.startswith('"') and ident.endswith('"') else ident


def split_ident(qualified_sql: str) -> list[str]:
    return [unquote(m.group(0)) for m in re.finditer(_IDENT, qualified_sql)]


def dotted(key: str) -> str:
    """TOC key "public Child Table" -> "public.Child Table" (the form checks use)."""
    schema, _, name = key.partition(" ")
    return f"{schema}.{name}"


def parse_listing(listing: str) -> tuple[dict[str, str], list[TocEntry]]:
    header: dict[str, str] = {}
    entries: list[TocEntry] = []
    for line in listing.splitlines():
        if line.startswith(";"):
            kv = parse_header_line(line)
            if kv is not None:
                header.setdefault(*kv)
            continue
        m2 = _TOC_LINE.match(line)
        if not m2:
            continue
        rest = m2.group(4)
        desc = next((d for d in _DESCS if rest.startswith(d + " ")), rest.split(" ", 1)[0])
        # "<schema> <tag> <owner>"; the owner is the last token and may be empty (trailing space).
        key, _, owner = rest[len(desc) + 1:].rpartition(" ")
        entries.append(TocEntry(int(m2.group(1)), desc, key, owner))
    return header, entries


def _child_env() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC"}


def _kind_from_bytes(path: Path) -> str:
    """custom | directory | tar | gzip | plain | empty | unknown, from the first bytes."""
    if path.is_dir():
        return "directory"
    with path.open("rb") as f:
        head = f.read(512)
    if not head:
        return "empty"
    if head.startswith(b"PGDMP"):
        return "custom"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if _SQL_START.match(head) or b"PostgreSQL database dump" in head:
        return "plain"
    return "unknown"


def _header_bytes(path: Path) -> dict[str, str]:
    """The custom header of a custom archive or a directory archive's toc.dat."""
    p = path / "toc.dat" if path.is_dir() else path
    try:
        return read_custom_header(p)
    except OSError:
        return {}


def _newer_message(path: Path, header: dict[str, str], tools: Sequence[PgBinaries], stderr: str) -> str:
    newest = max(tools, key=lambda b: b.major)
    fmt = header.get("Dump Version", "")
    by = header.get("Dumped by pg_dump version", "")
    m = re.search(r"unsupported version \(([\d.]+)\)", stderr)
    fmt = m.group(1) if m else fmt
    who = f"pg_dump {by} (archive format {fmt})" if by else f"a newer pg_dump (archive format {fmt})"
    return (f"{path} was written by {who}, newer than every pg_restore available (newest: "
            f"{newest.version} at {newest.bindir}): install the PostgreSQL {major_of(by) or 'client'} client "
            "tools and add their bin folder to RESTORE_DRILL_PG_BINDIRS, then verify again")


def classify_failure(path: Path, kind: str, stderr: str, size: int, table: str | None = None) -> str:
    """One line for an archive pg_restore cannot read to the end."""
    err = next((ln.split("error:", 1)[1].strip() for ln in stderr.splitlines() if "error:" in ln),
               stderr.strip()[:200])
    where = f" in the data of {table}" if table else ""
    if "end of file" in err or "too short" in err or "unexpected EOF" in err:
        return (f"{path} is truncated: pg_restore reached the end of the file{where} after {size} bytes "
                f"({err}); the copy is incomplete: copy it again from the backup store or take a new backup")
    if "uncompress" in err or "decompress" in err or "zlib" in err or "lz4" in err or "zstd" in err:
        return (f"{path} is corrupted: a compressed block{where} does not decode ({err}); the file changed "
                "after pg_dump wrote it: use another copy (compare its sha256) or take a new backup")
    return (f"{path} is a damaged {kind} archive: pg_restore cannot read it{where} ({err}); use another copy "
            "or take a new backup")


def preflight(path: Path) -> str:
    """The archive kind, or BadInput for a file that is not one (missing, empty, plain SQL, gzip ...)."""
    if not path.exists():
        raise BadInput(f"{path} does not exist: pass the path of a pg_dump archive "
                       "(pg_dump --format=custom, directory or tar)")
    if path.is_dir() and not (path / "toc.dat").is_file():
        raise BadInput(f"{path} is a folder without toc.dat, so not a pg_dump directory archive: pass the "
                       "archive file or the folder pg_dump --format=directory wrote")
    if not path.is_dir() and not path.is_file():
        raise BadInput(f"{path} is not a regular file: pass the path of a pg_dump archive")
    kind = _kind_from_bytes(path)
    size = _size(path)
    if kind == "empty" or size == 0:
        raise BadInput(f"{path} is empty (0 bytes): the backup job wrote nothing; check its log and "
                       "take a new backup")
    if kind == "gzip":
        raise BadInput(f"{path} is gzip-compressed ({size} bytes): decompress it first "
                       f"(gunzip -k {path}) and verify the file inside")
    if kind == "plain":
        raise BadInput(f"{path} is a plain-SQL dump (pg_dump's default text format), which pg_restore cannot "
                       "read: take the backup with pg_dump --format=custom to verify it (a plain dump restores "
                       "only with psql -f)")
    if kind == "unknown":
        with path.open("rb") as f:
            head = f.read(8)
        raise BadInput(f"{path} is not a pg_dump archive (it starts with bytes {head.hex(' ')}, not PGDMP): "
                       "pass a file written by pg_dump --format=custom, directory or tar")
    return kind


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


def _tree_sha256(path: Path) -> str:
    """sha256 of a file, or of a directory archive's files (name and content, in name order)."""
    if not path.is_dir():
        return sha256_file(path)
    import hashlib

    h = hashlib.sha256()
    for p in sorted(q for q in path.iterdir() if q.is_file()):
        h.update(p.name.encode() + b"\0" + bytes.fromhex(sha256_file(p)))
    return h.hexdigest()


def listing(tool: PgBinaries, path: Path, timeout_s: float) -> tuple[int, str, str]:
    done = run([tool.tool("pg_restore"), "-l", path], env=_child_env(), timeout_s=timeout_s)
    return done.exit_code, done.stdout, done.stderr


def stream_row_counts(tool: PgBinaries, path: Path, timeout_s: float) -> tuple[int, dict[str, int], str, str | None]:
    """Decode every data block (``pg_restore --data-only -f -``) and count each table's COPY rows as
    they stream by: nothing is held in memory but the counts. Returns (exit code, counts, stderr, the
    table being read when the stream ended)."""
    argv = [str(tool.tool("pg_restore")), "--data-only", "-f", "-", str(path)]
    counts: dict[str, int] = {}
    current: str | None = None
    with tempfile.TemporaryFile() as err:
        # procs.run captures stdout whole; an archive's data can be larger than memory, so stream it here
        # with procs' conventions: argument list, explicit env, own process group, killed on timeout.
        proc = subprocess.Popen(argv, env=_child_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=err, start_new_session=True, bufsize=1 << 20)
        timed_out = threading.Event()

        def expire() -> None:
            timed_out.set()
            kill_group(proc)

        timer = threading.Timer(timeout_s, expire)
        timer.start()
        try:
            assert proc.stdout is not None
            n = 0
            for line in proc.stdout:
                if current is not None:
                    if line == b"\\.\n":
                        counts[current] = n
                        current = None
                    else:
                        n += 1
                elif line.startswith(b"COPY ") and line.rstrip().endswith(b"FROM stdin;"):
                    m = _COPY.match(line)
                    if m:
                        current, n = ".".join(split_ident(m.group(1).decode("utf-8", "replace"))), 0
            code = proc.wait()
        except BaseException:
            kill_group(proc)
            raise
        finally:
            timer.cancel()
            with contextlib.suppress(Exception):
                if proc.stdout is not None:
                    proc.stdout.close()
        if timed_out.is_set():
            raise StepTimeout(f"reading {path} end to end took longer than {timeout_s:g}s and was stopped "
                              "(raise the limit with --step-timeout)")
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    return code, counts, stderr, current


def foreign_keys(tool: PgBinaries, path: Path, timeout_s: float) -> list[Relation]:
    """Foreign keys the archive declares (its post-data section), so orphans are checked by join even
    when the restore could not re-create the constraint."""
    done = run([tool.tool("pg_restore"), "--section=post-data", "-f", "-", path], env=_child_env(),
               timeout_s=timeout_s)
    if done.exit_code != 0:
        return []
    rows: list[dict[str, Any]] = []
    for m in _FK_STMT.finditer(done.stdout):
        rows.append({"kind": "f", "tbl": ".".join(split_ident(m["tbl"])), "name": unquote(m["name"]),
                     "definition": " ".join(m["def"].split())})
    return relations_from_catalog({"constraints": rows})


def readable_by(tool: PgBinaries, path: Path, timeout_s: float = 120.0) -> str | None:
    """None if this version's pg_restore reads the archive's table of contents, else its error line."""
    code, _, stderr = listing(tool, path, timeout_s)
    if code == 0:
        return None
    return next((ln.split("error:", 1)[1].strip() for ln in stderr.splitlines() if "error:" in ln),
                stderr.strip()[:200]) or f"pg_restore exited {code}"


def inspect_archive(path: Path, tools: Sequence[PgBinaries], *, timeout_s: float = 3600.0) -> ArchiveInfo:
    """Classify, list and read ``path`` end to end with the newest ``pg_restore`` in ``tools``
    (:func:`list_archive` then :func:`read_archive`).

    Raises BadInput (one line: what the file is, what to do) for a missing, empty, gzip, plain-SQL,
    foreign, truncated or corrupted file, and for an archive newer than every ``pg_restore`` here.
    """
    info, reader = list_archive(path, tools, timeout_s=timeout_s)
    return read_archive(info, reader, timeout_s=timeout_s)


def list_archive(path: Path, tools: Sequence[PgBinaries], *,
                 timeout_s: float = 3600.0) -> tuple[ArchiveInfo, PgBinaries]:
    """The quick part of :func:`inspect_archive`: classify ``path`` and read its header and table of
    contents (``pg_restore -l``) with the newest ``pg_restore`` in ``tools``; returns (the archive with
    ``header``/``entries`` only, that reader). Raises BadInput as ``inspect_archive`` does for a missing,
    empty, gzip, plain-SQL, foreign or unlistable file, or one newer than every ``pg_restore`` here."""
    path = Path(path)
    kind = preflight(path)
    usable = [b for b in tools if b.has("pg_restore")]
    if not usable:
        raise BadInput("no pg_restore found: install the PostgreSQL client tools or set RESTORE_DRILL_PG_BINDIRS")
    reader = max(usable, key=lambda b: b.major)
    size = _size(path)
    t0 = time.monotonic()
    code, out, err = listing(reader, path, min(timeout_s, 600.0))
    if code != 0:
        if "unsupported version" in err:
            raise BadInput(_newer_message(path, _header_bytes(path), usable, err))
        raise BadInput(classify_failure(path, kind, err, size))
    header, entries = parse_listing(out)
    info = ArchiveInfo(path=path, kind=kind, size_bytes=size, sha256="", header=header, entries=entries)
    by = info.dumped_by_major
    if by is not None and by > reader.major:  # a newer pg_dump whose format the old reader still accepts
        raise BadInput(_newer_message(path, header, usable, ""))
    info.read_s = round(time.monotonic() - t0, 3)
    return info, reader


def read_archive(info: ArchiveInfo, reader: PgBinaries, *, timeout_s: float = 3600.0) -> ArchiveInfo:
    """The slow part of :func:`inspect_archive`: read every data block of a listed archive (rows per
    table), its foreign keys and shape, and its sha256, into ``info`` (returned; ``read_s`` then counts
    listing and reading). Raises BadInput for a truncated or corrupted data block (one line naming it)."""
    t0 = time.monotonic()
    path = info.path
    code, counts, err, table = stream_row_counts(reader, path, timeout_s)
    if code != 0:
        raise BadInput(classify_failure(path, info.kind, err, info.size_bytes, table))
    info.row_counts = counts
    info.foreign_keys = foreign_keys(reader, path, min(timeout_s, 600.0))
    info.shape = read_shape(reader, str(path), min(timeout_s, 600.0))
    info.reader = f"pg_restore (PostgreSQL) {reader.version}"
    info.read_s = round(info.read_s + time.monotonic() - t0, 3)
    info.sha256 = _tree_sha256(path)
    info.mtime = datetime.fromtimestamp(os.stat(path).st_mtime, UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")
    return info
