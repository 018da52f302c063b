"""write_smoke: after the restore the system still takes writes, through the system's own smoke flow."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._util import error_line, jsonable, timed
from .result import CheckResult


@timed("write_smoke")
def write_smoke(
    flow: Callable[[], Mapping[str, Any]],
    cleanup: Callable[[Mapping[str, Any]], Any],
    *,
    label: str = "smoke flow",
) -> CheckResult:
    """Run ``flow`` (e.g. new lecture + queued job claimed with ``FOR UPDATE SKIP LOCKED`` + artifact
    + export in the DB and the bucket, relying on column defaults), then ``cleanup`` with what it
    returned. A flow that raises (a lost default, a sequence behind the data, a missing bucket) fails
    the check with the error, which names the table or object; a cleanup that raises fails it too."""
    name = "write_smoke"
    try:
        written = flow()
    except Exception as e:  # noqa: BLE001 - the system refusing a write is the finding
        return CheckResult.failed(name, f"{label} failed: {type(e).__name__}: {error_line(str(e))}",
                                  expected="writes accepted", observed="error",
                                  evidence={"error": str(e)[:2000], "exception": type(e).__name__})
    ev = {"written": jsonable(dict(written))}
    try:
        cleanup(written)
    except Exception as e:  # noqa: BLE001
        return CheckResult.failed(name, f"{label} wrote but cleanup failed: {type(e).__name__}: {str(e)[:300]}",
                                  expected="cleaned up", observed="error", evidence=ev)
    return CheckResult.passed(name, f"{label} succeeded and was cleaned up: {', '.join(map(str, written))}",
                              expected="writes accepted", observed="writes accepted", evidence=ev)
