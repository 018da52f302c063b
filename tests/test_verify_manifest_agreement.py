"""verify-backup with a manifest that does not describe the archive, or an archive whose data drifted from its
manifest (fresh-user finding 12): the verdict names that, instead of "NOT safe: PostgreSQL 16.x", which blames
the version for a difference that is in the inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from restore_drill.checks.result import CheckResult
from restore_drill.errors import BadInput
from restore_drill.reports.model import DrillReport, RunReport
from restore_drill.seeds.manifest import take_manifest
from restore_drill.verify import VERDICT_FILE, verdict_text
from tests.report_samples import environment
from tests.test_verify_backup import dump, source, verify

OTHER_SQL = """
CREATE TABLE invoices (id serial PRIMARY KEY, total numeric NOT NULL);
INSERT INTO invoices (total) SELECT g FROM generate_series(1, 30) g;
"""


def _drill(version: str, *checks: CheckResult) -> DrillReport:
    return DrillReport(name="verify-backup", id=f"verify-backup[pg{version.split('.')[0]}]", system="books",
                       checks=list(checks), metrics={"target_version": version})


def _run(*drills: DrillReport) -> RunReport:
    return RunReport("r", ["restore-drill", "verify-backup"], environment(), drills=list(drills))


def test_data_drift_is_worded_as_the_dump_differing_not_as_an_unsafe_version() -> None:
    drifted = _drill("16.4", CheckResult.passed("restore_exit_status", "restore exited 0"),
                     CheckResult.failed("table_checksums", "1 table(s) with content unlike the manifest: public.t"))
    text = verdict_text(_run(drifted), manifest_given=True)
    assert "the dump differs from the manifest" in text and "public.t" in text
    assert "NOT safe" not in text and "safe to restore into PostgreSQL: none (the dump does not match" in text


def test_a_version_that_fails_its_own_checks_is_still_unsafe_with_a_manifest() -> None:
    broken = _drill("18.1", CheckResult.failed("restore_exit_status", "pg_restore exited 1: extension missing"),
                    CheckResult.failed("row_counts", "public.t: table missing"))
    fine = _drill("16.4", CheckResult.passed("restore_exit_status", "restore exited 0"),
                  CheckResult.passed("row_counts", "equal"))
    text = verdict_text(_run(fine, broken), manifest_given=True)
    assert "NOT safe: PostgreSQL 18.1 (restore_exit_status: pg_restore exited 1" in text
    assert "safe to restore into PostgreSQL: 16.4" in text and "differs from the manifest" not in text


def test_without_a_manifest_row_counts_failing_is_a_verdict_on_the_version() -> None:
    """row_counts without a manifest compares with the archive itself: a real restore failure."""
    d = _drill("16.4", CheckResult.failed("row_counts", "public.t: 0 rows, archive 30"))
    text = verdict_text(_run(d))
    assert "NOT safe: PostgreSQL 16.4 (row_counts" in text and "differs from the manifest" not in text


@pytest.mark.parametrize("major", [16])
def test_another_databases_manifest_is_bad_input_naming_the_mismatch(drill_infra, tmp_path: Path, major: int) -> None:
    """shared/cases-style mix-up: an arqonbus manifest given with a pegasus dump (here: books vs invoices)."""
    with source(drill_infra, major) as db, db.connect() as conn:
        take_manifest(conn, system="books").save(tmp_path / "books.manifest.json")
    with source(drill_infra, major, OTHER_SQL) as db:
        other = dump(db, tmp_path / "invoices.dump")
    with pytest.raises(BadInput) as e:
        verify(other, tmp_path, drill_infra, [major], manifest=tmp_path / "books.manifest.json")
    msg = str(e.value)
    assert "does not describe this archive" in msg and "public.authors" in msg and "invoices.dump" in msg
    assert "NOT safe" not in msg


def test_a_manifest_with_tables_the_archive_lacks_and_drifted_data_get_their_own_verdict(drill_infra,
                                                                                        tmp_path: Path) -> None:
    with source(drill_infra, 16) as db:
        with db.connect() as conn:
            take_manifest(conn, system="books").save(tmp_path / "books.manifest.json")
        partial = dump(db, tmp_path / "authors-only.dump", None, "--table=public.authors")
        with db.connect(autocommit=True) as c:
            c.execute("UPDATE authors SET name = name || '!' WHERE id = 3")
        drifted = dump(db, tmp_path / "drifted.dump")
    man = tmp_path / "books.manifest.json"
    report, run_dir = verify(partial, tmp_path, drill_infra, [16], manifest=man)
    text = (run_dir / VERDICT_FILE).read_text()
    assert f"the manifest {man} (system books, 2 table(s)) does not describe this archive" in text, text
    assert "public.Book Notes" in text and "1 in common (public.authors)" in text
    assert "NOT safe" not in text and report.status == "failed"
    report, run_dir = verify(drifted, tmp_path, drill_infra, [16], manifest=man)
    text = (run_dir / VERDICT_FILE).read_text()
    assert "the dump differs from the manifest" in text and "table_checksums" in text, text
    assert "NOT safe" not in text and "does not describe this archive" not in text and report.status == "failed"
