"""The README's "How to extend" examples, run as a newcomer would use them: each code block headed
``# <path>`` is loaded as that module (from a temp file, so the tree is not changed), registered where the
README says, and put through what the project asks of its kind: the backend contract of
tests/test_backends.py, a disaster's guard and damage, a check against its injected fault and a clean
restore, a command's output. An example that no longer fits the code fails here, not in a reader's hands.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from restore_drill.checks.result import CheckResult, Status
from restore_drill.errors import DestructiveRefused
from restore_drill.fixtures.database import Database
from restore_drill.fixtures.infra import Infra
from restore_drill.fixtures.postgres import PgSettings
from restore_drill.fixtures.postgres import registry as pg_registry
from restore_drill.fixtures.s3 import Bucket
from restore_drill.fixtures.s3 import registry as s3_registry
from tests.test_backends import _an_endpoint_we_do_not_own, postgres_contract, s3_contract

ROOT = Path(__file__).resolve().parents[1]
SECTION = (lambda t: t[t.index("## How to extend"):t.index("\n## ", t.index("## How to extend") + 5)])(
    (ROOT / "README.md").read_text(encoding="utf-8"))
BLOCKS = {m.group(1): m.group(2) for m in re.finditer(r"```python\n# (\S+\.py)\n(.*?)```", SECTION, re.S)}
# Repository folders -> the installed package they are (pyproject's package-dir).
PACKAGES = {"fixtures": "restore_drill.fixtures", "checks": "restore_drill.checks", "reports": "restore_drill.reports",
            "restore_drill": "restore_drill"}


@contextmanager
def load(path: str, tmp_path: Path) -> Iterator[ModuleType]:
    """Import the README's block for ``path`` as the module that file would be; removed afterwards."""
    assert path in BLOCKS, f"README 'How to extend' lost its example {path}"
    top, *rest = Path(path).with_suffix("").parts
    name = ".".join([PACKAGES[top], *rest])
    file = tmp_path / Path(path).name
    file.write_text(BLOCKS[path], encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


def test_every_example_is_tested() -> None:
    assert set(BLOCKS) == {"fixtures/postgres/ramdisk.py", "fixtures/s3/minio.py",
                           "restore_drill/disasters/empty_objects.py", "checks/indexes.py",
                           "reports/pages/summary_txt.py", "restore_drill/cli/backends.py"}, sorted(BLOCKS)


def test_postgres_backend_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.disk_usage("/dev/shm").free < 512 * 2**20:
        pytest.skip("/dev/shm has less than 512 MiB free here: the ramdisk example needs room for a data directory")
    with load("fixtures/postgres/ramdisk.py", tmp_path) as module:
        monkeypatch.setitem(pg_registry.BACKENDS, "ramdisk", module.BACKEND)
        postgres_contract(pg_registry.get("ramdisk"), PgSettings())


def test_s3_backend_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with load("fixtures/s3/minio.py", tmp_path) as module:
        monkeypatch.setitem(s3_registry.BACKENDS, "minio", module.BACKEND)
        with _an_endpoint_we_do_not_own() as settings:  # moto stands in for MinIO
            s3_contract(s3_registry.get("minio"), settings)


def test_disaster_example(tmp_path: Path, pg_database: Database, s3_bucket: Bucket) -> None:
    from restore_drill.disasters.interface import DisasterContext, Kind

    with load("restore_drill/disasters/empty_objects.py", tmp_path) as module:
        d = module.DISASTER
        assert d.name == "empty-objects" and d.kind is Kind.STORAGE
        client = s3_bucket.endpoint.client()
        for i in range(10):
            client.put_object(Bucket=s3_bucket.name, Key=f"app/f{i}.bin", Body=b"x" * (i + 1))
        foreign = Bucket(s3_bucket.name, s3_bucket.endpoint, created_by_harness=False)
        with pytest.raises(DestructiveRefused):
            d.inject(DisasterContext(db=pg_database, bucket=foreign, prefix="app"))
        rec = d.inject(DisasterContext(db=pg_database, bucket=s3_bucket, prefix="app", fraction=0.3, seed=7))
        sizes = {o["Key"]: o["Size"] for o in client.list_objects_v2(Bucket=s3_bucket.name)["Contents"]}
        assert sorted(k for k, n in sizes.items() if n == 0) == sorted(rec.details["emptied"]) and rec.details["emptied"]


def test_check_example(tmp_path: Path, drill_infra: Infra, pg_database: Database) -> None:
    with load("checks/indexes.py", tmp_path) as module:
        with pg_database.connect(autocommit=True) as c:
            assert module.invalid_indexes(c).status is Status.SKIPPED  # an empty restore is never a pass
            c.execute("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE INDEX t_v ON t (v)")
            assert module.invalid_indexes(c).status is Status.PASSED
            # The fault: an index build that failed (the server's superuser marks it as PostgreSQL would).
            c.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 't_v'::regclass")
            r = module.invalid_indexes(c)
        assert r.status is Status.FAILED and "t_v" in r.message


def test_report_page_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Registered as the README says, the page is written by write_run and re-rendered by render_run, and
    the compliance report and evidence.sha256 vouch for it."""
    from restore_drill.reports.environment import capture_environment
    from restore_drill.reports.evidence import read_evidence, verify_evidence
    from restore_drill.reports.model import DrillReport, RunReport
    from restore_drill.reports.pages import registry as pages
    from restore_drill.reports.writers import render_run, write_run

    with load("reports/pages/summary_txt.py", tmp_path) as module:
        assert module.PAGE.filename == "summary.txt" and not module.PAGE.lists_evidence
        monkeypatch.setattr(pages, "PAGES", (*pages.PAGES, module.PAGE))
        drill = DrillReport(name="d", id="d[pg16-moto]", system="s", procedure="corrected", runbook=None,
                            disaster="truncate", started_at="2026-01-01T00:00:00Z")
        drill.checks.append(CheckResult.failed("row_counts", "1 table differs"))
        drill.finish()
        rep = RunReport(run_id="r1", command=["test"], environment=capture_environment(),
                        started_at="2026-01-01T00:00:00Z", drills=[drill])
        rep.finish()
        run_dir = tmp_path / "run"
        paths = write_run(rep, run_dir)
        text = paths["summary.txt"].read_text(encoding="utf-8")
        assert text.splitlines()[0] == "restore-drill r1: FAILED"
        assert "d[pg16-moto]: failed (" in text and "row_counts" in text
        assert "summary.txt" in read_evidence(run_dir) and verify_evidence(run_dir) == []
        assert "summary.txt" in (run_dir / "compliance.md").read_text(encoding="utf-8")
        (run_dir / "summary.txt").unlink()
        assert "summary.txt" in render_run(run_dir) and (run_dir / "summary.txt").is_file()


def test_command_example(tmp_path: Path) -> None:
    with load("restore_drill/cli/backends.py", tmp_path) as module:
        out = CliRunner().invoke(module.command, []).output
        for name in (*pg_registry.NAMES, *s3_registry.NAMES):
            assert f" {name} " in out
        assert f"* {pg_registry.DEFAULT}" in out and f"* {s3_registry.DEFAULT}" in out
