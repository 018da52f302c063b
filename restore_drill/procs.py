"""Subprocesses the harness starts: argument lists, explicit env, a timeout, captured output.

Every child runs in its own process group so a timeout or Ctrl-C can stop it and anything it spawned.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import StepTimeout
from .redact import Redactor

TAIL_CHARS = 4000


def tail(text: str, limit: int = TAIL_CHARS) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False


def kill_group(proc: subprocess.Popen[bytes] | subprocess.Popen[str], grace_s: float = 3.0) -> None:
    """SIGTERM the child's process group, then SIGKILL what is left."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace_s)


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str],
    timeout_s: float,
    cwd: str | os.PathLike[str] | None = None,
    stdin_text: str | None = None,
    check: bool = False,
    redactor: Redactor | None = None,
    user: int | None = None,
    group: int | None = None,
    shell: bool = False,
    preexec_fn: Callable[[], None] | None = None,
    pass_fds: Sequence[int] = (),
    on_start: Callable[[subprocess.Popen[str]], None] | None = None,
) -> Completed:
    """Run a command to completion; on timeout kill its whole process group and raise StepTimeout.

    ``shell=True`` is only for running an operator's runbook line as written (argv is then
    ``[script]``, executed with bash). ``preexec_fn``/``pass_fds`` go to Popen (the sandbox confines
    a step there); ``on_start(proc)`` runs right after the child started, before its output is read
    (an exception from it kills the child's group and propagates).
    """
    args = [str(a) for a in argv]
    if shell:
        args = ["bash", "-c", args[0]]
    started = time.monotonic()
    proc = subprocess.Popen(
        args,
        env=dict(env),
        cwd=str(cwd) if cwd is not None else None,
        stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
        user=user,
        group=group,
        preexec_fn=preexec_fn,
        pass_fds=tuple(pass_fds),
    )
    try:
        if on_start is not None:
            on_start(proc)
        out, err = proc.communicate(stdin_text, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        red = redactor or Redactor()
        raise StepTimeout(
            f"command timed out after {timeout_s:g}s and was killed: {red(' '.join(args))[:200]} "
            "(raise the limit with --step-timeout)"
        ) from None
    except BaseException:
        kill_group(proc)
        raise
    result = Completed(tuple(args), proc.returncode, out, err, time.monotonic() - started)
    if check and result.exit_code != 0:
        from .errors import ProcedureFailed

        red = redactor or Redactor()
        raise ProcedureFailed(
            f"{Path(args[0]).name} exited {result.exit_code}: {red(tail(err.strip(), 500))}"
        )
    return result
