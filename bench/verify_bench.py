"""verify-backup benchmark: a 1,000,000-row archive, per target version, the whole verify (read the
archive end to end, restore, every check) next to a bare ``pg_restore`` of the same archive into a
fresh database on the same running server; the ratio is the harness's overhead.

    .venv/bin/python -m bench.verify_bench [--rows N]

The archive is made by the oldest pg_dump found (so every newer version can restore it) from rows
generated server-side (INSERT ... SELECT generate_series). Everything lives in a temporary folder and
disposable servers, removed at the end.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from restore_drill.checks._util import libpq_env
from restore_drill.fixtures import binaries
from restore_drill.fixtures.infra import Infra
from restore_drill.procs import run
from restore_drill.verify import RESTORE_FLAGS, inspect_archive, verify_backup

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    rows = ap.parse_args().rows
    majors = sorted(b.major for b in binaries.servers())
    print(f"restore-drill verify-backup bench: {rows:,} rows, targets {', '.join(map(str, majors))}")
    with tempfile.TemporaryDirectory(prefix="rd-verify-bench-") as tmp, Infra() as infra:
        tmpdir = Path(tmp)
        src_major = majors[0]
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

        header = (f"{'target':<8}{'bare pg_restore':>17}{'verify total':>14}{'ratio':>8}   "
                  f"{'read':>6}{'restore':>9}{'checks':>8}   slowest checks")
        print(header)
        print("-" * len(header))
        for major in majors:
            infra.postgres(major)  # started before timing: both sides run on the same warm server
            bins = binaries.select(major)
            db = infra.database(major)
            t0 = time.perf_counter()
            run([bins.tool("pg_restore"), *RESTORE_FLAGS, "--dbname", db.name, dump], env=libpq_env(db),
                timeout_s=1800, check=True)
            bare_s = time.perf_counter() - t0
            infra.drop(db)
            t0 = time.perf_counter()
            report, _ = verify_backup(dump, versions=[major], storage_snapshot=None, manifest=None, system=None,
                                      report_dir=tmpdir / "runs", argv=["bench"], infra=infra)
            verify_s = time.perf_counter() - t0
            d = report.drills[0]
            assert d.status == "passed", d.status_reason
            restore_s = float(d.metrics.get("restore_s") or 0.0)
            backup_check = next(c for c in d.checks if c.name == "backup_artifact")
            read_s = float(backup_check.duration_s)
            checks = sorted((c for c in d.checks if c.name != "backup_artifact"), key=lambda c: -c.duration_s)
            checks_s = sum(c.duration_s for c in checks)
            slow = ", ".join(f"{c.name} {c.duration_s:.2f}" for c in checks[:3])
            print(f"pg{major:<6}{bare_s:>15.2f} s{verify_s:>12.2f} s{verify_s / bare_s:>7.2f}x   "
                  f"{read_s:>5.2f}s{restore_s:>8.2f}s{checks_s:>7.2f}s   {slow}")
        print("\nread = header, TOC and every data block decoded once (truncation/corruption, archive row counts);"
              "\nratio = verify total / bare pg_restore into a fresh database on the same server.")


if __name__ == "__main__":
    main()
