"""overwrite-objects: overwrite a fraction of objects in place with different bytes of the same size."""

from __future__ import annotations

from typing import Any

from restore_drill.errors import HarnessFault
from restore_drill.foundation import sha256_bytes

from .interface import Disaster, DisasterContext, DisasterRecord, Kind, guard_storage, storage_record
from .objects import list_objects
from .tables import sample_count


def overwrite_objects(ctx: DisasterContext) -> DisasterRecord:
    """Overwrite a fraction of objects in place with different bytes of the same size (type and metadata kept)."""
    client, bucket = guard_storage(ctx, "overwrite objects")
    objs = [o for o in list_objects(client, bucket.name, ctx.prefix) if o["size"] > 0]
    if not objs:
        raise HarnessFault(f"overwrite-objects: no non-empty objects under s3://{bucket.name}/{ctx.prefix}/")
    rng = ctx.rng()
    chosen = sorted(rng.sample(objs, sample_count(len(objs), ctx.fraction)), key=lambda o: o["key"])
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
        done.append({"key": o["key"], "size": len(old), "sha256_before": sha256_bytes(old),
                     "sha256_after": sha256_bytes(bytes(new))})
    return storage_record("overwrite-objects", bucket.name, ctx.prefix,
                          f"overwrote {len(done)} of {len(objs)} objects in place, same sizes",
                          {"overwritten": done, "objects_before": len(objs)})


DISASTER = Disaster("overwrite-objects", Kind.STORAGE, overwrite_objects,
                    "a fraction of objects overwritten in place, same sizes")
