"""Backup records: the files the backup phase wrote (size, sha256, pg_restore -l header and data tables) and the
storage snapshot it copied, recorded right after the backup phase."""

from __future__ import annotations

import glob
from datetime import datetime
from pathlib import Path
from typing import Any

from restore_drill import procs
from restore_drill.checks.backup import parse_toc, read_plain_dump
from restore_drill.errors import DrillError
from restore_drill.fixtures.environment import RunbookEnvironment
from restore_drill.foundation import sha256_file, utcnow
from restore_drill.records import BackupRecord, SnapshotRecord
from restore_drill.seeds.manifest import object_snapshots

from .findings import unmatched_backup_note
from .values import _TEMPLATE, _Values


class _Backups(_Values):
    """Mixin of _Run: which files the backup steps made, and their records (reads _Values' variables)."""

    # State only the backups mixin adds (the rest is declared in _RunState and _Values).
    backup_finished: dict[Path, str]

    def _backup_candidates(self) -> dict[Path, tuple[int, int]]:
        out: dict[Path, tuple[int, int]] = {}
        for g in self.binding.backup_globs:
            for name in glob.glob(g, root_dir=self.workdir):
                p = (self.workdir / name).resolve()
                if p.is_file():
                    st = p.stat()
                    out[p] = (st.st_mtime_ns, st.st_size)
        return out

    def record_backups(self) -> None:
        for path in sorted(self.backup_files, key=lambda p: str(p)):
            if path.exists():
                self.res.backups.append(self.backup_record(path))
        if not self.backup_files:
            self.res.backup_note = unmatched_backup_note(self.res.backup_written, self.binding.backup_globs)
            if self.res.backup_note:
                self.res.findings.append(self.res.backup_note)
            elif self.binding.backup_globs:
                self.res.findings.append(
                    f"the backup phase made no file matching {', '.join(self.binding.backup_globs)}")
        for b in self.res.backups:
            if b.size_bytes == 0:
                self.res.findings.append(f"backup {b.path} is empty (0 bytes)")
            elif not b.data_tables:
                self.res.findings.append(f"backup {b.path} holds no table data (pg_restore -l lists no TABLE DATA)")
        snap = self.binding.snapshot
        if snap is None:
            return
        env, _ = self.variables()
        known = {**env, **self.derived()}
        refs = _TEMPLATE.findall(snap.bucket) + _TEMPLATE.findall(snap.prefix)
        if self.env.s3 is None or not all(r in known for r in refs):
            self.res.findings.append("storage snapshot not recorded: no S3 endpoint or unbound template values")
            return
        bucket = _TEMPLATE.sub(lambda m: known[m[1]], snap.bucket)
        prefix = _TEMPLATE.sub(lambda m: known[m[1]], snap.prefix)
        listed_at = utcnow()
        # The record keeps size and sha256 only: an object S3 proves unchanged (its single-part ETag and size
        # those of a content already hashed) needs no request beyond the listing (issue 19: a HEAD each).
        objs = object_snapshots(self.env.s3.client(), bucket, prefix, headers=False)
        rec = SnapshotRecord(bucket, prefix, listed_at,
                             {k: {"size": o.size, "sha256": o.sha256} for k, o in sorted(objs.items())})
        self.res.snapshots.append(rec)
        if not objs:
            self.res.findings.append(f"storage snapshot s3://{bucket}/{prefix}/ holds no objects")

    def backup_record(self, path: Path) -> BackupRecord:
        version = ""
        try:
            version = procs.run([self.env.client_bins.tool("pg_dump"), "--version"], env=self.base_env,
                                timeout_s=30).stdout.strip()
        except DrillError:
            version = ""
        header, data_tables = archive_listing(self.env, path, self.base_env)
        return BackupRecord(
            path=str(path), size_bytes=path.stat().st_size, sha256=sha256_file(path),
            started_at=self.backup_files.get(path, ""), finished_at=self.backup_finished.get(path, ""),
            tool_version=version, archive_header=header, data_tables=data_tables,
            intended_tables=list(self.binding.tables),
        )


def archive_listing(env: RunbookEnvironment, path: Path, child_env: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """(header fields, schema-qualified tables with data) from ``pg_restore -l``, or for a plain-format
    dump (a SQL script pg_restore cannot list) from its own header and TABLE DATA comments."""
    plain = read_plain_dump(path) if path.is_file() else None
    if plain is not None:
        return {**plain.header, "complete": plain.complete}, sorted(set(plain.data_tables))
    try:
        done = procs.run([env.client_bins.tool("pg_restore"), "-l", path], env=child_env, timeout_s=120)
    except DrillError as e:
        return {"error": str(e)}, []
    if done.exit_code != 0:
        return {"error": procs.tail(done.stderr.strip(), 500)}, []
    toc = parse_toc(done.stdout)
    header: dict[str, Any] = dict(toc.header)
    if "Archive created at" in header:
        header["created_at_iso"] = _iso(header["Archive created at"])
    return header, sorted(set(toc.data_tables))


def _iso(created: str) -> str:
    # "2026-03-01 12:00:00 UTC" -> ISO when the zone is UTC; other zones stay as written.
    try:
        return datetime.strptime(created, "%Y-%m-%d %H:%M:%S UTC").isoformat() + "Z"
    except ValueError:
        return ""
