"""Soak: many consecutive drills in one process must not grow open file descriptors, child processes,
threads or temp dirs.

    .venv/bin/python -m bench.soak --drills 50                       # ArqonBus, a fresh run (servers) each
    .venv/bin/python -m bench.soak --drills 50 --shared-infra        # one server set for all drills
    .venv/bin/python -m bench.soak --drill pegasus-full-restore --drills 20

Each drill is a whole `restore-drill run` in-process (session.run: infrastructure up, drill, report,
infrastructure down) unless --shared-infra. Counts are printed at the start, every --every drills and at
the end; rd-* temp dirs are counted in a private TMPDIR so other processes on the machine do not blur
them. Exits 1 when anything grew or a drill did not pass.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in os.listdir(f"/proc/{p}/task") if os.path.isdir(f"/proc/{p}/task") else []:
            try:
                kids = [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def counts(tmp: Path) -> dict[str, int]:
    return {
        "fds": len(os.listdir("/proc/self/fd")),
        "children": len(_descendants(os.getpid())),
        "threads": threading.active_count(),
        "rd_dirs": len(list(tmp.glob("rd-*"))),
        "rss_mb": int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) // 1024,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--drills", type=int, default=50)
    ap.add_argument("--drill", default="arqonbus-table-restore")
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--shared-infra", action="store_true", help="one Infra (server set) for every drill")
    ap.add_argument("--keep", action="store_true", help="keep the run folders (default: removed at the end)")
    args = ap.parse_args(argv)

    # A private TMPDIR, set before anything creates a temp dir, reachable by the Postgres server user.
    tmp = Path(tempfile.mkdtemp(prefix="rdsoak-", dir="/tmp"))
    tmp.chmod(0o755)
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = None
    reports = tmp / "reports"

    from restore_drill import catalog, session
    from restore_drill.config import resolve
    from restore_drill.fixtures.infra import Infra

    cfg = resolve({"report_dir": str(reports)})
    spec = catalog.get(args.drill)
    infra = Infra() if args.shared_infra else None
    # Warm-up: imports, lazily created clients and caches are not leaks; measure from after one drill.
    session.run([spec], cfg, ["soak", "warm-up"], progress=False, infra=infra)
    start = counts(tmp)
    print(f"soak: {args.drills} x {args.drill} ({'shared infra' if infra else 'fresh infra per run'}), TMPDIR={tmp}")
    print(f"{'drills':>6} {'fds':>5} {'children':>8} {'threads':>7} {'rd_dirs':>7} {'rss_mb':>6} {'s/drill':>8}")
    print(f"{0:>6} {start['fds']:>5} {start['children']:>8} {start['threads']:>7} {start['rd_dirs']:>7} {start['rss_mb']:>6}")
    statuses: dict[str, int] = {}
    t0 = time.monotonic()
    rows = []
    try:
        for i in range(1, args.drills + 1):
            rep, _ = session.run([spec], cfg, ["soak", str(i)], progress=False, infra=infra)
            statuses[rep.status] = statuses.get(rep.status, 0) + 1
            if i % args.every == 0 or i == args.drills:
                c = counts(tmp)
                rows.append(c)
                print(f"{i:>6} {c['fds']:>5} {c['children']:>8} {c['threads']:>7} {c['rd_dirs']:>7} {c['rss_mb']:>6} "
                      f"{(time.monotonic() - t0) / i:>8.2f}", flush=True)
    finally:
        if infra is not None:
            infra.close()
    end = counts(tmp)
    print(f"after close: fds {end['fds']}, children {end['children']}, threads {end['threads']}, rd_dirs {end['rd_dirs']}")
    print(f"verdicts: {statuses}")
    fd_growth = max(r["fds"] for r in rows) - start["fds"]
    print(f"fd growth over {args.drills} drills: {fd_growth:+d} ({max(r['fds'] for r in rows) / start['fds']:.2f}x); "
          f"rss {start['rss_mb']} -> {end['rss_mb']} MB")
    bad = (fd_growth > 3 or end["children"] > (start["children"] if infra else 0) or end["rd_dirs"] > 0
           or any(r["rd_dirs"] > (1 if infra else 0) for r in rows) or set(statuses) != {"passed"})
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    print("soak: " + ("GROWTH OR FAILURES FOUND" if bad else "no growth"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
