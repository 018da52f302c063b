"""Runbooks as teams write them run as written: the binding only declares, it never rewrites a command.

Each test writes its own small system (a few lines of SQL, a two-section runbook, a binding) in the
style of one shared case and drills it through the CLI, asserting the right verdict and that every
command ran exactly as the runbook spells it (no deviation recorded).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

CLI = str(Path(sys.executable).parent / "restore-drill")

SEED = textwrap.dedent("""\
    CREATE TABLE public.orders (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        customer text NOT NULL,
        total_cents integer NOT NULL CHECK (total_cents >= 0)
    );
    INSERT INTO public.orders (customer, total_cents) VALUES ('ada', 1200), ('grace', 450), ('linus', 99);
""")

SYSTEM = """\
name = "shop"
[database]
tables = "all"
{storage}
[data]
sql = "shop.seed.sql"
{objects}
[procedure]
runbook = "runbook.md"
binding = "shop.binding.toml"
[targets]
rto_s = 600
rpo_s = 86400
"""

STORAGE = """
[storage]
prefix = "media"
"""


def make(root: Path, runbook: str, binding: str, *, objects: dict[str, bytes] | None = None) -> Path:
    """Write a system definition, seed, runbook and binding into ``root``; returns the definition."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "runbook.md").write_text(textwrap.dedent(runbook))
    (root / "shop.seed.sql").write_text(SEED)
    (root / "shop.binding.toml").write_text(textwrap.dedent(binding))
    (root / "shop.toml").write_text(SYSTEM.format(storage=STORAGE if objects else "",
                                                  objects='objects = "objects/"' if objects else ""))
    for key, body in (objects or {}).items():
        p = root / "objects" / key
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(body)
    return root / "shop.toml"


def drill(system: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """Run the system's runbook procedure through the CLI; (exit status, the drill's report.json entry)."""
    runs = system.parent / "runs"
    r = subprocess.run([CLI, "run", "--system", str(system), "--procedure", "runbook", "--report-dir", str(runs),
                        "--quiet", *args], capture_output=True, text=True, timeout=300, cwd=system.parent)
    reports = sorted(runs.glob("*/report.json"))
    assert reports, r.stdout + r.stderr
    return r.returncode, json.loads(reports[-1].read_text())["drills"][0]


def steps(d: dict[str, Any], phase: str) -> list[dict[str, Any]]:
    return [s for s in d["steps"] if s["phase"] == phase and s.get("kind") != "hook"]


def assert_as_written(d: dict[str, Any]) -> None:
    """Every runbook step ran its text unchanged: no substitution, no rewrite."""
    for s in d["steps"]:
        if s.get("kind") == "shell":
            assert s["command"] == s["original"], s["name"]
            assert not s.get("deviations"), s["deviations"]


def failed_checks(d: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["message"] for c in d["checks"] if c["status"] in ("failed", "errored")}


LIBPQ_RUNBOOK = """\
    # Shop: backup and restore

    ## Backup

    ```bash
    pg_dump -Fc --no-acl shop -h localhost -U shop -f shop.dump -w
    ```

    ## Restore

    ```bash
    pg_restore -h localhost -c -O --if-exists -d shop -U shop shop.dump
    ```
"""


def test_libpq_flags_run_as_written_against_the_drills_server(tmp_path: Path) -> None:
    """shared/cases/byo-libpq-flags: `pg_dump shop -h localhost -U shop` names db, host and user. The binding
    declares the names ([names] database/user); the drill's server listens on 127.0.0.1 and exports PG*."""
    system = make(tmp_path, LIBPQ_RUNBOOK, """\
        backup_globs = ["*.dump"]
        [phases]
        backup = ["Backup"]
        restore = ["Restore"]
        [names]
        database = "shop"
        user = "shop"
    """)
    code, d = drill(system, "--disaster", "truncate")
    assert [s["status"] for s in steps(d, "backup") + steps(d, "restore")] == ["passed", "passed"], d["steps"]
    assert_as_written(d)
    assert code == 0 and d["status"] == "passed", failed_checks(d)


def test_libpq_flags_without_names_fail_saying_which_line(tmp_path: Path) -> None:
    """shared/cases/byo-libpq-flags, undeclared: no role or database `shop` exists on the drill's server, so
    the backup step fails and its record names the failing line and libpq's first error line."""
    system = make(tmp_path, LIBPQ_RUNBOOK, """\
        backup_globs = ["*.dump"]
        [phases]
        backup = ["Backup"]
        restore = ["Restore"]
    """)
    code, d = drill(system, "--disaster", "truncate")
    backup = steps(d, "backup")[0]
    assert code == 1 and d["status"] == "failed"
    assert backup["status"] == "failed"
    assert backup["failed_command"].startswith("pg_dump -Fc --no-acl shop")
    assert backup["failed_line"] == backup["line"] + 1  # the first line inside the fence
    assert backup["first_error"].startswith("pg_dump: error:") and '"shop"' in backup["first_error"]
    assert "line 1 of the block" in backup["reason"]


FRESH_RUNBOOK = """\
    # Shop on a new server

    ## Dump

    ```bash
    pg_dump -Fc "$DATABASE_URL" -f backup.dump
    ```

    ## Restore

    ```bash
    createdb -T template0 shop
    pg_restore -Fc --no-owner -d "$DATABASE_URL" backup.dump
    ```
"""
FRESH_BINDING = """\
    backup_globs = ["*.dump"]
    [phases]
    backup = ["Dump"]
    restore = ["Restore"]
    [names]
    database = "shop"
"""


def test_fresh_database_restore_passes_when_the_database_is_lost(tmp_path: Path) -> None:
    """shared/cases/byo-fresh-database: createdb + pg_restore without --clean is right on a new server; under
    database-lost (the whole database dropped) it restores everything."""
    code, d = drill(make(tmp_path, FRESH_RUNBOOK, FRESH_BINDING), "--disaster", "database-lost")
    assert [s["status"] for s in steps(d, "restore")] == ["passed"], d["steps"]
    assert d["disasters"][0]["details"]["database"] == "shop"
    assert_as_written(d)
    assert code == 0 and d["status"] == "passed", failed_checks(d)


def test_restore_that_never_recreates_a_lost_database_fails_not_errors(tmp_path: Path) -> None:
    """shared/cases/byo-fresh-database, the opposite runbook: `pg_restore --clean -d shop` assumes the database
    is still there. After database-lost nothing comes back: failed (row counts), never errored."""
    runbook = FRESH_RUNBOOK.replace("    createdb -T template0 shop\n", "").replace("-Fc --no-owner", "--clean --if-exists")
    code, d = drill(make(tmp_path, runbook, FRESH_BINDING), "--disaster", "database-lost")
    assert code == 1 and d["status"] == "failed", d.get("error")
    assert steps(d, "restore")[0]["status"] == "failed"
    target = [s for s in d["steps"] if s["name"] == "[restore-drill] restore target"]
    assert target and "created an empty one" in target[0]["reason"]
    assert "row_counts" in failed_checks(d)


SUDO_RUNBOOK = """\
    # Shop as the database's OS user

    ## Database backup

    ```shell
    sudo -u postgres pg_dump -Fc shop > shop.dump
    ```

    ## Database restore

    ```shell
    sudo -u postgres pg_restore --clean --if-exists -d shop < shop.dump
    ```
"""


def test_sudo_wrapper_runs_the_wrapped_command_as_the_database_role(tmp_path: Path) -> None:
    """shared/cases/byo-sudo-wrapper: `sudo -u postgres pg_dump … > file` means "as the database's OS user";
    with the role declared it runs as written and the dump is not empty."""
    system = make(tmp_path, SUDO_RUNBOOK, """\
        backup_globs = ["*.dump"]
        [phases]
        backup = ["Database backup"]
        restore = ["Database restore"]
        [names]
        database = "shop"
        roles = ["postgres"]
    """)
    code, d = drill(system, "--disaster", "truncate")
    assert [s["status"] for s in steps(d, "backup") + steps(d, "restore")] == ["passed", "passed"], d["steps"]
    assert d["backups"] and d["backups"][0]["size_bytes"] > 0
    assert_as_written(d)
    assert code == 0 and d["status"] == "passed", failed_checks(d)


DOCKER_RUNBOOK = """\
    # Shop in containers

    ## Backup

    ```bash
    docker exec -i shop_db pg_dump -Fc --username=postgres shop > shop.dump
    ```

    ## Restore

    ```bash
    docker exec -i shop_db pg_restore --clean --if-exists --username=postgres -d shop < shop.dump
    ```

    ## Check

    ```bash
    docker exec -i shop_db psql --username=postgres -c 'SELECT 1'
    ```
"""
DOCKER_BINDING = """\
    backup_globs = ["*.dump"]
    [phases]
    backup = ["Backup"]
    restore = ["Restore"]
    verify = ["Check"]
    [names]
    database = "shop"
    roles = ["postgres"]
"""


def test_docker_exec_into_the_declared_container_runs_against_the_drills_database(tmp_path: Path) -> None:
    """shared/cases/byo-docker-exec: the binding declares `shop_db` as the drill's database, so
    `docker exec -i shop_db psql …` runs `psql …` here; no Docker engine is involved."""
    system = make(tmp_path, DOCKER_RUNBOOK, DOCKER_BINDING + 'containers = ["shop_db"]\n')
    code, d = drill(system, "--disaster", "truncate")
    ran = steps(d, "backup") + steps(d, "restore") + steps(d, "verify")
    assert [s["status"] for s in ran] == ["passed"] * 3, d["steps"]
    assert_as_written(d)
    assert code == 0 and d["status"] == "passed", failed_checks(d)


def test_docker_exec_into_an_undeclared_container_is_refused_and_reported(tmp_path: Path) -> None:
    """shared/cases/byo-docker-exec, undeclared: the container is not the drill's database, so the call is
    refused (never sent to a Docker engine), the steps fail and the drill is not passed."""
    code, d = drill(make(tmp_path, DOCKER_RUNBOOK, DOCKER_BINDING), "--disaster", "truncate")
    ran = steps(d, "backup") + steps(d, "restore") + steps(d, "verify")
    assert all(s["status"] in ("failed", "not_run") for s in ran), d["steps"]
    said = " ".join(s["stderr_tail"] + s["reason"] + " ".join(s["findings"]) for s in ran)
    assert "docker" in said and not d.get("error"), said
    assert code != 0 and d["status"] != "passed"


S3CMD_RUNBOOK = """\
    # Shop media

    ## Backup

    ```bash
    pg_dump -Fc "$DATABASE_URL" -f shop.dump
    s3cmd sync s3://$S3_BUCKET/$S3_PREFIX/ media-backup/
    ```

    ## Restore

    ```bash
    pg_restore --clean --if-exists -d "$DATABASE_URL" shop.dump
    s3cmd sync media-backup/ s3://$S3_BUCKET/$S3_PREFIX/
    ```
"""


@pytest.mark.skipif(shutil.which("s3cmd", path=str(Path(sys.executable).parent)) is None,
                    reason="s3cmd is not in the venv (make installs it)")
def test_s3cmd_reaches_the_drills_endpoint_and_its_metadata_is_not_a_change(tmp_path: Path) -> None:
    """shared/cases/byo-s3cmd: s3cmd gets a private ~/.s3cfg for the drill's endpoint; the objects it puts back
    carry its own x-amz-meta-s3cmd-attrs, which object_integrity records but does not count as a change."""
    system = make(tmp_path, S3CMD_RUNBOOK, """\
        backup_globs = ["*.dump"]
        [phases]
        backup = ["Backup"]
        restore = ["Restore"]
    """, objects={"a/readme.txt": b"how to restore\n" * 40, "b/notes.txt": b"notes\n"})
    code, d = drill(system, "--disaster", "delete-objects")
    assert [s["status"] for s in steps(d, "backup") + steps(d, "restore")] == ["passed", "passed"], d["steps"]
    integrity = next(c for c in d["checks"] if c["name"] == "object_integrity")
    assert integrity["status"] == "passed", integrity["message"]
    assert integrity["evidence"]["tool_metadata_ignored"], integrity["evidence"]
    assert code == 0 and d["status"] == "passed", failed_checks(d)


def test_missing_copy_tool_is_not_run_naming_it(tmp_path: Path) -> None:
    """shared/cases/byo-s3cmd, on a machine without the tool: found in the pre-flight, the step is not_run
    naming the tool (not a failed exit 127)."""
    runbook = S3CMD_RUNBOOK.replace("s3cmd sync media-backup/", "mc mirror media-backup/")
    system = make(tmp_path, runbook, """\
        backup_globs = ["*.dump"]
        [phases]
        backup = ["Backup"]
        restore = ["Restore"]
    """, objects={"a/photo.bin": b"photo"})
    if shutil.which("mc"):
        pytest.skip("an `mc` is installed on this machine")
    code, d = drill(system, "--disaster", "delete-objects")
    restore = steps(d, "restore")[0]
    assert restore["status"] == "not_run" and "mc is not installed" in restore["reason"]
    assert d["status"] != "passed"


OFFSITE_RUNBOOK = """\
    # Shop with an off-site copy

    ## Backup

    ```bash
    pg_dump -Fc "$DATABASE_URL" -f shop.dump
    aws s3 cp --only-show-errors shop.dump "s3://$BACKUP_BUCKET/db/shop.dump"
    ```

    ## Restore

    ```bash
    aws s3 cp --only-show-errors "s3://$BACKUP_BUCKET/db/shop.dump" shop.dump
    pg_restore --clean --if-exists -d "$DATABASE_URL" shop.dump
    ```
"""
OFFSITE_BINDING = """\
    backup_globs = ["*.dump"]
    [phases]
    backup = ["Backup"]
    restore = ["Restore"]
"""


def test_host_lost_restore_from_the_offsite_copy_passes(tmp_path: Path) -> None:
    """shared/cases/byo-fresh-database (its off-site half): after host-lost wipes the local folder, a restore
    that fetches its dump from the off-site bucket restores everything."""
    code, d = drill(make(tmp_path, OFFSITE_RUNBOOK, OFFSITE_BINDING, objects={"a.txt": b"a\n"}),
                    "--disaster", "host-lost")
    rec = d["disasters"][0]["details"]
    assert "shop.dump" in rec["files_removed"] and rec["rows_after"]["public.orders"] == 0
    assert [s["status"] for s in steps(d, "restore")] == ["passed"], d["steps"]
    assert code == 0 and d["status"] == "passed", failed_checks(d)


def test_host_lost_restore_from_the_local_file_fails_naming_the_line(tmp_path: Path) -> None:
    """shared/cases/byo-fresh-database (its off-site half): a restore that reads only the local dump has nothing
    after host-lost; the step names its failing line and the data checks fail."""
    runbook = OFFSITE_RUNBOOK.replace('    aws s3 cp --only-show-errors "s3://$BACKUP_BUCKET/db/shop.dump" shop.dump\n', "")
    code, d = drill(make(tmp_path, runbook, OFFSITE_BINDING, objects={"a.txt": b"a\n"}), "--disaster", "host-lost")
    restore = steps(d, "restore")[0]
    assert restore["status"] == "failed" and restore["failed_command"].startswith("pg_restore")
    assert "shop.dump" in restore["first_error"]
    assert code == 1 and "row_counts" in failed_checks(d)


LITERAL_BUCKETS_RUNBOOK = """\
    # Shop with literal buckets

    ## Backup

    ```bash
    pg_dump -Fc "$DATABASE_URL" -f shop.dump
    aws s3 sync --only-show-errors s3://shop-media/media/ s3://shop-backups/media/
    ```

    ## Restore

    ```bash
    pg_restore --clean --if-exists -d "$DATABASE_URL" shop.dump
    aws s3 sync --only-show-errors s3://shop-backups/media/ s3://shop-media/media/
    ```
"""


def test_literal_bucket_names_are_declared_not_rewritten(tmp_path: Path) -> None:
    """shared/cases/byo-s3cmd (its literal `s3://…` buckets): [names] buckets makes the drill's own buckets on the
    private moto server carry the names the runbook spells, so `aws s3 sync s3://shop-backups/…` runs as written."""
    system = make(tmp_path, LITERAL_BUCKETS_RUNBOOK, """\
        backup_globs = ["*.dump"]
        [phases]
        backup = ["Backup"]
        restore = ["Restore"]
        [names]
        buckets = { live = "shop-media", backup = "shop-backups" }
    """, objects={"a/readme.txt": b"restore me\n"})
    code, d = drill(system, "--disaster", "delete-objects")
    assert d["target"]["bucket"] == "shop-media"
    assert [s["status"] for s in steps(d, "backup") + steps(d, "restore")] == ["passed", "passed"], d["steps"]
    assert_as_written(d)
    assert code == 0 and d["status"] == "passed", failed_checks(d)


EXCLUDE_SEED = SEED + textwrap.dedent("""\
    CREATE TABLE public.sessions (token text PRIMARY KEY, customer text NOT NULL);
    INSERT INTO public.sessions VALUES ('t1', 'ada'), ('t2', 'grace');
""")
EXCLUDE_RUNBOOK = """\
    # Shop without session data

    ## Backup

    ```bash
    pg_dump -Fc --exclude-table-data=public.sessions "$DATABASE_URL" -f shop.dump
    ```

    ## Restore

    ```bash
    pg_restore --clean --if-exists -d "$DATABASE_URL" shop.dump
    ```
"""


@pytest.mark.parametrize("dump_flag, declared, verdict, failing", [
    ("--exclude-table-data=public.sessions", True, "passed", set()),
    ("--exclude-table-data=public.sessions", False, "failed", {"row_counts", "table_checksums"}),
    ("--exclude-table=public.sessions", True, "failed", {"row_counts"}),  # the table itself is gone: schema lost
])
def test_exclude_data_checks_the_schema_and_expects_no_rows(tmp_path: Path, dump_flag: str, declared: bool,
                                                             verdict: str, failing: set[str]) -> None:
    """Issue 15 ("leave data out on purpose", as in Mastodon's --exclude-table-data runbooks): a table declared in
    [database] exclude_data keeps its schema checked and is expected empty; undeclared, the missing rows fail;
    a dump that drops the whole table fails even when its data is declared excluded."""
    system = make(tmp_path, EXCLUDE_RUNBOOK.replace("--exclude-table-data=public.sessions", dump_flag), """\
        backup_globs = ["*.dump"]
        [phases]
        backup = ["Backup"]
        restore = ["Restore"]
    """)
    (tmp_path / "shop.seed.sql").write_text(EXCLUDE_SEED)
    if declared:
        text = system.read_text().replace('tables = "all"', 'tables = "all"\nexclude_data = ["public.sessions"]')
        system.write_text(text)
    code, d = drill(system, "--disaster", "drop-table")
    bad = failed_checks(d)
    assert d["status"] == verdict, bad
    assert failing <= set(bad), bad
    if verdict == "passed":
        assert code == 0


REFS_SEED = SEED + textwrap.dedent("""\
    CREATE TABLE public.media (id integer PRIMARY KEY, file_name text NOT NULL);
    INSERT INTO public.media VALUES (1, 'a.jpg'), (1002, 'b.png');
""")
KEY_SQL = "format('media/%s/%s/original/%s', lpad((id / 1000)::text, 3, '0'), lpad((id % 1000)::text, 3, '0'), file_name)"
REFS_SYSTEM_EXTRA = f"""
[storage.references]
"public.media.file_name" = {{ description = "media originals", key = "{KEY_SQL}" }}
"""
REFS_RUNBOOK = """\
    # Shop media by id

    ## Backup

    ```bash
    pg_dump -Fc "$DATABASE_URL" -f shop.dump
    aws s3 sync --only-show-errors "s3://$S3_BUCKET/$S3_PREFIX/" "s3://$BACKUP_BUCKET/$S3_PREFIX-backup/"
    ```

    ## Restore

    ```bash
    pg_restore --clean --if-exists -d "$DATABASE_URL" shop.dump
    aws s3 sync --only-show-errors "s3://$BACKUP_BUCKET/$S3_PREFIX-backup/" "s3://$S3_BUCKET/$S3_PREFIX/"
    ```
"""


@pytest.mark.parametrize("restores_storage", [True, False])
def test_reference_keys_built_by_sql_expressions(tmp_path: Path, restores_storage: bool) -> None:
    """Issue 15 ("build object keys from columns", as in Mastodon's media/000/000/001/original/<file>): a
    reference declared with a key expression finds each row's object; when the restore leaves storage deleted,
    artifact_paths_exist names the keys the expression built."""
    objects = {"media/000/001/original/a.jpg": b"a", "media/001/002/original/b.png": b"b"}
    runbook = REFS_RUNBOOK if restores_storage else REFS_RUNBOOK.replace(
        '    aws s3 sync --only-show-errors "s3://$BACKUP_BUCKET/$S3_PREFIX-backup/" "s3://$S3_BUCKET/$S3_PREFIX/"\n', "")
    system = make(tmp_path, runbook, """\
        backup_globs = ["*.dump"]
        [phases]
        backup = ["Backup"]
        restore = ["Restore"]
    """, objects=objects)
    (tmp_path / "shop.seed.sql").write_text(REFS_SEED)
    system.write_text(system.read_text() + REFS_SYSTEM_EXTRA)
    code, d = drill(system, "--disaster", "delete-prefix")
    refs = next(c for c in d["checks"] if c["name"] == "artifact_paths_exist")
    if restores_storage:
        assert refs["status"] == "passed" and refs["evidence"]["referenced_keys"] == 2, refs["message"]
        assert code == 0 and d["status"] == "passed", failed_checks(d)
    else:
        assert refs["status"] == "failed" and "media/001/002/original/b.png" in refs["message"], refs["message"]


RCLONE_RUNBOOK = """\
    # Shop media with rclone

    ## Backup

    ```bash
    pg_dump -Fc "$DATABASE_URL" -f shop.dump
    rclone copy "offsite:$S3_BUCKET/$S3_PREFIX" media-backup
    ```

    ## Restore

    ```bash
    pg_restore --clean --if-exists -d "$DATABASE_URL" shop.dump
    rclone copy media-backup "offsite:$S3_BUCKET/$S3_PREFIX"
    ```
"""


@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone is not installed (make tools installs it)")
def test_rclone_remote_named_in_the_runbook_reaches_the_drills_endpoint(tmp_path: Path) -> None:
    """shared/cases/byo-s3cmd (rclone flavour): the remote `offsite:` the runbook names gets a private rclone
    config for the drill's endpoint; rclone's own x-amz-meta-mtime is recorded, not counted as a change. (rclone
    re-derives Content-Type from the file name: a .txt object comes back as "text/plain; charset=utf-8", a
    real difference object_integrity reports; these objects keep theirs.)"""
    system = make(tmp_path, RCLONE_RUNBOOK, """\
        backup_globs = ["*.dump"]
        [phases]
        backup = ["Backup"]
        restore = ["Restore"]
    """, objects={"a/photo.bin": b"\x00\x01photo" * 50, "b/notes.bin": b"notes"})
    code, d = drill(system, "--disaster", "delete-objects")
    assert [s["status"] for s in steps(d, "backup") + steps(d, "restore")] == ["passed", "passed"], d["steps"]
    assert_as_written(d)
    integrity = next(c for c in d["checks"] if c["name"] == "object_integrity")
    assert integrity["evidence"]["tool_metadata_ignored"], integrity["evidence"]
    assert code == 0 and d["status"] == "passed", failed_checks(d)


def test_sudo_wrapper_that_cannot_reach_the_database_is_not_reported_as_met(tmp_path: Path) -> None:
    """shared/cases/byo-sudo-wrapper as the tester ran it (nothing declared): the dump is empty (0 bytes), the
    backup step names its failing line, and neither RTO nor RPO passes."""
    system = make(tmp_path, SUDO_RUNBOOK, """\
        backup_globs = ["*.dump"]
        [phases]
        backup = ["Database backup"]
        restore = ["Database restore"]
    """)
    code, d = drill(system, "--disaster", "truncate")
    backup = steps(d, "backup")[0]
    assert backup["status"] == "failed" and backup["failed_command"].startswith("sudo -u postgres pg_dump")
    checks = {c["name"]: c["status"] for c in d["checks"]}
    assert checks.get("rto") != "passed" and checks.get("rpo") != "passed", checks
    assert code != 0 and d["status"] != "passed"


def test_database_host_named_by_the_runbook_reaches_the_drills_server(tmp_path: Path) -> None:
    """shared/cases/byo-libpq-flags with a real host name (`-h db.internal`): [names] hosts makes libpq connect
    to the drill's listener (PGHOSTADDR) whatever the name resolves to; undeclared, the step fails naming it."""
    runbook = LIBPQ_RUNBOOK.replace("-h localhost", "-h db.internal")
    binding = """\
        backup_globs = ["*.dump"]
        [phases]
        backup = ["Backup"]
        restore = ["Restore"]
        [names]
        database = "shop"
        user = "shop"
    """
    code, d = drill(make(tmp_path / "declared", runbook, binding + '    hosts = ["db.internal"]\n'),
                    "--disaster", "truncate")
    assert [s["status"] for s in steps(d, "backup") + steps(d, "restore")] == ["passed", "passed"], d["steps"]
    assert_as_written(d)
    assert code == 0 and d["status"] == "passed", failed_checks(d)
    code, d = drill(make(tmp_path / "undeclared", runbook, binding), "--disaster", "truncate")
    backup = steps(d, "backup")[0]
    assert backup["status"] == "failed" and "db.internal" in backup["first_error"], backup["first_error"]


HOST_PATHS_RUNBOOK = """\
    # App on its host

    ## Backup

    ```bash
    cd /srv/app-{tag}
    mkdir -p backups
    pg_dump -Fc "$DATABASE_URL" -f backups/app.dump
    /usr/local/bin/{tag}-aws s3 cp --only-show-errors backups/app.dump "s3://$BACKUP_BUCKET/db/app.dump"
    ```

    ## Restore

    ```bash
    cd /srv/app-{tag}
    mkdir -p backups
    /usr/local/bin/{tag}-aws s3 cp --only-show-errors "s3://$BACKUP_BUCKET/db/app.dump" backups/app.dump
    pg_restore --clean --if-exists -d "$DATABASE_URL" backups/app.dump
    ```
"""
HOST_PATHS_BINDING = """\
    backup_globs = ["backups/*.dump"]
    [phases]
    backup = ["Backup"]
    restore = ["Restore"]
"""


def _host_paths(tag: str) -> list[str]:
    paths = [f"/srv/app-{tag}", f"/usr/local/bin/{tag}-aws"]
    assert not any(os.path.lexists(p) for p in paths)
    return paths


@pytest.mark.skipif(os.geteuid() != 0, reason="a step's private mount namespace needs root (CI runs as root)")
def test_literal_host_folder_and_tool_path_run_as_written_when_declared(tmp_path: Path) -> None:
    """shared/cases/byo-* (item 3 of issue 15: `cd /srv/app`, `/usr/local/bin/aws`): [names] folders/tools show
    the runbook's own host paths to each step (bind mounts in its private mount namespace); the text runs as
    written, host-lost forces the restore through the tool path, and the host never gets either path."""
    tag = os.urandom(4).hex()
    folder, tool = _host_paths(tag)
    system = make(tmp_path, HOST_PATHS_RUNBOOK.format(tag=tag), HOST_PATHS_BINDING + f"""\
        [names]
        folders = {{ "{folder}" = "." }}
        tools = {{ "{tool}" = "aws" }}
    """, objects={"a.txt": b"a\n"})
    code, d = drill(system, "--disaster", "host-lost")
    assert [s["status"] for s in steps(d, "backup") + steps(d, "restore")] == ["passed", "passed"], d["steps"]
    assert_as_written(d)
    assert code == 0 and d["status"] == "passed", failed_checks(d)
    assert not any(os.path.lexists(p) for p in (folder, tool))


def test_undeclared_host_folder_and_tool_path_fail_naming_the_names_key(tmp_path: Path) -> None:
    """The same runbook without [names] folders/tools: the backup step fails, and its findings name each path
    and the [names] line that fixes it; nothing is created on the host."""
    tag = os.urandom(4).hex()
    folder, tool = _host_paths(tag)
    code, d = drill(make(tmp_path, HOST_PATHS_RUNBOOK.format(tag=tag), HOST_PATHS_BINDING, objects={"a.txt": b"a\n"}),
                    "--disaster", "host-lost")
    backup = steps(d, "backup")[0]
    assert backup["status"] == "failed" and code == 1 and d["status"] == "failed"
    hints = [f for f in backup["findings"] if "[names]" in f]
    assert any(f'[names] folders = {{ "{folder}" = "." }}' in f for f in hints), backup["findings"]
    assert any(f'[names] tools = {{ "{tool}" = "{tag}-aws" }}' in f for f in hints), backup["findings"]
    assert not any(os.path.lexists(p) for p in (folder, tool))
