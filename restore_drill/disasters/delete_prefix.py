"""delete-prefix: delete every object under the live prefix."""

from __future__ import annotations

from restore_drill.errors import HarnessFault

from .interface import MAX_RECORDED_IDS, Disaster, DisasterContext, DisasterRecord, Kind, guard_storage, storage_record
from .objects import delete_keys, list_objects


def delete_prefix(ctx: DisasterContext) -> DisasterRecord:
    """Delete every object under the live prefix (neighbours that merely share the name's start are kept)."""
    client, bucket = guard_storage(ctx, "delete a prefix")
    objs = list_objects(client, bucket.name, ctx.prefix)
    if not objs:
        raise HarnessFault(f"delete-prefix: no objects under s3://{bucket.name}/{ctx.prefix}/; seed storage first")
    delete_keys(client, bucket.name, [o["key"] for o in objs])
    left = list_objects(client, bucket.name, ctx.prefix)
    if left:
        raise HarnessFault(f"delete-prefix: {len(left)} object(s) remain under the prefix")
    return storage_record("delete-prefix", bucket.name, ctx.prefix, f"deleted all {len(objs)} objects under the prefix", {
        "deleted_count": len(objs), "deleted_bytes": sum(o["size"] for o in objs),
        "deleted": [o["key"] for o in objs][:MAX_RECORDED_IDS],
    })


DISASTER = Disaster("delete-prefix", Kind.STORAGE, delete_prefix, "every object under the live prefix deleted")
