"""verify-backup benchmark: a 1,000,000-row archive, per target version, the whole verify (read the
archive end to end, restore, every check, the run folder) next to the bare restore an operator would
type for the same archive: a fresh database made the same way, then ``pg_restore`` with the flags
verify-backup uses (``restore_drill.verify.RESTORE_FLAGS``, imported from the code under test, so the
two sides never differ by a flag). The ratio is the harness's overhead (issue 19: goal <= 1.1x).

    .venv/bin/python -m bench.verify_bench [--rows N] [--pairs P] [--base TREE]

Every measurement runs in a fresh worker process (cold caches, as a CLI run has), on servers this
process started and keeps warm for both sides; per pair and version the sides alternate (A/B, B/A) and
each worker times its own bare restore next to its verify, so load from other work hits both alike.
``--base TREE`` adds the same measurement with the restore_drill of another checkout (say a
``git worktree add /tmp/o-base <commit>`` of the code before a change): before and after side by side.

Besides the ratio the worker measures the floor: the bare restore, then the least evidence any verify
needs, run the fastest way on 2 cores: one digest scan of every table (``foundation.table_digest``, which
gives the row count too) alongside ``pg_amcheck --heapallindexed --jobs=2`` (where the server has
amcheck). The archive is made by the oldest pg_dump found (so every newer version can restore it) from
rows generated server-side; everything lives in a temporary folder and disposable servers.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

SCHEMA = """
CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE events (id bigserial PRIMARY KEY, account_id int NOT NULL REFERENCES accounts(id),
                     kind text NOT NULL, payload text, created_at timestamptz NOT NULL);
INSERT INTO accounts SELECT g, 'account ' || g FROM generate_series(1, 1000) g;
INSERT INTO events (account_id, kind, payload, created_at)
  SELECT 1 + g % 1000, (ARRAY['created','updated','deleted'])[1 + g % 3], md5(g::text) || md5((g * 31)::text),
         timestamptz '2026-01-01' + g * interval '1 second'
  FROM generate_series(1, %(rows)s) g;
CREATE INDEX events_account_idx ON events (account_id, created_at);
"""
ROOT = Path(__file__).resolve().parent.parent


# -- worker: one bare restore, one verify, one floor, in a fresh process ------------------------------
class _TreeFinder(importlib.abc.MetaPathFinder):
    """Imports ``restore_drill`` and its subpackages from another checkout, laid out as this one is
    (``[tool.setuptools.package-dir]`` of its pyproject.toml), ahead of the editable install's finder."""

    def __init__(self, tree: Path) -> None:
        conf = tomllib.loads((tree / "pyproject.toml").read_text())
        dirs = conf["tool"]["setuptools"]["package-dir"]
        self.dirs = {name: tree / d for name, d in dirs.items()}

    def find_spec(self, name: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if name in self.dirs:
            d = self.dirs[name]
            return importlib.util.spec_from_file_location(name, d / "__init__.py",
                                                          submodule_search_locations=[str(d)])
        if name.split(".")[0] == "restore_drill" and path is not None:
            return importlib.machinery.PathFinder.find_spec(name, path)  # the parent package's folder
        return None


def _cpu_s(server_pid: int | None) -> float:
    """CPU seconds so far of this process, its waited-for children, and the local server ``server_pid``
    (its own, its exited backends', which the postmaster has waited for, and its live processes')."""
    import os
    import resource

    own = sum(getattr(resource.getrusage(w), f) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for f in ("ru_utime", "ru_stime"))
    if server_pid is None:
        return own
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        f = stat[stat.rfind(")") + 2:].split()
        if int(d) == server_pid:
            total += (int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / tick
        elif int(f[1]) == server_pid:
            total += (int(f[11]) + int(f[12])) / tick
    return own + total


def worker(url: str, dump: Path, major: int, tree: Path | None, floor: bool,
           server_pid: int | None = None) -> dict[str, Any]:
    """One side of one pair: bare (create database + pg_restore), verify_backup, and the floor; with
    ``server_pid`` also the CPU seconds each of bare and verify took (client and server together)."""
    if tree is not None:
        sys.meta_path.insert(0, _TreeFinder(tree))
    import restore_drill
    from restore_drill.checks._util import libpq_env
    from restore_drill.fixtures import binaries
    from restore_drill.fixtures.infra import Infra
    from restore_drill.procs import run
    from restore_drill.verify import RESTORE_FLAGS, verify_backup

    out: dict[str, Any] = {"code": str(Path(restore_drill.__file__).parent.parent)}
    with Infra(pg_backend="external", pg_url=url) as infra, tempfile.TemporaryDirectory() as tmp:
        srv = infra.postgres(None)
        tool = binaries.select(major)
        c0, t0 = _cpu_s(server_pid), time.perf_counter()
        db = srv.create_database()
        run([tool.tool("pg_restore"), *RESTORE_FLAGS, "--dbname", db.name, dump], env=libpq_env(db),
            timeout_s=1800, check=True)
        out["bare_s"] = time.perf_counter() - t0
        time.sleep(0.3)  # the restore's backend exits and is waited for by the postmaster
        out["bare_cpu_s"] = _cpu_s(server_pid) - c0
        out["floor_evidence_s"] = _floor(db, tool) if floor else None
        infra.drop(db)
        time.sleep(0.3)
        c0, t0 = _cpu_s(server_pid), time.perf_counter()
        report, _ = verify_backup(dump, versions=[major], storage_snapshot=None, manifest=None, system=None,
                                  report_dir=Path(tmp) / "runs", argv=["bench"], infra=infra)
        out["verify_s"] = time.perf_counter() - t0
        time.sleep(0.3)
        out["verify_cpu_s"] = _cpu_s(server_pid) - c0
    d = report.drills[0]
    if d.status != "passed":
        raise SystemExit(f"verify-backup[pg{major}] {d.status}: {d.status_reason}")
    phases = {p.name: p.duration_s for p in d.phases}
    out |= {"restore_s": float(d.metrics.get("restore_s") or 0.0), "checks_phase_s": phases.get("checks", 0.0),
            "checks": {c.name: c.duration_s for c in d.checks if c.name != "backup_artifact"},
            "amcheck": next((c.status.value for c in d.checks if c.name == "physical_integrity"), "-")}
    return out


def _floor(db: Any, tool: Any) -> float:
    """Seconds of the least evidence after a restore, on 2 cores: one digest scan per table (count and
    content in one pass) next to pg_amcheck --heapallindexed --jobs=2 where the server has amcheck."""
    import threading

    from restore_drill.checks._util import libpq_env
    from restore_drill.foundation import table_digest
    from restore_drill.procs import run

    with db.connect(autocommit=True) as c:
        tables = [r[0] for r in c.execute(
            "SELECT format('%s.%s', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = "
            "c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'").fetchall()]
        amcheck = c.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck'").fetchone() is not None
        if amcheck:
            c.execute("CREATE EXTENSION IF NOT EXISTS amcheck")

    def digests() -> None:
        with db.connect(autocommit=True) as conn:
            for t in tables:
                table_digest(conn, t)

    t0 = time.perf_counter()
    th = threading.Thread(target=digests)
    th.start()
    if amcheck:
        run([tool.tool("pg_amcheck"), "--jobs=2", "--heapallindexed"], env=libpq_env(db), timeout_s=1800, check=True)
    th.join()
    return time.perf_counter() - t0


# -- driver -------------------------------------------------------------------------------------------
def _run_worker(url: str, dump: Path, major: int, tree: Path | None, floor: bool,
                server_pid: int | None) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.verify_bench", "--worker", url, "--dump", str(dump), "--major", str(major)]
    argv += ["--server-pid", str(server_pid)] if server_pid else []
    argv += ["--tree", str(tree)] if tree is not None else []
    argv += ["--floor"] if floor else []
    r = subprocess.run(argv, capture_output=True, text=True, timeout=3600, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"worker pg{major} ({tree or 'this tree'}) failed: {r.stderr.strip()[-800:]}")
    got: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    return got


def _med(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--pairs", type=int, default=3, help="runs per side and version (A/B alternating)")
    ap.add_argument("--base", type=Path, help="another checkout whose verify-backup runs side by side (before)")
    ap.add_argument("--versions", help="comma list of majors (default: every server found)")
    ap.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument("--dump", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--major", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--tree", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, help="also write every measurement here (bench.figures reads it)")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.dump, args.major, args.tree, args.floor, args.server_pid)))
        return

    from restore_drill.checks._util import libpq_env
    from restore_drill.fixtures import binaries
    from restore_drill.fixtures.infra import Infra
    from restore_drill.procs import run
    from restore_drill.verify import inspect_archive

    rows = args.rows
    majors = ([int(v) for v in args.versions.split(",")] if args.versions
              else sorted(b.major for b in binaries.servers()))
    sides: list[tuple[str, Path | None]] = [("now", None)] + ([("base", args.base.resolve())] if args.base else [])
    print(f"restore-drill verify-backup bench: {rows:,} rows, targets {', '.join(map(str, majors))}, "
          f"{args.pairs} pair(s), sides: {', '.join(n for n, _ in sides)}"
          + (f" (base = {args.base})" if args.base else ""))
    with tempfile.TemporaryDirectory(prefix="rd-verify-bench-") as tmp, Infra() as infra:
        tmpdir = Path(tmp)
        src_major = min(majors)
        src = infra.database(src_major)
        t0 = time.perf_counter()
        with src.connect(autocommit=True) as c:
            c.execute(SCHEMA.replace("%(rows)s", str(int(rows))))
            c.execute("VACUUM ANALYZE")
        seed_s = time.perf_counter() - t0
        dump = tmpdir / "events.dump"
        t0 = time.perf_counter()
        run([binaries.select(src_major).tool("pg_dump"), "--format=custom", "--file", dump], env=libpq_env(src),
            timeout_s=1800, check=True)
        dump_s = time.perf_counter() - t0
        infra.drop(src)
        print(f"seed (INSERT ... SELECT) {seed_s:.2f} s; pg_dump {src_major} -Fc {dump_s:.2f} s; "
              f"archive {dump.stat().st_size / 1e6:.1f} MB")
        t0 = time.perf_counter()
        info = inspect_archive(dump, binaries.discover())
        print(f"archive read end to end + row counting alone: {time.perf_counter() - t0:.2f} s "
              f"({sum(info.row_counts.values()):,} rows counted)\n")
        urls = {m: infra.postgres(m).admin_db().url for m in majors}  # started before timing: warm for all
        pids = {m: infra.postgres(m).pid for m in majors}
        got: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for i in range(args.pairs):
            for m in majors:
                order = sides if i % 2 == 0 else sides[::-1]
                for name, tree in order:
                    r = _run_worker(urls[m], dump, m, tree, floor=name == "now", server_pid=pids[m])
                    got.setdefault((m, name), []).append(r)
                    print(f"  pair {i + 1} pg{m} {name:<4} bare {r['bare_s']:.2f} s, verify {r['verify_s']:.2f} s, "
                          f"{r['verify_s'] / r['bare_s']:.2f}x", flush=True)
        if args.json:
            args.json.write_text(json.dumps([{"major": m, "side": n, **r} for (m, n), rs in got.items() for r in rs],
                                            indent=1))
        header = (f"{'target':<7}{'side':<6}{'bare (median)':>14}{'verify':>8}{'ratio min/med':>15}"
                  f"{'restore':>9}{'checks':>8}{'floor':>7}{'CPU s bare/verify':>19}   slowest checks (median s)")
        print("\n" + header + "\n" + "-" * len(header))
        for m in majors:
            for name, _ in sides:
                rs = got[(m, name)]
                ratios = [r["verify_s"] / r["bare_s"] for r in rs]
                floors = [(r["bare_s"] + r["floor_evidence_s"]) / r["bare_s"] for r in rs
                          if r.get("floor_evidence_s") is not None]
                checks = {c: statistics.median(r["checks"].get(c, 0.0) for r in rs) for c in rs[0]["checks"]}
                slow = ", ".join(f"{c} {s:.2f}" for c, s in sorted(checks.items(), key=lambda kv: -kv[1])[:3])
                print(f"pg{m:<5}{name:<6}{_med([r['bare_s'] for r in rs]):>12} s{_med([r['verify_s'] for r in rs]):>6} s"
                      f"{min(ratios):>8.2f}/{statistics.median(ratios):.2f}x{_med([r['restore_s'] for r in rs]):>7} s"
                      f"{_med([r['checks_phase_s'] for r in rs]):>6} s"
                      f"{(f'{statistics.median(floors):.2f}x' if floors else '-'):>7}"
                      f"{_med([r['bare_cpu_s'] for r in rs]):>11} / {_med([r['verify_cpu_s'] for r in rs])}   {slow}"
                      f" (amcheck {rs[0]['amcheck']})")
        print("\nbare = CREATE DATABASE + pg_restore " + " ".join(_flags()) + " of the same archive, same server;"
              "\nverify = the whole verify_backup in a fresh process (read, restore, checks, run folder);"
              "\nrestore/checks = verify's own phases; floor = (bare + one digest scan per table alongside"
              "\npg_amcheck --heapallindexed --jobs=2 where amcheck exists) / bare: the least any verify can cost;"
              "\nCPU s = client (worker and its children) + server (postmaster and its processes) CPU seconds.")


def _flags() -> tuple[str, ...]:
    from restore_drill.verify import RESTORE_FLAGS

    return RESTORE_FLAGS


if __name__ == "__main__":
    main()
