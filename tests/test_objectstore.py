"""Every ObjectStore (an S3 prefix on moto, a folder) passes the same compliance test.

The storage checks, manifests and verify-backup read objects only through this protocol, so a store
that lists in another order, leaks a neighbouring prefix or returns other bytes would make a folder
snapshot judged differently from the S3 prefix it was copied from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from restore_drill.fixtures.s3 import Bucket
from restore_drill.objectstore import DirectoryStore, ObjectStore, S3Store, list_objects, open_store, s3, sizes_by_folder

# Keys chosen so S3's order (UTF-8 bytes of the whole key) differs from os.walk's and from sorting path parts.
CONTENT = {
    "a/b.txt": b"first",
    "a-b/c.txt": b"dash sorts before slash",
    "a/\u00e9t\u00e9.bin": bytes(range(256)) * 3,
    "z/empty": b"",
    "Z/upper": b"upper case sorts first",
}
NEIGHBOURS = {"pegasusX/keep.txt": b"a neighbour that only shares the name's start", "pegasus.txt": b"file"}


def _s3_store(bucket: Bucket, tmp_path: Path) -> ObjectStore:
    c = bucket.endpoint.client()
    for k, v in CONTENT.items():
        c.put_object(Bucket=bucket.name, Key=f"pegasus/{k}", Body=v, ContentType="application/x-test",
                     Metadata={"origin": "test"})
    for k, v in NEIGHBOURS.items():
        c.put_object(Bucket=bucket.name, Key=k, Body=v)
    return S3Store(c, bucket.name, "/pegasus/")


def _dir_store(bucket: Bucket, tmp_path: Path) -> ObjectStore:
    for k, v in CONTENT.items():
        (tmp_path / "pegasus" / k).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pegasus" / k).write_bytes(v)
    for k, v in NEIGHBOURS.items():
        (tmp_path / k).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / k).write_bytes(v)
    return DirectoryStore(tmp_path).within("pegasus")


@pytest.mark.parametrize("make", [_s3_store, _dir_store], ids=["s3", "folder"])
def test_store_compliance(make: Callable[[Bucket, Path], ObjectStore], s3_bucket: Bucket, tmp_path: Path) -> None:
    store = make(s3_bucket, tmp_path)
    assert isinstance(store, ObjectStore)
    listed = list(store.list())
    assert [o.key for o in listed] == sorted(CONTENT, key=lambda k: k.encode("utf-8"))  # relative, S3's order
    assert {o.key: o.size for o in listed} == {k: len(v) for k, v in CONTENT.items()}
    for k, v in CONTENT.items():
        got = store.get(k)
        assert got.size == len(v) and got.sha256() == hashlib.sha256(v).hexdigest()
        assert store.get(k).read() == v
        if store.keeps_metadata:
            assert (got.content_type, got.metadata) == ("application/x-test", {"origin": "test"})
        else:
            assert (got.content_type, got.metadata) == ("", {})
    narrowed = store.within("a")
    assert [o.key for o in narrowed.list()] == sorted(["b.txt", "\u00e9t\u00e9.bin"], key=lambda k: k.encode())
    assert narrowed.get("b.txt").read() == b"first"
    assert store.within(None) is store and open_store(store, "ignored", "a").where == narrowed.where
    assert "pegasus" in store.where


def test_s3_listing_pages_and_counts_its_requests(s3_bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    c = s3_bucket.endpoint.client()
    for i in range(5):
        c.put_object(Bucket=s3_bucket.name, Key=f"p/{i}", Body=b"x" * i)
    monkeypatch.setattr(s3, "PAGE_SIZE", 2)  # 5 keys, 2 a page: 3 requests
    store = open_store(c, s3_bucket.name, "p")
    assert isinstance(store, S3Store)
    assert [(o.key, o.size) for o in store.list()] == [(str(i), i) for i in range(5)]
    assert store.list_requests == 3
    c.put_object(Bucket=s3_bucket.name, Key="q/cold", Body=b"archived", StorageClass="GLACIER")
    full = list(list_objects(c, s3_bucket.name, ""))
    assert [o.key for o in full] == [f"p/{i}" for i in range(5)] + ["q/cold"]
    assert all(o.etag and o.last_modified for o in full)
    assert [o.storage_class for o in full] == ["STANDARD"] * 5 + ["GLACIER"]
    with pytest.raises(Exception, match="NoSuchKey"):
        store.get("missing")


def test_sizes_by_folder_groups_a_prefix_by_its_first_folder(s3_bucket: Bucket) -> None:
    """A backup tool's backups, one folder each (Barman ids, pgBackRest labels); a file straight under the
    prefix and a look-alike prefix (basex/) are not backups."""
    c = s3_bucket.endpoint.client()
    for key, n in (("base/b1/backup.info", 3), ("base/b1/data.tar", 10), ("base/b2/x/y", 1), ("base/loose", 2),
                   ("basex/b9/z", 4)):
        c.put_object(Bucket=s3_bucket.name, Key=key, Body=b"x" * n)
    assert sizes_by_folder(c, s3_bucket.name, "base") == {"b1": {"backup.info": 3, "data.tar": 10}, "b2": {"x/y": 1}}
    assert sizes_by_folder(c, s3_bucket.name, "base/") == sizes_by_folder(c, s3_bucket.name, "base")


def test_a_folder_is_read_only_and_reports_a_missing_file(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    assert list(store.list()) == [] and store.list_requests == 0
    with pytest.raises(FileNotFoundError):
        store.get("nothing")
    assert not any(hasattr(store, m) for m in ("put_object", "delete_objects", "copy_object"))


def test_the_s3_listing_loop_is_written_once() -> None:
    """Every listing goes through restore_drill.objectstore (issue 12: the loop was written six times)."""
    root = Path(__file__).resolve().parents[1]
    loops = sorted(str(p.relative_to(root)) for d in ("restore_drill", "fixtures", "checks", "seeds", "reports", "bench")
                   for p in (root / d).rglob("*.py") if 'get_paginator("list_objects_v2")' in p.read_text())
    assert loops == ["restore_drill/objectstore/s3.py"]
