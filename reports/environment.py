"""What ran a drill and where: host, platform, CI job, tool versions. Recorded in every report."""

from __future__ import annotations

import getpass
import os
import platform
import socket
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from restore_drill.errors import StepTimeout
from restore_drill.procs import run
from restore_drill.redact import redact_url

from .model import CIInfo, Environment, PostgresInfo, S3Info


def detect_ci(environ: Mapping[str, str] | None = None) -> CIInfo | None:
    """The CI provider, job id and run URL from the variables each provider sets; None outside CI."""
    env = os.environ if environ is None else environ
    g = env.get
    if g("GITHUB_ACTIONS") == "true":
        url = None
        if g("GITHUB_SERVER_URL") and g("GITHUB_REPOSITORY") and g("GITHUB_RUN_ID"):
            url = f"{g('GITHUB_SERVER_URL')}/{g('GITHUB_REPOSITORY')}/actions/runs/{g('GITHUB_RUN_ID')}"
        job = g("GITHUB_RUN_ID")
        if job and g("GITHUB_RUN_ATTEMPT"):
            job = f"{job}.{g('GITHUB_RUN_ATTEMPT')}"
        return CIInfo("github-actions", job, url)
    if g("GITLAB_CI"):
        return CIInfo("gitlab", g("CI_JOB_ID"), g("CI_JOB_URL"))
    if g("BUILDKITE"):
        return CIInfo("buildkite", g("BUILDKITE_JOB_ID"), g("BUILDKITE_BUILD_URL"))
    if g("CIRCLECI"):
        return CIInfo("circleci", g("CIRCLE_BUILD_NUM"), g("CIRCLE_BUILD_URL"))
    if g("JENKINS_URL"):
        return CIInfo("jenkins", g("BUILD_TAG") or g("BUILD_ID"), g("BUILD_URL"))
    if g("TF_BUILD"):
        return CIInfo("azure-pipelines", g("BUILD_BUILDID"), None)
    if g("CI", "").lower() in ("true", "1", "yes"):
        return CIInfo("generic", g("CI_JOB_ID") or g("BUILD_ID"), None)
    return None


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return str(os.getuid())


# (path, size, mtime_ns, PATH) -> the answer: a run asks for the same tools' versions more than once (the
# session's report is built twice), and `aws --version` alone costs ~0.5 s of Python start (issue 19).
_VERSIONS: dict[tuple[str, int, int, str], str] = {}


def _probe_one(path: str | Path, child_env: dict[str, str], timeout_s: float) -> str:
    try:
        st = os.stat(path)
        key = (str(path), st.st_size, st.st_mtime_ns, child_env.get("PATH", ""))
    except OSError:
        key = None  # run() names the problem
    if key is not None and key in _VERSIONS:
        return _VERSIONS[key]
    try:
        res = run([str(path), "--version"], env=child_env, timeout_s=timeout_s)
    except (OSError, StepTimeout) as exc:
        return f"unavailable: {exc}"
    text = (res.stdout.strip() or res.stderr.strip()).splitlines()
    answer = text[0] if res.exit_code == 0 and text else f"unavailable: exit {res.exit_code}"
    if key is not None and res.exit_code == 0:
        _VERSIONS[key] = answer
    return answer


def probe_tool_versions(tools: Mapping[str, str | Path], env: Mapping[str, str] | None = None,
                        timeout_s: float = 20.0) -> dict[str, str]:
    """tool -> first line of `<path> --version`, or "unavailable: why" (a report records what it found).

    The tools run concurrently, and a successful answer is remembered for the process, keyed by the
    binary's path, size and mtime and the PATH it ran with (a replaced binary is asked again)."""
    child_env = dict(env) if env is not None else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    items = list(tools.items())
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(items)))) as pool:
        answers = list(pool.map(lambda item: _probe_one(item[1], child_env, timeout_s), items))
    return {name: answer for (name, _), answer in zip(items, answers, strict=True)}


def capture_environment(
    postgres: PostgresInfo | None = None,
    s3: S3Info | None = None,
    tools: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Environment:
    """The environment block of a report. S3 endpoints are stored without credentials."""
    if s3 is not None:
        s3 = S3Info(s3.backend, redact_url(s3.endpoint))
    return Environment(
        host=socket.gethostname(),
        platform=platform.platform(),
        python=sys.version.split()[0],
        user=_user(),
        ci=detect_ci(environ),
        postgres=postgres,
        s3=s3,
        tools=dict(tools or {}),
    )
