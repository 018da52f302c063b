"""A folder as an ObjectStore: keys are paths relative to it with "/" separators. Read-only.

verify-backup judges a storage snapshot copied to disk with the same storage checks as an S3 prefix;
the snapshot is evidence, so this store only ever opens files for reading.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from .interface import ObjectInfo, StoredObject, base_prefix


def _chunks(path: Path, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(chunk_size):
            yield chunk


class DirectoryStore:
    """The files below ``root`` in S3's order (UTF-8 bytes of the relative path). A folder keeps bytes
    only: no content type or user metadata (``keeps_metadata`` is False). Makes no list requests."""

    keeps_metadata = False
    list_requests = 0

    def __init__(self, root: Path) -> None:
        self.root = root
        self._keys: list[str] | None = None

    @property
    def where(self) -> str:
        return str(self.root)

    def keys(self) -> list[str]:
        """Every file's relative key, walked once and cached."""
        if self._keys is None:
            found: list[str] = []
            for dirpath, _dirs, files in os.walk(self.root):
                for name in files:
                    p = Path(dirpath) / name
                    if p.is_file():
                        found.append(p.relative_to(self.root).as_posix())
            self._keys = sorted(found, key=lambda k: k.encode("utf-8"))
        return self._keys

    def list(self) -> Iterator[ObjectInfo]:
        for k in self.keys():
            yield ObjectInfo(k, (self.root / k).stat().st_size)

    def get(self, key: str) -> StoredObject:
        """The file's content; FileNotFoundError when it is not there."""
        path = self.root / key
        return StoredObject(_chunks(path), path.stat().st_size)

    def within(self, prefix: str | None) -> DirectoryStore:
        sub = base_prefix(prefix)
        return DirectoryStore(self.root / sub) if sub else self
