"""Infrastructure benchmark: per Postgres version, cold start, warm database from a template, stop;
and moto start, stop holding --moto-mb MB and its HEAD rate. Prints min/median over repeats.

    .venv/bin/python -m bench.infra_bench [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from restore_drill.fixtures import binaries
from restore_drill.fixtures.postgres import EmbeddedPostgres
from restore_drill.fixtures.s3 import MotoS3


def _fmt(xs: list[float]) -> str:
    return f"min {min(xs) * 1000:7.1f} ms   median {statistics.median(xs) * 1000:7.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--moto-mb", type=int, default=480, help="what moto holds when stopped (200 kB objects)")
    n = ap.parse_args().repeats
    print(f"restore-drill infra bench, {n} repeats")
    for b in binaries.servers():
        cold, warm, stop = [], [], []
        for _ in range(n):
            t0 = time.perf_counter()
            pg = EmbeddedPostgres(b)
            pg.start()
            db = pg.create_database()
            with db.connect() as c:
                c.execute("SELECT 1")
            cold.append(time.perf_counter() - t0)
            with db.connect(autocommit=True) as c:
                c.execute("CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 10000) g")
            for _ in range(3):
                t1 = time.perf_counter()
                clone = pg.create_database(template=db.name)
                with clone.connect() as c:
                    c.execute("SELECT 1")
                warm.append(time.perf_counter() - t1)
            t2 = time.perf_counter()
            pg.stop()
            stop.append(time.perf_counter() - t2)
        print(f"\n{b.label}")
        print(f"  cold start (initdb+start+query) {_fmt(cold)}")
        print(f"  warm db from template           {_fmt(warm)}")
        print(f"  stop                            {_fmt(stop)}")
        print(f"  cold/warm ratio                 {statistics.median(cold) / statistics.median(warm):7.1f}x")
    starts = []
    for _ in range(n):
        m = MotoS3()
        t0 = time.perf_counter()
        m.start()
        m.endpoint.client().list_buckets()
        starts.append(time.perf_counter() - t0)
        m.stop()
    print(f"\nmoto S3 start (child process + first request) {_fmt(starts)}")
    held_mb = ap.parse_args().moto_mb
    stops, heads = [], []
    for _ in range(max(1, n // 2)):
        m = MotoS3()
        m.start()
        c = m.endpoint.client()
        c.create_bucket(Bucket="rd-infra-bench")
        blob = os.urandom(200_000)
        count = held_mb * 1_000_000 // len(blob)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i, c=c, blob=blob: c.put_object(Bucket="rd-infra-bench", Key=f"k{i}", Body=blob),
                          range(count)))
            t0 = time.perf_counter()
            list(pool.map(lambda i, c=c: c.head_object(Bucket="rd-infra-bench", Key=f"k{i}"), range(count)))
            heads.append((time.perf_counter() - t0) / count)
        t0 = time.perf_counter()
        m.stop()
        stops.append(time.perf_counter() - t0)
    print(f"moto S3 stop holding {held_mb} MB ({count} objects)  {_fmt(stops)}")
    print(f"moto S3 HEAD, 8 in flight (per request)  {_fmt(heads)}")


if __name__ == "__main__":
    main()
