"""Fleet units (issue 18): content-derived job ids, shards that partition a plan (property-tested), bad
K/N as bad input (one line, exit 2, an errored report), the Kubernetes index, the backup inventory, and
the freshness rules (each stale reason fires on its fault and not on a fresh fleet)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from restore_drill.errors import BadInput
from restore_drill.fleet import freshness, inventory, shards
from restore_drill.fleet.plan import Job, Plan, drill_jobs, load_plan
from tests.fleet_support import cli, read_json, tiny_system


def _job(i: int) -> Job:
    if i % 3 == 2:
        return Job("verify-backup", f"s{i}", None, 18, backup=f"/backups/s{i}_2026-11-30.dump", backup_size_bytes=i,
                   backup_modified_at="2026-11-30T03:00:00Z")
    return Job("drill", f"s{i}", f"s{i}.toml", 16 + 2 * (i % 2), drill=f"s{i}-restore", disaster="truncate",
               procedure="runbook")


def test_job_ids_are_content_derived_not_positional(tmp_path: Path) -> None:
    a, b = tiny_system(tmp_path, "alpha"), tiny_system(tmp_path, "beta")
    one = {j.id: j for j in drill_jobs([str(a), str(b)], [16, 18])}
    two = {j.id: j for j in drill_jobs([str(b), str(a)], [18, 16])}
    assert set(one) == set(two) and len(one) == 4
    # Adding a system adds jobs without renumbering the others.
    three = {j.id for j in drill_jobs([str(a), str(b), str(tiny_system(tmp_path, "gamma"))], [16, 18])}
    assert set(one) < three and len(three) == 6
    assert Plan(list(one.values())).id == Plan(list(two.values())).id


def test_plan_round_trips_and_refuses_an_edited_job(tmp_path: Path) -> None:
    plan = Plan([_job(i) for i in range(5)], shards=2)
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json())
    again = load_plan(path)
    assert [j.id for j in again.jobs] == [j.id for j in plan.jobs] and again.id == plan.id
    assert json.loads(path.read_text())["shards"] == ["1/2", "2/2"]
    doc = json.loads(path.read_text())
    doc["jobs"][0]["pg_version"] = 18  # content changed, id kept
    path.write_text(json.dumps(doc))
    with pytest.raises(BadInput, match="edited after planning"):
        load_plan(path)
    path.write_text("{}")
    with pytest.raises(BadInput, match="not a restore-drill plan"):
        load_plan(path)


@given(n_jobs=st.integers(0, 60), n=st.integers(1, 12))
def test_shards_partition_the_plan(n_jobs: int, n: int) -> None:
    plan = Plan([_job(i) for i in range(n_jobs)])
    slices = [shards.Shard(k, n).take(plan.jobs) for k in range(1, n + 1)]
    ids = [j.id for s in slices for j in s]
    assert len(ids) == len(set(ids)) == n_jobs  # no job twice, none lost
    assert set(ids) == {j.id for j in plan.jobs}
    sizes = [len(s) for s in slices]
    assert max(sizes) - min(sizes) <= 1
    # deterministic: a second plan object from the same jobs in another order slices the same way
    again = Plan([_job(i) for i in reversed(range(n_jobs))])
    assert [[j.id for j in shards.Shard(k, n).take(again.jobs)] for k in range(1, n + 1)] == \
        [[j.id for j in s] for s in slices]


@pytest.mark.parametrize("text, words", [
    ("0/3", "between 1 and 3"), ("4/3", "between 1 and 3"), ("1/0", "must be >= 1"), ("two/3", "is not K/N"),
    ("", "is not K/N"), ("1-3", "is not K/N"),
])
def test_bad_shard_is_bad_input(text: str, words: str) -> None:
    with pytest.raises(BadInput, match=words):
        shards.parse(text)


def test_kubernetes_index_gives_the_shard() -> None:
    assert shards.resolve(None, 3, {"JOB_COMPLETION_INDEX": "0"}) == shards.Shard(1, 3)
    assert shards.resolve(None, None, {"JOB_COMPLETION_INDEX": "2", "RESTORE_DRILL_SHARDS": "3"}) == shards.Shard(3, 3)
    assert shards.resolve("2/5", None, {"JOB_COMPLETION_INDEX": "0"}) == shards.Shard(2, 5)  # explicit wins
    assert shards.resolve(None, None, {}) is None
    with pytest.raises(BadInput, match="RESTORE_DRILL_SHARDS"):
        shards.resolve(None, None, {"JOB_COMPLETION_INDEX": "1"})
    with pytest.raises(BadInput, match="between 1 and 2"):
        shards.resolve(None, 2, {"JOB_COMPLETION_INDEX": "2"})
    with pytest.raises(BadInput, match="needs this shard's number"):
        shards.resolve(None, 3, {})


@pytest.mark.parametrize("command, args, env, words", [
    ("run", ["--shard", "4/3"], {}, "K must be between 1 and 3"),
    ("verify-backup", ["--shard", "x"], {}, "is not K/N"),
    ("run", [], {"JOB_COMPLETION_INDEX": "5", "RESTORE_DRILL_SHARDS": "3"}, "between 1 and 3"),
    ("verify-backup", [], {"JOB_COMPLETION_INDEX": "0"}, "RESTORE_DRILL_SHARDS"),
])
def test_bad_shard_on_the_command_line_is_one_line_exit_2_and_an_errored_report(
        tmp_path: Path, command: str, args: list[str], env: dict[str, str], words: str) -> None:
    (tmp_path / "plan.json").write_text(Plan([_job(1)]).to_json())
    runs = tmp_path / "runs"
    r = cli(command, "--plan", "plan.json", *args, "--report-dir", str(runs), "--quiet", cwd=tmp_path,
            env={"RESTORE_DRILL_SHARDS": "", **env})
    assert r.returncode == 2, r.stdout + r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("restore-drill: error:")]
    assert len(errors) == 1 and words in errors[0], r.stderr
    reports = list(runs.glob("*/report.json"))
    assert len(reports) == 1 and read_json(reports[0])["status"] == "errored"


def test_shard_without_a_plan_is_bad_input(tmp_path: Path) -> None:
    r = cli("run", "--shard", "1/2", "--report-dir", str(tmp_path / "runs"), "--quiet", cwd=tmp_path)
    assert r.returncode == 2 and "needs --plan" in r.stderr
    assert read_json(next((tmp_path / "runs").glob("*/report.json")))["status"] == "errored"


def test_plan_command_writes_jobs_and_shards(tmp_path: Path) -> None:
    a = tiny_system(tmp_path / "sys", "alpha")
    r = cli("plan", "--system", str(a), "--pg-version", "16", "--pg-version", "18", "--shards", "2", "-o", "p.json",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = read_json(tmp_path / "p.json")
    assert [j["pg_version"] for j in doc["jobs"]] and {j["pg_version"] for j in doc["jobs"]} == {16, 18}
    assert doc["shards"] == ["1/2", "2/2"] and all(j["kind"] == "drill" for j in doc["jobs"])
    bad = cli("plan", cwd=tmp_path)
    assert bad.returncode == 2 and "nothing to plan" in bad.stderr
    missing = cli("plan", "--system", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def _touch(path: Path, age: timedelta, now: datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PGDMP")
    ts = (now - age).timestamp()
    os.utime(path, (ts, ts))


def test_inventory_finds_newest_per_system_or_all_within_days(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    _touch(tmp_path / "pegasus_2026-11-28.dump", timedelta(days=2), now)
    _touch(tmp_path / "pegasus_2026-11-30.dump", timedelta(hours=3), now)
    _touch(tmp_path / "arqonbus-20261120T0300.dump", timedelta(days=10), now)
    _touch(tmp_path / "docs" / "nightly.backup", timedelta(days=1), now)
    (tmp_path / "notes.txt").write_text("not a backup")
    found = inventory.find_backups([str(tmp_path)])
    assert {b.system for b in found} == {"pegasus", "arqonbus", "docs"} and len(found) == 4
    newest = {b.system: Path(b.uri).name for b in inventory.select(found)}
    assert newest == {"pegasus": "pegasus_2026-11-30.dump", "arqonbus": "arqonbus-20261120T0300.dump",
                      "docs": "nightly.backup"}
    recent = {Path(b.uri).name for b in inventory.select(found, within_days=3, now=now)}
    assert recent == {"pegasus_2026-11-28.dump", "pegasus_2026-11-30.dump", "nightly.backup"}
    assert [b.system for b in inventory.select(found, systems=["docs"])] == ["docs"]
    with pytest.raises(BadInput, match="not a folder"):
        inventory.find_backups([str(tmp_path / "missing")])


def _row(system: str, status: str, finished: datetime, kind: str = "drill", backup_at: datetime | None = None,
         rpo_s: float | None = 3600) -> dict:
    iso = finished.isoformat().replace("+00:00", "Z")
    backup = {"path": f"{system}.dump", "sha256": "0" * 64,
              "started_at": backup_at.isoformat().replace("+00:00", "Z")} if backup_at else None
    return {"system": system, "kind": kind, "status": status, "finished_at": iso, "backup": backup, "rpo_s": rpo_s}


def test_freshness_names_each_stale_reason_and_passes_a_fresh_fleet() -> None:
    now = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    fresh = [_row("a", "passed", now - timedelta(hours=1)),
             _row("a", "passed", now - timedelta(hours=1), "verify-backup", now - timedelta(minutes=30))]
    assert all(not f.stale for f in freshness.assess(fresh, as_of=now, max_age_days=7))
    rows = [
        _row("old-drill", "passed", now - timedelta(days=9)),
        _row("old-backup", "passed", now - timedelta(hours=1), "verify-backup", now - timedelta(hours=5)),
        _row("never", "failed", now - timedelta(hours=1)),
        _row("no-policy", "passed", now - timedelta(hours=1), "verify-backup", now - timedelta(days=30), rpo_s=None),
    ]
    got = {f.system: [r for r, _ in f.stale] for f in freshness.assess(rows, as_of=now, max_age_days=7)}
    assert got == {"old-drill": ["stale_drill"], "old-backup": ["stale_backup"], "never": ["never_passed"],
                   "no-policy": []}
    # An explicit --backup-max-age judges the system without an RPO target too.
    got = {f.system: [r for r, _ in f.stale]
           for f in freshness.assess(rows, as_of=now, max_age_days=7, backup_max_age_s=86400)}
    assert got["no-policy"] == ["stale_backup"] and got["old-backup"] == []
    # A system the plan names but no run covers was never proven.
    assert [r for r, _ in freshness.assess([], as_of=now, max_age_days=7, systems=["ghost"])[0].stale] == ["never_passed"]


def test_runs_after_the_as_of_instant_are_no_evidence_at_that_instant() -> None:
    """--as-of earlier than every run (a tester's 2020-01-01 gave PASSED/fresh): a pass that finished later did
    not exist then, so the system had never passed as of that instant, and the reason says why."""
    now = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    rows = [_row("a", "passed", now - timedelta(minutes=20), "verify-backup", now - timedelta(minutes=30))]
    [f] = freshness.assess(rows, as_of=datetime(2020, 1, 1, tzinfo=UTC), max_age_days=7)
    assert [r for r, _ in f.stale] == ["never_passed"] and "finished after it" in f.stale[0][1]
    assert f.newest_backup_at is None  # the backup was not taken yet either
    [f] = freshness.assess(rows, as_of=now, max_age_days=7)
    assert not f.stale and f.newest_backup_at is not None


def test_merge_of_nothing_is_bad_input_with_an_errored_fleet_report(tmp_path: Path) -> None:
    r = cli("report", "merge", str(tmp_path / "nowhere"), "--out", "fleet", cwd=tmp_path)
    assert r.returncode == 2
    errors = [line for line in r.stderr.splitlines() if line.startswith("restore-drill: error:")]
    assert len(errors) == 1 and "does not exist" in errors[0]
    doc = read_json(tmp_path / "fleet" / "report.json")
    assert doc["status"] == "errored" and "does not exist" in doc["error"]
    (tmp_path / "empty").mkdir()
    r = cli("report", "merge", "empty", "--out", "fleet2", "--max-age", "0", cwd=tmp_path)
    assert r.returncode == 2 and read_json(tmp_path / "fleet2" / "report.json")["status"] == "errored"
