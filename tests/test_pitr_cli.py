"""The point-in-time recovery drills at the command line: what ``--dry-run`` shows, what is refused up front
(before any server starts) and where a refused setting came from. None of these start a server: each
refusal is found by the pre-flight, and the dry run starts nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from restore_drill import catalog
from restore_drill.errors import BadInput

PHYSICAL = [d for d in catalog.DRILLS if d.physical]


def _refused(capsys, tmp_path: Path, args: list[str], words: str) -> str:
    """Run ``restore-drill ARGS``; assert exit 2, one error line holding ``words``, an errored report with
    no drill in it and no drill folder (nothing started). Returns the error line."""
    from restore_drill.cli import main

    with pytest.raises(SystemExit) as e:
        main([*args, "--report-dir", str(tmp_path)])
    out = capsys.readouterr()
    err = [ln for ln in out.err.splitlines() if ln.strip()]
    assert e.value.code == 2, out
    assert err[0].startswith("restore-drill: error: ") and words in err[0], err
    assert not out.out.strip(), out.out  # a dry run printed nothing it would not do
    (report,) = tmp_path.glob("*/report.json")
    data = json.loads(report.read_text())
    assert data["status"] == "errored" and data["drills"] == [], data
    assert not list(tmp_path.glob("*/work")) and not list(tmp_path.glob("*/*/work"))
    return err[0]


def _combine_major() -> int | None:
    from restore_drill.fixtures import binaries

    found = [b.major for b in binaries.servers() if b.has("pg_combinebackup")]
    return max(found) if found else None


def _default_has_combine() -> bool:
    from restore_drill.fixtures import binaries

    return binaries.select(None).has("pg_combinebackup")


# -- 1. the dry run shows the procedure the real run executes ---------------------------------------------

@pytest.mark.parametrize("spec", PHYSICAL, ids=lambda d: d.name)
def test_a_physical_drill_runs_its_pitr_procedure_not_the_logical_one(spec):
    """engine.procedure_files (what the dry run prints, what the pre-flight loads, Drill.runbook_path) gives a
    physical drill the procedure pitr.drill.run_physical executes: <system>-pitr[-variant].md + its binding."""
    from restore_drill.engine import procedure_files
    from restore_drill.pitr.drill import procedure_files as pitr_files
    from restore_drill.systems import resolve_system

    sysdef = resolve_system(spec.system)
    rb, bd = procedure_files(spec, sysdef)
    assert (rb, bd) == pitr_files(sysdef.name, spec.variant)
    assert rb not in (sysdef.corrected, sysdef.runbook) and "-pitr" in rb.name


@pytest.mark.parametrize("name", ["arqonbus-pitr", "pegasus-pitr", "arqonbus-pitr-barman", "pegasus-pitr-barman"])
def test_dry_run_of_a_pitr_drill_prints_its_pitr_procedure(name, capsys):
    """`run <pitr drill> --dry-run` printed drills/procedures/<system>.md (pg_dump) while the run executes
    <system>-pitr*.md: the title, the binding and the steps are now the PITR procedure's."""
    from restore_drill.cli import main
    from restore_drill.pitr.drill import procedure_files as pitr_files

    spec = catalog.get(name)
    rb, bd = pitr_files(spec.system, spec.variant)
    with pytest.raises(SystemExit) as e:
        main(["run", name, "--dry-run"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    title = out.splitlines()[0]
    assert f"drill {name} (corrected: {rb};" in title and f"with binding {bd}" in title, title
    assert "PostgreSQL " in title  # the major it runs on
    assert f"procedures/{spec.system}.md" not in out and "pg_dump " not in out and "pg_restore " not in out
    assert "pg_basebackup" in out or "barman-cloud-backup" in out, out


def test_dry_run_of_the_incremental_drill_on_its_major(capsys):
    """With a PostgreSQL 17+ here, the incremental drill's dry run shows its procedure (pg_combinebackup)."""
    from restore_drill.cli import main

    major = _combine_major()
    if major is None:
        pytest.skip("no PostgreSQL 17+ here (pg_combinebackup)")
    with pytest.raises(SystemExit) as e:
        main(["run", "arqonbus-pitr-incremental", "--dry-run", "--pg-version", str(major)])
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert "arqonbus-pitr-incremental.md" in out.splitlines()[0] and f"PostgreSQL {major})" in out.splitlines()[0]
    assert "pg_combinebackup" in out


def test_dry_run_refuses_the_incremental_drill_on_the_default_major(tmp_path, capsys):
    """The real run refuses arqonbus-pitr-incremental on PostgreSQL 16 (no pg_combinebackup); the dry run
    exited 0. It now refuses the same way: one line, exit 2, errored report."""
    if _default_has_combine():
        pytest.skip("the default PostgreSQL here has pg_combinebackup")
    line = _refused(capsys, tmp_path, ["run", "arqonbus-pitr-incremental", "--dry-run"],
                    "arqonbus-pitr-incremental takes incremental backups")
    assert "PostgreSQL 17+" in line and ("--pg-version" in line or "install PostgreSQL 17" in line)


# -- 2. --procedure runbook on a physical drill ---------------------------------------------------------------

@pytest.mark.parametrize("dry", [False, True], ids=["run", "dry-run"])
def test_procedure_runbook_is_refused_for_a_pitr_drill(tmp_path, capsys, dry):
    """`run arqonbus-pitr --procedure runbook` ran the corrected PITR procedure but recorded procedure
    "runbook" (the compliance page then said the operators' runbook was not executed): wrong evidence. A
    PITR drill has no operators' runbook: refused before anything starts, naming the fix."""
    line = _refused(capsys, tmp_path, ["run", "arqonbus-pitr", "--procedure", "runbook", *(["--dry-run"] if dry else [])],
                    "--procedure runbook: arqonbus-pitr is a point-in-time recovery drill")
    assert "drop --procedure runbook" in line and "arqonbus-pitr.md" in line


def test_an_explicit_runbook_for_a_physical_drill_is_what_runs(tmp_path):
    """Through the library (session.run(runbook_path=...)), a physical drill given a runbook runs that file
    (pitr.drill._run takes Drill.runbook_path when it is not the built-in one), so procedure "runbook" is true."""
    from restore_drill.engine import procedure_files
    from restore_drill.systems import resolve_system

    own, binding = tmp_path / "our-pitr.md", tmp_path / "our-pitr.toml"
    own.write_text("# ours\n")
    binding.write_text("")
    spec = replace(catalog.get("arqonbus-pitr"), procedure="runbook")
    assert procedure_files(spec, resolve_system("arqonbus"), own, binding) == (own, binding)
    with pytest.raises(BadInput, match="no operators' runbook"):
        procedure_files(spec, resolve_system("arqonbus"))


# -- 3. version requirements up front ------------------------------------------------------------------

def test_a_later_drills_major_is_refused_before_the_first_drill_runs(tmp_path, capsys):
    """`run arqonbus-pitr arqonbus-pitr-incremental` ran arqonbus-pitr (~16 s) before refusing the second, in the
    drill table. Every selected drill's requirement is checked by the pre-flight: one line, nothing started."""
    if _default_has_combine():
        pytest.skip("the default PostgreSQL here has pg_combinebackup")
    _refused(capsys, tmp_path, ["run", "arqonbus-pitr", "arqonbus-pitr-incremental"],
             "arqonbus-pitr-incremental takes incremental backups")


def test_pgbackrest_major_is_refused_up_front(tmp_path, capsys):
    """pgBackRest 2.45 supports PostgreSQL <= 15: `run arqonbus-pitr arqonbus-pitr-pgbackrest --pg-version 16`
    is refused before arqonbus-pitr runs."""
    from restore_drill.pitr import pgbackrest

    version = pgbackrest.installed_version()
    top = pgbackrest.max_major(version) if version is not None else None
    if top is None or top >= 16:
        pytest.skip("needs an installed pgBackRest that does not support PostgreSQL 16 (2.45)")
    _refused(capsys, tmp_path, ["run", "arqonbus-pitr", "arqonbus-pitr-pgbackrest", "--pg-version", "16"],
             f"supports PostgreSQL up to {top}, not 16")


def test_requirements_check_names_each_refusal():
    """pitr.requirements.check: the major each drill runs on (DrillSpec.pg_major when no --pg-version), and
    BadInput for a disaster, a backend or a major the drill cannot use; a logical drill is not checked."""
    from restore_drill.config import DrillConfig
    from restore_drill.fixtures import binaries
    from restore_drill.pitr import requirements

    cfg = DrillConfig()
    assert requirements.check(catalog.get("arqonbus-table-restore"), cfg) is None
    assert requirements.check(catalog.get("arqonbus-pitr"), cfg) == binaries.select(None).major
    with pytest.raises(BadInput, match="--disaster truncate: arqonbus-pitr is a point-in-time recovery drill"):
        requirements.check(catalog.get("arqonbus-pitr").with_disaster("truncate"), cfg)
    with pytest.raises(BadInput, match="--pg-backend external: arqonbus-pitr starts its own archiving server"):
        requirements.check(catalog.get("arqonbus-pitr"), DrillConfig(pg_backend="external"))
    with pytest.raises(BadInput, match="PostgreSQL 99 not found"):
        requirements.check(catalog.get("pegasus-pitr"), DrillConfig(pg_version=99))
    major = _combine_major()
    if major is not None:
        assert requirements.check(catalog.get("arqonbus-pitr-incremental"), DrillConfig(pg_version=major)) == major


# -- 4. where a recovery target setting came from ------------------------------------------------------

@pytest.mark.parametrize(("var", "value", "words"), [
    ("RESTORE_DRILL_RECOVERY_TARGET", "garbage", "RESTORE_DRILL_RECOVERY_TARGET 'garbage': use one of time, xid"),
    ("RESTORE_DRILL_RECOVERY_TARGET_OFFSET_S", "-2", "RESTORE_DRILL_RECOVERY_TARGET_OFFSET_S must be a number of "
                                                     "seconds >= 0"),
    ("RESTORE_DRILL_RECOVERY_TARGET_OFFSET_S", "later", "RESTORE_DRILL_RECOVERY_TARGET_OFFSET_S must be a number, "
                                                        "got 'later'"),
])
def test_a_bad_environment_setting_names_the_variable(tmp_path, capsys, monkeypatch, var, value, words):
    """RESTORE_DRILL_RECOVERY_TARGET=garbage said "--recovery-target 'garbage'" though no flag was given."""
    monkeypatch.setenv(var, value)
    line = _refused(capsys, tmp_path, ["run", "arqonbus-pitr"], words)
    assert "--recovery-target" not in line, line


def test_a_bad_pyproject_setting_names_the_file(tmp_path, monkeypatch):
    """A value from [tool.restore-drill] in pyproject.toml names that key and file; a flag names the flag."""
    from restore_drill.config import resolve

    for name in ("RESTORE_DRILL_RECOVERY_TARGET", "RESTORE_DRILL_RECOVERY_TARGET_OFFSET_S", "RESTORE_DRILL_SEED"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "pyproject.toml").write_text('[tool.restore-drill]\nrecovery-target = "xid"\nseed = -3\n')
    with pytest.raises(BadInput) as e:
        resolve({}, cwd=tmp_path)
    assert str(e.value) == f"seed in [tool.restore-drill] of {tmp_path / 'pyproject.toml'} must be >= 0, got -3"
    (tmp_path / "pyproject.toml").write_text('[tool.restore-drill]\nrecovery-target = "xid"\n')
    with pytest.raises(BadInput, match=r"^--recovery-target-offset applies to recovery-target in \[tool"):
        resolve({"recovery_target_offset_s": 1.0}, cwd=tmp_path)
    with pytest.raises(BadInput, match=r"^--recovery-target 'soon': use one of"):
        resolve({"recovery_target": "soon"}, cwd=tmp_path)
    cfg = resolve({}, cwd=tmp_path)
    assert cfg.recovery_target == "xid" and not cfg.from_flag("recovery_target")
    assert resolve({"recovery_target": "lsn"}, cwd=tmp_path).from_flag("recovery_target")


def test_an_environment_target_does_not_break_a_logical_run(tmp_path, capsys, monkeypatch):
    """RESTORE_DRILL_RECOVERY_TARGET=xid with a plain `restore-drill run` (logical default drills) said "drop
    the flag" though no flag was given. A standing setting applies to the run's PITR drills only; the flag with
    a logical drill stays an error (refuse_recovery_target)."""
    from restore_drill.cli import main
    from restore_drill.cli.run import refuse_recovery_target
    from restore_drill.config import resolve
    from restore_drill.pitr.drill import options_from_config

    monkeypatch.setenv("RESTORE_DRILL_RECOVERY_TARGET", "xid")
    with pytest.raises(SystemExit) as e:
        main(["run", "--dry-run", "--report-dir", str(tmp_path)])
    out = capsys.readouterr()
    assert e.value.code == 0 and "drill arqonbus-table-restore" in out.out, out.err
    env_cfg = resolve({}, cwd=tmp_path)
    mixed = [catalog.get("arqonbus-pitr"), catalog.get("arqonbus-table-restore")]
    refuse_recovery_target(env_cfg, mixed)  # applies to arqonbus-pitr, ignored by the logical one
    assert options_from_config(env_cfg).target_kind == "xid"
    with pytest.raises(BadInput, match="--recovery-target applies only to point-in-time recovery drills"):
        refuse_recovery_target(resolve({"recovery_target": "xid"}, cwd=tmp_path), mixed[1:])


def test_help_says_a_standing_recovery_target_is_ignored_by_logical_drills():
    from click.testing import CliRunner

    from restore_drill.cli import cli

    out = " ".join(CliRunner().invoke(cli, ["run", "--help"], terminal_width=200).output.split())
    assert "RESTORE_DRILL_RECOVERY_TARGET" in out and "ignored by its logical drills" in out


# -- 5. --plan with a drill flag -----------------------------------------------------------------------

@pytest.mark.parametrize(("flag", "instead"), [
    (["--recovery-target", "xid"], "run the drill by name without --plan, e.g. restore-drill run arqonbus-pitr "
                                   "--recovery-target xid"),
    (["--disaster", "delete-rows"], "restore-drill run arqonbus-table-restore --disaster delete-rows"),
    (["arqonbus-pitr"], "re-make the plan with restore-drill plan --system"),
])
def test_a_drill_flag_with_a_plan_says_what_to_do_instead(tmp_path, capsys, flag, instead):
    """`run --plan P --recovery-target xid` said "re-make the plan to change them", but `plan` has no such
    option: the message says the flag cannot be combined with --plan and what works instead."""
    from restore_drill.cli import main

    plan = tmp_path / "plan.json"
    main(["plan", "--system", "arqonbus", "-o", str(plan)])
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["run", "--plan", str(plan), *flag, "--report-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.splitlines()[0]
    assert e.value.code == 2
    assert "cannot be combined with --plan" in err and instead in err, err
    assert "to change them" not in err


# -- 6. plan --pg-version ------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["-1", "0", "99"])
def test_plan_refuses_a_major_this_machine_lacks(capsys, version):
    """`restore-drill plan --pg-version -1/99` exited 0 with jobs; it now refuses as `run --pg-version` does."""
    from restore_drill.cli import main

    with pytest.raises(SystemExit) as e:
        main(["plan", "--system", "arqonbus", "--pg-version", "16", "--pg-version", version])
    out = capsys.readouterr()
    err = [ln for ln in out.err.splitlines() if ln.strip()]
    assert e.value.code == 2 and not out.out
    assert len(err) == 1 and err[0].startswith(f"restore-drill: error: PostgreSQL {version} not found"), err
    assert "use --pg-version with one of" in err[0]


def test_plan_accepts_a_major_this_machine_has(capsys):
    from restore_drill.cli import main
    from restore_drill.fixtures import binaries

    major = binaries.servers()[0].major
    main(["plan", "--system", "arqonbus", "--pg-version", str(major)])
    jobs = json.loads(capsys.readouterr().out)["jobs"]
    assert jobs and {j["pg_version"] for j in jobs} == {major}


@pytest.mark.slow
def test_the_dry_run_lists_the_steps_the_real_pitr_run_records(tmp_path):
    """The real check behind finding 1 (~20 s: one real arqonbus-pitr drill): every step the real run records
    is a step the dry run listed, from the same procedure file, and the report's procedure is "corrected"
    with that file as its runbook."""
    import re
    import subprocess
    import sys

    cli = str(Path(sys.executable).parent / "restore-drill")
    step = re.compile(r"^\s*\d+\. \w+\s+(?P<name>.+? #\d+) \(line \d+\):")
    dry = subprocess.run([cli, "run", "arqonbus-pitr", "--dry-run"], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    listed = {m["name"] for ln in dry.stdout.splitlines() if (m := step.match(ln))}
    shown = re.search(r"\(corrected: (\S+);", dry.stdout.splitlines()[0])
    assert listed and shown, dry.stdout
    real = subprocess.run([cli, "run", "arqonbus-pitr", "--quiet", "--report-dir", str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    (report,) = (tmp_path / "runs").glob("*/report.json")
    drill = json.loads(report.read_text())["drills"][0]
    assert real.returncode == 0, real.stdout + real.stderr
    assert (drill["procedure"], drill["runbook"]) == ("corrected", shown[1])
    ran = [s["name"] for s in drill["steps"] if s.get("kind") != "hook"]
    assert ran and set(ran) <= listed, (ran, sorted(listed))


def test_a_value_set_by_a_plan_job_or_run_drill_is_blamed_on_it_not_on_a_flag() -> None:
    """DrillConfig errors name where a value came from; a plan's job (fleet/runner) or pytest's run_drill
    overrides are neither a flag nor the environment, so the message says which set it."""
    from dataclasses import replace

    from restore_drill.config import resolve
    from restore_drill.errors import BadInput as ConfigBadInput

    cfg = resolve()
    with pytest.raises(ConfigBadInput, match=r"^pg_version \(the plan's job j1\) must be"):
        replace(cfg, pg_version=-1, sources={**cfg.sources, "pg_version": "by:the plan's job j1"})
    with pytest.raises(ConfigBadInput, match=r"^scale \(run_drill\(scale=\.\.\.\)\) must be"):
        replace(cfg, scale=-5, sources={**cfg.sources, "scale": "by:run_drill(scale=...)"})
