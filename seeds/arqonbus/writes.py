"""Live writes the way the projector makes them: append an event and fold it, in one transaction.

Used after a backup (late writes that a restore must not have) and after a restore (write smoke:
identity defaults, unique keys and the trigger must still work).
"""

from __future__ import annotations

import json
import random
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from restore_drill.errors import ProcedureFailed

from .fold import Fold
from .generate import projection_name
from .schema import EVENTS, PROJECTION


def _event_for(stream_id: str, sequence: int) -> tuple[str, dict[str, Any]]:
    rng = random.Random(f"live:{stream_id}:{sequence}")
    cat = stream_id.split("-", 1)[0]
    if sequence == 1:
        return f"{cat}.opened", {"attrs": {"owner": "Live Writer", "tier": "free"}, "channel": "api"}
    return f"{cat}.credited", {"amount": rng.randrange(100, 10_000), "currency": "EUR",
                               "reference": f"LIVE-{rng.randrange(10**8):08d}"}


def write_event(conn: psycopg.Connection, stream_id: str) -> int:
    """Append the stream's next event (ids and timestamps from column defaults) and fold it into the
    stream's projection, committing both together. Returns the new event_id."""
    name = projection_name(stream_id)
    with conn.transaction():
        conn.execute(f"INSERT INTO {PROJECTION} (projection_name, stream_id) VALUES (%s, %s) "
                     "ON CONFLICT (projection_name, stream_id) DO NOTHING", (name, stream_id))
        conn.execute(f"SELECT 1 FROM {PROJECTION} WHERE projection_name = %s AND stream_id = %s FOR UPDATE",
                     (name, stream_id))
        row = conn.execute(f"SELECT coalesce(max(sequence), 0) + 1 FROM {EVENTS} WHERE stream_id = %s",
                           (stream_id,)).fetchone()
        assert row is not None
        seq = int(row[0])
        etype, payload = _event_for(stream_id, seq)
        got = conn.execute(
            f"INSERT INTO {EVENTS} (stream_id, sequence, event_type, payload, metadata) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING event_id",
            (stream_id, seq, etype, Jsonb(payload), Jsonb({"producer": "restore-drill/live-write"})),
        ).fetchone()
        assert got is not None
        amount = payload.get("amount", 0)
        attrs = payload.get("attrs", {})
        conn.execute(
            f"""UPDATE {PROJECTION} SET version = %(seq)s, state = jsonb_build_object(
                    'applied', coalesce((state ->> 'applied')::bigint, 0) + 1,
                    'balance', coalesce((state ->> 'balance')::numeric, 0) + %(amount)s,
                    'attrs', coalesce(state -> 'attrs', '{{}}'::jsonb) || %(attrs)s,
                    'last_event_type', %(etype)s::text)
                WHERE projection_name = %(name)s AND stream_id = %(stream)s""",
            {"seq": seq, "amount": amount, "attrs": Jsonb(attrs), "etype": etype, "name": name,
             "stream": stream_id},
        )
        return int(got[0])


def smoke_flow(conn: psycopg.Connection) -> dict[str, Any]:
    """Append one event via defaults to an existing stream and check its projection folded it."""
    try:
        with conn.transaction():
            row = conn.execute(
                f"SELECT projection_name, stream_id, state, version, updated_at FROM {PROJECTION} "
                "ORDER BY stream_id LIMIT 1").fetchone()
        stream = row[1] if row is not None else "account-smoke"
        event_id = write_event(conn, stream)
        with conn.transaction():
            after = conn.execute(
                f"SELECT e.sequence, e.event_type, e.payload, p.state, p.version FROM {EVENTS} e "
                f"JOIN {PROJECTION} p ON p.stream_id = e.stream_id AND p.projection_name = %s "
                "WHERE e.event_id = %s", (projection_name(stream), event_id)).fetchone()
    except psycopg.Error as e:
        raise ProcedureFailed(f"continuum write smoke failed: {type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}") from e
    if after is None:
        raise ProcedureFailed(f"continuum write smoke: event {event_id} or its projection is not readable")
    seq, etype, payload, state, version = after
    prev = row[2] if row is not None else None
    expected = Fold()
    if prev is not None:
        expected.applied, expected.balance = int(prev["applied"]), prev["balance"]
        expected.attrs, expected.last_event_type = dict(prev["attrs"]), prev["last_event_type"]
    expected.apply(seq, etype, payload)
    if version != seq or json.dumps(state, sort_keys=True) != json.dumps(expected.state(), sort_keys=True):
        raise ProcedureFailed(f"continuum write smoke: projection of {stream} did not fold event {event_id} "
                              f"(version {version}, expected {seq})")
    return {"stream_id": stream, "event_id": event_id, "sequence": seq, "created_projection": row is None,
            "previous": None if row is None else {"state": row[2], "version": row[3],
                                                 "updated_at": row[4].isoformat()}}


def smoke_cleanup(conn: psycopg.Connection, info: dict[str, Any]) -> None:
    """Remove the smoke event and put its projection back exactly as it was."""
    stream = info["stream_id"]
    name = projection_name(stream)
    with conn.transaction():
        conn.execute(f"DELETE FROM {EVENTS} WHERE event_id = %s", (info["event_id"],))
        if info.get("created_projection"):
            conn.execute(f"DELETE FROM {PROJECTION} WHERE projection_name = %s AND stream_id = %s",
                         (name, stream))
        else:
            prev = info["previous"]
            conn.execute(f"UPDATE {PROJECTION} SET state = %s, version = %s, updated_at = %s "
                         "WHERE projection_name = %s AND stream_id = %s",
                         (Jsonb(prev["state"]), prev["version"], prev["updated_at"], name, stream))
