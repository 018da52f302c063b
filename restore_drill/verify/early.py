"""The data checks of one ``verify-backup`` version run while its restore is still building indexes and
constraints (issue 19: they ran after the restore, on its critical path, while the restore's post-data
section left the second core idle).

Why the result is the same as after the restore: ``pg_restore`` loads every table's rows in its data
section, before any post-data item (indexes, constraints, triggers, rules, policies: none of them writes
rows; PostgreSQL docs, pg_restore "--section"), and each ``COPY`` of a table commits as a whole. The early
checks run in one REPEATABLE READ transaction (one MVCC snapshot for every query in it), and their
results are kept only when, in that same snapshot, every table's ``count(*)`` equals the rows of its COPY
block in the archive: then each table already holds all its rows, so the counts, the orphan anti-join
and the digests describe the data the finished restore holds. When a count differs (rows still loading,
or truly lost), nothing early is kept and the checks run after the restore as before, so a lost row still
fails ``row_counts`` there.

Then every B-tree index the restore has built is checked with ``pg_amcheck --heapallindexed
--index=<it>`` as soon as it is committed, while the restore builds the next (an index the restore has
built does not change again: every row is loaded, and post-data items add objects but write no rows;
indexes of materialized views are left for later, since pg_restore refreshes those last).
``physical_integrity`` then runs after the restore with those indexes left out, so each relation is
still checked once, by the same pg_amcheck with the same flags.

They never slow the restore: they start only once the restore's session runs a statement whose lock
allows reads (``CREATE INDEX``: SHARE; ``ADD FOREIGN KEY``: SHARE ROW EXCLUSIVE; both let ACCESS SHARE
through, https://www.postgresql.org/docs/current/explicit-locking.html), and should the restore then wait
for a lock they hold (an ``ADD PRIMARY KEY`` on a later table needs ACCESS EXCLUSIVE), they are cancelled
(``pg_cancel_backend``; pg_amcheck's sessions too) and run after the restore instead. Nor do they take
CPU from it: on a server this run started, their server processes run at nice 19 while the restore runs
(its CREATE INDEX uses a parallel worker, so both cores are the restore's; measured under load, the
early work at nice 0 lengthened the restore by more than it saved), one process each (no parallel
query), and at 0 again once it has ended.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import psycopg

from restore_drill.checks._util import libpq_env
from restore_drill.checks.physical import AMCHECK_SCHEMA, amcheck_tool, index_pattern
from restore_drill.checks.registry import run_plan
from restore_drill.checks.result import CheckResult, Status
from restore_drill.fixtures.database import Database

from ..procs import run
from ..redact import Redactor

POLL_S = 0.05
# Post-data statements whose table lock lets ACCESS SHARE readers through (see the module docstring).
_READ_COMPATIBLE = re.compile(r"^\s*(CREATE (UNIQUE )?INDEX |ALTER TABLE (ONLY )?\S+\s+ADD CONSTRAINT \S+ FOREIGN KEY)",
                              re.IGNORECASE)
_RESTORE_SESSION = """
SELECT pid, query, state FROM pg_stat_activity
WHERE datname = current_database() AND application_name = 'pg_restore' AND pid <> pg_backend_pid()
"""
# Our sessions the restore waits for: the early checks' own, and pg_amcheck's (its application name).
_BLOCKING_US = """
SELECT pid FROM pg_stat_activity
WHERE pid = ANY(pg_blocking_pids(%(restore)s)) AND (pid = %(work)s OR application_name = 'pg_amcheck')
"""
# B-tree indexes the restore has built and committed, on plain tables (a materialized view's rows
# and indexes change later, when pg_restore refreshes it in its last pass).
_BUILT_INDEXES = """
SELECT n.nspname, c.relname FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class t ON t.oid = i.indrelid JOIN pg_am am ON am.oid = c.relam
WHERE am.amname = 'btree' AND t.relkind = 'r' AND i.indisvalid AND i.indisready
  AND n.nspname NOT IN ('pg_catalog', 'pg_toast', 'information_schema', %s)
ORDER BY c.oid
"""
# Never wait long for a lock (say one an ADD PRIMARY KEY holds): give up after 100 ms, far below
# deadlock_timeout (1 s), so no deadlock check ever picks the restore's session.
LOCK_TIMEOUT = "100ms"
# Our pg_amcheck's sessions in this database.
_AMCHECK_SESSIONS = """
SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pg_amcheck'
"""
NICE = 19  # the weakest claim on a core: CFS gives a nice-0 process ~68 times its share (sched_prio_to_weight)
NOTE = ("ran while the restore built indexes and constraints, in one snapshot in which every table's row "
        "count already equalled the archive's")


class EarlyChecks:
    """Runs ``plan`` ((registered name, check taking a connection)) on ``db`` in one REPEATABLE READ
    transaction while ``restore`` (the ``pg_restore`` future) is running; the first entry is the guard
    (``row_counts`` against the archive) and the results are kept only when it passed. Then, with
    ``amcheck``, every B-tree index the restore has finished is checked with ``pg_amcheck
    --heapallindexed --index=<it>`` as it appears, until the restore ends (``physical_integrity`` then
    leaves out those that passed: ``indexes_checked``).

    ``results()`` waits for all of it and returns name -> result for the kept checks (empty when nothing
    was kept: then every check runs after the restore). Any error of the attempt (connection, cancel, a
    check raising, an index check that does not exit 0) only means that part runs after the restore."""

    def __init__(self, db: Database, restore: Future[Any],
                 plan: list[tuple[str, Callable[[psycopg.Connection], CheckResult]]], *,
                 amcheck: bool = False, timeout_s: float = 900.0, server_pid: int | None = None) -> None:
        self.db, self.restore, self.plan, self.amcheck, self.timeout_s = db, restore, plan, amcheck, timeout_s
        self.server_pid = server_pid  # the local postmaster: its backends serving us run at NICE while restoring
        self.reniced: list[int] = []  # backends given NICE (shown in tests)
        self.outcome = "not started"  # why nothing was kept, or "kept": in report.json metrics
        self.indexes_checked: list[str] = []  # index_pattern()s pg_amcheck passed while the restore ran
        self.indexes_tried: list[str] = []  # every index pg_amcheck ran on here, passed or not
        self._kept: dict[str, CheckResult] = {}
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name="verify-backup-early", daemon=True)
        self._thread.start()

    def results(self) -> dict[str, CheckResult]:
        """Wait for the attempt (it ends with the restore at the latest, or with the index check
        running then); the checks kept, by name."""
        self._thread.join()
        return dict(self._kept)

    def _run(self) -> None:
        try:
            with self.db.connect(autocommit=True) as mon:
                restore_pid = self._wait_for_post_data(mon)
                if restore_pid is None:
                    return
                with self.db.connect() as work:
                    done = threading.Event()
                    watcher = threading.Thread(target=self._yield_to_restore, args=(restore_pid, work.info.backend_pid, done),
                                               name="verify-backup-early-yield", daemon=True)
                    watcher.start()
                    try:
                        self._attempt(work)
                        if self.amcheck and self._kept and not self._cancelled.is_set():
                            self._check_indexes(mon)
                    finally:
                        done.set()
                        watcher.join()
        except Exception as e:  # noqa: BLE001 - the checks then run after the restore
            self.outcome = f"error: {type(e).__name__}: {str(e).strip()[:120]}"

    def _wait_for_post_data(self, mon: psycopg.Connection) -> int | None:
        while not self.restore.done():
            for pid, query, state in mon.execute(_RESTORE_SESSION).fetchall():
                if state == "active" and _READ_COMPATIBLE.match(query or ""):
                    return int(pid)
            time.sleep(POLL_S)
        self.outcome = "the restore ended before a read-compatible post-data statement was seen"
        return None

    def _yield_to_restore(self, restore_pid: int, work_pid: int, done: threading.Event) -> None:
        """Every POLL_S, on its own connection (the others are busy): cancel our sessions the moment the
        restore waits for one of them; while the restore runs, give our sessions' server processes
        NICE (the restore's index builds use both cores: a parallel worker each), and when it has
        ended, set them back to 0, or, where that is not allowed (only root may lower a nice value),
        cancel them so the rest runs after the restore at full speed."""
        with self.db.connect(autocommit=True) as conn:
            while not done.wait(POLL_S):
                pids = [r[0] for r in conn.execute(_BLOCKING_US, {"restore": restore_pid, "work": work_pid})]
                if pids:
                    self._cancelled.set()
                    for pid in pids:
                        conn.execute("SELECT pg_cancel_backend(%s)", (pid,))
                if self.server_pid is None:
                    continue
                if not self.restore.done():
                    for pid in [work_pid, *(r[0] for r in conn.execute(_AMCHECK_SESSIONS))]:
                        if pid not in self.reniced and _renice(pid, self.server_pid, NICE):
                            self.reniced.append(pid)
                elif self.reniced:
                    for pid in self.reniced:
                        if not _renice(pid, self.server_pid, 0):
                            conn.execute("SELECT pg_cancel_backend(%s)", (pid,))
                    self.reniced = []

    def _attempt(self, work: psycopg.Connection) -> None:
        work.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        work.execute("SET max_parallel_workers_per_gather = 0")  # one process, the one given NICE
        work.commit()
        work.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        got: list[CheckResult] = []
        for name, fn in self.plan:
            got += run_plan([(name, functools.partial(fn, work))])
            if got[0].status is not Status.PASSED:
                break  # rows still loading (or lost): the after-restore checks decide
        with contextlib.suppress(Exception):
            work.rollback()
        if self._cancelled.is_set():
            self.outcome = "cancelled: the restore waited for a lock the early checks held"
        elif got[0].status is not Status.PASSED:
            self.outcome = f"{got[0].name} did not pass in the early snapshot: {got[0].message[:120]}"
        elif any(r.status is Status.ERRORED for r in got):
            self.outcome = "a check errored in the early snapshot: " + next(
                r.message for r in got if r.status is Status.ERRORED)[:120]
        else:
            self._kept = {r.name: dataclasses.replace(r, evidence={**r.evidence, "while_restoring": NOTE})
                          for r in got}
            self.outcome = "kept"

    def _check_indexes(self, mon: psycopg.Connection) -> None:
        """pg_amcheck each finished B-tree index once, as the restore builds them (the amcheck extension
        is installed for it as ``physical_integrity`` does, and removed again)."""
        tool = amcheck_tool(self.db)
        avail = mon.execute("SELECT installed_version FROM pg_available_extensions WHERE name = 'amcheck'").fetchone()
        if tool is None or avail is None:
            return  # physical_integrity skips with the reason
        created = avail[0] is None
        if created:
            mon.execute(f"CREATE SCHEMA IF NOT EXISTS {AMCHECK_SCHEMA}")
            mon.execute(f"CREATE EXTENSION amcheck SCHEMA {AMCHECK_SCHEMA}")
        env = {**libpq_env(self.db), "PGOPTIONS": f"-c lock_timeout={LOCK_TIMEOUT}"}
        seen: set[str] = set()
        try:
            while not self.restore.done() and not self._cancelled.is_set():
                new = [index_pattern(s, n) for s, n in mon.execute(_BUILT_INDEXES, (AMCHECK_SCHEMA,)).fetchall()
                       if index_pattern(s, n) not in seen]
                if not new:
                    time.sleep(POLL_S)
                    continue
                for pattern in new:
                    seen.add(pattern)
                    done = run([str(tool.tool("pg_amcheck")), "--heapallindexed", f"--index={pattern}"], env=env,
                               timeout_s=self.timeout_s, redactor=Redactor([self.db.password]))
                    if done.exit_code == 0 and not self._cancelled.is_set():
                        self.indexes_checked.append(pattern)
                    self.indexes_tried.append(pattern)
                    if self._cancelled.is_set():
                        break
        finally:
            if created:
                with contextlib.suppress(Exception):
                    mon.execute("DROP EXTENSION IF EXISTS amcheck")
                    mon.execute(f"DROP SCHEMA IF EXISTS {AMCHECK_SCHEMA}")


def _renice(pid: int, server_pid: int, value: int) -> bool:
    """Set the nice value of ``pid`` when it is a child of the local postmaster ``server_pid`` (a backend
    of the server this run started; any other process is left alone). False when it is not, is gone,
    or the value is not allowed (lowering needs root)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if int(stat[stat.rfind(")") + 2:].split()[1]) != server_pid:
            return False
        os.setpriority(os.PRIO_PROCESS, pid, value)
    except (OSError, ValueError, IndexError):
        return False
    return True
