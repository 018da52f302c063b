"""Bring your own system: a third system defined entirely as files (schema + data, one domain invariant,
object keys in a column, a two-step runbook with pg_dump/pg_restore and aws s3 cp) drills through the CLI
with every check passing; broken data makes exactly the right checks fail with the definition's message."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "restore-drill")

RUNBOOK = textwrap.dedent('''\
    # Docs service backup and restore

    ## Backup

    ```bash
    pg_dump --format=custom --no-owner --file=docs.dump "$DATABASE_URL"
    aws s3 cp --recursive --only-show-errors "s3://$S3_BUCKET/$S3_PREFIX/" "s3://$BACKUP_BUCKET/$S3_PREFIX-backup/"
    ```

    ## Restore

    ```bash
    pg_restore --clean --if-exists --no-owner --exit-on-error --dbname "$DATABASE_URL" docs.dump
    aws s3 cp --recursive --only-show-errors "s3://$BACKUP_BUCKET/$S3_PREFIX-backup/" "s3://$S3_BUCKET/$S3_PREFIX/"
    ```
''')

SCHEMA = textwrap.dedent('''\
    CREATE TABLE public.documents (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        title text NOT NULL,
        status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
        pages integer NOT NULL DEFAULT 0,
        storage_key text UNIQUE
    );
    CREATE INDEX documents_status ON public.documents (status);
    INSERT INTO public.documents (title, status, pages, storage_key) VALUES
        ('Annual report', 'published', 12, 'docs/annual report.txt'),
        ('Ünïcode notes', 'draft', 0, 'docs/nested/ü.txt'),
        ('Handbook', 'published', 40, 'docs/handbook.txt');
''')

SYSTEM = textwrap.dedent('''\
    name = "docs"
    description = "A third system, defined entirely as files"

    [database]
    tables = ["public.documents"]

    [storage]
    prefix = "docs-live"
    [storage.references]
    "public.documents.storage_key" = "document files"

    [data]
    sql = "docs.seed.sql"
    objects = "objects/"

    [procedure]
    runbook = "runbook.md"
    binding = "docs.binding.toml"

    [targets]
    rto_s = 600
    rpo_s = 86400

    [[invariants]]
    name = "published_documents_have_pages"
    message = "a published document has no pages"
    sql = "SELECT id, title FROM public.documents WHERE status = 'published' AND pages <= 0"

    [smoke]
    sql = "INSERT INTO public.documents (title) VALUES ('smoke test')"
''')

BINDING = textwrap.dedent('''\
    name = "docs"
    system = "docs"
    backup_globs = ["docs.dump"]
    tables = ["public.documents"]

    [phases]
    backup = ["Backup"]
    restore = ["Restore"]

    [snapshot]
    bucket = "{BACKUP_BUCKET}"
    prefix = "{S3_PREFIX}-backup"
''')


def make_system(root: Path, extra_sql: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "runbook.md").write_text(RUNBOOK)
    (root / "docs.seed.sql").write_text(SCHEMA + extra_sql)
    (root / "docs.toml").write_text(SYSTEM)
    (root / "docs.binding.toml").write_text(BINDING)
    for key, body in {"docs/annual report.txt": b"annual", "docs/nested/\u00fc.txt": b"notes",
                      "docs/handbook.txt": b"handbook " * 100}.items():
        p = root / "objects" / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(body)
    return root / "docs.toml"


def drill(system: Path, tmp: Path, *args: str) -> tuple[int, dict]:
    r = subprocess.run([CLI, "run", "--system", str(system), "--report-dir", str(tmp / "runs"), "--quiet", *args],
                       capture_output=True, text=True, timeout=300, cwd=tmp)
    reports = sorted((tmp / "runs").glob("*/report.json"))
    assert reports, r.stdout + r.stderr
    return r.returncode, json.loads(reports[-1].read_text())


def test_third_system_as_files_passes_every_check(tmp_path: Path) -> None:
    code, rep = drill(make_system(tmp_path / "docs"), tmp_path)
    d = rep["drills"][0]
    bad = [(c["name"], c["message"]) for c in d["checks"] if c["status"] in ("failed", "errored")]
    assert code == 0 and rep["status"] == "passed", (bad, d.get("error"))
    ran = {c["name"]: c["status"] for c in d["checks"]}
    for name in ("row_counts", "table_checksums", "schema_fidelity", "artifact_paths_exist", "object_integrity",
                 "domain_invariants", "write_smoke", "snapshot_pairing"):
        assert ran.get(name) == "passed", (name, ran)
    assert [s["status"] for s in d["steps"] if s["phase"] in ("backup", "restore")] == ["passed", "passed"]


# (SQL that breaks the data, the check that must name it, words of the definition's message)
FAULTS = [
    ("UPDATE public.documents SET storage_key = 'docs/gone.pdf' WHERE title = 'Handbook';",
     "artifact_paths_exist", "docs/gone.pdf"),
    ("UPDATE public.documents SET pages = 0 WHERE title = 'Handbook';",
     "domain_invariants", "a published document has no pages"),
]


def with_restore_fault(system: Path, sql: str) -> Path:
    """The system's runbook with one more restore command that damages the restored data."""
    rb = system.parent / "runbook.md"
    line = f"psql --no-psqlrc -v ON_ERROR_STOP=1 -q \"$DATABASE_URL\" -c \"{sql}\"\n"
    text = rb.read_text()
    marker = "--dbname \"$DATABASE_URL\" docs.dump\n"  # the restore's pg_restore line
    assert text.count(marker) == 1, text
    head, _, tail = text.partition(marker)
    rb.write_text(head + marker + line + tail)
    return system


@pytest.mark.parametrize("fault, check, words", FAULTS)
def test_data_the_restore_breaks_fails_the_right_check_with_the_definitions_message(
        tmp_path: Path, fault: str, check: str, words: str) -> None:
    """A restore that damages the data fails the check that judges it, with the definition's words. The
    digest check sees the changed row too, and RTO is not achieved because a fidelity check failed (issue
    13); nothing else may fail."""
    code, rep = drill(with_restore_fault(make_system(tmp_path / "docs"), fault), tmp_path)
    d = rep["drills"][0]
    failed = {c["name"]: c for c in d["checks"] if c["status"] == "failed"}
    assert code == 1 and rep["status"] == "failed"
    assert check in failed, {k: v["message"] for k, v in failed.items()}
    assert words in failed[check]["message"]
    assert set(failed) <= {check, "table_checksums", "rto"}, {k: v["message"] for k, v in failed.items()}
    if "rto" in failed:
        assert "not achieved" in failed["rto"]["message"], failed["rto"]["message"]


@pytest.mark.parametrize("fault, check, words", [
    ("INSERT INTO public.documents (title, status, pages, storage_key) VALUES ('Lost', 'draft', 1, 'docs/gone.pdf');",
     "artifact_paths_exist", "docs/gone.pdf"),
    ("INSERT INTO public.documents (title, status, pages) VALUES ('Empty', 'published', 0);",
     "domain_invariants", "a published document has no pages"),
])
def test_data_broken_in_the_source_is_a_source_finding_not_a_restore_failure(
        tmp_path: Path, fault: str, check: str, words: str) -> None:
    """shared/cases/17-control-explicit-ids, same kind: a defect already present at backup time (an orphan
    object key, a violated invariant) that the restore reproduces faithfully is reported as a finding
    about the source with the definition's words; the restore passes (issue 13)."""
    code, rep = drill(make_system(tmp_path / "docs", fault), tmp_path)
    d = rep["drills"][0]
    checks = {c["name"]: c for c in d["checks"]}
    assert code == 0 and rep["status"] == "passed", {k: v["message"] for k, v in checks.items()
                                                     if v["status"] != "passed"}
    assert checks[check]["status"] == "passed"
    finding = checks[check]["evidence"]["source_findings"]
    assert finding["items"] and words in finding["message"], finding
    md = next((tmp_path / "runs").glob("*/report.md")).read_text()
    assert words in md
