"""The runner on real Postgres, real pg_dump/pg_restore/psql, the real aws CLI against moto."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from restore_drill import disasters
from restore_drill.fixtures import binaries
from restore_drill.fixtures.database import Database
from restore_drill.fixtures.environment import RunbookEnvironment, bind
from restore_drill.fixtures.infra import Infra
from restore_drill.fixtures.s3 import Bucket
from restore_drill.runbook import HookContext, HookOutcome, RunHooks, parse_binding, parse_runbook, run_runbook
from restore_drill.runbook.binding import Binding
from tests.helpers import operator_runbook

RUNBOOK = """\
# Tiny runbook
## Setup
```bash
psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -c "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)"
```
## Backup
```bash
mkdir -p backups
pg_dump "$DATABASE_URL" --format=custom --file="backups/tiny_$(date -u +%Y-%m-%d).dump"
```
## Restore
```bash
pg_restore --clean --if-exists --no-owner --dbname "$DATABASE_URL" backups/<backup-file>.dump
```
## Verify
```bash
psql "$DATABASE_URL" -At -c "SELECT count(*) FROM items"
```
```python
print("not run: python")
```
1. Tell the team.
"""

BINDING = {
    "phases": {"setup": ["Setup"], "backup": ["Backup"], "restore": ["Restore"], "verify": ["Verify"]},
    "hooks": {"seed": "after:Setup"},
    "placeholders": {"<backup-file>": {"source": "backup_stem"}},
    "backup_globs": ["backups/*.dump"],
    "tables": ["public.items"],
}


def _binding(**over: object) -> Binding:
    return parse_binding({**BINDING, **over}, name="tiny")


def _env(db: Database, tmp_path: Path, **kw: object) -> RunbookEnvironment:
    return bind(db=db, client_bins=binaries.client_for(db.major), workdir=tmp_path, **kw)  # type: ignore[arg-type]


def _seed(db: Database, n: int = 20):  # noqa: ANN202
    def hook(ctx: HookContext) -> HookOutcome:
        with db.connect() as c:
            c.execute("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, %s) g", (n,))
            c.commit()
        return HookOutcome(summary=f"seeded {n} items")
    return hook


def _count(db: Database) -> int:
    with db.connect() as c:
        return int(c.execute("SELECT count(*) FROM items").fetchone()[0])  # type: ignore[index]


def _by_name(result, name: str):  # noqa: ANN001, ANN202
    return next(s for s in result.steps if s.name == name)


def test_backup_disaster_restore_in_phase_order_with_records(pg_database: Database, tmp_path: Path) -> None:
    calls: list[str] = []

    def disaster(ctx: HookContext) -> HookOutcome:
        calls.append(f"disaster backups={[p.name for p in ctx.backup_paths]} date={ctx.backup_date}")
        rec = disasters.inject("truncate", disasters.DisasterContext(pg_database, ["items"]))
        return HookOutcome(summary=rec.details["summary"], records=[rec])

    def after_backup(ctx: HookContext) -> None:
        calls.append("after_backup")

    progress: list[tuple[str, str, str]] = []
    book = parse_runbook(RUNBOOK, "tiny.md")
    res = run_runbook(book, _binding(), _env(pg_database, tmp_path), tmp_path / "work",
                      RunHooks(seed=_seed(pg_database), disaster=disaster, after_backup=after_backup,
                               on_step_start=lambda name, ph: progress.append(("start", name, ph)),
                               on_step=lambda s: progress.append(("end", s.name, s.phase))))

    assert res.status == "passed", [(s.name, s.reason) for s in res.failed_steps]
    # The progress display hears of each step as it starts (a spinner names it) and as it ends.
    assert progress == [(ev, s.name, s.phase) for s in res.steps for ev in ("start", "end")]
    assert [(s.name, s.phase, s.status) for s in res.steps] == [
        ("Setup #1", "setup", "passed"), ("[restore-drill] seed", "seed", "passed"),
        ("Backup #1", "backup", "passed"), ("[restore-drill] after_backup", "backup", "passed"),
        ("[restore-drill] disaster", "disaster", "passed"),
        ("Restore #1", "restore", "passed"), ("Verify #1", "verify", "passed"),
        ("Verify #2", "verify", "not_run"), ("Verify #3", "verify", "manual"),
    ]
    assert calls[0] == "after_backup" and calls[1].startswith("disaster backups=['tiny_")
    assert _count(pg_database) == 20  # the restore really restored
    assert _by_name(res, "Verify #1").stdout_tail.strip() == "20"
    assert "```python block" in _by_name(res, "Verify #2").reason

    # the placeholder was bound to the backup just made, and the substitution is on the record
    restore = _by_name(res, "Restore #1")
    (backup,) = res.backups
    stem = Path(backup.path).stem
    assert restore.substitutions == {"<backup-file>": stem}
    assert restore.command.endswith(f"backups/{stem}.dump") and "<backup-file>" in restore.original
    assert restore.effects["tables"]["public.items"] == {"changed": True, "rows_before": 0, "rows_after": 20}
    # <backup-file> is the operator's choice at incident time: bound to this drill's backup, and said so.
    assert restore.findings == [restore.operator_inputs[0]["note"]]
    assert restore.operator_inputs[0]["name"] == "<backup-file>" and restore.operator_inputs[0]["value"] == stem
    assert restore.deviations == []

    # the backup record is what is on disk
    data = Path(backup.path).read_bytes()
    assert backup.sha256 == hashlib.sha256(data).hexdigest() and backup.size_bytes == len(data)
    assert backup.data_tables == ["public.items"] and backup.intended_tables == ["public.items"]
    assert backup.tool_version.startswith("pg_dump (PostgreSQL)")
    assert backup.archive_header["Format"] == "CUSTOM" and backup.started_at <= backup.finished_at
    assert res.hook_records[0]["name"] == "truncate"
    assert set(res.phases) == {"setup", "seed", "backup", "disaster", "restore", "verify"}
    json.dumps(res.to_dict())  # the whole result is plain JSON


def test_failing_step_fails_the_procedure_and_later_steps_still_run(pg_database: Database, tmp_path: Path) -> None:
    bad = RUNBOOK.replace("pg_restore --clean", "pg_restore --no-such-flag --clean")
    res = run_runbook(parse_runbook(bad, "bad.md"), _binding(), _env(pg_database, tmp_path), tmp_path / "w",
                      RunHooks(seed=_seed(pg_database), disaster=lambda ctx: disasters.as_hook(
                          "truncate", lambda h: disasters.DisasterContext(pg_database, ["items"]))(ctx)))
    assert res.status == "failed"
    restore = _by_name(res, "Restore #1")
    assert restore.status == "failed" and restore.exit_code == 1
    assert "--no-such-flag" in restore.command and "unrecognized option" in restore.stderr_tail
    assert restore.reason.startswith("exited 1:")
    assert [s.name for s in res.failed_steps] == ["Restore #1"]
    # the operator would go on: the verify step ran and shows the damage (0 rows after the truncate)
    verify = _by_name(res, "Verify #1")
    assert verify.status == "passed" and verify.stdout_tail.strip() == "0"


def test_on_failure_stop_records_the_rest_as_not_run(pg_database: Database, tmp_path: Path) -> None:
    bad = RUNBOOK.replace("pg_dump ", "pg_dump --no-such-flag ")
    b = _binding(steps=[{"section": "Backup", "on_failure": "stop"}])
    res = run_runbook(parse_runbook(bad, "bad.md"), b, _env(pg_database, tmp_path), tmp_path / "w",
                      RunHooks(seed=_seed(pg_database)))
    assert _by_name(res, "Backup #1").status == "failed"
    assert "the backup phase made no file matching backups/*.dump" in res.findings
    for name in ("Restore #1", "Verify #1"):
        s = _by_name(res, name)
        assert s.status == "not_run" and "'Backup #1' failed and the binding says the operator stops" in s.reason


def test_unbound_placeholder_at_run_time_fails_the_step_saying_why(pg_database: Database, tmp_path: Path) -> None:
    no_file = RUNBOOK.replace('--file="backups/tiny_$(date -u +%Y-%m-%d).dump"', "--file=/dev/null")
    res = run_runbook(parse_runbook(no_file, "x.md"), _binding(), _env(pg_database, tmp_path), tmp_path / "w",
                      RunHooks(seed=_seed(pg_database)))
    restore = _by_name(res, "Restore #1")
    assert restore.status == "failed" and restore.exit_code is None
    assert "placeholder <backup-file> has no value: no backup file matching backups/*.dump" in restore.reason


def test_step_that_cannot_run_is_never_counted_as_passed(pg_database: Database, tmp_path: Path) -> None:
    b = _binding(steps=[{"section": "Verify", "contains": "count(*)", "action": "not_run",
                         "reason": "needs the operators' conda env"}])
    res = run_runbook(parse_runbook(RUNBOOK, "x.md"), b, _env(pg_database, tmp_path), tmp_path / "w",
                      RunHooks(seed=_seed(pg_database)))
    s = _by_name(res, "Verify #1")
    assert s.status == "not_run" and s.exit_code is None and s.stdout_tail == ""
    assert s.reason == "not run: needs the operators' conda env"
    assert "Verify #1" in [x.name for x in res.not_run_steps]
    assert res.to_dict()["not_run_steps"][0] == "Verify #1"


def test_replaced_step_says_what_ran_instead(pg_database: Database, tmp_path: Path) -> None:
    b = _binding(steps=[{"section": "Verify", "contains": "count(*)", "action": "replace",
                         "reason": "the project's count", "run": "psql \"$DATABASE_URL\" -At -c 'SELECT 41 + 1'"}])
    res = run_runbook(parse_runbook(RUNBOOK, "x.md"), b, _env(pg_database, tmp_path), tmp_path / "w",
                      RunHooks(seed=_seed(pg_database)))
    s = _by_name(res, "Verify #1")
    assert s.status == "replaced" and s.stdout_tail.strip() == "42"
    assert s.replaced_by.endswith("'SELECT 41 + 1'") and "the project's count" in s.reason
    assert "count(*)" in s.original  # the runbook's own text stays on the record


def test_step_timeout_is_a_failed_step(pg_database: Database, tmp_path: Path) -> None:
    slow = RUNBOOK.replace('psql "$DATABASE_URL" -At -c "SELECT count(*) FROM items"', "sleep 30")
    res = run_runbook(parse_runbook(slow, "slow.md"), _binding(), _env(pg_database, tmp_path), tmp_path / "w",
                      RunHooks(seed=_seed(pg_database)), step_timeout_s=0.5)
    s = _by_name(res, "Verify #1")
    assert s.status == "failed" and s.reason == "timed out after 0.5s and was killed" and s.duration_s < 10


def test_secrets_are_redacted_in_every_step_record(pg_database: Database, tmp_path: Path,
                                                   s3_bucket: Bucket) -> None:
    leaky = RUNBOOK.replace(
        '```bash\npsql "$DATABASE_URL" -At',
        '```bash\necho "url=$DATABASE_URL"; echo "key=$AWS_SECRET_ACCESS_KEY" >&2\n'
        'echo "PGPASSWORD=<pw>"\npsql "$DATABASE_URL" -At')
    env = _env(pg_database, tmp_path, s3=s3_bucket.endpoint, bucket=s3_bucket.name)
    b = _binding(placeholders={"<backup-file>": {"source": "backup_stem"}, "<pw>": pg_database.password})
    res = run_runbook(parse_runbook(leaky, "leak.md"), b, env, tmp_path / "w", RunHooks(seed=_seed(pg_database)))
    verify = _by_name(res, "Verify #1")
    assert verify.status == "passed"
    assert "url=postgresql://" in verify.stdout_tail and "key=***" in verify.stderr_tail
    dumped = json.dumps(res.to_dict())
    for secret in (pg_database.password, s3_bucket.endpoint.secret_key, s3_bucket.endpoint.access_key):
        assert secret not in dumped
    assert "***" in verify.command  # the substituted password placeholder is masked in the command too


def test_unset_variable_and_curl_without_fail_are_findings(pg_database: Database, tmp_path: Path) -> None:
    text = RUNBOOK.replace('psql "$DATABASE_URL" -At -c "SELECT count(*) FROM items"',
                           'echo "s3://bucket/$RESTORE_PREFIX"\ncurl -sS "http://127.0.0.1:9/never" || true')
    res = run_runbook(parse_runbook(text, "x.md"), _binding(), _env(pg_database, tmp_path), tmp_path / "w",
                      RunHooks(seed=_seed(pg_database)))
    s = _by_name(res, "Verify #1")
    assert s.stdout_tail.strip() == "s3://bucket/"
    assert "$RESTORE_PREFIX is not set: bash expands it to an empty string" in s.findings
    assert any("curl runs without --fail" in f for f in s.findings)
    assert any(f.startswith("Verify #1: $RESTORE_PREFIX is not set") for f in res.findings)


def test_aws_sync_that_transfers_nothing_is_a_finding(pg_database: Database, tmp_path: Path,
                                                      s3_bucket: Bucket) -> None:
    s3_bucket.endpoint.client().put_object(Bucket=s3_bucket.name, Key="data/a.txt", Body=b"a")
    text = RUNBOOK.replace('psql "$DATABASE_URL" -At -c "SELECT count(*) FROM items"\n```',
                           'aws s3 sync "s3://$S3_BUCKET/$S3_PREFIX" "s3://$S3_BUCKET/copy"\n```\n'
                           '```bash\naws s3 sync "s3://$S3_BUCKET/nothing-here" "s3://$S3_BUCKET/copy2"\n```')
    env = _env(pg_database, tmp_path, s3=s3_bucket.endpoint, bucket=s3_bucket.name, prefix="data")
    res = run_runbook(parse_runbook(text, "x.md"), _binding(), env, tmp_path / "w", RunHooks(seed=_seed(pg_database)))
    copied, empty = _by_name(res, "Verify #1"), _by_name(res, "Verify #2")
    assert copied.status == empty.status == "passed"
    assert "copy: s3://" in copied.stdout_tail and not copied.findings
    assert empty.findings == ["aws s3 exited 0 but transferred nothing (no copy/upload/download lines)"]


def test_hook_error_stops_the_run_as_errored(pg_database: Database, tmp_path: Path) -> None:
    def broken(ctx: HookContext) -> HookOutcome:
        raise RuntimeError("seed generator broke")

    res = run_runbook(parse_runbook(RUNBOOK, "x.md"), _binding(), _env(pg_database, tmp_path), tmp_path / "w",
                      RunHooks(seed=broken))
    assert res.status == "errored" and "seed generator broke" in res.error
    assert _by_name(res, "[restore-drill] seed").status == "errored"
    assert all(s.status == "not_run" for s in res.steps if s.phase in ("backup", "restore"))


# -- the operators' real runbooks, end to end ---------------------------------------------------------



def test_arqonbus_runbook_as_written(pg_database: Database, tmp_path: Path) -> None:
    from restore_drill.runbook import builtin_binding
    from restore_drill.seeds import arqonbus

    def seed(ctx: HookContext) -> HookOutcome:
        with pg_database.connect() as c:
            arqonbus.seed(c, seed=1, scale=1)
            c.commit()
        return HookOutcome(summary="seeded")

    book = parse_runbook(operator_runbook("000_bfde4953689c82a4.txt").read_text(), "000_bfde4953689c82a4.txt")
    tables = list(arqonbus.PROJECTOR_TABLES)
    res = run_runbook(book, builtin_binding("arqonbus"), _env(pg_database, tmp_path), tmp_path / "w", RunHooks(
        seed=seed, disaster=disasters.as_hook("truncate", lambda h: disasters.DisasterContext(pg_database, tables))))
    st = {s.name: s for s in res.steps}
    assert st["Migration Apply #1"].status == "passed" and st["Logical Backup #1"].status == "passed"
    assert sorted(res.backups[0].data_tables) == sorted(tables)
    # As written, pg_restore takes the URL as the archive and the real archive as a surplus argument.
    restore = st["Restore (Table-Scoped) #1"]
    assert restore.status == "failed" and restore.exit_code == 1
    assert "too many command-line arguments" in restore.stderr_tail
    assert all(not v["changed"] for v in restore.effects["tables"].values())
    # The runbook's own verification passes while every projector table is empty.
    verify = st["Integrity Verification #1"]
    assert verify.status == "passed" and "0 |          0 |        0" in verify.stdout_tail
    assert st["Integrity Verification #2"].status == "not_run"
    assert res.status == "failed" and [s.name for s in res.failed_steps] == ["Restore (Table-Scoped) #1"]


def test_pegasus_runbook_as_written(drill_infra: Infra, pg_database: Database, s3_bucket: Bucket,
                                    tmp_path: Path) -> None:
    from restore_drill.runbook import builtin_binding
    from restore_drill.seeds import pegasus

    client = s3_bucket.endpoint.client()

    def seed(ctx: HookContext) -> HookOutcome:
        with pg_database.connect() as c:
            pegasus.apply_schema(c)
            pegasus.seed(c, client, s3_bucket.name, "pegasus", seed=7, scale=1)
            c.commit()
        return HookOutcome(summary="seeded")

    binding = builtin_binding("pegasus")
    book = parse_runbook(operator_runbook("003_c2eaccfac875b702.txt").read_text(), "003_c2eaccfac875b702.txt")
    env = _env(pg_database, tmp_path, s3=s3_bucket.endpoint, bucket=s3_bucket.name, prefix="pegasus")
    hook = disasters.as_hook("delete-objects", lambda h: disasters.DisasterContext(
        pg_database, binding.tables, seed=3, bucket=s3_bucket, prefix="pegasus", fraction=0.3))
    res = run_runbook(book, binding, env, tmp_path / "w", RunHooks(seed=seed, disaster=hook))
    assert not res.error, res.error
    st = {s.name: s for s in res.steps}
    date = res.backups[0].path.rsplit("_", 1)[1].removesuffix(".dump")
    assert st["Restore logical backup #1"].status == "passed"
    assert st["Restore logical backup #1"].substitutions == {"YYYY-MM-DD": date}
    # the database was not damaged, so the whole-database restore had nothing to change, and says so
    assert any(f.startswith("exited 0 but changed nothing") for f in st["Restore logical backup #1"].findings)
    assert res.snapshots and res.snapshots[0].prefix == f"pegasus-{date}" and res.snapshots[0].objects
    # RESTORE_PREFIX (which snapshot to restore) is the operator's choice at incident time: the drill binds it
    # to its own backup's snapshot as an operator would, says so, and warns what an empty value would copy.
    sync_back = st["Restore from snapshot prefix #1"]
    assert sync_back.status == "passed"
    oi = next(o for o in sync_back.operator_inputs if o["name"] == "$RESTORE_PREFIX")
    assert oi["value"] == f"pegasus-{date}" and "if empty this command copies the whole backup bucket" in oi["note"]
    assert oi["note"] in sync_back.findings and not sync_back.deviations
    assert {"step": sync_back.name, **oi} in res.operator_inputs
    deleted = [d["key"] for d in res.hook_records[0]["details"]["deleted"]]
    live = {o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket.name, Prefix="pegasus/", MaxKeys=1000)["Contents"]}
    assert set(deleted) <= live  # the deleted objects came back from the snapshot
    assert not [k for k in live if k.startswith(("pegasus/pegasus/", "pegasus/pegasus-"))]  # nothing nested
    # The probes run against the stand-in (labelled), and pass as steps whatever the answer.
    assert st["Restore workflow #3"].status == "replaced" and "stand-in" in st["Restore workflow #3"].reason
    probe = st["Restore workflow #4"]
    assert probe.status == "passed" and probe.stdout_tail.startswith("ready{")
    assert '"standin"' in probe.stdout_tail and '"lecture_found": true' in probe.stdout_tail
    assert any("curl runs without --fail" in f for f in probe.findings)
    assert st["Restore workflow #5"].status == "not_run"  # the smoke job: no replacement supplied here
    assert not [s for s in res.steps if s.status == "failed"]


@pytest.mark.parametrize("name", ["arqonbus", "pegasus"])
def test_builtin_bindings_fit_the_shipped_runbooks(name: str) -> None:
    from restore_drill.runbook import builtin_binding, plan

    path = {"arqonbus": "000_bfde4953689c82a4.txt", "pegasus": "003_c2eaccfac875b702.txt"}[name]
    assert plan(builtin_binding(name), parse_runbook(operator_runbook(path).read_text(), path)).items
