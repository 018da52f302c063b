"""Sandbox benchmark: what confining a runbook step costs (issue 16 allows at most +10% on the suite).

    .venv/bin/python -m bench.sandbox_bench [--rounds 15]

Starts one embedded PostgreSQL and one moto S3, then runs the kinds of step a drill runs (bash `true`,
psql, pg_dump + pg_restore of a small table, aws s3 sync up and back, curl to a local HTTP server)
alternately confined and unconfined (RESTORE_DRILL_UNCONFINED), and prints the median wall time of
each and the ratio. Alternating keeps other load on the machine from favouring either side.
"""

from __future__ import annotations

import argparse
import http.server
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from restore_drill import sandbox
from restore_drill.fixtures import binaries
from restore_drill.fixtures.environment import bind
from restore_drill.fixtures.postgres import EmbeddedPostgres
from restore_drill.fixtures.s3 import MotoS3

STEPS = {
    "bash true": "true",
    "psql SELECT 1": 'psql "$DATABASE_URL" -Atc "SELECT 1"',
    "pg_dump + pg_restore": ('pg_dump "$DATABASE_URL" -Fc -f t.dump && '
                             'pg_restore --clean --if-exists --no-owner -d "$DATABASE_URL" t.dump'),
    "aws s3 sync up + down": ('mkdir -p up && echo x > up/a && aws s3 sync --only-show-errors up "s3://$S3_BUCKET/b/" '
                              '&& aws s3 sync --only-show-errors "s3://$S3_BUCKET/b/" down'),
    "curl API": 'curl -sf "$API_BASE_URL/" -o /dev/null',
}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a: object) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rd-bench-sandbox-"))
    os.chmod(tmp, 0o755)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    with EmbeddedPostgres(binaries.select()) as pg:
        s3 = MotoS3()
        s3.start()
        try:
            db = pg.create_database()
            with db.connect() as c:
                c.execute("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 5000) g")
                c.commit()
            bucket = s3.create_bucket("bench")
            env = bind(db=db, client_bins=pg.client_bins, workdir=tmp, s3=s3.endpoint, bucket=bucket.name,
                       api_base_url=f"http://127.0.0.1:{httpd.server_address[1]}")
            base = env.as_env()
            times: dict[str, dict[bool, list[float]]] = {k: {True: [], False: []} for k in STEPS}
            for r in range(args.rounds + 1):
                for confined in (True, False) if r % 2 else (False, True):
                    sandbox.allow_unconfined(not confined)
                    for name, script in STEPS.items():
                        t = time.perf_counter()
                        done = sandbox.run_step(script, env=base, cwd=tmp / "w", timeout_s=120, redactor=None,
                                                record=None, runbook_env=env)
                        if done.exit_code != 0:
                            raise SystemExit(f"{name} ({'confined' if confined else 'unconfined'}) failed: {done.stderr}")
                        if r:  # round 0 warms caches
                            times[name][confined].append(time.perf_counter() - t)
            sandbox.allow_unconfined(False)
        finally:
            s3.stop()
            httpd.shutdown()
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'step':24} {'unconfined ms':>14} {'confined ms':>12} {'ratio':>6}")
    tot_u = tot_c = 0.0
    for name, t in times.items():
        u, c = statistics.median(t[False]) * 1000, statistics.median(t[True]) * 1000
        tot_u, tot_c = tot_u + u, tot_c + c
        print(f"{name:24} {u:14.1f} {c:12.1f} {c / u:6.2f}")
    print(f"{'all five':24} {tot_u:14.1f} {tot_c:12.1f} {tot_c / tot_u:6.2f}")


if __name__ == "__main__":
    main()
