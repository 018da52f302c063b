"""Which checks a drill runs after its restore: the check registry (``checks/registry.py``) applied to
what the drill collected (a ``CheckContext``).

Each check is isolated: one that raises is recorded as errored, the rest still run. The connection the
checks share is opened lazily by the context and closed once, after the last check.
"""

from __future__ import annotations

from collections.abc import Callable

from restore_drill.checks.context import CheckContext
from restore_drill.checks.registry import plan as registry_plan
from restore_drill.checks.registry import run_isolated
from restore_drill.checks.result import CheckResult

CheckInputs = CheckContext  # the name the engine and older callers use

__all__ = ["CheckContext", "CheckInputs", "plan", "run_checks"]


def _guard(name: str, fn: Callable[[], CheckResult]) -> CheckResult:
    return run_isolated(name, fn)


def plan(ci: CheckContext) -> list[tuple[str, Callable[[], CheckResult]]]:
    """(check name, thunk) in run order; see ``checks.registry.REGISTRY``."""
    return registry_plan(ci)


def run_checks(ci: CheckContext, emit: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Run every applicable check over ``ci``; each result is appended to ``ci.results`` (later checks,
    e.g. rto, read earlier ones) and passed to ``emit``. The shared connection is closed at the end."""
    try:
        for name, fn in plan(ci):
            r = _guard(name, fn)
            ci.results.append(r)
            if emit is not None:
                emit(r)
    finally:
        ci.close()
    return list(ci.results)
