"""delete-objects: delete a fraction of the objects under the live prefix."""

from __future__ import annotations

from restore_drill.errors import HarnessFault
from restore_drill.foundation import sha256_bytes

from .interface import Disaster, DisasterContext, DisasterRecord, Kind, guard_storage, storage_record
from .objects import delete_keys, list_objects
from .tables import sample_count


def delete_objects(ctx: DisasterContext) -> DisasterRecord:
    """Delete a fraction of the objects under the live prefix; records each key, size and sha256."""
    client, bucket = guard_storage(ctx, "delete objects")
    objs = list_objects(client, bucket.name, ctx.prefix)
    if not objs:
        raise HarnessFault(f"delete-objects: no objects under s3://{bucket.name}/{ctx.prefix}/; seed storage first")
    chosen = sorted(ctx.rng().sample(objs, sample_count(len(objs), ctx.fraction)), key=lambda o: o["key"])
    for o in chosen:
        o["sha256"] = sha256_bytes(client.get_object(Bucket=bucket.name, Key=o["key"])["Body"].read())
    delete_keys(client, bucket.name, [o["key"] for o in chosen])
    return storage_record("delete-objects", bucket.name, ctx.prefix, f"deleted {len(chosen)} of {len(objs)} objects",
                          {"deleted": chosen, "objects_before": len(objs)})


DISASTER = Disaster("delete-objects", Kind.STORAGE, delete_objects, "a fraction of the live objects deleted")
