"""interrupts.sigterm_as_interrupt: SIGTERM raises Terminated (a KeyboardInterrupt, so every Ctrl-C clean-up
path runs); a second SIGTERM during the tear-down does not cut it short; the previous handler comes back.
The end-to-end case (a real CLI process, no leftovers) is tests/test_faults.py::test_sigterm_mid_restore_is_handled_like_ctrl_c."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from restore_drill.interrupts import Terminated, describe, sigterm_as_interrupt


def test_sigterm_raises_terminated_once_and_the_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    torn_down = False
    with sigterm_as_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)  # the handler interrupts this
            pytest.fail("SIGTERM did not interrupt")
        except KeyboardInterrupt as e:
            assert isinstance(e, Terminated) and describe(e) == ("Terminated", "terminated by SIGTERM")
            os.kill(os.getpid(), signal.SIGTERM)  # a second one, mid tear-down: nothing raised
            time.sleep(0.05)
            # a process started during the tear-down still dies of SIGTERM (no inherited SIG_IGN)
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
            child.terminate()
            assert child.wait(timeout=10) == -signal.SIGTERM
            torn_down = True
    assert torn_down and signal.getsignal(signal.SIGTERM) is before
    assert describe(KeyboardInterrupt()) == ("KeyboardInterrupt", "interrupted (Ctrl-C)")


@pytest.mark.parametrize("command", ["run", "verify-backup"])
def test_a_signal_before_the_run_folder_exists_still_leaves_an_errored_report(
        command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """SIGTERM (or Ctrl-C) while options are still being read, before any run folder: the CLI still writes
    an errored report naming the signal, says where, and exits 2 (a CI cancel must leave evidence)."""
    from restore_drill import cli

    def terminated(**_: object) -> None:
        raise Terminated()

    monkeypatch.setattr(cli.cli, "main", terminated)
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--report-dir", str(tmp_path)])
    assert done.value.code == 2
    [report] = tmp_path.glob("*/report.json")
    data = json.loads(report.read_text())
    assert data["status"] == "errored" and data["run_id"] == report.parent.name  # the name on disk
    assert data["error"]["type"] == "Terminated" and "terminated by SIGTERM" in data["error"]["message"]
    err = capsys.readouterr().err
    assert "terminated by SIGTERM" in err and f"{report}" in err and "(errored)" in err
