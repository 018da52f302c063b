"""Parallel runs on one machine never share a database, bucket, port or folder.

Two `restore-drill run` processes start at once with the same TMPDIR and the same --report-dir (what two
cron jobs on one host would have), and `pytest -n 2` runs two Pegasus drills on two workers. Their
reports and the processes they started (watched for the whole run) must show distinct databases,
buckets, moto ports, Postgres data/socket folders, working folders and run folders, and both pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.safety_support import (
    ProcessWatch,
    _remove_private_tmpdirs,  # noqa: F401 - autouse clean-up
    cli_env,
    finish_cli,
    is_moto,
    is_postmaster,
    listening_ports,
    private_tmpdir,
    start_cli,
)

ROOT = Path(__file__).resolve().parents[1]


class Infra:
    """What a watched run started: moto ports and Postgres data folders, per process."""

    def __init__(self) -> None:
        self.moto_ports: dict[int, set[int]] = {}
        self.pg_dirs: dict[int, str] = {}

    def __call__(self, w: ProcessWatch) -> None:
        for s in list(w.seen.values()):
            if is_moto(s.argv) and not self.moto_ports.get(s.pid):
                self.moto_ports[s.pid] = listening_ports(s.pid)
            elif is_postmaster(s.argv) and s.pid not in self.pg_dirs:
                self.pg_dirs[s.pid] = s.argv[s.argv.index("-D") + 1]

    def ports(self) -> set[int]:
        return set().union(*self.moto_ports.values()) if self.moto_ports else set()


def _targets(rep: dict[str, Any]) -> tuple[set[str], set[str]]:
    dbs = {d["target"]["database"] for d in rep["drills"]}
    buckets = {d["target"]["bucket"] for d in rep["drills"] if d["target"]["bucket"]}
    return dbs, buckets


def test_two_cli_runs_at_once_share_nothing(tmp_path: Path) -> None:
    shared_tmp = private_tmpdir(tmp_path, "shared")
    reports = tmp_path / "reports"
    started = time.monotonic()
    runs = []
    for name in ("a", "b"):
        seen = Infra()
        proc, watch, _, _ = start_cli(["run", "pegasus-full-restore", "--quiet", "--report-dir", str(reports)],
                                      tmp_path, env_extra={"TMPDIR": str(shared_tmp)}, on_poll=seen, name=name)
        runs.append((proc, watch, seen))
    done = [(finish_cli(p, w, shared_tmp, reports, [], started), seen) for p, w, seen in runs]
    for run, _ in done:
        assert run.returncode == 0, run.describe()
    folders = sorted(p.parent for p in reports.glob("*/report.json"))
    assert len(folders) == 2, [run.describe() for run, _ in done]  # one run folder each, none shared
    reps = [json.loads((f / "report.json").read_text()) for f in folders]
    (dbs_a, b_a), (dbs_b, b_b) = (_targets(r) for r in reps)
    assert dbs_a.isdisjoint(dbs_b) and b_a.isdisjoint(b_b) and len(b_a) == len(b_b) == 1
    endpoints = {r["environment"]["s3"]["endpoint"] for r in reps}
    assert len(endpoints) == 2
    (_, sa), (_, sb) = done
    assert sa.ports() and sb.ports() and sa.ports().isdisjoint(sb.ports())
    assert {f"http://127.0.0.1:{p}" for p in sa.ports() | sb.ports()} >= endpoints
    # (forked backends show the postmaster's command line for a moment: count data folders, not pids)
    assert len(set(sa.pg_dirs.values())) == len(set(sb.pg_dirs.values())) == 1
    assert set(sa.pg_dirs.values()).isdisjoint(sb.pg_dirs.values())
    assert all(Path(d).parent.parent == shared_tmp for d in [*sa.pg_dirs.values(), *sb.pg_dirs.values()])
    works = [next(f.glob("work/*")) for f in folders]
    assert works[0] != works[1] and all(any(w.rglob("*.dump")) for w in works)
    for run, _ in done:
        assert run.leftover_processes() == []
    assert sorted(shared_tmp.glob("rd-*")) == []


def test_pytest_n2_workers_share_nothing(tmp_path: Path) -> None:
    tmp = private_tmpdir(tmp_path, "xdist")
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider",
           "drills/drill_pegasus_full_restore.py", "drills/drill_pegasus_storage_loss.py", f"--drill-report-dir={runs}"]
    seen = Infra()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=cli_env(tmp), text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    watch = ProcessWatch(proc.pid, seen).start()
    try:
        out, _ = proc.communicate(timeout=600)
    finally:
        watch.stop()
    assert proc.returncode == 0, out[-3000:]
    session = next(runs.glob("pytest-*"))
    workers = sorted(p for p in session.iterdir() if (p / "report.json").is_file())
    assert [w.name for w in workers] == ["gw0", "gw1"], out[-2000:]
    reps = [json.loads((w / "report.json").read_text()) for w in workers]
    assert all(len(r["drills"]) == 1 and r["drills"][0]["status"] == "passed" for r in reps)
    (dbs_a, b_a), (dbs_b, b_b) = (_targets(r) for r in reps)
    assert dbs_a.isdisjoint(dbs_b) and b_a.isdisjoint(b_b)
    assert len(seen.moto_ports) == 2 and all(seen.moto_ports.values())
    ports = list(seen.moto_ports.values())
    assert ports[0].isdisjoint(ports[1])
    assert len(set(seen.pg_dirs.values())) == 2
    assert all(next(w.glob("work/*"), None) is not None for w in workers)
    assert json.loads((session / "report.json").read_text())["status"] == "passed"  # merged by the controller
    deadline = time.monotonic() + 10
    while watch.live() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert watch.live() == [] and sorted(tmp.glob("rd-*")) == []
