"""verify-backup's early checks (restore_drill/verify/early.py): the data checks run while the restore
builds indexes, kept only when every table already holds the archive's rows in their snapshot, and
cancelled the moment the restore waits for a lock they hold. A stand-in "restore" session (application
name pg_restore, as pg_restore's own) runs a real CREATE INDEX held up by an open transaction, so the
early checks find it mid-statement whatever the machine's speed."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import psycopg
import pytest

from restore_drill.checks.physical import physical_integrity
from restore_drill.checks.references import Relation
from restore_drill.checks.result import CheckResult, Status
from restore_drill.events import EventBus
from restore_drill.fixtures import binaries
from restore_drill.redact import Redactor
from restore_drill.verify.archive import ArchiveInfo
from restore_drill.verify.checks import archive_row_counts, early_plan
from restore_drill.verify.early import EarlyChecks
from restore_drill.verify.inputs import Inputs
from tests.helpers import scratch_database

MAJOR = max(b.major for b in binaries.servers())
SQL = """
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (id int, parent_id int);
INSERT INTO parent SELECT g FROM generate_series(1, 5) g;
INSERT INTO child SELECT g, 1 + g % 5 FROM generate_series(1, 50) g;
"""
FK = Relation("public.child", ("parent_id",), "public.parent", ("id",))


def inputs(counts: dict[str, int]) -> Inputs:
    archive = ArchiveInfo(path=Path("stand-in.dump"), kind="custom", size_bytes=0, sha256="", row_counts=counts,
                          foreign_keys=[FK])
    return Inputs(archive, None, None, "", None, None, 60.0, Redactor([]), EventBus())


class StandInRestore:
    """A session named pg_restore whose CREATE INDEX on child waits for another session's open INSERT
    (ROW EXCLUSIVE blocks SHARE); ``release`` lets it finish, then it runs ``after`` (if any)."""

    def __init__(self, db: Any, after: str | None = None) -> None:
        self.db, self.after = db, after
        self.done: Future[None] = Future()
        self.holder = psycopg.connect(db.url)
        self.holder.execute("INSERT INTO child VALUES (0, 999)")  # uncommitted: invisible to every snapshot
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        with psycopg.connect(db.url, autocommit=True) as c:
            while not c.execute("SELECT 1 FROM pg_stat_activity WHERE application_name = 'pg_restore' "
                                "AND wait_event_type = 'Lock'").fetchone():
                time.sleep(0.02)

    def _run(self) -> None:
        try:
            with psycopg.connect(self.db.url, autocommit=True, application_name="pg_restore") as c:
                c.execute("CREATE INDEX child_parent_idx ON child (parent_id)")
                if self.after:
                    c.execute(self.after)
            self.done.set_result(None)
        except BaseException as e:  # noqa: BLE001 - seen by the test through the future
            self.done.set_exception(e)

    def release(self) -> None:
        self.holder.rollback()
        self.holder.close()


def run_while_restoring(db: Any, plan: Any) -> tuple[EarlyChecks, dict[str, Any]]:
    """EarlyChecks of ``plan`` started while a StandInRestore waits in CREATE INDEX, then the restore let
    finish: (the early checks, the results they kept)."""
    restore = StandInRestore(db)
    try:
        early = EarlyChecks(db, restore.done, plan)
        kept = early.results()
    finally:
        restore.release()
        restore.thread.join(60)
    return early, kept


@pytest.fixture
def db(drill_infra) -> Iterator[Any]:
    with scratch_database(drill_infra, MAJOR, SQL) as d:
        yield d


def test_checks_run_while_the_restore_builds_an_index_are_kept(db):
    early, kept = run_while_restoring(db, early_plan(inputs({"public.parent": 5, "public.child": 50})))
    assert early.outcome == "kept"
    assert set(kept) == {"row_counts", "referential_integrity"}
    assert all(r.status is Status.PASSED and "while_restoring" in r.evidence for r in kept.values())


def test_a_table_short_of_the_archive_keeps_nothing(db):
    """Rows still loading, or lost: the counts differ in the early snapshot, so nothing early is kept and
    every check runs after the restore (where a lost row fails row_counts)."""
    early, kept = run_while_restoring(db, early_plan(inputs({"public.parent": 5, "public.child": 51})))
    assert kept == {}
    assert early.outcome.startswith("row_counts did not pass") and "public.child: 50 rows, archive 51" in early.outcome


def test_orphans_seen_early_are_a_kept_failure(db):
    with psycopg.connect(db.url, autocommit=True) as c:
        c.execute("UPDATE child SET parent_id = 77 WHERE id = 3")
    early, kept = run_while_restoring(db, early_plan(inputs({"public.parent": 5, "public.child": 50})))
    assert kept["row_counts"].status is Status.PASSED
    assert kept["referential_integrity"].status is Status.FAILED
    assert kept["referential_integrity"].observed == 1


def test_the_restore_never_waits_for_the_early_checks(db):
    """A later restore statement needing ACCESS EXCLUSIVE (ADD PRIMARY KEY does) while the early checks
    hold ACCESS SHARE: they are cancelled and nothing is kept, and the restore goes on."""
    info = inputs({"public.parent": 5, "public.child": 50}).archive
    in_sleep = threading.Event()

    def long_read(conn: psycopg.Connection) -> CheckResult:
        conn.execute("SELECT count(*) FROM child")  # ACCESS SHARE on child until the transaction ends
        in_sleep.set()
        conn.execute("SELECT pg_sleep(600)")
        return CheckResult.passed("referential_integrity", "not reached: cancelled")

    restore = StandInRestore(db, after="ALTER TABLE child ADD PRIMARY KEY (id)")
    try:
        early = EarlyChecks(db, restore.done, [("row_counts", lambda c: archive_row_counts(c, info)),
                                               ("referential_integrity", long_read)])
        assert in_sleep.wait(60)
        restore.release()  # CREATE INDEX finishes, then ADD PRIMARY KEY waits for the early checks' lock
        restore.done.result(timeout=60)  # ADD PRIMARY KEY got through: the early checks were cancelled
        kept = early.results()
    finally:
        with psycopg.connect(db.url, autocommit=True) as c:  # whatever happened, end the sleeper
            c.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' "
                      "AND pid <> pg_backend_pid()")
        restore.thread.join(60)
    assert kept == {}
    assert early.outcome.startswith("cancelled")


def test_a_restore_that_ends_before_its_post_data_keeps_nothing(db):
    done: Future[None] = Future()
    done.set_result(None)
    early = EarlyChecks(db, done, early_plan(inputs({"public.parent": 5, "public.child": 50})))
    assert early.results() == {}
    assert early.outcome.startswith("the restore ended before")


# -- pg_amcheck on the indexes the restore has finished ---------------------------------------------
AM_SQL = SQL + """
CREATE FUNCTION norm(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x';
CREATE TABLE items (id int PRIMARY KEY, v int);
CREATE INDEX items_norm_idx ON items (norm(v));
INSERT INTO items SELECT g, g FROM generate_series(1, 2000) g;
"""
AM_COUNTS = {"public.parent": 5, "public.child": 50, "public.items": 2000}


@pytest.fixture
def db_amcheck(drill_infra) -> Iterator[Any]:
    """A database on the PostgreSQL 15 server, which has amcheck here (the wheel's 16/18 ship no contrib)."""
    if not any(b.major == 15 and b.can_serve for b in binaries.discover()):
        pytest.skip("no PostgreSQL 15 server binaries with amcheck on this machine")
    with scratch_database(drill_infra, 15, AM_SQL) as d:
        with psycopg.connect(d.url, autocommit=True) as c:
            if c.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck'").fetchone() is None:
                pytest.skip("PostgreSQL 15 here has no amcheck extension (postgresql-contrib)")
        yield d


def run_early_with_amcheck(db: Any) -> EarlyChecks:
    """Early checks with pg_amcheck against a stand-in restore, released once the three indexes that
    exist before it were checked (or tried: an index that fails is not listed)."""
    restore = StandInRestore(db)
    try:
        early = EarlyChecks(db, restore.done, early_plan(inputs(AM_COUNTS)), amcheck=True, timeout_s=60)
        for _ in range(1200):  # up to 60 s for the three indexes that exist before the restore ends
            if len(early.indexes_tried) >= 3 or early.outcome not in ("kept", "not started"):
                break
            time.sleep(0.05)
    finally:
        restore.release()
        restore.thread.join(60)
    early.results()
    return early


def _amcheck_installed(db: Any) -> bool:
    with psycopg.connect(db.url) as c:
        return c.execute("SELECT 1 FROM pg_extension WHERE extname = 'amcheck'").fetchone() is not None


def test_finished_indexes_are_checked_while_the_restore_runs_then_left_out(db_amcheck):
    early = run_early_with_amcheck(db_amcheck)
    assert early.outcome == "kept"
    assert {'"public"."parent_pkey"', '"public"."items_pkey"', '"public"."items_norm_idx"'} <= set(early.indexes_checked)
    assert not _amcheck_installed(db_amcheck)  # the extension it installed is gone before the catalog checks
    res = physical_integrity(db_amcheck, checked_indexes=early.indexes_checked)
    assert res.status is Status.PASSED, res.message
    assert '"public"."items_norm_idx"' in res.evidence["indexes_checked_before"]["items"]


def test_an_index_out_of_step_seen_early_still_fails_physical_integrity(db_amcheck):
    """The fault physical_integrity's own test injects (an "immutable" function whose result changed,
    so the index disagrees with the heap): the early check does not pass it, so the check after the
    restore does not leave it out, and fails naming it."""
    with psycopg.connect(db_amcheck.url, autocommit=True) as c:
        c.execute("CREATE OR REPLACE FUNCTION norm(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT -x'")
    early = run_early_with_amcheck(db_amcheck)
    assert '"public"."items_norm_idx"' not in early.indexes_checked
    assert '"public"."parent_pkey"' in early.indexes_checked
    res = physical_integrity(db_amcheck, checked_indexes=early.indexes_checked)
    assert res.status is Status.FAILED and "items_norm_idx" in res.message


def _nice(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2:].split()[16])


def test_early_sessions_take_only_idle_cpu_while_the_restore_runs(db, drill_infra):
    """Their server process runs at NICE while the restore runs (its index builds use both cores), and
    at 0 again once it has ended (root), or is cancelled where lowering is not allowed."""
    server_pid = drill_infra.postgres(MAJOR).pid
    if server_pid is None:
        pytest.skip("the server is not a local process")
    info = inputs({"public.parent": 5, "public.child": 50}).archive
    in_sleep = threading.Event()

    def long_read(conn: psycopg.Connection) -> CheckResult:
        in_sleep.set()
        conn.execute("SELECT pg_sleep(600)")
        return CheckResult.passed("referential_integrity", "cancelled at the end of the test")

    restore = StandInRestore(db)
    watch = psycopg.connect(db.url, autocommit=True)
    try:
        early = EarlyChecks(db, restore.done, [("row_counts", lambda c: archive_row_counts(c, info)),
                                               ("referential_integrity", long_read)], server_pid=server_pid)
        assert in_sleep.wait(60)
        row = None
        while row is None:
            row = watch.execute("SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' "
                                "AND pid <> pg_backend_pid()").fetchone()
        pid = int(row[0])
        for _ in range(1200):
            if _nice(pid) == 19:
                break
            time.sleep(0.05)
        assert _nice(pid) == 19
        restore.release()
        restore.done.result(timeout=60)
        if os.geteuid() == 0:  # only root may lower a nice value
            for _ in range(1200):
                if _nice(pid) == 0:
                    break
                time.sleep(0.05)
            assert _nice(pid) == 0
        else:  # elsewhere the session is cancelled, so the rest runs after the restore at full speed
            for _ in range(1200):
                if not watch.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s AND state = 'active'",
                                     (pid,)).fetchone():
                    break
                time.sleep(0.05)
            assert early.results() == {}
    finally:
        watch.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' "
                      "AND pid <> pg_backend_pid()")
        watch.close()
        restore.thread.join(60)
    early.results()


def test_the_early_checks_share_one_snapshot(db):
    """A row committed between two early checks is not seen by the second: the guard's counts hold for
    every check kept with it."""
    info = inputs({"public.parent": 5, "public.child": 50}).archive

    def after_a_commit(conn: psycopg.Connection) -> CheckResult:
        with psycopg.connect(db.url, autocommit=True) as other:
            other.execute("INSERT INTO parent VALUES (6)")  # child waits for the stand-in CREATE INDEX
        return archive_row_counts(conn, info)  # still 5 parents in the guard's snapshot

    restore = StandInRestore(db)
    try:
        early = EarlyChecks(db, restore.done, [("row_counts", lambda c: archive_row_counts(c, info)),
                                               ("referential_integrity", after_a_commit)])
        kept = early.results()
    finally:
        restore.release()
        restore.thread.join(60)
    assert early.outcome == "kept"
    assert kept["row_counts"].status is Status.PASSED, kept["row_counts"].message  # the second, after the commit
