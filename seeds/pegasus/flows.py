"""Pegasus as its API/worker uses it after a restore: references, samples and the write smoke flow
("new ingest + generate + export" from the runbook's verification checklist)."""

from __future__ import annotations

import contextlib
import hashlib
import random
import uuid
from typing import Any

import psycopg
from psycopg import pq
from psycopg.types.json import Jsonb

from restore_drill.errors import ProcedureFailed
from restore_drill.objectstore import S3Client

from .. import wav
from . import documents as docs
from .dataset import full_key

REFERENCE_COLUMNS: dict[str, str] = {
    "public.lectures.audio_key": "lecture audio (WAV) uploaded by the client",
    "public.lectures.transcript_key": "lecture transcript (WebVTT); NULL until transcribed",
    "public.artifacts.storage_key": "generated artifact file (notes, summary, flashcards, quiz, chapters)",
    "public.exports.storage_key": "exported file (pdf, md, srt, json)",
}


def referenced_keys(conn: psycopg.Connection) -> set[str]:
    """Every object key (relative to the prefix) some row references."""
    parts = []
    for col in REFERENCE_COLUMNS:
        schema, table, column = col.split(".")
        parts.append(f'SELECT "{column}" FROM "{schema}"."{table}" WHERE "{column}" IS NOT NULL')
    return {r[0] for r in conn.execute(" UNION ".join(parts)).fetchall()}  # type: ignore[arg-type]


def sample_lecture_ids(conn: psycopg.Connection, n: int, seed: int) -> list[int]:
    """``n`` lecture ids chosen deterministically from ``seed``: ready lectures (those the runbook's
    integrity probe makes sense for) first, then others if there are not enough; sorted."""
    rows = conn.execute("SELECT id, status = 'ready' FROM public.lectures ORDER BY id").fetchall()
    ready = [r[0] for r in rows if r[1]]
    other = [r[0] for r in rows if not r[1]]
    rng = random.Random(f"sample:{seed}")
    picked = rng.sample(ready, min(n, len(ready)))
    if len(picked) < n:
        picked += rng.sample(other, min(n - len(picked), len(other)))
    return sorted(picked)


def _put(s3: S3Client, bucket: str, prefix: str, key: str, body: bytes, ctype: str) -> None:
    s3.put_object(Bucket=bucket, Key=full_key(prefix, key), Body=body, ContentType=ctype,
                  Metadata={"source": "restore-drill-smoke"})


def _claim(conn: psycopg.Connection, lecture_id: int, kind: str, worker: str) -> int:
    """Claim the next queued job of ``kind`` for the lecture, as the worker does."""
    with conn.transaction():
        row = conn.execute(
            "SELECT id FROM public.jobs WHERE status = 'queued' AND kind = %s AND lecture_id = %s "
            "ORDER BY priority, id LIMIT 1 FOR UPDATE SKIP LOCKED", (kind, lecture_id)).fetchone()
        if row is None:
            raise ProcedureFailed(f"write smoke: the worker found no queued {kind} job for lecture {lecture_id}")
        conn.execute("UPDATE public.jobs SET status = 'running', worker_id = %s, started_at = now(), "
                     "attempts = attempts + 1 WHERE id = %s", (worker, row[0]))
        return int(row[0])


def smoke_flow(conn: psycopg.Connection, s3_client: S3Client, bucket: str, prefix: str) -> dict[str, Any]:
    """Ingest a new lecture, enqueue and claim generate + export jobs, write an artifact and an export
    (rows and objects), mark the jobs succeeded, then read everything back. Raises on any failure."""
    tag = uuid.uuid4().hex[:8]
    info: dict[str, Any] = {"lecture_id": None, "job_ids": [], "artifact_id": None, "export_id": None, "keys": []}
    try:
        _flow(conn, s3_client, bucket, prefix, info, tag)
    except Exception as e:
        # Leave nothing behind, then report the first failure (the point of the smoke).
        with contextlib.suppress(Exception):
            if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                conn.rollback()
            smoke_cleanup(conn, s3_client, bucket, prefix, info)
        if isinstance(e, ProcedureFailed):
            raise
        first = str(e).splitlines()[0] if str(e) else ""
        raise ProcedureFailed(f"pegasus write smoke failed (lecture {info['lecture_id']}): "
                              f"{type(e).__name__}: {first}") from e
    return info


def _flow(conn: psycopg.Connection, s3_client: S3Client, bucket: str, prefix: str, info: dict[str, Any],
          tag: str) -> None:
    worker = f"restore-drill-smoke-{tag}"
    audio = wav.tone_wav(random.Random(tag), 500)
    with conn.transaction():
        course = conn.execute("SELECT id, slug FROM public.courses ORDER BY id LIMIT 1").fetchone()
        if course is None:
            course = conn.execute(
                "INSERT INTO public.courses (slug, title, owner_email) VALUES (%s, %s, %s) RETURNING id, slug",
                (f"smoke-{tag}", "Restore drill smoke", "smoke@example.invalid")).fetchone()
            info["course_id"] = course[0]  # type: ignore[index]
        assert course is not None
        audio_key = f"audio/{course[1]}/smoke-{tag}/Smoke lecture – probe.wav"
        _put(s3_client, bucket, prefix, audio_key, audio, "audio/wav")
        info["keys"].append(audio_key)
        lid = conn.execute(
            "INSERT INTO public.lectures (course_id, position, title, status, duration_ms, audio_key, "
            "audio_sha256, audio_bytes, transcript_key) VALUES (%s, (SELECT coalesce(max(position), 0) + 1 "
            "FROM public.lectures WHERE course_id = %s), %s, 'ready', %s, %s, %s, %s, %s) RETURNING id",
            (course[0], course[0], f"Smoke lecture {tag}", wav.duration_ms(audio), audio_key,
             hashlib.sha256(audio).hexdigest(), len(audio), f"transcripts/smoke-{tag}/transcript.en.vtt"),
        ).fetchone()[0]  # type: ignore[index]
        info["lecture_id"] = lid
        vtt = docs.webvtt(["Restore drill smoke transcript."], 500, "en")
        _put(s3_client, bucket, prefix, f"transcripts/smoke-{tag}/transcript.en.vtt", vtt, "text/vtt")
        info["keys"].append(f"transcripts/smoke-{tag}/transcript.en.vtt")
        for kind in ("transcribe", "generate", "export"):
            st = "succeeded" if kind == "transcribe" else "queued"
            jid = conn.execute(
                "INSERT INTO public.jobs (lecture_id, kind, status, params, worker_id, started_at, finished_at) "
                "VALUES (%s, %s, %s, %s, %s, CASE WHEN %s THEN now() END, CASE WHEN %s THEN now() END) "
                "RETURNING id", (lid, kind, st, Jsonb({"smoke": True}), worker if st == "succeeded" else None,
                                 st == "succeeded", st == "succeeded")).fetchone()[0]  # type: ignore[index]
            info["job_ids"].append(jid)
    gen_id = _claim(conn, lid, "generate", worker)
    body = docs.markdown(f"Smoke lecture {tag}", [("Summary", "Restore drill smoke artifact.")])
    akey = f"artifacts/smoke-{tag}/notes/notes.md"
    _put(s3_client, bucket, prefix, akey, body, "text/markdown; charset=utf-8")
    info["keys"].append(akey)
    with conn.transaction():
        info["artifact_id"] = conn.execute(
            "INSERT INTO public.artifacts (lecture_id, job_id, kind, storage_key, content_type, size_bytes, "
            "sha256) VALUES (%s, %s, 'notes', %s, 'text/markdown; charset=utf-8', %s, %s) RETURNING id",
            (lid, gen_id, akey, len(body), hashlib.sha256(body).hexdigest())).fetchone()[0]  # type: ignore[index]
        conn.execute("UPDATE public.jobs SET status = 'succeeded', finished_at = now() WHERE id = %s", (gen_id,))
    exp_id = _claim(conn, lid, "export", worker)
    pdf = docs.pdf(f"Smoke lecture {tag}", ["Restore drill smoke export."])
    ekey = f"exports/smoke-{tag}/Smoke lecture ({tag}).pdf"
    _put(s3_client, bucket, prefix, ekey, pdf, "application/pdf")
    info["keys"].append(ekey)
    with conn.transaction():
        info["export_id"] = conn.execute(
            "INSERT INTO public.exports (lecture_id, job_id, format, storage_key, content_type, size_bytes, "
            "sha256) VALUES (%s, %s, 'pdf', %s, 'application/pdf', %s, %s) RETURNING id",
            (lid, exp_id, ekey, len(pdf), hashlib.sha256(pdf).hexdigest())).fetchone()[0]  # type: ignore[index]
        conn.execute("UPDATE public.jobs SET status = 'succeeded', finished_at = now() WHERE id = %s", (exp_id,))
    # read back, as the API would serve it
    with conn.transaction():
        got = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'succeeded'), bool_and(updated_at >= queued_at) "
            "FROM public.jobs WHERE lecture_id = %s", (lid,)).fetchone()
    if got != (3, True):
        raise ProcedureFailed(f"write smoke: lecture {lid} jobs not all succeeded after the flow: {got}")
    for key, want in ((akey, body), (ekey, pdf)):
        have = s3_client.get_object(Bucket=bucket, Key=full_key(prefix, key))["Body"].read()
        if have != want:
            raise ProcedureFailed(f"write smoke: object {key!r} reads back different bytes")


def smoke_cleanup(conn: psycopg.Connection, s3_client: S3Client, bucket: str, prefix: str, info: dict[str, Any]) -> None:
    """Delete what ``smoke_flow`` wrote (rows cascade from the lecture; objects by key)."""
    with conn.transaction():
        if info.get("lecture_id") is not None:
            conn.execute("DELETE FROM public.lectures WHERE id = %s", (info["lecture_id"],))
        if info.get("course_id") is not None:
            conn.execute("DELETE FROM public.courses WHERE id = %s", (info["course_id"],))
    for key in info.get("keys", []):
        s3_client.delete_object(Bucket=bucket, Key=full_key(prefix, key))
