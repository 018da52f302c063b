"""sha256 of every file in a run folder, in `sha256sum` format, so an auditor can tell the bundle
was not changed (`sha256sum -c evidence.sha256` works without restore-drill)."""

from __future__ import annotations

import hashlib
from pathlib import Path

EVIDENCE_FILE = "evidence.sha256"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def evidence_files(run_dir: Path, exclude: frozenset[str] = frozenset()) -> list[tuple[str, int, str]]:
    """(relative posix path, size, sha256) of every regular file under ``run_dir``, sorted by path,
    except evidence.sha256 itself and the relative paths in ``exclude``."""
    out: list[tuple[str, int, str]] = []
    for p in sorted(run_dir.rglob("*")):
        if not p.is_file() or p.is_symlink():
            continue
        rel = p.relative_to(run_dir).as_posix()
        if rel == EVIDENCE_FILE or rel in exclude:
            continue
        out.append((rel, p.stat().st_size, sha256_file(p)))
    return out


def write_evidence(run_dir: Path) -> Path:
    lines = [f"{digest}  {rel}\n" for rel, _size, digest in evidence_files(run_dir)]
    path = run_dir / EVIDENCE_FILE
    tmp = path.with_suffix(".tmp")
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
