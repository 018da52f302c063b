"""api_probe: the restored system's API says it is ready and sampled lectures are healthy (httpx)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from ._util import capped, sample, timed
from .result import CheckResult

# The header restore-drill's stand-in API (restore_drill/standin_api.py STANDIN_HEADER) sets on every answer:
# a probe it answered is said to be the stand-in's, never the application's own.
STANDIN_HEADER = "X-Restore-Drill-Standin"

READY_WORDS = frozenset({"ready", "ok"})
HEALTHY_WORDS = frozenset({"healthy", "ok"})


def _says(resp: httpx.Response, words: frozenset[str], flag: str) -> bool:
    """Body is the word, or JSON with ``status`` equal to it, or ``{flag: true}``."""
    try:
        data: Any = resp.json()
    except ValueError:
        return resp.text.strip().strip('"').lower() in words
    if isinstance(data, str):
        return data.strip().lower() in words
    if isinstance(data, dict):
        if data.get(flag) is True:
            return True
        status = data.get("status")
        return isinstance(status, str) and status.strip().lower() in words
    return False


@timed("api_probe")
def api_probe(
    base_url: str | None,
    sample_ids: Sequence[Any],
    *,
    timeout_s: float = 5.0,
    ready_path: str = "/health/ready",
    integrity_path: str = "/lectures/{id}/integrity",
) -> CheckResult:
    """``GET /health/ready`` answers ready and ``GET /lectures/<id>/integrity`` answers healthy for
    each sampled lecture. Skipped when no API base URL is configured. When the answers carry the stand-in's
    ``STANDIN_HEADER``, the message starts by saying so (and ``evidence["answered_by"]`` holds its label):
    the stand-in reads the restored database and bucket, it is not the application's API."""
    name = "api_probe"
    if not base_url:
        return CheckResult.skipped(name, "no API base URL configured (set API_BASE_URL / --api-base-url)")
    failures: list[str] = []
    answers: list[dict[str, Any]] = []
    standins: set[str] = set()
    with httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s, trust_env=False) as client:
        probes = [(ready_path, READY_WORDS, "ready")]
        probes += [(integrity_path.format(id=i), HEALTHY_WORDS, "healthy") for i in sample_ids]
        for path, words, flag in probes:
            try:
                resp = client.get(path)
            except httpx.HTTPError as e:
                failures.append(f"GET {path}: {type(e).__name__}: {e}")
                answers.append({"path": path, "error": str(e)[:200]})
                continue
            body = resp.text[:200]
            if STANDIN_HEADER in resp.headers:
                standins.add(resp.headers[STANDIN_HEADER])
            answers.append({"path": path, "status": resp.status_code, "body": body})
            if resp.status_code != 200 or not _says(resp, words, flag):
                failures.append(f"GET {path} -> {resp.status_code} {body.strip()[:80]!r}, not {flag}")
    ev: dict[str, Any] = {"base_url": base_url, "probes": capped(answers)}
    by = ""
    if standins:
        ev["answered_by"] = sorted(standins)
        by = f"answered by {'; '.join(sorted(standins))}: "
    if failures:
        return CheckResult.failed(name, f"{by}{len(failures)} of {len(answers)} probe(s) failed: {sample(failures, 2)}",
                                  expected=f"{len(answers)} healthy answers", observed=len(answers) - len(failures),
                                  evidence=ev)
    return CheckResult.passed(name, f"{by}ready, and {len(sample_ids)} sampled lecture(s) healthy",
                              expected=len(answers), observed=len(answers), evidence=ev)
