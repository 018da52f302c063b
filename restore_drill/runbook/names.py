"""The drill's database under the names a runbook uses: ``[names] database``, ``user`` and ``roles``.

A runbook that says ``pg_dump -Fc mataroa -h localhost -U mataroa`` runs as written when the drill's
database *is* called ``mataroa`` and a role ``mataroa`` can log in with the password the drill exports
(``PGPASSWORD``). On a disposable server (embedded, container) that is safe: the database is created
under that name and the roles are created (or their password reset). On ``external`` the harness never
creates roles (they are cluster-wide, shared with the user's real databases) and never touches a
database it did not create: a name already there is refused, naming the fix.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from restore_drill.errors import BadInput
from restore_drill.fixtures.database import Database

from .binding import Names

BUCKET_ROLES = ("live", "backup")

DISPOSABLE_BACKENDS = ("embedded", "container")
SUPERUSER_ROLES = ("postgres",)  # initdb's default superuser name: runbooks that use it expect one


def drill_database(srv: Any, names: Names) -> Database:
    """Create the drill's database on ``srv`` (a PostgresBackend) under ``names``; returns it.

    Without names: a scratch ``drill_*`` database, as before. With ``names.user`` the returned Database
    connects as that role (the database's owner, SUPERUSER on a disposable server, the server's drill
    password), so the seed and the runbook see the same owner. Raises BadInput when a name cannot be
    used: roles on an ``external`` server, or a database of that name already on the server.
    """
    if not names.database and not names.all_roles:
        return srv.create_database()  # type: ignore[no-any-return]
    disposable = getattr(srv, "kind", "") in DISPOSABLE_BACKENDS
    if names.all_roles and not disposable:  # refused before anything touches the server
        raise BadInput(f"[names] roles {list(names.all_roles)} can only be created on a disposable server; roles are "
                       "cluster-wide, so on --pg-backend external they would change the server's real roles: use "
                       "--pg-backend embedded, or remove user/roles from [names]")
    admin = srv.admin_db()
    conn: psycopg.Connection = srv.admin
    if names.database:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (names.database,)).fetchone()
        if row is not None:
            why = ("restore-drill never touches a database it did not create" if not disposable else
                   "another drill on this server is using the name right now (run those drills one at a time)")
            raise BadInput(f"[names] database = {names.database!r}: a database of that name already exists on the "
                           f"{getattr(srv, 'kind', '')} server; {why}")
    for role in names.all_roles:
        superuser = role == names.user or role in SUPERUSER_ROLES
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None
        verb = sql.SQL("ALTER ROLE" if exists else "CREATE ROLE")
        conn.execute(sql.SQL("{} {} WITH LOGIN {} PASSWORD {}").format(
            verb, sql.Identifier(role), sql.SQL("SUPERUSER" if superuser else "NOSUPERUSER"),
            sql.Literal(admin.password)))
    db: Database = srv.create_database(name=names.database or None)
    if names.user:
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(db.name),
                                                                    sql.Identifier(names.user)))
        db = Database(**{**db.__dict__, "user": names.user})
    return db


def drop_roles(db: Database, names: Names, *, keep: tuple[str, ...] = ()) -> list[str]:
    """Drop the roles ``names`` declares (except ``keep``), as a new server would not have them.

    Connects to the ``postgres`` database of ``db``'s server as ``db``'s user. A role that still owns
    objects elsewhere is left and not listed. Returns the roles dropped.
    """
    dropped = []
    with psycopg.connect(db.with_name("postgres").url, autocommit=True, connect_timeout=10) as conn:
        for role in names.all_roles:
            if role in keep or role == db.user:
                continue
            try:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
                dropped.append(role)
            except psycopg.Error:
                continue  # owns objects in another database: that server is not ours to clean
    return dropped


def ensure_database(url: str) -> str | None:
    """Create the database ``url`` names when it does not exist (empty, owned by the URL's role).

    After a restore that never recreated a lost database, the checks need something to connect to,
    to judge "nothing was restored" as failed rather than errored. Returns the name created, or None
    when it exists (or the server cannot be reached: the checks then say so).
    """
    info = psycopg.conninfo.conninfo_to_dict(url)
    name = str(info.get("dbname") or "")
    if not name:
        return None
    try:
        with psycopg.connect(psycopg.conninfo.make_conninfo(url, dbname="postgres"), autocommit=True,
                             connect_timeout=10) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None:
                return None
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error:
        return None
    return name


def drill_bucket(infra: Any, hint: str, names: Names, role: str) -> Any:
    """The drill's ``role`` bucket ("live" or "backup") on ``infra`` (fixtures.infra.Infra): named as the
    runbook names it (``[names] buckets``) on the private moto server, else a unique ``rd-*`` name.

    A literal name is only used on moto (the harness's own S3): on ``--s3-backend endpoint`` a bucket of
    that name may be the user's real one, so BadInput names the fix. Returns a fixtures.s3 Bucket the
    harness created (emptied and deleted at tear-down).
    """
    literal = names.buckets.get(role, "")
    if not literal:
        return infra.bucket(hint)
    s3 = infra.s3
    if getattr(s3, "kind", "") != "moto":
        raise BadInput(f"[names] buckets.{role} = {literal!r} can only be created on the drill's own moto S3; on "
                       "--s3-backend endpoint it may be a real bucket: use --s3-backend moto, or remove it")
    from restore_drill.fixtures.s3 import Bucket

    client = s3.endpoint.client()
    try:
        client.create_bucket(Bucket=literal)
    except client.exceptions.BucketAlreadyOwnedByYou:
        raise BadInput(f"[names] buckets.{role} = {literal!r}: another drill on this S3 server is using that "
                       "bucket right now; run those drills one at a time") from None
    s3.buckets.add(literal)
    return Bucket(literal, s3.endpoint, created_by_harness=True)
