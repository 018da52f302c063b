"""Seeding throughput: 1,000,000 projector events through our generator + COPY versus a server-side
``INSERT ... SELECT generate_series`` of the same shape (same columns, same indexes, JSONB payload and
metadata of similar size, the same share of ~100 KB payloads) on the same server.

Run: .venv/bin/python -m bench.seed_bench [--events N] [--pg-version N]
"""

from __future__ import annotations

import argparse
import time

import psycopg

from restore_drill.fixtures.infra import Infra
from restore_drill.seeds import arqonbus
from restore_drill.seeds._copy import copy_lines
from restore_drill.seeds.arqonbus.generate import EVENT_COLUMNS, LARGE_EVERY, EventGenerator

EVENTS_PER_STREAM = 40

SERVER_SIDE = f"""
INSERT INTO {arqonbus.EVENTS} (event_id, stream_id, sequence, event_type, payload, metadata, occurred_at,
                               recorded_at)
SELECT g,
       'account-' || lpad((g %% %(streams)s + 1)::text, 6, '0'),
       g / %(streams)s + 1,
       (ARRAY['account.credited', 'account.debited', 'account.updated', 'account.annotated'])[g %% 4 + 1],
       CASE WHEN g %% {LARGE_EVERY} = {LARGE_EVERY // 2}
            THEN jsonb_build_object('note', repeat(md5(g::text) || ' ' || md5((g * 7)::text) || ' ', 1500),
                                    'author', 'Ada Lovelace', 'tags', jsonb_build_array('w'), 'attachment', true)
            ELSE jsonb_build_object('amount', g %% 50000, 'currency', 'EUR',
                                    'reference', 'REF-' || lpad(g::text, 8, '0'),
                                    'memo', md5(g::text) || ' ' || md5((g + 1)::text))
       END,
       jsonb_build_object('correlation_id', md5(g::text)::uuid::text, 'producer', 'arqonbus-gateway/2.14.1',
                          'ip', '10.0.' || (g %% 256) || '.' || (g %% 253)),
       timestamptz '2026-01-05 00:00:00+00' + g * interval '2 seconds',
       timestamptz '2026-01-05 00:00:00+00' + g * interval '2 seconds' + interval '300 milliseconds'
FROM generate_series(1, %(n)s) AS g
"""


def _fresh(infra: Infra, major: int | None) -> tuple[object, psycopg.Connection]:
    db = infra.database(major)
    conn = db.connect()
    arqonbus.apply_migration(conn)
    conn.execute("CHECKPOINT")  # neither run pays for the other's dirty buffers
    conn.commit()
    return db, conn


def _sizes(conn: psycopg.Connection) -> str:
    row = conn.execute(f"SELECT avg(pg_column_size(payload))::int, avg(pg_column_size(metadata))::int, "
                       f"pg_size_pretty(pg_total_relation_size('{arqonbus.EVENTS}')) FROM {arqonbus.EVENTS}").fetchone()
    assert row is not None
    return f"avg payload {row[0]} B, avg metadata {row[1]} B, table+indexes {row[2]}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--pg-version", type=int, default=None)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    n = args.events
    streams = max(1, n // EVENTS_PER_STREAM)
    with Infra() as infra:
        db, conn = _fresh(infra, args.pg_version)
        print(f"PostgreSQL {conn.info.server_version // 10000}, {n:,} events over {streams:,} streams, "
              "migration's indexes in place for both runs")
        gen = EventGenerator(args.seed, streams, n)
        t0 = time.monotonic()
        with conn.transaction():
            loaded = copy_lines(conn, arqonbus.EVENTS, EVENT_COLUMNS, gen.event_lines())
        ours = loaded / (time.monotonic() - t0)
        print(f"generator + COPY:            {ours:>10,.0f} rows/s  ({_sizes(conn)})")
        conn.close()
        infra.drop(db)  # type: ignore[arg-type]

        db, conn = _fresh(infra, args.pg_version)
        t0 = time.monotonic()
        with conn.transaction():
            conn.execute(SERVER_SIDE, {"n": n, "streams": streams})  # type: ignore[arg-type]
        server = n / (time.monotonic() - t0)
        print(f"server-side INSERT ... SELECT:{server:>10,.0f} rows/s  ({_sizes(conn)})")
        conn.close()
        infra.drop(db)  # type: ignore[arg-type]
    print(f"ratio generator/server-side:  {ours / server:.2f}  (target >= 0.50)")


if __name__ == "__main__":
    main()
