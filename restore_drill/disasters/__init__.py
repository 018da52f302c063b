"""Disaster injectors: what goes wrong between the backup and the restore.

Each injector takes a DisasterContext, refuses targets the harness did not create (unless the user
named them with --allow-destructive), does one kind of damage, and returns a DisasterRecord saying
exactly what it did (tables, row ids, counts, digests, object keys and hashes), so a report can
show the damage and the checks can be judged against it. Choices are drawn from ``seed``: the
same seed on the same data does the same damage. An injector that finds nothing to damage raises
HarnessFault: a drill whose disaster did nothing must not pass.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg import sql

from restore_drill.errors import BadInput, HarnessFault
from restore_drill.fixtures.database import Database, ensure_destructive_allowed
from restore_drill.fixtures.s3 import Bucket, ensure_bucket_destructive_allowed
from restore_drill.records import DisasterRecord
from restore_drill.seeds.manifest import qualified, table_digest, utcnow

MAX_RECORDED_IDS = 10_000  # beyond this a record keeps the count and the first ids only


@dataclass
class DisasterContext:
    db: Database
    tables: Sequence[str] = ()  # tables in scope (schema-qualified or public)
    seed: int = 0
    allow_destructive: str | None = None
    s3_client: Any = None  # defaults to bucket.endpoint.client()
    bucket: Bucket | None = None  # the live bucket
    prefix: str = ""  # the live prefix, e.g. "pegasus"
    backup_bucket: Bucket | None = None  # where dated snapshots live (default: bucket)
    snapshot_prefix: str | None = None  # the snapshot the backup wrote, e.g. "pegasus-2026-03-01"
    backup_date: str | None = None  # YYYY-MM-DD of the database dump
    backup_at: str | None = None  # when the backup finished (late-writes records the window from it)
    write_row: Callable[[psycopg.Connection], Any] | None = None  # late-writes: writes one valid row
    fraction: float = 0.2
    count: int = 3  # late-writes: rows to write
    target_table: str | None = None  # pin the table instead of drawing one

    def client(self) -> Any:
        if self.s3_client is not None:
            return self.s3_client
        if self.bucket is None:
            raise BadInput("this disaster damages object storage; the drill has no bucket (use a system with storage)")
        return self.bucket.endpoint.client()

    @property
    def scope(self) -> list[str]:
        return sorted(qualified(t) for t in self.tables)

    def rng(self) -> random.Random:
        return random.Random(self.seed)


# -- database helpers -------------------------------------------------------------------------------

def _ident(table: str) -> sql.Identifier:
    schema, name = qualified(table).split(".", 1)
    return sql.Identifier(schema, name)


def _counts(conn: psycopg.Connection, tables: Sequence[str]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for t in tables:
        if conn.execute("SELECT to_regclass(%s)", (qualified(t),)).fetchone()[0] is None:  # type: ignore[index]
            out[t] = None  # the table does not exist (dropped)
            continue
        out[t] = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(_ident(t))).fetchone()[0]  # type: ignore[index]
    return out


def _pk(conn: psycopg.Connection, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
        (qualified(table),),
    ).fetchall()
    return [r[0] for r in rows]


def _referencing(conn: psycopg.Connection, table: str) -> list[dict[str, str]]:
    """Foreign keys on other tables that point at ``table``."""
    rows = conn.execute(
        "SELECT n.nspname || '.' || c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE k.contype = 'f' AND k.confrelid = %s::regclass AND k.conrelid <> k.confrelid ORDER BY 1, 2",
        (qualified(table),),
    ).fetchall()
    return [{"table": r[0], "constraint": r[1], "definition": r[2]} for r in rows]


def _pick_table(ctx: DisasterContext, conn: psycopg.Connection, *, need_pk: bool, prefer_leaf: bool) -> str:
    if ctx.target_table is not None:
        t = qualified(ctx.target_table)
        if t not in ctx.scope:
            raise BadInput(f"target table {t} is not among the drill's tables {ctx.scope}")
        return t
    counts = _counts(conn, ctx.scope)
    cands = [t for t in ctx.scope if counts.get(t) and (not need_pk or _pk(conn, t))]
    if not cands:
        raise HarnessFault(f"no table in {ctx.scope} has rows{' and a primary key' if need_pk else ''} to damage; "
                           "seed data before the disaster")
    if prefer_leaf:
        leaves = [t for t in cands if not _referencing(conn, t)]
        cands = leaves or cands
    return ctx.rng().choice(cands)


def _ids(rows: Sequence[Sequence[Any]]) -> list[Any]:
    out = [r[0] if len(r) == 1 else list(r) for r in rows[:MAX_RECORDED_IDS]]
    return [v if isinstance(v, int | str | list) else str(v) for v in out]


def _sample_count(n: int, fraction: float) -> int:
    return max(1, min(n, round(n * fraction)))


def _db_record(name: str, ctx: DisasterContext, summary: str, details: dict[str, Any]) -> DisasterRecord:
    return DisasterRecord(name=name, at=utcnow(), target=f"database {ctx.db.name}", details={"summary": summary, **details})


# -- database injectors -----------------------------------------------------------------------------

def truncate(ctx: DisasterContext) -> DisasterRecord:
    """TRUNCATE every table in scope (or the pinned one) in one statement."""
    ensure_destructive_allowed(ctx.db, ctx.allow_destructive, "truncate tables")
    tables = [qualified(ctx.target_table)] if ctx.target_table else ctx.scope
    if not tables:
        raise BadInput("truncate needs tables in scope")
    with ctx.db.connect() as conn:
        before = _counts(conn, tables)
        try:
            conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(_ident(t) for t in tables)))
        except psycopg.errors.FeatureNotSupported as e:
            raise BadInput(f"truncate: {str(e).strip()}; add the referencing tables to the drill's tables") from None
        after = _counts(conn, tables)
        conn.commit()
    rows = sum(v or 0 for v in before.values())
    return _db_record("truncate", ctx, f"truncated {len(tables)} table(s), {rows} row(s) removed",
                      {"tables": tables, "rows_before": before, "rows_after": after})


def drop_table(ctx: DisasterContext) -> DisasterRecord:
    """DROP TABLE ... CASCADE on one table; records the foreign keys the cascade removed elsewhere."""
    ensure_destructive_allowed(ctx.db, ctx.allow_destructive, "drop a table")
    with ctx.db.connect() as conn:
        table = _pick_table(ctx, conn, need_pk=False, prefer_leaf=False)
        rows = _counts(conn, [table])[table]
        refs = _referencing(conn, table)
        conn.execute(sql.SQL("DROP TABLE {} CASCADE").format(_ident(table)))
        gone = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None  # type: ignore[index]
        conn.commit()
    if not gone:
        raise HarnessFault(f"drop-table: {table} still exists after DROP TABLE")
    return _db_record("drop-table", ctx, f"dropped {table} ({rows} rows) and {len(refs)} foreign key(s) into it",
                      {"table": table, "rows": rows, "cascade_dropped_constraints": refs})


def delete_rows(ctx: DisasterContext) -> DisasterRecord:
    """DELETE a fraction of one table's rows, chosen by primary key; counts every table before and after."""
    ensure_destructive_allowed(ctx.db, ctx.allow_destructive, "delete rows")
    with ctx.db.connect() as conn:
        table = _pick_table(ctx, conn, need_pk=True, prefer_leaf=True)
        pk = _pk(conn, table)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in pk)
        all_ids = conn.execute(sql.SQL("SELECT {} FROM {} ORDER BY {}").format(cols, _ident(table), cols)).fetchall()
        chosen = sorted(ctx.rng().sample(all_ids, _sample_count(len(all_ids), ctx.fraction)))
        before = _counts(conn, ctx.scope)
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE TEMP TABLE _rd_victims ON COMMIT DROP AS SELECT {} FROM {} LIMIT 0").format(
                cols, _ident(table)))
            with cur.copy(sql.SQL("COPY _rd_victims ({}) FROM STDIN").format(cols)) as cp:
                for r in chosen:
                    cp.write_row(r)
            cur.execute(sql.SQL("DELETE FROM {} t USING _rd_victims v WHERE {}").format(
                _ident(table),
                sql.SQL(" AND ").join(sql.SQL("t.{c} = v.{c}").format(c=sql.Identifier(c)) for c in pk)))
            deleted = cur.rowcount
        after = _counts(conn, ctx.scope)
        conn.commit()
    if deleted != len(chosen):
        raise HarnessFault(f"delete-rows: meant to delete {len(chosen)} rows of {table}, deleted {deleted}")
    return _db_record("delete-rows", ctx, f"deleted {deleted} of {len(all_ids)} rows of {table}", {
        "table": table, "primary_key": pk, "deleted": deleted, "rows_before_in_table": len(all_ids),
        "ids": _ids(chosen), "rows_before": before, "rows_after": after,
    })


# Corruption per column type: an expression that always yields a different value of the same type.
_CORRUPT_BY_TYPE: list[tuple[tuple[str, ...], str]] = [
    (("text", "character varying"), "left('corrupt:' || md5(coalesce({c}::text, '') || 'x'), {n})"),
    (("character",), "CASE WHEN coalesce({c}, '') = left(md5('x'), {n}) THEN left(md5('y'), {n}) "
                     "ELSE left(md5('x'), {n}) END"),
    (("jsonb",), "coalesce({c}, jsonb_build_object()) || jsonb_build_object('rd_corrupt', md5(coalesce({c}::text, '')))"),
    (("integer", "bigint", "smallint", "numeric", "double precision", "real"), "coalesce({c}, 0) + 1"),
    (("boolean",), "NOT coalesce({c}, false)"),
    (("timestamp with time zone", "timestamp without time zone", "date"),
     "coalesce({c}, now()::date) + interval '1 day'"),
]


def _corruptible_columns(conn: psycopg.Connection, table: str) -> list[tuple[str, str, int | None]]:
    """(column, data type, char length) not in a key, unique or foreign-key constraint, not generated."""
    rows = conn.execute(
        """SELECT c.column_name, c.data_type, c.character_maximum_length FROM information_schema.columns c
           WHERE c.table_schema = %(s)s AND c.table_name = %(t)s AND c.is_generated = 'NEVER' AND c.is_identity = 'NO'
             AND NOT EXISTS (
               SELECT 1 FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY(k.conkey)
               WHERE k.conrelid = %(q)s::regclass AND k.contype IN ('p', 'u', 'f') AND a.attname = c.column_name)
           ORDER BY c.ordinal_position""",
        {"s": qualified(table).split(".")[0], "t": qualified(table).split(".", 1)[1], "q": qualified(table)},
    ).fetchall()
    order = {t: i for i, (types, _) in enumerate(_CORRUPT_BY_TYPE) for t in types}
    cols = [(r[0], r[1], r[2]) for r in rows if r[1] in order]
    return sorted(cols, key=lambda c: order[c[1]])


def corrupt_rows(ctx: DisasterContext) -> DisasterRecord:
    """Change one column's value in a fraction of one table's rows, in place: same row count, new digest."""
    ensure_destructive_allowed(ctx.db, ctx.allow_destructive, "corrupt rows")
    with ctx.db.connect() as conn:
        table = _pick_table(ctx, conn, need_pk=True, prefer_leaf=False)
        pk = _pk(conn, table)
        pk_cols = sql.SQL(", ").join(sql.Identifier(c) for c in pk)
        all_ids = conn.execute(sql.SQL("SELECT {} FROM {} ORDER BY {}").format(pk_cols, _ident(table), pk_cols)).fetchall()
        chosen = sorted(ctx.rng().sample(all_ids, _sample_count(len(all_ids), ctx.fraction)))
        count_before, digest_before = table_digest(conn, table)
        triggers = [r[0] for r in conn.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal AND tgenabled <> 'D'",
            (table,)).fetchall()]
        where = sql.SQL("({}) IN (SELECT {} FROM _rd_victims)").format(pk_cols, pk_cols)
        conn.execute(sql.SQL("CREATE TEMP TABLE _rd_victims ON COMMIT DROP AS SELECT {} FROM {} LIMIT 0").format(
            pk_cols, _ident(table)))
        with conn.cursor() as cur, cur.copy(sql.SQL("COPY _rd_victims ({}) FROM STDIN").format(pk_cols)) as cp:
            for r in chosen:
                cp.write_row(r)
        used, tried = None, []
        for col, dtype, length in _corruptible_columns(conn, table):
            expr = next(e for types, e in _CORRUPT_BY_TYPE if dtype in types)
            expr = expr.replace("{n}", str(length or (1 if dtype == "character" else 10_000)))
            stmt = sql.SQL("UPDATE {} SET {} = {} WHERE {}").format(
                _ident(table), sql.Identifier(col), sql.SQL(expr).format(c=sql.Identifier(col)), where)
            try:
                with conn.transaction():  # a savepoint: a CHECK constraint may refuse this column
                    updated = conn.execute(stmt).rowcount
                used = (col, dtype, updated)
                break
            except psycopg.Error as e:
                tried.append(f"{col}: {type(e).__name__}")
        if used is None:
            raise HarnessFault(f"corrupt-rows: no column of {table} could be changed in place (tried {tried})")
        count_after, digest_after = table_digest(conn, table)
        conn.commit()
    if count_after != count_before or digest_after == digest_before:
        raise HarnessFault(f"corrupt-rows on {table}: rows {count_before}->{count_after}, digest unchanged="
                           f"{digest_after == digest_before}")
    col, dtype, updated = used
    return _db_record("corrupt-rows", ctx, f"changed {col} in {updated} of {count_before} rows of {table} in place", {
        "table": table, "column": col, "column_type": dtype, "primary_key": pk, "ids": _ids(chosen),
        "updated": updated, "row_count": count_before, "row_count_after": count_after,
        "digest_before": digest_before, "digest_after": digest_after, "columns_refused": tried,
        "triggers_fired": triggers,
    })


def late_writes(ctx: DisasterContext) -> DisasterRecord:
    """Write ``count`` valid rows after the backup (the data-loss window), timestamping each write."""
    if ctx.write_row is None:
        raise BadInput("late-writes needs a writer that inserts one valid row (the system's seeds provide it)")
    ensure_destructive_allowed(ctx.db, ctx.allow_destructive, "write rows")
    writes = []
    with ctx.db.connect() as conn:
        before = _counts(conn, ctx.scope)
        for _ in range(ctx.count):
            ret = ctx.write_row(conn)
            conn.commit()
            writes.append({"committed_at": utcnow(), "row": ret if isinstance(ret, int | str) else repr(ret)})
        after = _counts(conn, ctx.scope)
    if not writes:
        raise HarnessFault("late-writes wrote nothing (count = 0)")
    return _db_record("late-writes", ctx, f"committed {len(writes)} write(s) after the backup", {
        "writes": writes, "backup_at": ctx.backup_at, "first_write_at": writes[0]["committed_at"],
        "last_write_at": writes[-1]["committed_at"], "rows_before": before, "rows_after": after,
    })


# -- object storage injectors -----------------------------------------------------------------------

def _keys(client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    base = prefix.strip("/") + "/" if prefix.strip("/") else ""
    out: list[dict[str, Any]] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
        out += [{"key": o["Key"], "size": int(o["Size"])} for o in page.get("Contents", [])]
    return sorted(out, key=lambda o: o["key"])


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _storage(ctx: DisasterContext, what: str) -> tuple[Any, Bucket]:
    if ctx.bucket is None:
        raise BadInput(f"{what} damages object storage; the drill has no bucket (use a system with storage)")
    ensure_bucket_destructive_allowed(ctx.bucket, ctx.allow_destructive, what)
    return ctx.client(), ctx.bucket


def _s3_record(name: str, bucket: str, prefix: str, summary: str, details: dict[str, Any]) -> DisasterRecord:
    return DisasterRecord(name=name, at=utcnow(), target=f"s3://{bucket}/{prefix.strip('/')}/",
                          details={"summary": summary, **details})


def _delete(client: Any, bucket: str, keys: list[str]) -> None:
    for i in range(0, len(keys), 1000):
        resp = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]],
                                                              "Quiet": True})
        if resp.get("Errors"):
            raise HarnessFault(f"delete failed for {len(resp['Errors'])} object(s), first {resp['Errors'][0]}")


def delete_objects(ctx: DisasterContext) -> DisasterRecord:
    """Delete a fraction of the objects under the live prefix."""
    client, bucket = _storage(ctx, "delete objects")
    objs = _keys(client, bucket.name, ctx.prefix)
    if not objs:
        raise HarnessFault(f"delete-objects: no objects under s3://{bucket.name}/{ctx.prefix}/; seed storage first")
    chosen = sorted(ctx.rng().sample(objs, _sample_count(len(objs), ctx.fraction)), key=lambda o: o["key"])
    for o in chosen:
        o["sha256"] = _sha256(client.get_object(Bucket=bucket.name, Key=o["key"])["Body"].read())
    _delete(client, bucket.name, [o["key"] for o in chosen])
    return _s3_record("delete-objects", bucket.name, ctx.prefix, f"deleted {len(chosen)} of {len(objs)} objects",
                      {"deleted": chosen, "objects_before": len(objs)})


def overwrite_objects(ctx: DisasterContext) -> DisasterRecord:
    """Overwrite a fraction of objects in place with different bytes of the same size (type and metadata kept)."""
    client, bucket = _storage(ctx, "overwrite objects")
    objs = [o for o in _keys(client, bucket.name, ctx.prefix) if o["size"] > 0]
    if not objs:
        raise HarnessFault(f"overwrite-objects: no non-empty objects under s3://{bucket.name}/{ctx.prefix}/")
    rng = ctx.rng()
    chosen = sorted(rng.sample(objs, _sample_count(len(objs), ctx.fraction)), key=lambda o: o["key"])
    done = []
    for o in chosen:
        got = client.get_object(Bucket=bucket.name, Key=o["key"])
        old = got["Body"].read()
        new = bytearray(rng.randbytes(len(old)))
        if bytes(new) == old:
            new[0] ^= 0xFF
        extra: dict[str, Any] = {"Metadata": got.get("Metadata", {}) or {}}
        if got.get("ContentType"):
            extra["ContentType"] = got["ContentType"]
        client.put_object(Bucket=bucket.name, Key=o["key"], Body=bytes(new), **extra)
        done.append({"key": o["key"], "size": len(old), "sha256_before": _sha256(old),
                     "sha256_after": _sha256(bytes(new))})
    return _s3_record("overwrite-objects", bucket.name, ctx.prefix,
                      f"overwrote {len(done)} of {len(objs)} objects in place, same sizes",
                      {"overwritten": done, "objects_before": len(objs)})


def delete_prefix(ctx: DisasterContext) -> DisasterRecord:
    """Delete every object under the live prefix."""
    client, bucket = _storage(ctx, "delete a prefix")
    objs = _keys(client, bucket.name, ctx.prefix)
    if not objs:
        raise HarnessFault(f"delete-prefix: no objects under s3://{bucket.name}/{ctx.prefix}/; seed storage first")
    _delete(client, bucket.name, [o["key"] for o in objs])
    left = _keys(client, bucket.name, ctx.prefix)
    if left:
        raise HarnessFault(f"delete-prefix: {len(left)} object(s) remain under the prefix")
    return _s3_record("delete-prefix", bucket.name, ctx.prefix, f"deleted all {len(objs)} objects under the prefix", {
        "deleted_count": len(objs), "deleted_bytes": sum(o["size"] for o in objs),
        "deleted": [o["key"] for o in objs][:MAX_RECORDED_IDS],
    })


def mismatched_snapshots(ctx: DisasterContext) -> DisasterRecord:
    """A storage snapshot from the day before the database dump, with different content, to restore from.

    Writes ``<prefix>-<day before>`` in the backup bucket: a copy of the matching snapshot (or the
    live prefix) without a fraction of objects (not yet written that day) and with a fraction of
    others holding different bytes (older versions). ``details["restore_prefix"]`` names it: the
    runner restores storage from it while the database comes from the later day's dump.
    """
    if ctx.bucket is None:
        raise BadInput("mismatched-snapshots needs object storage; the drill has no bucket")
    backup = ctx.backup_bucket or ctx.bucket
    ensure_bucket_destructive_allowed(backup, ctx.allow_destructive, "write a snapshot prefix")
    client = ctx.client()
    db_day = date.fromisoformat(ctx.backup_date) if ctx.backup_date else date.today()
    storage_day = db_day - timedelta(days=1)
    src_bucket, src_prefix = ((backup.name, ctx.snapshot_prefix) if ctx.snapshot_prefix
                              else (ctx.bucket.name, ctx.prefix))
    dest_prefix = f"{ctx.prefix.strip('/')}-{storage_day.isoformat()}"
    if dest_prefix.strip("/") == (src_prefix or "").strip("/"):
        raise BadInput(f"mismatched-snapshots: the other day's prefix {dest_prefix} is the source itself")
    if _keys(client, backup.name, dest_prefix):
        raise BadInput(f"mismatched-snapshots: s3://{backup.name}/{dest_prefix}/ already exists; use a fresh bucket")
    objs = _keys(client, src_bucket, src_prefix)
    if len(objs) < 2:
        raise HarnessFault(f"mismatched-snapshots: s3://{src_bucket}/{src_prefix}/ holds {len(objs)} object(s); "
                           "need at least 2 to make a different day")
    rng = ctx.rng()
    n = _sample_count(len(objs), ctx.fraction)
    picked = rng.sample(objs, min(len(objs), 2 * n))
    omitted = sorted(o["key"] for o in picked[:n])
    changed_src = {o["key"] for o in picked[n:]}
    base = src_prefix.strip("/") + "/"
    changed, copied = [], 0
    for o in objs:
        if o["key"] in omitted:
            continue
        rel = o["key"][len(base):]
        dest = f"{dest_prefix}/{rel}"
        if o["key"] in changed_src:
            old = client.get_object(Bucket=src_bucket, Key=o["key"])["Body"].read()
            new = b"older version of " + rel.encode() + b"\n" + rng.randbytes(max(1, len(old) // 2))
            client.put_object(Bucket=backup.name, Key=dest, Body=new)
            changed.append({"key": rel, "sha256_matching": _sha256(old), "sha256_other_day": _sha256(new)})
        else:
            client.copy_object(Bucket=backup.name, Key=dest, CopySource={"Bucket": src_bucket, "Key": o["key"]})
            copied += 1
    if not changed and not omitted:
        raise HarnessFault("mismatched-snapshots: the other day's snapshot does not differ")
    return _s3_record("mismatched-snapshots", backup.name, dest_prefix,
                      f"storage restore will use the {storage_day} snapshot, the database the {db_day} dump", {
                          "db_day": db_day.isoformat(), "storage_day": storage_day.isoformat(),
                          "restore_prefix": dest_prefix, "matching_prefix": src_prefix,
                          "missing_in_other_day": [k[len(base):] for k in omitted], "changed_in_other_day": changed,
                          "copied_unchanged": copied,
                      })


INJECTORS: dict[str, Callable[[DisasterContext], DisasterRecord]] = {
    "truncate": truncate,
    "drop-table": drop_table,
    "delete-rows": delete_rows,
    "corrupt-rows": corrupt_rows,
    "late-writes": late_writes,
    "delete-objects": delete_objects,
    "overwrite-objects": overwrite_objects,
    "delete-prefix": delete_prefix,
    "mismatched-snapshots": mismatched_snapshots,
}
STORAGE_DISASTERS = frozenset({"delete-objects", "overwrite-objects", "delete-prefix", "mismatched-snapshots"})


def names() -> list[str]:
    return list(INJECTORS)


def inject(name: str, ctx: DisasterContext) -> DisasterRecord:
    fn = INJECTORS.get(name)
    if fn is None:
        raise BadInput(f"unknown disaster {name!r}; choose one of {', '.join(INJECTORS)} (--disaster NAME)")
    return fn(ctx)


def restore_prefix(record: DisasterRecord) -> str | None:
    """The storage prefix the restore must use after this disaster (mismatched-snapshots), if any."""
    v = record.details.get("restore_prefix")
    return str(v) if v else None


def as_hook(name: str, make_context: Callable[[Any], DisasterContext]) -> Callable[[Any], Any]:
    """A runbook-runner hook that injects ``name``; ``make_context(HookContext)`` builds its context.

    The outcome carries the record and, for mismatched-snapshots, RESTORE_PREFIX for the restore.
    """
    from restore_drill.runbook.runner import HookOutcome

    def hook(hctx: Any) -> HookOutcome:
        rec = inject(name, make_context(hctx))
        prefix = restore_prefix(rec)
        return HookOutcome(summary=f"{name}: {rec.details.get('summary', '')}", records=[rec],
                           variables={"RESTORE_PREFIX": prefix} if prefix else {})

    return hook
