"""What every disaster shares: its context, its record, the injector protocol and the safety guards.

A disaster is declared once, as a ``Disaster`` (name, kind, injector), in its own module of this
package and registered in ``registry.py``; the CLI's ``--disaster`` choices, ``catalog.DISASTERS``
and the safety tests all read the registry. Every injector's first line is a guard from here
(``guard_database`` / ``guard_storage`` / ``guard_bucket``): a target the harness did not create
is refused (``DestructiveRefused``) unless the user named it with ``--allow-destructive``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import psycopg

from restore_drill.errors import BadInput
from restore_drill.fixtures.database import Database, ensure_destructive_allowed
from restore_drill.fixtures.s3 import Bucket, ensure_bucket_destructive_allowed
from restore_drill.foundation import qualified, utcnow
from restore_drill.objectstore import S3Client
from restore_drill.records import DisasterRecord

__all__ = [
    "MAX_RECORDED_IDS", "Disaster", "DisasterContext", "DisasterRecord", "Injector", "Kind", "database_record",
    "guard_bucket", "guard_database", "guard_storage", "storage_record",
]

MAX_RECORDED_IDS = 10_000  # beyond this a record keeps the count and the first ids only


class Kind(StrEnum):
    """What a disaster damages, hence which guard its first line must call.

    ``database``: rows/tables of ``ctx.db`` (guard_database). ``storage``: objects in ``ctx.bucket``
    or ``ctx.backup_bucket`` (guard_storage / guard_bucket). ``host``: the database server and its
    storage together (both guards, database first).
    """

    DATABASE = "database"
    STORAGE = "storage"
    HOST = "host"

    @property
    def guards_database(self) -> bool:
        return self in (Kind.DATABASE, Kind.HOST)

    @property
    def guards_storage(self) -> bool:
        return self in (Kind.STORAGE, Kind.HOST)


@dataclass
class DisasterContext:
    """Everything an injector may touch. Tables are names as the drill lists them (``t`` or ``s.t``)."""

    db: Database
    tables: Sequence[str] = ()  # tables in scope (schema-qualified or public)
    seed: int = 0
    allow_destructive: str | None = None
    s3_client: S3Client | None = None  # defaults to bucket.endpoint.client()
    bucket: Bucket | None = None  # the live bucket
    prefix: str = ""  # the live prefix, e.g. "pegasus"
    backup_bucket: Bucket | None = None  # where dated snapshots live (default: bucket)
    snapshot_prefix: str | None = None  # the snapshot the backup wrote, e.g. "pegasus-2026-03-01"
    backup_date: str | None = None  # YYYY-MM-DD of the database dump
    backup_at: str | None = None  # when the backup finished (late-writes records the window from it)
    write_row: Callable[[psycopg.Connection], Any] | None = None  # late-writes: writes one valid row
    fraction: float = 0.2
    count: int = 3  # late-writes: rows to write
    target_table: str | None = None  # pin the table instead of drawing one
    workdir: Any = None  # host-lost: the drill's working folder (a Path), wiped between backup and restore

    def client(self) -> S3Client:
        """The boto3 S3 client for the drill's endpoint; BadInput when the drill has no bucket."""
        if self.s3_client is not None:
            return self.s3_client
        if self.bucket is None:
            raise BadInput("this disaster damages object storage; the drill has no bucket (use a system with storage)")
        return self.bucket.endpoint.client()

    @property
    def scope(self) -> list[str]:
        """The tables in scope, schema-qualified and sorted."""
        return sorted(qualified(t) for t in self.tables)

    def rng(self) -> random.Random:
        """A fresh generator seeded with ``seed``: the same seed on the same data does the same damage."""
        return random.Random(self.seed)


class Injector(Protocol):
    """Does one kind of damage and says exactly what it did.

    Raises DestructiveRefused (first line: a guard) for a target the harness did not create,
    BadInput when the drill lacks what the disaster needs, HarnessFault when there is nothing to damage.
    """

    def __call__(self, ctx: DisasterContext, /) -> DisasterRecord: ...


@dataclass(frozen=True)
class Disaster:
    """One registered disaster: its CLI name (``--disaster NAME``), what it damages, and its injector."""

    name: str
    kind: Kind
    inject: Injector
    summary: str  # one line for `restore-drill list` and the README


# -- safety guards: the first line of every injector ------------------------------------------------

def guard_database(ctx: DisasterContext, what: str) -> Database:
    """Refuse ``what`` on ``ctx.db`` unless the harness created it or --allow-destructive names it."""
    ensure_destructive_allowed(ctx.db, ctx.allow_destructive, what)
    return ctx.db


def guard_bucket(ctx: DisasterContext, bucket: Bucket, what: str) -> Bucket:
    """Refuse ``what`` in ``bucket`` unless the harness created it or --allow-destructive names it."""
    ensure_bucket_destructive_allowed(bucket, ctx.allow_destructive, what)
    return bucket


def guard_storage(ctx: DisasterContext, what: str) -> tuple[S3Client, Bucket]:
    """Guard the live bucket; returns (client, bucket). BadInput when the drill has no bucket."""
    if ctx.bucket is None:
        raise BadInput(f"{what} damages object storage; the drill has no bucket (use a system with storage)")
    guard_bucket(ctx, ctx.bucket, what)
    return ctx.client(), ctx.bucket


# -- records ------------------------------------------------------------------------------------------

def database_record(name: str, ctx: DisasterContext, summary: str, details: dict[str, Any]) -> DisasterRecord:
    """A record whose target is ``database <name>``; ``summary`` is the one line a report shows."""
    return DisasterRecord(name=name, at=utcnow(), target=f"database {ctx.db.name}",
                          details={"summary": summary, **details})


def storage_record(name: str, bucket: str, prefix: str, summary: str, details: dict[str, Any]) -> DisasterRecord:
    """A record whose target is ``s3://bucket/prefix/``."""
    return DisasterRecord(name=name, at=utcnow(), target=f"s3://{bucket}/{prefix.strip('/')}/",
                          details={"summary": summary, **details})
