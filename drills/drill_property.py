"""Property drill with the seeds' hypothesis strategies: for generated datasets a clean pg_dump /
pg_restore (and object copy) passes every check (no false alarms), and one random row or object
change is always caught, with the table or key named."""

from __future__ import annotations

import itertools

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from restore_drill.checks import (
    artifact_paths_exist,
    domain_invariants,
    object_integrity,
    projector_consistency,
    referential_integrity,
    row_counts,
    schema_fidelity,
    sequence_health,
    table_checksums,
)
from restore_drill.checks._util import ident, libpq_env
from restore_drill.checks.result import Status
from restore_drill.fixtures import binaries
from restore_drill.procs import run
from restore_drill.seeds.manifest import take_manifest

pytestmark = [
    pytest.mark.property,
    pytest.mark.drill,
]
PROPERTY = settings(max_examples=6, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])
_n = itertools.count()

# A change that alters the row's text for each type; tried column by column until one is accepted
# (constraints may reject some, e.g. a unique slug or a char(2) country).
_CHANGE = {
    "text": "coalesce({c}, '') || '~'", "character varying": "coalesce({c}, '') || '~'",
    "integer": "coalesce({c}, 0) + 1", "bigint": "coalesce({c}, 0) + 1", "smallint": "coalesce({c}, 0) + 1",
    "jsonb": "jsonb_build_object('~', {c})", "boolean": "NOT coalesce({c}, false)",
    "timestamp with time zone": "coalesce({c}, 'epoch') + interval '1 microsecond'",
}


def change_one_row(conn: psycopg.Connection, table: str, k: int, order: list[int]) -> str:
    cols = conn.execute("SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
                        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                        (table,)).fetchall()
    for i in order:
        col, typ = cols[i % len(cols)]
        if typ not in _CHANGE:
            continue
        expr = sql.SQL(_CHANGE[typ]).format(c=sql.Identifier(col))
        try:
            with conn.transaction():
                cur = conn.execute(sql.SQL("UPDATE {t} SET {c} = {e} WHERE ctid = (SELECT ctid FROM {t} "
                                           "ORDER BY ctid OFFSET {k} LIMIT 1)").format(
                    t=ident(table), c=sql.Identifier(col), e=expr, k=sql.Literal(k)))
                if cur.rowcount == 1:
                    return col
        except psycopg.Error:
            continue
    raise AssertionError(f"no column of {table} could be changed")


def dump_restore(src, dst, tmp_path) -> None:
    bins = binaries.select(16)
    f = tmp_path / f"p{next(_n)}.dump"
    run([bins.tool("pg_dump"), "-Fc", "--no-owner", "-f", f], env=libpq_env(src), timeout_s=120, check=True)
    run([bins.tool("pg_restore"), "--no-owner", "-d", dst.name, f], env=libpq_env(dst), timeout_s=120, check=True)
    f.unlink()


def assert_all_passed(results, nothing_to_check: frozenset[str] = frozenset()) -> None:
    """Every result passed, except those named in ``nothing_to_check``, which may instead be skipped with
    "nothing to check" (issue 13: a check with nothing to examine, in the manifest or the restore, never
    passes)."""
    bad = [(r.name, r.status.value, r.message) for r in results if r.status is not Status.PASSED
           and not (r.name in nothing_to_check and r.status is Status.SKIPPED
                    and r.message.startswith("nothing to check"))]
    assert not bad, bad


@pytest.fixture(scope="module")
def bucket(drill_infra):
    b = drill_infra.bucket("property")
    yield b
    drill_infra.s3.delete_bucket(b)


def _pegasus_example(drill_infra, bucket, tmp_path, ds, data) -> None:
    from restore_drill.seeds import pegasus
    from restore_drill.seeds.pegasus.dataset import load_rows, upload_objects

    client = bucket.endpoint.client()
    n = next(_n)
    live, restored = f"live-{n}", f"restored-{n}"
    src, dst = drill_infra.database(), drill_infra.database()
    try:
        with src.connect(autocommit=True) as c:
            pegasus.apply_schema(c)
            load_rows(c, ds)
            upload_objects(client, bucket.name, live, ds.objects)
            manifest = take_manifest(c, system="pegasus", s3_client=client, bucket=bucket.name, prefix=live)
        dump_restore(src, dst, tmp_path)
        for o in ds.objects:  # the storage restore: server-side copies from the snapshot prefix
            client.copy_object(Bucket=bucket.name, Key=f"{restored}/{o.key}",
                               CopySource={"Bucket": bucket.name, "Key": f"{live}/{o.key}"})
        with dst.connect(autocommit=True) as c:
            assert_all_passed([
                row_counts(c, manifest), table_checksums(c, manifest), schema_fidelity(c, manifest),
                sequence_health(c, manifest=manifest), referential_integrity(c, manifest),
                domain_invariants(c, pegasus.INVARIANTS),
                artifact_paths_exist(c, client, bucket.name, restored, pegasus.REFERENCE_COLUMNS),
                object_integrity(client, bucket.name, restored, manifest),
            ], nothing_to_check=frozenset() if ds.objects else frozenset({"artifact_paths_exist", "object_integrity"}))
            if ds.objects and data.draw(st.booleans(), label="change an object"):
                o = data.draw(st.sampled_from(ds.objects), label="object")
                body = bytearray(o.body or b"\0")
                body[data.draw(st.integers(0, len(body) - 1), label="byte")] ^= 0x01
                client.put_object(Bucket=bucket.name, Key=f"{restored}/{o.key}", Body=bytes(body),
                                  ContentType=o.content_type, Metadata=o.metadata)
                res = object_integrity(client, bucket.name, restored, manifest)
                assert res.status is Status.FAILED and res.evidence["changed"]["items"][0]["key"] == o.key
            else:
                table = data.draw(st.sampled_from([t for t, rows in ds.rows.items() if rows]), label="table")
                k = data.draw(st.integers(0, len(ds.rows[table]) - 1), label="row")
                change_one_row(c, table, k, data.draw(st.permutations(range(16)), label="columns"))
                res = table_checksums(c, manifest)
                assert res.status is Status.FAILED and table in res.message
                assert [m["table"] for m in res.evidence["mismatches"]["items"]] == [table]
    finally:
        drill_infra.drop(src)
        drill_infra.drop(dst)


def _arqonbus_example(drill_infra, tmp_path, ds, data) -> None:
    from restore_drill.seeds import arqonbus
    from restore_drill.seeds.arqonbus.generate import load_dataset

    src, dst = drill_infra.database(), drill_infra.database()
    try:
        with src.connect(autocommit=True) as c:
            arqonbus.apply_migration(c)
            load_dataset(c, ds)
            manifest = take_manifest(c, system="arqonbus", tables=list(arqonbus.PROJECTOR_TABLES))
        dump_restore(src, dst, tmp_path)
        with dst.connect(autocommit=True) as c:
            assert_all_passed([
                row_counts(c, manifest), table_checksums(c, manifest), schema_fidelity(c, manifest),
                sequence_health(c, manifest=manifest), referential_integrity(c, manifest),
                projector_consistency(c, arqonbus.INVARIANTS),
            ])
            tables = [t for t, rows in ((arqonbus.EVENTS, ds.events), (arqonbus.DLQ, ds.dlq),
                                        (arqonbus.PROJECTION, ds.projections)) if rows]
            table = data.draw(st.sampled_from(tables), label="table")
            k = data.draw(st.integers(0, int(manifest.tables[table].row_count) - 1), label="row")
            change_one_row(c, table, k, data.draw(st.permutations(range(16)), label="columns"))
            res = table_checksums(c, manifest)
            assert res.status is Status.FAILED and table in res.message
    finally:
        drill_infra.drop(src)
        drill_infra.drop(dst)


def test_pegasus_property(drill_infra, bucket, tmp_path):
    from restore_drill.seeds.strategies import pegasus_datasets

    @PROPERTY
    @given(ds=pegasus_datasets(), data=st.data())
    def prop(ds, data):
        _pegasus_example(drill_infra, bucket, tmp_path, ds, data)
    prop()


def test_arqonbus_property(drill_infra, tmp_path):
    from restore_drill.seeds.strategies import arqonbus_datasets

    @PROPERTY
    @given(ds=arqonbus_datasets(), data=st.data())
    def prop(ds, data):
        _arqonbus_example(drill_infra, tmp_path, ds, data)
    prop()


# -- every catalog kind pg_dump carries (issue 14) ------------------------------------------------

_LABELS = st.lists(st.sampled_from(["new", "open", "held", "done", "lost", "void"]), min_size=1, max_size=4,
                   unique=True)
_COMMENT = st.text(st.characters(min_codepoint=32, max_codepoint=0x24F, exclude_characters="'\\"), min_size=1,
                   max_size=20)


@st.composite
def catalog_datasets(draw: st.DrawFn) -> dict:
    """A small schema ``prop`` holding a random selection of the kinds schema_fidelity compares."""
    return {"partitions": draw(st.integers(1, 3), label="partitions"),
            "large_objects": draw(st.integers(0, 4), label="large objects"),
            "policies": draw(st.integers(0, 2), label="policies"),
            "grant": draw(st.booleans(), label="grant"), "labels": draw(_LABELS, label="enum labels"),
            "comment": draw(_COMMENT, label="comment"), "populated": draw(st.booleans(), label="populated"),
            "rows": draw(st.integers(0, 30), label="rows")}


def catalog_sql(ds: dict) -> tuple[str, list[tuple[str, str]]]:
    """(SQL creating the dataset, [(SQL that loses one object, text schema_fidelity must name)])."""
    q = "'" + ds["comment"].replace("'", "''") + "'"
    labels = ", ".join("'" + x + "'" for x in ds["labels"])
    parts = "".join(f"CREATE TABLE prop.ev_{i} PARTITION OF prop.ev FOR VALUES FROM ({i * 100}) TO ({i * 100 + 100});\n"
                    for i in range(ds["partitions"]))
    out = [f"""
DO $$ BEGIN CREATE ROLE rd_prop_reader NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE SCHEMA prop;
CREATE TYPE prop.state AS ENUM ({labels});
CREATE TABLE prop.ev (k int NOT NULL, s prop.state, blob oid, gone int) PARTITION BY RANGE (k);
{parts}ALTER TABLE prop.ev DROP COLUMN gone;
INSERT INTO prop.ev (k, s) SELECT g % {ds['partitions'] * 100}, '{ds['labels'][0]}' FROM generate_series(1, {ds['rows']}) g;
COMMENT ON TABLE prop.ev IS {q};
CREATE TABLE prop.files (id int PRIMARY KEY, blob oid);
INSERT INTO prop.files SELECT g, lo_from_bytea(0, convert_to(repeat('x', g), 'UTF8')) FROM generate_series(1, {ds['large_objects']}) g;
CREATE MATERIALIZED VIEW prop.counts AS SELECT s, count(*) AS n FROM prop.ev GROUP BY s {'' if ds['populated'] else 'WITH NO DATA'};
ALTER TABLE prop.files ENABLE ROW LEVEL SECURITY;
"""]
    losses = [("ALTER TABLE prop.files DISABLE ROW LEVEL SECURITY", "- row security prop.files"),
              (f"ALTER TYPE prop.state ADD VALUE 'extra{len(ds['labels'])}'", "~ type prop.state"),
              ("COMMENT ON TABLE prop.ev IS NULL", "- comment table prop.ev"),
              (f"ALTER TABLE prop.ev DETACH PARTITION prop.ev_{ds['partitions'] - 1}",
               f"- partition partition of prop.ev on prop.ev_{ds['partitions'] - 1}"),
              ("DROP MATERIALIZED VIEW prop.counts", "- materialized view prop.counts")]
    for i in range(ds["policies"]):
        out.append(f"CREATE POLICY p{i} ON prop.files USING (id > {i});\n")
        losses.append((f"DROP POLICY p{i} ON prop.files", f"- policy p{i} on prop.files"))
    if ds["grant"]:
        out.append("GRANT SELECT ON prop.files TO rd_prop_reader;\n")
        losses.append(("REVOKE SELECT ON prop.files FROM rd_prop_reader", "- privilege table to rd_prop_reader"))
    if ds["large_objects"]:
        losses.append(("SELECT lo_unlink(max(blob)) FROM prop.files", "- large object "))
    return "".join(out), losses


def test_catalog_kinds_property(drill_infra, tmp_path):
    """For generated schemas holding the kinds schema_fidelity compares (partitions, a dropped column,
    enums, comments, row security, policies, grants, large objects, a materialized view populated or
    not), a sound pg_dump/pg_restore passes every check, and losing any one object is caught by name."""

    @PROPERTY
    @given(ds=catalog_datasets(), data=st.data())
    def prop(ds, data):
        setup, losses = catalog_sql(ds)
        src, dst = drill_infra.database(), drill_infra.database()
        try:
            with src.connect(autocommit=True) as c:
                c.execute(setup)
            with src.connect() as c:
                manifest = take_manifest(c, system="prop", schemas=("prop",))
            dump_restore(src, dst, tmp_path)
            with dst.connect(autocommit=True) as c:
                assert_all_passed([row_counts(c, manifest), table_checksums(c, manifest),
                                   schema_fidelity(c, manifest), sequence_health(c, manifest=manifest, schemas=("prop",))])
                fault, named = data.draw(st.sampled_from(losses), label="loss")
                c.execute(fault)
                res = schema_fidelity(c, manifest)
                assert res.status is Status.FAILED, (fault, res.message)
                assert any(named in line for line in res.evidence["diff"]["items"]), (fault, res.evidence["diff"])
        finally:
            drill_infra.drop(src)
            drill_infra.drop(dst)
    prop()
