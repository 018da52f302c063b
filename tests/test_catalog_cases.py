"""The shared cases of issue 14 as drills through the CLI, with inputs written here (a few lines of SQL and a
runbook each) that reproduce the same kind of fault: the right verdict, naming what was lost."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

CLI = str(Path(sys.executable).parent / "restore-drill")


def make_case(root: Path, *, name: str, sql: str, backup: str, restore: str, database: str,
              checks: str = "", setup: str = "", files: dict[str, str] | None = None,
              backup_globs: str = '["*.dump"]') -> Path:
    """A system folder: definition, binding, runbook (setup/backup/restore sections) and seed SQL."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "seed.sql").write_text(textwrap.dedent(sql))
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))
    sections = ([f"## Setup\n\n```bash\n{setup}\n```\n"] if setup else []) + [
        f"## Backup\n\n```bash\n{backup}\n```\n", f"## Restore\n\n```bash\n{restore}\n```\n"]
    (root / "runbook.md").write_text(f"# {name}\n\n" + "\n".join(sections))
    phases = ('setup = ["Setup"]\n' if setup else "") + 'backup = ["Backup"]\nrestore = ["Restore"]\n'
    file_entries = "".join(f'\n[[files]]\npath = "{rel}"\nfrom = "{rel}"\n' for rel in (files or {}))
    (root / f"{name}.binding.toml").write_text(
        f'name = "{name}"\nsystem = "{name}"\nbackup_globs = {backup_globs}\n\n[phases]\n{phases}\n'
        '[hooks]\nseed = "before-phase:backup"\ndisaster = "after-phase:backup"\n' + file_entries)
    (root / f"{name}.toml").write_text(
        f'name = "{name}"\n\n[database]\n{textwrap.dedent(database)}\n[data]\nsql = "seed.sql"\n\n'
        f'[procedure]\nrunbook = "runbook.md"\nbinding = "{name}.binding.toml"\n\n'
        f'[targets]\nrto_s = 900\nrpo_s = 86400\n' + (f"\n[checks]\n{textwrap.dedent(checks)}" if checks else ""))
    return root / f"{name}.toml"


def drill(system: Path) -> tuple[int, dict[str, Any], dict[str, dict[str, Any]]]:
    """Run the drill; (exit code, report.json, checks by name)."""
    runs = system.parent / "runs"
    r = subprocess.run([CLI, "run", "--system", str(system), "--procedure", "runbook", "--report-dir", str(runs),
                        "--quiet"], capture_output=True, text=True, timeout=300, cwd=system.parent)
    reports = sorted(runs.glob("*/report.json"))
    assert reports, r.stdout + r.stderr
    rep = json.loads(reports[-1].read_text())
    return r.returncode, rep, {c["name"]: c for c in rep["drills"][0]["checks"]}


def test_nonpublic_schema_sound_restore_passes(tmp_path: Path) -> None:
    """shared/cases/18-nonpublic-schema-scope (shop-app-sound): the application lives in its own schema,
    `tables = "all"` finds its tables there and a sound restore passes with no "column not restored"."""
    system = make_case(
        tmp_path / "ledger", name="ledger-app",
        sql="""\
            CREATE SCHEMA IF NOT EXISTS books;
            CREATE TABLE IF NOT EXISTS books.entries (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                                      account text NOT NULL, cents bigint NOT NULL);
            INSERT INTO books.entries (account, cents) SELECT 'acct ' || (g % 7), g * 11 FROM generate_series(1, 60) g;
        """,
        backup='pg_dump --format=custom --file=ledger.dump "$DATABASE_URL"',
        restore='pg_restore --clean --if-exists --exit-on-error --dbname "$DATABASE_URL" ledger.dump',
        database='tables = "all"\nschemas = ["books"]\n')
    code, rep, checks = drill(system)
    assert code == 0 and rep["status"] == "passed", {k: v["message"] for k, v in checks.items()}
    assert "1 tables, 60 rows" in checks["row_counts"]["message"]
    assert "in books:" in checks["schema_fidelity"]["message"]
    assert checks["sequence_health"]["message"].startswith("1 sequence-fed column")


def test_nonpublic_schema_data_only_table_restore_fails_sequence_health(tmp_path: Path) -> None:
    """shared/cases/03-sequence-data-only-table/app-variant: schema from migrations, rows from a data-only
    --table restore: sequences stay at 1 in a non-public schema, and sequence_health names them; the schema
    checks report no false loss."""
    system = make_case(
        tmp_path / "crm", name="crm-app",
        setup='psql -v ON_ERROR_STOP=1 "$DATABASE_URL" -f schema.sql',
        files={"schema.sql": """\
            CREATE SCHEMA IF NOT EXISTS crm;
            CREATE TABLE IF NOT EXISTS crm.leads (id serial PRIMARY KEY, who text NOT NULL);
            CREATE TABLE IF NOT EXISTS crm.calls (id serial PRIMARY KEY, lead_id int NOT NULL REFERENCES crm.leads(id));
        """},
        sql="""\
            INSERT INTO crm.leads (who) SELECT 'lead ' || g FROM generate_series(1, 50) g;
            INSERT INTO crm.calls (lead_id) SELECT 1 + g % 50 FROM generate_series(1, 90) g;
        """,
        backup='pg_dump --format=custom --data-only --file=crm.dump "$DATABASE_URL"',
        restore='psql -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "DROP TABLE IF EXISTS crm.calls, crm.leads CASCADE"\n'
                'psql -v ON_ERROR_STOP=1 "$DATABASE_URL" -f schema.sql\n'
                'pg_restore --data-only --exit-on-error --table=leads --table=calls --dbname "$DATABASE_URL" crm.dump',
        database='tables = "all"\nschemas = ["crm"]\n')
    code, rep, checks = drill(system)
    assert code == 1 and rep["status"] == "failed"
    seq = checks["sequence_health"]
    assert seq["status"] == "failed", seq["message"]
    assert "crm.leads.id next value 1" in seq["message"] and "crm.calls.id" in seq["message"]
    assert checks["schema_fidelity"]["status"] == "passed", checks["schema_fidelity"]["message"]
    assert checks["row_counts"]["status"] == "passed"


RLS_SQL = """\
    DO $$ BEGIN CREATE ROLE rd_case_tenant NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
    CREATE TABLE IF NOT EXISTS public.tickets (tenant text NOT NULL, body text NOT NULL);
    INSERT INTO public.tickets SELECT 't' || (g % 3), 'ticket ' || g FROM generate_series(1, 90) g;
    GRANT SELECT ON public.tickets TO rd_case_tenant;
    ALTER TABLE public.tickets ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tickets_by_tenant ON public.tickets FOR SELECT TO rd_case_tenant
        USING (tenant = current_setting('app.tenant', true));
"""


def test_single_table_restore_that_drops_row_security_fails_naming_it(tmp_path: Path) -> None:
    """shared/cases/04-rls-table-restore: pg_restore --table restores the rows but not ENABLE ROW LEVEL
    SECURITY nor the policy: schema_fidelity fails naming both."""
    system = make_case(
        tmp_path / "rls", name="tickets-rls", sql=RLS_SQL,
        backup='pg_dump --format=custom --file=t.dump "$DATABASE_URL"',
        restore='pg_restore --clean --if-exists --exit-on-error --table=tickets --dbname "$DATABASE_URL" t.dump',
        database='tables = ["public.tickets"]\ntable_scoped = true\n')
    code, rep, checks = drill(system)
    assert code == 1
    sf = checks["schema_fidelity"]
    assert sf["status"] == "failed"
    assert "- row security public.tickets" in sf["message"]
    assert "- policy tickets_by_tenant on public.tickets" in sf["message"]
    assert checks["row_counts"]["status"] == "passed" and checks["restore_exit_status"]["status"] == "passed"


def test_whole_restore_keeps_row_security_and_passes(tmp_path: Path) -> None:
    """shared/cases/04-rls-table-restore, the sound counterpart: a whole-database restore keeps row
    security and the policy, so the same definition passes."""
    system = make_case(
        tmp_path / "rls-ok", name="tickets-rls-ok", sql=RLS_SQL,
        backup='pg_dump --format=custom --file=t.dump "$DATABASE_URL"',
        restore='pg_restore --clean --if-exists --exit-on-error --dbname "$DATABASE_URL" t.dump',
        database='tables = ["public.tickets"]\n')
    code, rep, checks = drill(system)
    assert code == 0, {k: v["message"] for k, v in checks.items() if v["status"] != "passed"}
    assert "1 row_security" in checks["schema_fidelity"]["message"]


GRANTS_SQL = """\
    DO $$ BEGIN CREATE ROLE rd_case_reporting NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
    CREATE TABLE IF NOT EXISTS public.invoices (id int PRIMARY KEY, total numeric(10,2) NOT NULL);
    INSERT INTO public.invoices SELECT g, g * 2.5 FROM generate_series(1, 70) g ON CONFLICT DO NOTHING;
    GRANT SELECT ON public.invoices TO rd_case_reporting;
"""


@pytest.mark.parametrize("declared", [False, True], ids=["privileges-compared", "privileges-declared-out"])
def test_no_privileges_restore_loses_grants(tmp_path: Path, declared: bool) -> None:
    """shared/cases/09-no-privileges-grants: --no-owner --no-privileges drops the reporting role's GRANT.
    schema_fidelity fails naming it, unless the definition declares privileges out of scope
    (`[checks] privileges = false`), and then the result says they were not compared."""
    system = make_case(
        tmp_path / "inv", name="invoices", sql=GRANTS_SQL,
        backup='pg_dump --format=custom --file=inv.dump "$DATABASE_URL"',
        restore='pg_restore --clean --if-exists --no-owner --no-privileges --exit-on-error '
                '--dbname "$DATABASE_URL" inv.dump',
        database='tables = "all"\n', checks="privileges = false\n" if declared else "")
    code, rep, checks = drill(system)
    sf = checks["schema_fidelity"]
    if declared:
        assert code == 0 and sf["status"] == "passed", sf["message"]
        assert "declared out of scope" in sf["message"]
    else:
        assert code == 1 and sf["status"] == "failed"
        assert "- privilege table to rd_case_reporting on public.invoices" in sf["message"]


def test_plain_format_backup_and_psql_restore_pass(tmp_path: Path) -> None:
    """shared/cases/08c-plain-sql-sound: `pg_dump > x.sql` and `psql -f x.sql` (no ON_ERROR_STOP) is a
    sound restore: backup_artifact recognises the plain script by its header and completion trailer,
    restore_exit_status judges the psql step by what it printed and warns that ON_ERROR_STOP is off."""
    system = make_case(
        tmp_path / "plain", name="plans",
        sql="""\
            CREATE TABLE IF NOT EXISTS public.plans (code text PRIMARY KEY);
            CREATE TABLE IF NOT EXISTS public.subs (id int PRIMARY KEY, plan text NOT NULL REFERENCES public.plans);
            INSERT INTO public.plans VALUES ('free'), ('paid') ON CONFLICT DO NOTHING;
            INSERT INTO public.subs SELECT g, (ARRAY['free','paid'])[1 + g % 2] FROM generate_series(1, 40) g
                ON CONFLICT DO NOTHING;
        """,
        backup='pg_dump --clean --if-exists "$DATABASE_URL" > plans.sql',
        restore='psql --quiet "$DATABASE_URL" -f plans.sql',
        database='tables = "all"\n', backup_globs='["plans.sql"]')
    code, rep, checks = drill(system)
    assert code == 0 and rep["status"] == "passed", {k: v["message"] for k, v in checks.items()}
    assert "plain-format SQL script" in checks["backup_artifact"]["message"]
    assert "complete (trailer present)" in checks["backup_artifact"]["message"]
    rs = checks["restore_exit_status"]
    assert rs["message"].startswith("psql exited 0") and "without ON_ERROR_STOP" in rs["message"]
    assert rs["evidence"]["tool"] == "psql"


def test_table_scoped_restore_in_a_nonpublic_schema_judges_its_own_tables(tmp_path: Path) -> None:
    """shared/cases/18-nonpublic-schema-scope with shared/cases/04-rls-table-restore: in schema `app`, a
    --table restore of one table (row security lost) fails schema_fidelity naming it, while blast_radius
    finds the table outside the scope in `app` untouched (no false "table dropped")."""
    system = make_case(
        tmp_path / "scoped", name="scoped-app",
        sql="""\
            DO $$ BEGIN CREATE ROLE rd_case_tenant NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
            CREATE SCHEMA IF NOT EXISTS app;
            CREATE TABLE IF NOT EXISTS app.notes (tenant text NOT NULL, body text NOT NULL);
            CREATE TABLE IF NOT EXISTS app.users (id int PRIMARY KEY, name text);
            INSERT INTO app.notes SELECT 't' || (g % 3), 'n' || g FROM generate_series(1, 50) g;
            INSERT INTO app.users SELECT g, 'u' || g FROM generate_series(1, 10) g ON CONFLICT DO NOTHING;
            ALTER TABLE app.notes ENABLE ROW LEVEL SECURITY;
            CREATE POLICY notes_by_tenant ON app.notes FOR SELECT TO rd_case_tenant USING (tenant = 't1');
        """,
        backup='pg_dump --format=custom --file=a.dump "$DATABASE_URL"',
        restore='pg_restore --clean --if-exists --exit-on-error --schema=app --table=notes --dbname "$DATABASE_URL" a.dump',
        database='tables = ["app.notes"]\nschemas = ["app"]\ntable_scoped = true\n')
    code, rep, checks = drill(system)
    assert code == 1
    assert checks["blast_radius"]["status"] == "passed", checks["blast_radius"]["message"]
    assert "1 table(s) outside the scope unchanged" in checks["blast_radius"]["message"]
    sf = checks["schema_fidelity"]
    assert sf["status"] == "failed" and "- row security app.notes" in sf["message"], sf["message"]
