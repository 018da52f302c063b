"""Deterministic Pegasus data: courses, lectures with WAV audio and transcripts, the job queue's
history, generated artifacts, chat threads and exports, every file referenced by a row."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from restore_drill.errors import BadInput
from restore_drill.objectstore import S3Client

from .. import wav
from .._pools import Pools, pools
from ..summary import SeedSummary
from . import documents as docs
from .dataset import ObjectSpec, ObjectUploader, PegasusDataset, load_rows, require_empty

COURSES_PER_SCALE = 4
LECTURES_PER_COURSE = 6
LARGE_OBJECTS = 3
LARGE_OBJECT_BYTES = 8 * 1024 * 1024 + 1_234_567  # above the 8 MiB multipart threshold of boto3/aws-cli
# Spans the end of European (2025-10-26) and US (2025-11-02) daylight saving time.
BASE_TIME = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)

# (slug stem, title, language): realistic catalogue in several scripts, incl. right-to-left.
COURSE_CATALOGUE: tuple[tuple[str, str, str], ...] = (
    ("intro-physics", "Introduction to Physics", "en"),
    ("lineare-algebra", "Lineare Algebra für Ingénieurs", "de"),
    ("senkei-daisu", "線形代数入門", "ja"),
    ("arabic-poetry", "الشعر العربي الحديث", "ar"),
    ("histoire-moderne", "Histoire moderne de l’Europe", "fr"),
    ("machine-learning", "Machine Learning: Foundations & Practice", "en"),
    ("organic-chemistry", "Organic Chemistry II", "en"),
    ("macroeconomics", "Macroeconomics 😀 for Everyone", "en"),
)
_LANG_POOL = {"en": 0, "de": 1, "fr": 2, "ja": 3, "ar": 4}  # index of the locale block in the pools
_ARTIFACT_KINDS = (("notes", "md", "text/markdown; charset=utf-8"), ("summary", "md", "text/markdown; charset=utf-8"),
                   ("flashcards", "json", "application/json"), ("quiz", "json", "application/json"),
                   ("chapters", "json", "application/json"))
_EXPORT_TYPES = {"pdf": "application/pdf", "md": "text/markdown; charset=utf-8",
                 "srt": "application/x-subrip", "json": "application/json"}
_WORKERS = ("worker-a1f3", "worker-b772", "worker-c09e", "gpu-worker-01")


def _safe(title: str) -> str:
    """A title as one path segment: slashes would nest folders, control characters break tools."""
    return "".join(" " if c in "/\\" or ord(c) < 32 else c for c in title).strip()[:60] or "untitled"


@dataclass
class _Ids:
    job: int = 0
    artifact: int = 0
    thread: int = 0
    export: int = 0


class _Builder:
    """``sink``: each object goes there as it is made instead of into ``ds.objects`` (bounded memory), except
    the audio that ``large_objects`` replaces at the end (it stays in ``ds.objects`` until then)."""

    def __init__(self, seed: int, scale: int, large_objects: bool,
                 sink: Callable[[ObjectSpec], None] | None = None) -> None:
        self.sink = sink
        n_lectures = COURSES_PER_SCALE * scale * LECTURES_PER_COURSE
        self.replaced = set(_large_audio_rows(n_lectures)) if large_objects else set()
        self.rng = random.Random(f"pegasus:{seed}")
        self.p: Pools = pools()
        self.seed, self.scale, self.large_objects = seed, scale, large_objects
        self.ds = PegasusDataset()
        self.ids = _Ids()
        self.t0 = BASE_TIME + timedelta(minutes=seed % 1440)
        self.zero_byte_done = False

    # pooled text in the lecture's language
    def _sentences(self, lang: str, n: int) -> list[str]:
        block = _LANG_POOL.get(lang, 0) * 120
        return [self.p.sentences[block + int(self.rng.random() * 120)] for _ in range(n)]

    def _title(self, lang: str) -> str:
        return self.p.titles[_LANG_POOL.get(lang, 0) * 40 + int(self.rng.random() * 40)]

    def _at(self, base: datetime, max_minutes: float) -> datetime:
        # millisecond precision, like most application clocks
        return base + timedelta(milliseconds=int(self.rng.random() * max_minutes * 60_000))

    def _obj(self, key: str, body: bytes, ctype: str, lecture_id: int) -> ObjectSpec:
        o = ObjectSpec(key, body, ctype, {"lecture-id": str(lecture_id), "source": "pegasus-seed"})
        if self.sink is None or (ctype == "audio/wav" and lecture_id - 1 in self.replaced):
            return self.ds.add_object(o)
        self.sink(o)
        return o

    def build(self) -> PegasusDataset:
        rng = self.rng
        n_courses = COURSES_PER_SCALE * self.scale
        lecture_id = 0
        for c in range(1, n_courses + 1):
            stem, ctitle, lang = COURSE_CATALOGUE[(c - 1 + self.seed) % len(COURSE_CATALOGUE)]
            slug = f"{stem}-{c:03d}"
            created = self.t0 + timedelta(days=c % 7, minutes=int(rng.random() * 600))
            settings = {"visibility": rng.choice(["private", "unlisted", "public"]), "auto_transcribe": True,
                        "languages": [lang] + (["en"] if lang != "en" else []),
                        "retention_days": rng.choice([30, 90, 365])}
            desc = None if rng.random() < 0.15 else " ".join(self._sentences(lang, 3))
            self.ds.rows["public.courses"].append(
                (c, slug, ctitle, desc, self.p.pick(rng, self.p.emails), lang, settings, c % 11 == 0,
                 created, self._at(created, 60 * 24)))
            for pos in range(1, LECTURES_PER_COURSE + 1):
                lecture_id += 1
                self._lecture(lecture_id, c, slug, pos, lang, created + timedelta(days=7 * pos))
        if self.large_objects:
            self._large_audio()
        return self.ds

    def _lecture(self, lid: int, course_id: int, slug: str, pos: int, lang: str, created: datetime) -> None:
        rng = self.rng
        title = self._title(lang)
        k = rng.random()
        status = "ready" if k < 0.8 or lid == 1 else "transcribing" if k < 0.88 else "uploaded" if k < 0.94 \
            else "failed"
        duration = 400 + int(rng.random() * 1200)
        audio = wav.tone_wav(rng, duration)
        audio_obj = self._obj(f"audio/{slug}/{lid:05d}/Lecture {pos:02d} – {_safe(title)}.wav", audio,
                              "audio/wav", lid)
        lines = self._sentences(lang, 4 + int(rng.random() * 8))
        transcript_key = None
        if status == "ready":
            transcript_key = f"transcripts/{slug}/{lid:05d}/transcript.{lang}.vtt"
            self._obj(transcript_key, docs.webvtt(lines, duration, lang), "text/vtt; charset=utf-8", lid)
        recorded = created - timedelta(hours=2)
        uploaded = self._at(created, 30)
        meta = {"uploader": self.p.pick(rng, self.p.emails), "client": self.p.pick(rng, self.p.user_agents),
                "sample_rate": wav.SAMPLE_RATE, "channels": 1,
                "tags": [self.p.pick(rng, self.p.words) for _ in range(int(rng.random() * 4))]}
        self.ds.rows["public.lectures"].append(
            (lid, course_id, pos, title, status, lang, duration, audio_obj.key, audio_obj.sha256, len(audio),
             transcript_key, meta, recorded, uploaded, self._at(uploaded, 240)))
        # transcription job, as the queue left it
        tstatus = {"ready": "succeeded", "transcribing": "running", "uploaded": "queued", "failed": "failed"}[status]
        t_job = self._job(lid, "transcribe", tstatus, uploaded, {"model": "whisper-large-v3", "language": lang},
                          {"segments": len(lines), "words": sum(len(x.split()) for x in lines)})
        if status != "ready":
            return
        done = t_job[12]
        for _ in range(1 + int(rng.random() * 2)):
            g_ok = rng.random() < 0.9
            g_job = self._job(lid, "generate", "succeeded" if g_ok else "failed", done,
                              {"kinds": ["notes", "summary"], "model": "pegasus-gen-2"}, None)
            if g_ok:
                kinds = rng.sample(_ARTIFACT_KINDS, 1 + int(rng.random() * 3))
                if not self.zero_byte_done and _ARTIFACT_KINDS[4] not in kinds:
                    kinds.append(_ARTIFACT_KINDS[4])  # guarantees the one zero-byte object
                for kind, ext, ctype in kinds:
                    self._artifact(lid, g_job, kind, ext, ctype, title, lang, lines, duration)
        for _ in range(int(rng.random() * 4)):
            self._thread(lid, lang, done)
        for _ in range(int(rng.random() * 2.6)):
            fmt = rng.choice(list(_EXPORT_TYPES))
            e_status = rng.choices(["succeeded", "failed", "queued"], [0.8, 0.1, 0.1])[0]
            e_job = self._job(lid, "export", e_status, done, {"format": fmt}, None)
            if e_status == "succeeded":
                self._export(lid, e_job, fmt, slug, title, lines, duration)

    def _job(self, lid: int, kind: str, status: str, after: datetime, params: dict[str, Any],
             result: dict[str, Any] | None) -> tuple[Any, ...]:
        rng = self.rng
        self.ids.job += 1
        queued = self._at(after, 10)
        started = self._at(queued, 5) if status != "queued" else None
        finished = self._at(started, 20) if started is not None and status != "running" else None
        error = None
        if status == "failed":
            error = rng.choice(["CUDA out of memory (allocated 14.2 GiB)", "audio decode error: truncated RIFF chunk",
                                "upstream timeout after 600s", "rate limited by provider (429)"])
        row = (self.ids.job, lid, kind, status, rng.choice([50, 100, 100, 200]),
               0 if status == "queued" else 1 + (status == "failed") * int(rng.random() * 3), params,
               result if status == "succeeded" else None, error,
               self.p.pick(rng, _WORKERS) if started is not None else None,  # type: ignore[arg-type]
               queued, started, finished, finished or started or queued)
        self.ds.rows["public.jobs"].append(row)
        return row

    def _artifact(self, lid: int, job: tuple[Any, ...], kind: str, ext: str, ctype: str, title: str, lang: str,
                  lines: list[str], duration: int) -> None:
        rng = self.rng
        self.ids.artifact += 1
        aid = self.ids.artifact
        if kind == "chapters" and not self.zero_byte_done:
            body = b""  # a lecture too short for chapters: the worker writes an empty file
            self.zero_byte_done = True
        elif kind in ("notes", "summary"):
            body = docs.markdown(title, [(self._title(lang), " ".join(self._sentences(lang, 4)))
                                         for _ in range(2 + int(rng.random() * 3))])
        elif kind == "flashcards":
            body = docs.json_doc([{"front": self._title(lang), "back": s} for s in self._sentences(lang, 5)])
        elif kind == "quiz":
            body = docs.json_doc({"questions": [{"q": s, "choices": [self.p.pick(rng, self.p.words)
                                                                     for _ in range(4)], "answer": 0}
                                                for s in self._sentences(lang, 3)]})
        else:
            body = docs.json_doc([{"start_ms": a, "title": t[:40]} for a, _, t in docs.cues(lines, duration)])
        o = self._obj(f"artifacts/{lid:05d}/{kind}/{aid:06d}-{kind}.{ext}", body, ctype, lid)
        created = job[12]
        self.ds.rows["public.artifacts"].append(
            (aid, lid, job[0], kind, o.key, ctype, len(body), o.sha256,
             {"generator": "pegasus-gen-2", "tokens": 200 + int(rng.random() * 4000)}, created, created))

    def _thread(self, lid: int, lang: str, after: datetime) -> None:
        rng = self.rng
        self.ids.thread += 1
        at = self._at(after, 60 * 24 * 3)
        msgs = []
        first = None
        for i in range(2 + int(rng.random() * 6)):
            at = self._at(at, 3)
            msg: dict[str, Any] = {"role": "user" if i % 2 == 0 else "assistant",
                                   "content": " ".join(self._sentences(lang, 1 + int(rng.random() * 3))),
                                   "at": at.isoformat(timespec="milliseconds")}
            if i % 2:
                msg["citations"] = [{"t_ms": int(rng.random() * 600_000)}]
            msgs.append(msg)
            first = first or at
        self.ds.rows["public.threads"].append(
            (self.ids.thread, lid, "" if rng.random() < 0.1 else self._title(lang), msgs, first, at))

    def _export(self, lid: int, job: tuple[Any, ...], fmt: str, slug: str, title: str, lines: list[str],
                duration: int) -> None:
        self.ids.export += 1
        eid = self.ids.export
        body = {"pdf": lambda: docs.pdf(title, lines), "md": lambda: docs.markdown(title, [("Transcript", "\n".join(lines))]),
                "srt": lambda: docs.srt(lines, duration),
                "json": lambda: docs.json_doc({"title": title, "segments": lines})}[fmt]()
        o = self._obj(f"exports/{slug}/{lid:05d}/{_safe(title)} ({eid}).{fmt}", body, _EXPORT_TYPES[fmt], lid)
        self.ds.rows["public.exports"].append(
            (eid, lid, job[0], fmt, o.key, _EXPORT_TYPES[fmt], len(body), o.sha256, job[12], job[12]))

    def _large_audio(self) -> None:
        """Replace a few lectures' audio with long recordings above the multipart threshold."""
        lectures = self.ds.rows["public.lectures"]
        for n, idx in enumerate(_large_audio_rows(len(lectures))):
            row = list(lectures[idx])
            body = wav.noise_wav(self.rng, LARGE_OBJECT_BYTES + n * 524_287)
            old_key = row[7]
            self.ds.objects = [o for o in self.ds.objects if o.key != old_key]
            o = self._obj(old_key.replace("/Lecture ", "/Full recording – Lecture ", 1), body, "audio/wav", row[0])
            row[6], row[7], row[8], row[9] = wav.duration_ms(body), o.key, o.sha256, len(body)
            lectures[idx] = tuple(row)


def _large_audio_rows(n_lectures: int) -> list[int]:
    """Indexes of the lecture rows whose audio ``large_objects`` replaces."""
    return list(range(0, n_lectures, max(1, n_lectures // LARGE_OBJECTS)))[:LARGE_OBJECTS]


def build(seed: int = 1234, scale: int = 1, large_objects: bool = False) -> PegasusDataset:
    """The dataset for ``seed``/``scale`` without loading it (pure function)."""
    if scale < 1:
        raise BadInput(f"--scale must be >= 1, got {scale}")
    return _Builder(seed, scale, large_objects).build()


def seed(conn: psycopg.Connection, s3_client: S3Client, bucket: str, prefix: str, *, seed: int = 1234,
         scale: int = 1, large_objects: bool = False) -> SeedSummary:
    """Load Pegasus rows via COPY (schema must exist, tables empty) and PUT their objects under ``prefix``.

    Objects are PUT while the rows are generated (at most a few bodies in memory: dataset.ObjectUploader),
    so the tables are checked empty first: a reseed still fails (BadInput) before any object is written."""
    if scale < 1:
        raise BadInput(f"--scale must be >= 1, got {scale}")
    t0 = time.monotonic()
    require_empty(conn)
    uploader = ObjectUploader(s3_client, bucket, prefix)
    try:
        ds = _Builder(seed, scale, large_objects, sink=uploader.put).build()
        for o in ds.objects:  # the large recordings, known only at the end
            uploader.put(o)
    except BaseException:
        uploader.abort()
        raise
    nbytes = uploader.close()
    rows = load_rows(conn, ds)
    return SeedSummary("pegasus", seed, scale, rows=rows, objects=uploader.objects, bytes=nbytes,
                       duration_s=time.monotonic() - t0)
