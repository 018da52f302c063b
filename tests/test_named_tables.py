"""A definition whose ``[database] tables`` names a table the seed never creates is bad input named in one
line (exit 2), found right after seeding, instead of a disaster hook's SQL error wrapped as
"_HookError ... (exit None)" (tester finding 15)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CLI = str(Path(sys.executable).parent / "restore-drill")

RUNBOOK = """# Shop

## Backup

```bash
pg_dump -Fc "$DATABASE_URL" -f shop.dump
```

## Restore

```bash
pg_restore --clean --if-exists -d "$DATABASE_URL" shop.dump
```
"""


def test_a_named_table_the_seed_does_not_create_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "runbook.md").write_text(RUNBOOK)
    (tmp_path / "shop.seed.sql").write_text("CREATE TABLE public.orders (id int PRIMARY KEY);\n"
                                            "INSERT INTO public.orders VALUES (1), (2);\n")
    (tmp_path / "shop.binding.toml").write_text('backup_globs = ["*.dump"]\n[phases]\nbackup = ["Backup"]\n'
                                                'restore = ["Restore"]\n')
    (tmp_path / "shop.toml").write_text('name = "shop"\n[database]\ntables = ["public.orders", "public.ordrs"]\n'
                                        '[data]\nsql = "shop.seed.sql"\n[procedure]\nrunbook = "runbook.md"\n'
                                        'binding = "shop.binding.toml"\n')
    r = subprocess.run([CLI, "run", "--system", "shop.toml", "--procedure", "runbook", "--report-dir", "runs",
                        "--quiet"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    d = json.loads(sorted((tmp_path / "runs").glob("*/report.json"))[-1].read_text())["drills"][0]
    assert d["status"] == "errored" and d["error"]["type"] == "BadInput", d["error"]
    assert d["error"]["message"] == (f"{tmp_path / 'shop.toml'}: [database] tables names public.ordrs, which "
                                     "shop's seeded database does not have: fix the name or remove it (its "
                                     "tables: public.orders)")
    assert "_HookError" not in r.stdout + r.stderr and "exit None" not in r.stdout
    assert not [s for s in d["steps"] if s["phase"] in ("backup", "restore") and s["status"] != "not_run"]
