"""Pegasus domain invariants.

``INVARIANTS``: SQL returning violating rows (empty = holds), built-ins only so they run on any restore.
``object_violations``: every key a row references exists in the bucket and matches the size/sha256
the row recorded (the row is the application's own manifest of its files).
"""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg

from ..definitions import invariants
from .dataset import full_key

# Declared in the system definition (drills/systems/pegasus.toml): one copy for checks, drills and users.
INVARIANTS: dict[str, tuple[str, str]] = invariants("pegasus")

# key, recorded size (NULL = not recorded), recorded sha256 (NULL = not recorded), what references it
_REFERENCED_FILES_SQL = """
SELECT audio_key, audio_bytes, audio_sha256, 'lectures.audio_key:' || id FROM public.lectures
UNION ALL SELECT transcript_key, NULL, NULL, 'lectures.transcript_key:' || id FROM public.lectures
    WHERE transcript_key IS NOT NULL
UNION ALL SELECT storage_key, size_bytes, sha256, 'artifacts.storage_key:' || id FROM public.artifacts
UNION ALL SELECT storage_key, size_bytes, sha256, 'exports.storage_key:' || id FROM public.exports
"""


def referenced_files(conn: psycopg.Connection) -> list[tuple[str, int | None, str | None, str]]:
    return [(r[0], r[1], r[2], r[3]) for r in conn.execute(_REFERENCED_FILES_SQL).fetchall()]


def object_violations(conn: psycopg.Connection, s3_client: Any, bucket: str, prefix: str, *,
                      verify_content: bool = True) -> list[dict[str, Any]]:
    """Referenced objects that are missing, or whose size/sha256 differ from what their row recorded."""
    base = full_key(prefix, "")
    listed: dict[str, int] = {}
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
        for obj in page.get("Contents", []):
            listed[obj["Key"][len(base):]] = int(obj["Size"])
    out: list[dict[str, Any]] = []
    for key, size, sha, ref in referenced_files(conn):
        if key not in listed:
            out.append({"key": key, "ref": ref, "problem": "missing"})
            continue
        if size is not None and listed[key] != size:
            out.append({"key": key, "ref": ref, "problem": f"size {listed[key]} != recorded {size}"})
            continue
        if verify_content and sha is not None:
            h = hashlib.sha256()
            for chunk in s3_client.get_object(Bucket=bucket, Key=full_key(prefix, key))["Body"].iter_chunks(1 << 20):
                h.update(chunk)
            if h.hexdigest() != sha:
                out.append({"key": key, "ref": ref, "problem": f"sha256 {h.hexdigest()[:12]}.. != recorded"})
    return out
