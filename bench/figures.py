"""Issue 19's figures, each a ratio measured side by side (A/B alternating) in one run, with its goal.

    .venv/bin/python -m bench.figures --quick          # `make bench`: small sizes, 3 pairs
    .venv/bin/python -m bench.figures                  # the issue's sizes (1M events, scale 200 / 5)
    .venv/bin/python -m bench.figures --base-python /tmp/h-base/.venv/bin/python   # + the old code's drills

Per figure: min and median of the ratio over the pairs. Where the old code path is kept switchable
(the QueuedLibpqWriter COPY below, RESTORE_DRILL_INITDB_CACHE=0, the restore phase's wall time that the
RTO used to be) the "before" is measured in the same run; drills of the code before issue 19 run
through ``--base-python`` (a worktree of that commit with its own interpreter). Other work shares the
machine: read the min (least disturbed) before the median.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from restore_drill.fixtures import binaries
from restore_drill.fixtures.infra import Infra
from restore_drill.fixtures.postgres import EmbeddedPostgres
from restore_drill.seeds import arqonbus
from restore_drill.seeds._copy import bulk_load, copy_lines, write_chunks
from restore_drill.seeds.arqonbus.generate import EVENT_COLUMNS, EventGenerator
from restore_drill.seeds.arqonbus.schema import PROJECTOR_TABLES

from .seed_bench import EVENTS_PER_STREAM, SERVER_SIDE

Row = tuple[str, list[float], str, str]  # figure, ratios, goal text, note
ROWS: list[Row] = []


def _report(name: str, ratios: list[float], goal: str, note: str = "") -> None:
    ROWS.append((name, ratios, goal, note))
    print(f"  {name}: min {min(ratios):.2f}  median {statistics.median(ratios):.2f}  (goal {goal}) {note}",
          flush=True)


# -- seeding ----------------------------------------------------------------------------------------
def _old_copy_lines(conn: psycopg.Connection, table: str, columns: Iterable[str], lines: Iterable[str]) -> int:
    """The COPY path before issue 19: a QueuedLibpqWriter thread, indexes in place, no FREEZE."""
    schema, name = table.split(".", 1)
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(schema, name),
                                                      sql.SQL(", ").join(sql.Identifier(c) for c in columns))
    with conn.cursor() as cur, cur.copy(stmt, writer=QueuedLibpqWriter(cur)) as cp:
        return write_chunks(cp, lines)


def _fresh(infra: Infra) -> tuple[Any, psycopg.Connection]:
    db = infra.database()
    conn = db.connect()
    arqonbus.apply_migration(conn)
    conn.execute("CHECKPOINT")  # neither run pays for the other's dirty buffers
    conn.commit()
    return db, conn


def bench_seeding(infra: Infra, n: int, pairs: int) -> None:
    streams = max(1, n // EVENTS_PER_STREAM)
    print(f"seeding {n:,} events ({streams:,} streams), {pairs} pairs: new / old / server-side alternating")

    def new(conn: psycopg.Connection) -> None:
        with bulk_load(conn, PROJECTOR_TABLES) as freeze:
            copy_lines(conn, arqonbus.EVENTS, EVENT_COLUMNS, EventGenerator(1234, streams, n).event_lines(),
                       freeze=freeze)

    def old(conn: psycopg.Connection) -> None:
        with conn.transaction():
            _old_copy_lines(conn, arqonbus.EVENTS, EVENT_COLUMNS, EventGenerator(1234, streams, n).event_lines())

    def server(conn: psycopg.Connection) -> None:
        with conn.transaction():
            conn.execute(SERVER_SIDE, {"n": n, "streams": streams})  # type: ignore[arg-type]

    new_r, old_r = [], []
    for _ in range(pairs):
        t = {}
        for label, fn in (("new", new), ("server", server), ("old", old)):
            db, conn = _fresh(infra)
            t0 = time.perf_counter()
            fn(conn)
            t[label] = time.perf_counter() - t0
            conn.close()
            infra.drop(db)
        new_r.append(t["server"] / t["new"])  # rate ratio = inverse time ratio
        old_r.append(t["server"] / t["old"])
    _report("seeding: generator + COPY vs server-side INSERT ... SELECT (rate), after", new_r, ">= 1.0x")
    _report("seeding: same, before (QueuedLibpqWriter, indexes in place)", old_r, ">= 1.0x")


# -- servers and databases --------------------------------------------------------------------------
def _start_and_connect(cache: bool, spares: bool = True) -> tuple[float, float]:
    """(start, stop) seconds of one embedded server: initdb or the cached cluster (a spare moved into place,
    or copied at start when ``spares`` is off) + postgres + the first connection; the stop makes the next
    spare when the start used the cache."""
    os.environ["RESTORE_DRILL_INITDB_CACHE"] = "1" if cache else "0"
    os.environ["RESTORE_DRILL_INITDB_SPARES"] = "1" if spares else "0"
    try:
        t0 = time.perf_counter()
        pg = EmbeddedPostgres(binaries.select(None))
        pg.start()
        took = time.perf_counter() - t0
        t1 = time.perf_counter()
        pg.stop()
        return took, time.perf_counter() - t1
    finally:
        os.environ.pop("RESTORE_DRILL_INITDB_CACHE", None)
        os.environ.pop("RESTORE_DRILL_INITDB_SPARES", None)


def bench_server_start(pairs: int) -> None:
    print(f"server start, {pairs} rounds: bare initdb / cached cluster copied at start / spare moved into place")
    _start_and_connect(True)  # builds the cache (and a spare) once; not timed
    spare: list[float] = []
    copied: list[float] = []
    stop_spare: list[float] = []
    for _ in range(pairs):
        bare, b_stop = _start_and_connect(False)
        c, _ = _start_and_connect(True, spares=False)
        s, s_stop = _start_and_connect(True)  # moves in the spare the previous round's stop made
        spare.append(s / bare)
        copied.append(c / bare)
        stop_spare.append(s_stop - b_stop)
    _report("server start (cached initdb, spare copy) vs bare initdb + start + connect", spare, "<= 0.5x",
            f"(the copy moved to the previous stop: +{statistics.median(stop_spare) * 1000:.0f} ms there, "
            "overlapped with report writing in a run)")
    _report("server start, cached initdb copied at start (before: RESTORE_DRILL_INITDB_SPARES=0)", copied,
            "<= 0.5x", "(the moto and aws --version parts of a session are not in these figures)")


def bench_database(infra: Infra, pairs: int) -> None:
    srv = infra.postgres()
    took = []
    for _ in range(max(pairs, 5)):
        t0 = time.perf_counter()
        db = srv.create_database()
        with db.connect() as c:
            c.execute("SELECT 1")
        took.append(time.perf_counter() - t0)
        srv.drop_database(db)
    _report("per-drill database (CREATE DATABASE + connect) / 0.1 s", [t / 0.1 for t in took], "<= 1.0 (0.1 s)")


# -- checks and verify-backup (their own benches, reported here as ratios) ---------------------------
def bench_checks(infra: Infra, n: int, pairs: int, work: Path) -> None:
    from .checks_bench import bench_size

    print(f"database checks vs the pg_restore they verify, {n:,} rows, {pairs} runs (bench.checks_bench)")
    major = binaries.select(None).major
    got = [bench_size(infra, major, n, work) for _ in range(pairs)]
    slow = max(got[-1]["timings"].items(), key=lambda kv: kv[1])
    _report(f"all database checks vs pg_restore, {n:,} rows", [r["total_s"] / r["restore_s"] for r in got],
            "<= 0.5x", f"(slowest check: {slow[0]} {slow[1]:.2f} s)")


def bench_verify(n: int) -> None:
    print(f"verify-backup per version vs bare pg_restore, {n:,} rows (bench.verify_bench; goal <= 1.1x):")
    r = subprocess.run([sys.executable, "-m", "bench.verify_bench", "--rows", str(n)], capture_output=True,
                       text=True, timeout=3600, cwd=Path(__file__).resolve().parent.parent)
    print(textwrap.indent((r.stdout + r.stderr[-400:]).strip(), "    "), flush=True)


# -- drills -----------------------------------------------------------------------------------------
def _run_drill(python: str, name: str, scale: int, work: Path) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="rd-fig-", dir=work))
    cmd = [python, "-c", "import sys; from restore_drill.cli import main; sys.argv[0] = 'restore-drill'; main()",
           "run", name, "--scale", str(scale), "--report-dir", str(out), "--quiet"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=out)
    wall = time.perf_counter() - t0
    reports = sorted(out.glob("*/report.json"))
    if not reports:
        raise RuntimeError(f"{name} with {python}: no report ({r.stderr.strip()[-400:]})")
    d = json.loads(reports[-1].read_text())["drills"][0]
    steps = d["steps"]
    restore = sum(s["duration_s"] for s in steps if s["phase"] == "restore")
    procedure = sum(s["duration_s"] for s in steps if s.get("kind") != "hook")
    phases = {p["name"]: p["duration_s"] for p in d["phases"]}
    seed = sum(s["duration_s"] for s in steps if s.get("kind") == "hook" and s["phase"] == "seed")
    return {"status": d["status"], "wall": wall, "drill_s": d["duration_s"], "restore_steps": restore,
            "procedure": procedure, "rto": d["metrics"].get("rto_s"), "checks": phases.get("checks", 0.0),
            "restore_phase": phases.get("restore", 0.0), "seed_hook": seed}


def bench_drills(drills: list[tuple[str, int]], pairs: int, base_python: str | None, work: Path) -> None:
    for name, scale in drills:
        print(f"drill {name} scale {scale}, {pairs} pairs" + (" (new / old alternating)" if base_python else ""))
        runs: dict[str, list[dict[str, Any]]] = {"new": [], "old": []}
        for _ in range(pairs):
            runs["new"].append(_run_drill(sys.executable, name, scale, work))
            if base_python:
                runs["old"].append(_run_drill(base_python, name, scale, work))
        for label, rs in runs.items():
            if not rs:
                continue
            verdicts = sorted({r["status"] for r in rs})
            tag = "after" if label == "new" else "before"
            _report(f"{name} {scale}: whole drill wall / the procedure's own steps, {tag}",
                    [r["drill_s"] / r["procedure"] for r in rs], "<= 1.5x", f"verdicts {verdicts}")
            _report(f"{name} {scale}: the program's wall (start to exit) / the procedure's own steps, {tag}",
                    [r["wall"] / r["procedure"] for r in rs], "-", "(+ interpreter start, tool probes, report, stop)")
            _report(f"{name} {scale}: drill wall without the seed hook / the procedure's own steps, {tag}",
                    [(r["drill_s"] - r["seed_hook"]) / r["procedure"] for r in rs], "-",
                    "(the seed hook: generating + loading data, the manifest, the source's findings)")
            _report(f"{name} {scale}: recorded RTO / restore steps, {tag}",
                    [r["rto"] / r["restore_steps"] for r in rs if r["rto"] and r["restore_steps"]] or [float("nan")],
                    "1.0 (the restore steps only)")
            _report(f"{name} {scale}: checks phase / restore steps, {tag}",
                    [r["checks"] / r["restore_steps"] for r in rs if r["restore_steps"]] or [float("nan")], "<= 0.5x")
        if not base_python:
            # The old RTO was the restore phase's wall time: in the same report as the new one.
            _report(f"{name} {scale}: restore phase wall (the RTO before) / restore steps",
                    [r["restore_phase"] / r["restore_steps"] for r in runs["new"] if r["restore_steps"]], "1.0")


# -- memory -----------------------------------------------------------------------------------------
_RSS_CHILD = textwrap.dedent('''
    import os, sys
    import boto3, psycopg
    system, scale, url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with psycopg.connect(url, autocommit=True) as conn:
        if system == "arqonbus":
            from restore_drill.seeds.arqonbus.generate import seed
            from restore_drill.seeds.arqonbus.schema import apply_migration
            apply_migration(conn)
            seed(conn, seed=1234, scale=scale)
        else:
            from restore_drill.seeds.pegasus.dataset import apply_schema
            from restore_drill.seeds.pegasus.generate import seed
            apply_schema(conn)
            s3 = boto3.client("s3", endpoint_url=os.environ["FIG_S3_URL"], region_name="us-east-1",
                              aws_access_key_id=os.environ["FIG_S3_KEY"], aws_secret_access_key=os.environ["FIG_S3_SECRET"])
            seed(conn, s3, os.environ["FIG_S3_BUCKET"], "p" + sys.argv[4], seed=1234, scale=scale)
    # VmHWM, not ru_maxrss: Linux carries the forking parent's peak into ru_maxrss across execve
    hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0].split()[1]
    print(int(hwm) / 1024)
''')


def bench_rss(infra: Infra, scales: dict[str, list[int]], base_python: str | None) -> None:
    print("peak RSS of seeding (child process, MB)")
    ep = infra.s3.endpoint
    bucket = infra.s3.create_bucket("rd-figures")
    env = {**os.environ, "FIG_S3_URL": ep.url, "FIG_S3_KEY": ep.access_key, "FIG_S3_SECRET": ep.secret_key,
           "FIG_S3_BUCKET": bucket.name}
    pythons = [("after", sys.executable)] + ([("before", base_python)] if base_python else [])
    n = 0
    try:
        for system, sc in scales.items():
            for tag, py in pythons:
                got = []
                for s in sc:
                    db = infra.database()
                    n += 1
                    r = subprocess.run([py, "-c", _RSS_CHILD, system, str(s), db.url, str(n)], env=env,
                                       capture_output=True, text=True, timeout=3600, cwd=tempfile.gettempdir())
                    infra.drop(db)
                    got.append(f"scale {s}: {float(r.stdout.split()[-1]):.0f}" if r.returncode == 0
                               else f"scale {s}: failed ({r.stderr.strip()[-200:]})")
                print(f"  {system} {tag}: " + ", ".join(got), flush=True)
    finally:
        infra.s3.delete_bucket(bucket)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (make bench)")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--base-python", help="interpreter whose restore_drill is the code before issue 19")
    ap.add_argument("--only", default="seed,start,db,checks,verify,drills,rss", help="comma list of figure groups")
    args = ap.parse_args()
    only = set(args.only.split(","))
    quick = args.quick
    events = 100_000 if quick else 1_000_000
    drills = [("arqonbus-table-restore", 20 if quick else 200), ("pegasus-storage-loss", 1 if quick else 5)]
    scales = {"arqonbus": [10, 40, 160] if quick else [50, 200, 800], "pegasus": [1, 2, 4] if quick else [2, 5, 20]}
    print(f"restore-drill figures (issue 19), {'quick' if quick else 'full'}, {args.pairs} pairs; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work may be running)")
    steps: list[tuple[str, Callable[[], None]]] = []
    with Infra() as infra, tempfile.TemporaryDirectory(prefix="rd-figures-") as work:
        steps = [("seed", lambda: bench_seeding(infra, events, args.pairs)),
                 ("start", lambda: bench_server_start(args.pairs)),
                 ("db", lambda: bench_database(infra, args.pairs)),
                 ("checks", lambda: bench_checks(infra, events, args.pairs, Path(work))),
                 ("verify", lambda: bench_verify(events)),
                 ("drills", lambda: bench_drills(drills, args.pairs, args.base_python, Path(work))),
                 ("rss", lambda: bench_rss(infra, scales, args.base_python))]
        for key, fn in steps:
            if key in only:
                fn()
    print("\nsummary (ratio min / median, goal)")
    for name, ratios, goal, note in ROWS:
        print(f"| {name} | {min(ratios):.2f} / {statistics.median(ratios):.2f} | {goal} | {note} |")


if __name__ == "__main__":
    main()
