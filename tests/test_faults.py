"""Faults the harness survives: the verdict is right (errored or failed, naming the cause), the exit status
is 1 or 2, and nothing is left behind: no process the run started (tracked by pid and start time for the
whole run), no rd-* temp dir in the run's private TMPDIR, no process using that TMPDIR, no bucket on the
endpoint it used. Each fault is real: kill -9 of the postmaster while pg_restore is connected, kill -9
of the moto server while `aws s3 cp` restores, a step that sleeps (and ignores SIGTERM), a tmpfs too
small for the run folder, SIGINT (what Ctrl-C sends) and SIGTERM (a CI cancel) to `restore-drill run` mid-restore."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.safety_support import (
    ProcessWatch,
    Seen,
    Sentinel,
    _remove_private_tmpdirs,  # noqa: F401 - autouse clean-up
    is_moto,
    is_postmaster,
    kill,
    run_cli,
    start_sentinel,
    stopped,
)

ROOT = Path(__file__).resolve().parents[1]


def _connected(pid: int) -> bool:
    """The process holds a socket (pg_restore connected to the server, aws talking to S3)."""
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{f}").startswith("socket:") for f in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def _once(match: Any, act: Any) -> tuple[dict[str, Any], Any]:
    """An on_poll hook: the first time a live, connected process matches, run ``act(watch, seen)``."""
    state: dict[str, Any] = {}

    def on_poll(w: ProcessWatch) -> None:
        if state:
            return
        s = w.find(match)
        if s is not None and _connected(s.pid):
            state["target"] = s
            state["result"] = act(w, s)

    return state, on_poll


def _is_restore(argv: list[str]) -> bool:
    return bool(argv) and Path(argv[0]).name == "pg_restore" and any(a.startswith("--dbname") for a in argv)


def _is_restore_transfer(argv: list[str]) -> bool:
    return "s3" in argv and (("cp" in argv and "--recursive" in argv) or ("sync" in argv and "--delete" in argv))


def _no_leftovers(run: Any) -> None:
    assert run.leftover_processes() == [], run.describe()
    assert run.leftover_tmp() == []


def test_postgres_killed_during_restore(tmp_path: Path) -> None:
    def kill_postmaster(w: ProcessWatch, restore: Seen) -> int:
        pm = w.find(is_postmaster)
        assert pm is not None
        with stopped(restore.pid):  # pg_restore is frozen mid-restore while its server is killed
            kill(pm.pid, signal.SIGKILL)
            time.sleep(0.2)
        return pm.pid

    state, on_poll = _once(_is_restore, kill_postmaster)
    # Scale 30 (48k events) keeps pg_restore connected for long enough that a poller on a loaded
    # 2-core machine reliably sees it; at scale 1 the restore can finish between two polls.
    run = run_cli(["run", "arqonbus-table-restore", "--quiet", "--scale", "30"], tmp_path, on_poll=on_poll)
    assert state, "pg_restore was never seen connected"
    rep = run.report()
    d = rep["drills"][0]
    assert run.returncode == 2 and rep["status"] == "errored" and d["status"] == "errored", run.describe()
    assert d["error"]["type"] == "InfraUnavailable"
    assert f"PostgreSQL 16 server (pid {state['result']}) died during the drill" in d["error"]["message"]
    assert "SIGKILL" in d["error"]["message"]
    restore = next(s for s in d["steps"] if s["phase"] == "restore")
    # libpq words the lost server by where the kill caught pg_restore: mid-query ("server closed the
    # connection unexpectedly"), mid-write ("could not send data to server: Broken pipe"), or while
    # connecting ("terminating connection due to unexpected postmaster exit", "Connection reset by
    # peer", "No such file or directory", "Connection refused"). CI saw "reset by peer"; runs under
    # load here saw "unexpected postmaster exit".
    lost = ("server closed the connection", "terminated abnormally", "postmaster exit", "connection reset by peer",
            "broken pipe", "could not send data", "could not receive data", "no such file or directory",
            "connection refused")
    tail = restore["stderr_tail"].lower()
    assert restore["status"] == "failed" and any(m in tail for m in lost), restore["stderr_tail"]
    _no_leftovers(run)


def test_s3_server_stopped_during_restore_sync(tmp_path: Path) -> None:
    def kill_moto(w: ProcessWatch, transfer: Seen) -> int:
        moto = w.find(is_moto)
        assert moto is not None
        with stopped(transfer.pid):
            kill(moto.pid, signal.SIGKILL)
            time.sleep(0.2)
        return moto.pid

    state, on_poll = _once(_is_restore_transfer, kill_moto)
    run = run_cli(["run", "pegasus-full-restore", "--quiet"], tmp_path, on_poll=on_poll)
    assert state, "the restore's aws s3 transfer was never seen connected"
    rep = run.report()
    d = rep["drills"][0]
    assert run.returncode == 2 and d["status"] == "errored", run.describe()
    assert f"moto S3 server (pid {state['result']}) died during the drill" in d["error"]["message"]
    transfer = next(s for s in d["steps"] if "aws s3 cp --recursive" in s["command"])
    # A transfer in flight when the server died is retried against the dead port; which error is the
    # last line depends on the attempt the retries ended on.
    lost = ("Could not connect to the endpoint", "Connection was closed before we received a valid response")
    assert transfer["status"] == "failed" and any(m in transfer["reason"] for m in lost), transfer["reason"]
    # The server holding the buckets is gone with them; nothing else of the run survives it.
    _no_leftovers(run)


def test_hanging_step_is_killed_at_the_step_timeout(tmp_path: Path) -> None:
    marker = "### never returns\n"
    book = (ROOT / "drills/procedures/arqonbus.md").read_text().replace(
        "## Restore (Table-Scoped)\n\n```bash\n",
        f"## Restore (Table-Scoped)\n\n```bash\n{marker}trap '' TERM\nsleep 600\n", 1)
    assert marker in book
    (tmp_path / "hang.md").write_text(book)
    t0 = time.monotonic()
    run = run_cli(["runbook", str(tmp_path / "hang.md"), "--system", "arqonbus", "--binding",
                   str(ROOT / "drills/bindings/arqonbus-corrected.toml"), "--step-timeout", "2", "--quiet"], tmp_path)
    assert time.monotonic() - t0 < 120
    rep = run.report()
    d = rep["drills"][0]
    assert run.returncode == 1 and d["status"] == "failed", run.describe()
    step = next(s for s in d["steps"] if s["phase"] == "restore")
    assert step["status"] == "failed" and step["reason"] == "timed out after 2s and was killed"
    assert 2 <= step["duration_s"] < 15  # SIGTERM is ignored: SIGKILL after the grace period
    assert any(c["name"] == "restore_exit_status" and c["status"] == "failed" for c in d["checks"])
    sleeps = [s for s in run.watch.seen.values() if s.argv[:2] == ["sleep", "600"]]
    assert sleeps and not any(s.alive() for s in sleeps)
    _no_leftovers(run)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 200 KiB tmpfs (we run as root in CI): room for the migration and manifest, not for the dump."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}); the full-disk fault needs root with mount")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk_for_the_run_folder(tmp_path: Path, small_disk: Path) -> None:
    run = run_cli(["run", "arqonbus-table-restore", "--quiet", "--report-dir", str(small_disk)], tmp_path)
    assert run.returncode == 2, run.describe()
    assert "No space left on device" in run.stdout and "--report-dir on another disk" in run.stdout
    fallback = sorted(run.tmpdir.glob("restore-drill-reports/*/report.json"))
    assert len(fallback) == 1, run.describe()
    import json

    rep = json.loads(fallback[0].read_text())
    assert rep["status"] == "errored" and "No space left on device" in rep["error"]["message"]
    d = rep["drills"][0]
    assert d["status"] == "failed"  # the half-written dump is caught, not trusted
    assert any(c["name"] == "backup_artifact" and c["status"] == "failed" for c in d["checks"])
    backup = next(s for s in d["steps"] if s["phase"] == "backup")
    assert "No space left on device" in backup["stderr_tail"]
    assert run.leftover_processes() == []
    assert sorted(str(p) for p in run.tmpdir.glob("rd-*")) == []


def test_sigterm_during_verify_backup_is_handled_like_ctrl_c(tmp_path: Path, drill_infra: Any) -> None:
    """Finding 6 for verify-backup: SIGTERM once its PostgreSQL server is up; errored report, exit 2, the
    server and its data directory gone."""
    from restore_drill.fixtures.environment import libpq_env
    from restore_drill.procs import run as run_proc
    from tests.helpers import scratch_database

    archive = tmp_path / "small.dump"
    with scratch_database(drill_infra, 16, "CREATE TABLE public.t AS SELECT g AS id FROM generate_series(1, 1000) g;"
                          ) as db:
        from restore_drill.fixtures import binaries

        run_proc([binaries.select(16).tool("pg_dump"), "--format=custom", "--file", archive], env=libpq_env(db),
                 timeout_s=60, check=True)

    def sigterm(w: ProcessWatch, postmaster: Seen) -> None:
        kill(w.root, signal.SIGTERM)

    state: dict[str, Any] = {}

    def on_poll(w: ProcessWatch) -> None:
        if not state and (pm := w.find(is_postmaster)) is not None:
            state["target"] = pm
            sigterm(w, pm)

    run = run_cli(["verify-backup", str(archive), "--pg-version", "16", "--quiet"], tmp_path, on_poll=on_poll)
    assert state, "verify-backup's PostgreSQL server was never seen"
    assert run.returncode == 2 and "terminated by SIGTERM" in run.stderr, run.describe()
    rep = run.report()
    assert rep["status"] == "errored" and rep["error"]["type"] == "Terminated", rep["error"]
    assert f"report: {run.run_dir()}/report.json (errored)" in run.stderr, run.describe()
    _no_leftovers(run)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Sentinel]:
    with start_sentinel("faults-pw") as sen:
        yield sen


def _signal_mid_restore(tmp_path: Path, endpoint: Sentinel, sig: int) -> tuple[Any, Seen]:
    """`restore-drill run pegasus-full-restore` against ``endpoint``, sent ``sig`` (to the CLI alone) once the
    restore's aws s3 transfer runs: (the finished CliRun, that transfer)."""
    def send(w: ProcessWatch, transfer: Seen) -> None:
        kill(w.root, sig)

    state, on_poll = _once(_is_restore_transfer, send)
    tag = signal.Signals(sig).name.lower()
    keys = {"RESTORE_DRILL_S3_ACCESS_KEY": f"{tag}-key", "RESTORE_DRILL_S3_SECRET_KEY": f"{tag}-secret"}
    run = run_cli(["run", "pegasus-full-restore", "--quiet", "--s3-backend", "endpoint", "--s3-endpoint",
                   endpoint.endpoint], tmp_path, env_extra=keys, on_poll=on_poll)
    assert state, "the restore's aws s3 transfer was never seen"
    return run, state["target"]


def test_ctrl_c_mid_restore(tmp_path: Path, endpoint: Sentinel) -> None:
    before = endpoint.state()
    # a terminal's Ctrl-C reaches the CLI; its children run in sessions of their own
    run, _ = _signal_mid_restore(tmp_path, endpoint, signal.SIGINT)
    assert run.returncode == 2 and "interrupted" in run.stderr, run.describe()
    rep = run.report()
    assert rep["status"] == "errored" and rep["error"]["type"] == "KeyboardInterrupt"
    assert [d["status"] for d in rep["drills"]] == ["errored"]  # the interrupted drill is in the report
    assert rep["drills"][0]["steps"][-1]["reason"] == "interrupted (Ctrl-C) while this step ran"
    assert f"report: {run.run_dir()}/report.json (errored)" in run.stderr, run.describe()
    _no_leftovers(run)
    _no_credentials(run)
    assert endpoint.state() == before  # its buckets were deleted; the endpoint's own are untouched


def _no_credentials(run: Any) -> None:
    """The private HOME (aws credentials, .s3cfg, rclone.conf) is gone from the run folder."""
    left = [str(p) for p in run.run_dir().rglob("*")
            if p.name in (".home", ".aws", "credentials", ".s3cfg", "rclone.conf")]
    assert left == []


def test_sigterm_mid_restore_is_handled_like_ctrl_c(tmp_path: Path, endpoint: Sentinel) -> None:
    """Tester finding 6: a CI cancel, job timeout or Kubernetes stop sends SIGTERM to the CLI alone. The
    running step's group is killed, buckets and servers go, an errored report says so, exit 2."""
    before = endpoint.state()
    run, transfer = _signal_mid_restore(tmp_path, endpoint, signal.SIGTERM)
    assert run.returncode == 2 and "terminated by SIGTERM" in run.stderr, run.describe()
    rep = run.report()
    assert rep["status"] == "errored" and rep["error"]["type"] == "Terminated"
    assert rep["error"]["message"] == "terminated by SIGTERM; infrastructure was torn down"
    [drill] = rep["drills"]
    last = drill["steps"][-1]  # the steps run so far are kept; the one the signal stopped is named
    assert last["phase"] == "restore" and last["status"] == "errored", last
    assert last["reason"] == "terminated by SIGTERM while this step ran"
    assert any(s["phase"] == "backup" and s["status"] == "passed" for s in drill["steps"])
    assert drill["status"] == "errored" and drill["error"]["message"] == (
        f"terminated by SIGTERM before the drill finished (during step {last['name']!r})")
    assert "restore" in {p["name"] for p in drill["phases"]}
    assert f"report: {run.run_dir()}/report.json (errored)" in run.stderr, run.describe()
    assert not transfer.alive()  # the step's process group was killed
    _no_leftovers(run)
    _no_credentials(run)
    assert endpoint.state() == before
