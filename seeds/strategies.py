"""hypothesis strategies for edge-case datasets of both systems, for property drills
("for any generated dataset, backup then restore preserves the manifest").

Datasets satisfy each system's domain invariants and constraints, but push the data to the edges
restores get wrong: unicode (emoji, right-to-left, combining marks), empty strings, strings that look
like COPY/SQL syntax, very large JSONB (TOAST), NULLs where allowed, timestamps at the epoch and at
daylight-saving changes, object keys with spaces, unicode and URL-special characters, empty objects.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from ._pools import pools
from .arqonbus.fold import Fold
from .arqonbus.generate import ArqonbusDataset, projection_name
from .pegasus.dataset import ObjectSpec, PegasusDataset

# -- scalars ---------------------------------------------------------------------------------------

EDGE_STRINGS: tuple[str, ...] = (
    "", " ", "😀", "🚀 launch 👩‍💻", "مرحبا بالعالم", "שלום עולם", "\u200fRTL mark", "e\u0301 combining",
    "日本語のテキスト", "Ünïcödé", "tab\there", "line\nbreak", "back\\slash", "\\N", "NULL", "'; DROP TABLE x; --",
    '"quoted"', "%s %(x)s", "\u00a0nbsp", "\ufeffbom",
)
# PostgreSQL text cannot hold NUL; surrogates are not UTF-8.
_CHARS = st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00")
texts = st.one_of(st.sampled_from(EDGE_STRINGS), st.text(_CHARS, max_size=30))
nonempty_texts = texts.filter(lambda s: s != "")

EDGE_TIMES: tuple[datetime, ...] = (
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2025, 3, 30, 0, 59, 59, 999999, tzinfo=UTC),  # EU summer time starts at 01:00 UTC
    datetime(2025, 3, 30, 1, 0, tzinfo=UTC),
    datetime(2025, 10, 26, 0, 30, tzinfo=UTC),  # EU: 02:30 local happens twice
    datetime(2025, 10, 26, 1, 30, tzinfo=UTC),
    datetime(2025, 3, 9, 7, 0, tzinfo=UTC),  # US summer time starts
    datetime(2025, 11, 2, 6, 0, tzinfo=UTC),  # US summer time ends
    datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC),  # past the 32-bit time_t limit
)
timestamps = st.one_of(
    st.sampled_from(EDGE_TIMES),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53),
                         st.floats(allow_nan=False, allow_infinity=False), texts)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)


@st.composite
def big_texts(draw: st.DrawFn) -> str:
    """Text of 64 KB to ~1.2 MB from the realistic pools (TOAST, multi-page JSONB)."""
    size = draw(st.sampled_from([65_536, 300_000, 1_200_000]))
    return pools().big_text(random.Random(draw(st.integers(0, 2**32))), size)


# -- ArqonBus --------------------------------------------------------------------------------------

@st.composite
def _event_payload(draw: st.DrawFn, poisoned: bool, allow_big: bool) -> dict[str, Any]:
    payload: dict[str, Any] = draw(st.dictionaries(texts.filter(lambda k: k not in ("amount", "attrs")),
                                                   json_values, max_size=3))
    if poisoned:  # the projector rejects these: amount not a number, or attrs not an object
        if draw(st.booleans()):
            payload["amount"] = draw(st.one_of(texts, st.lists(st.integers(), max_size=2)))
        else:
            payload["attrs"] = draw(texts)
    else:
        if draw(st.booleans()):
            payload["amount"] = draw(st.integers(-(10**12), 10**12))
        if draw(st.booleans()):
            payload["attrs"] = draw(st.dictionaries(texts, json_values, max_size=3))
    if allow_big and draw(st.integers(0, 9)) == 0:
        payload["note"] = draw(big_texts())
    return payload


@st.composite
def arqonbus_datasets(draw: st.DrawFn, max_streams: int = 4, max_events: int = 6) -> ArqonbusDataset:
    """Streams of events (some poisoned into the DLQ) and their projections, folded exactly."""
    stream_ids = draw(st.lists(nonempty_texts, min_size=1, max_size=max_streams, unique=True))
    plan: list[tuple[str, int]] = []
    for sid in stream_ids:
        plan += [(sid, seq) for seq in range(1, draw(st.integers(1, max_events)) + 1)]
    order = draw(st.permutations(range(len(plan))))  # interleave streams in event_id order
    ds = ArqonbusDataset()
    times: dict[str, list[datetime]] = {sid: [] for sid in stream_ids}
    big_left = 1
    for event_id, idx in enumerate(sorted(range(len(plan)), key=lambda i: order[i]), 1):
        sid, seq = plan[idx]
        poisoned = draw(st.integers(0, 4)) == 0
        payload = draw(_event_payload(poisoned, big_left > 0))
        big_left -= "note" in payload
        etype = draw(nonempty_texts)
        occurred = draw(timestamps)
        recorded = draw(st.one_of(st.just(occurred), timestamps))
        meta = draw(st.dictionaries(texts, json_values, max_size=3))
        ds.events.append((event_id, sid, seq, etype, payload, meta, occurred, recorded))
        times[sid].append(recorded)
        if poisoned:
            first = draw(timestamps)
            last = first + timedelta(seconds=draw(st.integers(0, 10**6)))
            ds.dlq.append((len(ds.dlq) + 1, event_id, projection_name(sid), sid, seq, draw(texts),
                           draw(st.integers(1, 10)), payload, first, last))
    # The projector folds each stream in sequence order (not event_id order), skipping DLQ'd events.
    poisoned_ids = {d[1] for d in ds.dlq}
    folds = {sid: Fold() for sid in stream_ids}
    for ev in sorted(ds.events, key=lambda e: e[2]):
        if ev[0] not in poisoned_ids:
            folds[ev[1]].apply(ev[2], ev[3], ev[4])
    for pid, sid in enumerate(stream_ids, 1):
        ts = times[sid]
        ds.projections.append((pid, projection_name(sid), sid, folds[sid].state(), folds[sid].version,
                               min(ts), max(ts)))
    return ds


# -- Pegasus ---------------------------------------------------------------------------------------

# Characters that real uploads put in file names and that URL-encoding, shells and sync tools treat
# specially. "/" is excluded inside a segment (it nests folders); "." and ".." segments never occur.
KEY_SPECIALS = " +%#?&=~!'()[]@$,;:^`{}|<>*\"-_.éüß中文ש😀"
key_segments = st.one_of(
    st.sampled_from(["Lecture 01 – intro", "naïve café", "日本語 ノート", "ملاحظات", "a+b=c", "100% done",
                     "#1 ?query&x=y", "file (1)", "emoji 😀 🚀", "tilde~caret^", "back`tick"]),
    st.text(st.sampled_from("abcXYZ019" + KEY_SPECIALS), min_size=1, max_size=24),
).filter(lambda s: s.strip(".") != "" and len(s.encode()) <= 120)


@st.composite
def _object(draw: st.DrawFn, key: str, ctype: str, lecture_id: int) -> ObjectSpec:
    body = draw(st.one_of(st.just(b""), st.binary(max_size=2048)))
    meta = {"lecture-id": str(lecture_id)} if draw(st.booleans()) else {}
    return ObjectSpec(key, body, ctype, meta)


@st.composite
def pegasus_datasets(draw: st.DrawFn, max_courses: int = 2, max_lectures: int = 3) -> PegasusDataset:
    """Courses, lectures with audio (+ transcripts when ready), jobs, artifacts, threads and exports,
    consistent with the schema's constraints and Pegasus' invariants; every object referenced by a row."""
    ds = PegasusDataset()
    rows = ds.rows
    lid = jid = aid = tid = eid = 0
    for cid in range(1, draw(st.integers(1, max_courses)) + 1):
        created = draw(timestamps)
        rows["public.courses"].append((
            cid, f"c{cid}-{draw(st.from_regex(r'[a-z0-9-]{0,12}', fullmatch=True))}", draw(texts),
            draw(st.none() | texts), draw(texts), draw(st.sampled_from(["en", "ar", "ja", ""])),
            draw(st.dictionaries(texts, json_values, max_size=3)), draw(st.booleans()), created,
            draw(st.one_of(st.just(created), timestamps))))
        for pos in range(1, draw(st.integers(0, max_lectures)) + 1):
            lid += 1
            status = draw(st.sampled_from(["uploaded", "transcribing", "ready", "failed"]))
            audio = draw(_object(f"audio/{lid:03d}/{draw(key_segments)}/{draw(key_segments)}.wav", "audio/wav", lid))
            ds.add_object(audio)
            transcript = None
            if status == "ready" or draw(st.booleans()):
                transcript = draw(_object(f"transcripts/{lid:03d}/{draw(key_segments)}.vtt", "text/vtt", lid))
                ds.add_object(transcript)
            recorded = draw(st.none() | timestamps)
            t_created = draw(timestamps)
            record_sha = draw(st.booleans())
            rows["public.lectures"].append((
                lid, cid, pos, draw(texts), status, draw(texts), draw(st.none() | st.integers(0, 2**31 - 1)),
                audio.key, audio.sha256 if record_sha else None, len(audio.body) if record_sha else None,
                transcript.key if transcript else None, draw(st.dictionaries(texts, json_values, max_size=3)),
                recorded, t_created, t_created))
            # one transcribe job whose status follows the lecture's
            jid += 1
            jstatus = {"ready": "succeeded", "transcribing": "running", "uploaded": "queued", "failed": "failed"}
            js = jstatus[status]
            q = draw(timestamps)
            started = None if js == "queued" else q + timedelta(seconds=draw(st.integers(0, 3600)))
            finished = started + timedelta(seconds=draw(st.integers(0, 3600))) if js in ("succeeded", "failed") \
                and started else None
            rows["public.jobs"].append((
                jid, lid, "transcribe", js, draw(st.integers(-32768, 32767)), draw(st.integers(0, 5)),
                draw(st.dictionaries(texts, json_values, max_size=2)),
                draw(st.none() | json_values.map(lambda v: {"v": v})), draw(texts) if js == "failed" else None,
                None if started is None else draw(nonempty_texts), q, started, finished, finished or started or q))
            for _ in range(draw(st.integers(0, 2))):  # artifacts, each from its own succeeded generate job
                jid += 1
                aid += 1
                done = q + timedelta(seconds=draw(st.integers(0, 10**6)))
                rows["public.jobs"].append((jid, lid, "generate", "succeeded", 100, 1, {}, None, None, "w", q, q,
                                            done, done))
                kind = draw(st.sampled_from(["notes", "summary", "flashcards", "quiz", "chapters"]))
                o = ds.add_object(draw(_object(f"artifacts/{lid:03d}/{aid}/{draw(key_segments)}", "text/plain", lid)))
                rows["public.artifacts"].append((aid, lid, draw(st.sampled_from([jid, None])), kind, o.key,
                                                 o.content_type, len(o.body), o.sha256,
                                                 draw(st.dictionaries(texts, json_values, max_size=2)), done, done))
            for _ in range(draw(st.integers(0, 2))):
                tid += 1
                msgs = draw(st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]),
                                                            "content": texts | big_texts()}), max_size=3))
                at = draw(timestamps)
                rows["public.threads"].append((tid, lid, draw(texts), msgs, at, at))
            for _ in range(draw(st.integers(0, 1))):
                jid += 1
                eid += 1
                done = q + timedelta(seconds=draw(st.integers(0, 10**6)))
                rows["public.jobs"].append((jid, lid, "export", "succeeded", 100, 1, {}, None, None, "w", q, q,
                                            done, done))
                fmt = draw(st.sampled_from(["pdf", "md", "srt", "json"]))
                o = ds.add_object(draw(_object(f"exports/{lid:03d}/{eid}/{draw(key_segments)}.{fmt}",
                                               "application/octet-stream", lid)))
                rows["public.exports"].append((eid, lid, jid, fmt, o.key, o.content_type, len(o.body), o.sha256,
                                               done, done))
    return ds


def dataset_fingerprint(ds: ArqonbusDataset | PegasusDataset) -> str:
    """A stable digest of a dataset's content (for tests and reports)."""
    h = hashlib.sha256(repr(ds.__dict__ if isinstance(ds, ArqonbusDataset) else ds.rows).encode())
    if isinstance(ds, PegasusDataset):
        for o in ds.objects:
            h.update(o.key.encode() + b"\0" + o.body)
    return h.hexdigest()
