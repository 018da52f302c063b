"""The Python the PostgreSQL server user runs the aws CLI and Barman's WAL tools with.

archive_command and restore_command run as the unprivileged server user (fixtures/runtime_user.py). Run as
root from a clone under a 0700 folder (/root/project), both our venv's interpreter and its site-packages are
out of that user's reach. Like fixtures.binaries.reachable() does for the PostgreSQL binaries, the
distributions the shims import (awscli, barman and what they require, found with importlib.metadata) and,
when no interpreter of our version is reachable, the interpreter itself are hardlinked (copied across
filesystems) once into the same root-owned 0755 cache (binaries.cache_roots()), keyed by source path and
size/mtime, built in a temp folder and renamed so concurrent drills share one copy.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import os
import re
import shutil
import stat
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from restore_drill.fixtures import binaries
from restore_drill.fixtures.binaries import link_or_copy
from restore_drill.fixtures.runtime_user import RunAs

# Distributions whose modules the shims run; their requirements (every extra, if installed) follow.
SHIM_DISTRIBUTIONS = ("awscli", "barman")
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
# Left out of an interpreter copy: never imported by the shims, and large.
_STDLIB_SKIP = ("site-packages", "dist-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip",
                "__pycache__")


@dataclass(frozen=True)
class ServerPython:
    """How a shim runs Python as the server user: ``python`` on ``site`` (PYTHONPATH), with ``home`` as
    PYTHONHOME and ``libdir`` on LD_LIBRARY_PATH when the interpreter is a cached copy (else None)."""

    python: str
    site: str
    home: str | None = None
    libdir: str | None = None

    def shell_env(self) -> str:
        """The ``VAR="value" ...`` prefix a ``/bin/sh`` shim puts before ``exec``."""
        env = {"PYTHONPATH": self.site}
        if self.home:
            env["PYTHONHOME"] = self.home
        if self.libdir:
            env["LD_LIBRARY_PATH"] = self.libdir
        return " ".join(f'{k}="{v}"' for k, v in env.items())


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def shim_distributions(site: str, roots: Iterable[str] = SHIM_DISTRIBUTIONS) -> list[metadata.Distribution]:
    """The distributions installed in ``site`` that ``roots`` need: each root and, transitively, every
    requirement (any extra, any marker) that is installed there. A requirement naming no installed
    distribution is looked up as an import name (barman requires ``psycopg2``; the Makefile installs
    ``psycopg2-binary``, which provides that module). Roots not installed are skipped."""
    by_name = {_norm(d.metadata["Name"]): d for d in metadata.distributions(path=[site]) if d.metadata["Name"]}
    provides: dict[str, list[str]] | None = None
    todo, seen = [_norm(r) for r in roots], set[str]()
    out: list[metadata.Distribution] = []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        dist = by_name.get(name)
        if dist is None:
            if provides is None:
                provides = {}
                for d in by_name.values():
                    for top in (d.read_text("top_level.txt") or "").split():
                        provides.setdefault(_norm(top), []).append(_norm(d.metadata["Name"]))
            todo += provides.get(name, [])
            continue
        out.append(dist)
        for req in dist.requires or []:
            m = _REQ_NAME.match(req)
            if m:
                todo.append(_norm(m.group(1)))
    return out


def _site_files(site: Path, dists: list[metadata.Distribution]) -> list[Path]:
    """Every file of ``dists`` inside ``site`` (relative), from their RECORD; the ``bin/`` entry points
    outside site-packages are not needed (the shims run modules)."""
    files: set[Path] = set()
    for d in dists:
        for f in d.files or []:
            rel = Path(os.path.normpath(f))
            if rel.parts and rel.parts[0] != ".." and not rel.is_absolute() and (site / rel).is_file():
                files.add(rel)
    return sorted(files)


def _share(src: Path, dst: Path) -> None:
    """Hardlink ``src`` at ``dst`` when the server user may read it as it is; else a copy it may read (a
    chmod on a hardlink would change the venv's own file)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.stat().st_mode & stat.S_IROTH:
        link_or_copy(str(src), str(dst))
    else:
        shutil.copy2(src, dst)
        os.chmod(dst, dst.stat().st_mode | 0o444 | (0o111 if dst.stat().st_mode & 0o100 else 0))


def reachable_site(user: RunAs, site: str) -> str:
    """``site``, or a cached copy of the shims' distributions (:func:`shim_distributions`) the server user
    can read. Key: ``site``'s path, each distribution's name/version and its RECORD's size/mtime.
    Raises InfraUnavailable naming the fix when no cache folder can be used."""
    blocked = user.blocked_at(site)
    if blocked is None:
        return site
    src = Path(site)
    dists = shim_distributions(site)
    parts = [site]
    for d in sorted(dists, key=lambda d: d.metadata["Name"]):
        record = next((f for f in d.files or [] if f.name == "RECORD"), None)
        st = os.stat(str(d.locate_file(record))) if record is not None else None
        parts += [d.metadata["Name"], d.version, f"{st.st_size}:{st.st_mtime_ns}" if st else ""]
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]

    def fill(tmp: Path) -> None:
        for rel in _site_files(src, dists):
            _share(src / rel, tmp / rel)

    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    return str(binaries.shared_copy(user, f"py{ver}-site-{key}", fill, f"{site} ({blocked} is not searchable by it)"))


def _base_interpreter() -> tuple[Path, Path]:
    """(the real interpreter behind our venv, its installation prefix)."""
    return Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable))), Path(sys.base_prefix)


def cached_interpreter(user: RunAs) -> ServerPython:
    """A copy of our base interpreter (its ``bin/pythonX.Y``, ``lib/libpython*`` and standard library, no
    site-packages) in the cache, run with PYTHONHOME/LD_LIBRARY_PATH pointing at it; ``site`` is empty
    (the caller fills it). Key: prefix path and the interpreter's size/mtime. Raises InfraUnavailable."""
    exe, prefix = _base_interpreter()
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    st = exe.stat()
    key = hashlib.sha256(f"{prefix}\0{exe}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    stdlib = Path(sysconfig.get_paths()["stdlib"])

    def fill(tmp: Path) -> None:
        _share(exe, tmp / "bin" / f"python{ver}")
        for lib in (prefix / "lib").glob("libpython*.so*"):
            _share(lib.resolve(), tmp / "lib" / lib.name)
        shutil.copytree(stdlib, tmp / "lib" / f"python{ver}", symlinks=True, copy_function=link_or_copy,
                        ignore=shutil.ignore_patterns(*_STDLIB_SKIP))

    dest = binaries.shared_copy(user, f"python{ver}-{key}", fill, f"the interpreter {exe}")
    return ServerPython(str(dest / "bin" / f"python{ver}"), "", home=str(dest), libdir=str(dest / "lib"))


def interpreters(user: RunAs) -> list[ServerPython]:
    """Interpreters of our Python version to try, in order, on our site-packages (``site`` filled by the
    caller): ours when the server user can reach it, the system's ``/usr/bin`` / ``/usr/local/bin``
    pythonX.Y, and last a cached copy of ours (made only when asked for: call :func:`cached_interpreter`)."""
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    out: list[ServerPython] = []
    for py in [os.path.realpath(sys.executable), f"/usr/bin/python{ver}", f"/usr/local/bin/python{ver}"]:
        if os.path.exists(py) and user.blocked_at(py) is None and py not in [p.python for p in out]:
            out.append(ServerPython(py, ""))
    return out
