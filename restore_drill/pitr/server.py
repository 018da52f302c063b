"""PostgreSQL servers on data directories the drill owns: the primary that archives WAL, and the restored copy.

The session's shared server (fixtures/embedded.py) cannot serve a physical drill: WAL archiving needs
``archive_mode = on`` at start, and a restore needs a server started on a data directory the runbook
filled. Both run here as the unprivileged server user (PostgreSQL refuses root, CI runs as root), listen
only on a unix socket in a private 0700 folder, and are stopped by pid.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from restore_drill.errors import InfraUnavailable
from restore_drill.fixtures.binaries import PgBinaries
from restore_drill.fixtures.database import Database
from restore_drill.fixtures.postgres.embedded import stop_postmaster
from restore_drill.fixtures.runtime_user import RunAs, server_user
from restore_drill.pitr import server_python

if TYPE_CHECKING:
    from restore_drill.fixtures.s3 import S3Endpoint

SUPERUSER = "drill"
SOCKET_PORT = 5432  # names the socket file inside our private folder; no TCP port is opened
# The restored server shares the primary's socket folder under another socket name: runbook steps run
# confined (restore_drill/sandbox) and may reach only the socket folder of the drill's DATABASE_URL.
RESTORED_SOCKET_PORT = 5433
START_TIMEOUT_S = 60.0

# Settings of the primary. archive_mode needs a restart to change, so it is on from the start; the
# archive_command itself is the runbook's (ALTER SYSTEM + reload, as an operator does). With
# archive_mode on and an empty archive_command PostgreSQL keeps the WAL until a command is set
# (https://www.postgresql.org/docs/current/runtime-config-wal.html#GUC-ARCHIVE-COMMAND).
# track_commit_timestamp gives each ledger transaction the exact commit time recovery compares with
# recovery_target_time. full_page_writes stays on: pg_basebackup relies on it.
PRIMARY_SETTINGS = {
    "wal_level": "replica", "archive_mode": "on", "track_commit_timestamp": "on", "fsync": "off",
    "max_wal_senders": "4", "max_connections": "40", "shared_buffers": "64MB", "log_min_messages": "info",
}
# The restored server gets no archive settings on its command line: a command-line -c would override
# what the restore procedure wrote into postgresql.auto.conf (recovery settings, archive_mode = off).
# max_connections and max_wal_senders must not be lower than the primary's, or recovery aborts with
# "recovery aborted because of insufficient parameter settings" (measured on PG 16.14).
RESTORED_SETTINGS = {"fsync": "off", "max_connections": PRIMARY_SETTINGS["max_connections"],
                     "max_wal_senders": PRIMARY_SETTINGS["max_wal_senders"], "shared_buffers": "64MB"}


def _die_with_parent() -> None:
    # Safety net: if the harness is SIGKILLed, the kernel stops the postmaster too (PR_SET_PDEATHSIG = 1).
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGINT)


def _preexec() -> Any:
    """PDEATHSIG fires when the *thread* that forked exits, so it is armed from the main thread only."""
    return _die_with_parent if threading.current_thread() is threading.main_thread() else None


@dataclass
class ServerProcess:
    """One postmaster: data directory, socket folder, log file. ``start`` waits until it accepts connections."""

    binaries: PgBinaries
    data: Path
    sock: Path
    log: Path
    env: dict[str, str]
    settings: dict[str, str]
    user: RunAs
    password: str = field(repr=False, default="")
    port: int = SOCKET_PORT
    proc: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: bool = True) -> None:
        """Start the postmaster as the server user, its output appended to ``log``; with ``wait``, block until
        it accepts connections (InfraUnavailable when it exits first or takes over START_TIMEOUT_S)."""
        args = [str(self.binaries.tool("postgres")), "-D", str(self.data), "-k", str(self.sock), "-p", str(self.port),
                "-c", "listen_addresses="]
        for k, v in self.settings.items():
            args += ["-c", f"{k}={v}"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, user=self.user.uid, group=self.user.gid,
                                         cwd=str(self.data.parent), start_new_session=True, preexec_fn=_preexec())
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Poll a connection until it succeeds; InfraUnavailable (with the log's tail) otherwise."""
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise InfraUnavailable(f"{self.binaries.label} exited during start (status {self.proc.returncode}): "
                                       f"{self.log_tail()}")
            try:
                with psycopg.connect(self.database().url, connect_timeout=5):
                    return
            except psycopg.OperationalError as e:
                last = e
                time.sleep(0.05)
        raise InfraUnavailable(f"{self.binaries.label} did not accept connections in {timeout_s:g}s: {last}")

    def database(self, name: str = "postgres") -> Database:
        """A Database for ``name`` on this server (created_by_harness: the drill made the whole server)."""
        return Database(name=name, user=SUPERUSER, password=self.password, host=str(self.sock), port=self.port,
                        server=self.binaries, server_version=self.binaries.version, created_by_harness=True,
                        backend="pitr")

    def alive(self) -> bool:
        """The postmaster we started is still running."""
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        """The whole server log ("" when there is none yet)."""
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 800) -> str:
        """The last ``n`` characters of the log, for error messages."""
        return self.log_text()[-n:].strip() or "(no server log)"

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then SIGKILL of the postmaster's and its children's process groups if it
        does not stop in 15 s (``stop_postmaster``)."""
        if self.proc is None:
            return
        stop_postmaster(self.proc)  # its children's own process groups too (fixtures.postgres.embedded)
        self.proc = None


def aws_shim(folder: Path, user: RunAs, *, site: str | None = None) -> Path:
    """Write ``folder/aws`` (and Barman's WAL tools beside it): the project's aws CLI, runnable by the server user.

    archive_command and restore_command run as the server user. Run as root from a clone under a 0700
    folder (/root/project), neither our venv's interpreter (pyenv under /root) nor its site-packages
    (``site``, default: ours) is reachable for that user: the shim then runs a reachable interpreter of our
    version (ours, /usr/bin/python3.X, or a cached copy of ours) on a cached copy of the distributions the
    shims import (restore_drill/pitr/server_python.py, the cache of fixtures.binaries.reachable()).
    Raises InfraUnavailable (naming the fix) when no choice can run ``aws --version`` as that user.
    Returns the folder to put first on the server's PATH.
    """
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    own_site = site or sysconfig.get_paths()["purelib"]
    shim_site = server_python.reachable_site(user, own_site)
    tried: list[str] = []

    def works(py: server_python.ServerPython) -> bool:
        shim = folder / "aws"
        shim.write_text(f'#!/bin/sh\n{py.shell_env()} exec "{py.python}" -s -m awscli "$@"\n')
        os.chmod(shim, 0o755)
        probe = subprocess.run([str(shim), "--version"], capture_output=True, text=True, timeout=60,
                               user=user.uid, group=user.gid, env={"PATH": "/usr/bin:/bin", "HOME": str(folder)})
        tried.append(f"{py.python} on {py.site}" + ("" if probe.returncode == 0 else f" ({_last_line(probe.stderr)})"))
        if probe.returncode == 0:
            _barman_shims(folder, py)
        return probe.returncode == 0

    for py in server_python.interpreters(user):
        if works(replace(py, site=shim_site)):
            return folder
    if os.geteuid() == 0 and works(replace(server_python.cached_interpreter(user), site=shim_site)):
        return folder
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    raise InfraUnavailable(f"the server user {user.name!r} cannot run the aws CLI (tried {'; '.join(tried) or 'nothing'}); "
                           f"install a Python {ver} that user can run, or run as that user")


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "no output"


# Barman cloud's WAL tools, which archive_command / restore_command run as the server user (console-script
# name -> module whose main() it runs; from barman 3.19.1's entry points).
BARMAN_SERVER_TOOLS = {"barman-cloud-wal-archive": "barman.clients.cloud_walarchive",
                       "barman-cloud-wal-restore": "barman.clients.cloud_walrestore"}


def _barman_shims(folder: Path, py: server_python.ServerPython) -> None:
    """Beside the aws shim, the Barman cloud WAL tools on the same interpreter and site-packages, when barman is
    installed (the Makefile installs it; without it a Barman procedure's archive_command fails, named)."""
    import importlib.util

    if importlib.util.find_spec("barman") is None:
        return
    for tool, module in BARMAN_SERVER_TOOLS.items():
        shim = folder / tool
        code = f'import sys; sys.argv[0] = "{tool}"; from {module} import main; sys.exit(main())'
        shim.write_text(f'#!/bin/sh\n{py.shell_env()} exec "{py.python}" -s -c \'{code}\' "$@"\n')
        os.chmod(shim, 0o755)


class PitrHost:
    """A private folder standing in for the database host: primary data, restore target, sockets, logs.

    ``primary`` archives WAL with the runbook's archive_command; ``restored`` is started on the data
    directory the restore procedure filled (``restore_dir``). Everything lives under one 0700 temp
    folder removed by ``close``; both servers are stopped by pid first.
    """

    def __init__(self, binaries: PgBinaries, s3: S3Endpoint | None, *, restore_dir: Path | None = None,
                 tmp_root: str | None = None) -> None:
        self.binaries = binaries
        self.s3 = s3
        self.user = server_user()
        self.password = secrets.token_urlsafe(18)
        self.root = Path(tempfile.mkdtemp(prefix=f"rd-pitr{binaries.major}-", dir=tmp_root))
        # Where the restore procedure puts the base backup (empty, owned by the server user, 0700): inside
        # the drill's workdir when given, the only place confined runbook steps may write.
        self.restore_dir = restore_dir or self.root / "restore"
        self.primary: ServerProcess | None = None
        self.restored: ServerProcess | None = None

    def _env(self) -> dict[str, str]:
        env = {"PATH": f"{self.root / 'bin'}:{self.binaries.bindir}:/usr/bin:/bin", "LANG": "C.UTF-8",
               "LC_ALL": "C.UTF-8", "HOME": str(self.root / "home"), "TZ": "UTC"}
        if self.s3 is not None:  # what archive_command / restore_command's aws needs; never logged
            env.update({"AWS_ACCESS_KEY_ID": self.s3.access_key, "AWS_SECRET_ACCESS_KEY": self.s3.secret_key,
                        "AWS_DEFAULT_REGION": self.s3.region, "AWS_ENDPOINT_URL": self.s3.url,
                        "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "",
                        # pgBackRest's repository keys (archive-push / archive-get in a pgBackRest procedure)
                        "PGBACKREST_REPO1_S3_KEY": self.s3.access_key,
                        "PGBACKREST_REPO1_S3_KEY_SECRET": self.s3.secret_key})
        return env

    def _mkdir(self, p: Path, mode: int = 0o700) -> Path:
        p.mkdir(mode=mode, exist_ok=True)
        os.chmod(p, mode)
        self.user.chown(str(p))
        return p

    def start_primary(self, extra: dict[str, str] | None = None) -> ServerProcess:
        """initdb + start the archiving primary. Raises InfraUnavailable when initdb or the start fails."""
        os.chmod(self.root, 0o700)
        self.user.chown(str(self.root))
        for d in ("home", "sock"):
            self._mkdir(self.root / d)
        self.restore_dir.mkdir(parents=True, exist_ok=True)
        self._mkdir(self.restore_dir)
        aws_shim(self.root / "bin", self.user)
        data = self.root / "data"
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        os.chmod(pwfile, 0o600)
        self.user.chown(str(pwfile))
        init = subprocess.run(
            [str(self.binaries.tool("initdb")), "-D", str(data), "-U", SUPERUSER, "--pwfile", str(pwfile),
             "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            env=self._env(), capture_output=True, text=True, timeout=120, user=self.user.uid, group=self.user.gid,
            cwd=str(self.root))
        pwfile.unlink()
        if init.returncode != 0:
            raise InfraUnavailable(f"initdb of {self.binaries.label} failed (exit {init.returncode}): "
                                   f"{init.stderr.strip()[-400:]}; try another --pg-version, or set TMPDIR to a "
                                   f"folder the server user {self.user.name!r} can reach")
        self.primary = ServerProcess(self.binaries, data, self.root / "sock", self.root / "primary.log", self._env(),
                                     {**PRIMARY_SETTINGS, **(extra or {})}, self.user, self.password)
        self.primary.start()
        return self.primary

    def start_restored(self) -> ServerProcess:
        """Start a server on what the restore procedure put in ``restore_dir``, without waiting: recovery may
        take a while, end paused, or stop with a FATAL; the caller watches it.

        The folder is first moved into this host's private folder (a rename on one filesystem): the
        drill's workdir may sit below folders the server user cannot enter (pytest's tmp_path is 0700
        root), and PostgreSQL needs its data directory owned by that user with mode 0700.
        """
        data = self.root / "pgdata-restored"
        shutil.rmtree(data, ignore_errors=True)
        shutil.move(str(self.restore_dir), str(data))
        for dirpath, dirnames, filenames in os.walk(data):
            for n in dirnames + filenames:
                self.user.chown(os.path.join(dirpath, n))
        self._mkdir(data)
        # A copied postmaster.pid would make the new postmaster refuse to start (lock file exists).
        with contextlib.suppress(FileNotFoundError):
            (data / "postmaster.pid").unlink()
        self.restored = ServerProcess(self.binaries, data, self.root / "sock", self.root / "restored.log", self._env(),
                                      dict(RESTORED_SETTINGS), self.user, self.password, RESTORED_SOCKET_PORT)
        self.restored.start(wait=False)
        return self.restored

    def pids(self) -> list[int]:
        """Pids of the postmasters running now (primary, restored)."""
        return [s.proc.pid for s in (self.primary, self.restored) if s is not None and s.proc is not None]

    def close(self) -> None:
        """Stop both servers by pid and remove the folder."""
        for s in (self.restored, self.primary):
            if s is not None:
                s.stop()
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.restore_dir, ignore_errors=True)

    def __enter__(self) -> PitrHost:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
