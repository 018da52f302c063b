"""What a binding declares instead of rewriting commands, and how the runner reads a block: fast tests
(no server) for wrappers, [names], block phase markers, pre-flight, operator inputs, failing-line location;
plus one runner test on a real server for a multi-command block that fails in its middle."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from restore_drill.errors import BadInput
from restore_drill.fixtures import binaries
from restore_drill.fixtures.database import Database
from restore_drill.fixtures.environment import bind, libpq_env
from restore_drill.runbook import parse_binding, parse_runbook, plan, run_runbook, wrappers
from restore_drill.runbook.binding import PlannedStep
from restore_drill.runbook.preflight import missing_tools, reason, tools_used
from restore_drill.runbook.runner import first_error_line, is_operator_input, operator_input, rclone_remotes

TARGETS = {"app_db", "postgres-0"}


@pytest.mark.parametrize("tool, args, command", [
    ("docker", ["exec", "-i", "app_db", "psql", "--username=postgres", "-c", "SELECT 1"],
     ["psql", "--username=postgres", "-c", "SELECT 1"]),
    ("docker", ["exec", "-it", "-u", "postgres", "-e", "A=b", "app_db", "pg_dump", "app"], ["pg_dump", "app"]),
    ("podman", ["container", "exec", "app_db", "psql"], ["psql"]),
    ("docker", ["compose", "-f", "prod.yml", "exec", "-T", "app_db", "pg_dump", "-Fc", "app"], ["pg_dump", "-Fc", "app"]),
    ("docker-compose", ["exec", "app_db", "psql"], ["psql"]),
    ("kubectl", ["exec", "-n", "prod", "-it", "postgres-0", "--", "pg_dump", "app"], ["pg_dump", "app"]),
    ("kubectl", ["-n", "prod", "exec", "pod/postgres-0", "-c", "pg", "--", "psql"], ["psql"]),
    ("sudo", ["-u", "postgres", "pg_dump", "-Fc", "app"], ["pg_dump", "-Fc", "app"]),
    ("sudo", ["-iu", "postgres", "psql"], ["psql"]),
])
def test_wrappers_unwrap_into_the_wrapped_command(tool: str, args: list[str], command: list[str]) -> None:
    got = wrappers.unwrap(tool, args, TARGETS, {"postgres"})
    assert isinstance(got, wrappers.Unwrapped), got
    assert got.command == command


@pytest.mark.parametrize("tool, args, words", [
    ("docker", ["exec", "-i", "prod_db", "psql"], "'prod_db' is not the drill's database"),
    ("docker", ["start", "app_db"], "real container engine"),
    ("docker", ["compose", "down", "-v"], "real containers"),
    ("kubectl", ["delete", "pod", "postgres-0"], "real cluster"),
    ("kubectl", ["exec", "other-0", "--", "psql"], "'other-0' is not the drill's database"),
    ("sudo", ["-i"], "without a command"),
    ("systemctl", ["stop", "mastodon-web"], "this host's services"),
])
def test_wrappers_refuse_what_would_reach_real_infrastructure(tool: str, args: list[str], words: str) -> None:
    got = wrappers.unwrap(tool, args, TARGETS)
    assert isinstance(got, wrappers.Refusal) and words in got.reason


def test_sudo_sets_pguser_only_for_roles_the_drill_created() -> None:
    assert wrappers.unwrap("sudo", ["-u", "postgres", "psql"], set(), {"postgres"}).env == {"PGUSER": "postgres"}  # type: ignore[union-attr]
    assert wrappers.unwrap("sudo", ["-u", "www-data", "psql"], set(), {"postgres"}).env == {}  # type: ignore[union-attr]


def test_wrapper_shim_runs_the_wrapped_command_and_refuses_others(tmp_path: Path) -> None:
    bindir = wrappers.write_shims(tmp_path / "bin")
    env = {"PATH": f"{bindir}:/usr/bin:/bin", wrappers.TARGETS_VAR: "app_db"}
    ok = subprocess.run(["docker", "exec", "-i", "app_db", "echo", "inside"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout == "inside\n" and "docker exec app_db" in ok.stderr
    no = subprocess.run(["docker", "exec", "prod", "echo", "x"], env=env, capture_output=True, text=True)
    assert no.returncode == wrappers.REFUSED_EXIT and no.stdout == "" and "not run" in no.stderr


def test_names_are_validated_with_a_line_naming_the_key() -> None:
    b = parse_binding({"phases": {"backup": ["B"]}, "names": {"database": "app", "user": "app", "roles": ["ro"],
                                                              "containers": ["db"], "remotes": ["bk"]}}, name="x")
    assert b.names.all_roles == ("app", "ro") and b.names.containers == ("db",) and b.names.remotes == ("bk",)
    with pytest.raises(BadInput, match=r"\[names\] has unknown key\(s\) \['bucket'\]"):
        parse_binding({"phases": {"backup": ["B"]}, "names": {"bucket": "x"}}, name="x")
    with pytest.raises(BadInput, match="names.database"):
        parse_binding({"phases": {"backup": ["B"]}, "names": {"database": "my app; drop"}}, name="x")


@pytest.mark.parametrize("names, words", [
    ({"folders": {"srv/app": "."}}, "give the absolute path exactly as the runbook spells it"),
    ({"folders": {"/": "."}}, "not a system folder"),
    ({"folders": {"/usr": "."}}, "not a system folder"),
    ({"folders": {"/srv/app": "../elsewhere"}}, "map it to a folder inside the drill's working folder"),
    ({"folders": {"/srv/app": "/etc"}}, "map it to a folder inside the drill's working folder"),
    ({"tools": {"/usr/local/bin/aws": "/usr/bin/aws"}}, "map it to the name of a tool the drill has"),
    ({"tools": ["/usr/local/bin/aws"]}, r"names.tools must map host paths"),
])
def test_host_folders_and_tools_are_validated_naming_the_entry(names: dict[str, object], words: str) -> None:
    """[names] folders/tools: absolute host paths (never / or a system folder) -> a folder inside the working
    folder / a tool name; anything else is one BadInput line naming the entry."""
    ok = parse_binding({"phases": {"backup": ["B"]}, "names": {
        "folders": {"/srv/app/": "backups"}, "tools": {"/usr/local/bin/aws": "aws"}}}, name="x")
    assert ok.names.folders == {"/srv/app": "backups"} and ok.names.tools == {"/usr/local/bin/aws": "aws"}
    with pytest.raises(BadInput, match=words):
        parse_binding({"phases": {"backup": ["B"]}, "names": names}, name="x")


def test_host_path_hints_name_the_path_and_the_names_key() -> None:
    """A failed step's stderr naming a literal host path the binding does not declare gets one finding per path
    naming the [names] line; declared paths and paths the runbook does not spell get none."""
    from restore_drill.runbook.findings import host_path_hints

    script = "cd /srv/app\n/usr/local/bin/aws s3 ls\npg_dump -f /data/out/x.dump\n"
    err = ("bash: line 2: cd: /srv/app: No such file or directory\n"
           "bash: line 3: /usr/local/bin/aws: No such file or directory\n"
           'pg_dump: error: could not open output file "/data/out/x.dump": No such file or directory\n'
           "cat: /etc/elsewhere: No such file or directory\n")
    hints = host_path_hints(err, script, {}, {})
    assert len(hints) == 3
    assert '[names] folders = { "/srv/app" = "." }' in hints[0]
    assert '[names] tools = { "/usr/local/bin/aws" = "aws" }' in hints[1]
    assert '[names] folders = { "/data/out" = "." }' in hints[2]
    assert host_path_hints(err, script, {"/srv/app": ".", "/data/out": "."}, {"/usr/local/bin/aws": "aws"}) == []


ONE_HEADING = """\
# App
## Backup and restore
```bash restore-drill:backup
pg_dump -Fc app -f app.dump
```
<!-- restore-drill:restore -->
```bash
pg_restore -d app app.dump
```
```bash
psql -c 'SELECT 1'
```
"""


def test_block_phase_markers_phase_blocks_under_one_heading() -> None:
    book = parse_runbook(ONE_HEADING, "one.md")
    assert [s.phase for _, s in book.steps()] == ["backup", "restore", ""]
    b = parse_binding({"phases": {"verify": ["Backup and restore"]},
                       "steps": [{"section": "Backup and restore", "index": 3, "phase": "verify"}]}, name="x")
    order = [(it.phase, it.step.index) for it in plan(b, book).items if isinstance(it, PlannedStep)]
    assert order == [("backup", 1), ("restore", 2), ("verify", 3)]


def test_step_rule_phase_alone_phases_a_section_the_binding_does_not_name() -> None:
    book = parse_runbook("# A\n## Ops\n```bash\npg_dump x\n```\n```bash\npg_restore x\n```\n", "a.md")
    b = parse_binding({"phases": {"never": []}, "steps": [
        {"section": "Ops", "index": 1, "phase": "backup"}, {"section": "Ops", "index": 2, "phase": "restore"}]},
        name="x")
    assert [it.phase for it in plan(b, book).items if isinstance(it, PlannedStep)] == ["backup", "restore"]
    with pytest.raises(BadInput, match="restore-drill:later is not a phase"):
        parse_runbook("# A\n<!-- restore-drill:later -->\n```bash\ntrue\n```\n", "a.md")


def test_preflight_finds_the_tools_a_block_calls() -> None:
    text = "# s3cmd is commented out\npg_dump app | gzip > a.gz\nrclone copy bk:bucket/x ./x\necho '/opt/mc'\n"
    assert tools_used(text) == ["pg_dump", "rclone"]
    assert missing_tools(text, "/nonexistent") == ["pg_dump", "rclone"]
    assert "rclone is not installed" in reason(["rclone"]) and "make tools" in reason(["rclone"])
    book = parse_runbook("# A\n```bash\nrclone sync backup:$BUCKET/x offsite:y/ && rclone ls s3:z\n```\n", "a.md")
    assert rclone_remotes(book) == ("backup", "offsite", "s3")


def test_operator_inputs_are_told_apart_from_rewrites() -> None:
    assert is_operator_input("<backup-file>") and is_operator_input("YYYY-MM-DD") and is_operator_input("YYYYMMDD")
    assert not is_operator_input("localhost") and not is_operator_input("mataroa")
    bulk = operator_input("$RESTORE_PREFIX", "app-2026-03-01", "x",
                          'aws s3 sync "s3://$BACKUP_BUCKET/$RESTORE_PREFIX" "s3://$S3_BUCKET/app"')
    assert "if empty this command copies the whole backup bucket" in bulk["note"]
    single = operator_input("<backup-file>", "app_2026", "x", "pg_restore -d app backups/<backup-file>.dump")
    assert "whole backup bucket" not in single["note"] and "left to the operator" in single["note"]


def test_first_error_line_skips_progress_output() -> None:
    err = "pg_restore: connecting to database for restore\npg_restore: error: could not open input file\nlater\n"
    assert first_error_line(err) == "pg_restore: error: could not open input file"
    assert first_error_line("just text\n") == "just text"


def test_libpq_env_points_at_the_tcp_listener_of_an_embedded_server() -> None:
    db = Database("shop", "shop", "pw", "/tmp/x/sock", 5999, None, "16.0", backend="embedded")
    assert libpq_env(db) == {"PGHOST": "127.0.0.1", "PGPORT": "5999", "PGUSER": "shop", "PGDATABASE": "shop",
                             "PGPASSWORD": "pw"}


MULTI = """\
# Multi
## Backup
```bash
pg_dump "$DATABASE_URL" -Fc -f ok.dump
psql "$DATABASE_URL" -c 'SELECT * FROM no_such_table'
pg_dump "$DATABASE_URL" -Fc -f also_ok.dump
```
"""


def test_failed_block_names_its_first_failing_line_and_first_error(pg_database: Database, tmp_path: Path) -> None:
    """The middle line of a block fails and the block goes on: the record names that line (runbook line 5),
    its text and psql's first error line, not whatever the block printed last."""
    env = bind(db=pg_database, client_bins=binaries.client_for(pg_database.major), workdir=tmp_path)
    multi = MULTI.replace("-f also_ok.dump", "-f also_ok.dump && false")
    res = run_runbook(parse_runbook(multi, "multi.md"), parse_binding({"phases": {"backup": ["Backup"]}}, name="m"),
                      env, tmp_path / "w")
    step = res.steps[0]
    assert step.status == "failed"
    assert step.failed_line == 5 and step.failed_command.startswith("psql")
    assert 'relation "no_such_table" does not exist' in step.first_error
    assert "line 2 of the block" in step.reason and "later failing lines: 3" in step.reason


def test_a_placeholder_rewrite_is_a_deviation_an_operator_input_is_a_finding(pg_database: Database,
                                                                           tmp_path: Path) -> None:
    """shared/cases/byo-libpq-flags (the old workaround): rewriting the runbook's literal text through
    [placeholders] is recorded as a deviation on the step and the result; a fill-in such as <backup-file> is an
    operator input (a finding), not a deviation."""
    env = bind(db=pg_database, client_bins=binaries.client_for(pg_database.major), workdir=tmp_path)
    book = parse_runbook("# R\n## Backup\n```bash\npg_dump -Fc mataroa -f backups_<backup-file>.dump\n```\n", "r.md")
    binding = parse_binding({"phases": {"backup": ["Backup"]}, "placeholders": {
        "mataroa": {"source": "value", "value": '"$DATABASE_URL"'}, "<backup-file>": "x"}}, name="r")
    res = run_runbook(book, binding, env, tmp_path / "w")
    step = res.steps[0]
    assert step.status == "passed", step.reason
    assert len(step.deviations) == 1 and "'mataroa' was replaced" in step.deviations[0]
    assert res.deviations == [f"{step.name}: {step.deviations[0]}"]
    assert [o["name"] for o in step.operator_inputs] == ["<backup-file>"] and step.operator_inputs[0]["value"] == "x"


def test_discover_reads_hosts_and_dump_targets() -> None:
    """shared/cases/byo-libpq-flags: the host a runbook names (other than localhost) and where pg_dump writes go
    into the starter binding as declarations."""
    import tomllib

    from restore_drill.runbook.discover import discover, names_table

    book = parse_runbook("# A\n```bash\npg_dump -Fc app -h db.internal -U app -f \"app_$(date +%F).dump\"\n"
                         "psql -h localhost -d app -c 'SELECT 1'\n```\n", "a.md")
    found = discover(book)
    assert found.backup_globs == ["app_*.dump"]
    assert tomllib.loads(names_table(found))["names"] == {"database": "app", "user": "app", "hosts": ["db.internal"]}
