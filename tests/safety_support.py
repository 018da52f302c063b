"""Support for the safety, fault and load tests: watch every process a `restore-drill` run starts, run
the CLI with a private temp folder, and count what a run leaves behind (processes, temp dirs, buckets,
databases). Faults are injected from here into the real processes (kill -9, SIGSTOP, SIGINT).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CLI = str(Path(sys.executable).parent / "restore-drill")


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(ppid, state, starttime) of a live pid, None when gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = raw[raw.rindex(")") + 2:].split()  # comm may hold spaces; fields after it are fixed
    return int(rest[1]), rest[0], int(rest[19])


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                out += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return out


@dataclass
class Seen:
    pid: int
    starttime: int
    argv: list[str]

    def alive(self) -> bool:
        """The same process (pid and start time) still exists and is not a zombie."""
        st = _stat(self.pid)
        return st is not None and st[2] == self.starttime and st[1] != "Z"


@dataclass
class ProcessWatch:
    """Polls the process tree under ``root`` every ~2 ms and remembers every descendant it saw, so
    leftovers can be checked by pid (and start time, against pid reuse) after the run."""

    root: int
    on_poll: Callable[[ProcessWatch], None] | None = None
    seen: dict[tuple[int, int], Seen] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: BaseException | None = None

    def start(self) -> ProcessWatch:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self.poll()
                if self.on_poll is not None:
                    self.on_poll(self)
                time.sleep(0.002)
        except BaseException as e:  # surfaced by stop()
            self.error = e

    def poll(self) -> None:
        todo = _children(self.root)
        while todo:
            pid = todo.pop()
            st = _stat(pid)
            if st is None:
                continue
            key = (pid, st[2])
            argv = cmdline(pid)
            s = self.seen.get(key)
            if s is None:
                self.seen[key] = Seen(pid, st[2], argv)
            elif argv:
                s.argv = argv  # bash -c "cmd" execs cmd in place: keep the newest command line
            todo += _children(pid)

    def live(self) -> list[Seen]:
        """Descendants still alive right now (by pid and start time)."""
        self.poll()
        return [s for s in list(self.seen.values()) if s.alive()]

    def find(self, pred: Callable[[list[str]], bool]) -> Seen | None:
        for s in list(self.seen.values()):
            if s.alive() and pred(s.argv):
                return s
        return None


def is_postmaster(argv: list[str]) -> bool:
    return bool(argv) and Path(argv[0]).name == "postgres" and "-D" in argv


def is_moto(argv: list[str]) -> bool:
    return "restore_drill.fixtures._moto_main" in argv


def processes_mentioning(fragment: str) -> list[int]:
    """Pids anywhere on the machine whose command line mentions ``fragment`` (e.g. a private TMPDIR)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and fragment in " ".join(cmdline(int(d))):
            st = _stat(int(d))
            if st is not None and st[1] != "Z":
                out.append(int(d))
    return out


@dataclass
class CliRun:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    watch: ProcessWatch
    tmpdir: Path
    report_dir: Path
    duration_s: float

    def report(self) -> dict[str, Any]:
        reports = sorted(self.report_dir.glob("*/report.json"))
        assert reports, f"no report.json under {self.report_dir}\n{self.stdout}\n{self.stderr}"
        return dict(json.loads(reports[-1].read_text()))

    def run_dir(self) -> Path:
        return sorted(self.report_dir.glob("*/report.json"))[-1].parent

    def leftover_processes(self, settle_s: float = 10.0) -> list[Seen]:
        deadline = time.monotonic() + settle_s
        live = self.watch.live()
        while live and time.monotonic() < deadline:
            time.sleep(0.1)
            live = self.watch.live()
        return live

    def leftover_tmp(self) -> list[str]:
        """rd-* temp dirs in the run's private TMPDIR, and processes still using that folder."""
        dirs = sorted(str(p) for p in self.tmpdir.glob("rd-*"))
        procs = processes_mentioning(str(self.tmpdir))
        return dirs + [f"pid {p}: {' '.join(cmdline(p))[:120]}" for p in procs]

    def describe(self) -> str:
        return f"exit {self.returncode}\nstdout:\n{self.stdout[-3000:]}\nstderr:\n{self.stderr[-3000:]}"


def private_tmpdir(tmp_path: Path, name: str = "run") -> Path:
    """A TMPDIR of the run's own, so every rd-* dir it makes is countable. Made under /tmp (not under
    pytest's 0700 base folder) so the unprivileged Postgres server user can reach it when root; a
    symlink in ``tmp_path`` points at it and the test's clean-up removes it."""
    link = tmp_path / f"{name}-tmp"
    if link.is_symlink():
        return link.resolve()
    real = Path(tempfile.mkdtemp(prefix="rdtest-", dir="/tmp"))
    real.chmod(0o755)
    link.symlink_to(real)
    _TMPDIRS.append(real)
    return real


_TMPDIRS: list[Path] = []


def remove_private_tmpdirs() -> None:
    while _TMPDIRS:
        shutil.rmtree(_TMPDIRS.pop(), ignore_errors=True)


def cli_env(tmpdir: Path, extra: dict[str, str] | None = None, home: Path | None = None) -> dict[str, str]:
    """A small explicit environment: CI mode (no spinner), a private TMPDIR so every rd-* dir the run
    makes is countable, HOME wherever the test says."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "CI": "true", "TMPDIR": str(tmpdir),
           "HOME": str(home or tmpdir), "LANG": "C.UTF-8"}
    env.update(extra or {})
    return env


def start_cli(args: list[str], tmp_path: Path, *, env_extra: dict[str, str] | None = None,
              home: Path | None = None, cwd: Path | None = None,
              on_poll: Callable[[ProcessWatch], None] | None = None,
              name: str = "run") -> tuple[subprocess.Popen[str], ProcessWatch, Path, Path]:
    tmpdir = private_tmpdir(tmp_path, name)
    report_dir = tmp_path / f"{name}-reports"
    full = [CLI, *args]
    if "--report-dir" not in args:
        full += ["--report-dir", str(report_dir)]
    from tests.helpers import SIGINT_DEFAULT  # a Ctrl-C the test sends must reach the CLI

    proc = subprocess.Popen([*SIGINT_DEFAULT, *full], cwd=cwd or tmp_path, env=cli_env(tmpdir, env_extra, home), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watch = ProcessWatch(proc.pid, on_poll).start()
    return proc, watch, tmpdir, report_dir


def finish_cli(proc: subprocess.Popen[str], watch: ProcessWatch, tmpdir: Path, report_dir: Path,
               args: list[str], started: float, timeout: float = 300) -> CliRun:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    watch.stop()
    return CliRun(args, proc.returncode, out, err, watch, tmpdir, report_dir, time.monotonic() - started)


def run_cli(args: list[str], tmp_path: Path, *, timeout: float = 300, **kw: Any) -> CliRun:
    started = time.monotonic()
    proc, watch, tmpdir, report_dir = start_cli(args, tmp_path, **kw)
    return finish_cli(proc, watch, tmpdir, report_dir, args, started, timeout)


def kill(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


@contextlib.contextmanager
def stopped(pid: int) -> Iterator[None]:
    """Freeze a process (SIGSTOP) for the duration, so a fault lands while it is mid-flight."""
    kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        kill(pid, signal.SIGCONT)


def all_text_files(root: Path) -> Iterator[Path]:
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            yield p


# -- infrastructure the tests own: an "external" server and an "endpoint" holding someone's real data ---

SENTINEL_TABLES = ("public.arqonbus_continuum_projection", "public.jobs", "public.accounts")
SENTINEL_PREFIX = "pegasus"


@dataclass
class Sentinel:
    """A Postgres server and an S3 endpoint the test started, standing in for production: a database and
    a bucket with sentinel rows and objects under the very names the drills use, which nothing may touch."""

    pg: Any
    s3: Any
    password: str
    db: str = "sentinel"
    role: str = "owner"
    bucket: str = "pegasus-prod"

    @property
    def url(self) -> str:
        return (f"postgresql://{self.role}:{self.password}@/{self.db}"
                f"?host={self.pg.admin_db().host}&port={self.pg.admin_db().port}")

    @property
    def endpoint(self) -> str:
        return str(self.s3.endpoint.url)

    def client(self) -> Any:
        from restore_drill.fixtures.s3 import S3Endpoint

        return S3Endpoint(self.endpoint, "sentinel-admin", "sentinel-admin-secret").client()

    def databases(self) -> set[str]:
        return {r[0] for r in self.pg.admin.execute("SELECT datname FROM pg_database").fetchall()}

    def __enter__(self) -> Sentinel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def buckets(self) -> set[str]:
        return {b["Name"] for b in self.client().list_buckets()["Buckets"]}

    def state(self) -> dict[str, Any]:
        """Digests of every sentinel table (rows, content), the catalog, and sha256 of every object."""
        import psycopg

        from restore_drill.seeds.manifest import table_digest

        out: dict[str, Any] = {"databases": sorted(self.databases()), "buckets": sorted(self.buckets())}
        admin = self.pg.admin_db().with_name(self.db)
        with psycopg.connect(admin.url, autocommit=True) as conn:
            out["tables"] = {t: table_digest(conn, t) for t in SENTINEL_TABLES}
            out["catalog"] = conn.execute(
                "SELECT c.relname, c.relkind, c.relfilenode FROM pg_class c JOIN pg_namespace n ON n.oid = "
                "c.relnamespace WHERE n.nspname = 'public' ORDER BY 1").fetchall()
        from restore_drill.objectstore import S3Store

        store = S3Store(self.client(), self.bucket)
        out["objects"] = {o.key: store.get(o.key).sha256() for o in store.list()}
        return out

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.s3.stop()
        with contextlib.suppress(Exception):
            self.pg.stop()


def start_sentinel(password: str, major: int | None = None) -> Sentinel:
    from restore_drill.fixtures import binaries
    from restore_drill.fixtures.postgres import EmbeddedPostgres
    from restore_drill.fixtures.s3 import MotoS3

    pg = EmbeddedPostgres(binaries.select(major))
    s3 = MotoS3()
    sen = Sentinel(pg, s3, password)
    try:
        pg.start()
        s3.start()
        # A role like one a user would hand over: may create (scratch) databases, is no superuser.
        pg.admin.execute(f"CREATE ROLE {sen.role} LOGIN CREATEDB PASSWORD '{password}'")
        pg.admin.execute(f"CREATE DATABASE {sen.db} OWNER {sen.role}")
        import psycopg

        with psycopg.connect(pg.admin_db().with_name(sen.db).url, autocommit=True) as conn:
            conn.execute(f"SET ROLE {sen.role}")
            conn.execute("CREATE TABLE arqonbus_continuum_projection (id int PRIMARY KEY, state text NOT NULL)")
            conn.execute("CREATE TABLE jobs (id bigserial PRIMARY KEY, audio_key text, done boolean)")
            conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric(12,2))")
            conn.execute("INSERT INTO arqonbus_continuum_projection SELECT g, 'sentinel-' || g FROM generate_series(1, 200) g")
            conn.execute("INSERT INTO jobs (audio_key, done) SELECT 'pegasus/audio/' || g || '.mp3', g % 2 = 0 "
                         "FROM generate_series(1, 50) g")
            conn.execute("INSERT INTO accounts SELECT g, 'owner ' || g, g * 10.5 FROM generate_series(1, 30) g")
        c = sen.client()
        c.create_bucket(Bucket=sen.bucket)
        for i in range(12):
            c.put_object(Bucket=sen.bucket, Key=f"{SENTINEL_PREFIX}/audio/{i}.mp3", Body=f"sentinel audio {i}".encode() * 50)
        c.put_object(Bucket=sen.bucket, Key=f"{SENTINEL_PREFIX}-2026-03-01/audio/0.mp3", Body=b"dated snapshot")
        c.put_object(Bucket=sen.bucket, Key="backups/pegasus_2026-03-01.dump", Body=b"PGDMP sentinel backup")
    except BaseException:
        sen.stop()
        raise
    return sen


@pytest.fixture(autouse=True)
def _remove_private_tmpdirs() -> Iterator[None]:
    """Import into a test module: removes the private TMPDIRs its tests made (after their own checks)."""
    yield
    remove_private_tmpdirs()


def listening_ports(pid: int) -> set[int]:
    """TCP ports a process listens on (its socket inodes matched against /proc/net/tcp{,6})."""
    inodes = set()
    with contextlib.suppress(OSError):
        for f in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{f}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # 0A = LISTEN
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports
