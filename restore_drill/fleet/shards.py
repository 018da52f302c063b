"""One deterministic slice of a plan: shard K of N (1-based) takes the K-th of N contiguous blocks of
the plan's jobs in plan order (Postgres major, kind, id: see ``Plan``), block sizes differing by at most
one. The N slices are disjoint and together are the plan. Contiguous blocks of a major-ordered plan
keep most shards on one or two Postgres majors, so each starts fewer servers than a round-robin would.

Kubernetes Indexed Jobs give each pod its index in ``JOB_COMPLETION_INDEX`` (0-based; Kubernetes docs,
"Indexed Job for Parallel Processing with Static Work Assignment"), so there K = index + 1 and N comes
from ``--shards`` or ``RESTORE_DRILL_SHARDS`` (set it to the Job's ``completions``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from restore_drill.errors import BadInput

INDEX_ENV = "JOB_COMPLETION_INDEX"
COUNT_ENV = "RESTORE_DRILL_SHARDS"
_KN = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """Shard ``k`` of ``n``, 1 <= k <= n."""

    k: int
    n: int

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"

    def take(self, items: Sequence[T]) -> list[T]:
        """This shard's items of ``items`` (already in plan order): block [(K-1)*M//N, K*M//N)."""
        m = len(items)
        return list(items[(self.k - 1) * m // self.n: self.k * m // self.n])


def parse(text: str) -> Shard:
    """``"K/N"`` -> Shard. Raises BadInput (one line naming the fix) for anything but 1 <= K <= N."""
    m = _KN.match(text or "")
    if not m:
        raise BadInput(f"--shard {text!r} is not K/N: give this shard's number and the shard count, e.g. --shard 2/3")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1:
        raise BadInput(f"--shard {text}: the shard count N must be >= 1")
    if not 1 <= k <= n:
        raise BadInput(f"--shard {text}: K must be between 1 and {n} (shards are numbered from 1)")
    return Shard(k, n)


def resolve(flag: str | None, count: int | None, env: Mapping[str, str] | None = None) -> Shard | None:
    """The shard to run: ``--shard K/N`` if given, else ``JOB_COMPLETION_INDEX`` + N (``--shards`` or
    RESTORE_DRILL_SHARDS), else None (the whole plan). Raises BadInput for a bad value or an index
    without a count."""
    env = os.environ if env is None else env
    if flag is not None:
        return parse(flag)
    raw_index = env.get(INDEX_ENV)
    if raw_index is None or raw_index == "":
        if count is not None:
            raise BadInput(f"--shards {count} needs this shard's number: pass --shard K/{count} or run as a "
                           f"Kubernetes Indexed Job ({INDEX_ENV} set)")
        return None
    if count is None:
        raw_count = env.get(COUNT_ENV)
        if not raw_count:
            raise BadInput(f"{INDEX_ENV}={raw_index} is set but not the shard count: pass --shards N or set "
                           f"{COUNT_ENV} to the Job's completions")
        if not raw_count.strip().isdigit():
            raise BadInput(f"{COUNT_ENV}={raw_count!r} is not a whole number: set it to the Job's completions")
        count = int(raw_count)
    if not raw_index.strip().isdigit():
        raise BadInput(f"{INDEX_ENV}={raw_index!r} is not a whole number (Kubernetes sets 0, 1, ...)")
    return parse(f"{int(raw_index) + 1}/{count}")
