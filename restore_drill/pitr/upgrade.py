"""``pg_upgrade --check`` of a restored base backup into the next major the machine has ("before an upgrade").

The restored data directory (stopped) is the old cluster; a fresh ``initdb`` of the newer major, with the
same superuser, password, encoding and locale, is the new one. pg_upgrade starts and stops both itself on
a socket in the host's private folder; it refuses to run as root, so it runs as the server user.
(PostgreSQL docs, pg_upgrade: "--check ... check clusters only, don't change any data".)
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from restore_drill.fixtures.binaries import PgBinaries

from .server import SUPERUSER, PitrHost


@dataclass(frozen=True)
class UpgradeCheckRun:
    """What ``pg_upgrade --check`` said: exit code, its stdout (the checklist), and the majors involved."""

    old_major: int
    new_major: int
    exit_code: int
    output: str


def run_upgrade_check(host: PitrHost, new: PgBinaries, timeout_s: float = 300.0) -> UpgradeCheckRun:
    """Stop the restored server and run ``pg_upgrade --check`` from its data directory into a fresh
    ``new`` cluster. Raises RuntimeError when there is no restored data directory or the new cluster's
    initdb fails (its stderr named)."""
    srv = host.restored
    if srv is None:
        raise RuntimeError("no restored data directory to check (the restore did not start a server)")
    srv.stop()
    old = host.binaries
    work = host.root / "upgrade"
    work.mkdir(mode=0o700, exist_ok=True)
    host.user.chown(str(work))
    new_data = work / "data"
    pw = work / "pw"
    pw.write_text(host.password + "\n")
    os.chmod(pw, 0o600)
    host.user.chown(str(pw))
    env = {"PATH": f"{new.bindir}:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PGPASSWORD": host.password,
           "HOME": str(work)}
    # PG 18's initdb turns data checksums on by default; pg_upgrade needs both clusters alike.
    control = subprocess.run([str(old.tool("pg_controldata")), str(srv.data)], capture_output=True, text=True,
                             timeout=60, env={"LANG": "C", "LC_ALL": "C"})
    m = re.search(r"Data page checksum version:\s+(\d+)", control.stdout)
    if m is None:
        raise RuntimeError(f"pg_controldata of the restored cluster said nothing of checksums: {control.stderr[-300:]}")
    sums = m.group(1) != "0"
    flags = ["--data-checksums"] if sums else (["--no-data-checksums"] if new.major >= 18 else [])
    init = subprocess.run([str(new.tool("initdb")), "-D", str(new_data), "-U", SUPERUSER, "--pwfile", str(pw),
                           "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", *flags],
                          env=env, capture_output=True, text=True, timeout=timeout_s, user=host.user.uid,
                          group=host.user.gid, cwd=str(work))
    pw.unlink()
    if init.returncode != 0:
        raise RuntimeError(f"initdb of {new.label} failed: {init.stderr.strip()[-300:]}")
    done = subprocess.run([str(new.tool("pg_upgrade")), "--check", "-b", str(old.bindir), "-B", str(new.bindir),
                           "-d", str(srv.data), "-D", str(new_data), "-U", SUPERUSER, "--socketdir", str(work),
                           "-p", "50432", "-P", "50433"],
                          env=env, capture_output=True, text=True, timeout=timeout_s, user=host.user.uid,
                          group=host.user.gid, cwd=str(work))
    return UpgradeCheckRun(old.major, new.major, done.returncode, (done.stdout + done.stderr).strip())


def newer_major(current: PgBinaries, servers: tuple[PgBinaries, ...]) -> PgBinaries | None:
    """The next newer major the machine has that ships pg_upgrade, or None."""
    newer = sorted((b for b in servers if b.major > current.major and b.has("pg_upgrade")), key=lambda b: b.major)
    return newer[0] if newer else None


def logs(work: Path) -> str:
    """pg_upgrade's own log files (it leaves them in the new cluster's pg_upgrade_output.d on failure)."""
    out = []
    for p in sorted(work.rglob("*.txt")) + sorted(work.rglob("*.log")):
        out.append(f"== {p.name}\n{p.read_text(errors='replace')[-1500:]}")
    return "\n".join(out)
