"""Pegasus's system hooks: schema + rows + objects, lecture ids for the API probes, a late lecture
upload, and the lecture-processing smoke flow."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from restore_drill.errors import BadInput
from restore_drill.fixtures.database import Database
from restore_drill.objectstore import S3Client

from ..hooks import DefinitionHooks, Smoke, Writer, summary
from .dataset import apply_schema
from .flows import sample_lecture_ids, smoke_cleanup, smoke_flow
from .generate import seed as generate


def _storage(s3_client: S3Client | None, bucket: str | None, prefix: str | None) -> tuple[S3Client, str, str]:
    if s3_client is None or bucket is None or prefix is None:
        raise BadInput("pegasus needs object storage: its definition's storage.prefix and a bucket")
    return s3_client, bucket, prefix


def late_upload(conn: psycopg.Connection) -> Any:
    """A client uploads a new lecture after the backup: the row the restore will lose. Returns its id."""
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


class PegasusHooks(DefinitionHooks):
    """Pegasus: rows and the objects they reference; lecture ids are the sample ids."""

    def load(self, conn: psycopg.Connection, s3_client: S3Client | None, bucket: str | None, prefix: str | None,
             *, seed: int, scale: int, large_objects: bool = False) -> dict[str, Any]:
        client, bucket, prefix = _storage(s3_client, bucket, prefix)
        apply_schema(conn)
        return summary(generate(conn, client, bucket, prefix, seed=seed, scale=scale, large_objects=large_objects))

    def sample_ids(self, conn: psycopg.Connection, n: int, seed: int) -> list[Any]:
        return list(sample_lecture_ids(conn, n, seed))

    def late_writer(self) -> Writer | None:
        return late_upload

    def smoke(self, db: Database, s3_client: S3Client | None, bucket: str | None,
              prefix: str | None) -> Smoke | None:
        client, bucket_, prefix_ = _storage(s3_client, bucket, prefix)

        def flow() -> Any:
            with db.connect(autocommit=True) as c:
                return smoke_flow(c, client, bucket_, prefix_)

        def cleanup(info: Any) -> None:
            with db.connect(autocommit=True) as c:
                smoke_cleanup(c, client, bucket_, prefix_, info)

        return flow, cleanup


HOOKS = PegasusHooks
