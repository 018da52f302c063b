"""Pegasus domain invariants.

``INVARIANTS``: SQL returning violating rows (empty = holds), built-ins only so they run on any restore.
``object_violations``: every key a row references exists in the bucket and matches the size/sha256
the row recorded (the row is the application's own manifest of its files).
"""

from __future__ import annotations

from typing import Any

import psycopg

from restore_drill.objectstore import S3Client, S3Store

from ..definitions import invariants

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


def object_violations(conn: psycopg.Connection, s3_client: S3Client, bucket: str, prefix: str, *,
                      verify_content: bool = True) -> list[dict[str, Any]]:
    """Referenced objects that are missing, or whose size/sha256 differ from what their row recorded."""
    store = S3Store(s3_client, bucket, prefix)
    listed = {o.key: o.size for o in store.list()}
    out: list[dict[str, Any]] = []
    for key, size, sha, ref in referenced_files(conn):
        if key not in listed:
            out.append({"key": key, "ref": ref, "problem": "missing"})
            continue
        if size is not None and listed[key] != size:
            out.append({"key": key, "ref": ref, "problem": f"size {listed[key]} != recorded {size}"})
            continue
        if verify_content and sha is not None:
            got = store.get(key).sha256()
            if got != sha:
                out.append({"key": key, "ref": ref, "problem": f"sha256 {got[:12]}.. != recorded"})
    return out
