"""Pegasus domain invariants.

``INVARIANTS``: SQL returning violating rows (empty = holds), built-ins only so they run on any restore.
``object_violations``: every key a row references exists in the bucket and matches the size/sha256
the row recorded (the row is the application's own manifest of its files).
"""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg

from .dataset import full_key

INVARIANTS: dict[str, tuple[str, str]] = {
    "succeeded_export_has_file": (
        """SELECT j.id AS job_id, j.lecture_id FROM public.jobs j
           WHERE j.kind = 'export' AND j.status = 'succeeded'
             AND NOT EXISTS (SELECT 1 FROM public.exports e WHERE e.job_id = j.id)
           ORDER BY j.id""",
        "succeeded export job without an export row",
    ),
    "ready_lecture_transcribed": (
        """SELECT l.id AS lecture_id, l.transcript_key FROM public.lectures l
           WHERE l.status = 'ready' AND (l.transcript_key IS NULL OR NOT EXISTS (
               SELECT 1 FROM public.jobs j WHERE j.lecture_id = l.id AND j.kind = 'transcribe'
                 AND j.status = 'succeeded'))
           ORDER BY l.id""",
        "ready lecture without a transcript or without a succeeded transcribe job",
    ),
    "outputs_match_their_job": (
        """SELECT 'artifact' AS what, a.id, a.lecture_id, j.lecture_id AS job_lecture, j.kind::text AS job_kind
           FROM public.artifacts a JOIN public.jobs j ON j.id = a.job_id
           WHERE j.lecture_id <> a.lecture_id OR j.kind <> 'generate' OR j.status <> 'succeeded'
           UNION ALL
           SELECT 'export', e.id, e.lecture_id, j.lecture_id, j.kind::text
           FROM public.exports e JOIN public.jobs j ON j.id = e.job_id
           WHERE j.lecture_id <> e.lecture_id OR j.kind <> 'export' OR j.status <> 'succeeded'
           ORDER BY 1, 2""",
        "artifact/export produced by a job of another lecture, another kind, or one that did not succeed",
    ),
    "job_lifecycle": (
        """SELECT id AS job_id, status::text, queued_at, started_at, finished_at FROM public.jobs
           WHERE (status = 'queued' AND started_at IS NOT NULL)
              OR (status IN ('running', 'succeeded', 'failed') AND (started_at IS NULL OR worker_id IS NULL))
              OR started_at < queued_at OR finished_at < started_at
              OR ((status IN ('succeeded', 'failed', 'cancelled')) <> (finished_at IS NOT NULL))
           ORDER BY id""",
        "job timestamps/worker inconsistent with its status",
    ),
    "rows_reference_parents": (
        """SELECT 'lecture' AS what, l.id, l.course_id AS parent FROM public.lectures l
             WHERE NOT EXISTS (SELECT 1 FROM public.courses c WHERE c.id = l.course_id)
           UNION ALL SELECT 'job', j.id, j.lecture_id FROM public.jobs j
             WHERE NOT EXISTS (SELECT 1 FROM public.lectures l WHERE l.id = j.lecture_id)
           UNION ALL SELECT 'artifact', a.id, a.lecture_id FROM public.artifacts a
             WHERE NOT EXISTS (SELECT 1 FROM public.lectures l WHERE l.id = a.lecture_id)
           UNION ALL SELECT 'thread', t.id, t.lecture_id FROM public.threads t
             WHERE NOT EXISTS (SELECT 1 FROM public.lectures l WHERE l.id = t.lecture_id)
           UNION ALL SELECT 'export', e.id, e.lecture_id FROM public.exports e
             WHERE NOT EXISTS (SELECT 1 FROM public.lectures l WHERE l.id = e.lecture_id)
           ORDER BY 1, 2""",
        "row whose parent course/lecture does not exist",
    ),
}

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
