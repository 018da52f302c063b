"""The storage snapshot ``verify-backup`` compares a dump with: an ``s3://bucket/prefix`` or a folder.

Both are read as an ``ObjectStore`` (list, get; see restore_drill.objectstore), so the same
``checks.storage`` functions judge either. A folder is served by ``objectstore.DirectoryStore``, which only
ever opens files for reading: the snapshot is evidence and is never changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

from restore_drill.checks.retention import date_in
from restore_drill.fixtures.s3 import S3Endpoint
from restore_drill.objectstore import DirectoryStore, ObjectStore, S3Client

from ..errors import BadInput
from ..redact import redact_url


@dataclass
class Snapshot:
    """Where the snapshot is and how to read it. ``bucket``/``prefix`` are what the checks are given."""

    spec: str  # as the user wrote it (credentials never part of it)
    kind: str  # "s3" | "dir"
    client: S3Client | ObjectStore = field(repr=False)  # an ObjectStore for a folder
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
