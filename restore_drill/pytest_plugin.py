"""pytest plugin: options, markers and fixtures only. The logic lives in typed modules.

Fixtures (pytest-postgresql style): session-scoped servers, function-scoped databases and buckets.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from restore_drill.fixtures.database import Database
from restore_drill.fixtures.infra import Infra
from restore_drill.fixtures.s3 import Bucket

OPTIONS: list[tuple[str, str, str | None, str]] = [
    # (option, ini/env suffix, default, help)
    ("pg-version", "pg_version", None, "Postgres major for drills, e.g. 16 (default: 16 if found, else newest)"),
    ("pg-backend", "pg_backend", "embedded", "embedded | container | external"),
    ("pg-url", "pg_url", None, "URL of an external Postgres (with --pg-backend external)"),
    ("s3-backend", "s3_backend", "moto", "moto | endpoint"),
    ("s3-endpoint", "s3_endpoint", None, "S3-compatible endpoint URL (with --s3-backend endpoint)"),
    ("drill-seed", "seed", "1234", "data seed for drills"),
    ("drill-scale", "scale", "1", "data scale factor for drills"),
    ("allow-destructive", "allow_destructive", None, "name of a non-disposable database/bucket that may be destroyed"),
    ("drill-report-dir", "report_dir", None, "where drills write their run folders"),
]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("restore-drill", "restore-drill: disposable infrastructure and restore drills")
    for opt, key, default, help_ in OPTIONS:
        group.addoption(f"--{opt}", dest=f"rd_{key}", default=None,
                        help=f"{help_}. ini: restore_drill_{key}; env: RESTORE_DRILL_{key.upper()}")
        parser.addini(f"restore_drill_{key}", help=help_, default=default)
    group.addoption("--drill-require-infra", action="store_true", default=None, dest="rd_require_infra",
                    help="fail (not skip) drills whose infrastructure (e.g. Docker) is unavailable")


def option(config: pytest.Config, key: str) -> Any:
    """Resolution order: CLI flag > environment > ini > default (compared with `is not None`)."""
    v = config.getoption(f"rd_{key}")
    if v is not None:
        return v
    env = os.environ.get(f"RESTORE_DRILL_{key.upper()}")
    if env is not None:
        return env
    return config.getini(f"restore_drill_{key}")


@pytest.fixture(scope="session")
def drill_infra(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    """Servers shared by the session (one set per xdist worker), all stopped at session end."""
    infra = Infra(
        pg_backend=option(pytestconfig, "pg_backend"),
        s3_backend=option(pytestconfig, "s3_backend"),
        pg_url=option(pytestconfig, "pg_url"),
        s3_endpoint=option(pytestconfig, "s3_endpoint"),
    )
    try:
        yield infra
    finally:
        infra.close()


@pytest.fixture(scope="session")
def drill_pg_version(pytestconfig: pytest.Config) -> int | None:
    v = option(pytestconfig, "pg_version")
    return int(v) if v not in (None, "") else None


@pytest.fixture
def pg_database(drill_infra: Infra, drill_pg_version: int | None) -> Iterator[Database]:
    """A fresh empty database on the session server, dropped afterwards."""
    db = drill_infra.database(drill_pg_version)
    try:
        yield db
    finally:
        drill_infra.drop(db)


@pytest.fixture
def s3_bucket(drill_infra: Infra, request: pytest.FixtureRequest) -> Iterator[Bucket]:
    """A fresh bucket on the session S3 server, emptied and deleted afterwards."""
    b = drill_infra.bucket(request.node.name[:20])
    try:
        yield b
    finally:
        drill_infra.s3.delete_bucket(b)
