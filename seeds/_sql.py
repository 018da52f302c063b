"""Run a whole SQL script file the way ``psql -v ON_ERROR_STOP=1 -f`` does: in the script's own
transaction control, leaving the connection clean on failure."""

from __future__ import annotations

import psycopg
from psycopg import pq

from restore_drill.errors import BadInput


def run_script(conn: psycopg.Connection, text: str) -> None:
    """Execute ``text`` (may contain BEGIN/COMMIT) on an idle connection.

    The script runs in autocommit mode so its own BEGIN/COMMIT are the transaction boundaries;
    on error the server's open transaction block is rolled back before the error propagates.
    """
    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise BadInput("a schema script needs an idle connection; commit or roll back first")
    was_autocommit = conn.autocommit
    conn.autocommit = True
    try:
        conn.execute(text)  # type: ignore[arg-type]  # no parameters: simple query protocol, many statements
    except BaseException:
        if conn.info.transaction_status != pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.autocommit = was_autocommit
