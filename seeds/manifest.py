"""The manifest: what a database and a bucket held at one moment, to compare a restore against.

Table digests are order-independent sums of per-row 64-bit hashes computed on the server, so they
stream (no table is loaded into memory) and agree between source and restore whatever the row order.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from restore_drill.foundation import qualified, table_digest, utcnow
from restore_drill.objectstore import S3Client, S3Store

from .catalog_objects import TABLE_KINDS, catalog_objects

SCHEMA_VERSION = 1


@dataclass
class TableSnapshot:
    name: str  # schema-qualified, e.g. "public.lectures"
    row_count: int
    digest: str


@dataclass
class ObjectSnapshot:
    key: str
    size: int
    sha256: str
    content_type: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    etag: str = ""  # as S3 listed it, quotes included ("" in manifests written before issue 19)


@dataclass
class Manifest:
    system: str
    taken_at: str
    seed: int | None = None
    scale: int | None = None
    tables: dict[str, TableSnapshot] = field(default_factory=dict)
    catalog: dict[str, Any] = field(default_factory=dict)
    bucket: str | None = None
    prefix: str | None = None
    objects: dict[str, ObjectSnapshot] = field(default_factory=dict)  # key relative to prefix
    schemas: list[str] = field(default_factory=lambda: ["public"])  # the schemas the catalog covers
    # Defects already in the source at backup time: check name -> {"message", "items": {item: badness}}
    # (written by checks.registry.source_findings; restore checks compare against it, never blame the restore)
    source_findings: dict[str, Any] = field(default_factory=dict)
    # The invariant checks' results on the source at backup time, pass or fail: check name -> {"result":
    # CheckResult dict, "tables": {table: digest when it ran}} (checks.registry.source_findings); a restore
    # whose digests of those tables are equal reuses the result instead of evaluating it again (issue 19)
    source_results: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        d = dict(d)
        d["tables"] = {k: TableSnapshot(**v) for k, v in d.get("tables", {}).items()}
        d["objects"] = {k: ObjectSnapshot(**v) for k, v in d.get("objects", {}).items()}
        return cls(**d)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> Manifest:
        return cls.from_dict(json.loads(path.read_text()))


# -- database -------------------------------------------------------------------------------------

def list_tables(conn: psycopg.Connection, schemas: tuple[str, ...] = ("public",)) -> list[str]:
    rows = conn.execute(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r','p') AND n.nspname = ANY(%s) ORDER BY 1",
        (list(schemas),),
    ).fetchall()
    return [r[0] for r in rows]


def table_snapshots(conn: psycopg.Connection, tables: list[str] | None = None) -> dict[str, TableSnapshot]:
    out: dict[str, TableSnapshot] = {}
    for t in tables if tables is not None else list_tables(conn):
        count, digest = table_digest(conn, t)
        out[qualified(t)] = TableSnapshot(qualified(t), count, digest)
    return out


_CATALOG_QUERIES: dict[str, str] = {
    "columns": """
        SELECT c.table_schema || '.' || c.table_name AS tbl, c.column_name AS name,
               format_type(a.atttypid, a.atttypmod) AS type, c.is_nullable = 'NO' AS not_null,
               c.column_default AS "default",
               -- PostgreSQL 18 marks a partition's column identity too (inherited from its parent); it is
               -- the parent's property, so partitions report none on every version
               c.is_identity = 'YES' AND NOT k.relispartition AS identity,
               CASE WHEN NOT k.relispartition THEN c.identity_generation END AS identity_generation,
               c.is_generated AS generated,
               -- the rank among live columns, not attnum: a dropped column leaves a gap that a restore closes
               (SELECT count(*) FROM pg_attribute a2 WHERE a2.attrelid = a.attrelid AND a2.attnum > 0
                AND NOT a2.attisdropped AND a2.attnum <= a.attnum) AS position
        FROM information_schema.columns c
        JOIN pg_attribute a ON a.attrelid = (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass
             AND a.attname = c.column_name
        JOIN pg_class k ON k.oid = a.attrelid
        WHERE c.table_schema = ANY(%(schemas)s) AND k.relkind IN ('r','p')
        ORDER BY 1, c.ordinal_position""",
    "constraints": """
        SELECT n.nspname || '.' || t.relname AS tbl, c.conname AS name, c.contype::text AS kind,
               pg_get_constraintdef(c.oid) AS definition
        FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = ANY(%(schemas)s) AND c.contype IN ('p','u','f','c','x')
        ORDER BY 1, 2""",
    "indexes": """
        SELECT schemaname || '.' || tablename AS tbl, indexname AS name, indexdef AS definition
        FROM pg_indexes WHERE schemaname = ANY(%(schemas)s) ORDER BY 1, 2""",
    "triggers": """
        SELECT n.nspname || '.' || c.relname AS tbl, t.tgname AS name, pg_get_triggerdef(t.oid) AS definition,
               t.tgenabled::text AS enabled
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal AND n.nspname = ANY(%(schemas)s) ORDER BY 1, 2""",
    "sequences": """
        SELECT s.schemaname || '.' || s.sequencename AS name, s.data_type::text AS type, s.increment_by AS increment,
               s.last_value, (SELECT n2.nspname || '.' || c2.relname FROM pg_class c2
                JOIN pg_namespace n2 ON n2.oid = c2.relnamespace WHERE c2.oid = d.refobjid) AS owned_by_table,
               a.attname AS owned_by_column
        FROM pg_sequences s
        LEFT JOIN pg_depend d ON d.objid = (quote_ident(s.schemaname) || '.' || quote_ident(s.sequencename))::regclass
             AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a','i')
        LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE s.schemaname = ANY(%(schemas)s) ORDER BY 1""",
    "functions": """
        SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS name,
               md5(pg_get_functiondef(p.oid)) AS definition_md5
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = ANY(%(schemas)s) AND p.prokind IN ('f','p') ORDER BY 1""",
    "types": """
        SELECT n.nspname || '.' || t.typname AS name, t.typtype::text AS kind,
               coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e
                         WHERE e.enumtypid = t.oid), '') AS labels,
               CASE t.typtype
                 WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod)
                   || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
                   || coalesce(' DEFAULT ' || t.typdefault, '')
                   || coalesce(' ' || (SELECT string_agg(pg_get_constraintdef(k.oid), ' ' ORDER BY k.conname)
                                       FROM pg_constraint k WHERE k.contypid = t.oid
                                         AND k.contype <> 'n'), '')  -- 18 also records NOT NULL here
                 WHEN 'c' THEN (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', '
                                                  ORDER BY a.attnum)
                                FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0
                                  AND NOT a.attisdropped)
                 WHEN 'r' THEN (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid)
                 ELSE '' END AS definition
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = ANY(%(schemas)s) AND t.typtype IN ('e','d','c','r')
          AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid AND c.relkind <> 'c')
        ORDER BY 1""",
}


def catalog_snapshot(
    conn: psycopg.Connection, schemas: tuple[str, ...] = ("public",), tables: list[str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Columns, constraints, indexes, triggers, sequences, functions and types, plus every kind in
    ``catalog_objects`` (row security, policies, privileges, owners, views, materialized views, large
    objects, comments, extensions, partitions, collations, publications, event triggers, database
    settings), as plain JSON data.

    With ``tables``, table-bound entries are limited to those tables (sequences to the ones they own);
    rows of the newer kinds with ``tbl`` None belong to no table and stay.
    """
    snap: dict[str, list[dict[str, Any]]] = {}
    scope = {qualified(t) for t in tables} if tables is not None else None
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        for part, q in _CATALOG_QUERIES.items():
            rows = [dict(r) for r in cur.execute(q, {"schemas": list(schemas)}).fetchall()]
            if scope is not None:
                if part in ("columns", "constraints", "indexes", "triggers"):
                    rows = [r for r in rows if r["tbl"] in scope]
                elif part == "sequences":
                    rows = [r for r in rows if r["owned_by_table"] and qualified(r["owned_by_table"]) in scope]
            snap[part] = rows
    for part, rows in catalog_objects(conn, tuple(schemas)).items():
        if scope is not None and part in TABLE_KINDS:
            rows = [r for r in rows if r["tbl"] is None or r["tbl"] in scope]
        snap[part] = rows
    return snap


# -- object storage -------------------------------------------------------------------------------

# sha256 of contents this process has read, by (single-part ETag, size). A single-part upload's ETag is the
# MD5 of its content (https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html, "ETag"; moto does the
# same), and a server-side copy keeps it, so an object listed with an ETag and size seen here holds that
# content: its sha256 is carried, not downloaded and hashed again (issue 19: the manifest, the backup
# snapshot record and object_integrity each read every object). A multipart ETag ("<md5>-<parts>") names the
# parts, not the content, and an ETag that is not 32 hex digits (SSE-KMS/SSE-C) is no digest: never reused.
_SHA256_BY_CONTENT: dict[tuple[str, int], str] = {}
_MD5_ETAG = re.compile(r'^"?[0-9a-fA-F]{32}"?$')


def content_etag(etag: str) -> str | None:
    """The MD5 a single-part S3 ETag is (lower case, unquoted), or None for a multipart, encrypted or empty one."""
    return etag.strip('"').lower() if _MD5_ETAG.match(etag or "") else None


def known_sha256(etag: str, size: int) -> str | None:
    """sha256 (hex) of a content this process has read whose single-part ETag and size (bytes) are these,
    else None (never for a multipart or non-MD5 ETag: then the object must be read)."""
    md5 = content_etag(etag)
    return _SHA256_BY_CONTENT.get((md5, size)) if md5 else None


def remember_sha256(etag: str, size: int, sha256: str) -> None:
    """Record that the content with this single-part ETag and ``size`` bytes hashed to ``sha256`` (read in
    full by the caller); a multipart or non-MD5 ETag is not recorded."""
    md5 = content_etag(etag)
    if md5:
        _SHA256_BY_CONTENT[(md5, size)] = sha256


def object_snapshots(client: S3Client, bucket: str, prefix: str = "", *,
                     reused: list[str] | None = None, headers: bool = True) -> dict[str, ObjectSnapshot]:
    """Every object under ``prefix``: size, ETag, sha256 of the content, content type, metadata.

    Keys are relative to the prefix so a snapshot of ``backup/x-DATE`` compares with ``live/x``. The content
    is streamed and hashed unless its single-part ETag and size match a content already hashed in this
    process (:func:`known_sha256`): then only its headers are read (HEAD) and the key is appended to
    ``reused`` when given. ``headers=False``: such an object is not asked for its headers either (its content
    type and metadata are left empty), for callers that keep only size and sha256 (a backup's snapshot
    record). Raises botocore's ClientError (NoSuchBucket, AccessDenied, ...).
    """
    store = S3Store(client, bucket, prefix)

    def snap(obj: Any) -> tuple[ObjectSnapshot, bool]:  # (snapshot, sha256 carried)
        sha = known_sha256(obj.etag, obj.size) if obj.storage_class == "STANDARD" else None
        if sha is not None and not headers:
            return ObjectSnapshot(key=obj.key, size=obj.size, sha256=sha, etag=obj.etag), True
        if sha is not None:
            head = client.head_object(Bucket=bucket, Key=store.prefix + obj.key)
            return ObjectSnapshot(key=obj.key, size=obj.size, sha256=sha, content_type=head.get("ContentType", "") or "",
                                  metadata=dict(head.get("Metadata", {}) or {}), etag=obj.etag), True
        got = store.get(obj.key)
        sha = got.sha256()
        remember_sha256(obj.etag, obj.size, sha)
        return ObjectSnapshot(key=obj.key, size=obj.size, sha256=sha, content_type=got.content_type,
                              metadata=got.metadata, etag=obj.etag), False

    out: dict[str, ObjectSnapshot] = {}
    # A few requests in flight (boto3 clients are thread-safe): one object at a time left the harness and
    # the S3 server each waiting on the other (issue 19: 4.3 s for a Pegasus scale 5 snapshot record).
    with ThreadPoolExecutor(max_workers=SNAPSHOT_THREADS) as pool:
        try:
            for shot, carried in pool.map(snap, store.list()):  # in listing order, as before
                out[shot.key] = shot
                if carried and reused is not None:
                    reused.append(shot.key)
        except BaseException:  # the first error raises, as before; the requests not yet sent are dropped
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return out


SNAPSHOT_THREADS = 8  # as seeds.pegasus.dataset.UPLOAD_THREADS: a few requests in flight hide the round trips


def take_manifest(
    conn: psycopg.Connection,
    *,
    system: str,
    tables: list[str] | None = None,
    seed: int | None = None,
    scale: int | None = None,
    s3_client: S3Client | None = None,
    bucket: str | None = None,
    prefix: str | None = None,
    schemas: tuple[str, ...] = ("public",),
) -> Manifest:
    """Snapshot tables (all in ``schemas`` by default), the catalog, and optionally a bucket prefix."""
    m = Manifest(system=system, taken_at=utcnow(), seed=seed, scale=scale, bucket=bucket, prefix=prefix,
                 schemas=list(schemas))
    all_tables = tables if tables is not None else list_tables(conn, schemas)
    m.tables = table_snapshots(conn, all_tables)
    m.catalog = catalog_snapshot(conn, schemas)
    if s3_client is not None and bucket is not None:
        m.objects = object_snapshots(s3_client, bucket, prefix or "")
    return m
