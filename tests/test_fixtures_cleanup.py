"""Nothing is left running: after a failing test, after -x, and after Ctrl-C, every server the session
started is gone and its temp dir removed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers import SIGINT_DEFAULT, alive

INNER = textwrap.dedent('''
    import json, os, time
    from pathlib import Path

    def test_records_then_fails(pg_database, s3_bucket, drill_infra):
        srv = drill_infra.postgres()
        Path(os.environ["RD_LEFTOVER_FILE"]).write_text(json.dumps(
            {"pids": drill_infra.pids(), "tmp": str(srv.tmpdir)}))
        if os.environ.get("RD_HANG"):
            time.sleep(120)
        assert False, "deliberate failure"

    def test_never_reached():
        pass
''')


def _run_inner(tmp_path: Path, *args: str, hang: bool = False) -> tuple[int, dict]:
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(INNER)
    record = tmp_path / "leftover.json"
    env = {**os.environ, "RD_LEFTOVER_FILE": str(record)}
    if hang:
        env["RD_HANG"] = "1"
    cmd = [*SIGINT_DEFAULT, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", str(test_file), *args]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if hang:
        deadline = time.monotonic() + 60
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    out, _ = proc.communicate(timeout=120)
    assert record.exists(), out
    return proc.returncode, json.loads(record.read_text())


@pytest.mark.parametrize("mode", ["failing-test", "exitfirst", "ctrl-c"])
def test_nothing_left_running(tmp_path: Path, mode: str) -> None:
    if mode == "ctrl-c":
        code, rec = _run_inner(tmp_path, hang=True)
        assert code == 2  # pytest's "interrupted"
    else:
        code, rec = _run_inner(tmp_path, *(["-x"] if mode == "exitfirst" else []))
        assert code == 1
    assert len(rec["pids"]) == 2  # postgres + moto
    deadline = time.monotonic() + 10
    while any(alive(p) for p in rec["pids"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in rec["pids"] if alive(p)] == []
    assert not Path(rec["tmp"]).exists()


def test_a_stuck_postmaster_is_killed_with_every_child_in_a_session_of_its_own() -> None:
    """PostgreSQL's postmaster children each call setsid() (InitPostmasterChild), so killing the postmaster's
    process group missed them: an archiver stuck in archive_command outlived a SIGKILLed postmaster (seen with
    pgBackRest's archive-push). A stand-in postmaster that ignores SIGINT and forks a child that leads its own
    session: stop_postmaster kills both."""
    from restore_drill.fixtures.postgres.embedded import postmaster_children, stop_postmaster

    code = ("import os, signal, time\n"
            "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "if os.fork() == 0:\n"  # ready only once the child leads its own session (no race with setsid)
            "    os.setsid(); print('ready', flush=True); time.sleep(600); os._exit(0)\n"
            "time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    child = 0
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        [child] = postmaster_children(proc.pid)
        assert os.getsid(child) == child != os.getsid(proc.pid)  # its own session, as a backend's
        stop_postmaster(proc, grace_s=0.5)  # type: ignore[arg-type]
        assert proc.returncode == -signal.SIGKILL
        for _ in range(100):
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            with open(f"/proc/{child}/stat") as f:
                if f.read().split(") ", 1)[1].startswith("Z"):
                    break  # a zombie awaiting its reaper (init): dead
            time.sleep(0.05)
        else:
            os.killpg(child, signal.SIGKILL)
            raise AssertionError(f"child {child} of the stopped postmaster was still running")
    finally:
        for group in (proc.pid, *(postmaster_children(proc.pid) if proc.poll() is None else [])):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        proc.wait()
