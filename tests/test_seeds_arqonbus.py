"""ArqonBus seeds: invariants hold on seeded data and catch injected faults; determinism; scale;
the runbook's migration is idempotent and all-or-nothing when applied the runbook's way (psql)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from restore_drill import procs
from restore_drill.errors import BadInput, ProcedureFailed
from restore_drill.fixtures import binaries
from restore_drill.fixtures.database import Database
from restore_drill.fixtures.environment import bind
from restore_drill.seeds import SeedSummary, arqonbus
from restore_drill.seeds._sql import run_script
from restore_drill.seeds.arqonbus.generate import EVENTS_PER_SCALE, STREAMS_PER_SCALE
from restore_drill.seeds.manifest import catalog_snapshot, take_manifest
from restore_drill.systems import resolve_system

RUNBOOK_APPLY = 'psql "$ARQONBUS_POSTGRES_URL" -v ON_ERROR_STOP=1 -f ' + arqonbus.MIGRATION_RELPATH


def _seeded(db: Database, seed: int = 1234, scale: int = 1) -> SeedSummary:
    with db.connect() as c:
        arqonbus.apply_migration(c)
        arqonbus.create_other_app(c)
        return arqonbus.seed(c, seed=seed, scale=scale)


def _violations(db: Database) -> dict[str, int]:
    with db.connect() as c:
        return {name: len(c.execute(q).fetchall()) for name, (q, _) in arqonbus.INVARIANTS.items()}


def _apply_like_runbook(db: Database, workdir: Path, migration: Path) -> procs.Completed:
    """The runbook's own command line, from a workdir holding the migration at its relative path."""
    target = workdir / arqonbus.MIGRATION_RELPATH
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migration, target)
    env = bind(db=db, client_bins=binaries.client_for(db.major), workdir=workdir,
               database_url_variables=resolve_system("arqonbus").database_url_variables)
    assert env.variables["ARQONBUS_POSTGRES_URL"] == db.url  # the system's definition names the variable
    return procs.run([RUNBOOK_APPLY], env=env.as_env(), timeout_s=60, cwd=workdir, shell=True,
                     redactor=env.redactor())


def test_seed_satisfies_invariants(pg_database: Database) -> None:
    s = _seeded(pg_database)
    assert s.system == "arqonbus" and s.seed == 1234 and s.scale == 1 and s.duration_s < 2
    assert s.rows[arqonbus.EVENTS] == EVENTS_PER_SCALE
    assert s.rows[arqonbus.PROJECTION] == STREAMS_PER_SCALE
    assert 0 < s.rows[arqonbus.DLQ] < s.rows[arqonbus.EVENTS] // 10
    assert _violations(pg_database) == {name: 0 for name in arqonbus.INVARIANTS}
    with pg_database.connect() as c:
        big = c.execute(f"SELECT count(*) FROM {arqonbus.EVENTS} WHERE octet_length(payload::text) > 32768").fetchone()
        assert big is not None and big[0] >= 3  # TOASTed payloads
        other = c.execute("SELECT count(*) FROM public.billing_invoices").fetchone()
        assert other is not None and other[0] > 0
        assert c.execute(f"SELECT count(*) FROM {arqonbus.PROJECTION} WHERE version = 0").fetchone() == (0,)


def test_invariants_catch_injected_faults(drill_infra) -> None:  # type: ignore[no-untyped-def]
    faults = {
        "projection_matches_fold": f"UPDATE {arqonbus.PROJECTION} SET state = jsonb_set(state, '{{balance}}', "
                                   "'1') WHERE projection_id = 3",
        # A lost DLQ row makes its poisoned event look applied: the fold no longer matches.
        "projection_matches_fold/dlq_lost": f"DELETE FROM {arqonbus.DLQ} WHERE dlq_id = 1",
        "dlq_references_event": f"""ALTER TABLE {arqonbus.DLQ} DROP CONSTRAINT
                                     arqonbus_continuum_projection_dlq_event_id_fkey;
                                     DELETE FROM {arqonbus.EVENTS} WHERE event_id = (SELECT event_id FROM {arqonbus.DLQ}
                                     ORDER BY dlq_id LIMIT 1)""",
        "no_sequence_gaps": f"""DELETE FROM {arqonbus.EVENTS} WHERE event_id = (SELECT min(event_id) FROM
                                {arqonbus.EVENTS} e WHERE sequence = 2 AND NOT EXISTS
                                (SELECT 1 FROM {arqonbus.DLQ} d WHERE d.event_id = e.event_id))""",
        "projection_has_events": f"""DELETE FROM {arqonbus.EVENTS} e USING {arqonbus.PROJECTION} p
                                     WHERE p.projection_id = 1 AND e.stream_id = p.stream_id
                                     AND e.sequence = p.version""",
    }
    template = drill_infra.database()
    try:
        _seeded(template)
        for name, fault in faults.items():
            db = drill_infra.database(template=template.name)
            try:
                assert _violations(db)[name.split("/")[0]] == 0
                with db.connect() as c:
                    c.execute(fault)  # type: ignore[arg-type]
                    c.commit()
                assert _violations(db)[name.split("/")[0]] >= 1, name
            finally:
                drill_infra.drop(db)
    finally:
        drill_infra.drop(template)


def test_same_seed_same_digests_other_seed_differs(drill_infra) -> None:  # type: ignore[no-untyped-def]
    manifests = []
    for seed in (7, 7, 8):
        db = drill_infra.database()
        try:
            _seeded(db, seed=seed)
            with db.connect() as c:
                manifests.append(take_manifest(c, system="arqonbus", seed=seed, scale=1))
        finally:
            drill_infra.drop(db)
    a, b, other = manifests
    assert a.seed == 7 and other.seed == 8
    assert a.tables == b.tables and a.catalog == b.catalog  # incl. sequence values
    for t in arqonbus.PROJECTOR_TABLES:
        assert other.tables[t].digest != a.tables[t].digest, t
    for t in arqonbus.OTHER_TABLES:  # the unrelated app never depends on the drill seed
        assert other.tables[t] == a.tables[t]


def test_manifest_sees_one_changed_row(pg_database: Database) -> None:
    _seeded(pg_database)
    with pg_database.connect() as c:
        before = take_manifest(c, system="arqonbus")
        c.execute(f"UPDATE {arqonbus.EVENTS} SET payload = jsonb_set(payload, '{{currency}}', '\"EUX\"') "
                  "WHERE event_id = (SELECT min(event_id) FROM arqonbus_continuum_projection_events "
                  "WHERE payload ? 'currency')")
        c.commit()
        after = take_manifest(c, system="arqonbus")
    changed = [t for t in before.tables if before.tables[t] != after.tables[t]]
    assert changed == [arqonbus.EVENTS]
    assert after.tables[arqonbus.EVENTS].row_count == before.tables[arqonbus.EVENTS].row_count


def test_scale_grows_every_table(pg_database: Database) -> None:
    s = _seeded(pg_database, scale=3)
    assert s.rows[arqonbus.EVENTS] == 3 * EVENTS_PER_SCALE
    assert s.rows[arqonbus.PROJECTION] == 3 * STREAMS_PER_SCALE
    assert s.rows[arqonbus.DLQ] > 2 * _seed_dlq_rows_at_scale_1()
    assert _violations(pg_database) == {name: 0 for name in arqonbus.INVARIANTS}
    with pytest.raises(BadInput), pg_database.connect() as c:
        arqonbus.seed(c, scale=0)


def _seed_dlq_rows_at_scale_1() -> int:
    with arqonbus.EventGenerator(1234, STREAMS_PER_SCALE, EVENTS_PER_SCALE) as gen:
        for _ in gen.event_chunks():
            pass
        return gen.dlq_count


def test_seed_refuses_missing_migration_and_reseeding(pg_database: Database) -> None:
    with pg_database.connect() as c, pytest.raises(BadInput, match="apply the migration"):
        arqonbus.seed(c)
    _seeded(pg_database)
    with pg_database.connect() as c, pytest.raises(BadInput, match="already holds events"):
        arqonbus.seed(c)


def test_runbook_apply_is_idempotent(pg_database: Database, tmp_path: Path) -> None:
    first = _apply_like_runbook(pg_database, tmp_path, arqonbus.MIGRATION_FILE)
    assert first.exit_code == 0, first.stderr
    with pg_database.connect() as c:
        catalog = catalog_snapshot(c)
        arqonbus.seed(c, seed=5)
        data = take_manifest(c, system="arqonbus").tables
    assert {r["tbl"] for r in catalog["columns"]} == set(arqonbus.PROJECTOR_TABLES)
    assert {r["name"] for r in catalog["triggers"]} == {"arqonbus_continuum_projection_touch"}
    second = _apply_like_runbook(pg_database, tmp_path, arqonbus.MIGRATION_FILE)
    assert second.exit_code == 0, second.stderr
    with pg_database.connect() as c:
        arqonbus.apply_migration(c)  # the library path agrees with psql
        assert catalog_snapshot(c) == {**catalog, "sequences": catalog_snapshot(c)["sequences"]}
        assert take_manifest(c, system="arqonbus").tables == data  # rerun touched no data
        assert _violations(pg_database) == {name: 0 for name in arqonbus.INVARIANTS}


def test_failed_apply_leaves_nothing(pg_database: Database, tmp_path: Path) -> None:
    text = arqonbus.MIGRATION_FILE.read_text()
    assert text.count("\nCOMMIT;") == 1
    broken = tmp_path / "broken.sql"
    # Fails after every CREATE has run, just before COMMIT: all of it must roll back.
    broken.write_text(text.replace("\nCOMMIT;", "\nSELECT 1 / 0;\nCOMMIT;"))
    done = _apply_like_runbook(pg_database, tmp_path / "wd", broken)
    assert done.exit_code != 0 and "division by zero" in done.stderr
    with pg_database.connect() as c:
        for t in arqonbus.PROJECTOR_TABLES:
            assert c.execute("SELECT to_regclass(%s)", (t,)).fetchone() == (None,)
        assert catalog_snapshot(c)["functions"] == []
        c.rollback()
        with pytest.raises(Exception, match="division by zero"):
            run_script(c, broken.read_text())
        assert c.execute("SELECT to_regclass(%s)", (arqonbus.EVENTS,)).fetchone() == (None,)  # conn still usable
    # ...and the fixed file applies cleanly afterwards (the runbook's "rerun after fix").
    assert _apply_like_runbook(pg_database, tmp_path / "wd", arqonbus.MIGRATION_FILE).exit_code == 0


def test_write_event_appends_and_folds(pg_database: Database) -> None:
    _seeded(pg_database)
    with pg_database.connect() as c:
        last = c.execute(f"SELECT max(sequence) FROM {arqonbus.EVENTS} WHERE stream_id = 'wallet-000002'").fetchone()
        eid = arqonbus.write_event(c, "wallet-000002")
        new_stream = arqonbus.write_event(c, "account-new-1")
        row = c.execute(f"SELECT stream_id, sequence FROM {arqonbus.EVENTS} WHERE event_id = %s", (eid,)).fetchone()
        assert row == ("wallet-000002", last[0] + 1)  # type: ignore[index]
        assert c.execute(f"SELECT sequence FROM {arqonbus.EVENTS} WHERE event_id = %s",
                         (new_stream,)).fetchone() == (1,)
    assert _violations(pg_database) == {name: 0 for name in arqonbus.INVARIANTS}


def test_smoke_flow_and_cleanup_leave_no_trace(pg_database: Database) -> None:
    _seeded(pg_database)
    with pg_database.connect() as c:
        before = take_manifest(c, system="arqonbus").tables
        info = arqonbus.smoke_flow(c)
        assert info["sequence"] > 1 and not info["created_projection"]
        assert take_manifest(c, system="arqonbus").tables != before
        arqonbus.smoke_cleanup(c, info)
        assert take_manifest(c, system="arqonbus").tables == before


def test_smoke_flow_fails_when_identity_is_behind(pg_database: Database) -> None:
    _seeded(pg_database)
    with pg_database.connect() as c:
        # What a restore that lost sequence state looks like: the next default id already exists.
        c.execute("SELECT setval(pg_get_serial_sequence(%s, 'event_id'), 10)", (arqonbus.EVENTS,))
        c.commit()
        with pytest.raises(ProcedureFailed, match="UniqueViolation"):
            arqonbus.smoke_flow(c)


def test_child_process_generates_the_same_rows(drill_infra) -> None:  # type: ignore[no-untyped-def]
    """Issue 19: from CHILD_MIN_EVENTS events on, seed() generates in a child process; its rows must be
    byte-identical to the in-process generator's (same digests, counts and sequence values)."""
    from restore_drill.seeds.arqonbus.generate import EventGenerator, load, load_in_child

    manifests, rows = [], []
    for in_child in (False, True):
        db = drill_infra.database()
        try:
            with db.connect() as c:
                arqonbus.apply_migration(c)
                if in_child:
                    got, peak_kb = load_in_child(c, 5, 2 * STREAMS_PER_SCALE, 2 * EVENTS_PER_SCALE)
                    assert peak_kb > 10_000  # the child's own VmHWM, reported back
                else:
                    with EventGenerator(5, 2 * STREAMS_PER_SCALE, 2 * EVENTS_PER_SCALE) as gen:
                        got = load(c, gen)
                rows.append(got)
                manifests.append(take_manifest(c, system="arqonbus", seed=5, scale=2))
            assert _violations(db) == {name: 0 for name in arqonbus.INVARIANTS}
        finally:
            drill_infra.drop(db)
    assert rows[0] == rows[1] and rows[0][arqonbus.DLQ] > 0
    assert manifests[0].tables == manifests[1].tables and manifests[0].catalog == manifests[1].catalog


def test_child_failure_is_a_harness_fault_and_loads_nothing(pg_database: Database) -> None:
    """A generator process that fails (here: bad arguments it rejects) ends the load with HarnessFault quoting
    its error, and the loading transaction rolls back (the tables stay empty, indexes in place)."""
    from restore_drill.errors import HarnessFault
    from restore_drill.seeds.arqonbus.generate import load_in_child

    with pg_database.connect() as c:
        arqonbus.apply_migration(c)
        c.commit()
        with pytest.raises(HarnessFault, match="exited with status 1: .*need n_events >= n_streams"):
            load_in_child(c, 1, 10, 5)
        c.rollback()
        assert c.execute(f"SELECT count(*) FROM {arqonbus.EVENTS}").fetchone() == (0,)
        assert c.execute("SELECT count(*) FROM pg_indexes WHERE tablename = "
                         "'arqonbus_continuum_projection_events'").fetchone() == (4,)


def test_generated_data_keeps_its_shape() -> None:
    """The vectorised generator (issue 19) keeps the data's distributions: event kinds 45/30/15/10% after
    each stream's opening event, ~2% of the credited/debited/updated ones dead-lettered, large notes at
    LARGE_EVERY, every stream opened in the first half (read back from the binary COPY tuples)."""
    import collections
    import struct

    from restore_drill.seeds.arqonbus.generate import LARGE_EVERY, EventGenerator

    n_streams, n_events = 500, 40_000
    kinds: collections.Counter[str] = collections.Counter()
    first_seen: dict[str, int] = {}
    large = 0
    with EventGenerator(3, n_streams, n_events) as gen:
        data = b"".join(gen.event_chunks())
        pos = 0
        for _ in range(n_events):  # walk the binary tuples: 8 fields, each length-prefixed
            fields = []
            pos += 2
            for _f in range(8):
                (size,) = struct.unpack_from("!i", data, pos)
                fields.append(data[pos + 4:pos + 4 + size])
                pos += 4 + size
            event_id, stream, kind = struct.unpack("!q", fields[2])[0], fields[3].decode(), fields[5].decode()
            kinds[kind.split(".", 1)[1]] += 1
            first_seen.setdefault(stream, event_id)
            large += len(fields[6]) > 30_000
        assert pos == len(data)
        dlq = gen.dlq_count
    assert len(first_seen) == n_streams and max(first_seen.values()) <= n_events // 2
    assert kinds["opened"] == n_streams
    rest = n_events - n_streams - large
    for kind, share in (("credited", 0.45), ("debited", 0.30), ("updated", 0.15)):
        assert abs(kinds[kind] / rest - share) < 0.02, (kind, kinds)
    assert abs((kinds["annotated"] - large) / rest - 0.10) < 0.02
    # A stream's opening event wins over a large note at the same position (as before issue 19): here the
    # openings (every 40th event, first half) take the notes' positions there.
    assert n_events // LARGE_EVERY // 2 <= large <= n_events // LARGE_EVERY + 3
    assert 0.01 < dlq / (kinds["credited"] + kinds["debited"] + kinds["updated"]) < 0.03
