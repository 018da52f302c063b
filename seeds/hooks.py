"""System hooks: how data gets into a system and the per-system callables a drill needs.

``SystemHooks`` is the protocol (load, sample ids, late writer, migration, smoke). A system
definition whose ``data.generator`` names a built-in generator gets that generator's hooks, from its
own package (``seeds/arqonbus/hooks.py``, ``seeds/pegasus/hooks.py``); every other system gets
``DefinitionHooks``, which does what its TOML says: a user's SQL file, ``pg_dump`` archive of
anonymised data and folder of objects, ``late_write_sql``, the ``migration`` file, ``smoke.sql``.

To add a built-in generator: write ``seeds/<name>/hooks.py`` with a ``HOOKS`` class (usually a
``DefinitionHooks`` subclass overriding what the generator provides) and add ``"<name>"`` to
``GENERATORS`` below; ``systems.py`` validates ``data.generator`` against it.
"""

from __future__ import annotations

import importlib
import mimetypes
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import psycopg

from restore_drill.errors import BadInput
from restore_drill.objectstore import S3Client, base_prefix

if TYPE_CHECKING:
    from restore_drill.fixtures.database import Database
    from restore_drill.systems import SystemDef

# Built-in generators: name -> the module (below restore_drill.seeds) whose HOOKS class serves it.
GENERATORS: dict[str, str] = {"arqonbus": "arqonbus.hooks", "pegasus": "pegasus.hooks"}

Writer = Callable[[psycopg.Connection], Any]
Smoke = tuple[Callable[[], Any], Callable[[Any], Any]]


class SystemHooks(Protocol):
    """What a drill asks of a system besides its TOML facts. Built from the system's definition."""

    def load(self, conn: psycopg.Connection, s3_client: S3Client | None, bucket: str | None, prefix: str | None,
             *, seed: int, scale: int, large_objects: bool = False) -> dict[str, Any]:
        """Seed the system's data into ``conn``'s database (and bucket); a JSON-able summary.
        BadInput when the definition's data cannot be loaded (e.g. objects without storage)."""

    def sample_ids(self, conn: psycopg.Connection, n: int, seed: int) -> list[Any]:
        """Up to ``n`` ids the API probes sample (deterministic for ``seed``); [] without an API."""

    def late_writer(self) -> Writer | None:
        """One valid application write (for the late-writes disaster); None when the system has none."""

    def migration(self, db: Database) -> Callable[[], Any] | None:
        """Re-apply the system's migration on ``db`` (migration_idempotent); None when it has none."""

    def smoke(self, db: Database, s3_client: S3Client | None, bucket: str | None,
              prefix: str | None) -> Smoke | None:
        """(flow, cleanup) for write_smoke on the restored database and bucket; None when it has none."""


class DefinitionHooks:
    """The hooks of a system defined by its TOML alone (also the base the built-in generators extend)."""

    def __init__(self, sysdef: SystemDef) -> None:
        self.sysdef = sysdef

    def load(self, conn: psycopg.Connection, s3_client: S3Client | None, bucket: str | None, prefix: str | None,
             *, seed: int, scale: int, large_objects: bool = False) -> dict[str, Any]:
        sysdef = self.sysdef
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

    def sample_ids(self, conn: psycopg.Connection, n: int, seed: int) -> list[Any]:
        return []

    def late_writer(self) -> Writer | None:
        late_sql = self.sysdef.late_write_sql
        if not late_sql:
            return None

        def write_sql(conn: psycopg.Connection) -> Any:
            return conn.execute(late_sql).rowcount  # type: ignore[arg-type]

        return write_sql

    def migration(self, db: Database) -> Callable[[], Any] | None:
        if self.sysdef.migration is None:
            return None
        migration_sql = self.sysdef.migration.read_text()

        def apply_file() -> None:
            with db.connect() as c:  # one transaction: all or nothing, like psql --single-transaction
                c.execute(migration_sql)  # type: ignore[arg-type]

        return apply_file

    def smoke(self, db: Database, s3_client: S3Client | None, bucket: str | None,
              prefix: str | None) -> Smoke | None:
        smoke_sql = self.sysdef.smoke_sql
        if not smoke_sql:
            return None

        def flow_sql() -> Any:
            # The write runs in a transaction that is rolled back: it proves the restored schema takes
            # writes (defaults, sequences, constraints) and leaves no trace.
            with db.connect() as c:
                rows = c.execute(smoke_sql).rowcount  # type: ignore[arg-type]
                c.rollback()
            return {"rows_written": rows, "rolled_back": True}

        return flow_sql, lambda info: None


def hooks_for(sysdef: SystemDef) -> SystemHooks:
    """The system's hooks: its built-in generator's, or DefinitionHooks. BadInput for an unknown generator."""
    if sysdef.generator is None:
        return DefinitionHooks(sysdef)
    module = GENERATORS.get(sysdef.generator)
    if module is None:
        raise BadInput(f"{sysdef.path}: data.generator names unknown generator {sysdef.generator!r} "
                       f"(built in: {', '.join(GENERATORS)})")
    hooks: type[DefinitionHooks] = importlib.import_module(f"{__package__}.{module}").HOOKS
    return hooks(sysdef)


def summary(s: Any) -> dict[str, Any]:
    """A generator's seed summary (a dataclass with to_dict, or any object) as a dict."""
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


def upload_folder(client: S3Client, bucket: str, prefix: str, folder: Path) -> int:
    """Upload every file below ``folder`` to ``prefix/<relative path>``; returns the object count."""
    n = 0
    base = base_prefix(prefix)
    for root, _dirs, files in os.walk(folder):
        for f in sorted(files):
            p = Path(root) / f
            rel = p.relative_to(folder).as_posix()
            ctype = mimetypes.guess_type(f)[0] or "application/octet-stream"
            client.put_object(Bucket=bucket, Key=base + rel, Body=p.read_bytes(), ContentType=ctype)
            n += 1
    return n
