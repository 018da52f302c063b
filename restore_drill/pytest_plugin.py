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
from restore_drill.fixtures.postgres import registry as pg_registry
from restore_drill.fixtures.s3 import Bucket
from restore_drill.fixtures.s3 import registry as s3_registry

OPTIONS: list[tuple[str, str, str | None, str]] = [
    # (option, ini/env suffix, default, help)
    ("pg-version", "pg_version", None, "Postgres major for drills, e.g. 16 (default: 16 if found, else newest)"),
    ("pg-backend", "pg_backend", pg_registry.DEFAULT, " | ".join(pg_registry.NAMES)),
    ("pg-url", "pg_url", None, "URL of an external Postgres (with --pg-backend external)"),
    ("s3-backend", "s3_backend", s3_registry.DEFAULT, " | ".join(s3_registry.NAMES)),
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
    infra = Infra.from_config(drill_config(pytestconfig))
    try:
        yield infra
    finally:
        infra.close()


def require_or_skip(config: pytest.Config, reason: str | None) -> None:
    """Skip with ``reason`` when infrastructure is missing; fail instead under --drill-require-infra."""
    if reason is None:
        return
    if config.getoption("rd_require_infra"):
        pytest.fail(f"{reason} (and --drill-require-infra is set)", pytrace=False)
    pytest.skip(reason)


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


# -- drills ----------------------------------------------------------------------------------------
# Each xdist worker writes its own run folder under one session folder; the controller merges them
# into the session folder's report at the end, so parallel drills never share a file.

def _session_id(config: pytest.Config) -> str:
    wi = getattr(config, "workerinput", None)
    if wi is not None and "rd_session" in wi:
        return str(wi["rd_session"])
    sid = getattr(config, "_rd_session", None)
    if sid is None:
        import time
        import uuid

        sid = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
        config._rd_session = sid  # type: ignore[attr-defined]
    return sid


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:  # xdist hook: hand the session id to each worker
    node.workerinput["rd_session"] = _session_id(node.config)


def _report_base(config: pytest.Config) -> Any:
    from pathlib import Path

    v = option(config, "report_dir")
    return Path(v) if v else Path(str(config.rootpath)) / "reports" / "runs"


def drill_config(config: pytest.Config) -> Any:
    """The run's ``DrillConfig`` from the plugin's options (flag > env > ini), resolved like the CLI's."""
    from restore_drill.config import resolve

    v = option(config, "pg_version")
    return resolve({
        "pg_version": int(v) if v not in (None, "") else None,
        "pg_backend": option(config, "pg_backend"), "pg_url": option(config, "pg_url"),
        "s3_backend": option(config, "s3_backend"), "s3_endpoint": option(config, "s3_endpoint"),
        "seed": option(config, "seed"), "scale": option(config, "scale"),
        "allow_destructive": option(config, "allow_destructive"), "report_dir": _report_base(config),
    })


class _DrillSession:
    """The drills one worker ran, written as one run folder when the session ends."""

    def __init__(self, config: pytest.Config) -> None:
        from restore_drill.events import EventBus, LogSink
        from restore_drill.redact import Redactor

        self.config = config
        worker = getattr(config, "workerinput", {}).get("workerid", "main")
        self.dir = _report_base(config) / f"pytest-{_session_id(config)}" / worker
        self.dir.mkdir(parents=True, exist_ok=True)
        self.bus = EventBus(LogSink(self.dir / "drill.log", Redactor()))
        self.drills: list[Any] = []

    def write(self) -> None:
        from restore_drill.reports.environment import capture_environment
        from restore_drill.reports.model import RunReport
        from restore_drill.reports.writers import write_run

        if not self.drills:
            return
        rep = RunReport(run_id=self.dir.parent.name + "/" + self.dir.name, command=["pytest"],
                        environment=capture_environment(), started_at=self.drills[0].started_at,
                        drills=list(self.drills))
        rep.finish()
        write_run(rep, self.dir)


@pytest.fixture(scope="session")
def _drill_session(pytestconfig: pytest.Config) -> Iterator[_DrillSession]:
    s = _DrillSession(pytestconfig)
    try:
        yield s
    finally:
        s.write()


@pytest.fixture
def run_drill(drill_infra: Infra, _drill_session: _DrillSession, pytestconfig: pytest.Config) -> Any:
    """Run a catalogued drill (by name or DrillSpec) on the session infrastructure; returns its DrillReport.

    The report also goes to this worker's run folder and, with --alluredir, to allure."""
    from restore_drill import catalog
    from restore_drill.engine import Drill
    from restore_drill.reports.allure_bridge import emit_drill

    cfg = drill_config(pytestconfig)

    def go(spec: Any, **overrides: Any) -> Any:
        if isinstance(spec, str):
            spec = catalog.get(spec)
        config = cfg
        if overrides:
            from dataclasses import replace

            config = replace(cfg, **overrides, sources={**cfg.sources, **{k: f"by:run_drill({k}=...)" for k in overrides}})
        rep = Drill(spec, config, drill_infra, _drill_session.bus, _drill_session.dir).run()
        _drill_session.drills.append(rep)
        emit_drill(rep, pytestconfig)
        return rep

    return go


def drill_variant(config: pytest.Config) -> str:
    """The test-id suffix naming where drills run, e.g. pg16-moto."""
    from restore_drill.fixtures import binaries

    v = option(config, "pg_version")
    try:
        major = int(v) if v not in (None, "") else binaries.select(None).major
    except Exception:  # no binaries: the drill itself reports InfraUnavailable
        major = 0
    return f"pg{major}-{option(config, 's3_backend')}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Readable, stable ids: test_pegasus_full_restore[pg16-moto].
    if "drill_target" in metafunc.fixturenames:
        variant = drill_variant(metafunc.config)
        metafunc.parametrize("drill_target", [variant], ids=[variant])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Controller only: merge the workers' run folders into one session report."""
    config = session.config
    if getattr(config, "workerinput", None) is not None:
        return
    base = _report_base(config) / f"pytest-{_session_id(config)}"
    if not base.is_dir():
        return
    from restore_drill.reports.environment import capture_environment
    from restore_drill.reports.model import RunReport
    from restore_drill.reports.writers import load_run, write_run

    drills = []
    for sub in sorted(p for p in base.iterdir() if (p / "report.json").is_file()):
        drills += load_run(sub).drills
    if not drills:
        return
    rep = RunReport(run_id=base.name, command=["pytest"], environment=capture_environment(),
                    started_at=min(d.started_at for d in drills), drills=drills)
    rep.finish()
    write_run(rep, base)
