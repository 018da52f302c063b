"""Issue 19's figures, each a ratio measured side by side (A/B alternating) in one run, with its goal.

    .venv/bin/python -m bench.figures --quick          # `make bench`: small sizes, 3 pairs
    .venv/bin/python -m bench.figures                  # the issue's sizes (1M events, scale 200 / 5)
    .venv/bin/python -m bench.figures --base-python /tmp/h-base/.venv/bin/python   # + the old code's drills
    .venv/bin/python -m bench.figures --only seed,rss --base-seeds /tmp/m-base/seeds   # + the old seeds

Per figure: min and median of the ratio over the pairs. Where the old code path is kept switchable
(RESTORE_DRILL_INITDB_CACHE=0, the restore phase's wall time that the RTO used to be) or its seeds/
folder is given (``--base-seeds``, a worktree of that commit) the "before" is measured in the same run;
drills of the code before issue 19 run through ``--base-python`` (a worktree of that commit with its own interpreter). Other work shares the
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from restore_drill.fixtures import binaries
from restore_drill.fixtures.infra import Infra
from restore_drill.fixtures.postgres import EmbeddedPostgres
from restore_drill.seeds.arqonbus.generate import EVENTS_PER_SCALE

from . import seed_bench

Row = tuple[str, list[float], str, str]  # figure, ratios, goal text, note
ROWS: list[Row] = []


def _report(name: str, ratios: list[float], goal: str, note: str = "") -> None:
    ROWS.append((name, ratios, goal, note))
    print(f"  {name}: min {min(ratios):.2f}  median {statistics.median(ratios):.2f}  (goal {goal}) {note}",
          flush=True)


# -- seeding ----------------------------------------------------------------------------------------
def bench_seeding(infra: Infra, scale: int, pairs: int, base_seeds: Path | None) -> None:
    n = EVENTS_PER_SCALE * scale
    print(f"seeding ArqonBus scale {scale} ({n:,} events), {pairs} pairs: ours / server-side"
          + (f" / before ({base_seeds})" if base_seeds else "") + " alternating (bench.seed_bench)")
    runs = seed_bench.compare(infra, scale, pairs, base_seeds)
    for side, tag in (("ours", "after"), ("old", "before")):
        if runs[side]:
            pairs_ = list(zip(runs[side], runs["server"], strict=True))
            _report(f"seeding {n:,} events: seed (events + DLQ + projections) vs server-side INSERT ... SELECT "
                    f"of the events (rate), {tag}", [s.wall / o.wall for o, s in pairs_], ">= 1.0x")
            _report(f"seeding, same: server-side CPU / ours (backend + client CPU seconds), {tag}",
                    [s.cpu / o.cpu for o, s in pairs_], ">= 1.0x",
                    "(ours backend/client s: " + ", ".join(f"{o.backend_cpu:.1f}/{o.client_cpu:.1f}" for o, _ in pairs_)
                    + "; server-side backend s: " + ", ".join(f"{s.backend_cpu:.1f}" for _, s in pairs_) + ")")


# -- servers and databases --------------------------------------------------------------------------
def _start_and_connect(cache: bool) -> float:
    os.environ["RESTORE_DRILL_INITDB_CACHE"] = "1" if cache else "0"
    try:
        t0 = time.perf_counter()
        pg = EmbeddedPostgres(binaries.select(None))
        pg.start()  # initdb (or the cached copy) + postgres + the first connection
        took = time.perf_counter() - t0
        pg.stop()
        return took
    finally:
        os.environ.pop("RESTORE_DRILL_INITDB_CACHE", None)


def bench_server_start(pairs: int) -> None:
    print(f"server start, {pairs} pairs: cached data directory vs bare initdb + start + connect")
    _start_and_connect(True)  # builds the cache once; not timed
    ratios = []
    for _ in range(pairs):
        bare = _start_and_connect(False)
        cached = _start_and_connect(True)
        ratios.append(cached / bare)
    _report("server start (cached initdb) vs bare initdb + start + connect", ratios, "<= 0.5x",
            "(the moto and aws --version parts of a session are not in this figure)")


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
    _report(f"all database checks vs pg_restore, {n:,} rows, invariants evaluated",
            [r["total_s"] / r["restore_s"] for r in got], "<= 0.5x", f"(slowest check: {slow[0]} {slow[1]:.2f} s)")
    # As a drill runs them: the invariants' source result reused where digests and schema prove the data equal
    # (checks.registry.reused_result); "NOT REUSED" runs count their evaluated time.
    reused = [r["statuses"]["projector_consistency (reused)"] != "NOT REUSED" for r in got]
    _report(f"all database checks vs pg_restore, {n:,} rows, as a drill runs them",
            [(r["total_reused_s"] if ok else r["total_s"]) / r["restore_s"] for r, ok in zip(got, reused, strict=True)],
            "<= 0.5x", f"(invariant result reused in {sum(reused)} of {len(got)} runs)")


def bench_verify(n: int, pairs: int, work: Path) -> None:
    print(f"verify-backup per version vs bare pg_restore, {n:,} rows (bench.verify_bench; goal <= 1.1x):")
    out = work / "verify.json"
    r = subprocess.run([sys.executable, "-m", "bench.verify_bench", "--rows", str(n), "--pairs", str(pairs),
                        "--json", str(out)], capture_output=True, text=True, timeout=3600,
                       cwd=Path(__file__).resolve().parent.parent)
    print(textwrap.indent((r.stdout + r.stderr[-400:]).strip(), "    "), flush=True)
    got = json.loads(out.read_text()) if out.exists() else []
    for major in sorted({g["major"] for g in got}):
        mine = [g for g in got if g["major"] == major and g["side"] == "now"]
        floor = [(g["bare_s"] + g["floor_evidence_s"]) / g["bare_s"] for g in mine if g["floor_evidence_s"] is not None]
        _report(f"verify-backup PG{major} vs bare pg_restore, {n:,} rows", [g["verify_s"] / g["bare_s"] for g in mine],
                "<= 1.1x", f"(floor {statistics.median(floor):.2f}x)" if floor else "")


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
    if sys.argv[5]:  # the code before: its seeds package instead of today's
        import restore_drill.seeds as pkg
        pkg.__path__[:] = [sys.argv[5]]
    helper_kb = 0
    with psycopg.connect(url, autocommit=True) as conn:
        if system == "arqonbus":
            from restore_drill.seeds.arqonbus import generate as g
            from restore_drill.seeds.arqonbus.schema import apply_migration
            apply_migration(conn)
            n_events = g.EVENTS_PER_SCALE * scale
            if n_events >= getattr(g, "CHILD_MIN_EVENTS", float("inf")):  # what seed() does, with the peak
                _, helper_kb = g.load_in_child(conn, 1234, g.STREAMS_PER_SCALE * scale, n_events)
            else:
                g.seed(conn, seed=1234, scale=scale)
        else:
            from restore_drill.seeds.pegasus.dataset import apply_schema
            from restore_drill.seeds.pegasus.generate import seed
            apply_schema(conn)
            s3 = boto3.client("s3", endpoint_url=os.environ["FIG_S3_URL"], region_name="us-east-1",
                              aws_access_key_id=os.environ["FIG_S3_KEY"], aws_secret_access_key=os.environ["FIG_S3_SECRET"])
            seed(conn, s3, os.environ["FIG_S3_BUCKET"], "p" + sys.argv[4], seed=1234, scale=scale)
    # VmHWM, not ru_maxrss: Linux carries the forking parent's peak into ru_maxrss across execve
    hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0].split()[1]
    print(int(hwm) / 1024, helper_kb / 1024)
''')


def bench_rss(infra: Infra, scales: dict[str, list[int]], base_python: str | None, base_seeds: Path | None) -> None:
    print("peak RSS of seeding (child process, MB; 'generator' = ArqonBus's generator process from "
          "CHILD_MIN_EVENTS on)")
    ep = infra.s3.endpoint
    bucket = infra.s3.create_bucket("rd-figures")
    env = {**os.environ, "FIG_S3_URL": ep.url, "FIG_S3_KEY": ep.access_key, "FIG_S3_SECRET": ep.secret_key,
           "FIG_S3_BUCKET": bucket.name}
    pythons = [("after", sys.executable, "")] + ([("before", sys.executable, str(base_seeds))] if base_seeds else
                                                 [("before", base_python, "")] if base_python else [])
    n = 0
    try:
        for system, sc in scales.items():
            for tag, py, old_seeds in pythons:
                got = []
                for s in sc:
                    db = infra.database()
                    n += 1
                    r = subprocess.run([py, "-c", _RSS_CHILD, system, str(s), db.url, str(n), old_seeds], env=env,
                                       capture_output=True, text=True, timeout=3600, cwd=tempfile.gettempdir())
                    infra.drop(db)
                    if r.returncode == 0:
                        own, helper = (float(x) for x in r.stdout.split()[-2:])
                        got.append(f"scale {s}: {own:.0f}" + (f" (generator {helper:.0f})" if helper else ""))
                    else:
                        got.append(f"scale {s}: failed ({r.stderr.strip()[-200:]})")
                print(f"  {system} {tag}: " + ", ".join(got), flush=True)
    finally:
        infra.s3.delete_bucket(bucket)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (make bench)")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--base-python", help="interpreter whose restore_drill is the code before issue 19")
    ap.add_argument("--base-seeds", type=Path, help="seeds/ folder of the code before (seed and rss rows), "
                    "e.g. a worktree: git worktree add /tmp/m-base c7bcdc9 -> /tmp/m-base/seeds")
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
        steps = [("seed", lambda: bench_seeding(infra, events // EVENTS_PER_SCALE, args.pairs, args.base_seeds)),
                 ("start", lambda: bench_server_start(args.pairs)),
                 ("db", lambda: bench_database(infra, args.pairs)),
                 ("checks", lambda: bench_checks(infra, events, args.pairs, Path(work))),
                 ("verify", lambda: bench_verify(events, args.pairs, Path(work))),
                 ("drills", lambda: bench_drills(drills, args.pairs, args.base_python, Path(work))),
                 ("rss", lambda: bench_rss(infra, scales, args.base_python, args.base_seeds))]
        for key, fn in steps:
            if key in only:
                fn()
    print("\nsummary (ratio min / median, goal)")
    for name, ratios, goal, note in ROWS:
        print(f"| {name} | {min(ratios):.2f} / {statistics.median(ratios):.2f} | {goal} | {note} |")


if __name__ == "__main__":
    main()
