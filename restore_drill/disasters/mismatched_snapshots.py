"""mismatched-snapshots: restore storage from a different day than the database dump."""

from __future__ import annotations

from datetime import date, timedelta

from restore_drill.errors import BadInput, HarnessFault
from restore_drill.foundation import sha256_bytes

from .interface import Disaster, DisasterContext, DisasterRecord, Kind, guard_bucket, storage_record
from .objects import list_objects
from .tables import sample_count


def mismatched_snapshots(ctx: DisasterContext) -> DisasterRecord:
    """A storage snapshot from the day before the database dump, with different content, to restore from.

    Writes ``<prefix>-<day before>`` in the backup bucket: a copy of the matching snapshot (or the
    live prefix) without a fraction of objects (not yet written that day) and with a fraction of
    others holding different bytes (older versions). ``details["restore_prefix"]`` names it: the
    runner restores storage from it while the database comes from the later day's dump.
    """
    if ctx.bucket is None:
        raise BadInput("mismatched-snapshots needs object storage; the drill has no bucket")
    backup = guard_bucket(ctx, ctx.backup_bucket or ctx.bucket, "write a snapshot prefix")
    client = ctx.client()
    db_day = date.fromisoformat(ctx.backup_date) if ctx.backup_date else date.today()
    storage_day = db_day - timedelta(days=1)
    src_bucket, src_prefix = ((backup.name, ctx.snapshot_prefix) if ctx.snapshot_prefix
                              else (ctx.bucket.name, ctx.prefix))
    dest_prefix = f"{ctx.prefix.strip('/')}-{storage_day.isoformat()}"
    if dest_prefix.strip("/") == (src_prefix or "").strip("/"):
        raise BadInput(f"mismatched-snapshots: the other day's prefix {dest_prefix} is the source itself")
    if list_objects(client, backup.name, dest_prefix):
        raise BadInput(f"mismatched-snapshots: s3://{backup.name}/{dest_prefix}/ already exists; use a fresh bucket")
    objs = list_objects(client, src_bucket, src_prefix)
    if len(objs) < 2:
        raise HarnessFault(f"mismatched-snapshots: s3://{src_bucket}/{src_prefix}/ holds {len(objs)} object(s); "
                           "need at least 2 to make a different day")
    rng = ctx.rng()
    n = sample_count(len(objs), ctx.fraction)
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
            changed.append({"key": rel, "sha256_matching": sha256_bytes(old), "sha256_other_day": sha256_bytes(new)})
        else:
            client.copy_object(Bucket=backup.name, Key=dest, CopySource={"Bucket": src_bucket, "Key": o["key"]})
            copied += 1
    if not changed and not omitted:
        raise HarnessFault("mismatched-snapshots: the other day's snapshot does not differ")
    return storage_record("mismatched-snapshots", backup.name, dest_prefix,
                          f"storage restore will use the {storage_day} snapshot, the database the {db_day} dump", {
                              "db_day": db_day.isoformat(), "storage_day": storage_day.isoformat(),
                              "restore_prefix": dest_prefix, "matching_prefix": src_prefix,
                              "missing_in_other_day": [k[len(base):] for k in omitted],
                              "changed_in_other_day": changed, "copied_unchanged": copied,
                          })


DISASTER = Disaster("mismatched-snapshots", Kind.STORAGE, mismatched_snapshots,
                    "storage restored from another day's snapshot than the database")
