"""Destructive steps never touch what the harness did not create.

The test owns a Postgres server and an S3 endpoint standing in for production: a database and a bucket
holding sentinel rows and objects under the very names the drills use. Pointed at them (`external`,
`endpoint`), the harness works only in scratch databases and buckets of its own; every destructive step
aimed at the sentinel is refused without `--allow-destructive`, and refused with a name that is not the
target's; the sentinel is unchanged byte for byte (table digests, catalog, object sha256s) at the end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from restore_drill import disasters
from restore_drill.disasters import DisasterContext
from restore_drill.errors import DestructiveRefused
from restore_drill.fixtures.infra import Infra
from restore_drill.fixtures.postgres import ExternalPostgres
from restore_drill.fixtures.s3 import Bucket, EndpointS3
from tests.safety_support import (
    SENTINEL_PREFIX,
    SENTINEL_TABLES,
    Sentinel,
    _remove_private_tmpdirs,  # noqa: F401 - autouse clean-up
    run_cli,
    start_sentinel,
)

# Every registered disaster, read from the registry: a new one without a guard fails here rather than escaping.
STORAGE_DISASTERS = [d for d in disasters.DISASTERS if d.kind.guards_storage and not d.kind.guards_database]
KEYS = {"RESTORE_DRILL_S3_ACCESS_KEY": "drill-endpoint-key", "RESTORE_DRILL_S3_SECRET_KEY": "drill-endpoint-secret"}


@pytest.fixture(scope="module")
def sentinel() -> Iterator[Sentinel]:
    with start_sentinel("sentinel-pw-destructive") as sen:
        yield sen


@pytest.fixture
def unchanged(sentinel: Sentinel) -> Iterator[dict[str, Any]]:
    """Every test ends with the sentinel exactly as it began."""
    before = sentinel.state()
    yield before
    assert sentinel.state() == before


def _their_db(sentinel: Sentinel) -> Any:
    ext = ExternalPostgres(sentinel.url)
    ext.start()
    try:
        return ext.user_database()
    finally:
        ext.stop()


def _ctx(sentinel: Sentinel, allow: str | None, **kw: Any) -> DisasterContext:
    their_bucket = Bucket(sentinel.bucket, EndpointS3(sentinel.endpoint, "k", "s").endpoint, created_by_harness=False)
    return DisasterContext(_their_db(sentinel), list(SENTINEL_TABLES), seed=1, allow_destructive=allow,
                           bucket=their_bucket, prefix=SENTINEL_PREFIX, backup_bucket=their_bucket,
                           snapshot_prefix=f"{SENTINEL_PREFIX}-2026-03-01", backup_date="2026-03-01",
                           write_row=lambda c: c.execute("INSERT INTO accounts VALUES (999, 'late', 1)"), **kw)


@pytest.mark.parametrize("allow", [None, "production", "pegasus-prod-typo", "SENTINEL"])
@pytest.mark.parametrize("disaster", disasters.DISASTERS, ids=lambda d: d.name)
def test_every_disaster_refuses_targets_it_did_not_create(sentinel: Sentinel, unchanged: dict[str, Any],
                                                          disaster: disasters.Disaster, allow: str | None) -> None:
    target = sentinel.db if disaster.kind.guards_database else sentinel.bucket
    with pytest.raises(DestructiveRefused) as info:
        disaster.inject(_ctx(sentinel, allow))
    msg = str(info.value)
    assert repr(target) in msg, msg
    assert (f"pass --allow-destructive={target}" in msg) if allow is None else (f"names {allow!r}" in msg), msg
    assert "\n" not in msg


def test_a_database_opt_in_does_not_open_the_bucket(sentinel: Sentinel, unchanged: dict[str, Any]) -> None:
    # Naming the database allows damage to that database only; the bucket still refuses.
    assert STORAGE_DISASTERS, "the registry has storage disasters"
    for disaster in STORAGE_DISASTERS:
        with pytest.raises(DestructiveRefused, match=repr(sentinel.bucket)):
            disaster.inject(_ctx(sentinel, sentinel.db))


def test_the_opt_in_naming_the_target_is_what_allows_it(sentinel: Sentinel) -> None:
    """The guard is not a blanket refusal: a disposable database of the user's, named exactly, may be hit."""
    sentinel.pg.admin.execute(f"CREATE DATABASE disposable TEMPLATE {sentinel.db} OWNER {sentinel.role}")
    try:
        theirs = dataclasses.replace(_their_db(sentinel), name="disposable")
        with pytest.raises(DestructiveRefused):
            disasters.inject("truncate", DisasterContext(theirs, list(SENTINEL_TABLES), allow_destructive="sentinel"))
        rec = disasters.inject("truncate", DisasterContext(theirs, list(SENTINEL_TABLES), allow_destructive="disposable"))
        assert all(v == 0 for v in rec.details["rows_after"].values())
    finally:
        sentinel.pg.drop_database("disposable")


def test_tear_down_never_drops_or_deletes_what_it_did_not_create(sentinel: Sentinel, unchanged: dict[str, Any]) -> None:
    infra = Infra(pg_backend="external", pg_url=sentinel.url, s3_backend="endpoint", s3_endpoint=sentinel.endpoint)
    try:
        infra.postgres()
        infra.drop(_their_db(sentinel))  # not created by the harness: a no-op
        ep = EndpointS3(sentinel.endpoint, "k", "s")
        with pytest.raises(DestructiveRefused, match="restore-drill did not create it"):
            ep.delete_bucket(Bucket(sentinel.bucket, ep.endpoint))
        ep.stop()  # deletes only buckets it created (none)
    finally:
        infra.close()


@pytest.mark.parametrize("drill, allow", [
    ("pegasus-full-restore", None),  # drop-table + database and storage restore; ~10 s
    ("arqonbus-table-restore", "production"),  # truncate + --clean restore, with an opt-in naming something else
])
def test_cli_drill_against_external_and_endpoint_works_only_in_its_own_scratch(
        tmp_path: Path, sentinel: Sentinel, unchanged: dict[str, Any], drill: str, allow: str | None) -> None:
    args = ["run", drill, "--quiet", "--pg-backend", "external", "--pg-url", sentinel.url,
            "--s3-backend", "endpoint", "--s3-endpoint", sentinel.endpoint]
    if allow:
        args += ["--allow-destructive", allow]
    run = run_cli(args, tmp_path, env_extra=KEYS)
    rep = run.report()
    d = rep["drills"][0]
    assert run.returncode in (0, 1), run.describe()
    assert d["status"] in ("passed", "failed") and not rep["error"], run.describe()
    assert d["target"]["database"] != sentinel.db and d["target"]["database"].startswith("drill_")
    assert any(s["name"].startswith("[restore-drill] disaster") and s["status"] == "passed" for s in d["steps"])
    restores = [s for s in d["steps"] if s["phase"] == "restore" and s["exit_code"] == 0]
    assert restores, "the restore ran (and was destructive: --clean / sync --delete) in the scratch targets"
    if d["target"]["bucket"]:
        assert d["target"]["bucket"] != sentinel.bucket and d["target"]["bucket"].startswith("rd-")
    # Nothing of the harness's is left on the user's server or endpoint either.
    assert sentinel.databases() == set(unchanged["databases"])
    assert sentinel.buckets() == set(unchanged["buckets"])
    assert run.leftover_processes() == [] and run.leftover_tmp() == []
