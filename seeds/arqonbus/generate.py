"""Deterministic projector data: interleaved event streams, their folded projections, a poisoned DLQ.

Hot path: event lines are assembled from pooled strings that were JSON-encoded and COPY-escaped once,
so a row costs a few random draws and one f-string; the fold runs alongside in Python.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from restore_drill.errors import BadInput

from .._copy import bulk_load, copy_lines, copy_rows, jtext, reset_identity
from .._pools import pools
from ..summary import SeedSummary
from .fold import Fold
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
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_TIERS = ("free", "plus", "pro", "enterprise")
_CHANNELS = ("web", "ios", "android", "api", "partner")
_PRODUCERS = ("arqonbus-gateway/2.14.1", "arqonbus-gateway/2.15.0", "billing-bridge/0.9.3")


def projection_name(stream_id: str) -> str:
    return stream_id.split("-", 1)[0] + "_summary"


class _IsoMs:
    """Epoch milliseconds -> ISO text; the part up to the minute is memoised (timestamps mostly increase)."""

    __slots__ = ("minute", "prefix")

    def __init__(self) -> None:
        self.minute = -1
        self.prefix = ""

    def __call__(self, ms: int) -> str:
        minute, rest = divmod(ms, 60_000)
        if minute != self.minute:
            self.minute = minute
            self.prefix = time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(minute * 60))
        sec, frac = divmod(rest, 1000)
        return f"{self.prefix}{sec:02d}.{frac:03d}+00:00"


@dataclass
class _Stream:
    stream_id: str
    index: int
    sequence: int = 0
    fold: Fold = field(default_factory=Fold)
    created_ms: int = 0
    updated_ms: int = 0


class EventGenerator:
    """Generates ``n_events`` events over ``n_streams`` streams; yields COPY lines for the events table,
    then offers the DLQ and projection rows those events imply."""

    def __init__(self, seed: int, n_streams: int, n_events: int) -> None:
        if n_streams < 1 or n_events < n_streams:
            raise BadInput(f"need n_events >= n_streams >= 1, got {n_events} events, {n_streams} streams")
        self.seed = seed
        self.rng = random.Random(f"arqonbus:{seed}")
        self.n_streams = n_streams
        self.n_events = n_events
        self.streams: list[_Stream] = []
        self.dlq: list[tuple[Any, ...]] = []
        self.large = {n_events // 4, n_events // 2, (3 * n_events) // 4}
        self.large.update(range(LARGE_EVERY // 2, n_events, LARGE_EVERY))
        p = pools()
        # Pre-encode every pooled string once: JSON text, COPY-escaped.
        # Owner names pair first and last names of the same locale (pools hold 60 of each per locale).
        self.owners = [f"{p.first_names[i % len(p.first_names)]} "
                       f"{p.last_names[(i % len(p.first_names)) // 60 * 60 + (i * 7) % 60]}" for i in range(600)]
        self.j_owner = [jtext(o) for o in self.owners]
        self.j_email = [jtext(e) for e in p.emails]
        self.j_country = [jtext(c) for c in p.countries]
        self.j_city = [jtext(c) for c in p.cities]
        self.j_sentence = [jtext(s) for s in p.sentences]
        self.j_company = [jtext(c) for c in p.companies]
        self.j_word = [jtext(w) for w in p.words]
        self.j_ip = [jtext(i) for i in p.ipv4]
        self.j_paragraphs = [jtext(x)[1:-1] for x in p.paragraphs]  # without the quotes, to join
        self.paragraph_sizes = [len(x.encode()) + 2 for x in p.paragraphs]
        # Python values for the fold (attrs must be merged as values, not text).
        self.emails, self.countries, self.cities = p.emails, p.countries, p.cities
        self.base_ms = int((BASE_TIME - _EPOCH).total_seconds() * 1000) + (seed % 10_000) * 60_000

    # -- events --------------------------------------------------------------------------------
    def event_lines(self) -> Iterator[str]:
        rng = self.rng
        r = rng.random
        n_streams, n_events = self.n_streams, self.n_events
        open_every = max(1, n_events // (2 * n_streams))  # every stream opens in the first half
        t_ms = self.base_ms
        iso = _IsoMs()
        streams = self.streams
        hot = max(1, n_streams // 10)
        for i in range(n_events):
            event_id = i + 1
            t_ms += 1 + int(r() * 4000)
            if len(streams) < n_streams and (i >= len(streams) * open_every or not streams):
                cat = CATEGORIES[len(streams) % len(CATEGORIES)]
                st = _Stream(f"{cat}-{len(streams) + 1:06d}", len(streams), created_ms=t_ms)
                streams.append(st)
            elif r() < 0.3:
                st = streams[int(r() * min(hot, len(streams)))]
            else:
                st = streams[int(r() * len(streams))]
            st.sequence += 1
            seq = st.sequence
            cat = st.stream_id.split("-", 1)[0]
            poisoned = seq > 1 and r() < POISON_RATE
            amount: Any = None
            attrs: Any = None
            if seq == 1:
                etype = f"{cat}.opened"
                o, e, c, ci = int(r() * 600), int(r() * len(self.j_email)), int(r() * len(self.j_country)), \
                    int(r() * len(self.j_city))
                attrs = {"owner": self.owners[o], "email": self.emails[e], "country": self.countries[c],
                         "tier": "free", "city": self.cities[ci]}
                payload = (f'{{"attrs":{{"owner":{self.j_owner[o]},"email":{self.j_email[e]},'
                           f'"country":{self.j_country[c]},"tier":"free","city":{self.j_city[ci]}}},'
                           f'"channel":"{_CHANNELS[int(r() * 5)]}"}}')
            elif i in self.large:
                etype = f"{cat}.annotated"
                poisoned = False  # free-text notes never fail to apply
                note = self._big_note(32_768 + int(r() * 131_072))
                payload = (f'{{"note":{note},"author":{self.j_owner[int(r() * 600)]},'
                           f'"tags":[{self.j_word[int(r() * len(self.j_word))]}],"attachment":true}}')
            else:
                k = r()
                if k < 0.45:
                    etype = f"{cat}.credited"
                    amount = 100 + int(r() * 50_000)
                    amt = f'"{amount // 100},{amount % 100:02d}"' if poisoned else str(amount)
                    payload = (f'{{"amount":{amt},"currency":"EUR","reference":"REF-{int(r() * 1e8):08d}",'
                               f'"memo":{self.j_sentence[int(r() * len(self.j_sentence))]}}}')
                elif k < 0.75:
                    etype = f"{cat}.debited"
                    amount = -(50 + int(r() * 20_000))
                    amt = f'"{amount}"' if poisoned else str(amount)
                    payload = (f'{{"amount":{amt},"currency":"EUR",'
                               f'"merchant":{self.j_company[int(r() * len(self.j_company))]}}}')
                elif k < 0.9:
                    etype = f"{cat}.updated"
                    ti, ci = int(r() * 4), int(r() * len(self.j_city))
                    attrs = {"tier": _TIERS[ti], "city": self.cities[ci]}
                    a = (f'"tier={_TIERS[ti]}"' if poisoned
                         else f'{{"tier":"{_TIERS[ti]}","city":{self.j_city[ci]}}}')
                    payload = f'{{"attrs":{a},"reason":{self.j_sentence[int(r() * len(self.j_sentence))]}}}'
                else:
                    etype = f"{cat}.annotated"
                    poisoned = False  # free-text notes never fail to apply
                    payload = (f'{{"note":{self.j_sentence[int(r() * len(self.j_sentence))]},'
                               f'"author":{self.j_owner[int(r() * 600)]},'
                               f'"tags":[{self.j_word[int(r() * len(self.j_word))]}]}}')
            h = f"{rng.getrandbits(128):032x}"
            meta = (f'{{"correlation_id":"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}",'
                    f'"producer":"{_PRODUCERS[int(r() * 3)]}","ip":{self.j_ip[int(r() * len(self.j_ip))]}}}')
            rec_ms = t_ms + 5 + int(r() * 900)
            occurred = iso(t_ms)
            recorded = iso(rec_ms)
            if poisoned:
                self._poison(event_id, st, seq, etype, payload, rec_ms)
            else:  # Fold.apply_parts, inlined: this loop runs a million times in the benchmark
                f = st.fold
                if amount is not None:
                    f.balance += amount
                if attrs is not None:
                    f.attrs.update(attrs)
                f.applied += 1
                f.last_event_type = etype
                f.version = seq
                st.updated_ms = rec_ms
            yield (f"{event_id}\t{st.stream_id}\t{seq}\t{etype}\t{payload}\t{meta}\t"
                   f"{occurred}\t{recorded}\n")

    def _big_note(self, n_bytes: int) -> str:
        """A JSON string of paragraphs (~n_bytes), assembled from pre-escaped paragraphs."""
        paras, sizes = self.j_paragraphs, self.paragraph_sizes
        r = self.rng.random
        out: list[str] = []
        size = 0
        while size < n_bytes:
            k = int(r() * len(paras))
            out.append(paras[k])
            size += sizes[k]
        return '"' + "\\\\n\\\\n".join(out) + '"'  # JSON "\n\n" between paragraphs, COPY-escaped

    def _poison(self, event_id: int, st: _Stream, seq: int, etype: str, payload: str, rec_ms: int) -> None:
        raw = json.loads(payload.replace("\\\\", "\\"))  # undo COPY escaping (only backslashes can occur)
        if isinstance(raw.get("amount"), str):
            error = f'payload.amount: expected integer minor units, got string "{raw["amount"]}"'
        else:
            error = f"payload.attrs: expected object, got string {raw['attrs']!r}"
        attempts = 1 + int(self.rng.random() * 5)
        first = datetime.fromtimestamp(rec_ms / 1000 + 0.25, UTC)
        last = first + timedelta(seconds=30 * (2 ** attempts - 1))
        self.dlq.append((len(self.dlq) + 1, event_id, projection_name(st.stream_id), st.stream_id, seq,
                         error, attempts, raw, first, last))

    # -- projections ---------------------------------------------------------------------------
    def projection_rows(self) -> Iterator[tuple[Any, ...]]:
        for st in self.streams:
            created = datetime.fromtimestamp(st.created_ms / 1000, UTC)
            updated = datetime.fromtimestamp(max(st.updated_ms, st.created_ms) / 1000, UTC)
            yield (st.index + 1, projection_name(st.stream_id), st.stream_id, st.fold.state(),
                   st.fold.version, created, updated)


def _require_empty_projector(conn: psycopg.Connection) -> None:
    for t in PROJECTOR_TABLES:
        if conn.execute("SELECT to_regclass(%s)", (t,)).fetchone() == (None,):
            raise BadInput(f"{t} does not exist: apply the migration first (seeds.arqonbus.apply_migration)")
    if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {EVENTS})").fetchone() == (True,):
        raise BadInput(f"{EVENTS} already holds events: seed a fresh database")


def load(conn: psycopg.Connection, gen: EventGenerator) -> dict[str, int]:
    """COPY the generator's events, then its DLQ and projections, in one transaction (seeds._copy.bulk_load)."""
    _require_empty_projector(conn)
    with bulk_load(conn, PROJECTOR_TABLES) as freeze:  # TRUNCATE + COPY FREEZE, indexes built after
        rows = {EVENTS: copy_lines(conn, EVENTS, EVENT_COLUMNS, gen.event_lines(), freeze=freeze)}
        rows[DLQ] = copy_rows(conn, DLQ, DLQ_COLUMNS, gen.dlq, freeze=freeze)
        rows[PROJECTION] = copy_rows(conn, PROJECTION, PROJECTION_COLUMNS, gen.projection_rows(), freeze=freeze)
        reset_identity(conn, EVENTS, "event_id")
        reset_identity(conn, DLQ, "dlq_id")
        reset_identity(conn, PROJECTION, "projection_id")
    return rows


def seed(conn: psycopg.Connection, *, seed: int = 1234, scale: int = 1) -> SeedSummary:
    """Load projector data via COPY (migration must be applied; tables empty). Deterministic in ``seed``."""
    if scale < 1:
        raise BadInput(f"--scale must be >= 1, got {scale}")
    t0 = time.monotonic()
    gen = EventGenerator(seed, STREAMS_PER_SCALE * scale, EVENTS_PER_SCALE * scale)
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
