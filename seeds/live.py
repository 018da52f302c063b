"""A manifest of a real (production) database, taken next to the nightly backup for ``verify-backup
--manifest``: row counts, content digests, the catalog and large objects, read in ONE read-only
transaction and nothing else.

The transaction is REPEATABLE READ and READ ONLY (PostgreSQL docs, "SET TRANSACTION"): every table is
read from one snapshot, so the manifest describes one moment, as a pg_dump started then would; READ ONLY
makes the server refuse any write the reader might attempt. It works on a hot standby too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from restore_drill.errors import BadInput
from restore_drill.redact import redact_url

from .manifest import Manifest, take_manifest

# The schemas an application's objects live in: every schema but the system's own.
_USER_SCHEMAS = """
SELECT n.nspname FROM pg_namespace n
WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid
                  AND d.deptype = 'e')
ORDER BY 1"""


@dataclass(frozen=True)
class LiveManifest:
    """The manifest and how it was read: ``read_only``/``isolation`` as the server reported them
    (``SHOW transaction_read_only`` / ``transaction_isolation`` inside the transaction)."""

    manifest: Manifest
    database: str
    read_only: bool
    isolation: str


def take_live_manifest(conninfo: str, *, schemas: Sequence[str] = (), system: str | None = None,
                       connect_timeout_s: int = 10) -> LiveManifest:
    """Connect with ``conninfo`` (a libpq URL or key=value string; PG* environment variables apply, so
    the password can stay out of argv), open one REPEATABLE READ READ ONLY transaction and take the
    manifest of ``schemas`` (default: every non-system schema), then roll back.

    Raises BadInput naming what to fix when the connection fails, a schema does not exist, or the
    server did not grant a read-only transaction (then nothing is read). Large-object digests need read
    access to pg_largeobject (superuser or lo_compat_privileges, as pg_dump does)."""
    try:
        conn = psycopg.connect(conninfo, autocommit=False, connect_timeout=connect_timeout_s)
    except psycopg.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BadInput(f"cannot connect to {redact_url(conninfo)}: {first}; check the DATABASE_URL "
                       "(and PGPASSWORD / ~/.pgpass for the password)") from None
    try:
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.cursor() as cur:
            ro = str((cur.execute("SHOW transaction_read_only").fetchone() or ("",))[0])
            iso = str((cur.execute("SHOW transaction_isolation").fetchone() or ("",))[0])
            if ro != "on":
                raise BadInput("the server did not open a read-only transaction (transaction_read_only = "
                               f"{ro!r}); refusing to read: check for a pooler that rewrites transactions")
            db = str((cur.execute("SELECT current_database()").fetchone() or ("",))[0])
            if schemas:
                have = {r[0] for r in cur.execute("SELECT nspname FROM pg_namespace").fetchall()}
                missing = [s for s in schemas if s not in have]
                if missing:
                    raise BadInput(f"schema {missing[0]!r} does not exist in database {db!r} "
                                   f"(it has: {', '.join(sorted(h for h in have if not h.startswith('pg_')))})")
                use = tuple(schemas)
            else:
                use = tuple(r[0] for r in cur.execute(_USER_SCHEMAS).fetchall()) or ("public",)
        m = take_manifest(conn, system=system or db, schemas=use)
        return LiveManifest(m, db, read_only=True, isolation=iso)
    finally:
        conn.rollback()
        conn.close()
