"""Honest evidence end to end through the CLI (issue 13): RTO is met only by a restore that restored, the RPO
is measured from restored data (never 0 s for nothing), a source defect is a finding about the source, and
compliance.md never says "met" for a drill that failed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write_runbook_system

CLI = str(Path(sys.executable).parent / "restore-drill")


def _system(root: Path, name: str, data_sql: str, backup: str, restore: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    runbook = (f"# {name}\n\n## Nightly backup\n\n```bash\n{backup}\n```\n\n"
               f"## Restore\n\n```bash\n{restore}\n```\n")
    return write_runbook_system(root, name, runbook, data_sql)


def _drill(tmp: Path, *args: str) -> tuple[int, dict, Path]:
    r = subprocess.run([CLI, "run", *args, "--report-dir", str(tmp / "runs"), "--quiet"],
                       capture_output=True, text=True, timeout=600, cwd=tmp)
    reports = sorted((tmp / "runs").glob("*/report.json"))
    assert reports, r.stdout + r.stderr
    return r.returncode, json.loads(reports[-1].read_text()), reports[-1].parent


def _checks(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["drills"][0]["checks"]}


def _objectives_row(run_dir: Path) -> list[str]:
    md = (run_dir / "compliance.md").read_text()
    sec = md[md.index("## Recovery objectives"):md.index("## Checks")]
    (row,) = [r for r in sec.splitlines() if r.startswith("| ") and "[pg" in r]
    return [c.strip() for c in row.strip("|").split("|")]


def _pages_agree(report: dict, run_dir: Path) -> None:
    """The objectives row of compliance.md is the rto/rpo checks' own verdict, and junit.xml fails exactly
    the checks report.json fails."""
    words = {"passed": "met", "failed": "not achieved", "errored": "not measured", "skipped": "no target"}
    checks = _checks(report)
    cells = _objectives_row(run_dir)
    assert cells[3] == words[checks["rto"]["status"]] and cells[6] == words[checks["rpo"]["status"]]
    junit = (run_dir / "junit.xml").read_text()
    for c in checks.values():
        if c["status"] == "failed":
            assert f'name="{c["name"]}"' in junit
    assert junit.count("<failure") >= sum(c["status"] == "failed" for c in checks.values())


SEQUENCE_BEHIND = """
CREATE TABLE public.customers (id serial PRIMARY KEY, name text NOT NULL);
-- imported with their original ids; the sequence was never moved, so it is behind its data
INSERT INTO public.customers (id, name) SELECT g, 'customer ' || g FROM generate_series(1, 30) g;
"""


def test_faithful_restore_of_a_source_whose_sequence_was_already_behind(tmp_path: Path) -> None:
    """shared/cases/17-control-explicit-ids: the restore is not blamed (restore checks pass); the source's
    own defect is reported as a finding about the source."""
    system = _system(tmp_path / "crm", "crm", SEQUENCE_BEHIND,
                     'pg_dump --format=custom --file=crm.dump "$DATABASE_URL"',
                     'pg_restore --clean --if-exists --exit-on-error --dbname "$DATABASE_URL" crm.dump')
    code, rep, run_dir = _drill(tmp_path, "--system", str(system))
    checks = _checks(rep)
    seq = checks["sequence_health"]
    assert seq["status"] == "passed", seq["message"]
    assert "public.customers.id" in seq["evidence"]["source_findings"]["items"]
    assert code == 0 and rep["status"] == "passed", [(c["name"], c["message"]) for c in checks.values()
                                                     if c["status"] in ("failed", "errored")]
    compliance = (run_dir / "compliance.md").read_text()
    findings = compliance[compliance.index("## Findings about the source"):compliance.index("## Deviations")]
    assert "sequence_health" in findings and "public.customers.id" in findings
    assert checks["rpo"]["status"] == "passed" and checks["rpo"]["observed"] > 0  # measured, from the ledger
    _pages_agree(rep, run_dir)


def test_a_backup_that_writes_a_0_byte_dump_meets_no_objective(tmp_path: Path) -> None:
    """shared/cases/byo-sudo-wrapper: the dump command cannot run, the shell redirect leaves a 0-byte dump;
    the drill fails, RTO is not achieved and the RPO is not measured (never "0.0 s"), compliance never "met"."""
    system = _system(tmp_path / "notes", "notes",
                     "CREATE TABLE public.notes (id serial PRIMARY KEY, body text);\n"
                     "INSERT INTO public.notes (body) SELECT 'n' || g FROM generate_series(1, 20) g;\n",
                     'restore-drill-no-such-dump-tool -Fc "$DATABASE_URL" > notes.dump',
                     'pg_restore --clean --if-exists --dbname "$DATABASE_URL" notes.dump')
    code, rep, run_dir = _drill(tmp_path, "--system", str(system))
    checks = _checks(rep)
    assert code != 0 and rep["status"] != "passed"
    assert checks["rto"]["status"] in ("failed", "errored")
    assert checks["rpo"]["status"] == "errored" and checks["rpo"]["message"].startswith("not measured")
    assert rep["drills"][0]["metrics"]["rpo_s"] is None
    cells = _objectives_row(run_dir)
    assert "met" not in (cells[3], cells[6])
    assert "| met |" not in (run_dir / "compliance.md").read_text()
    _pages_agree(rep, run_dir)


def test_arqonbus_runbook_as_written_restores_nothing_and_meets_no_objective(tmp_path: Path) -> None:
    """The ArqonBus runbook as written (pg_restore with the URL as a second file, --table=public.… matching
    nothing): rto and rpo must not pass and compliance.md never says "met"."""
    code, rep, run_dir = _drill(tmp_path, "arqonbus-table-restore", "--procedure", "runbook")
    checks = _checks(rep)
    assert code == 1 and rep["status"] == "failed"
    assert checks["row_counts"]["status"] == "failed"
    assert checks["rto"]["status"] == "failed" and "not achieved" in checks["rto"]["message"]
    assert checks["rpo"]["status"] != "passed"
    assert rep["drills"][0]["metrics"]["rto_s"] is None  # no recovery, so no recovery time
    compliance = (run_dir / "compliance.md").read_text()
    assert "| met |" not in compliance and "executed end to end, every step as written" not in compliance
    _pages_agree(rep, run_dir)


@pytest.mark.slow
def test_pegasus_runbook_as_written_pages_agree_with_the_checks(tmp_path: Path) -> None:
    """The Pegasus runbook as written: RTO is met only if every data-fidelity check (object_integrity
    included) passed; every page says what report.json says."""
    code, rep, run_dir = _drill(tmp_path, "pegasus-full-restore", "--procedure", "runbook")
    checks = _checks(rep)
    fidelity = ("row_counts", "table_checksums", "schema_fidelity", "object_integrity", "artifact_paths_exist")
    if any(checks[n]["status"] in ("failed", "errored") for n in fidelity if n in checks):
        assert checks["rto"]["status"] != "passed"
    _pages_agree(rep, run_dir)
    assert (code == 0) == (rep["status"] == "passed")


def test_a_backup_copied_into_glacier_is_a_failed_drill_naming_each_object(tmp_path: Path) -> None:
    """Storage the backup cannot give back: the backup copies objects with --storage-class GLACIER, so S3
    refuses to GET them (InvalidObjectState) until a restore request completes. The drill is failed (not
    errored with a private exception), naming each object, the cause and the operator's action."""
    root = tmp_path / "media"
    system = _system(root, "media",
                     "CREATE TABLE public.clips (id serial PRIMARY KEY, key text);\n"
                     "INSERT INTO public.clips (key) VALUES ('clips/a.wav'), ('clips/b.wav');\n",
                     'pg_dump --format=custom --file=media.dump "$DATABASE_URL"\n'
                     'aws s3 cp --recursive --only-show-errors --storage-class GLACIER '
                     '"s3://$S3_BUCKET/$S3_PREFIX/" "s3://$BACKUP_BUCKET/$S3_PREFIX-backup/"',
                     'pg_restore --clean --if-exists --dbname "$DATABASE_URL" media.dump\n'
                     'aws s3 cp --recursive --only-show-errors "s3://$BACKUP_BUCKET/$S3_PREFIX-backup/" '
                     '"s3://$S3_BUCKET/$S3_PREFIX/"')
    text = system.read_text().replace("[data]\n", '[storage]\nprefix = "media-live"\n[storage.references]\n'
                                      '"public.clips.key" = "clip"\n\n[data]\nobjects = "objects/"\n')
    system.write_text(text)
    binding = root / "media.binding.toml"
    binding.write_text(binding.read_text() + '\n[snapshot]\nbucket = "{BACKUP_BUCKET}"\nprefix = "{S3_PREFIX}-backup"\n')
    for k in ("clips/a.wav", "clips/b.wav"):
        (root / "objects" / k).parent.mkdir(parents=True, exist_ok=True)
        (root / "objects" / k).write_bytes(k.encode() * 10)
    code, rep, run_dir = _drill(tmp_path, "--system", str(system))
    d = rep["drills"][0]
    assert code == 1 and rep["status"] == "failed", d.get("error")
    err = d["error"]
    assert err["type"] == "StorageUnreadable" and err["status"] == "failed"
    for k in ("clips/a.wav", "clips/b.wav"):
        assert f"media-live-backup/{k}" in err["message"]
    assert "GLACIER" in err["message"] and "restore-object" in err["message"]
    assert "_HookError" not in json.dumps(rep)
    assert "StorageUnreadable" in (run_dir / "junit.xml").read_text()


def test_rpo_from_the_systems_own_newest_write_column(tmp_path: Path) -> None:
    """A definition declaring its own newest-write column ([targets] newest_write): the data-loss window is
    the newest value before the disaster (here a write after the backup, late-writes) minus the newest
    value present after the restore, read from the restored rows."""
    system = _system(tmp_path / "notes", "notes",
                     "CREATE TABLE public.notes (id serial PRIMARY KEY, body text, "
                     "written_at timestamptz NOT NULL DEFAULT clock_timestamp());\n"
                     "INSERT INTO public.notes (body, written_at) SELECT 'n' || g, now() - interval '1 hour' "
                     "FROM generate_series(1, 10) g;\n",
                     'pg_dump --format=custom --file=notes.dump "$DATABASE_URL"',
                     'pg_restore --clean --if-exists --exit-on-error --dbname "$DATABASE_URL" notes.dump')
    text = system.read_text().replace("rpo_s = 3600\n", 'rpo_s = 7200\nnewest_write = "public.notes.written_at"\n')
    text = text.replace('sql = "data.sql"\n', 'sql = "data.sql"\n'
                        "late_write_sql = \"INSERT INTO public.notes (body) VALUES ('late')\"\n")
    system.write_text(text)
    code, rep, run_dir = _drill(tmp_path, "--system", str(system), "--disaster", "late-writes")
    rpo = _checks(rep)["rpo"]
    assert rpo["status"] == "passed", rpo["message"]
    assert "public.notes.written_at" in rpo["evidence"]["note"]
    # The late write is about an hour newer than the newest restored row: the window says so.
    assert 3500 < rpo["observed"] < 3700
    _pages_agree(rep, run_dir)
