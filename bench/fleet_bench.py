"""Fleet benchmark: does splitting a plan into shards that run in parallel pay, on this machine?

    .venv/bin/python -m bench.fleet_bench [--systems 6] [--versions 16,18] [--shards 3]

Plans ``systems x versions`` drills of tiny TOML-only systems (three rows, pg_dump/pg_restore; 12 jobs
by default), then runs the plan once as one process (``restore-drill run --plan``) and once as
``--shards`` processes in parallel (``--shard K/N``), each with its own Postgres and moto as separate
CI runners or pods would have, and prints both wall times and their ratio (one process / shards). On a
machine with fewer cores than shards the ratio is bounded by the cores, not by restore-drill.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.fleet_support import CLI, tiny_system


def _wall(cmds: list[list[str]], cwd: Path) -> tuple[float, list[int]]:
    t0 = time.monotonic()
    procs = [subprocess.Popen(c, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for c in cmds]
    codes = []
    for p in procs:
        _, err = p.communicate(timeout=1800)
        if p.returncode != 0:
            print(err[-2000:], file=sys.stderr)
        codes.append(p.returncode)
    return time.monotonic() - t0, codes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--systems", type=int, default=6)
    ap.add_argument("--versions", default="16,18")
    ap.add_argument("--shards", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rd-fleet-bench-") as tmp:
        root = Path(tmp)
        args: list[str] = []
        for i in range(a.systems):
            args += ["--system", str(tiny_system(root / "sys", f"bench{i}").relative_to(root))]
        for v in a.versions.split(","):
            args += ["--pg-version", v.strip()]
        subprocess.run([CLI, "plan", *args, "--shards", str(a.shards), "-o", "plan.json"], cwd=root, check=True)
        jobs = len(json.loads((root / "plan.json").read_text())["jobs"])
        base = [CLI, "run", "--plan", "plan.json", "--quiet"]
        one_s, one_codes = _wall([[*base, "--report-dir", "one"]], root)
        par_s, par_codes = _wall([[*base, "--shard", f"{k}/{a.shards}", "--report-dir", f"shard{k}"]
                                  for k in range(1, a.shards + 1)], root)
        ok = all(c == 0 for c in one_codes + par_codes)
        print(f"jobs: {jobs} ({a.systems} tiny systems x versions {a.versions})")
        print(f"one process:              {one_s:7.1f} s")
        print(f"{a.shards} shards in parallel:    {par_s:7.1f} s")
        print(f"ratio (one / shards):     {one_s / par_s:7.2f}x   (all runs passed: {ok})")
        if not ok:
            sys.exit(1)


if __name__ == "__main__":
    main()
