"""The live progress display, on a real pseudo-terminal (it is off without one and in CI): a person who
runs `restore-drill verify-backup` or `restore-drill run` sees phases, steps and checks as they finish;
`--quiet` and CI=true keep the terminal to the summary."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest

from restore_drill.fixtures import binaries
from restore_drill.procs import run

CLI = str(Path(__file__).resolve().parents[1] / ".venv/bin/restore-drill")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _on_tty(args: list[str], cwd: Path, *, ci: bool = False, timeout_s: float = 300) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal; return (exit status, what the terminal got)."""
    try:
        master, slave = pty.openpty()
    except OSError as e:  # a sandbox without /dev/ptmx cannot show what a terminal shows
        pytest.skip(f"no pseudo-terminal available here ({e})")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update({"COLUMNS": "160", "TERM": "xterm"}, **({"CI": "true"} if ci else {}))
    proc = subprocess.Popen([CLI, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def small_dump(tmp_path_factory, drill_infra) -> Path:
    db = drill_infra.database()
    try:
        with db.connect(autocommit=True) as c:
            c.execute("CREATE TABLE t (id serial PRIMARY KEY, v text); INSERT INTO t (v) SELECT g::text FROM generate_series(1, 50) g")
        out = tmp_path_factory.mktemp("dump") / "small.dump"
        from restore_drill.checks._util import libpq_env

        run([binaries.select(db.major).tool("pg_dump"), "-Fc", "-f", out], env=libpq_env(db), timeout_s=60, check=True)
        return out
    finally:
        drill_infra.drop(db)


def test_verify_backup_shows_progress_on_a_terminal(small_dump, tmp_path):
    major = binaries.select().major
    code, screen = _on_tty(["verify-backup", str(small_dump), "--pg-version", str(major)], tmp_path)
    assert code == 0, screen
    assert f"verify-backup[pg{major}]" in screen
    for line in ("read", "infra", "restore", "checks"):
        assert f"  {line}" in screen and "passed" in screen, screen
    assert "check passed   row_counts" in screen and "check passed   restore_exit_status" in screen, screen
    assert "verdict: PASSED" in screen


@pytest.mark.parametrize("how", ["--quiet", "CI=true"])
def test_no_progress_with_quiet_or_in_ci(small_dump, tmp_path, how):
    args = ["verify-backup", str(small_dump), "--pg-version", str(binaries.select().major)]
    code, screen = _on_tty(args + (["--quiet"] if how == "--quiet" else []), tmp_path, ci=how == "CI=true")
    assert code == 0, screen
    assert "verdict: PASSED" in screen  # the summary is always printed
    assert "check passed" not in screen and "  restore " not in screen, screen


def test_run_shows_phases_steps_and_checks_on_a_terminal(tmp_path):
    code, screen = _on_tty(["run", "arqonbus-table-restore"], tmp_path)
    assert code == 0, screen
    assert "arqonbus-table-restore[pg16-moto]" in screen
    lines = screen.splitlines()
    # Each runbook phase is announced before its steps, in the order they ran; checks follow.
    heads = [ln.strip() for ln in lines if ln.startswith("  ") and not ln.startswith("   ")]
    order = [h.split()[0] for h in heads]
    assert order[:1] == ["infra"] and order[-1] == "checks", heads
    assert [p for p in order if p in ("setup", "seed", "backup", "disaster", "restore", "verify")] == \
        ["setup", "seed", "backup", "disaster", "restore", "verify"], heads
    assert any("step passed   Restore (Table-Scoped) #1" in ln for ln in lines), screen
    # The spinner names the running step, so a long pg_restore is visibly alive.
    assert "arqonbus-table-restore[pg16-moto]: restore › Restore (Table-Scoped) #1 …" in screen, screen
    assert "check passed   row_counts" in screen, screen
