"""database-lost: the whole database is gone, as on a new server (restore with createdb + pg_restore).

The database is dropped (``DROP DATABASE ... WITH (FORCE)``, PostgreSQL 13+), so its schema, data,
per-database settings (``ALTER DATABASE ... SET``, ``ALTER ROLE ... IN DATABASE ... SET``) go with it.
On a disposable server (embedded, container) the roles that own objects in it, hold privileges on it,
or own it go too, as a freshly provisioned server would not have them; the role the drill connects as
is kept (a new server's operator account), and a role that still owns objects in another database
stays (it is not this database's to drop) and is recorded as kept.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from restore_drill.errors import HarnessFault

from .interface import Disaster, DisasterContext, DisasterRecord, Kind, database_record, guard_database
from .tables import counts

DISPOSABLE = ("embedded", "container")

# Roles tied to one database: its owner and the roles pg_shdepend lists for it (owners 'o', ACL 'a',
# policies 'r'); see https://www.postgresql.org/docs/current/catalog-pg-shdepend.html
_ROLES_SQL = """
SELECT DISTINCT r.rolname FROM pg_roles r
WHERE r.rolname NOT LIKE 'pg\\_%%' AND NOT r.rolname = current_user AND (
      r.oid = (SELECT datdba FROM pg_database WHERE datname = current_database())
   OR r.oid IN (SELECT refobjid FROM pg_shdepend
                WHERE refclassid = 'pg_authid'::regclass
                  AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())))
ORDER BY 1
"""
_SETTINGS_SQL = """
SELECT coalesce(r.rolname, '(all roles)'), s.setconfig FROM pg_db_role_setting s
LEFT JOIN pg_roles r ON r.oid = s.setrole
WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def database_lost(ctx: DisasterContext) -> DisasterRecord:
    """Drop ``ctx.db`` entirely (and, on a disposable server, the roles tied to it).

    Records the tables and their row counts, the settings and roles that went with it, and the roles
    kept. HarnessFault when the database still exists afterwards.
    """
    guard_database(ctx, "drop the whole database")
    db = ctx.db
    with db.connect(autocommit=True) as conn:
        tables = [f"{s}.{t}" for s, t in conn.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') "
            "ORDER BY 1, 2").fetchall()]
        rows = counts(conn, tables)
        settings = {str(r): list(c or []) for r, c in conn.execute(_SETTINGS_SQL).fetchall()}
        roles = [str(r[0]) for r in conn.execute(_ROLES_SQL).fetchall()]
    disposable = db.backend in DISPOSABLE and db.created_by_harness
    dropped_roles: list[str] = []
    kept_roles: dict[str, str] = {}
    with psycopg.connect(db.with_name("postgres").url, autocommit=True, connect_timeout=10) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(db.name)))
        gone = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db.name,)).fetchone() is None
        for role in roles:
            if not disposable:
                kept_roles[role] = "the server is not disposable: its roles are not the drill's to drop"
                continue
            try:
                admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
                dropped_roles.append(role)
            except psycopg.Error as e:
                kept_roles[role] = str(e).strip().splitlines()[0]
    if not gone:
        raise HarnessFault(f"database-lost: database {db.name!r} still exists after DROP DATABASE")
    details: dict[str, Any] = {
        "database": db.name, "tables": tables, "rows_before": rows, "settings_lost": settings,
        "roles_dropped": dropped_roles, "roles_kept": kept_roles, "connection_role_kept": db.user,
    }
    total = sum(v or 0 for v in rows.values())
    summary = (f"database {db.name!r} dropped: {len(tables)} table(s), {total} row(s), {len(settings)} setting "
               f"group(s)" + (f", role(s) {', '.join(dropped_roles)}" if dropped_roles else ""))
    return database_record("database-lost", ctx, summary, details)


DISASTER = Disaster("database-lost", Kind.DATABASE, database_lost,
                    "the whole database dropped (with its settings and, on a disposable server, its roles)")
