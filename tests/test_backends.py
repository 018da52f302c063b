"""Compliance (testcontainers style): every registered Postgres and S3 backend, built through its registry
entry exactly as ``Infra`` builds it, starts, serves a scratch database or bucket the harness creates and
drops, reports its server process, and stops without leaving it running. Every registered backend is
tested (parametrized over the registries); one that needs a server or settings says how in ``PG_SETUPS``
/ ``S3_SETUPS``. The container backend is skipped with its reason where no Docker engine answers (a
failure under --drill-require-infra).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest

from restore_drill.errors import BadInput, DestructiveRefused
from restore_drill.fixtures import binaries
from restore_drill.fixtures.postgres import EmbeddedPostgres, PgSettings, PostgresKind, docker_available
from restore_drill.fixtures.postgres import registry as pg_registry
from restore_drill.fixtures.s3 import Bucket, MotoS3, S3Kind, S3Settings
from restore_drill.fixtures.s3 import registry as s3_registry
from restore_drill.pytest_plugin import require_or_skip
from tests.helpers import alive

# -- how each backend gets what it needs here ------------------------------------------------------


@contextmanager
def _no_settings(config: pytest.Config) -> Iterator[PgSettings]:
    yield PgSettings()


@contextmanager
def _docker(config: pytest.Config) -> Iterator[PgSettings]:
    require_or_skip(config, docker_available())
    yield PgSettings()


@contextmanager
def _a_server_we_do_not_own(config: pytest.Config) -> Iterator[PgSettings]:
    """A disposable server standing in for the user's: a login role with CREATEDB and nothing more."""
    srv = EmbeddedPostgres(binaries.select(None))
    srv.start()
    try:
        pw = secrets.token_urlsafe(12)
        srv.admin.execute(f"CREATE ROLE compliance LOGIN CREATEDB PASSWORD '{pw}'")
        # Over TCP on loopback, as a user would hand a server over (never the superuser's URL).
        yield PgSettings(url=f"postgresql://compliance:{pw}@127.0.0.1:{srv.tcp_port}/postgres")
    finally:
        srv.stop()


PG_SETUPS: dict[str, Callable[[pytest.Config], AbstractContextManager[PgSettings]]] = {
    "embedded": _no_settings,
    "container": _docker,
    "external": _a_server_we_do_not_own,
}


@contextmanager
def _moto_settings() -> Iterator[S3Settings]:
    yield S3Settings()


@contextmanager
def _an_endpoint_we_do_not_own() -> Iterator[S3Settings]:
    """A moto server the test starts, reached as any S3-compatible endpoint with its keys."""
    moto = MotoS3()
    moto.start()
    try:
        e = moto.endpoint
        yield S3Settings(endpoint=e.url, access_key=e.access_key, secret_key=e.secret_key)
    finally:
        moto.stop()


S3_SETUPS: dict[str, Callable[[], AbstractContextManager[S3Settings]]] = {
    "moto": _moto_settings,
    "endpoint": _an_endpoint_we_do_not_own,
}


def test_compliance_setups_name_registered_backends() -> None:
    """A backend that needs nothing (like embedded, moto) is tested as it is; one that needs a server or
    settings says how here. A setup for a backend no longer registered is stale."""
    assert set(PG_SETUPS) <= set(pg_registry.NAMES), set(PG_SETUPS) - set(pg_registry.NAMES)
    assert set(S3_SETUPS) <= set(s3_registry.NAMES), set(S3_SETUPS) - set(s3_registry.NAMES)


# -- the contract ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", pg_registry.NAMES)
def test_postgres_backend_contract(name: str, pytestconfig: pytest.Config) -> None:
    with PG_SETUPS.get(name, _no_settings)(pytestconfig) as settings:
        postgres_contract(pg_registry.get(name), settings)


def postgres_contract(kind: PostgresKind, settings: PgSettings) -> None:
    """What every Postgres backend does, built as ``Infra`` builds it (also used for README examples)."""
    name = kind.name
    kind.check_settings(settings)
    kind.preflight(settings, None)
    key = kind.server_key(settings, None)
    srv = kind.create(settings, key)
    assert srv.kind == name
    assert not srv.alive()
    srv.start()
    pid = srv.pid
    try:
        assert srv.alive()
        assert srv.major >= 9 and srv.server_version.split(".")[0] == str(srv.major)
        assert srv.client_bins.has("pg_dump") and srv.client_bins.major >= srv.major
        db = srv.create_database()
        assert db.created_by_harness and db.major == srv.major
        with db.connect(autocommit=True) as c:
            c.execute("CREATE TABLE t (id int)")
            c.execute("INSERT INTO t VALUES (1), (2)")
            assert c.execute("SELECT count(*) FROM t").fetchone()[0] == 2
        clone = srv.create_database(template=db.name)
        with clone.connect() as c:
            assert c.execute("SELECT count(*) FROM t").fetchone()[0] == 2
        for d in (clone, db):
            srv.drop_database(d)
        with srv.create_database().connect() as c:
            names = {r[0] for r in c.execute("SELECT datname FROM pg_database").fetchall()}
        assert db.name not in names and clone.name not in names
    finally:
        srv.stop()
    assert not srv.alive()
    srv.stop()  # idempotent
    if pid is not None:
        assert not alive(pid)


@pytest.mark.parametrize("name", s3_registry.NAMES)
def test_s3_backend_contract(name: str) -> None:
    with S3_SETUPS.get(name, _moto_settings)() as settings:
        s3_contract(s3_registry.get(name), settings)


def s3_contract(kind: S3Kind, settings: S3Settings) -> None:
    """What every S3 backend does, built as ``Infra`` builds it (also used for README examples)."""
    kind.preflight(settings)
    s3 = kind.create(settings)
    assert s3.kind == kind.name
    s3.start()
    pid = s3.pid
    try:
        assert s3.alive()
        b = s3.create_bucket("compliance test")
        assert b.created_by_harness and b.name.startswith("rd-compliance-test-")
        client = b.endpoint.client()
        client.put_object(Bucket=b.name, Key="a/1.txt", Body=b"one")
        assert client.get_object(Bucket=b.name, Key="a/1.txt")["Body"].read() == b"one"
        s3.delete_bucket(b)
        assert b.name not in {x["Name"] for x in client.list_buckets()["Buckets"]}
        if kind.user_given:
            # A store the harness does not own: a bucket it did not create is refused, and kept.
            client.create_bucket(Bucket="users-bucket")
            with pytest.raises(DestructiveRefused):
                s3.delete_bucket(Bucket("users-bucket", b.endpoint, created_by_harness=False))
            assert "users-bucket" in {x["Name"] for x in client.list_buckets()["Buckets"]}
    finally:
        s3.stop()
    s3.stop()  # idempotent
    if pid is not None:
        assert not alive(pid)


# -- settings a backend needs are named before anything starts --------------------------------------


def test_missing_settings_are_bad_input_naming_the_option() -> None:
    with pytest.raises(BadInput, match="--pg-url"):
        pg_registry.get("external").preflight(PgSettings(), None)
    with pytest.raises(BadInput, match="--s3-endpoint"):
        s3_registry.get("endpoint").preflight(S3Settings())
    with pytest.raises(BadInput, match=f"unknown --pg-backend 'no-such'; use one of {', '.join(pg_registry.NAMES)}$"):
        pg_registry.get("no-such")
    with pytest.raises(BadInput, match=f"unknown --s3-backend 'no-such'; use one of {', '.join(s3_registry.NAMES)}$"):
        s3_registry.get("no-such")
