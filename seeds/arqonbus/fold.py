"""The projector's fold, in Python (for generators) and in SQL (for server-side invariants).

state = {"applied": number of applied events,
         "balance": sum of payload.amount where it is a JSON number,
         "attrs": shallow last-write-wins merge of payload.attrs where it is a JSON object,
         "last_event_type": event_type of the last applied event}
version = sequence of the last applied event (0 when none).
An event is applied unless the dead-letter queue holds it. The SQL reads poisoned payloads without
failing (type checks before casts), so a restore that lost DLQ rows shows up as a mismatch, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .schema import DLQ, EVENTS, PROJECTION

INITIAL_STATE: dict[str, Any] = {"applied": 0, "balance": 0, "attrs": {}, "last_event_type": None}


@dataclass
class Fold:
    applied: int = 0
    balance: int = 0
    attrs: dict[str, Any] = field(default_factory=dict)
    last_event_type: str | None = None
    version: int = 0

    def apply_parts(self, sequence: int, event_type: str, amount: Any, attrs: Any) -> None:
        # Only JSON numbers count (bool is an int in Python, not a number in JSON).
        if isinstance(amount, int) and not isinstance(amount, bool):
            self.balance += amount
        if isinstance(attrs, dict):
            self.attrs.update(attrs)
        self.applied += 1
        self.last_event_type = event_type
        self.version = sequence

    def apply(self, sequence: int, event_type: str, payload: dict[str, Any]) -> None:
        self.apply_parts(sequence, event_type, payload.get("amount"), payload.get("attrs"))

    def state(self) -> dict[str, Any]:
        return {"applied": self.applied, "balance": self.balance, "attrs": dict(self.attrs),
                "last_event_type": self.last_event_type}


# Expected (version, state) per stream from its applied events, computed on the server.
FOLD_SQL = f"""
WITH applied AS (
    SELECT e.stream_id, e.sequence, e.event_type, e.payload
    FROM {EVENTS} e
    WHERE NOT EXISTS (SELECT 1 FROM {DLQ} d WHERE d.event_id = e.event_id)
), attrs AS (
    SELECT DISTINCT ON (a.stream_id, kv.key) a.stream_id, kv.key, kv.value
    FROM applied a
    CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(a.payload -> 'attrs') = 'object'
                                       THEN a.payload -> 'attrs' ELSE '{{}}'::jsonb END) AS kv
    ORDER BY a.stream_id, kv.key, a.sequence DESC
), attr_obj AS (
    SELECT t.stream_id, jsonb_object_agg(t.key, t.value) AS attrs FROM attrs t GROUP BY t.stream_id
), agg AS (
    SELECT a.stream_id, max(a.sequence) AS version, count(*) AS applied,
           coalesce(sum(CASE WHEN jsonb_typeof(a.payload -> 'amount') = 'number'
                             THEN (a.payload ->> 'amount')::numeric END), 0) AS balance,
           (array_agg(a.event_type ORDER BY a.sequence DESC))[1] AS last_event_type
    FROM applied a GROUP BY a.stream_id
)
SELECT s.stream_id,
       coalesce(g.version, 0) AS version,
       jsonb_build_object(
           'applied', coalesce(g.applied, 0),
           'balance', coalesce(g.balance, 0),
           'attrs', coalesce(o.attrs, '{{}}'::jsonb),
           'last_event_type', g.last_event_type) AS state
FROM (SELECT DISTINCT stream_id FROM {EVENTS}) s
LEFT JOIN agg g ON g.stream_id = s.stream_id
LEFT JOIN attr_obj o ON o.stream_id = s.stream_id
"""

# Projections whose version/state differ from the fold, and streams with events but no projection.
PROJECTION_MISMATCH_SQL = f"""
WITH expected AS ({FOLD_SQL})
SELECT coalesce(p.stream_id, x.stream_id) AS stream_id, p.projection_name,
       p.version AS actual_version, x.version AS expected_version,
       p.state AS actual_state, x.state AS expected_state
FROM {PROJECTION} p
FULL JOIN expected x ON x.stream_id = p.stream_id
WHERE p.stream_id IS NULL
   OR p.version IS DISTINCT FROM coalesce(x.version, 0)
   OR p.state IS DISTINCT FROM coalesce(x.state, '{{"applied": 0, "balance": 0, "attrs": {{}},
                                                   "last_event_type": null}}'::jsonb)
ORDER BY 1
"""
