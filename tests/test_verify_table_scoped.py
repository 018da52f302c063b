"""verify-backup on a table-scoped dump (``pg_dump -t``, as the corrected arqonbus procedure takes) whose
table's trigger calls a function the dump leaves out: the verdict names that cause in one line, and the
system is recognised from the archive's tables (arqonbus has no storage reference columns to go by).
Own small input: the three arqonbus table names, one trigger function."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from restore_drill.fixtures import binaries
from restore_drill.fixtures.environment import libpq_env
from restore_drill.procs import run
from restore_drill.verify import VERDICT_FILE, verify_backup
from tests.helpers import scratch_database

MAJOR = 16
TABLES = ("public.arqonbus_continuum_projection", "public.arqonbus_continuum_projection_events",
          "public.arqonbus_continuum_projection_dlq")
SCHEMA = """
CREATE FUNCTION public.q2_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN NEW.updated_at := now(); RETURN NEW; END$$;
CREATE TABLE public.arqonbus_continuum_projection (id bigint PRIMARY KEY, updated_at timestamptz);
CREATE TRIGGER projection_touch BEFORE UPDATE ON public.arqonbus_continuum_projection
  FOR EACH ROW EXECUTE FUNCTION public.q2_touch_updated_at();
CREATE TABLE public.arqonbus_continuum_projection_events (event_id bigint PRIMARY KEY);
CREATE TABLE public.arqonbus_continuum_projection_dlq (dlq_id bigint PRIMARY KEY);
CREATE TABLE public.other_app (id int);  -- the shared database's other application: not in the dump
INSERT INTO public.arqonbus_continuum_projection SELECT g, now() FROM generate_series(1, 50) g;
INSERT INTO public.arqonbus_continuum_projection_events SELECT g FROM generate_series(1, 80) g;
"""


@pytest.fixture(scope="module")
def dumps(drill_infra: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("table-scoped")
    paths = {"tables": out / "tables.dump", "whole": out / "whole.dump"}
    pg_dump = binaries.select(MAJOR).tool("pg_dump")
    with scratch_database(drill_infra, MAJOR, SCHEMA) as db:
        scoped = [a for t in TABLES for a in ("-t", t)]
        run([pg_dump, "--format=custom", *scoped, "--file", paths["tables"]], env=libpq_env(db), timeout_s=60, check=True)
        run([pg_dump, "--format=custom", "--file", paths["whole"]], env=libpq_env(db), timeout_s=60, check=True)
    return paths


def _verdict(path: Path, tmp_path: Path, infra: Any) -> tuple[Any, str]:
    report, run_dir = verify_backup(path, versions=[MAJOR], storage_snapshot=None, manifest=None, system=None,
                                    report_dir=tmp_path / "runs", argv=["test"], infra=infra)
    return report, (run_dir / VERDICT_FILE).read_text()


def test_missing_trigger_function_is_named_as_the_cause(dumps: dict[str, Path], drill_infra: Any,
                                                        tmp_path: Path) -> None:
    report, verdict = _verdict(dumps["tables"], tmp_path, drill_infra)
    assert report.status == "failed"
    assert "safe to restore into PostgreSQL: none" in verdict
    [cause] = [ln for ln in verdict.splitlines() if ln.startswith("cause: ")]
    assert ("trigger projection_touch on public.arqonbus_continuum_projection calls function "
            "public.q2_touch_updated_at(), which this archive does not contain") in cause, cause
    assert "restores only into a database that already has that function" in cause
    assert "system: arqonbus (recognised from the archive's tables)" in verdict, verdict


def test_dump_with_the_function_restores_and_names_no_cause(dumps: dict[str, Path], drill_infra: Any,
                                                            tmp_path: Path) -> None:
    report, verdict = _verdict(dumps["whole"], tmp_path, drill_infra)
    assert report.status == "passed", report.drills[0].status_reason
    assert not [ln for ln in verdict.splitlines() if ln.startswith("cause: ")], verdict
    assert "system: arqonbus (recognised from the archive's tables)" in verdict, verdict
