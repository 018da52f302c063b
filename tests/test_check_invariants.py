"""projector_consistency / domain_invariants: invariant SQL from the system definition, each fault caught."""

from __future__ import annotations

import importlib.util

import pytest

from restore_drill.checks import domain_invariants, projector_consistency
from restore_drill.checks.result import Status

# A tiny projector of our own: the fault each test injects is exact.
SCHEMA = """
CREATE TABLE events (event_id bigint PRIMARY KEY, stream text NOT NULL, seq int NOT NULL, delta int NOT NULL);
CREATE TABLE projection (stream text PRIMARY KEY, version int NOT NULL, total int NOT NULL);
CREATE TABLE dlq (id int PRIMARY KEY, event_id bigint NOT NULL);
INSERT INTO events VALUES (1, 'a', 1, 5), (2, 'a', 2, -2), (3, 'b', 1, 7), (4, 'a', 3, 1);
INSERT INTO projection VALUES ('a', 3, 4), ('b', 1, 7);
INSERT INTO dlq VALUES (1, 3);
"""
INVARIANTS = {
    "projection_matches_fold": (
        """SELECT p.stream, p.version, p.total, f.version AS fold_version, f.total AS fold_total
           FROM projection p FULL JOIN (SELECT stream, max(seq) AS version, sum(delta) AS total FROM events
                                        GROUP BY stream) f USING (stream)
           WHERE p.version IS DISTINCT FROM f.version OR p.total IS DISTINCT FROM f.total;""",
        "projection differs from the fold of its events"),
    "dlq_references_event": (
        "SELECT d.id, d.event_id FROM dlq d LEFT JOIN events e USING (event_id) WHERE e.event_id IS NULL",
        "DLQ entry references no event"),
    "no_sequence_gaps": (
        "SELECT stream, count(*) AS n, max(seq) AS last FROM events GROUP BY stream HAVING max(seq) <> count(*)",
        "stream with a sequence gap"),
}


@pytest.fixture
def conn(pg_database):
    with pg_database.connect(autocommit=True) as c:
        c.execute(SCHEMA)
        yield c


def test_consistent_projector_passes(conn):
    res = projector_consistency(conn, INVARIANTS)
    assert res.status is Status.PASSED, res.message
    assert res.name == "projector_consistency"


def test_projection_out_of_step_with_its_events_fails(conn):
    conn.execute("UPDATE projection SET version = 2, total = 3 WHERE stream = 'a'")
    res = projector_consistency(conn, INVARIANTS)
    assert res.status is Status.FAILED
    assert "projection_matches_fold: 1 row(s)" in res.message and "stream=a" in res.message


def test_dlq_entry_pointing_nowhere_fails(conn):
    conn.execute("INSERT INTO dlq VALUES (2, 99)")
    res = projector_consistency(conn, INVARIANTS)
    assert res.status is Status.FAILED
    assert "dlq_references_event: 1 row(s), DLQ entry references no event (e.g. id=2, event_id=99)" in res.message


def test_sequence_gap_fails(conn):
    conn.execute("DELETE FROM events WHERE event_id = 2; UPDATE projection SET total = 6 WHERE stream = 'a'")
    res = projector_consistency(conn, INVARIANTS)
    assert res.status is Status.FAILED
    assert [v["invariant"] for v in res.evidence["violated"]["items"]] == ["no_sequence_gaps"]
    assert "stream=a" in res.message


def test_many_violations_are_counted_on_the_server_and_sampled(conn):
    conn.execute("INSERT INTO dlq SELECT g, 1000 + g FROM generate_series(10, 209) g")
    res = domain_invariants(conn, INVARIANTS, sample_rows=5)
    assert res.status is Status.FAILED and res.name == "domain_invariants"
    v = res.evidence["violated"]["items"][0]
    assert v["violations"] == 200 and len(v["sample"]) == 5


def test_lost_table_fails_and_broken_sql_errors(conn):
    conn.execute("DROP TABLE dlq")
    res = projector_consistency(conn, INVARIANTS)
    assert res.status is Status.FAILED and 'relation "dlq" does not exist' in res.message
    broken = domain_invariants(conn, {"bad": ("SELEC 1", "typo")})
    assert broken.status is Status.ERRORED and "bad:" in broken.message
    assert domain_invariants(conn, {}).status is Status.SKIPPED


@pytest.mark.skipif(importlib.util.find_spec("restore_drill.seeds.arqonbus") is None,
                    reason="seeds.arqonbus not built yet")
def test_arqonbus_invariants_on_seeded_projector(pg_database):
    from restore_drill.seeds import arqonbus

    with pg_database.connect(autocommit=True) as c:
        arqonbus.apply_migration(c)
        arqonbus.seed(c, seed=7, scale=1)
        assert projector_consistency(c, arqonbus.INVARIANTS).status is Status.PASSED
        c.execute(f"""UPDATE {arqonbus.PROJECTION} SET version = version + 1
                      WHERE projection_id = (SELECT min(projection_id) FROM {arqonbus.PROJECTION})""")
        res = projector_consistency(c, arqonbus.INVARIANTS)
    assert res.status is Status.FAILED and "projection_matches_fold" in res.message


def test_tables_read_are_the_planners_and_unknown_behind_a_function(conn):
    """tables_read (what the reuse of an invariant's source result keys on): each invariant's tables as the
    planner resolves them (a view expanded to its table); None when a user function may read what the plan
    does not show, or the clock/randomness decides the result, so the restore evaluates the invariant."""
    from restore_drill.checks.invariants import tables_read

    assert tables_read(conn, INVARIANTS["projection_matches_fold"][0]) == ["public.events", "public.projection"]
    assert tables_read(conn, INVARIANTS["dlq_references_event"][0]) == ["public.dlq", "public.events"]
    conn.execute("CREATE VIEW late AS SELECT * FROM dlq WHERE id > 0")
    assert tables_read(conn, "SELECT id FROM late") == ["public.dlq"]
    assert tables_read(conn, "SELECT e.event_id FROM events e CROSS JOIN LATERAL jsonb_each('{}'::jsonb) kv") \
        == ["public.events"]  # a built-in, immutable function over the rows read proves nothing is hidden
    conn.execute("CREATE FUNCTION hidden() RETURNS SETOF dlq LANGUAGE plpgsql AS 'BEGIN RETURN QUERY SELECT * FROM dlq; END'")
    assert tables_read(conn, "SELECT id FROM hidden() WHERE id < 0") is None
    conn.execute("CREATE FUNCTION peek(int) RETURNS bool LANGUAGE sql AS 'SELECT EXISTS (SELECT 1 FROM dlq)'")
    assert tables_read(conn, "SELECT event_id FROM events WHERE peek(seq)") is None
    assert tables_read(conn, "SELECT event_id FROM events WHERE random() < 0.5") is None
    assert tables_read(conn, "SELECT event_id FROM events WHERE now() < '2000-01-01'") is None
    assert tables_read(conn, "SELECT event_id FROM events WHERE CURRENT_DATE < '2000-01-01'") is None
