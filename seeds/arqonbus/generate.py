"""Deterministic projector data: interleaved event streams, their folded projections, a poisoned DLQ.

Generated ``CHUNK_EVENTS`` events at a time with NumPy (issue 19): every random draw of a chunk is one
array; stream choice, per-stream sequence numbers and the fold are array operations; a chunk's binary COPY
tuples are one ``bytes.join`` over a (events x pieces) matrix of pre-encoded UTF-8 pieces and fixed-width
binary parts packed as arrays, so no per-row Python string is built (mixing ASCII with CJK text in str
would also widen every chunk to 2-4 bytes a character). Memory
is the chunk plus a few integers per stream (the fold's state as arrays); dead-letter rows go to a temporary
file as COPY text while the events stream, so nothing grows with the number of events.

Same seed, same bytes: the draws come from one PCG64 stream keyed by the seed, taken in a fixed order per
fixed-size chunk (NumPy is pinned in constraints.txt: ``Generator`` streams may change between releases,
NEP 19 https://numpy.org/neps/nep-0019-rng-policy.html).
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import psycopg

from restore_drill.errors import BadInput

from .._copy import bulk_load, copy_binary, copy_rows, copy_text, esc, reset_identity
from .._pools import pools
from ..summary import SeedSummary
from .schema import DLQ, EVENTS, PROJECTION, PROJECTOR_TABLES

EVENT_COLUMNS = ("event_id", "stream_id", "sequence", "event_type", "payload", "metadata",
                 "occurred_at", "recorded_at")
DLQ_COLUMNS = ("dlq_id", "event_id", "projection_name", "stream_id", "sequence", "error", "attempts",
               "payload", "first_failed_at", "last_failed_at")
PROJECTION_COLUMNS = ("projection_id", "projection_name", "stream_id", "state", "version",
                      "created_at", "updated_at")

CATEGORIES = ("account", "wallet", "subscription")
STREAMS_PER_SCALE = 40
EVENTS_PER_SCALE = 1600
POISON_RATE = 0.02
LARGE_EVERY = 2000  # one large payload (32-160 KB) per this many events, at least 3 per seed
BASE_TIME = datetime(2026, 1, 5, tzinfo=UTC)
CHUNK_EVENTS = 2048  # events per chunk, part of the data's definition (draws are per chunk); 8,192 cost +20 MB peak RSS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_TIERS = ("free", "plus", "pro", "enterprise")
_CHANNELS = ("web", "ios", "android", "api", "partner")
_PRODUCERS = ("arqonbus-gateway/2.14.1", "arqonbus-gateway/2.15.0", "billing-bridge/0.9.3")
# Event kinds; the event type is "<category>.<kind>" (a large note is an "annotated" event).
_OPENED, _CREDITED, _DEBITED, _UPDATED, _ANNOTATED, _LARGE = range(6)
_KIND_NAMES = ("opened", "credited", "debited", "updated", "annotated", "annotated")
_ETYPES = [f"{c}.{k}" for c in CATEGORIES for k in _KIND_NAMES]  # index: category * 6 + kind
# Uniform draws per event, one row each of a (_U, chunk) array; the order is part of the data's definition.
(_U_DT, _U_HOT, _U_PICK, _U_POISON, _U_KIND, _U_AMOUNT, _U_REF, _U_TEXT, _U_TIER, _U_OWNER, _U_WORD,
 _U_PRODUCER, _U_IP, _U_RECORDED, _U_CHANNEL, _U_EMAIL, _U_COUNTRY, _U_CITY, _U_ATTEMPTS, _U_SIZE) = range(20)
_U = 20
# An event's binary COPY tuple as 13 pieces: fixed-width binary parts built as arrays, the rest pooled.
# Binary, not text: the server skips the text parsing of two timestamps and two integers a row and the
# escape scan of every byte (13-15% less backend CPU, measured side by side in bench/figures.py); jsonb goes
# as version 1 + JSON text either way (https://www.postgresql.org/docs/current/sql-copy.html "Binary
# Format"; jsonb_recv). Each fixed part ends in a byte that is never NUL (it carries the first byte of the
# text after it; the timestamps come first in BINARY_COLUMNS for that), so it converts to ``bytes`` through
# a cheap ``S`` cast, which drops trailing NULs:
# [field count, occurred_at, recorded_at, event_id, stream_id length, stream_id[0]] stream_id[1:]
# [sequence, event_type length, event_type[0]] event_type[1:] [payload length, jsonb version 1]
# 5 payload slots (unused ones b"") [metadata length, version 1, JSON up to the producer] producer ip
BINARY_COLUMNS = ("occurred_at", "recorded_at", "event_id", "stream_id", "sequence", "event_type", "payload",
                  "metadata")
_W = 13
_PAYLOAD, _SLOTS = 5, 5
_HEAD = np.dtype([("fields", ">i2"), ("occ_len", ">i4"), ("occ", ">i8"), ("rec_len", ">i4"), ("rec", ">i8"),
                  ("id_len", ">i4"), ("id", ">i8"), ("sid_len", ">i4"), ("sid0", "u1")])
_SEQ = np.dtype([("seq_len", ">i4"), ("seq", ">i8"), ("type_len", ">i4"), ("type0", "u1")])
_JSONB = np.dtype([("len", ">i4"), ("version", "u1")])
_PG_EPOCH_MS = 946_684_800_000  # 2000-01-01 UTC, PostgreSQL's timestamp epoch, in Unix milliseconds


def projection_name(stream_id: str) -> str:
    return stream_id.split("-", 1)[0] + "_summary"


def _objects(items: Any) -> npt.NDArray[np.object_]:
    """A 1-D object array of ``items`` (bytes), for vectorised take."""
    items = list(items)
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _enc(strings: Any) -> npt.NDArray[np.object_]:
    return _objects(x.encode() for x in strings)


def _iso(ms: npt.NDArray[np.int64]) -> list[str]:
    """Epoch milliseconds -> ``2026-01-05T00:00:01.234+00:00`` (explicit UTC offset: the session's TimeZone
    never matters)."""
    return [s + "+00:00" for s in np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms").tolist()]


def _int_text(x: npt.NDArray[np.int64], prefix: bytes = b"", suffix: bytes = b"") -> npt.NDArray[np.object_]:
    """Integers -> ``prefix + decimal text + suffix`` as bytes objects (bytes %-formatting in a C loop: as fast
    as array arithmetic on digit matrices for the few hundred values a chunk has per kind, and simpler)."""
    fmt = prefix.replace(b"%", b"%%") + b"%d" + suffix.replace(b"%", b"%%")
    return _objects(map(fmt.__mod__, x.tolist()))


def _packed(rec: npt.NDArray[Any]) -> npt.NDArray[np.object_]:
    """Each record of a packed structured array (or row of a uint8 matrix) -> its bytes; the last byte of a
    record must not be NUL (the ``S`` cast drops trailing NULs)."""
    w = rec.dtype.itemsize if rec.dtype.names else rec.shape[1]
    return np.ascontiguousarray(rec).view(f"S{w}").ravel().astype(object)


def _lengths(values: npt.NDArray[np.object_]) -> npt.NDArray[np.int64]:
    return np.fromiter(map(len, values.ravel().tolist()), np.int64, count=values.size).reshape(values.shape)


def _raw_json(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def _pool(values: npt.NDArray[np.object_], prefix: bytes = b"", suffix: bytes = b"") -> npt.NDArray[np.object_]:
    """A pool whose every value carries the constant text around it in the line (fewer pieces to join)."""
    return _objects(prefix + v + suffix for v in values)


def _pick(u: npt.NDArray[np.float64], n: int) -> npt.NDArray[np.int64]:
    """Uniform draws in [0, 1) -> indexes in [0, n)."""
    return (u * n).astype(np.int64)


def _last_per_stream(streams: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(distinct streams, position of each one's last occurrence in ``streams``)."""
    uniq, first_in_rev = np.unique(streams[::-1], return_index=True)
    return uniq, len(streams) - 1 - first_in_rev


class EventGenerator:
    """Generates ``n_events`` events over ``n_streams`` streams as binary COPY tuples (:meth:`event_chunks`),
    then the dead-letter rows (:meth:`dlq_chunks`) and projections (:meth:`projection_chunks`, both COPY
    text) those events imply.

    The events must be consumed first (the DLQ and the fold fill as they stream; the others raise
    RuntimeError before that). Row counts: ``n_events``, ``dlq_count``, ``n_streams``. ``close()`` (or use
    as a context manager) removes the DLQ's temporary file. Raises BadInput unless
    ``n_events >= n_streams >= 1``."""

    def __init__(self, seed: int, n_streams: int, n_events: int) -> None:
        if n_streams < 1 or n_events < n_streams:
            raise BadInput(f"need n_events >= n_streams >= 1, got {n_events} events, {n_streams} streams")
        self.seed = seed
        key = int.from_bytes(hashlib.sha256(f"arqonbus:{seed}".encode()).digest()[:16], "big")
        self.rng = np.random.Generator(np.random.PCG64(key))
        self.n_streams = n_streams
        self.n_events = n_events
        self.dlq_count = 0
        self._done = False
        self._dlq: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        p = pools()
        # Pre-encode every pooled string once: JSON text, UTF-8 (raw for binary COPY; the projections' text
        # COPY escapes its own copies).
        # Owner names pair first and last names of the same locale (pools hold 60 of each per locale).
        owners = [f"{p.first_names[i % len(p.first_names)]} "
                  f"{p.last_names[(i % len(p.first_names)) // 60 * 60 + (i * 7) % 60]}" for i in range(600)]
        self.j_owner = _enc(_raw_json(o) for o in owners)
        self.j_email = _enc(_raw_json(e) for e in p.emails)
        self.j_country = _enc(_raw_json(c) for c in p.countries)
        self.j_city = _enc(_raw_json(c) for c in p.cities)
        self.j_sentence = _enc(_raw_json(s) for s in p.sentences)
        self.j_company = _enc(_raw_json(c) for c in p.companies)
        self.j_word = _enc(_raw_json(w) for w in p.words)
        self.j_ip = _enc(_raw_json(i) for i in p.ipv4)
        self.c_owner, self.c_email, self.c_country, self.c_city = (
            _enc(esc(v.decode()) for v in pool) for pool in (self.j_owner, self.j_email, self.j_country, self.j_city))
        self.tiers = _enc(_TIERS)
        self.channels = _enc(_CHANNELS)
        self.producers = _enc(_PRODUCERS)
        self.etypes = _enc(_ETYPES)
        self.etype_len = _lengths(self.etypes)
        self.etype_first = np.array([e[0] for e in self.etypes.tolist()], np.uint8)
        self.etype_rest = _objects(e[1:] for e in self.etypes.tolist())
        self.j_paragraphs = [_raw_json(x)[1:-1].encode() for x in p.paragraphs]  # without the quotes, to join
        self.paragraph_sizes = [len(x.encode()) + 2 for x in p.paragraphs]
        self.stream_ids = _enc(f"{CATEGORIES[k % 3]}-{k + 1:06d}" for k in range(n_streams))
        self.stream_id_len = _lengths(self.stream_ids)
        self.stream_id_first = np.array([x[0] for x in self.stream_ids.tolist()], np.uint8)
        self.stream_id_rest = _objects(x[1:] for x in self.stream_ids.tolist())
        # Pools with the tuple's constant text around them (see _W).
        self.meta_producer = _pool(self.producers, suffix=b'","ip":')
        self.meta_ip = _pool(self.j_ip, suffix=b"}")
        self.meta_len = _lengths(self.meta_producer)[:, None] + _lengths(self.meta_ip)[None, :]
        self.open_owner = _pool(self.j_owner, b'{"attrs":{"owner":', b',"email":')
        self.open_email = _pool(self.j_email, suffix=b',"country":')
        self.open_country = _pool(self.j_country, suffix=b',"tier":"free","city":')
        self.open_city = _pool(self.j_city, suffix=b'},"channel":"')
        self.open_channel = _pool(self.channels, suffix=b'"}')
        self.memo = _pool(self.j_sentence, suffix=b"}")
        self.merchant = _pool(self.j_company, suffix=b"}")
        self.update_tier = _pool(self.tiers, b'{"attrs":{"tier":"', b'","city":')
        self.update_city = _pool(self.j_city, suffix=b'},"reason":')
        self.bad_tier = _pool(self.tiers, b'{"attrs":"tier=', b'","reason":')
        self.note = _pool(self.j_sentence, b'{"note":', b',"author":')
        self.author = _pool(self.j_owner, suffix=b',"tags":[')
        self.tag = _pool(self.j_word, suffix=b"]}")
        self.large_author = _pool(self.j_owner, b',"author":', b',"tags":[')
        self.large_tag = _pool(self.j_word, suffix=b'],"attachment":true}')
        self.base_ms = int((BASE_TIME - _EPOCH).total_seconds() * 1000) + (seed % 10_000) * 60_000
        # The fold of every stream, as arrays (a few integers per stream, whatever the number of events).
        z = lambda: np.zeros(n_streams, np.int64)  # noqa: E731
        self.sequence, self.applied, self.balance, self.version, self.last_etype = z(), z(), z(), z(), z()
        self.created_ms, self.updated_ms = z(), z()
        self.attr_owner, self.attr_email, self.attr_country, self.attr_tier, self.attr_city = z(), z(), z(), z(), z()

    def __enter__(self) -> EventGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the dead-letter rows' temporary file."""
        self._dlq.close()

    # -- events --------------------------------------------------------------------------------
    def event_chunks(self) -> Iterator[bytes]:
        """Binary COPY tuples (BINARY_COLUMNS) of all events, up to CHUNK_EVENTS per bytes object, without the
        format's header and trailer (seeds._copy.copy_binary adds them)."""
        if self._done:
            raise RuntimeError("event_chunks() runs once per generator")
        t_ms = self.base_ms
        for start in range(0, self.n_events, CHUNK_EVENTS):
            text, t_ms = self._chunk(start, min(CHUNK_EVENTS, self.n_events - start), t_ms)
            yield text
        self._done = True

    def _chunk(self, start: int, m: int, t_prev: int) -> tuple[bytes, int]:
        rng, n_streams, n_events = self.rng, self.n_streams, self.n_events
        u = rng.random((_U, m))
        corr = np.frombuffer(rng.bytes(16 * m).hex().encode(), np.uint8).reshape(m, 32)
        i = np.arange(start, start + m, dtype=np.int64)
        # Time: 1-4000 ms between events; recorded 5-904 ms after occurring.
        t_ms = t_prev + np.cumsum(1 + _pick(u[_U_DT], 4000))
        rec_ms = t_ms + 5 + _pick(u[_U_RECORDED], 900)
        # Streams: stream k opens at event k * open_every (all in the first half); any other event goes to
        # one of the open streams, 30% of the time to one of the first tenth (the hot streams).
        open_every = max(1, n_events // (2 * n_streams))
        opened = (i % open_every == 0) & (i // open_every < n_streams)
        avail = np.minimum(n_streams, i // open_every + 1)
        hot = np.minimum(max(1, n_streams // 10), avail)
        s = np.where(opened, i // open_every,
                     (u[_U_PICK] * np.where(u[_U_HOT] < 0.3, hot, avail)).astype(np.int64))
        # Sequence numbers: the stream's count so far + the event's rank among its stream's in this chunk.
        order = np.argsort(s, kind="stable")
        ss = s[order]
        rank = np.empty(m, np.int64)
        rank[order] = np.arange(m) - np.searchsorted(ss, ss, side="left")
        seq = self.sequence[s] + rank + 1
        self.sequence += np.bincount(s, minlength=n_streams)
        # Kinds: opened first; the large notes at fixed positions; otherwise 45/30/15/10% credited/debited/
        # updated/annotated. 2% of the credited/debited/updated events after the first are poisoned.
        large = ((i % LARGE_EVERY == LARGE_EVERY // 2) | (i == n_events // 4) | (i == n_events // 2)
                 | (i == (3 * n_events) // 4))
        k = u[_U_KIND]
        kind = np.where(k < 0.45, _CREDITED, np.where(k < 0.75, _DEBITED, np.where(k < 0.9, _UPDATED, _ANNOTATED)))
        kind = np.where(opened, _OPENED, np.where(large, _LARGE, kind))
        poisoned = (seq > 1) & (u[_U_POISON] < POISON_RATE) & (kind >= _CREDITED) & (kind <= _UPDATED)
        amount = np.where(kind == _CREDITED, 100 + _pick(u[_U_AMOUNT], 50_000),
                          np.where(kind == _DEBITED, -(50 + _pick(u[_U_AMOUNT], 20_000)), 0))
        etype_code = (s % 3) * 6 + kind

        rows = np.empty((m, _W), dtype=object)
        head = np.empty(m, _HEAD)
        head["fields"], head["occ_len"], head["rec_len"], head["id_len"] = len(BINARY_COLUMNS), 8, 8, 8
        head["occ"], head["rec"] = (t_ms - _PG_EPOCH_MS) * 1000, (rec_ms - _PG_EPOCH_MS) * 1000  # microseconds
        head["id"], head["sid_len"], head["sid0"] = i + 1, self.stream_id_len[s], self.stream_id_first[s]
        rows[:, 0] = _packed(head)
        rows[:, 1] = self.stream_id_rest[s]
        sq = np.empty(m, _SEQ)
        sq["seq_len"], sq["seq"] = 8, seq
        sq["type_len"], sq["type0"] = self.etype_len[etype_code], self.etype_first[etype_code]
        rows[:, 2] = _packed(sq)
        rows[:, 3] = self.etype_rest[etype_code]
        rows[:, _PAYLOAD:_PAYLOAD + _SLOTS] = b""
        tier = _pick(u[_U_TIER], len(_TIERS))
        self._payloads(rows, i, kind, poisoned, amount, tier, u)
        jb = np.empty(m, _JSONB)
        jb["len"], jb["version"] = 1 + _lengths(rows[:, _PAYLOAD:_PAYLOAD + _SLOTS]).sum(axis=1), 1
        rows[:, _PAYLOAD - 1] = _packed(jb)
        # Metadata: a correlation UUID (random 128 bits, as 8-4-4-4-12 hex), producer, client IP.
        producer, ip = _pick(u[_U_PRODUCER], 3), _pick(u[_U_IP], len(self.j_ip))
        pre, post = b'{"correlation_id":"', b'","producer":"'
        corr_piece = np.empty((m, 5 + len(pre) + 36 + len(post)), np.uint8)
        jb["len"] = 1 + len(pre) + 36 + len(post) + self.meta_len[producer, ip]
        corr_piece[:, :5] = jb.view(np.uint8).reshape(m, 5)
        corr_piece[:, 5:5 + len(pre)] = np.frombuffer(pre, np.uint8)
        corr_piece[:, 5 + len(pre) + 36:] = np.frombuffer(post, np.uint8)
        at = 5 + len(pre)
        for a, b, c in ((0, 8, 0), (8, 9, -1), (9, 13, 8), (13, 14, -1), (14, 18, 12), (18, 19, -1),
                        (19, 23, 16), (23, 24, -1), (24, 36, 20)):
            corr_piece[:, at + a:at + b] = ord("-") if c < 0 else corr[:, c:c + b - a]
        rows[:, 10] = _packed(corr_piece)
        rows[:, 11] = self.meta_producer[producer]
        rows[:, 12] = self.meta_ip[ip]
        self._fold(s, seq, kind, poisoned, amount, etype_code, t_ms, rec_ms, u)
        if poisoned.any():
            self._dead_letters(np.flatnonzero(poisoned), rows, i, s, seq, kind, amount, tier, rec_ms, u)
        return b"".join(rows.ravel().tolist()), int(t_ms[-1])

    def _payloads(self, rows: npt.NDArray[np.object_], i: npt.NDArray[np.int64], kind: npt.NDArray[np.int64],
                  poisoned: npt.NDArray[np.bool_], amount: npt.NDArray[np.int64], tier: npt.NDArray[np.int64],
                  u: npt.NDArray[np.float64]) -> None:
        """Fill the payload slots of ``rows``: JSON text (COPY-escaped) of each event's payload; poisoned ones
        carry the wrong JSON type (an amount as a string, attrs as a string)."""
        sentence = _pick(u[_U_TEXT], len(self.j_sentence))
        owner = _pick(u[_U_OWNER], len(self.j_owner))
        word = _pick(u[_U_WORD], len(self.j_word))
        city = _pick(u[_U_CITY], len(self.j_city))

        def put(sel: npt.NDArray[np.bool_], *pieces: Any) -> npt.NDArray[np.int64]:
            x = np.flatnonzero(sel)
            if len(x):
                for slot, piece in enumerate(pieces):
                    rows[x, _PAYLOAD + slot] = piece(x)
            return x

        for kd, pre, post in ((_CREDITED, b'{"amount":', b',"currency":"EUR","reference":"REF-'),
                              (_DEBITED, b'{"amount":', b',"currency":"EUR","merchant":')):
            x = put(kind == kd, lambda x, pre=pre, post=post: _int_text(amount[x], pre, post))
            for j in x[poisoned[x]].tolist():  # 2%: the amount as a JSON string (the DLQ's error quotes it)
                a = int(amount[j])
                shown = f"{a // 100},{a % 100:02d}" if kd == _CREDITED else str(a)
                rows[j, _PAYLOAD] = pre + f'"{shown}"'.encode() + post
        ref_tail = b'","memo":'
        put(kind == _CREDITED, lambda x: rows[x, _PAYLOAD],
            lambda x: _int_text(_pick(u[_U_REF][x], 100_000_000) + 100_000_000, suffix=ref_tail).astype("S")
            .view(np.uint8).reshape(len(x), -1)[:, 1:].copy().view(f"S{8 + len(ref_tail)}").ravel().astype(object),
            lambda x: self.memo[sentence[x]])
        put(kind == _DEBITED, lambda x: rows[x, _PAYLOAD],
            lambda x: self.merchant[_pick(u[_U_TEXT][x], len(self.j_company))])
        put(kind == _OPENED, lambda x: self.open_owner[owner[x]],
            lambda x: self.open_email[_pick(u[_U_EMAIL][x], len(self.j_email))],
            lambda x: self.open_country[_pick(u[_U_COUNTRY][x], len(self.j_country))],
            lambda x: self.open_city[city[x]],
            lambda x: self.open_channel[_pick(u[_U_CHANNEL][x], len(_CHANNELS))])
        put((kind == _UPDATED) & ~poisoned, lambda x: self.update_tier[tier[x]],
            lambda x: self.update_city[city[x]], lambda x: self.memo[sentence[x]])
        put((kind == _UPDATED) & poisoned, lambda x: self.bad_tier[tier[x]], lambda x: self.memo[sentence[x]])
        put(kind == _ANNOTATED, lambda x: self.note[sentence[x]], lambda x: self.author[owner[x]],
            lambda x: self.tag[word[x]])
        put(kind == _LARGE, lambda x: np.full(len(x), b'{"note":', dtype=object),
            lambda x: _objects(self._big_note(int(ev), 32_768 + int(sz)) for ev, sz in
                               zip(i[x].tolist(), _pick(u[_U_SIZE][x], 131_072).tolist(), strict=True)),
            lambda x: self.large_author[owner[x]], lambda x: self.large_tag[word[x]])

    def _big_note(self, event_index: int, n_bytes: int) -> bytes:
        """A JSON string of paragraphs (~n_bytes), assembled from pre-escaped paragraphs; its own RNG keyed
        by seed and event, so the number of draws it takes never shifts the chunk's."""
        paras, sizes = self.j_paragraphs, self.paragraph_sizes
        r = random.Random(f"arqonbus-note:{self.seed}:{event_index}").random
        out: list[bytes] = []
        size = 0
        while size < n_bytes:
            k = int(r() * len(paras))
            out.append(paras[k])
            size += sizes[k]
        return b'"' + b"\\n\\n".join(out) + b'"'  # JSON "\n\n" between paragraphs

    def _fold(self, s: npt.NDArray[np.int64], seq: npt.NDArray[np.int64], kind: npt.NDArray[np.int64],
              poisoned: npt.NDArray[np.bool_], amount: npt.NDArray[np.int64], etype_code: npt.NDArray[np.int64],
              t_ms: npt.NDArray[np.int64], rec_ms: npt.NDArray[np.int64], u: npt.NDArray[np.float64]) -> None:
        """Apply the chunk's events to the per-stream fold (seeds.arqonbus.fold's rules, as array updates):
        every event the DLQ does not hold is applied; attrs merge last-write-wins (opened, then updates)."""
        ok = ~poisoned
        sa = s[ok]
        self.applied += np.bincount(sa, minlength=self.n_streams)
        np.add.at(self.balance, sa, amount[ok])
        streams, last = _last_per_stream(sa)
        pos = np.flatnonzero(ok)[last]
        self.version[streams] = seq[pos]
        self.last_etype[streams] = etype_code[pos]
        self.updated_ms[streams] = rec_ms[pos]
        op = np.flatnonzero(kind == _OPENED)  # each stream opens once, before any other event of its own
        so = s[op]
        self.created_ms[so] = t_ms[op]
        self.attr_owner[so] = _pick(u[_U_OWNER][op], len(self.j_owner))
        self.attr_email[so] = _pick(u[_U_EMAIL][op], len(self.j_email))
        self.attr_country[so] = _pick(u[_U_COUNTRY][op], len(self.j_country))
        self.attr_city[so] = _pick(u[_U_CITY][op], len(self.j_city))
        self.attr_tier[so] = 0  # "free"
        up = np.flatnonzero((kind == _UPDATED) & ok)
        if len(up):
            streams, last = _last_per_stream(s[up])
            self.attr_tier[streams] = _pick(u[_U_TIER][up[last]], len(_TIERS))
            self.attr_city[streams] = _pick(u[_U_CITY][up[last]], len(self.j_city))

    def _dead_letters(self, idx: npt.NDArray[np.int64], rows: npt.NDArray[np.object_], i: npt.NDArray[np.int64],
                      s: npt.NDArray[np.int64], seq: npt.NDArray[np.int64], kind: npt.NDArray[np.int64],
                      amount: npt.NDArray[np.int64], tier: npt.NDArray[np.int64], rec_ms: npt.NDArray[np.int64],
                      u: npt.NDArray[np.float64]) -> None:
        """Append the poisoned events' DLQ rows (COPY text) to the temporary file: the payload exactly as the
        event holds it, the projector's error, 1-5 attempts with exponential back-off (30 s, 60 s, ...)."""
        attempts = 1 + _pick(u[_U_ATTEMPTS][idx], 5)
        first = rec_ms[idx] + 250
        last = first + 30_000 * (2 ** attempts - 1)
        lines = []
        for j, ev, st, q, kd, a, att, f, la in zip(idx.tolist(), (i[idx] + 1).tolist(), s[idx].tolist(),
                                                   seq[idx].tolist(), kind[idx].tolist(), amount[idx].tolist(),
                                                   attempts.tolist(), _iso(first), _iso(last), strict=True):
            if kd == _UPDATED:
                error = f"payload.attrs: expected object, got string 'tier={_TIERS[tier[j]]}'"
            else:
                shown = f"{a // 100},{a % 100:02d}" if kd == _CREDITED else str(a)
                error = f'payload.amount: expected integer minor units, got string "{shown}"'
            self.dlq_count += 1
            sid = self.stream_ids[st].decode()
            lines.append(f"{self.dlq_count}\t{ev}\t{projection_name(sid)}\t{sid}\t{q}\t{esc(error)}\t{att}\t".encode()
                         + esc(b"".join(rows[j, _PAYLOAD:_PAYLOAD + _SLOTS].tolist()).decode()).encode()
                         + f"\t{f}\t{la}\n".encode())
        self._dlq.write(b"".join(lines))

    # -- dead letters and projections -----------------------------------------------------------
    def _require_events(self) -> None:
        if not self._done:
            raise RuntimeError("consume event_chunks() first: the DLQ and the fold fill as the events stream")

    def dlq_chunks(self) -> Iterator[bytes]:
        """COPY text (DLQ_COLUMNS) of the dead-letter rows, read back from the temporary file."""
        self._require_events()
        self._dlq.flush()
        self._dlq.seek(0)
        while block := self._dlq.read(1 << 20):
            yield block

    def projection_chunks(self) -> Iterator[bytes]:
        """COPY text (PROJECTION_COLUMNS) of every stream's projection: the fold of its applied events."""
        self._require_events()
        for a in range(0, self.n_streams, CHUNK_EVENTS):
            b = min(a + CHUNK_EVENTS, self.n_streams)
            created = self.created_ms[a:b]
            updated = np.maximum(self.updated_ms[a:b], created)
            lines = []
            for k, sid, app, bal, own, em, co, ti, ci, et, ver, c, up in zip(
                    range(a, b), self.stream_ids[a:b].tolist(), self.applied[a:b].tolist(),
                    self.balance[a:b].tolist(), self.c_owner[self.attr_owner[a:b]].tolist(),
                    self.c_email[self.attr_email[a:b]].tolist(), self.c_country[self.attr_country[a:b]].tolist(),
                    self.tiers[self.attr_tier[a:b]].tolist(), self.c_city[self.attr_city[a:b]].tolist(),
                    self.etypes[self.last_etype[a:b]].tolist(), self.version[a:b].tolist(), _iso(created),
                    _iso(updated), strict=True):
                sid = sid.decode()
                lines.append(b"".join((
                    f"{k + 1}\t{projection_name(sid)}\t{sid}\t{{\"applied\":{app},\"balance\":{bal},".encode(),
                    b'"attrs":{"owner":', own, b',"email":', em, b',"country":', co, b',"tier":"', ti, b'","city":',
                    ci, b'},"last_event_type":"', et, f'"}}\t{ver}\t{c}\t{up}\n'.encode())))
            yield b"".join(lines)


def _require_empty_projector(conn: psycopg.Connection) -> None:
    for t in PROJECTOR_TABLES:
        if conn.execute("SELECT to_regclass(%s)", (t,)).fetchone() == (None,):
            raise BadInput(f"{t} does not exist: apply the migration first (seeds.arqonbus.apply_migration)")
    if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {EVENTS})").fetchone() == (True,):
        raise BadInput(f"{EVENTS} already holds events: seed a fresh database")


CHILD_MIN_EVENTS = 300_000  # from here on seed() generates in a child process: its ~0.5 s start pays off


def load(conn: psycopg.Connection, gen: EventGenerator) -> dict[str, int]:
    """COPY the generator's events, then its DLQ and projections, in one transaction (seeds._copy.bulk_load:
    TRUNCATE + COPY FREEZE, secondary indexes built after); returns rows per table. Raises BadInput when the
    migration is missing or the events table holds rows."""
    _require_empty_projector(conn)
    _load_chunks(conn, gen.event_chunks(), gen.dlq_chunks, gen.projection_chunks)
    return {EVENTS: gen.n_events, DLQ: gen.dlq_count, PROJECTION: gen.n_streams}


def _load_chunks(conn: psycopg.Connection, events: Iterable[bytes | memoryview], dlq: Callable[[], Iterable[bytes]],
                 projections: Callable[[], Iterable[bytes]]) -> None:
    # The DLQ and projection chunks are asked for only once the events are in: their generators finish
    # with the events (in the child, they are read from it after the events).
    with bulk_load(conn, PROJECTOR_TABLES) as freeze:
        copy_binary(conn, EVENTS, BINARY_COLUMNS, events, freeze=freeze)
        copy_text(conn, DLQ, DLQ_COLUMNS, dlq(), freeze=freeze)
        copy_text(conn, PROJECTION, PROJECTION_COLUMNS, projections(), freeze=freeze)
        _reset_identities(conn)


def load_in_child(conn: psycopg.Connection, seed: int, n_streams: int, n_events: int) -> tuple[dict[str, int], int]:
    """``load`` of ``EventGenerator(seed, n_streams, n_events)`` run in a child process while this one feeds
    the COPY (seeds.arqonbus.child: the same rows, generation on the second core). Returns (rows per table,
    the child's peak RSS in KiB). Raises as ``load``, and HarnessFault when the child fails."""
    from .child import generated_in_child  # it imports this module

    with generated_in_child(seed, n_streams, n_events) as run:  # started first: it boots while we prepare
        _require_empty_projector(conn)
        _load_chunks(conn, run.events(), run.dlq_chunks, run.projection_chunks)
    return {EVENTS: n_events, DLQ: run.dlq_rows, PROJECTION: n_streams}, run.peak_rss_kb


def _reset_identities(conn: psycopg.Connection) -> None:
    reset_identity(conn, EVENTS, "event_id")
    reset_identity(conn, DLQ, "dlq_id")
    reset_identity(conn, PROJECTION, "projection_id")


def seed(conn: psycopg.Connection, *, seed: int = 1234, scale: int = 1) -> SeedSummary:
    """Load projector data via COPY (migration must be applied; tables empty). Deterministic in ``seed``:
    the same rows whether generated here or, from CHILD_MIN_EVENTS events on, in a child process."""
    if scale < 1:
        raise BadInput(f"--scale must be >= 1, got {scale}")
    t0 = time.monotonic()
    n_streams, n_events = STREAMS_PER_SCALE * scale, EVENTS_PER_SCALE * scale
    if n_events >= CHILD_MIN_EVENTS:
        rows, _peak = load_in_child(conn, seed, n_streams, n_events)
    else:
        with EventGenerator(seed, n_streams, n_events) as gen:
            rows = load(conn, gen)
    return SeedSummary("arqonbus", seed, scale, rows=rows, objects=0, bytes=0,
                       duration_s=time.monotonic() - t0)


@dataclass
class ArqonbusDataset:
    """Projector rows as plain data (column order: EVENT_COLUMNS, DLQ_COLUMNS, PROJECTION_COLUMNS)."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    dlq: list[tuple[Any, ...]] = field(default_factory=list)
    projections: list[tuple[Any, ...]] = field(default_factory=list)


def load_dataset(conn: psycopg.Connection, ds: ArqonbusDataset) -> dict[str, int]:
    """COPY an explicit dataset (e.g. from hypothesis) the same way ``seed`` loads generated data."""
    with conn.transaction():
        _require_empty_projector(conn)
        rows = {EVENTS: copy_rows(conn, EVENTS, EVENT_COLUMNS, ds.events),
                DLQ: copy_rows(conn, DLQ, DLQ_COLUMNS, ds.dlq),
                PROJECTION: copy_rows(conn, PROJECTION, PROJECTION_COLUMNS, ds.projections)}
        reset_identity(conn, EVENTS, "event_id")
        reset_identity(conn, DLQ, "dlq_id")
        reset_identity(conn, PROJECTION, "projection_id")
    return rows
