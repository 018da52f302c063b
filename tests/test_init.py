"""`restore-drill init`: the README's walkthrough from a runbook to a passing drill, as a new user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.test_byo_system import RUNBOOK

CLI = str(Path(sys.executable).parent / "restore-drill")


def test_init_then_run_passes(tmp_path: Path) -> None:
    (tmp_path / "runbook.md").write_text(RUNBOOK)
    r = subprocess.run([CLI, "init", "myapp", "--runbook", "runbook.md"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    binding = (tmp_path / "myapp.binding.toml").read_text()
    assert 'backup = ["Backup"]' in binding and 'restore = ["Restore"]' in binding
    r = subprocess.run([CLI, "run", "--system", "myapp.toml", "--report-dir", "runs", "--quiet"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    rep = json.loads(next((tmp_path / "runs").glob("*/report.json")).read_text())
    assert r.returncode == 0 and rep["status"] == "passed", r.stdout + r.stderr
    assert "myapp-restore[pg" in r.stdout


def test_init_refuses_to_overwrite_and_bad_names(tmp_path: Path) -> None:
    assert subprocess.run([CLI, "init", "a"], cwd=tmp_path, capture_output=True).returncode == 0
    again = subprocess.run([CLI, "init", "a"], cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 2 and "already exists; pass --force" in again.stderr
    bad = subprocess.run([CLI, "init", "no spaces"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 2 and "use letters, digits" in bad.stderr


def test_init_writes_the_names_the_runbook_uses_and_keeps_the_users_seed(tmp_path: Path) -> None:
    """shared/cases/byo-libpq-flags and byo-docker-exec: init reads the literal database, roles and containers
    from the commands into [names]; the template shows schemas, [[files]] and [checks]; an existing seed SQL
    (the user's data) survives --force."""
    (tmp_path / "runbook.md").write_text(
        "# Shop\n## Backup\n```bash\npg_dump -Fc shop -h localhost -U shop_app -f shop.dump\n"
        "sudo -u postgres psql -c 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO reporting'\n```\n"
        "## Restore\n```bash\ndocker exec -i shop_db pg_restore -c -d shop -U shop_app < shop.dump\n"
        "aws s3 sync s3://shop-backups/media/ s3://shop-media/media/\n```\n")
    (tmp_path / "shop.seed.sql").write_text("-- mine\n")
    r = subprocess.run([CLI, "init", "shop", "--runbook", "runbook.md", "--force"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "shop.seed.sql").read_text() == "-- mine\n" and "wrote" in r.stdout
    binding = (tmp_path / "shop.binding.toml").read_text()
    import tomllib

    names = tomllib.loads(binding)["names"]
    assert names == {"database": "shop", "user": "shop_app", "roles": ["postgres", "reporting"],
                     "containers": ["shop_db"], "buckets": {"live": "shop-media", "backup": "shop-backups"}}
    assert tomllib.loads(binding)["backup_globs"] == ["shop.dump"]  # where the runbook's pg_dump writes
    system = (tmp_path / "shop.toml").read_text()
    assert "# schemas = " in system and "# [checks]" in system and "[storage]" in system
    assert "# [[files]]" in binding and "restore-drill:restore" in binding


def test_run_by_bare_name_and_a_folder_of_that_name(tmp_path: Path) -> None:
    """`list` shows ./NAME.toml by name, so `run --system NAME` takes it; a folder called NAME is not a crash."""
    assert subprocess.run([CLI, "init", "a"], cwd=tmp_path, capture_output=True).returncode == 0
    (tmp_path / "b").mkdir()
    r = subprocess.run([CLI, "run", "--system", "b", "--report-dir", "runs", "--quiet"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "b is a folder, not a definition" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([CLI, "run", "--system", "a", "--dry-run"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert "unknown system" not in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_init_declares_the_host_folders_and_tool_paths_the_runbook_spells(tmp_path: Path) -> None:
    """Issue 15 item 3 (`cd /srv/app`, `/usr/local/bin/aws`, `/opt/app/bin/backup.sh`): init writes them into
    [names] folders/tools (the binding it writes loads), leaving system folders and /usr/bin tools alone."""
    import tomllib

    from restore_drill.runbook import load_binding

    (tmp_path / "runbook.md").write_text(
        "# App\n## Backup\n```bash\ncd /srv/app\npg_dump -Fc \"$DATABASE_URL\" -f backups/app.dump\n"
        "/usr/local/bin/aws s3 cp backups/app.dump \"s3://$BACKUP_BUCKET/app.dump\"\ncd /tmp\n/usr/bin/env true\n```\n"
        "## Restore\n```bash\ncd /srv/app/\nsudo -u app /opt/app/bin/backup.sh --restore\n```\n")
    r = subprocess.run([CLI, "init", "app", "--runbook", "runbook.md"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    names = tomllib.loads((tmp_path / "app.binding.toml").read_text())["names"]
    assert names["folders"] == {"/srv/app": "."}
    assert names["tools"] == {"/usr/local/bin/aws": "aws", "/opt/app/bin/backup.sh": "backup.sh"}
    b = load_binding(tmp_path / "app.binding.toml")
    assert b.names.folders == {"/srv/app": "."} and b.names.tools["/usr/local/bin/aws"] == "aws"
