"""What one seeding run loaded, for reports and the CLI."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class SeedSummary:
    system: str
    seed: int
    scale: int
    rows: dict[str, int] = field(default_factory=dict)  # qualified table -> rows loaded
    objects: int = 0
    bytes: int = 0  # object bytes written
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
