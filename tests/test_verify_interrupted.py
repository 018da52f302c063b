"""verify-backup interrupted (Ctrl-C, SIGTERM) while it still reads the archive: the run's own report says
during what (not the CLI's "before the run started" fallback), its start is the command's start and the
archive read is a recorded phase; an uninterrupted run counts the read in its duration too."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from restore_drill.fixtures import binaries
from restore_drill.fixtures.environment import libpq_env
from restore_drill.foundation import utcnow
from restore_drill.interrupts import Terminated, run_dir_of
from restore_drill.procs import run
from restore_drill.reports.model import parse_ts
from restore_drill.verify import run as verify_run
from restore_drill.verify import verify_backup
from tests.helpers import scratch_database

MAJOR = 16
EARLY = "2026-01-01T00:00:00Z"  # a start well before the call: the report must keep it


@pytest.fixture(scope="module")
def small_dump(drill_infra: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("interrupted") / "small.dump"
    with scratch_database(drill_infra, MAJOR, "CREATE TABLE public.t AS SELECT g AS id FROM generate_series(1, 500) g;"
                          ) as db:
        run([binaries.select(MAJOR).tool("pg_dump"), "--format=custom", "--file", path], env=libpq_env(db),
            timeout_s=60, check=True)
    return path


def _verify(path: Path, tmp_path: Path, infra: Any, **kw: Any) -> Any:
    return verify_backup(path, versions=[MAJOR], storage_snapshot=None, manifest=None, system=None,
                         report_dir=tmp_path / "runs", argv=["restore-drill", "verify-backup", str(path)],
                         infra=infra, **kw)


def _written(e: BaseException) -> dict[str, Any]:
    run_dir = run_dir_of(e)
    assert run_dir is not None, "the interrupted run noted no run folder"
    return dict(json.loads((run_dir / "report.json").read_text()))


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, Terminated])
def test_interrupt_while_reading_the_data_blocks_reports_what_was_under_way(
        small_dump: Path, drill_infra: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        interrupt: type[KeyboardInterrupt]) -> None:
    """The user's report: Ctrl-C 4 s into reading a 114 MB archive (pg_restore already in COPY) said
    "interrupted (Ctrl-C) before the run started", started_at = finished_at, duration 0."""
    at: dict[str, str] = {}
    begun: list[Any] = []

    class Prestart(verify_run.Prestart):  # type: ignore[name-defined,misc]
        def __init__(self, *a: Any, **k: Any) -> None:
            super().__init__(*a, **k)
            begun.append(self)

    def read_archive(*a: Any, **k: Any) -> Any:
        deadline = time.monotonic() + 60
        while not (begun and begun[0].started_at) and time.monotonic() < deadline:
            time.sleep(0.01)  # as the user's: pg_restore already running when Ctrl-C came
        at["interrupt"] = utcnow()
        raise interrupt()

    monkeypatch.setattr(verify_run, "Prestart", Prestart)
    monkeypatch.setattr(verify_run, "read_archive", read_archive)
    with pytest.raises(KeyboardInterrupt) as caught:
        _verify(small_dump, tmp_path, drill_infra, started_at=EARLY)
    rep = _written(caught.value)
    assert rep["status"] == "errored"
    assert rep["error"]["type"] == ("Terminated" if interrupt is Terminated else "KeyboardInterrupt")
    msg = rep["error"]["message"]
    assert "during reading the archive's data blocks" in msg, msg
    assert f"pg_restore into PostgreSQL {MAJOR} (begun while the archive was read)" in msg, msg
    assert "before the run started" not in msg
    assert rep["started_at"] == EARLY and parse_ts(rep["started_at"]) < parse_ts(at["interrupt"])
    assert rep["duration_s"] > 0
    [drill] = rep["drills"]
    assert drill["id"] == f"verify-backup[pg{MAJOR}]" and drill["status"] == "errored"
    phases = {p["name"]: p for p in drill["phases"]}
    assert phases["setup"]["status"] == "errored", drill["phases"]  # the archive read, cut short
    assert phases["infra"]["status"] == "passed", drill["phases"]  # its database, made in a thread
    assert "restore" in phases, drill["phases"]  # the restore begun in a thread while the archive was read
    assert list((tmp_path / "runs").glob("*/report.json")) == [run_dir_of(caught.value) / "report.json"]


def test_interrupt_while_reading_the_table_of_contents(small_dump: Path, drill_infra: Any, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def list_archive(*a: Any, **k: Any) -> Any:
        raise KeyboardInterrupt()

    monkeypatch.setattr(verify_run, "list_archive", list_archive)
    with pytest.raises(KeyboardInterrupt) as caught:
        _verify(small_dump, tmp_path, drill_infra)
    rep = _written(caught.value)
    assert rep["status"] == "errored"
    assert "interrupted (Ctrl-C) during reading the archive's header and table of contents" in rep["error"]["message"]
    assert rep["drills"] == []  # no target version was chosen yet: the message is all there is


def test_uninterrupted_report_starts_with_the_command_and_records_the_read(small_dump: Path, drill_infra: Any,
                                                                           tmp_path: Path) -> None:
    report, run_dir = _verify(small_dump, tmp_path, drill_infra, started_at=EARLY)
    assert report.status == "passed", report.drills[0].status_reason
    assert report.started_at == EARLY  # was the moment the archive read had ended
    [drill] = report.drills
    assert drill.phases[0].name == "setup" and drill.phases[0].status == "passed"
    assert [p.name for p in drill.phases[1:]] == ["infra", "restore", "checks"]
    assert json.loads((run_dir / "report.json").read_text())["started_at"] == EARLY


def test_bad_input_leaves_no_empty_run_folder(tmp_path: Path, drill_infra: Any) -> None:
    from restore_drill.errors import BadInput

    empty = tmp_path / "empty.dump"
    empty.write_bytes(b"")
    with pytest.raises(BadInput):
        _verify(empty, tmp_path, drill_infra)
    assert not any((tmp_path / "runs").glob("2*"))  # the CLI writes the errored report for bad input


def test_ctrl_c_to_the_cli_while_pg_restore_runs(drill_infra: Any, tmp_path: Path) -> None:
    """The user's run, through the CLI: SIGINT (what a terminal's Ctrl-C sends) once verify-backup's
    pg_restore is connected. Exit 2, nothing left, and the run's own errored report: what was under way,
    the start before the interrupt, the phases so far (not the "before the run started" fallback)."""
    import os
    import signal

    from tests.safety_support import ProcessWatch, kill, run_cli

    archive = tmp_path / "bigger.dump"
    with scratch_database(drill_infra, MAJOR, "CREATE TABLE public.t AS SELECT g AS id, md5(g::text) AS body "
                                              "FROM generate_series(1, 300000) g;") as db:
        run([binaries.select(MAJOR).tool("pg_dump"), "--format=custom", "--file", archive], env=libpq_env(db),
            timeout_s=120, check=True)
    state: dict[str, Any] = {}

    def connected(pid: int) -> bool:
        try:
            return any(os.readlink(f"/proc/{pid}/fd/{f}").startswith("socket:") for f in os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            return False

    def on_poll(w: ProcessWatch) -> None:
        s = w.find(lambda argv: bool(argv) and Path(argv[0]).name == "pg_restore"
                   and any(a.startswith("--dbname") for a in argv))
        if not state and s is not None and connected(s.pid):
            state["at"] = utcnow()
            kill(w.root, signal.SIGINT)

    run_ = run_cli(["verify-backup", str(archive), "--pg-version", str(MAJOR), "--quiet"], tmp_path, on_poll=on_poll)
    assert state, "verify-backup's pg_restore was never seen"
    assert run_.returncode == 2 and "interrupted (Ctrl-C)" in run_.stderr, run_.describe()
    rep = run_.report()
    assert rep["status"] == "errored" and rep["error"]["type"] == "KeyboardInterrupt", rep["error"]
    assert rep["error"]["message"].startswith("interrupted (Ctrl-C) during "), rep["error"]
    assert "before the run started" not in rep["error"]["message"]
    assert parse_ts(rep["started_at"]) < parse_ts(state["at"]) < parse_ts(rep["finished_at"])
    assert rep["drills"] and all(d["phases"][0]["name"] == "setup" for d in rep["drills"]), rep["drills"]
    assert f"report: {run_.run_dir()}/report.json (errored)" in run_.stderr, run_.describe()
    assert run_.leftover_processes() == [], run_.describe()
    assert run_.leftover_tmp() == []
