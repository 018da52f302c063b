"""Run as root from a clone under a 0700 folder (e.g. /root/project), the server user must still reach
the PostgreSQL binaries (issue 16): before, every drill errored with PermissionError on the venv."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from restore_drill import sandbox
from restore_drill.errors import InfraUnavailable
from restore_drill.fixtures import binaries
from restore_drill.fixtures.postgres.embedded import EmbeddedPostgres
from restore_drill.fixtures.runtime_user import server_user

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the 0700 clone problem exists only when running as root")


def _private_wheel_copy(tmp_path: Path) -> binaries.PgBinaries:
    """The venv's pgserver package (and its .libs folder) hardlinked under a 0700 folder."""
    wheel = next(b for b in binaries.servers() if "wheel" in b.source)
    bindir = wheel.bindir
    pkg = bindir.parent.parent
    private = tmp_path / "root-like"
    private.mkdir(mode=0o700)
    site = private / "project" / "site-packages"
    site.mkdir(parents=True)
    for src in [pkg, pkg.parent / f"{pkg.name}.libs"]:
        if src.is_dir():
            shutil.copytree(src, site / src.name, symlinks=True, copy_function=os.link,
                            ignore=shutil.ignore_patterns("__pycache__"))
    return binaries.PgBinaries(wheel.major, wheel.version, site / pkg.name / bindir.parent.name / "bin", "private clone")


def test_server_starts_from_binaries_under_a_0700_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private = _private_wheel_copy(tmp_path)
    assert server_user().blocked_at(private.bindir) is not None  # what made initdb fail with Permission denied
    cache = Path(tempfile.mkdtemp(prefix="rd-test-cache-", dir="/tmp"))
    os.chmod(cache, 0o755)
    monkeypatch.setenv(binaries.CACHE_ENV, str(cache))
    try:
        shared = binaries.reachable(private)
        assert shared.bindir.is_relative_to(cache) and server_user().blocked_at(shared.bindir) is None
        assert binaries.reachable(private) == shared  # made once, then reused
        with EmbeddedPostgres(shared) as pg:
            assert pg.admin.execute("SELECT 1").fetchone() == (1,)
        if not sandbox.unavailable_reason():  # a confined step runs the shared copy's client tools too
            sb = sandbox.prepare(tmp_path / "w", sandbox.Endpoints.of([]),
                                 read_paths=tuple(str(d) for d in binaries.install_dirs(shared)))
            done, _ = sb.run(f"{shared.bindir}/psql --version", env={"PATH": "/usr/bin:/bin"}, timeout_s=30)
            assert done.exit_code == 0 and done.stdout.startswith("psql (PostgreSQL)"), done.stderr
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def test_no_usable_cache_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    private = _private_wheel_copy(tmp_path)
    monkeypatch.setattr(binaries, "cache_roots", lambda: [tmp_path / "root-like" / "cache"])  # inside the 0700 folder
    with pytest.raises(InfraUnavailable) as e:
        binaries.reachable(private)
    assert f"cannot reach {private.bindir}" in str(e.value) and binaries.CACHE_ENV in str(e.value)
