"""verify-backup takes the same configuration as a drill: any Postgres backend (here a server we do not
own, ``--pg-backend external``) and any S3 backend (``--s3-backend endpoint``, a moto server the test
starts), and its run folder follows the one lifecycle ``run`` has: on a full report disk the report
survives in the fallback folder, errored, naming the cause and the fix."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from restore_drill.verify import VERDICT_FILE
from tests.safety_support import (
    Sentinel,
    _remove_private_tmpdirs,  # noqa: F401 - autouse clean-up
    all_text_files,
    run_cli,
    start_sentinel,
)
from tests.test_faults import small_disk  # noqa: F401 - the fixture, used through full_disk
from tests.test_verify_backup import docs_dump as _docs_dump  # noqa: F401 - the fixture docs_dump
from tests.test_verify_backup import docs_system, objects, today


@pytest.fixture
def archive(request: pytest.FixtureRequest) -> Path:
    """test_verify_backup's docs archive (12 rows with file keys) and its manifest beside it in tmp_path."""
    return Path(request.getfixturevalue("_docs_dump"))


@pytest.fixture(scope="module")
def sentinel() -> Iterator[Sentinel]:
    with start_sentinel("verify-backends-pw") as sen:
        yield sen


def test_external_postgres_and_endpoint_s3(archive: Path, sentinel: Sentinel, tmp_path: Path) -> None:
    """The restore goes into a scratch database on the given server, dropped afterwards; the s3:// snapshot
    is read from the given endpoint with the configured keys; nothing the run did not create changes."""
    system = docs_system(tmp_path)
    client = sentinel.client()
    bucket, prefix = "docs-snapshots", f"docs-{today()}"
    client.create_bucket(Bucket=bucket)
    for k, v in objects().items():
        client.put_object(Bucket=bucket, Key=f"{prefix}/{k}", Body=v, ContentType="text/plain", Metadata={"origin": "test"})
    before = sentinel.state()
    keys = {"RESTORE_DRILL_S3_ACCESS_KEY": "verify-endpoint-key", "RESTORE_DRILL_S3_SECRET_KEY": "verify-endpoint-secret"}
    run = run_cli(["verify-backup", str(archive), "--system", str(system), "--manifest", str(tmp_path / "docs.manifest.json"),
                   "--pg-backend", "external", "--pg-url", sentinel.url,
                   "--s3-backend", "endpoint", "--s3-endpoint", sentinel.endpoint,
                   "--storage-snapshot", f"s3://{bucket}/{prefix}", "--quiet"], tmp_path, env_extra=keys)
    assert run.returncode == 0, run.describe()
    major = sentinel.pg.major
    assert f"safe to restore into PostgreSQL: {sentinel.pg.server_version}" in run.stdout
    rep = run.report()
    assert rep["environment"]["postgres"]["backend"] == "external"
    assert rep["environment"]["s3"]["backend"] == "endpoint" and rep["environment"]["s3"]["endpoint"] == sentinel.endpoint
    (drill,) = rep["drills"]
    assert drill["id"] == f"verify-backup[pg{major}]"
    checks = {c["name"]: c["status"] for c in drill["checks"]}
    assert checks["row_counts"] == checks["object_integrity"] == checks["artifact_paths_exist"] == "passed", checks
    scratch = drill["target"]["database"].split()[0]
    assert scratch.startswith("verify_")
    after = sentinel.state()
    assert scratch not in after["databases"]  # created on the given server and dropped again
    assert after == before
    text = "".join(f.read_text(errors="replace") for f in all_text_files(run.run_dir()))
    assert sentinel.password not in text and "verify-endpoint-secret" not in text


def test_external_server_runs_one_version(archive: Path, sentinel: Sentinel, tmp_path: Path) -> None:
    other = 15 if sentinel.pg.major != 15 else 16
    run = run_cli(["verify-backup", str(archive), "--pg-backend", "external", "--pg-url", sentinel.url,
                   "--pg-version", str(other), "--quiet"], tmp_path)
    assert run.returncode == 2, run.describe()
    assert f"runs PostgreSQL {sentinel.pg.server_version}, not {other}" in run.stderr


@pytest.fixture
def full_disk(request: pytest.FixtureRequest) -> Path:
    """test_faults' small tmpfs (skipped where it cannot be mounted), filled to the last byte: a folder can
    still be made there, no file written."""
    mnt = Path(request.getfixturevalue("small_disk"))
    with (mnt / "filler").open("wb", buffering=0) as f, contextlib.suppress(OSError):
        while f.write(b"\0" * 4096):
            pass
    return mnt


def test_verify_report_survives_a_full_report_disk(archive: Path, tmp_path: Path, full_disk: Path) -> None:
    run = run_cli(["verify-backup", str(archive), "--pg-version", "16", "--quiet", "--report-dir", str(full_disk)],
                  tmp_path)
    assert run.returncode == 2, run.describe()
    out = " ".join(run.stdout.split())  # the summary wraps at the terminal width
    assert "No space left on device" in out and "--report-dir on another disk" in out, run.describe()
    fallback = sorted(run.tmpdir.glob("restore-drill-reports/*/report.json"))
    assert len(fallback) == 1, run.describe()
    rep = json.loads(fallback[0].read_text())
    assert rep["status"] == "errored" and "No space left on device" in rep["error"]["message"]
    (drill,) = rep["drills"]
    assert drill["status"] == "passed"  # the backup itself verified: only the report folder failed
    verdict = (fallback[0].parent / VERDICT_FILE).read_text()
    assert "safe to restore into PostgreSQL: 16." in verdict
    assert f"report:{fallback[0].parent}/report.html" in "".join(run.stdout.split())
