"""Reading and deleting the objects a storage disaster damages."""

from __future__ import annotations

from typing import Any

from restore_drill.errors import HarnessFault
from restore_drill.objectstore import S3Client
from restore_drill.objectstore import list_objects as _listing


def list_objects(client: S3Client, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every object under ``prefix/`` (the whole bucket for ""), as {"key" (full), "size"} sorted by key."""
    return sorted(({"key": o.key, "size": o.size} for o in _listing(client, bucket, prefix)), key=lambda o: o["key"])


def delete_keys(client: S3Client, bucket: str, keys: list[str]) -> None:
    """DeleteObjects in batches of 1000 (the S3 API's limit); HarnessFault if any key is refused."""
    for i in range(0, len(keys), 1000):
        resp = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]],
                                                              "Quiet": True})
        if resp.get("Errors"):
            raise HarnessFault(f"delete failed for {len(resp['Errors'])} object(s), first {resp['Errors'][0]}")
