"""The write ledger: continuous small transactions during a physical drill, each with its txid and commit time.

One row per transaction in ``restore_drill_ledger.writes`` (a schema of its own, outside the tables
under test, so the disaster and the data checks never touch it). Commit times are the server's own:
``pg_xact_commit_timestamp(xmin)`` with ``track_commit_timestamp = on`` is the timestamp written into the
transaction's commit record, the one ``recovery_target_time`` is compared with (PostgreSQL source,
xact.c RecordTransactionCommit: one xactStopTimestamp feeds both). Read back after the drill, the
ledger says exactly which transactions a restore to a given target must hold.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from restore_drill.errors import HarnessFault
from restore_drill.fixtures.database import Database

SCHEMA = "restore_drill_ledger"
TABLE = f"{SCHEMA}.writes"
DDL = (f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}; "
       f"CREATE TABLE IF NOT EXISTS {TABLE} (seq bigint PRIMARY KEY, txid bigint NOT NULL DEFAULT txid_current(), "
       "written_at timestamptz NOT NULL DEFAULT clock_timestamp())")


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger transaction: its sequence number, txid (32-bit xid) and commit time (UTC, microseconds)."""

    seq: int
    txid: int
    committed_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "txid": self.txid, "committed_at": self.committed_at.isoformat()}


class LedgerWriter:
    """A thread committing one ledger row every ``interval_s`` seconds until ``stop``.

    ``pause()`` is a context manager that waits for the transaction in flight and holds the next one:
    the disaster records its instant and runs its statement inside it, so no ledger commit straddles
    the boundary and the expected content of a restore to that boundary is exact.
    Raises HarnessFault from ``stop`` when the writer failed (its error named).
    """

    def __init__(self, db: Database, interval_s: float = 0.01) -> None:
        self.db, self.interval_s = db, interval_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.written = 0

    def start(self) -> None:
        with psycopg.connect(self.db.url, autocommit=True) as conn:
            conn.execute(DDL)
        self._thread = threading.Thread(target=self._loop, name="pitr-ledger", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        try:
            with psycopg.connect(self.db.url, autocommit=True) as conn:
                while not self._stop.is_set():
                    with self._lock:
                        self.written += 1
                        conn.execute(f"INSERT INTO {TABLE} (seq) VALUES (%s)", (self.written,))
                    self._stop.wait(self.interval_s)
        except BaseException as e:  # reported by stop(): a ledger with holes would mislead every PITR check
            self._error = e

    def pause(self) -> Any:
        """Hold the writer between two transactions (a ``with`` block)."""
        return self._lock

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._error is not None:
            raise HarnessFault(f"the write ledger stopped: {type(self._error).__name__}: {self._error}")

    def wait_for(self, n: int, timeout_s: float = 30.0) -> None:
        """Block until at least ``n`` more transactions than now have committed."""
        goal = self.written + n
        deadline = time.monotonic() + timeout_s
        while self.written < goal and time.monotonic() < deadline and self._error is None:
            time.sleep(self.interval_s)


def read_ledger(conn: psycopg.Connection) -> list[LedgerEntry]:
    """Every ledger transaction on ``conn``'s server with its commit time, in seq order.

    Raises HarnessFault when commit timestamps are missing (track_commit_timestamp off).
    """
    rows = conn.execute(f"SELECT seq, xmin::text::bigint, pg_xact_commit_timestamp(xmin) FROM {TABLE} "
                        "ORDER BY seq").fetchall()
    if any(r[2] is None for r in rows):
        raise HarnessFault("ledger rows without commit timestamps: the server must run with track_commit_timestamp=on")
    return [LedgerEntry(int(r[0]), int(r[1]), r[2]) for r in rows]


def present_seqs(conn: psycopg.Connection) -> set[int] | None:
    """The ledger's seq numbers on ``conn``'s server; None when the ledger table is not there."""
    if conn.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone()[0] is None:  # type: ignore[index]
        return None
    return {int(r[0]) for r in conn.execute(f"SELECT seq FROM {TABLE}").fetchall()}
