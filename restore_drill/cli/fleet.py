"""Fleet options on existing commands, and ``report merge`` (library: ``restore_drill.fleet``).

``register(cli)`` adds to ``run`` and ``verify-backup``: ``--plan FILE`` (run a plan's jobs),
``--shard K/N`` / ``--shards N`` (one slice; in a Kubernetes Indexed Job K comes from
JOB_COMPLETION_INDEX), ``--endpoint-url`` (the S3 endpoint for s3:// report folders and backups), and
makes ``--report-dir s3://bucket/prefix`` work: the run folder is written to a local temporary folder,
then uploaded; a failed upload is one error line and exit status 2, the local copy kept and named.
It turns ``report`` into a group whose ``merge`` subcommand combines run folders into a fleet report;
``report RUN_DIR`` and ``report --history`` keep working.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from ..errors import BadInput, DrillError

_PLAN_HELP = ("Run the jobs of a plan made by `restore-drill plan` (with --shard: one slice of it); `run` runs "
              "every job of the slice, `verify-backup` only its verify-backup jobs.")
_SHARD_HELP = ("Run slice K of N of the plan, e.g. --shard 2/3; in a Kubernetes Indexed Job leave it out: "
               "K comes from JOB_COMPLETION_INDEX and N from --shards or RESTORE_DRILL_SHARDS.")
_ENDPOINT_HELP = ("S3-compatible endpoint for an s3:// --report-dir and s3:// backups in the plan (default "
                  "AWS_ENDPOINT_URL, else AWS); credentials from the usual AWS environment.")


def _worst(codes: list[int]) -> int:
    return max(codes) if codes else 0


def _say_error(e: DrillError) -> None:
    click.echo(f"restore-drill: error: {e}", err=True)


def _errored(e: DrillError, argv: list[str], base: Path) -> int:
    """One line, an errored report in ``base``, the exit code (2)."""
    from .. import session

    _say_error(e)
    _, run_dir = session.errored_report(None, argv, e, base)
    if run_dir is not None:
        click.echo(f"report: {run_dir}/report.json (errored)", err=True)
    return e.exit_code


def _upload(base: Path, dest: Any, endpoint: str | None) -> int:
    """Upload every run folder under ``base`` to ``dest``; 0, or 2 after one error line per failure."""
    from ..fleet.destination import upload_dir

    code = 0
    for run_dir in sorted(p for p in base.iterdir() if (p / "report.json").is_file()):
        try:
            upload_dir(run_dir, dest, endpoint)
            click.echo(f"uploaded: {dest}/{run_dir.name}", err=True)
        except DrillError as e:
            _say_error(e)
            code = 2
    if code == 0:
        shutil.rmtree(base, ignore_errors=True)
    return code


def _run_plan(kind: str, plan_file: Path, shard: Any, kw: dict[str, Any], argv: list[str], base: Path,
              endpoint: str | None) -> int:
    """Run the plan's slice (``run``: every job; ``verify-backup``: its verify-backup jobs); exit code."""
    from ..config import DrillConfig
    from ..fleet.plan import load_plan
    from ..fleet.runner import run_jobs, stamp
    from ._common import drill_config, finish

    plan = load_plan(plan_file)
    jobs = shard.take(plan.jobs) if shard is not None else list(plan.jobs)
    if kind == "verify-backup":
        jobs = [j for j in jobs if j.kind == "verify-backup"]
        cfg = DrillConfig(report_dir=base, step_timeout_s=kw.get("timeout_s") or 3600.0)
    else:
        # What to do instead must be something that exists: `plan` takes --system (and --pitr), not the others.
        replan = "re-make the plan with restore-drill plan --system NAME|PATH (--pitr adds the PITR drills)"
        by_name = "restore-drill plan cannot set it: run the drill by name without --plan, e.g. restore-drill run"
        for flag, value, instead in (
                ("NAMES", kw.get("names"), replan), ("--system", kw.get("system"), replan),
                ("--procedure", kw.get("procedure"), f"{by_name} pegasus-full-restore --procedure runbook"),
                ("--disaster", kw.get("disaster"), f"{by_name} arqonbus-table-restore --disaster delete-rows"),
                ("--recovery-target", kw.get("recovery_target"), f"{by_name} arqonbus-pitr --recovery-target xid"),
                ("--recovery-target-offset", kw.get("recovery_target_offset_s") is not None,
                 f"{by_name} arqonbus-pitr --recovery-target-offset 0.5")):
            if value:
                raise BadInput(f"{flag} cannot be combined with --plan (the plan's jobs say what to drill); {instead}")
        cfg = drill_config({**kw, "disaster": None, "report_dir": base})
    where = f"plan {plan.id}" + (f" shard {shard}" if shard is not None else "")
    if not jobs:
        click.echo(f"{where} has no {'verify-backup ' if kind == 'verify-backup' else ''}jobs "
                   f"(the plan has {len(plan.jobs)}); nothing to run", err=True)
        return 0
    click.echo(f"{where}: {len(jobs)} of {len(plan.jobs)} jobs", err=True)
    folders = run_jobs(jobs, cfg, argv, base, plan_id=plan.id, shard=str(shard or "1/1"), endpoint=endpoint,
                       progress=False if kw.get("quiet") else None)
    for f in folders:
        stamp(f, plan.id, str(shard or "1/1"))
        finish(f.report, f.path)
    return _worst([f.report.exit_code for f in folders])


def _sharded(cmd: click.Command, kind: str) -> click.Command:
    """Add the fleet options to ``cmd`` (``run`` or ``verify-backup``) and wrap its callback."""
    from ..config import DEFAULT_REPORT_DIR

    cmd.params += [
        click.Option(["--plan", "plan_file"], type=click.Path(path_type=Path), metavar="FILE", help=_PLAN_HELP),
        click.Option(["--shard"], metavar="K/N", help=_SHARD_HELP),
        click.Option(["--shards", "shard_count"], type=int, metavar="N",
                     help="The shard count N with JOB_COMPLETION_INDEX (default RESTORE_DRILL_SHARDS)."),
        click.Option(["--endpoint-url"], metavar="URL", help=_ENDPOINT_HELP),
    ]
    for p in cmd.params:
        if isinstance(p, click.Argument) and p.name == "dump":
            p.required = False  # with --plan the plan names the backups
        if p.name == "report_dir":
            p.help = (p.help or "") + " Or s3://bucket/prefix: written locally, then uploaded."
    original: Callable[..., Any] = cmd.callback  # type: ignore[assignment]

    def callback(plan_file: Path | None, shard: str | None, shard_count: int | None, endpoint_url: str | None,
                 **kw: Any) -> NoReturn:
        from ..fleet import shards
        from ..fleet.destination import is_s3, parse_s3

        argv = ["restore-drill", kind, *sys.argv[2:]]
        report_dir = kw.get("report_dir")
        dest = None
        base = Path(report_dir) if report_dir is not None else DEFAULT_REPORT_DIR
        try:
            if report_dir is not None and is_s3(report_dir):
                dest = parse_s3(report_dir)
                base = Path(tempfile.mkdtemp(prefix="rd-report-"))
        except DrillError as e:
            sys.exit(_errored(e, argv, DEFAULT_REPORT_DIR))
        try:
            slice_ = shards.resolve(shard, shard_count, None if plan_file is not None else {})
            if slice_ is not None and plan_file is None:
                raise BadInput(f"--shard {slice_} needs --plan plan.json (made by restore-drill plan)")
            if plan_file is not None:
                code = _run_plan(kind, plan_file, slice_, kw, argv, base, endpoint_url)
            elif kind == "verify-backup" and kw.get("dump") is None:
                raise BadInput("give the DUMP to verify, or --plan plan.json (restore-drill verify-backup --help)")
            else:
                try:
                    original(**{**kw, "report_dir": base})
                    code = 0
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        except DrillError as e:
            code = _errored(e, argv, base)
        if dest is not None:
            code = max(code, _upload(base, dest, endpoint_url))
        sys.exit(code)

    callback.__doc__ = original.__doc__
    cmd.callback = callback
    return cmd


@click.command("merge", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.argument("locations", nargs=-1, required=True, metavar="DIR_OR_S3...")
@click.option("--out", metavar="DIR|s3://BUCKET/PREFIX",
              help="Where the fleet report folder goes (default reports/fleet/<UTC time>).")
@click.option("--plan", "plan_file", type=click.Path(path_type=Path), metavar="FILE",
              help="The plan the runs came from: a planned job with no run folder makes the verdict errored.")
@click.option("--max-age", "max_age_days", type=float, default=7.0, show_default=True, metavar="DAYS",
              help="A system whose last passing drill is older than DAYS is stale (verdict failed).")
@click.option("--backup-max-age", "backup_max_age_h", type=float, metavar="HOURS",
              help="Newest backup allowed age for every system (default: each system's RPO target).")
@click.option("--as-of", metavar="ISO-8601", help="Measure ages to this UTC time instead of now, e.g. 2026-12-01T06:00Z.")
@click.option("--endpoint-url", metavar="URL", help=_ENDPOINT_HELP)
def merge_command(locations: tuple[str, ...], out: str | None, plan_file: Path | None, max_age_days: float,
                  backup_max_age_h: float | None, as_of: str | None, endpoint_url: str | None) -> NoReturn:
    """Combine run folders (from shards, CI jobs, pods: folders or s3:// prefixes) into one fleet report:
    report.json, report.html (a row per system/backup), compliance.md/.html (every run's evidence hashes),
    junit.xml. Exit 0 all passed and fresh, 1 a job failed or a system is stale, 2 errored.

    \b
    Examples:
      restore-drill report merge s3://drill-reports/2026-11-30 --plan plan.json --max-age 7
      restore-drill report merge reports/runs/ --out reports/fleet/today
    """
    from datetime import UTC

    from ..config import DEFAULT_REPORT_DIR
    from ..fleet.destination import is_s3, parse_s3, upload_dir
    from ..fleet.fleet_writers import write_fleet
    from ..fleet.merge import FleetReport, gather, merge
    from ..fleet.plan import load_plan

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    dest = None
    local = Path(out) if out and not is_s3(out) else DEFAULT_REPORT_DIR.parent / "fleet" / stamp
    try:
        if out and is_s3(out):
            dest = parse_s3(out)
            local = Path(tempfile.mkdtemp(prefix="rd-fleet-")) / f"fleet-{stamp}"
        when = None
        if as_of is not None:
            try:
                when = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
            except ValueError:
                raise BadInput(f"--as-of {as_of!r} is not an ISO-8601 time; e.g. --as-of 2026-12-01T06:00Z") from None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
        plan = load_plan(plan_file) if plan_file is not None else None
        with gather(locations, endpoint_url) as sources:
            fleet = merge(sources, plan=plan, as_of=when, max_age_days=max_age_days,
                          backup_max_age_s=backup_max_age_h * 3600 if backup_max_age_h is not None else None)
    except DrillError as e:
        _say_error(e)
        fleet = FleetReport(datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"), "-",
                            max_age_days if max_age_days > 0 else 7.0, None, error=str(e))
    write_fleet(fleet, local)
    code = fleet.exit_code
    for r in fleet.reasons:
        click.echo(f"  {r}")
    click.echo(f"fleet verdict: {fleet.status.upper()} ({_counts(fleet)})")
    if dest is not None:
        try:
            upload_dir(local, dest, endpoint_url)
            click.echo(f"fleet report: {dest}/{local.name}/report.html")
            shutil.rmtree(local.parent, ignore_errors=True)  # our rd-fleet-* temp folder; kept only when the upload failed
        except DrillError as e:
            _say_error(e)
            code = 2
    else:
        click.echo(f"fleet report: {local}/report.html  (report.json, compliance.md/.html, junit.xml)")
    sys.exit(code)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _counts(fleet: Any) -> str:
    """The summary's counts: jobs (planned or, without a plan, drill results), the planned jobs with no run
    folder, and run folders read; e.g. "3 jobs (2 with no run folder), 1 run"."""
    jobs = len(fleet.rows) + len(fleet.missing_jobs)
    missing = f" ({len(fleet.missing_jobs)} with no run folder)" if fleet.missing_jobs else ""
    return f"{_plural(jobs, 'job')}{missing}, {_plural(len(fleet.runs), 'run')}"


class _ReportGroup(click.Group):
    """``report`` with subcommands (``merge``) that still accepts ``report RUN_DIR`` and ``report --history``
    by handing anything that is not a subcommand to the original ``report`` command."""

    def __init__(self, render: click.Command) -> None:
        super().__init__(name=render.name, help=(render.help or "") + "\n\n\b\nSubcommand:\n  merge  combine run "
                         "folders into a fleet report (restore-drill report merge --help)",
                         invoke_without_command=True, no_args_is_help=False,
                         context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
        self.render = render
        self.add_command(merge_command)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["rd_report_args"] = list(args)
        if args and args[0] in self.commands:
            return super().parse_args(ctx, args)
        return []

    def invoke(self, ctx: click.Context) -> Any:
        args = ctx.meta.get("rd_report_args", [])
        if args and args[0] in self.commands:
            return super().invoke(ctx)
        with self.render.make_context(ctx.info_name, list(args), parent=ctx.parent) as sub:
            return self.render.invoke(sub)


def register(cli: click.Group) -> None:
    """Add ``plan``, the fleet options of ``run``/``verify-backup`` and ``report merge`` to ``cli``."""
    from . import plan

    cli.add_command(plan.command)
    for name in ("run", "verify-backup"):
        if name in cli.commands:
            _sharded(cli.commands[name], name)
    if "report" in cli.commands:
        cli.add_command(_ReportGroup(cli.commands["report"]))
