"""Reading and deleting the objects a storage disaster damages."""

from __future__ import annotations

import hashlib
from typing import Any

from restore_drill.errors import HarnessFault


def list_objects(client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every object under ``prefix/`` (the whole bucket for ""), as {"key", "size"} sorted by key."""
    base = prefix.strip("/") + "/" if prefix.strip("/") else ""
    out: list[dict[str, Any]] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
        out += [{"key": o["Key"], "size": int(o["Size"])} for o in page.get("Contents", [])]
    return sorted(out, key=lambda o: o["key"])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def delete_keys(client: Any, bucket: str, keys: list[str]) -> None:
    """DeleteObjects in batches of 1000 (the S3 API's limit); HarnessFault if any key is refused."""
    for i in range(0, len(keys), 1000):
        resp = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]],
                                                              "Quiet": True})
        if resp.get("Errors"):
            raise HarnessFault(f"delete failed for {len(resp['Errors'])} object(s), first {resp['Errors'][0]}")
