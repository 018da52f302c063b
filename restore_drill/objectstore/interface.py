"""The one way restore-drill reads object storage: an ``ObjectStore`` (an S3 bucket + prefix, or a folder).

Checks, manifests, seeds, the runbook runner and verify-backup list and read objects through this
protocol, so a plain folder snapshot is judged exactly like an S3 prefix, and the S3 listing loop is
written once (``s3.list_objects``). ``S3Client`` is boto3's S3 client, typed by mypy-boto3-s3.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client as S3Client
else:
    S3Client = Any  # the stubs are a development dependency; at run time this is boto3's client

__all__ = ["ObjectInfo", "ObjectStore", "S3Client", "StoredObject", "base_prefix"]


def base_prefix(prefix: str | None) -> str:
    """A folder-like prefix as S3 lists it: ``"a/b"`` and ``"/a/b/"`` -> ``"a/b/"``; ``None``/``""`` -> ``""``."""
    return prefix.strip("/") + "/" if prefix and prefix.strip("/") else ""


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object. ``key`` is relative to the store's prefix (``s3.list_objects``: the full key)."""

    key: str
    size: int  # bytes
    etag: str = ""  # as S3 lists it, quotes included; "" for a folder
    last_modified: datetime | None = None
    storage_class: str = "STANDARD"  # as S3 lists it (GLACIER, DEEP_ARCHIVE ... cannot be read back at once)


@dataclass
class StoredObject:
    """One object's content (streamed once, in chunks) and what S3 keeps beside it."""

    chunks: Iterator[bytes] = field(repr=False)
    size: int  # bytes, as the store reports it
    content_type: str = ""  # "" for a folder: a file keeps bytes only
    metadata: dict[str, str] = field(default_factory=dict)

    def read(self) -> bytes:
        """The whole content (for small objects; use ``sha256`` to digest a large one)."""
        return b"".join(self.chunks)

    def sha256(self) -> str:
        """Hex sha256 of the content, streamed chunk by chunk (memory stays bounded)."""
        h = hashlib.sha256()
        for chunk in self.chunks:
            h.update(chunk)
        return h.hexdigest()


@runtime_checkable
class ObjectStore(Protocol):
    """Read access to the objects under one prefix.

    Implementations: ``s3.S3Store`` (bucket + prefix, through boto3) and ``directory.DirectoryStore``
    (a folder, read-only). ``list`` yields keys relative to the prefix in S3's order (UTF-8 byte
    order); ``get`` raises KeyError-like errors of its backend for a key that is not there
    (botocore ClientError NoSuchKey, FileNotFoundError). ``list_requests`` counts list calls made,
    for evidence and benchmarks (a folder makes none).
    """

    @property
    def where(self) -> str:
        """For messages: ``s3://bucket/prefix/`` or the folder's path."""

    @property
    def keeps_metadata(self) -> bool:
        """False for a folder: content type and user metadata cannot be compared."""

    @property
    def list_requests(self) -> int:
        """List calls made so far."""

    def list(self) -> Iterator[ObjectInfo]:
        """Every object under the prefix, keys relative to it, in S3's order."""

    def get(self, key: str) -> StoredObject:
        """One object's content and metadata; ``key`` relative to the prefix."""

    def within(self, prefix: str | None) -> ObjectStore:
        """The same store narrowed to ``prefix`` below its own prefix (itself for None/"")."""
