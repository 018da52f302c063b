"""The state every mixin of the runner (_Run) reads, declared once for the type checker."""

from __future__ import annotations

from pathlib import Path

from restore_drill.fixtures.environment import RunbookEnvironment
from restore_drill.redact import Redactor

from .binding import Binding
from .parser import Runbook
from .results import RunbookResult


class _RunState:
    """Base of the runner's mixins (_Values, _Backups, _Effects): the attributes _Run's constructor sets.

    Annotations only, no values and no behaviour: each mixin declares here what it shares with the others and,
    in its own class body, only what it alone adds."""

    book: Runbook
    binding: Binding
    env: RunbookEnvironment
    workdir: Path
    res: RunbookResult
    redact: Redactor
    base_env: dict[str, str]
