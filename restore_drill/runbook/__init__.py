"""Operators' Markdown runbooks: parse them, bind them to disposable infrastructure, run them as written."""

from .binding import Binding, Names, builtin_binding, builtin_names, load_binding, parse_binding, plan
from .names import drill_bucket, drill_database
from .parser import Runbook, Section, Step, parse_runbook
from .runner import (
    HookContext,
    HookOutcome,
    RunbookResult,
    RunbookStepRecord,
    RunHooks,
    archive_listing,
    partial_of,
    run_runbook,
)

__all__ = [
    "Binding", "HookContext", "HookOutcome", "Names", "RunHooks", "Runbook", "RunbookResult", "RunbookStepRecord",
    "Section", "Step", "archive_listing", "builtin_binding", "builtin_names", "drill_bucket", "drill_database",
    "load_binding", "parse_binding", "parse_runbook", "partial_of", "plan", "run_runbook",
]
