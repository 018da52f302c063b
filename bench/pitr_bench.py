"""Point-in-time recovery benchmark: WAL archiving and recovery through the drill vs the same commands bare.

    .venv/bin/python -m bench.pitr_bench [--system arqonbus] [--pg-version 16]

Bare: the PITR procedure's own shell blocks run by plain bash (no runbook runner, no sandbox, no checks)
against a disposable archiving server and the moto bucket, with the same seed, ledger and errant
statement; the restored server started and watched the same way. Drill: ``restore-drill run <system>-pitr``
in-process (Drill.run). Per step the seconds of each and the ratio drill/bare, plus the whole drill's wall
time (the issue's "a drill at the default scale stays under a minute"). Timings on a shared machine
vary run to run; read the ratio, not the last digit.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from restore_drill import catalog
from restore_drill.config import DrillConfig
from restore_drill.disasters.bad_statement import run_statement
from restore_drill.disasters.interface import DisasterContext
from restore_drill.engine import Drill
from restore_drill.events import EventBus
from restore_drill.fixtures import binaries
from restore_drill.fixtures.environment import bind
from restore_drill.fixtures.infra import Infra
from restore_drill.pitr import ledger, recovery
from restore_drill.pitr.drill import PitrOptions, procedure_files
from restore_drill.pitr.server import PitrHost
from restore_drill.runbook import parse_runbook
from restore_drill.seeds.hooks import hooks_for
from restore_drill.systems import resolve_system

TIMED = ("Archive the Current WAL", "Restore the Base Backup", "Configure Recovery", "Start the Restored Server")


def bare(infra: Infra, system: str, major: int | None, work: Path) -> dict[str, float]:
    """The procedure's blocks run by bash directly; returns seconds per timed step (and the base backup)."""
    sysdef = resolve_system(system)
    bins = binaries.select(major)
    rb, _ = procedure_files(system)
    book = parse_runbook(rb.read_text(), str(rb))
    bucket = infra.bucket(f"{system}-pitr-bench")
    live = infra.bucket(system) if sysdef.has_storage else bucket
    out: dict[str, float] = {}
    host = PitrHost(bins, infra.s3.endpoint, restore_dir=(work / "pgdata-restore").resolve())
    try:
        primary = host.start_primary()
        with psycopg.connect(primary.database().url, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{system}"')
        db = primary.database(system)
        env = bind(db=db, client_bins=bins, workdir=work, s3=infra.s3.endpoint, bucket=live.name,
                   backup_bucket=bucket.name, prefix=sysdef.storage_prefix or "data").as_env()
        env.update({"RESTORE_PGDATA": str(host.restore_dir), "WAL_PREFIX": f"{system}-pitr/wal",
                    "BASE_PREFIX": f"{system}-pitr/base"})
        if system == "arqonbus":
            from restore_drill.seeds.arqonbus import MIGRATION_FILE, MIGRATION_RELPATH

            (work / MIGRATION_RELPATH).parent.mkdir(parents=True, exist_ok=True)
            (work / MIGRATION_RELPATH).write_bytes(MIGRATION_FILE.read_bytes())

        def block(heading: str) -> float:
            sec = book.find(heading)[0]
            t0 = time.monotonic()
            for st in sec.shell_steps:
                done = subprocess.run(["bash", "-c", st.text], env=env, cwd=work, capture_output=True, text=True,
                                      timeout=600)
                if done.returncode != 0:
                    raise SystemExit(f"bare {heading!r} failed: {done.stderr.strip()[-400:]}")
            return time.monotonic() - t0

        if system == "arqonbus":
            block("Migration Apply")
        block("WAL Archiving")
        with db.connect(autocommit=True) as conn:
            hooks_for(sysdef).load(conn, live.endpoint.client(), live.name, sysdef.storage_prefix, seed=1234, scale=1)
        w = ledger.LedgerWriter(db, 0.005)
        w.start()
        out["Base Backup"] = block("Base Backup")
        w.wait_for(40)
        rec = run_statement(DisasterContext(db=db, tables=list(sysdef.tables or ()) or [], seed=1234), "delete",
                            hold=w.pause())
        w.wait_for(20)
        w.stop()
        env.update(recovery.RecoveryTarget("time", rec.details["began_at"], True).variables())
        for h in TIMED[:-1]:
            out[h] = block(h)
        t0 = time.monotonic()
        outcome = recovery.watch(host.start_restored())
        out[TIMED[-1]] = time.monotonic() - t0
        if outcome.state != "promoted":
            raise SystemExit(f"bare recovery ended {outcome.state}: {outcome.fatal}")
    finally:
        host.close()
        for b in {bucket.name: bucket, live.name: live}.values():
            infra.s3.delete_bucket(b)
    return out


def drill(infra: Infra, system: str, major: int | None, work: Path) -> tuple[dict[str, float], float, Any]:
    spec = catalog.get(f"{system}-pitr")
    d = Drill(spec, DrillConfig(pg_version=major, report_dir=work), infra, EventBus(), work)
    d.pitr_options = PitrOptions()  # type: ignore[attr-defined]
    t0 = time.monotonic()
    rep = d.run()
    wall = time.monotonic() - t0
    steps = {s.name.rsplit(" #", 1)[0]: float(s.duration_s or 0) for s in rep.steps}
    return steps, wall, rep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--system", default="arqonbus", choices=("arqonbus", "pegasus"))
    ap.add_argument("--pg-version", type=int, default=None)
    a = ap.parse_args()
    with Infra.from_config(DrillConfig(pg_version=a.pg_version)) as infra, \
            tempfile.TemporaryDirectory(prefix="rd-pitr-bench-") as tmp:
        (Path(tmp) / "bare").mkdir()
        (Path(tmp) / "drill").mkdir()
        b = bare(infra, a.system, a.pg_version, Path(tmp) / "bare")
        d, wall, rep = drill(infra, a.system, a.pg_version, Path(tmp) / "drill")
    print(f"{a.system}-pitr on PostgreSQL {binaries.select(a.pg_version).version}: drill {rep.status} in {wall:.1f}s "
          f"wall (data-loss window {rep.metrics.get('data_loss_window_ms')} ms, "
          f"{rep.metrics.get('ledger_transactions')} ledger transactions)")
    print(f"{'step':<28}{'bare s':>9}{'drill s':>9}{'ratio':>7}")
    tb = td = 0.0
    for name in ("Base Backup", *TIMED):
        bs, ds = b.get(name, 0.0), d.get(name, 0.0)
        tb, td = tb + bs, td + ds
        print(f"{name:<28}{bs:>9.2f}{ds:>9.2f}{(ds / bs if bs else float('nan')):>7.2f}")
    print(f"{'archive + backup + restore':<28}{tb:>9.2f}{td:>9.2f}{(td / tb if tb else float('nan')):>7.2f}")


if __name__ == "__main__":
    main()
