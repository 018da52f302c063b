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

They never slow the restore: they start only once the restore's session runs a statement whose lock
allows reads (``CREATE INDEX``: SHARE; ``ADD FOREIGN KEY``: SHARE ROW EXCLUSIVE; both let ACCESS SHARE
through, https://www.postgresql.org/docs/current/explicit-locking.html), and should the restore then wait
for a lock they hold (an ``ADD PRIMARY KEY`` on a later table needs ACCESS EXCLUSIVE), they are cancelled
(``pg_cancel_backend``) and run after the restore instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import psycopg

from restore_drill.checks.registry import run_plan
from restore_drill.checks.result import CheckResult, Status
from restore_drill.fixtures.database import Database

POLL_S = 0.05
# Post-data statements whose table lock lets ACCESS SHARE readers through (see the module docstring).
_READ_COMPATIBLE = re.compile(r"^\s*(CREATE (UNIQUE )?INDEX |ALTER TABLE (ONLY )?\S+\s+ADD CONSTRAINT \S+ FOREIGN KEY)",
                              re.IGNORECASE)
_RESTORE_SESSION = """
SELECT pid, query, state FROM pg_stat_activity
WHERE datname = current_database() AND application_name = 'pg_restore' AND pid <> pg_backend_pid()
"""
NOTE = ("ran while the restore built indexes and constraints, in one snapshot in which every table's row "
        "count already equalled the archive's")


class EarlyChecks:
    """Runs ``plan`` ((registered name, check taking a connection)) on ``db`` in one REPEATABLE READ
    transaction while ``restore`` (the ``pg_restore`` future) is running, guarded by ``guard`` (the first
    entry's check, ``row_counts`` against the archive: kept only when it passed). ``results()`` waits
    for the attempt and returns name -> result for the kept checks (empty when nothing was kept: then
    every check runs after the restore). Any error of the attempt (connection, cancel, a check raising)
    only means nothing is kept."""

    def __init__(self, db: Database, restore: Future[Any],
                 plan: list[tuple[str, Callable[[psycopg.Connection], CheckResult]]]) -> None:
        self.db, self.restore, self.plan = db, restore, plan
        self.outcome = "not started"  # why nothing was kept, or "kept": shown in tests and benches
        self._kept: dict[str, CheckResult] = {}
        self._thread = threading.Thread(target=self._run, name="verify-backup-early", daemon=True)
        self._thread.start()

    def results(self) -> dict[str, CheckResult]:
        """Wait for the attempt (it ends with the restore at the latest); the checks kept, by name."""
        self._thread.join()
        return dict(self._kept)

    def _run(self) -> None:
        try:
            with self.db.connect(autocommit=True) as mon:
                restore_pid = self._wait_for_post_data(mon)
                if restore_pid is None:
                    return
                self._attempt(mon, restore_pid)
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

    def _attempt(self, mon: psycopg.Connection, restore_pid: int) -> None:
        with self.db.connect() as work:
            work_pid = work.info.backend_pid
            done = threading.Event()
            cancelled = threading.Event()

            def yield_to_restore() -> None:  # cancel the checks the moment the restore waits for them
                while not done.wait(POLL_S):
                    row = mon.execute("SELECT %s = ANY(pg_blocking_pids(%s))", (work_pid, restore_pid)).fetchone()
                    if row and row[0]:
                        cancelled.set()
                        mon.execute("SELECT pg_cancel_backend(%s)", (work_pid,))
                        return

            watcher = threading.Thread(target=yield_to_restore, name="verify-backup-early-yield", daemon=True)
            watcher.start()
            try:
                # Never wait long for a lock either (say one an ADD PRIMARY KEY holds): give up after
                # 100 ms, far below deadlock_timeout (1 s), so no deadlock check can pick the restore.
                work.execute("SET lock_timeout = '100ms'")
                work.commit()
                work.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                got: list[CheckResult] = []
                for name, fn in self.plan:
                    got += run_plan([(name, lambda fn=fn: fn(work))])
                    if got[0].status is not Status.PASSED:
                        break  # rows still loading (or lost): the after-restore checks decide
                with contextlib.suppress(Exception):
                    work.rollback()
            finally:
                done.set()
                watcher.join()
        if cancelled.is_set():
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
