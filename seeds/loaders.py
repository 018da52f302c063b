"""How data gets into a system, by its definition: a built-in generator by name, or a user's SQL file,
`pg_dump` archive of anonymised data, and folder of objects. Plus the per-system callables drills need
(sample ids for probes, a late writer, the migration to re-apply, the write-smoke flow)."""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from restore_drill.errors import BadInput

if TYPE_CHECKING:
    from restore_drill.fixtures.database import Database
    from restore_drill.systems import SystemDef


def load(sysdef: SystemDef, conn: psycopg.Connection, s3_client: Any, bucket: str | None, prefix: str | None,
         *, seed: int, scale: int, large_objects: bool = False, db: Database | None = None) -> dict[str, Any]:
    """Seed the system's data into ``conn``'s database (and bucket) and return a summary dict."""
    if sysdef.generator == "arqonbus":
        from . import arqonbus

        arqonbus.create_other_app(conn)
        return _summary(arqonbus.seed(conn, seed=seed, scale=scale))
    if sysdef.generator == "pegasus":
        from . import pegasus

        pegasus.apply_schema(conn)
        assert bucket is not None and prefix is not None, "pegasus needs object storage"
        return _summary(pegasus.seed(conn, s3_client, bucket, prefix, seed=seed, scale=scale,
                                     large_objects=large_objects))
    out: dict[str, Any] = {"system": sysdef.name, "seed": seed, "scale": scale}
    if sysdef.seed_sql is not None:
        sql_text = sysdef.seed_sql.read_text()
        for _ in range(scale):  # a user's SQL seeds once per scale step (it may use sequences/defaults)
            conn.execute(sql_text.encode())  # several statements, no parameters: simple query protocol
        out["sql"] = str(sysdef.seed_sql)
    if sysdef.seed_dump is not None:
        _restore_dump(sysdef.seed_dump, conn)
        out["dump"] = str(sysdef.seed_dump)
    if sysdef.seed_objects is not None:
        if s3_client is None or bucket is None:
            raise BadInput(f"{sysdef.path}: data.objects needs object storage (set storage.prefix)")
        out["objects"] = upload_folder(s3_client, bucket, prefix or "", sysdef.seed_objects)
    return out


def _summary(s: Any) -> dict[str, Any]:
    return s.to_dict() if hasattr(s, "to_dict") else dict(vars(s))


def _restore_dump(dump: Path, conn: psycopg.Connection) -> None:
    from restore_drill import procs
    from restore_drill.fixtures import binaries

    info = conn.info
    major = info.server_version // 10000
    bins = binaries.client_for(major)
    env = {"PATH": "/usr/bin:/bin", "PGPASSWORD": info.password or "", "PGCONNECT_TIMEOUT": "10"}
    host = info.host
    args = [str(bins.tool("pg_restore")), "--no-owner", "--no-privileges", "--exit-on-error", "-h", host,
            "-p", str(info.port), "-U", info.user, "-d", info.dbname, str(dump)]
    done = procs.run(args, env=env, timeout_s=3600)
    if done.exit_code != 0:
        raise BadInput(f"data.dump {dump} did not restore: {done.stderr.strip().splitlines()[-1:]}")


def upload_folder(client: Any, bucket: str, prefix: str, folder: Path) -> int:
    """Upload every file below ``folder`` to ``prefix/<relative path>``; returns the object count."""
    n = 0
    base = prefix.strip("/") + "/" if prefix.strip("/") else ""
    for root, _dirs, files in os.walk(folder):
        for f in sorted(files):
            p = Path(root) / f
            rel = p.relative_to(folder).as_posix()
            ctype = mimetypes.guess_type(f)[0] or "application/octet-stream"
            client.put_object(Bucket=bucket, Key=base + rel, Body=p.read_bytes(), ContentType=ctype)
            n += 1
    return n


def sample_ids(sysdef: SystemDef, conn: psycopg.Connection, n: int, seed: int) -> list[Any]:
    """Ids the probes sample (Pegasus lectures); empty for systems without an API."""
    if sysdef.generator == "pegasus":
        from . import pegasus

        return list(pegasus.sample_lecture_ids(conn, n, seed))
    return []


def late_writer(sysdef: SystemDef) -> Callable[[psycopg.Connection], Any] | None:
    """One valid application write, for the late-writes disaster (writes the backup will not hold)."""
    if sysdef.generator == "arqonbus":
        from . import arqonbus

        def write(conn: psycopg.Connection) -> Any:
            row = conn.execute(f"SELECT min(stream_id) FROM {arqonbus.EVENTS}").fetchone()
            if row is None or row[0] is None:
                raise RuntimeError("no event stream to append to")
            return arqonbus.write_event(conn, row[0])

        return write
    if sysdef.generator == "pegasus":
        return _pegasus_late_upload
    if sysdef.late_write_sql:
        late_sql = sysdef.late_write_sql

        def write_sql(conn: psycopg.Connection) -> Any:
            cur = conn.execute(late_sql)  # type: ignore[arg-type]
            return cur.rowcount

        return write_sql
    return None


def _pegasus_late_upload(conn: psycopg.Connection) -> Any:
    """A client uploads a new lecture after the backup: the row the restore will lose."""
    import uuid

    tag = uuid.uuid4().hex[:12]
    row = conn.execute(
        "INSERT INTO public.lectures (course_id, position, title, audio_key) "
        "SELECT c.id, coalesce((SELECT max(position) FROM public.lectures l WHERE l.course_id = c.id), 0) + 1, "
        "%s, %s FROM public.courses c ORDER BY c.id LIMIT 1 RETURNING id",
        (f"Late upload {tag}", f"audio/late-{tag}/lecture.wav"),
    ).fetchone()
    if row is None:
        raise RuntimeError("no course to add a lecture to")
    return row[0]


def migration_apply(sysdef: SystemDef, db: Database) -> Callable[[], Any] | None:
    """Re-apply the system's migration on ``db`` (for migration_idempotent); None when it has none."""
    if sysdef.generator == "arqonbus":
        from . import arqonbus

        def apply() -> None:
            with db.connect(autocommit=True) as c:
                arqonbus.apply_migration(c)

        return apply
    if sysdef.migration is not None:
        migration_sql = sysdef.migration.read_text()

        def apply_file() -> None:
            with db.connect() as c:  # one transaction: all or nothing, like psql --single-transaction
                c.execute(migration_sql)  # type: ignore[arg-type]

        return apply_file
    return None


def smoke(sysdef: SystemDef, db: Database, s3_client: Any, bucket: str | None,
          prefix: str | None) -> tuple[Callable[[], Any], Callable[[Any], Any]] | None:
    """(flow, cleanup) for write_smoke, run on the restored database and bucket."""
    if sysdef.generator == "arqonbus":
        from . import arqonbus

        def flow_a() -> Any:
            with db.connect(autocommit=True) as c:
                return arqonbus.smoke_flow(c)

        def clean_a(info: Any) -> None:
            with db.connect(autocommit=True) as c:
                arqonbus.smoke_cleanup(c, info)

        return flow_a, clean_a
    if sysdef.generator == "pegasus":
        from . import pegasus

        assert bucket is not None and prefix is not None, "pegasus needs object storage"

        def flow_p() -> Any:
            with db.connect(autocommit=True) as c:
                return pegasus.smoke_flow(c, s3_client, bucket, prefix)

        def clean_p(info: Any) -> None:
            with db.connect(autocommit=True) as c:
                pegasus.smoke_cleanup(c, s3_client, bucket, prefix, info)

        return flow_p, clean_p
    if sysdef.smoke_sql:
        smoke_sql = sysdef.smoke_sql

        def flow_sql() -> Any:
            # The write runs in a transaction that is rolled back: it proves the restored schema takes
            # writes (defaults, sequences, constraints) and leaves no trace.
            with db.connect() as c:
                cur = c.execute(smoke_sql)  # type: ignore[arg-type]
                rows = cur.rowcount
                c.rollback()
            return {"rows_written": rows, "rolled_back": True}

        return flow_sql, lambda info: None
    return None
