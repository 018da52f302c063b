"""A Pegasus dataset as plain data (rows per table + objects), and the loader both the seeded
generator and the hypothesis strategies use: schema, COPY in foreign-key order, objects to the bucket."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from restore_drill.errors import BadInput
from restore_drill.objectstore import S3Client

from .._copy import bulk_load, copy_rows, reset_identity
from .._sql import run_script

SCHEMA_FILE = Path(__file__).with_name("schema.sql")

# Load order = foreign-key order. Column tuples are the COPY column lists (row tuples follow them).
COLUMNS: dict[str, tuple[str, ...]] = {
    "public.courses": ("id", "slug", "title", "description", "owner_email", "language", "settings",
                       "archived", "created_at", "updated_at"),
    "public.lectures": ("id", "course_id", "position", "title", "status", "language", "duration_ms",
                        "audio_key", "audio_sha256", "audio_bytes", "transcript_key", "metadata",
                        "recorded_at", "created_at", "updated_at"),
    "public.jobs": ("id", "lecture_id", "kind", "status", "priority", "attempts", "params", "result", "error",
                    "worker_id", "queued_at", "started_at", "finished_at", "updated_at"),
    "public.artifacts": ("id", "lecture_id", "job_id", "kind", "storage_key", "content_type", "size_bytes",
                         "sha256", "metadata", "created_at", "updated_at"),
    "public.threads": ("id", "lecture_id", "title", "messages", "created_at", "updated_at"),
    "public.exports": ("id", "lecture_id", "job_id", "format", "storage_key", "content_type", "size_bytes",
                       "sha256", "created_at", "updated_at"),
}
TABLES: tuple[str, ...] = tuple(COLUMNS)

UPLOAD_THREADS = 8  # moto serves one request per ~3 ms of CPU; a few in flight hide the round trips


@dataclass(frozen=True)
class ObjectSpec:
    key: str  # relative to the prefix
    body: bytes
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)  # ASCII only (S3 user metadata headers)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass
class PegasusDataset:
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {t: [] for t in TABLES})
    objects: list[ObjectSpec] = field(default_factory=list)

    def add_object(self, obj: ObjectSpec) -> ObjectSpec:
        self.objects.append(obj)
        return obj


def apply_schema(conn: psycopg.Connection) -> None:
    """Create the Pegasus schema (one transaction, idempotent)."""
    run_script(conn, SCHEMA_FILE.read_text(encoding="utf-8"))


def full_key(prefix: str, key: str) -> str:
    return f"{prefix.rstrip('/')}/{key}" if prefix else key


def require_empty(conn: psycopg.Connection) -> None:
    """BadInput unless public.courses is empty (Pegasus seeds only a fresh database)."""
    if conn.execute("SELECT EXISTS (SELECT 1 FROM public.courses)").fetchone() == (True,):
        raise BadInput("public.courses already holds rows: seed Pegasus into a fresh database")


def load_rows(conn: psycopg.Connection, ds: PegasusDataset) -> dict[str, int]:
    """COPY every table in foreign-key order in one transaction, then align identity sequences."""
    counts: dict[str, int] = {}
    require_empty(conn)
    try:
        with bulk_load(conn, TABLES) as freeze:  # TRUNCATE + COPY FREEZE, secondary indexes built after
            for table in TABLES:
                counts[table] = copy_rows(conn, table, COLUMNS[table], ds.rows[table], freeze=freeze)
                reset_identity(conn, table, "id")
    except ValueError as e:  # a table other than courses already holds rows
        raise BadInput(f"{e}: seed Pegasus into a fresh database") from None
    return counts


class ObjectUploader:
    """PUTs objects as they are generated, at most ``2 * UPLOAD_THREADS`` bodies in memory at a time, so a
    seed's memory does not grow with its objects (issue 19). ``put`` blocks while that many are in flight;
    ``close`` waits for all and re-raises the first failure; ``objects``/``bytes`` count what was put."""

    def __init__(self, s3_client: S3Client, bucket: str, prefix: str) -> None:
        self.s3, self.bucket, self.prefix = s3_client, bucket, prefix
        self.pool = ThreadPoolExecutor(max_workers=UPLOAD_THREADS)
        self.slots = threading.BoundedSemaphore(2 * UPLOAD_THREADS)
        self.futures: list[Future[int]] = []
        self.objects = 0

    def _put(self, o: ObjectSpec) -> int:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=full_key(self.prefix, o.key), Body=o.body,
                               ContentType=o.content_type, Metadata=o.metadata)
            return len(o.body)
        finally:
            self.slots.release()

    def put(self, o: ObjectSpec) -> None:
        self.slots.acquire()
        self.futures.append(self.pool.submit(self._put, o))
        self.objects += 1

    def close(self) -> int:
        """Wait for every PUT; returns the bytes written (raises the first PUT's error, if any)."""
        try:
            return sum(f.result() for f in self.futures)
        finally:
            self.abort()

    def abort(self) -> None:
        """Stop: PUTs not started are cancelled, running ones are waited for; errors are not raised."""
        self.pool.shutdown(wait=True, cancel_futures=True)


def upload_objects(s3_client: S3Client, bucket: str, prefix: str, objects: list[ObjectSpec]) -> int:
    """PUT every object (single PUTs, even large ones); returns bytes written."""

    def put(o: ObjectSpec) -> int:
        s3_client.put_object(Bucket=bucket, Key=full_key(prefix, o.key), Body=o.body,
                             ContentType=o.content_type, Metadata=o.metadata)
        return len(o.body)

    with ThreadPoolExecutor(max_workers=UPLOAD_THREADS) as pool:
        return sum(pool.map(put, objects))
