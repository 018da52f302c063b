"""Object storage checks: referenced objects exist, the restored prefix equals the manifest, and the
database backup and storage snapshot restored together belong together.

Existence is decided by listing (one request per 1,000 keys) merged against the database's keys in
sorted order, never by one HEAD per key; content by sha256 of the bytes, never by ETag.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from restore_drill.objectstore import ObjectInfo, ObjectStore, S3Client, base_prefix, list_objects, open_store
from restore_drill.seeds.manifest import Manifest, ObjectSnapshot, content_etag, known_sha256, remember_sha256

from ._util import capped, human_duration, ident, missing_tables, parse_time, qualified, quote_qualified, read_session, sample, timed
from .result import CheckResult


def iter_listing(client: S3Client | ObjectStore, bucket: str, prefix: str | None) -> Iterator[tuple[str, int]]:
    """(key relative to prefix, size) in S3's order (UTF-8 byte order), one request per 1,000 keys.
    ``client`` is a boto3 S3 client or an ObjectStore (a folder snapshot)."""
    for o in open_store(client, bucket, prefix).list():
        yield o.key, o.size


def _column_parts(ref: str) -> tuple[str, str]:
    """"schema.table.column" or "table.column" -> ("schema.table", "column")."""
    parts = ref.split(".")
    if len(parts) == 2:
        return qualified(parts[0]), parts[1]
    if len(parts) == 3:
        return f"{parts[0]}.{parts[1]}", parts[2]
    raise ValueError(f"reference column {ref!r} is not table.column or schema.table.column")


@dataclass
class ReferenceDiff:
    """Keys referenced by rows versus keys present under the prefix."""

    referenced: int = 0
    present: int = 0
    missing: list[dict[str, Any]] = field(default_factory=list)  # capped: {"key", "columns"}
    missing_count: int = 0
    unreferenced: list[str] = field(default_factory=list)  # capped
    unreferenced_count: int = 0
    lost_columns: list[str] = field(default_factory=list)


def _referenced_keys_sql(cols: Sequence[tuple[str, str, str]], keys: Mapping[str, str] | None = None) -> sql.Composed:
    # Keys sorted bytewise (COLLATE "C") so they merge with S3's UTF-8-ordered listing. ``keys``: per reference,
    # an SQL expression over the row that builds the key from the column (the system definition's own SQL).
    keys = keys or {}
    parts = [sql.SQL("SELECT ltrim(({key})::text, '/') AS k, {ref} AS src FROM {tbl} WHERE {col} IS NOT NULL "
                     "AND {col}::text <> ''").format(
                         key=sql.SQL(keys[ref]) if ref in keys else sql.Identifier(col),  # type: ignore[arg-type]
                         col=sql.Identifier(col), ref=sql.Literal(ref), tbl=ident(tbl))
             for ref, tbl, col in cols]
    return sql.SQL("SELECT k COLLATE \"C\", array_agg(DISTINCT src) FROM ({}) AS r GROUP BY 1 ORDER BY 1").format(
        sql.SQL(" UNION ALL ").join(parts))


def reference_diff(
    conn: psycopg.Connection,
    s3_client: S3Client | ObjectStore,
    bucket: str,
    prefix: str | None,
    reference_columns: Mapping[str, str] | Sequence[str],
    *,
    cap: int = 50,
    batch: int = 5000,
    keys: Mapping[str, str] | None = None,
) -> ReferenceDiff:
    """Merge-join the sorted referenced keys (a server-side cursor) with the sorted listing.

    Memory stays bounded whatever the number of keys: neither side is held in full.
    """
    diff = ReferenceDiff()
    cols = [(f"{t}.{c}", t, c) for t, c in map(_column_parts, reference_columns)]
    gone = set(missing_tables(conn, {t for _, t, _ in cols}))
    live = []
    for ref, tbl, col in cols:
        if tbl in gone or not conn.execute(
                "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s AND NOT attisdropped",
                (quote_qualified(tbl), col)).fetchone():
            diff.lost_columns.append(ref)
        else:
            live.append((ref, tbl, col))
    listing = iter_listing(s3_client, bucket, prefix)
    cur_key: str | None = None

    def advance() -> str | None:
        nxt = next(listing, None)
        if nxt is None:
            return None
        diff.present += 1
        return nxt[0]

    cur_key = advance()

    def unreferenced(k: str) -> None:
        diff.unreferenced_count += 1
        if len(diff.unreferenced) < cap:
            diff.unreferenced.append(k)

    if live:
        with conn.transaction(), conn.cursor(name="rd_referenced_keys") as cur:
            cur.itersize = batch
            cur.execute(_referenced_keys_sql(live, keys))
            for key, sources in cur:
                diff.referenced += 1
                while cur_key is not None and cur_key < key:
                    unreferenced(cur_key)
                    cur_key = advance()
                if cur_key == key:
                    cur_key = advance()
                    continue
                diff.missing_count += 1
                if len(diff.missing) < cap:
                    diff.missing.append({"key": key, "columns": sorted(sources)})
    while cur_key is not None:
        unreferenced(cur_key)
        cur_key = advance()
    return diff


class _RequestCounter:
    """Counts S3 list requests through botocore's event hooks (for evidence and the benchmark)."""

    def __init__(self, client: S3Client | ObjectStore) -> None:
        self.client, self.count = client, 0

    def __call__(self, **_: Any) -> None:
        self.count += 1

    def __enter__(self) -> _RequestCounter:
        if not isinstance(self.client, ObjectStore):  # a folder snapshot makes no requests to count
            self.client.meta.events.register("before-call.s3.ListObjectsV2", self)
        return self

    def __exit__(self, *exc: object) -> None:
        if not isinstance(self.client, ObjectStore):
            self.client.meta.events.unregister("before-call.s3.ListObjectsV2", self)


@timed("artifact_paths_exist")
def artifact_paths_exist(
    conn: psycopg.Connection,
    s3_client: S3Client | ObjectStore,
    bucket: str,
    prefix: str | None,
    reference_columns: Mapping[str, str] | Sequence[str],
    *,
    manifest: Manifest | None = None,
    keys: Mapping[str, str] | None = None,
) -> CheckResult:
    """Every object key held in ``reference_columns`` (``"schema.table.column"``, keys relative to
    ``prefix``) exists in the restored bucket, decided by listing, not by HEAD per key.

    ``keys``: per reference, an SQL expression over its row that builds the key (the definition's own SQL).

    No vacuous pass: zero referenced keys while ``manifest`` recorded rows in the tables holding the
    reference columns and objects under the prefix fails (the keys did not come back); zero with nothing
    in the manifest either (or no manifest) is skipped, "nothing to check"."""
    name = "artifact_paths_exist"
    if not reference_columns:
        return CheckResult.skipped(name, "no reference columns declared for this system")
    with read_session(conn), _RequestCounter(s3_client) as counter:
        d = reference_diff(conn, s3_client, bucket, prefix, reference_columns, keys=keys)
    where = f"s3://{bucket}/{base_prefix(prefix)}"
    if d.referenced == 0 and not d.lost_columns:
        tables = {_column_parts(r)[0] for r in reference_columns}
        rows = sum(t.row_count for n, t in manifest.tables.items() if qualified(n) in tables) if manifest else 0
        ev0 = {"bucket": bucket, "prefix": base_prefix(prefix), "referenced_keys": 0, "listed_keys": d.present,
               "manifest_rows_in_reference_tables": rows, "manifest_objects": len(manifest.objects) if manifest else 0}
        if manifest is not None and rows and manifest.objects:
            return CheckResult.failed(name, f"0 referenced keys found in the restore, but the manifest holds {rows} "
                                      f"row(s) in {sample(sorted(tables))} and {len(manifest.objects)} object(s): "
                                      "the rows that reference storage did not come back",
                                      expected=rows, observed=0, evidence=ev0)
        return CheckResult.skipped(name, "nothing to check: no row references an object, and the manifest "
                                   "expected none", evidence=ev0)
    ev = {"bucket": bucket, "prefix": base_prefix(prefix), "referenced_keys": d.referenced,
          "listed_keys": d.present, "list_requests": counter.count,
          "missing": {"count": d.missing_count, "items": d.missing, "truncated": d.missing_count > len(d.missing)},
          "lost_columns": d.lost_columns, "unreferenced_count": d.unreferenced_count}
    if d.missing_count or d.lost_columns:
        desc = [f"{m['key']} ({', '.join(m['columns'])})" for m in d.missing]
        msg = (f"{d.missing_count} of {d.referenced} referenced object(s) missing from {where}: {sample(desc)}"
               if d.missing_count else "")
        if d.lost_columns:
            msg = (msg + "; " if msg else "") + f"reference column(s) gone from the restore: {sample(d.lost_columns)}"
        return CheckResult.failed(name, msg, expected=d.referenced, observed=d.referenced - d.missing_count,
                                  evidence=ev)
    return CheckResult.passed(name, f"all {d.referenced} referenced key(s) exist in {where} "
                              f"({counter.count} list request(s))", expected=d.referenced, observed=d.referenced,
                              evidence=ev)


# Storage classes whose objects S3 refuses to GET until a restore request completes (InvalidObjectState);
# GLACIER_IR (Instant Retrieval) reads like STANDARD. Source: AWS S3 User Guide, "Restoring an archived object".
COLD_STORAGE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
UNREADABLE_CODES = frozenset({"InvalidObjectState", "AccessDenied", "403", "Forbidden"})


def describe_unreadable(bucket: str, key: str, cause: str, storage_class: str = "") -> str:
    """One line for an object the harness could not read back: the object, the cause (an S3 error code such
    as InvalidObjectState or AccessDenied, with the storage class) and what an operator must do."""
    where = f"s3://{bucket}/{key}"
    if cause == "InvalidObjectState" or storage_class in COLD_STORAGE_CLASSES:
        wait = "up to 48 h" if storage_class == "DEEP_ARCHIVE" else "minutes to hours"
        return (f"{where}: storage class {storage_class or 'archived'} cannot be read without a restore request "
                f"(InvalidObjectState); an operator must run `aws s3api restore-object --bucket {bucket} --key "
                f"{key} --restore-request Days=7` and wait ({wait}) before restoring, or keep the copy the "
                "restore reads in STANDARD/STANDARD_IA/GLACIER_IR")
    return (f"{where}: {cause}; an operator must grant the restore's identity s3:GetObject (and s3:ListBucket) "
            "on this prefix before restoring")


def unreadable_objects(client: S3Client, bucket: str, prefix: str | None = None) -> list[str]:
    """describe_unreadable() lines for every object under ``prefix`` that a GET would refuse: each in a cold
    storage class, by listing (no GET needed); a prefix that cannot even be listed gives one line for the
    prefix. Raises nothing for S3 errors (they are the answer)."""
    from botocore.exceptions import ClientError

    out: list[str] = []
    base = base_prefix(prefix)
    try:
        for obj in list_objects(client, bucket, base):
            if obj.storage_class in COLD_STORAGE_CLASSES:
                out.append(describe_unreadable(bucket, obj.key, "InvalidObjectState", obj.storage_class))
    except ClientError as e:
        code = str(e.response.get("Error", {}).get("Code", ""))
        if code in UNREADABLE_CODES:
            out.append(describe_unreadable(bucket, base or "(bucket)", code))
    return out


def _proven_sha256(info: ObjectInfo, exp: ObjectSnapshot) -> str | None:
    """The sha256 S3's listing proves for a listed object without reading it, or None: a readable (STANDARD)
    object whose single-part ETag and size equal the manifest's carries the manifest's sha256; else one
    whose ETag and size match a content this process hashed (seeds.manifest.known_sha256)."""
    if info.storage_class != "STANDARD" or info.size != exp.size:
        return None
    md5 = content_etag(info.etag)
    if md5 is not None and md5 == content_etag(exp.etag):
        return exp.sha256
    return known_sha256(info.etag, info.size)


def _head(client: Any, bucket: str, key: str, size: int, sha256: str) -> dict[str, Any]:
    """The headers of an object whose content is proven (see _proven_sha256): no body is read."""
    head = client.head_object(Bucket=bucket, Key=key)
    return {"sha256": sha256, "size": size, "content_type": head.get("ContentType", "") or "",
            "metadata": dict(head.get("Metadata", {}) or {})}


def _fetch(client: Any, bucket: str, key: str, etag: str = "") -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        got = open_store(client, bucket, None).get(key)
    except ClientError as e:  # a verdict, not a crash: name the object, the cause and the operator's action
        code = str(e.response.get("Error", {}).get("Code", ""))
        if code not in UNREADABLE_CODES:
            raise
        sc = str(client.head_object(Bucket=bucket, Key=key).get("StorageClass", "") or "") \
            if code == "InvalidObjectState" else ""
        return {"unreadable": describe_unreadable(bucket, key, code, sc)}
    h = hashlib.sha256()
    size = 0
    for chunk in got.chunks:
        h.update(chunk)
        size += len(chunk)
    remember_sha256(etag, size, h.hexdigest())
    return {"sha256": h.hexdigest(), "size": size, "content_type": got.content_type, "metadata": got.metadata}


# User-metadata keys copy tools add for their own bookkeeping (s3cmd: x-amz-meta-s3cmd-attrs, its uid/mode/
# mtime record; rclone: x-amz-meta-mtime; mc: x-amz-meta-mc-attrs): recorded in the evidence, never a change.
TOOL_PRIVATE_METADATA = frozenset({"s3cmd-attrs", "mtime", "mc-attrs"})


@timed("object_integrity")
def object_integrity(
    s3_client: S3Client | ObjectStore,
    bucket: str,
    prefix: str | None,
    manifest: Manifest | Mapping[str, ObjectSnapshot],
    *,
    workers: int = 8,
) -> CheckResult:
    """The restored prefix equals the backup-time manifest: no missing keys, no extra keys (orphans),
    and per key the same size, sha256 of the content, content type and user metadata.

    The content is read back and hashed unless S3 itself proves it unchanged: a STANDARD object whose
    single-part ETag (the MD5 of its content) and size equal the manifest's, or those of a content this
    process already hashed (seeds.manifest.known_sha256), carries that sha256 and only its headers are read
    (HEAD). Wherever it may have changed (multipart or non-MD5 ETag, size or ETag differs) it is read in
    full. evidence: sha256_read_back / sha256_carried count each way (issue 19)."""
    name = "object_integrity"
    expected: Mapping[str, ObjectSnapshot] = manifest.objects if isinstance(manifest, Manifest) else manifest
    infos = {o.key: o for o in open_store(s3_client, bucket, prefix).list()}
    listed = {k: o.size for k, o in infos.items()}
    if not expected and not listed:  # no vacuous pass over 0 objects
        return CheckResult.skipped(name, f"nothing to check: the manifest holds no object under "
                                   f"s3://{bucket}/{base_prefix(prefix)} and none is there",
                                   expected=0, observed=0, evidence={"bucket": bucket, "prefix": base_prefix(prefix)})
    missing = sorted(set(expected) - set(listed))
    extra = sorted(set(listed) - set(expected))
    common = sorted(set(expected) & set(listed))
    base = base_prefix(prefix)
    carried = {k: sha for k in common if (sha := _proven_sha256(infos[k], expected[k])) is not None}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        fetched = dict(zip(common, pool.map(
            lambda k: (_head(s3_client, bucket, base + k, infos[k].size, carried[k]) if k in carried
                       else _fetch(s3_client, bucket, base + k, infos[k].etag)), common), strict=True))
    unreadable = [fetched[k]["unreadable"] for k in common if "unreadable" in fetched[k]]
    if unreadable:  # a verdict, not a crash: the restored copy cannot be read back as it is
        return CheckResult.failed(
            name, f"s3://{bucket}/{base}: {len(unreadable)} restored object(s) cannot be read back: "
            f"{sample(unreadable, 2)}", expected=len(expected), observed={"unreadable": len(unreadable)},
            evidence={"bucket": bucket, "prefix": base, "unreadable": capped(unreadable)})
    differs: list[dict[str, Any]] = []
    tool_meta: list[dict[str, Any]] = []
    for k in common:
        exp, got = expected[k], fetched[k]
        fields = []
        if got["size"] != exp.size:
            fields.append(f"size {exp.size} -> {got['size']}")
        if got["sha256"] != exp.sha256:
            fields.append(f"sha256 {exp.sha256[:12]}… -> {got['sha256'][:12]}…")
        if got["content_type"] != (exp.content_type or ""):
            fields.append(f"content type {exp.content_type!r} -> {got['content_type']!r}")
        tool_keys = sorted(set(got["metadata"]) - set(exp.metadata or {}) & TOOL_PRIVATE_METADATA)
        if tool_keys:  # recorded, not counted as a change: the copy tool's own bookkeeping
            tool_meta.append({"key": k, "metadata_keys": tool_keys})
        got_meta = {m: v for m, v in got["metadata"].items() if m not in tool_keys}
        if got_meta != dict(exp.metadata or {}):
            fields.append(f"metadata {dict(exp.metadata or {})} -> {got_meta}")
        if fields:
            differs.append({"key": k, "differences": fields})
    where = f"s3://{bucket}/{base}"
    ev = {"bucket": bucket, "prefix": base, "expected_objects": len(expected), "listed_objects": len(listed),
          "missing": capped(missing), "orphans": capped(extra), "changed": capped(differs),
          "tool_metadata_ignored": capped(tool_meta),
          "sha256_read_back": len(common) - len(carried), "sha256_carried": len(carried)}
    if missing or extra or differs:
        desc = [f"missing {k}" for k in missing] + [f"changed {d['key']} ({'; '.join(d['differences'])})"
                                                    for d in differs] + [f"orphan {k}" for k in extra]
        return CheckResult.failed(
            name, f"{where}: {len(missing)} missing, {len(differs)} changed, {len(extra)} orphan object(s): "
            f"{sample(desc)}", expected=len(expected), observed={"missing": len(missing), "changed": len(differs),
                                                              "orphans": len(extra)}, evidence=ev)
    return CheckResult.passed(name, f"{where}: all {len(expected)} object(s) equal the manifest (sha256, size, "
                              "content type, metadata)", expected=len(expected), observed=len(listed), evidence=ev)


@timed("snapshot_pairing")
def snapshot_pairing(
    db_backup_started_at: str | datetime,
    snapshot_taken_at: str | datetime,
    tolerance_s: float,
    *,
    dangling: Sequence[str] = (),
    orphans: Sequence[str] = (),
    reference: ReferenceDiff | None = None,
    snapshot_where: str = "",
    snapshot_objects: int | None = None,
) -> CheckResult:
    """The database backup and the storage snapshot restored together were taken within
    ``tolerance_s`` (seconds) of each other and hold each other's objects. When not, say which side
    is newer and list what that breaks: ``dangling`` references (rows whose object is absent: the
    database is newer) and ``orphans`` (objects no row references: the storage is newer);
    ``reference`` (from :func:`reference_diff` on the restored pair) supplies both.

    A pair that examined nothing does not pass: when the rows reference N object keys and the
    snapshot (``snapshot_objects``: how many objects a listing of ``snapshot_where`` found, None when
    not listed) or the restored storage holds none of them, the check fails naming the snapshot. Some
    dangling references within the time tolerance are artifact_paths_exist's to judge (the pair still
    belongs together); beyond it they are listed as what the gap breaks."""
    name = "snapshot_pairing"
    db_t, snap_t = parse_time(db_backup_started_at), parse_time(snapshot_taken_at)
    gap = (db_t - snap_t).total_seconds()
    dangling_l = list(dangling) + ([m["key"] for m in reference.missing] if reference else [])
    orphans_l = list(orphans) + (list(reference.unreferenced) if reference else [])
    n_dangling = len(dangling) + (reference.missing_count if reference else 0)
    n_orphans = len(orphans) + (reference.unreferenced_count if reference else 0)
    ev = {"db_backup_started_at": db_t.isoformat(), "snapshot_taken_at": snap_t.isoformat(), "gap_s": gap,
          "tolerance_s": tolerance_s, "dangling": {**capped(dangling_l), "count": n_dangling},
          "orphans": {**capped(orphans_l), "count": n_orphans}}
    referenced = reference.referenced if reference else 0
    if snapshot_where:
        ev["snapshot"] = {"where": snapshot_where, "objects": snapshot_objects}
    found = referenced - (reference.missing_count if reference else 0)
    if referenced and (snapshot_objects == 0 or found == 0):
        ev["referenced"] = referenced
        where = snapshot_where or "the restored prefix"
        return CheckResult.failed(
            name, f"the storage snapshot at {where} holds none of the {referenced} object key(s) the backup's rows "
            "reference: check [snapshot] prefix in the binding", expected=referenced, observed=0, evidence=ev)
    if abs(gap) <= tolerance_s:
        return CheckResult.passed(name, f"database backup and storage snapshot {human_duration(gap)} apart "
                                  f"(tolerance {human_duration(tolerance_s)})", expected=tolerance_s, observed=abs(gap),
                                  evidence=ev)
    if gap > 0:
        msg = (f"database backup is {human_duration(gap)} newer than the storage snapshot (tolerance {human_duration(tolerance_s)}): "
               f"{n_dangling} dangling reference(s)" + (f", e.g. {sample(dangling_l)}" if dangling_l else ""))
    else:
        msg = (f"storage snapshot is {human_duration(gap)} newer than the database backup (tolerance {human_duration(tolerance_s)}): "
               f"{n_orphans} orphan object(s)" + (f", e.g. {sample(orphans_l)}" if orphans_l else ""))
    ev["newer"] = "database" if gap > 0 else "storage"
    return CheckResult.failed(name, msg, expected=tolerance_s, observed=abs(gap), evidence=ev)
