"""Object storage behind one protocol: ``ObjectStore`` with an S3 (bucket + prefix) and a folder implementation.

``open_store(client_or_store, bucket, prefix)`` is what functions taking the historical
``(s3_client, bucket, prefix)`` triple call: a boto3 client becomes an ``S3Store``; a store (e.g. a
``DirectoryStore`` standing for a folder snapshot) is used as it is, narrowed to ``prefix``.
"""

from __future__ import annotations

from typing import Any

from .directory import DirectoryStore
from .interface import ObjectInfo, ObjectStore, S3Client, StoredObject, base_prefix
from .s3 import S3Store, iter_pages, list_objects, sizes_by_folder


def open_store(client: Any, bucket: str, prefix: str | None) -> ObjectStore:
    """An ObjectStore for ``s3://bucket/prefix/`` through boto3 ``client``, or ``client`` itself (narrowed
    to ``prefix``) when it already is an ObjectStore."""
    if isinstance(client, ObjectStore):
        return client.within(prefix)
    return S3Store(client, bucket, prefix)


__all__ = [
    "DirectoryStore", "ObjectInfo", "ObjectStore", "S3Client", "S3Store", "StoredObject", "base_prefix", "iter_pages",
    "list_objects", "open_store", "sizes_by_folder",
]
