"""SIGTERM handled like Ctrl-C: a CI cancel, a job timeout or a Kubernetes stop sends SIGTERM, and the run
must still tear down what it started (step process groups, databases, buckets, servers, temp dirs, the
private HOME with the S3 keys) and write an errored report, as it does for SIGINT.

The mechanism is Python's own: ``sigterm_as_interrupt`` installs a SIGTERM handler that raises
``Terminated``, a ``KeyboardInterrupt`` subclass, in the main thread, so every ``except KeyboardInterrupt``
/ ``except BaseException`` clean-up path of the harness (``procs.run`` kills the step's group, the
engine's and session's tear-down) runs unchanged. Source: Python docs, "signal — Set handlers for
asynchronous events" (handlers run in the main thread between bytecode instructions; a handler may raise).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM; raised by the handler ``sigterm_as_interrupt`` installs."""


def describe(e: BaseException) -> tuple[str, str]:
    """(error type, reason) for a report: ("Terminated", "terminated by SIGTERM") or
    ("KeyboardInterrupt", "interrupted (Ctrl-C)")."""
    if isinstance(e, Terminated):
        return "Terminated", "terminated by SIGTERM"
    return "KeyboardInterrupt", "interrupted (Ctrl-C)"


def note_run_dir(e: BaseException, run_dir: Path | None) -> None:
    """Attach the run folder the interrupted run was written to, for the CLI to print."""
    with contextlib.suppress(AttributeError):
        e.run_dir = run_dir  # type: ignore[attr-defined]


def run_dir_of(e: BaseException) -> Path | None:
    """The run folder ``note_run_dir`` attached to ``e``, else None."""
    found = getattr(e, "run_dir", None)
    return found if isinstance(found, Path) else None


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A further SIGTERM during the tear-down: nothing to do, the tear-down is already running."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises ``Terminated`` in the main thread. Once one arrived, further SIGTERMs
    are ignored so they cannot cut the tear-down short (a supervisor that will not wait sends SIGKILL).
    Outside the main thread (signal handlers cannot be set there) this does nothing. The previous
    handler is restored on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        # A no-op handler, not SIG_IGN: an ignored signal is inherited across exec, so a process the
        # tear-down starts would ignore the SIGTERM that procs.kill_group sends it; a handled one is reset.
        signal.signal(signal.SIGTERM, _ignore)
        raise Terminated("terminated by SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
