"""Tiny system definitions for the fleet tests: TOML + a few rows of SQL + a two-step pg_dump/pg_restore
runbook, no object storage, so a drill takes seconds (the shape of tests/test_byo_system.py's system)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

CLI = str(Path(sys.executable).parent / "restore-drill")

RUNBOOK = textwrap.dedent('''\
    # {name} backup and restore

    ## Backup

    ```bash
    pg_dump --format=custom --no-owner --file={name}.dump "$DATABASE_URL"
    ```

    ## Restore

    ```bash
    pg_restore --clean --if-exists --no-owner --exit-on-error --dbname "$DATABASE_URL" {name}.dump
    ```
''')

SEED = textwrap.dedent('''\
    CREATE TABLE public.items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, title text NOT NULL);
    INSERT INTO public.items (title) VALUES ('a'), ('b'), ('c');
''')

SYSTEM = textwrap.dedent('''\
    name = "{name}"
    description = "tiny fleet test system {name}"
    [database]
    tables = ["public.items"]
    [data]
    sql = "{name}.seed.sql"
    [procedure]
    runbook = "{name}.runbook.md"
    binding = "{name}.binding.toml"
    [targets]
    rto_s = 600
    rpo_s = {rpo}
''')

BINDING = textwrap.dedent('''\
    name = "{name}"
    system = "{name}"
    backup_globs = ["{name}.dump"]
    tables = ["public.items"]
    [phases]
    backup = ["Backup"]
    restore = ["Restore"]
''')


def tiny_system(root: Path, name: str, rpo_s: int = 3600) -> Path:
    """Write the definition of system ``name`` under ``root``; returns its .toml path."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{name}.runbook.md").write_text(RUNBOOK.format(name=name))
    (root / f"{name}.seed.sql").write_text(SEED)
    (root / f"{name}.toml").write_text(SYSTEM.format(name=name, rpo=rpo_s))
    (root / f"{name}.binding.toml").write_text(BINDING.format(name=name))
    return root / f"{name}.toml"


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})})


def start(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            env={**os.environ, **(env or {})})


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def comparable(fleet_doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What a merged fleet and the same jobs run in one process must agree on: per row the job, the
    drill, the system, the status and every check's (name, status)."""
    return sorted((r["job_id"], r["drill_id"], r["system"], r["status"],
                   tuple(sorted((c["name"], c["status"]) for c in r["checks"]))) for r in fleet_doc["rows"])
