"""An S3 bucket + prefix as an ObjectStore, and the one S3 listing loop everything else calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .interface import ObjectInfo, S3Client, StoredObject, base_prefix

PAGE_SIZE = 1000  # S3's maximum keys per ListObjectsV2 response


def iter_pages(client: S3Client, bucket: str, prefix: str, *, delimiter: str | None = None,
               on_page: Callable[[], None] | None = None) -> Iterator[dict[str, Any]]:
    """The raw ListObjectsV2 pages under the name prefix ``prefix`` (taken as is: ``"x-"`` matches
    ``x-2026-01-01/...``), one request per 1,000 keys; with ``delimiter="/"`` a page also carries
    ``CommonPrefixes`` (the first-level "folders"). Raises botocore's errors (NoSuchBucket, ...)."""
    kw: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "PaginationConfig": {"PageSize": PAGE_SIZE}}
    if delimiter is not None:
        kw["Delimiter"] = delimiter
    for page in client.get_paginator("list_objects_v2").paginate(**kw):
        if on_page is not None:
            on_page()
        yield dict(page)


def list_objects(client: S3Client, bucket: str, prefix: str | None, *,
                 on_page: Callable[[], None] | None = None) -> Iterator[ObjectInfo]:
    """Every object under the folder-like ``prefix`` (``"p"`` lists ``p/...``, never ``pX/...``; None or ""
    the whole bucket), with its full key, in S3's order."""
    for page in iter_pages(client, bucket, base_prefix(prefix), on_page=on_page):
        for o in page.get("Contents", []):
            yield ObjectInfo(o["Key"], int(o["Size"]), str(o.get("ETag", "")), o.get("LastModified"),
                             o.get("StorageClass") or "STANDARD")


def sizes_by_folder(client: S3Client, bucket: str, prefix: str | None) -> dict[str, dict[str, int]]:
    """{first folder under ``prefix``: {the rest of the key: size in bytes}} for every object inside such a
    folder (objects directly under ``prefix`` are left out): a backup tool's backups, one folder each
    (Barman cloud backup ids, pgBackRest labels). One listing (``list_objects``)."""
    base = base_prefix(prefix)
    out: dict[str, dict[str, int]] = {}
    for o in list_objects(client, bucket, base):
        folder, _, name = o.key[len(base):].partition("/")
        if name:
            out.setdefault(folder, {})[name] = o.size
    return out


class S3Store:
    """The objects under ``s3://bucket/prefix/`` through a boto3 client; keys relative to the prefix."""

    keeps_metadata = True

    def __init__(self, client: S3Client, bucket: str, prefix: str | None = None) -> None:
        self.client, self.bucket, self.prefix = client, bucket, base_prefix(prefix)
        self.list_requests = 0

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _counted(self) -> None:
        self.list_requests += 1

    def list(self) -> Iterator[ObjectInfo]:
        n = len(self.prefix)
        for o in list_objects(self.client, self.bucket, self.prefix, on_page=self._counted):
            yield ObjectInfo(o.key[n:], o.size, o.etag, o.last_modified, o.storage_class)

    def get(self, key: str) -> StoredObject:
        resp = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        return StoredObject(resp["Body"].iter_chunks(1 << 20), int(resp.get("ContentLength", 0)),
                            resp.get("ContentType", "") or "", dict(resp.get("Metadata", {}) or {}))

    def within(self, prefix: str | None) -> S3Store:
        return S3Store(self.client, self.bucket, self.prefix + base_prefix(prefix)) if base_prefix(prefix) else self
