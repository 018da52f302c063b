"""verify-backup's hint for a version older than the archive must be true: it offers ``--pg-version N``
only when N's pg_restore reads the archive (and then that request does try it); otherwise it says that
pg_restore N refuses the archive and what works instead. The user's case: a pg_dump 16 archive, the
note said "pass --pg-version 15 to try a downgrade", and --pg-version 15 then exited 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from restore_drill.errors import BadInput
from restore_drill.fixtures import binaries
from restore_drill.fixtures.environment import libpq_env
from restore_drill.procs import run
from restore_drill.verify import VERDICT_FILE, verify_backup
from restore_drill.verify.archive import readable_by
from tests.helpers import scratch_database

MAJORS = sorted(b.major for b in binaries.servers())
PAIRS = [(new, old) for new, old in ((16, 15), (18, 16)) if new in MAJORS and old in MAJORS]


def _dump(infra: Any, major: int, path: Path) -> Path:
    with scratch_database(infra, major, "CREATE TABLE public.t AS SELECT g AS id FROM generate_series(1, 300) g;"
                          ) as db:
        run([binaries.select(major).tool("pg_dump"), "--format=custom", "--file", path], env=libpq_env(db),
            timeout_s=60, check=True)
    return path


def _verify(path: Path, tmp_path: Path, infra: Any, versions: list[int] | None) -> Any:
    return verify_backup(path, versions=versions, storage_snapshot=None, manifest=None, system=None,
                         report_dir=tmp_path / "runs", argv=["test"], infra=infra)


@pytest.mark.skipif(not PAIRS, reason="needs PostgreSQL 16 and 15, or 18 and 16")
@pytest.mark.parametrize(("new", "old"), PAIRS, ids=[f"pg{n}-dump-on-pg{o}" for n, o in PAIRS])
def test_older_version_hint_is_what_an_explicit_request_does(drill_infra: Any, tmp_path: Path, new: int,
                                                             old: int) -> None:
    archive = _dump(drill_infra, new, tmp_path / f"pg{new}.dump")
    _, run_dir = _verify(archive, tmp_path, drill_infra, None)
    verdict = (run_dir / VERDICT_FILE).read_text()
    note = next(ln for ln in verdict.splitlines() if ln.startswith(f"PostgreSQL {old} not tried"))
    refused = readable_by(binaries.select(old), archive)  # what pg_restore <old> itself says, here and now
    if refused is not None:
        assert f"--pg-version {old} to try a downgrade" not in note, note
        assert f"its pg_restore {binaries.select(old).version} cannot read this archive ({refused})" in note, note
        assert "pg_dump --format=plain" in note, note
        with pytest.raises(BadInput, match="newer than every requested version's pg_restore"):
            _verify(archive, tmp_path, drill_infra, [old])
    else:  # same archive format: the downgrade the note offers is really tried
        assert f"pass --pg-version {old} to try a downgrade" in note, note
        report, _ = _verify(archive, tmp_path, drill_infra, [old])
        [drill] = report.drills
        artifact = next(c for c in drill.checks if c.name == "backup_artifact")
        assert artifact.status.value == "passed", artifact.message
        assert any(c.name == "restore_exit_status" for c in drill.checks)


@pytest.mark.skipif(16 not in MAJORS or 15 not in MAJORS, reason="needs PostgreSQL 16 and 15")
def test_pg_restore_15_refuses_a_pg_dump_16_custom_archive(drill_infra: Any, tmp_path: Path) -> None:
    """The fact the note relies on, as the user met it: pg_restore 15 on a pg_dump 16 custom archive."""
    archive = _dump(drill_infra, 16, tmp_path / "pg16.dump")
    refused = readable_by(binaries.select(15), archive)
    assert refused is not None and "unsupported version (1.15) in file header" in refused
