"""The storage snapshot ``verify-backup`` compares a dump with: an ``s3://bucket/prefix`` or a folder.

Both are read through the few S3 client calls the storage checks use (list, get), so the same
``checks.storage`` functions judge either. A folder is served by :class:`DirectoryStore`, which only
ever opens files for reading: the snapshot is evidence and is never changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from restore_drill.checks.retention import date_in
from restore_drill.fixtures.s3 import S3Endpoint

from ..errors import BadInput
from ..redact import redact_url

PAGE = 1000


class _Body:
    def __init__(self, path: Path) -> None:
        self.path = path

    def iter_chunks(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        with self.path.open("rb") as f:
            while chunk := f.read(chunk_size):
                yield chunk


class _Paginator:
    def __init__(self, store: DirectoryStore) -> None:
        self.store = store

    def paginate(self, *, Bucket: str, Prefix: str = "", **_: Any) -> Iterator[dict[str, Any]]:  # noqa: N803 - boto3 names
        keys = [k for k in self.store.list_keys() if k.startswith(Prefix)]
        for i in range(0, max(len(keys), 1), PAGE):
            page = keys[i:i + PAGE]
            yield {"Contents": [{"Key": k, "Size": self.store.size(k)} for k in page], "KeyCount": len(page)}


class _Events:
    def register(self, *_: Any, **__: Any) -> None:
        return None

    def unregister(self, *_: Any, **__: Any) -> None:
        return None


class _Meta:
    events = _Events()


class DirectoryStore:
    """A folder seen as one bucket: keys are paths relative to the folder with "/" separators, listed
    in S3's order (UTF-8 bytes). Read-only: it offers list and get, nothing that writes."""

    meta = _Meta()

    def __init__(self, root: Path) -> None:
        self.root = root
        self._keys: list[str] | None = None

    def list_keys(self) -> list[str]:
        if self._keys is None:
            found: list[str] = []
            for dirpath, _dirs, files in os.walk(self.root):
                for name in files:
                    p = Path(dirpath) / name
                    if p.is_file():
                        found.append(p.relative_to(self.root).as_posix())
            self._keys = sorted(found, key=lambda k: k.encode("utf-8"))
        return self._keys

    def size(self, key: str) -> int:
        return (self.root / key).stat().st_size

    def get_paginator(self, name: str) -> _Paginator:
        if name != "list_objects_v2":
            raise NotImplementedError(f"a folder snapshot offers list_objects_v2 only, not {name}")
        return _Paginator(self)

    def get_object(self, *, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:  # noqa: N803 - boto3 names
        # A folder copy keeps bytes only: no content type or user metadata to compare.
        return {"Body": _Body(self.root / Key), "ContentType": "", "Metadata": {},
                "ContentLength": self.size(Key)}


@dataclass
class Snapshot:
    """Where the snapshot is and how to read it. ``bucket``/``prefix`` are what the checks are given."""

    spec: str  # as the user wrote it (credentials never part of it)
    kind: str  # "s3" | "dir"
    client: Any = field(repr=False)
    bucket: str
    prefix: str | None
    taken_on: date | None  # from the name: prefix-YYYY-MM-DD, pegasus_20260220 ...

    @property
    def keeps_metadata(self) -> bool:
        return self.kind == "s3"

    @property
    def where(self) -> str:
        return self.spec


def open_snapshot(spec: str, *, s3_endpoint: str | None = None, access_key: str | None = None,
                  secret_key: str | None = None, region: str = "us-east-1") -> Snapshot:
    """Resolve ``--storage-snapshot``: ``s3://bucket/prefix`` (needs an endpoint and keys) or a folder."""
    if spec.startswith("s3://"):
        u = urlparse(spec)
        bucket, prefix = u.netloc, u.path.strip("/")
        if not bucket:
            raise BadInput(f"--storage-snapshot {spec} names no bucket: use s3://bucket/prefix")
        if not s3_endpoint:
            raise BadInput(f"--storage-snapshot {spec} needs --s3-endpoint URL (e.g. --s3-endpoint "
                           "https://s3.eu-west-1.amazonaws.com) and RESTORE_DRILL_S3_ACCESS_KEY/_SECRET_KEY")
        if not access_key or not secret_key:
            raise BadInput(f"--storage-snapshot {spec}: set RESTORE_DRILL_S3_ACCESS_KEY and "
                           "RESTORE_DRILL_S3_SECRET_KEY to read-only credentials for the snapshot bucket")
        client = S3Endpoint(s3_endpoint, access_key, secret_key, region).client()
        try:
            client.head_bucket(Bucket=bucket)
        except Exception as e:  # noqa: BLE001 - botocore raises many kinds; all mean "cannot read it"
            raise BadInput(f"--storage-snapshot {spec}: bucket {bucket!r} cannot be read at "
                           f"{redact_url(s3_endpoint)} ({type(e).__name__}: {str(e)[:160]}); check the name, "
                           "--s3-endpoint and the RESTORE_DRILL_S3_* keys") from None
        name = prefix.rsplit("/", 1)[-1] if prefix else bucket
        return Snapshot(spec, "s3", client, bucket, prefix or None, date_in(name))
    root = Path(spec)
    if not root.is_dir():
        raise BadInput(f"--storage-snapshot {spec} is neither s3://bucket/prefix nor an existing folder")
    root = root.resolve()
    return Snapshot(str(root), "dir", DirectoryStore(root), str(root), None, date_in(root.name))
