"""The report model: verdict rules, round trips, schema validation, deviations, environment capture."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from restore_drill.checks.result import CheckResult
from restore_drill.errors import HarnessFault, ProcedureFailed, StepTimeout
from restore_drill.records import StepRecord
from restore_drill.redact import Redactor
from restore_drill.reports.environment import capture_environment, detect_ci, probe_tool_versions
from restore_drill.reports.model import DrillReport, ErrorInfo, RunReport, S3Info, Targets
from restore_drill.reports.validation import SCHEMA_PATH, validate
from restore_drill.reports.writers import new_run_dir
from tests.report_samples import environment, errored_run, failed_drill, failed_run, passed_drill, passed_run

SAMPLES = {"passed": passed_run, "failed": failed_run, "errored": errored_run}


# --- verdict rules --------------------------------------------------------------------------------

def test_sample_verdicts_and_exit_codes() -> None:
    assert passed_drill().status == "passed"
    assert failed_drill().status == "failed"
    assert [(f().status, f().exit_code) for f in SAMPLES.values()] == [("passed", 0), ("failed", 1), ("errored", 2)]


def test_failed_step_fails_a_drill_whose_checks_all_passed() -> None:
    d = passed_drill()
    d.steps[2] = replace(d.steps[2], status="failed", exit_code=1)
    assert d.status == "failed"
    assert "step 'restore logical backup' failed (exit 1)" in d.status_reason


def test_failed_check_fails_the_drill() -> None:
    d = passed_drill()
    d.checks[2] = CheckResult.failed("row_counts", "public.jobs has 9 rows, manifest says 10")
    assert d.status == "failed"
    assert "row_counts" in d.status_reason


def test_drill_without_checks_or_with_only_skipped_checks_is_never_passed() -> None:
    d = passed_drill()
    d.checks = []
    assert d.status == "errored"
    d.checks = [CheckResult.skipped("physical_integrity", "no amcheck")]
    assert d.status == "errored"
    assert d.status_reason == "no check produced passed/failed evidence"


def test_errored_check_errors_an_otherwise_passing_drill() -> None:
    d = passed_drill()
    d.checks.append(CheckResult.errored("schema_fidelity", "catalog query failed"))
    assert d.status == "errored"


def test_not_run_and_replaced_steps_do_not_fail_but_do_not_count_as_evidence() -> None:
    d = passed_drill()
    d.steps.append(StepRecord("app tests", "verify", "pytest", "not_run", reason="needs app"))
    d.steps.append(StepRecord("sync back", "restore", "aws s3 sync a b", "replaced", reason="re-copies all"))
    assert d.status == "passed"
    # Neither ran as written, so both are deviations (issue 13: steps not run are listed too).
    devs = {x.name: x for x in d.deviations() if x.kind == "step"}
    assert sorted(devs) == ["app tests", "sync back"]
    assert devs["app tests"].status == "not_run" and "needs app" in devs["app tests"].message
    assert not d.executed_as_written


def test_drill_error_status_follows_the_exception_type() -> None:
    d = passed_drill()
    d.error = ErrorInfo.from_exception(StepTimeout("pg_restore timed out after 60s"))
    assert d.error.status == "failed" and d.status == "failed"
    d.error = ErrorInfo.from_exception(HarnessFault("manifest missing"))
    assert d.error.status == "errored" and d.status == "errored"
    d.error = ErrorInfo.from_exception(KeyError("oops"))
    assert d.error.status == "errored" and d.status == "errored"


def test_run_status_aggregation() -> None:
    run = failed_run()
    assert run.status == "failed"
    run.drills[0].checks = []  # one drill errored and one failed: errored wins at run level
    assert run.status == "errored"
    run = passed_run()
    run.error = ErrorInfo.from_exception(ProcedureFailed("restore aborted"))
    assert run.status == "failed"
    run.error = ErrorInfo("HarnessFault", "bug")
    assert run.status == "errored"
    run = passed_run()
    run.drills = []
    assert run.status == "errored"


def test_error_message_goes_through_the_redactor() -> None:
    secret = "hunter2-very-secret"
    exc = ProcedureFailed(f"psql postgresql://app:{secret}@db/pegasus exited 2")
    info = ErrorInfo.from_exception(exc, Redactor([secret]))
    assert secret not in info.message and "***" in info.message


# --- deviations -----------------------------------------------------------------------------------

def test_deviations_list_every_non_passed_item_with_follow_up() -> None:
    d = failed_drill()
    devs = {(x.kind, x.name): x for x in d.deviations()}
    assert set(devs) == {("step", "table-scoped restore"), ("check", "restore_exit_status"),
                         ("check", "row_counts"), ("check", "projector_consistency"),
                         ("step", "application tests")}  # not run: a deviation too
    assert "OPS-412" in devs[("step", "table-scoped restore")].follow_up
    assert all(x.follow_up for x in devs.values())
    assert passed_drill().deviations()[0].name == "physical_integrity"  # the skipped check only
    assert len(passed_drill().deviations()) == 1


def test_missed_objective_without_its_check_is_a_deviation_once() -> None:
    d = passed_drill()
    d.checks = [c for c in d.checks if c.name not in ("rto", "rpo")]
    d.metrics["rto_s"] = 1200.0
    d.targets = Targets(rto_s=900.0, rpo_s=86400.0)
    objectives = [x for x in d.deviations() if x.kind == "objective"]
    assert [(x.name, x.status) for x in objectives] == [("rto", "failed")]
    assert "1200.0s exceeds target 900.0s" in objectives[0].message
    d.checks.append(CheckResult.failed("rto", "RTO 1200 s over target 900 s"))
    assert [x.name for x in d.deviations() if x.kind == "objective"] == []


# --- phases ---------------------------------------------------------------------------------------

def test_phase_context_records_duration_and_failure() -> None:
    d = DrillReport("x", "x[pg16]", "pegasus")
    with d.phase("backup") as p:
        pass
    assert p.status == "passed" and d.started_at == p.started_at and p.duration_s >= 0
    with pytest.raises(ProcedureFailed), d.phase("restore"):
        raise ProcedureFailed("pg_restore exited 1")
    with pytest.raises(RuntimeError), d.phase("checks"):
        raise RuntimeError("bug")
    assert [(x.name, x.status) for x in d.phases] == [("backup", "passed"), ("restore", "failed"),
                                                       ("checks", "errored")]
    with pytest.raises(ValueError, match="unknown phase"), d.phase("coffee"):
        pass


# --- round trips and schema -----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip_through_json_is_lossless(name: str) -> None:
    d = SAMPLES[name]().to_dict()
    again = RunReport.from_dict(json.loads(json.dumps(d))).to_dict()
    assert again == d


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_validate_against_the_shipped_schema(name: str) -> None:
    d = json.loads(json.dumps(SAMPLES[name]().to_dict()))
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(d, schema, cls=jsonschema.Draft202012Validator)  # the file alone, no wrapper
    validate(d)


def test_the_effective_schema_with_the_registries_enums_is_a_valid_schema() -> None:
    """reports.validation does not re-check its schema at run time (0.1 s per command): this test does, for
    the file with every registry's enum filled in, and a broken one is refused."""
    from restore_drill.reports.validation import load_schema

    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    schema["properties"]["status"] = {"type": "no-such-type"}
    with pytest.raises(jsonschema.SchemaError):
        jsonschema.Draft202012Validator.check_schema(schema)


def _mutations() -> dict[str, tuple[str, object]]:
    # json path (dot separated, ints index lists) -> new value; each must be refused.
    return {
        "unknown check status": ("drills.1.checks.1.status", "ok"),
        "check name not an identifier": ("drills.0.checks.0.name", "Row Counts"),
        "rto not a number": ("drills.0.metrics.rto_s", "4.3 s"),
        "missing rpo metric": ("drills.0.metrics", {"rto_s": 1.0}),
        "bad timestamp": ("started_at", "14/03/2025 02:00"),
        "unknown phase": ("drills.0.phases.0.name", "coffee"),
        "schema version 2": ("schema_version", 2),
        "password in restore target": ("drills.0.target.database", "postgresql://drill:pw1234@127.0.0.1/db"),
        "password in s3 endpoint": ("environment.s3.endpoint", "http://AKIAX:s3cretkey@127.0.0.1:9000"),
        "bad backup sha256": ("drills.0.backups.0.sha256", "not-a-hash"),
        "unexpected top-level key": ("extra_key", 1),
        "stored verdict contradicts evidence": ("drills.1.status", "passed"),
        "run verdict contradicts drills": ("status", "passed"),
    }


def _set(d: dict, path: str, value: object) -> None:
    parts = path.split(".")
    cur: object = d
    for p in parts[:-1]:
        cur = cur[int(p)] if isinstance(cur, list) else cur[p]  # type: ignore[index]
    last = parts[-1]
    if isinstance(cur, list):
        cur[int(last)] = value
    else:
        cur[last] = value  # type: ignore[index]


@pytest.mark.parametrize("case", sorted(_mutations()))
def test_validate_refuses_broken_reports(case: str) -> None:
    d = json.loads(json.dumps(failed_run().to_dict()))
    validate(copy.deepcopy(d))  # clean control: the unmutated report is valid
    path, value = _mutations()[case]
    _set(d, path, value)
    with pytest.raises(HarnessFault):
        validate(d)


def test_redacted_url_is_accepted_by_the_schema() -> None:
    run = passed_run()
    run.drills[0].target.database = "postgresql://drill:***@127.0.0.1/rd_pegasus"
    validate(json.loads(json.dumps(run.to_dict())))


# --- environment ----------------------------------------------------------------------------------

def test_detect_ci_providers() -> None:
    gh = detect_ci({"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "77", "GITHUB_RUN_ATTEMPT": "2",
                    "GITHUB_SERVER_URL": "https://gh.invalid", "GITHUB_REPOSITORY": "acme/pegasus"})
    assert gh is not None and (gh.provider, gh.job_id, gh.run_url) == (
        "github-actions", "77.2", "https://gh.invalid/acme/pegasus/actions/runs/77")
    gl = detect_ci({"GITLAB_CI": "true", "CI_JOB_ID": "991", "CI_JOB_URL": "https://gl.invalid/-/jobs/991"})
    assert gl is not None and (gl.provider, gl.job_id) == ("gitlab", "991")
    generic = detect_ci({"CI": "true"})
    assert generic is not None and generic.provider == "generic" and generic.job_id is None
    assert detect_ci({}) is None
    assert detect_ci({"CI": "false"}) is None


def test_capture_environment_strips_endpoint_credentials() -> None:
    env = capture_environment(s3=S3Info("endpoint", "http://minio:topsecret@127.0.0.1:9000"),
                              tools={"psql": "psql (PostgreSQL) 16.4"}, environ={})
    assert env.s3 is not None and "topsecret" not in env.s3.endpoint
    assert env.ci is None and env.host and env.python == sys.version.split()[0]
    run = passed_run()
    run.environment = env
    validate(json.loads(json.dumps(run.to_dict())))


def test_probe_tool_versions_runs_the_real_tools(tmp_path: Path) -> None:
    got = probe_tool_versions({"python": sys.executable, "ghost": tmp_path / "no-such-tool"})
    assert got["python"] == f"Python {sys.version.split()[0]}"
    assert got["ghost"].startswith("unavailable:")


# --- run folders ----------------------------------------------------------------------------------

def test_new_run_dir_is_unique_across_two_processes(tmp_path: Path) -> None:
    code = ("import sys; from pathlib import Path; from restore_drill.reports.writers import new_run_dir;"
            "[print(new_run_dir(Path(sys.argv[1])).name) for _ in range(25)]")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    names = []
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        names += out.split()
    assert len(names) == 50 and len(set(names)) == 50
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted(names)
    assert all(len(n) == len("20250314T020000Z-a1b2c3") and n[8] == "T" and n[15] == "Z" for n in names)
    assert new_run_dir(tmp_path / "new" / "base").parent == tmp_path / "new" / "base"


def test_environment_sample_is_complete() -> None:
    # the sample the writer tests use must exercise every environment field the reports show
    e = environment().to_dict()
    assert all(e[k] for k in ("host", "platform", "python", "user", "ci", "postgres", "s3", "tools"))
