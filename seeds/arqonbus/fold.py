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

# The same fold in SQL (projection_matches_fold) lives in drills/systems/arqonbus.toml, the system's
# definition, so checks and users read one copy.
