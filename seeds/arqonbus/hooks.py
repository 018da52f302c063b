"""ArqonBus's system hooks: the Continuum projector's migration, generated event streams, live writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from restore_drill.fixtures.database import Database
from restore_drill.objectstore import S3Client

from ..hooks import DefinitionHooks, Smoke, Writer, summary
from .generate import seed as generate
from .schema import EVENTS, apply_migration, create_other_app
from .writes import smoke_cleanup, smoke_flow, write_event


class ArqonbusHooks(DefinitionHooks):
    """Seeds the projector tables beside another application's (blast_radius watches those), appends
    an event as the late write, re-applies the runbook's migration, and runs the projector smoke flow."""

    def load(self, conn: psycopg.Connection, s3_client: S3Client | None, bucket: str | None, prefix: str | None,
             *, seed: int, scale: int, large_objects: bool = False) -> dict[str, Any]:
        create_other_app(conn)
        return summary(generate(conn, seed=seed, scale=scale))

    def late_writer(self) -> Writer | None:
        def write(conn: psycopg.Connection) -> Any:
            row = conn.execute(f"SELECT min(stream_id) FROM {EVENTS}").fetchone()
            if row is None or row[0] is None:
                raise RuntimeError("no event stream to append to")
            return write_event(conn, row[0])

        return write

    def migration(self, db: Database) -> Callable[[], Any] | None:
        def apply() -> None:
            with db.connect(autocommit=True) as c:
                apply_migration(c)

        return apply

    def smoke(self, db: Database, s3_client: S3Client | None, bucket: str | None,
              prefix: str | None) -> Smoke | None:
        def flow() -> Any:
            with db.connect(autocommit=True) as c:
                return smoke_flow(c)

        def cleanup(info: Any) -> None:
            with db.connect(autocommit=True) as c:
                smoke_cleanup(c, info)

        return flow, cleanup


HOOKS = ArqonbusHooks
