"""Shared test helpers: leftover detection (processes and temp dirs the harness may leave)."""

from __future__ import annotations

import contextlib
import glob
import os
import socket
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from restore_drill.fixtures.database import Database


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


# A command prefix that starts the program with SIGINT at its default action. A shell that starts a job
# without job control (`cmd &` in a script, nohup) makes it ignore SIGINT, and an ignored signal is
# inherited across fork and exec (POSIX, "Shell Command Language", asynchronous lists; signal(7)); Python
# then installs no KeyboardInterrupt handler, so a test's "Ctrl-C" would never reach the program under test.
SIGINT_DEFAULT = [sys.executable, "-c",
                  "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"]


class Listener:
    """A TCP socket on 127.0.0.1:0 that accepts and counts connections (a sentinel or poisoned endpoint).

    ``port``: the port the kernel chose; ``connections``: how many were accepted so far. ``accept_timeout_s``:
    how long one accept() waits before the serving thread looks at the stop flag again. ``close()`` stops the
    thread (joined for up to 5 s) and closes the socket."""

    def __init__(self, accept_timeout_s: float = 0.1) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(accept_timeout_s)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def wait_for(self, n: int, timeout_s: float = 5.0) -> int:
        """``connections`` once at least ``n`` were accepted or ``timeout_s`` passed: a connection the kernel
        completed is counted only when the serving thread's next accept() takes it."""
        deadline = time.monotonic() + timeout_s
        while self.connections < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.connections

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def harness_tmpdirs() -> set[str]:
    root = tempfile.gettempdir()
    return set(glob.glob(os.path.join(root, "rd-*")))


def postgres_pids_under(path_fragment: str) -> list[int]:
    """Pids of processes whose command line mentions ``path_fragment`` (e.g. a server's temp dir)."""
    out = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            cmd = Path(d, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if path_fragment in cmd:
            out.append(int(os.path.basename(d)))
    return out


# The operators' runbooks, as given: the project keeps byte-for-byte copies in drills/runbooks/ so tests
# and CI never depend on where shared/ happens to be (test_runbook_copies checks they still match).
_RUNBOOK_COPIES = Path(__file__).resolve().parents[1] / "drills" / "runbooks"
OPERATOR_RUNBOOKS = {
    "000_bfde4953689c82a4.txt": _RUNBOOK_COPIES / "arqonbus.md",
    "003_c2eaccfac875b702.txt": _RUNBOOK_COPIES / "pegasus.md",
}


def operator_runbook(name: str) -> Path:
    return OPERATOR_RUNBOOKS[name]


def dump_database(db: Database, dump: Path, *extra: str) -> Path:
    """pg_dump -Fc of ``db`` with the PostgreSQL 16 client (password kept out of argv)."""
    from restore_drill.checks._util import libpq_env
    from restore_drill.fixtures import binaries
    from restore_drill.procs import run

    run([binaries.select(16).tool("pg_dump"), "-Fc", "--no-owner", *extra, "-f", dump], env=libpq_env(db),
        timeout_s=60, check=True)
    return dump


def seeded_dump_and_target(pg_database: Database, drill_infra: Any, tmp_path: Path, schema_sql: str) -> tuple[Any, Any, Path]:
    """Load ``schema_sql`` into ``pg_database``, take its manifest, dump it; return (manifest, empty
    target database, dump). The caller restores (its own way) and drops the target."""
    from restore_drill.seeds.manifest import take_manifest

    with pg_database.connect(autocommit=True) as c:
        c.execute(schema_sql)
    with pg_database.connect() as c:
        manifest = take_manifest(c, system="test")
    dump = dump_database(pg_database, tmp_path / "src.dump")
    return manifest, drill_infra.database(), dump


@contextlib.contextmanager
def scratch_database(infra: Any, major: int, sql: str) -> Iterator[Any]:
    """A new database on ``infra``'s PostgreSQL ``major`` server, loaded with ``sql`` (run in autocommit, so it
    may hold several statements); dropped on leaving the block, whether the block failed or not."""
    db = infra.database(major)
    try:
        with db.connect(autocommit=True) as c:
            c.execute(sql)
        yield db
    finally:
        infra.drop(db)


def write_runbook_system(root: Path, name: str, runbook: str, data_sql: str) -> Path:
    """Write a one-runbook system ``name`` into the existing folder ``root``: runbook.md (``runbook``, the
    whole Markdown), data.sql (``data_sql``), ``<name>.toml`` (every table, targets RTO 600 s / RPO 3600 s)
    and ``<name>.binding.toml`` (backup files ``*.dump``; phases: "Nightly backup" backs up, "Restore"
    restores). Returns the path of ``<name>.toml``."""
    (root / "runbook.md").write_text(runbook)
    (root / "data.sql").write_text(data_sql)
    (root / f"{name}.toml").write_text(textwrap.dedent(f'''\
        name = "{name}"
        [database]
        tables = "all"
        [data]
        sql = "data.sql"
        [procedure]
        runbook = "runbook.md"
        binding = "{name}.binding.toml"
        [targets]
        rto_s = 600
        rpo_s = 3600
        '''))
    (root / f"{name}.binding.toml").write_text(textwrap.dedent(f'''\
        name = "{name}"
        system = "{name}"
        backup_globs = ["*.dump"]
        [phases]
        backup = ["Nightly backup"]
        restore = ["Restore"]
        '''))
    return root / f"{name}.toml"
