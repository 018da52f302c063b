"""ArqonBus domain invariants: SQL returning the violating rows (empty result = invariant holds).

They use built-in functions only, so they run on a restored database even when a table-scoped
restore left the migration's functions behind.
"""

from __future__ import annotations

from .fold import PROJECTION_MISMATCH_SQL
from .schema import DLQ, EVENTS, PROJECTION

INVARIANTS: dict[str, tuple[str, str]] = {
    "projection_matches_fold": (
        PROJECTION_MISMATCH_SQL,
        "projection version/state differs from the fold of its stream's applied events",
    ),
    "dlq_references_event": (
        f"""SELECT d.dlq_id, d.event_id, d.stream_id, d.sequence FROM {DLQ} d
            LEFT JOIN {EVENTS} e ON e.event_id = d.event_id
            WHERE e.event_id IS NULL OR e.stream_id <> d.stream_id OR e.sequence <> d.sequence
            ORDER BY d.dlq_id""",
        "dead-letter entry whose event does not exist (or names another stream/sequence)",
    ),
    "no_sequence_gaps": (
        f"""SELECT stream_id, count(*) AS events, min(sequence) AS first_seq, max(sequence) AS last_seq
            FROM {EVENTS} GROUP BY stream_id
            HAVING min(sequence) <> 1 OR max(sequence) <> count(*) OR count(DISTINCT sequence) <> count(*)
            ORDER BY stream_id""",
        "stream whose event sequence is not contiguous from 1 (gap or duplicate)",
    ),
    "projection_has_events": (
        f"""SELECT p.projection_id, p.stream_id, p.version FROM {PROJECTION} p
            WHERE p.version > 0 AND NOT EXISTS (
                SELECT 1 FROM {EVENTS} e WHERE e.stream_id = p.stream_id AND e.sequence = p.version)
            ORDER BY p.projection_id""",
        "projection claims a version whose event is missing",
    ),
}
