"""sha256 of every file in a run folder, in `sha256sum` format, so an auditor can tell the bundle
was not changed (`sha256sum -c evidence.sha256` works without restore-drill)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from restore_drill.foundation import sha256_file as _sha256_file

EVIDENCE_FILE = "evidence.sha256"


# The project's one file hasher (streams in 1 MiB chunks); re-exported for the evidence bundle.
sha256_file = _sha256_file


def _files(run_dir: Path) -> Iterator[tuple[str, Path]]:
    """(relative posix path, path) of every regular file under run_dir but evidence.sha256, sorted."""
    for p in sorted(run_dir.rglob("*")):
        if p.is_file() and not p.is_symlink():
            rel = p.relative_to(run_dir).as_posix()
            if rel != EVIDENCE_FILE:
                yield rel, p


def evidence_files(run_dir: Path, exclude: frozenset[str] = frozenset()) -> list[tuple[str, int, str]]:
    """(relative path, size, sha256) of every file under ``run_dir`` except evidence.sha256 and ``exclude``."""
    return [(rel, p.stat().st_size, sha256_file(p)) for rel, p in _files(run_dir) if rel not in exclude]


def write_evidence(run_dir: Path, known: Sequence[tuple[str, int, str]] = ()) -> Path:
    """Write evidence.sha256 over every file. ``known`` entries (hashed moments ago for the compliance
    report) are reused while the size is unchanged, so a large dump in the folder is read once."""
    have = {rel: (size, digest) for rel, size, digest in known}
    lines = []
    for rel, p in _files(run_dir):
        size = p.stat().st_size
        digest = have[rel][1] if rel in have and have[rel][0] == size else sha256_file(p)
        lines.append(f"{digest}  {rel}\n")
    path = run_dir / EVIDENCE_FILE
    tmp = run_dir / f".{EVIDENCE_FILE}.tmp"
    tmp.write_text("".join(lines))
    tmp.replace(path)
    return path


def read_evidence(run_dir: Path) -> dict[str, str]:
    """relative path -> sha256 as listed in evidence.sha256 (empty if the file is missing)."""
    path = run_dir / EVIDENCE_FILE
    if not path.exists():
        return {}
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, _, rel = line.partition("  ")
            out[rel] = digest
    return out


def verify_evidence(run_dir: Path) -> list[str]:
    """Problems found re-hashing a run folder against its evidence.sha256; empty means intact."""
    listed = read_evidence(run_dir)
    if not listed:
        return [f"{EVIDENCE_FILE} missing or empty in {run_dir}"]
    actual = {rel: digest for rel, _size, digest in evidence_files(run_dir)}
    problems = [f"changed: {rel}" for rel, d in sorted(listed.items()) if rel in actual and actual[rel] != d]
    problems += [f"missing: {rel}" for rel in sorted(listed) if rel not in actual]
    problems += [f"not listed: {rel}" for rel in sorted(actual) if rel not in listed]
    return problems
