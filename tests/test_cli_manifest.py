"""`restore-drill manifest DATABASE_URL -o FILE.json` (issue 14): a read-only manifest of a real database
that `verify-backup --manifest` then holds a dump to; bad input exits 2 with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from restore_drill.checks._util import libpq_env
from restore_drill.checks.result import Status
from restore_drill.fixtures import binaries
from restore_drill.procs import run
from restore_drill.verify import verify_backup

CLI = str(Path(sys.executable).parent / "restore-drill")
SQL = """
CREATE SCHEMA shop;
CREATE TABLE shop.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer text NOT NULL, receipt oid);
INSERT INTO shop.orders (customer, receipt)
    SELECT 'c' || g, lo_from_bytea(0, convert_to('receipt ' || g, 'UTF8')) FROM generate_series(1, 12) g;
CREATE TABLE public.settings (k text PRIMARY KEY, v text);
INSERT INTO public.settings VALUES ('currency', 'EUR');
CREATE MATERIALIZED VIEW shop.per_customer AS SELECT customer, count(*) AS n FROM shop.orders GROUP BY 1;
"""


def url_without_password(db: Any) -> str:
    """The database's URL with the password left to PGPASSWORD (as an operator would)."""
    return f"postgresql://{quote(db.user, safe='')}@/{quote(db.name, safe='')}?host={quote(db.host, safe='/')}&port={db.port}" \
        if db.host.startswith("/") else f"postgresql://{quote(db.user, safe='')}@{db.host}:{db.port}/{db.name}"


def manifest_cli(db: Any, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PGPASSWORD": db.password, "HOME": str(out.parent)}
    return subprocess.run([CLI, "manifest", url_without_password(db), "-o", str(out), *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_manifest_of_a_database_is_what_verify_backup_holds_a_dump_to(drill_infra: Any, tmp_path: Path) -> None:
    db = drill_infra.database(16)
    try:
        with db.connect(autocommit=True) as c:
            c.execute(SQL)
            c.execute(f'ALTER DATABASE "{db.name}" SET work_mem = \'8MB\'')  # travels only with --create
        out = tmp_path / "shop.manifest.json"
        r = manifest_cli(db, out)
        assert r.returncode == 0, r.stderr
        assert "transaction_read_only = on, isolation repeatable read; nothing written" in r.stdout
        assert db.password not in r.stdout + r.stderr
        data = json.loads(out.read_text())
        assert data["schemas"] == ["public", "shop"]
        assert data["tables"]["shop.orders"]["row_count"] == 12
        assert len(data["catalog"]["large_objects"]) == 12 and data["catalog"]["matviews"][0]["rows"] == 12
        dump = tmp_path / "shop.dump"
        run([binaries.select(16).tool("pg_dump"), "-Fc", "-f", dump], env=libpq_env(db), timeout_s=60, check=True)
        with db.connect(autocommit=True) as c:  # a write after the dump: the manifest still matches the dump
            c.execute("INSERT INTO public.settings VALUES ('late', 'x')")
        r2 = manifest_cli(db, tmp_path / "later.manifest.json")
    finally:
        drill_infra.drop(db)
    rep, _ = verify_backup(dump, versions=[16], storage_snapshot=None, manifest=out, system=None,
                           report_dir=tmp_path / "runs", argv=["test"], infra=drill_infra)
    checks = {c.name: c for c in rep.drills[0].checks}
    for name in ("row_counts", "table_checksums", "schema_fidelity", "archive_coverage"):
        assert checks[name].status is Status.PASSED, (name, checks[name].message)
    assert "database setting not compared: verify-backup restores into its own database" in \
        checks["schema_fidelity"].message
    rep2, _ = verify_backup(dump, versions=[16], storage_snapshot=None, manifest=tmp_path / "later.manifest.json",
                            system=None, report_dir=tmp_path / "runs2", argv=["test"], infra=drill_infra)
    assert r2.returncode == 0
    later = {c.name: c for c in rep2.drills[0].checks}
    assert later["row_counts"].status is Status.FAILED and "public.settings" in later["row_counts"].message


def test_manifest_reads_a_database_that_refuses_writes(drill_infra: Any, tmp_path: Path) -> None:
    """As on a hot standby: with default_transaction_read_only on, the manifest is still taken (it
    never writes)."""
    db = drill_infra.database(16)
    try:
        with db.connect(autocommit=True) as c:
            c.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
            c.execute(f'ALTER DATABASE "{db.name}" SET default_transaction_read_only = on')
        r = manifest_cli(db, tmp_path / "m.json", "--schema", "public")
    finally:
        drill_infra.drop(db)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "m.json").read_text())["tables"]["public.t"]["row_count"] == 1


def test_bad_inputs_exit_2_with_one_line(drill_infra: Any, tmp_path: Path) -> None:
    r = subprocess.run([CLI, "manifest", "postgresql://nobody:secret@/x?host=/nonexistent-socket-dir", "-o",
                        str(tmp_path / "m.json")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "cannot connect to" in r.stderr and "secret" not in r.stderr
    db = drill_infra.database(16)
    try:
        r = manifest_cli(db, tmp_path / "m.json", "--schema", "nosuch")
        r2 = manifest_cli(db, tmp_path / "missing-dir" / "m.json")
    finally:
        drill_infra.drop(db)
    assert r.returncode == 2 and "schema 'nosuch' does not exist" in r.stderr
    assert r2.returncode == 2 and "does not exist" in r2.stderr
    assert not (tmp_path / "m.json").exists()
