"""Fleet end to end (issue 18): a plan over three tiny systems x two Postgres versions split into three
shards (slow; the default suite runs two systems, one version, two shards) runs as parallel processes
(the last as a Kubernetes Indexed Job pod: JOB_COMPLETION_INDEX) uploading to one moto bucket;
``report merge`` of the bucket equals the same plan run in one process (drills, statuses, checks).
A stale drill and a stale backup each make the merged verdict fail with a named reason, and a fresh
fleet passes; a missing shard, a changed run folder and a failed upload are reported, never silent."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from restore_drill.fixtures.s3 import MotoS3
from tests.fleet_support import cli, comparable, read_json, start, tiny_system

SYSTEMS = ("alpha", "beta", "gamma")
VERSIONS = ("16", "18")


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    server = MotoS3()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _aws_env(moto: MotoS3) -> dict[str, str]:
    e = moto.endpoint
    return {"AWS_ACCESS_KEY_ID": e.access_key, "AWS_SECRET_ACCESS_KEY": e.secret_key, "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": e.url, "RESTORE_DRILL_SHARDS": ""}


def _run_fleet(root: Path, moto: MotoS3, systems: tuple[str, ...], versions: tuple[str, ...], n: int,
               bucket: str) -> dict[str, Any]:
    """The plan run twice: ``n`` shard processes in parallel to s3://<bucket>/nightly (the last one as a
    Kubernetes Indexed Job pod: JOB_COMPLETION_INDEX + RESTORE_DRILL_SHARDS), and one process to a local
    folder."""
    defs = [str(tiny_system(root / "sys", name).relative_to(root)) for name in systems]
    args = [a for s in defs for a in ("--system", s)] + [a for v in versions for a in ("--pg-version", v)]
    r = cli("plan", *args, "--shards", str(n), "-o", "plan.json", cwd=root)
    assert r.returncode == 0, r.stderr
    moto.endpoint.client().create_bucket(Bucket=bucket)
    env = _aws_env(moto)
    common = ["--plan", "plan.json", "--report-dir", f"s3://{bucket}/nightly", "--quiet"]
    procs = [start("run", *common, "--shard", f"{k}/{n}", cwd=root, env=env) for k in range(1, n)]
    procs.append(start("run", *common, cwd=root, env={**env, "JOB_COMPLETION_INDEX": str(n - 1),
                                                      "RESTORE_DRILL_SHARDS": str(n)}))
    shard_out = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        shard_out.append((p.returncode, out, err))
    single = cli("run", "--plan", "plan.json", "--report-dir", "single", "--quiet", cwd=root, env=env)
    return {"root": root, "bucket": bucket, "env": env, "shards": shard_out, "single": single, "n": n,
            "systems": systems, "plan": read_json(root / "plan.json")}


@pytest.fixture(scope="module")
def fleet(moto: MotoS3, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Fast variant for the default suite: two tiny systems on one Postgres version, two shards."""
    return _run_fleet(tmp_path_factory.mktemp("fleet"), moto, SYSTEMS[:2], VERSIONS[:1], 2, "fleet-fast")


@pytest.fixture(scope="module")
def full_fleet(moto: MotoS3, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The issue's case: three systems x two Postgres versions, three shards."""
    return _run_fleet(tmp_path_factory.mktemp("fleet-full"), moto, SYSTEMS, VERSIONS, 3, "fleet-full")


def _merge(fleet: dict[str, Any], out: str, *sources: str, extra: tuple[str, ...] = ()) -> tuple[int, dict[str, Any], str]:
    r = cli("report", "merge", *sources, "--out", out, *extra, cwd=fleet["root"], env=fleet["env"])
    return r.returncode, read_json(fleet["root"] / out / "report.json"), r.stdout + r.stderr


def _check_merge_equals_single(fleet: dict[str, Any]) -> None:
    for code, out, err in fleet["shards"]:
        assert code == 0, out + err
        assert "uploaded: s3://" in err
    assert fleet["single"].returncode == 0, fleet["single"].stdout + fleet["single"].stderr

    code, sharded, log = _merge(fleet, "merged", f"s3://{fleet['bucket']}/nightly", extra=("--plan", "plan.json"))
    assert code == 0, log
    code1, single, log1 = _merge(fleet, "merged-single", "single", extra=("--plan", "plan.json"))
    assert code1 == 0, log1

    assert comparable(sharded) == comparable(single)
    assert {r["job_id"] for r in sharded["rows"]} == {j["id"] for j in fleet["plan"]["jobs"]}
    assert all(r["status"] == "passed" and r["checks"] for r in sharded["rows"])
    assert {r["shard"] for r in sharded["runs"]} == {f"{k}/{fleet['n']}" for k in range(1, fleet["n"] + 1)}
    assert sharded["status"] == "passed" and not sharded["stale"] and not sharded["missing_jobs"]

    out = fleet["root"] / "merged"
    compliance = (out / "compliance.md").read_text()
    for run in sharded["runs"]:
        assert run["evidence_sha256"] in compliance and not run["evidence_problems"]
        assert run["evidence"]["report.json"] in compliance and "fleet-jobs.json" in run["evidence"]
    compliance_html = (out / "compliance.html").read_text()
    for run in sharded["runs"]:  # the auditor's page says what the Markdown says
        assert run["evidence_sha256"] in compliance_html and run["evidence"]["report.json"] in compliance_html
    html = (out / "report.html").read_text()
    assert html.count("<tr><td>") == len(sharded["rows"]) + len(sharded["systems"])
    suite = ET.parse(out / "junit.xml").getroot()
    assert int(suite.get("tests", 0)) == len(sharded["rows"]) + len(fleet["systems"]) and suite.get("failures") == "0"
    assert (out / "evidence.sha256").is_file()


def test_two_shards_to_one_bucket_merge_equal_the_single_process_run(fleet: dict[str, Any]) -> None:
    assert len(fleet["plan"]["jobs"]) == 2
    _check_merge_equals_single(fleet)


@pytest.mark.slow
def test_three_systems_two_versions_three_shards_merge_equal_the_single_process_run(full_fleet: dict[str, Any]) -> None:
    assert len(full_fleet["plan"]["jobs"]) == len(SYSTEMS) * len(VERSIONS)
    _check_merge_equals_single(full_fleet)


def test_a_stale_drill_fails_the_merged_verdict_with_its_reason(fleet: dict[str, Any]) -> None:
    later = (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%dT%H:%MZ")
    code, doc, log = _merge(fleet, "stale-drill", "single", extra=("--as-of", later, "--max-age", "7"))
    assert code == 1 and doc["status"] == "failed", log
    assert {(s["system"], s["reason"]) for s in doc["stale"]} == {(n, "stale_drill") for n in fleet["systems"]}
    assert "stale_drill: alpha: last passing drill finished" in log
    # the same runs judged with a longer allowance are fresh
    code, doc, log = _merge(fleet, "fresh-drill", "single", extra=("--as-of", later, "--max-age", "30"))
    assert code == 0 and doc["status"] == "passed", log
    # an earlier fleet report kept beside the runs is not taken for a run
    shutil.copytree(fleet["root"] / "single", fleet["root"] / "with-fleet" / "runs")
    shutil.copytree(fleet["root"] / "fresh-drill", fleet["root"] / "with-fleet" / "fleet")
    code, again, log = _merge(fleet, "fresh-again", "with-fleet", extra=("--as-of", later, "--max-age", "30"))
    assert code == 0 and comparable(again) == comparable(doc), log


def test_merge_can_write_the_fleet_report_to_the_bucket(fleet: dict[str, Any], moto: MotoS3) -> None:
    """The report reaches the bucket, the local temp copy is removed (tester finding 13), and the summary
    counts the plan's jobs, not run folders."""
    tmp = fleet["root"] / "merge-tmp"
    tmp.mkdir()
    r = cli("report", "merge", "single", "--plan", "plan.json", "--out", f"s3://{fleet['bucket']}/fleet",
            cwd=fleet["root"], env={**fleet["env"], "TMPDIR": str(tmp)})
    assert r.returncode == 0, r.stdout + r.stderr
    listing = moto.endpoint.client().list_objects_v2(Bucket=fleet["bucket"], Prefix="fleet/")["Contents"]
    names = {o["Key"].rsplit("/", 1)[-1] for o in listing}
    assert {"report.json", "report.html", "compliance.md", "compliance.html", "junit.xml", "evidence.sha256"} <= names
    assert list(tmp.iterdir()) == []
    jobs = len(fleet["plan"]["jobs"])
    assert f"fleet verdict: PASSED ({jobs} jobs, 1 run)" in r.stdout, r.stdout


def test_a_stale_backup_fails_the_merged_verdict_with_its_reason(fleet: dict[str, Any], moto: MotoS3) -> None:
    root = fleet["root"]
    dump = next((root / "single").glob("*/work/alpha-restore/alpha.dump"))
    major = read_json(dump.parents[2] / "report.json")["environment"]["postgres"]["server_version"].split(".")[0]
    # the backups live in the bucket: the plan lists them there and the shard downloads its own
    s3 = moto.endpoint.client()
    s3.upload_file(str(dump), fleet["bucket"], "backups/alpha_2026-11-29.dump")
    s3.upload_file(str(dump), fleet["bucket"], "backups/alpha_2026-11-30.dump")
    r = cli("plan", "--backups", f"s3://{fleet['bucket']}/backups", "--system", "sys/alpha.toml", "--no-drills",
            "--pg-version", major, "-o", "backups-plan.json", cwd=root, env=fleet["env"])
    assert r.returncode == 0, r.stderr
    jobs = read_json(root / "backups-plan.json")["jobs"]
    assert [j["backup"] for j in jobs] == [f"s3://{fleet['bucket']}/backups/alpha_2026-11-30.dump"]  # newest
    r = cli("verify-backup", "--plan", "backups-plan.json", "--report-dir", "verified", "--quiet", cwd=root,
            env=fleet["env"])
    assert r.returncode == 0, r.stdout + r.stderr
    # alpha's policy is its RPO target, 3600 s: two hours later its newest backup is too old
    later = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%MZ")
    code, doc, log = _merge(fleet, "stale-backup", "verified", extra=("--as-of", later))
    assert code == 1 and doc["status"] == "failed", log
    assert [(s["system"], s["reason"]) for s in doc["stale"]] == [("alpha", "stale_backup")]
    alpha = next(s for s in doc["systems"] if s["system"] == "alpha")
    assert alpha["policy_source"] == "targets.rpo_s" and alpha["backup_policy_s"] == 3600
    assert "stale_backup: alpha: newest backup s3://" in log
    code, doc, log = _merge(fleet, "fresh-backup", "verified")
    assert code == 0 and doc["status"] == "passed" and not doc["stale"], log


def test_a_missing_shard_and_a_changed_run_folder_make_the_merge_errored(fleet: dict[str, Any]) -> None:
    root = fleet["root"]
    # a plan with one more system than was run: its job has no run folder
    extra = str(tiny_system(root / "sys", "delta").relative_to(root))
    args = [a for n in (*fleet["systems"], "delta") for a in ("--system", f"sys/{n}.toml" if n != "delta" else extra)]
    r = cli("plan", *args, "--pg-version", VERSIONS[0], "-o", "bigger-plan.json", cwd=root)
    assert r.returncode == 0, r.stderr
    code, doc, log = _merge(fleet, "one-missing", "single", extra=("--plan", "bigger-plan.json"))
    assert code == 2 and [j["system"] for j in doc["missing_jobs"]] == ["delta"] and "has no run folder" in log
    jobs = len(fleet["plan"]["jobs"]) + 1
    assert f"({jobs} jobs (1 with no run folder), 1 run)" in log
    assert {r["job_id"] for r in doc["rows"]} == {j["id"] for j in fleet["plan"]["jobs"]}  # same ids as planned before
    runs = sorted((root / "single").glob("*/report.json"))
    copy = root / "tampered" / runs[0].parent.name
    shutil.copytree(runs[0].parent, copy)
    (copy / "report.md").write_text("all passed, trust me\n")
    code, doc, log = _merge(fleet, "tampered-merge", str(copy))
    assert code == 2 and "changed: report.md" in log


def test_a_failed_upload_is_reported_with_the_local_copy(fleet: dict[str, Any]) -> None:
    root = fleet["root"]
    # bad input still writes an errored report, which must reach the bucket too: here it cannot
    r = cli("run", "--plan", "no-such-plan.json", "--report-dir", "s3://no-such-bucket/x", "--quiet",
            cwd=root, env=fleet["env"])
    assert r.returncode == 2, r.stdout + r.stderr
    line = next(x for x in r.stderr.splitlines() if "could not upload" in x)
    assert line.startswith("restore-drill: error:") and "NoSuchBucket" in line and "it is kept at" in line
    assert fleet["env"]["AWS_SECRET_ACCESS_KEY"] not in r.stdout + r.stderr
    kept = Path(line.split("it is kept at ")[1].split(":")[0])
    assert read_json(kept / "report.json")["status"] == "errored"
    shutil.rmtree(kept.parent, ignore_errors=True)


def test_a_command_without_a_plan_uploads_its_run_folder_too(fleet: dict[str, Any], moto: MotoS3) -> None:
    root = fleet["root"]
    dump = next((root / "single").glob("*/work/alpha-restore/alpha.dump"))
    major = read_json(dump.parents[2] / "report.json")["environment"]["postgres"]["server_version"].split(".")[0]
    r = cli("verify-backup", str(dump), "--pg-version", major, "--report-dir", f"s3://{fleet['bucket']}/plain",
            "--quiet", cwd=root, env=fleet["env"])
    assert r.returncode == 0, r.stdout + r.stderr
    keys = [o["Key"] for o in moto.endpoint.client().list_objects_v2(Bucket=fleet["bucket"], Prefix="plain/")["Contents"]]
    assert any(k.endswith("/report.json") for k in keys) and any(k.endswith("/evidence.sha256") for k in keys)
    assert "uploaded: s3://" in r.stderr


def test_the_fleet_compliance_page_escapes_what_a_run_wrote() -> None:
    """compliance.html is compliance.md rendered: a finding text carrying markup (a system name, a reason taken
    from a run folder) is shown as text, never as live HTML, and the evidence hashes read the same."""
    from restore_drill.fleet.fleet_writers import render_compliance, render_compliance_html

    doc = {"status": "failed", "as_of": "2026-11-30T00:00:00Z", "generated_at": "2026-11-30T00:00:01Z",
           "tool": {"name": "restore-drill", "version": "0"}, "plan_id": None, "stale": [],
           "rows": [{"system": "a", "label": "a-drill[pg16]", "status": "passed", "checks": [
               {"name": "rto", "status": "passed", "message": "restored in 4.6 s | target 900 s"},
               {"name": "row_counts", "status": "passed", "message": "3 tables"}]}],
           "reasons": ["system <script>alert(1)</script> never passed"],
           "runs": [{"run_id": "r1", "status": "failed", "source": "s3://b/r1", "shard": None, "plan_id": None,
                     "evidence_sha256": "ab" * 32, "evidence_problems": [], "evidence": {"report.json": "cd" * 32}}]}
    html = render_compliance_html(doc)
    assert "<script>" not in html and "&lt;script&gt;" in html
    # each job's measured objectives, from its own checks; what it did not measure is said, not invented
    md = render_compliance(doc)
    assert "| a | a-drill[pg16] | passed | passed: restored in 4.6 s \\| target 900 s | not measured | not measured |" in md
    assert "<td>passed: restored in 4.6 s | target 900 s</td>" in html and "row_counts" not in md
    assert "ab" * 32 in html and "cd" * 32 in html and "ab" * 32 in render_compliance(doc)
