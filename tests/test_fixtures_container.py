"""The container backend: a pinned postgres:N image via testcontainers, where a Docker engine answers.
Without one the test is skipped with the reason; --drill-require-infra makes that a failure."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from restore_drill.errors import InfraUnavailable
from restore_drill.fixtures.postgres import CONTAINER_IMAGES, ContainerPostgres, docker_available
from restore_drill.pytest_plugin import require_or_skip


def test_container_backend_starts_a_pinned_image(pytestconfig: pytest.Config) -> None:
    require_or_skip(pytestconfig, docker_available())
    pg = ContainerPostgres(16)
    pg.start()
    try:
        db = pg.create_database()
        with db.connect() as c:
            assert c.execute("SHOW server_version").fetchone()[0].startswith("16.")
    finally:
        pg.stop()


def test_images_are_pinned_never_latest() -> None:
    assert all(":" in img and not img.endswith(":latest") for img in CONTAINER_IMAGES.values())


def test_without_docker_the_error_names_the_fix() -> None:
    if docker_available() is None:
        pytest.skip("a Docker engine is reachable here")
    with pytest.raises(InfraUnavailable, match="use --pg-backend embedded"):
        ContainerPostgres(16).start()


def test_require_infra_turns_the_skip_into_a_failure(tmp_path: Path) -> None:
    if docker_available() is None:
        pytest.skip("a Docker engine is reachable here, so nothing is skipped")
    (tmp_path / "test_c.py").write_text(textwrap.dedent('''
        from restore_drill.fixtures.postgres import docker_available
        from restore_drill.pytest_plugin import require_or_skip
        def test_needs_docker(pytestconfig):
            require_or_skip(pytestconfig, docker_available())
    '''))
    base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", str(tmp_path / "test_c.py")]
    skipped = subprocess.run(base, capture_output=True, text=True, cwd=tmp_path)
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout
    failed = subprocess.run([*base, "--drill-require-infra"], capture_output=True, text=True, cwd=tmp_path)
    assert failed.returncode == 1 and "--drill-require-infra is set" in failed.stdout
